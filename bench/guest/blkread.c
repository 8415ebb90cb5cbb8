/*
 * kb-blkread: read a block device or file with O_DIRECT, sequentially or at random block-aligned
 * offsets, one request at a time (queue depth 1), and print the rate. Built static
 * (bench/io.mk) so the same binary runs in the test guest (on /dev/vda) and on the host (on the
 * image file behind it): bench/io.sh compares the two.
 *
 * Usage: kb-blkread [-r] [-b BYTES] [-n COUNT] [-t SECONDS] [-s SEED] [-B] FILE
 *   -r          random offsets (xorshift64* from SEED, uniform over the whole blocks of FILE);
 *               default sequential from offset 0, wrapping at the end
 *   -b BYTES    block size (default 1048576; a multiple of 512 for O_DIRECT)
 *   -n COUNT    stop after COUNT reads (default: no limit)
 *   -t SECONDS  stop after SECONDS (default 5; 0 = no limit; at least one of -n/-t must limit)
 *   -s SEED     random seed (default 1)
 *   -B          buffered reads (no O_DIRECT), for comparison
 * Prints one line: ops=N bytes=B secs=S mbps=MB/s(1e6) iops=N lat_us=mean-us-per-read
 * Exit status: 0, 1 on an I/O error (reported), 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kb-blkread [-r] [-b BYTES] [-n COUNT] [-t SECONDS] [-s SEED] [-B] FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t bs = 1 << 20, count = 0, seed = 1, size, nblocks, ops = 0, bytes = 0, blk = 0;
	double limit = 5, t0, t;
	int opt, fd, random_mode = 0, direct = 1;
	struct stat st;
	void *buf;

	while ((opt = getopt(argc, argv, "rb:n:t:s:B")) != -1) {
		switch (opt) {
		case 'r':
			random_mode = 1;
			break;
		case 'b':
			bs = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 0);
			break;
		case 't':
			limit = strtod(optarg, NULL);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'B':
			direct = 0;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || !bs || bs % 512 || (!count && limit <= 0))
		usage();
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		fprintf(stderr, "kb-blkread: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "kb-blkread: fstat: %s\n", strerror(errno));
		return 1;
	}
	size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) < 0) {
		fprintf(stderr, "kb-blkread: BLKGETSIZE64: %s\n", strerror(errno));
		return 1;
	}
	nblocks = size / bs;
	if (!nblocks) {
		fprintf(stderr, "kb-blkread: %s is smaller than one block\n", argv[optind]);
		return 1;
	}
	if (posix_memalign(&buf, 4096, bs)) {
		fprintf(stderr, "kb-blkread: out of memory\n");
		return 1;
	}
	memset(buf, 0, bs);
	if (!seed)
		seed = 1;

	t0 = t = now_s();
	while ((!count || ops < count) && (limit <= 0 || t - t0 < limit)) {
		uint64_t b = random_mode ? xorshift64s(&seed) % nblocks : blk++ % nblocks;
		ssize_t n = pread(fd, buf, bs, (off_t)(b * bs));

		if (n != (ssize_t)bs) {
			fprintf(stderr,
				"kb-blkread: read of %" PRIu64 " bytes at %" PRIu64 ": %s\n", bs,
				b * bs, n < 0 ? strerror(errno) : "short read");
			return 1;
		}
		ops++;
		bytes += bs;
		t = now_s();
	}
	t -= t0;
	printf("ops=%" PRIu64 " bytes=%" PRIu64 " secs=%.4f mbps=%.2f iops=%.1f lat_us=%.1f\n", ops,
	       bytes, t, t > 0 ? (double)bytes / t / 1e6 : 0, t > 0 ? (double)ops / t : 0,
	       ops ? t * 1e6 / (double)ops : 0);
	return 0;
}
