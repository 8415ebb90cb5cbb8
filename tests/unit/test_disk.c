/* Unit tests of the raw disk backend, with io_uring and with the thread pool, on temp files. */
#include "backend/disk.h"
#include "log.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_SIZE (1u << 20)

static bool t_pool; /* this round forces the thread pool */
static char t_dir[] = "/tmp/kvmbox-disk-XXXXXX";

struct t_req {
	struct disk_req dreq;
	bool done;
	int64_t result;
	struct iovec iov[4];
};

static void t_done(struct disk_req *dreq, int64_t result)
{
	struct t_req *r = (struct t_req *)dreq;

	CHECK(!r->done);
	r->done = true;
	r->result = result;
}

static void t_mode(void)
{
	if (t_pool)
		setenv("KVMBOX_DISK_NO_URING", "1", 1);
	else
		unsetenv("KVMBOX_DISK_NO_URING");
}

/* A temp image of `size` bytes, byte i = (i * 7) & 0xff. */
static char *t_image(const char *name, size_t size)
{
	static char path[256];
	uint8_t *buf = malloc(size ? size : 1);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t_dir, name);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 7);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, size), size);
	close(fd);
	free(buf);
	return path;
}

static struct disk *t_open(const char *path, bool ro)
{
	struct disk *d = NULL;

	t_mode();
	CHECK_EQ(disk_open(&d, path, ro, 64), 0);
	if (d)
		CHECK_EQ(disk_uses_uring(d), !t_pool);
	return d;
}

/* Queue one request and wait for it with disk_drain. */
static int64_t t_run(struct disk *d, struct t_req *r)
{
	int ret;

	r->done = false;
	r->dreq.done = t_done;
	ret = disk_queue(d, &r->dreq);
	if (ret < 0)
		return ret;
	disk_submit(d);
	disk_drain(d);
	CHECK(r->done);
	return r->result;
}

static int64_t t_rw(struct disk *d, enum disk_op op, void *buf, size_t len, uint64_t off)
{
	struct t_req r = { .dreq = { .op = op, .iovcnt = 1, .offset = off } };

	r.iov[0] = (struct iovec){ buf, len };
	r.dreq.iov = r.iov;
	return t_run(d, &r);
}

static int64_t t_op(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, bool unmap)
{
	struct t_req r = { .dreq = { .op = op, .offset = off, .len = len, .unmap = unmap } };

	return t_run(d, &r);
}

static void test_open_errors(void)
{
	char path[300];
	struct disk *d = NULL;

	snprintf(path, sizeof(path), "%s/missing", t_dir);
	CHECK_EQ(disk_open(&d, path, false, 8), -ENOENT);
	CHECK_EQ(disk_open(&d, t_dir, true, 8), -EINVAL); /* a directory (read-only open works) */
	CHECK_EQ(disk_open(&d, t_dir, false, 8), -EISDIR);
	CHECK_EQ(disk_open(&d, "/dev/null", false, 8), -EINVAL); /* character device */
	snprintf(path, sizeof(path), "%s/fifo", t_dir);
	CHECK_EQ(mkfifo(path, 0600), 0);
	CHECK_EQ(disk_open(&d, path, true, 8), -EINVAL); /* refused, and did not hang */
	CHECK_EQ(disk_open(&d, t_image("depth", 4096), false, 0), -EINVAL);
	CHECK(d == NULL);
}

/* Permission errors need an unprivileged process: root opens anything. */
static void test_open_permissions(void)
{
	char *path = t_image("perm", 4096);
	pid_t pid;
	int st;

	CHECK_EQ(chmod(t_dir, 0755), 0);
	CHECK_EQ(chmod(path, 0444), 0);
	pid = fork();
	if (pid == 0) {
		struct disk *d = NULL;
		int bad = 0;

		if (geteuid() == 0 && setuid(65534) < 0)
			_exit(99);
		bad |= disk_open(&d, path, false, 8) != -EACCES; /* read-only file, no ro=on */
		bad |= disk_open(&d, path, true, 8) != 0;
		disk_close(d);
		_exit(bad);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(chmod(path, 0), 0);
	pid = fork();
	if (pid == 0) {
		struct disk *d = NULL;

		if (geteuid() == 0 && setuid(65534) < 0)
			_exit(99);
		_exit(disk_open(&d, path, true, 8) != -EACCES); /* unreadable */
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(chmod(t_dir, 0700), 0);
}

static void test_size_and_lock(void)
{
	struct disk *d, *d2 = NULL;
	char *path;

	d = t_open(t_image("odd", 1000), false);
	CHECK_EQ(disk_size(d), 512); /* rounded down */
	CHECK(!disk_readonly(d));
	disk_close(d);
	d = t_open(t_image("empty", 0), false);
	CHECK_EQ(disk_size(d), 0);
	disk_close(d);

	/* Two writers (or a writer and a reader) on one image: the second is refused. */
	path = t_image("locked", 4096);
	d = t_open(path, false);
	CHECK_EQ(disk_open(&d2, path, false, 8), -EBUSY);
	CHECK_EQ(disk_open(&d2, path, true, 8), -EBUSY);
	disk_close(d);
	d = t_open(path, true);
	CHECK_EQ(disk_open(&d2, path, true, 8), 0); /* readers share */
	disk_close(d2);
	disk_close(d);
}

static void test_read_write(void)
{
	struct disk *d = t_open(t_image("rw", T_SIZE), false);
	uint8_t a[1536], b[3000];
	struct t_req r = { .dreq = { .op = DISK_OP_READ, .iovcnt = 3, .offset = 4096 } };

	CHECK_EQ(t_rw(d, DISK_OP_READ, a, 1024, 512), 1024);
	for (unsigned i = 0; i < 1024; i++)
		CHECK_EQ(a[i], (uint8_t)((512 + i) * 7));
	memset(a, 0x5a, sizeof(a));
	CHECK_EQ(t_rw(d, DISK_OP_WRITE, a, sizeof(a), T_SIZE - sizeof(a)), sizeof(a));
	memset(b, 0, sizeof(b));
	/* Scattered: three iovecs of odd sizes; the backend does not care about sectors. */
	r.iov[0] = (struct iovec){ b, 100 };
	r.iov[1] = (struct iovec){ b + 100, 0 };
	r.iov[2] = (struct iovec){ b + 100, 1436 };
	r.dreq.iov = r.iov;
	r.dreq.offset = T_SIZE - sizeof(a);
	CHECK_EQ(t_run(d, &r), 1536);
	CHECK(!memcmp(a, b, 1536));
	/* Flush, and write-through writes. */
	CHECK_EQ(t_op(d, DISK_OP_FLUSH, 0, 0, false), 0);
	{
		struct t_req w = { .dreq = { .op = DISK_OP_WRITE, .iovcnt = 1, .fua = true } };

		w.iov[0] = (struct iovec){ a, 512 };
		w.dreq.iov = w.iov;
		CHECK_EQ(t_run(d, &w), 512);
	}
	/* Zero length: completes (asynchronously) with 0. */
	CHECK_EQ(t_rw(d, DISK_OP_READ, a, 0, T_SIZE), 0);
	CHECK_EQ(disk_inflight(d), 0);
	disk_close(d);
}

static void test_refusals(void)
{
	struct disk *d = t_open(t_image("refuse", 8192), false);
	static struct t_req r[64];
	uint8_t buf[512];

	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, 512, 8192), -EINVAL); /* past the end */
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, 512, UINT64_MAX - 100), -EINVAL);
	CHECK_EQ(t_op(d, DISK_OP_DISCARD, 4096, UINT64_MAX, false), -EINVAL);
	CHECK_EQ(t_op(d, DISK_OP_WRITE_ZEROES, 8192 - 512, 1024, false), -EINVAL);
	CHECK_EQ(t_op(d, DISK_OP_COUNT, 0, 0, false), -EINVAL);
	disk_close(d);

	d = t_open(t_image("refuse-ro", 8192), true);
	CHECK(disk_readonly(d));
	CHECK_EQ(t_rw(d, DISK_OP_WRITE, buf, 512, 0), -EROFS);
	CHECK_EQ(t_op(d, DISK_OP_DISCARD, 0, 512, false), -EROFS);
	CHECK_EQ(t_op(d, DISK_OP_WRITE_ZEROES, 0, 512, false), -EROFS);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, 512, 0), 512);
	CHECK_EQ(t_op(d, DISK_OP_FLUSH, 0, 0, false), 0);
	disk_close(d);

	/* Depth: the 65th request in flight is refused. */
	d = t_open(t_image("depth", 8192), false);
	for (unsigned i = 0; i < 64; i++) {
		r[i].done = false;
		r[i].dreq = (struct disk_req){ .op = DISK_OP_FLUSH, .done = t_done };
		CHECK_EQ(disk_queue(d, &r[i].dreq), 0);
	}
	{
		struct t_req extra = { .dreq = { .op = DISK_OP_FLUSH, .done = t_done } };

		CHECK_EQ(disk_queue(d, &extra.dreq), -EBUSY);
	}
	disk_submit(d);
	disk_drain(d);
	CHECK_EQ(disk_inflight(d), 0);
	disk_close(d);
}

static void test_discard_zeroes(void)
{
	struct disk *d = t_open(t_image("zero", T_SIZE), false);
	uint8_t buf[65536];
	struct stat st;
	bool zero = true;

	CHECK_EQ(t_op(d, DISK_OP_WRITE_ZEROES, 4096, 65536, false), 0);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, sizeof(buf), 4096), sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i++)
		zero = zero && !buf[i];
	CHECK(zero);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, 1, 4095), 1);
	CHECK_EQ(buf[0], (uint8_t)(4095 * 7)); /* neighbours untouched */
	CHECK_EQ(t_op(d, DISK_OP_WRITE_ZEROES, 0, 512, true), 0);
	/* Discard punches a hole: the file loses blocks, keeps its size. */
	CHECK_EQ(t_op(d, DISK_OP_DISCARD, 0, T_SIZE, false), 0);
	CHECK_EQ(stat(disk_path(d), &st), 0);
	CHECK_EQ(st.st_size, T_SIZE);
	CHECK(st.st_blocks < 64);
	CHECK_EQ(t_op(d, DISK_OP_DISCARD, 512, 0, false), 0); /* empty */
	/* Write-through: fallocate followed by fdatasync. */
	for (unsigned op = DISK_OP_DISCARD; op <= DISK_OP_WRITE_ZEROES; op++) {
		struct t_req w = { .dreq = { .op = op, .offset = 8192, .len = 8192, .fua = true } };

		CHECK_EQ(t_run(d, &w), 0);
	}

	/* The fallbacks: ZERO_RANGE and PUNCH_HOLE "unsupported" -> plain writes of zeroes, which
	 * allocate (no hole) and span several 1 MiB chunks here. */
	disk_close(d);
	d = t_open(t_image("zero-write", 3 * T_SIZE), false);
	disk_inject_error(d, 1u << DISK_OP_WRITE_ZEROES, EOPNOTSUPP, 2);
	CHECK_EQ(t_op(d, DISK_OP_WRITE_ZEROES, 512, 3 * T_SIZE - 1024, true), 0);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, sizeof(buf), 2 * T_SIZE), sizeof(buf));
	zero = true;
	for (unsigned i = 0; i < sizeof(buf); i++)
		zero = zero && !buf[i];
	CHECK(zero);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, 1, 3 * T_SIZE - 1), 1);
	CHECK_EQ(buf[0], (uint8_t)((3 * T_SIZE - 1) * 7));
	CHECK_EQ(stat(disk_path(d), &st), 0);
	CHECK(st.st_blocks >= 3 * T_SIZE / 512 - 8);
	/* A discard the file system cannot do is a no-op, not an error. */
	disk_inject_error(d, 1u << DISK_OP_DISCARD, EOPNOTSUPP, 1);
	CHECK_EQ(t_op(d, DISK_OP_DISCARD, 0, 4096, false), 0);
	disk_close(d);
}

static void test_errors(void)
{
	struct disk *d = t_open(t_image("err", T_SIZE), false);
	uint8_t buf[4096];

	disk_inject_error(d, 1u << DISK_OP_READ, EIO, 1);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, sizeof(buf), 0), -EIO);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, sizeof(buf), 0), sizeof(buf)); /* count used up */
	disk_inject_error(d, 1u << DISK_OP_FLUSH, ENOSPC, 5);
	CHECK_EQ(t_op(d, DISK_OP_FLUSH, 0, 0, false), -ENOSPC);
	disk_inject_error(d, 0, 0, 0);
	CHECK_EQ(t_op(d, DISK_OP_FLUSH, 0, 0, false), 0);
	/* EINTR/EAGAIN are retried. */
	disk_inject_error(d, 1u << DISK_OP_WRITE, EAGAIN, 3);
	CHECK_EQ(t_rw(d, DISK_OP_WRITE, buf, sizeof(buf), 0), sizeof(buf));
	disk_close(d);
}

/* A real error from the kernel: RLIMIT_FSIZE makes writes beyond it fail with EFBIG. */
static void test_real_write_error(void)
{
	struct disk *d = t_open(t_image("fsize", T_SIZE), false);
	struct rlimit old, lim = { 65536, 65536 };
	uint8_t buf[4096] = { 0 };

	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_EQ(t_rw(d, DISK_OP_WRITE, buf, sizeof(buf), 1 << 19), -EFBIG);
	CHECK_EQ(t_rw(d, DISK_OP_WRITE, buf, sizeof(buf), 0), sizeof(buf)); /* below: fine */
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_EQ(t_rw(d, DISK_OP_WRITE, buf, sizeof(buf), 1 << 19), sizeof(buf));
	disk_close(d);
}

/* The image shrinks under us: the read comes back short, then at EOF; the rest reads as 0. */
static void test_short_read(void)
{
	struct disk *d = t_open(t_image("shrink", 16384), false);
	uint8_t buf[16384];
	bool ok = true;

	CHECK_EQ(truncate(disk_path(d), 6000), 0);
	memset(buf, 0xee, sizeof(buf));
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, sizeof(buf), 0), sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i++)
		ok = ok && buf[i] == (i < 6000 ? (uint8_t)(i * 7) : 0);
	CHECK(ok);
	disk_close(d);
}

/* Many requests in flight, completed through the eventfd and disk_complete. */
static void test_many(void)
{
	enum { N = 64, LEN = 8192 };
	struct disk *d = t_open(t_image("many", N * LEN), false);
	struct t_req *r = calloc(N, sizeof(*r));
	uint8_t *buf = malloc(N * LEN);
	unsigned done = 0, spins = 0;

	for (unsigned i = 0; i < N; i++) {
		memset(buf + i * LEN, (int)i, LEN);
		/* Two iovecs each, in reverse order of offset. */
		r[i].iov[0] = (struct iovec){ buf + i * LEN, 4096 };
		r[i].iov[1] = (struct iovec){ buf + i * LEN + 4096, LEN - 4096 };
		r[i].dreq = (struct disk_req){ .op = DISK_OP_WRITE,
					       .iov = r[i].iov,
					       .iovcnt = 2,
					       .offset = (uint64_t)(N - 1 - i) * LEN,
					       .done = t_done };
		CHECK_EQ(disk_queue(d, &r[i].dreq), 0);
	}
	disk_submit(d);
	while (done < N && spins++ < 50000) {
		unsigned n;

		usleep(100);
		n = disk_complete(d);
		done += n;
	}
	CHECK_EQ(done, N);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(r[i].result, LEN);
	memset(buf, 0xff, N * LEN);
	CHECK_EQ(t_rw(d, DISK_OP_READ, buf, N * LEN, 0), N * LEN);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(buf[i * LEN + LEN - 1], N - 1 - i);
	free(r);
	free(buf);
	disk_close(d);
}

#define BOTH(fn)                                                                                   \
	static void fn##_uring(void)                                                               \
	{                                                                                          \
		t_pool = false;                                                                    \
		fn();                                                                              \
	}                                                                                          \
	static void fn##_pool(void)                                                                \
	{                                                                                          \
		t_pool = true;                                                                     \
		fn();                                                                              \
	}

BOTH(test_size_and_lock)
BOTH(test_read_write)
BOTH(test_refusals)
BOTH(test_discard_zeroes)
BOTH(test_errors)
BOTH(test_real_write_error)
BOTH(test_short_read)
BOTH(test_many)

int main(void)
{
	char cmd[64];

	log_set_level(LOG_ERROR + (getenv("T_VERBOSE") ? 3 : 0));
	if (!mkdtemp(t_dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN_TEST(test_open_errors);
	RUN_TEST(test_open_permissions);
	RUN_TEST(test_size_and_lock_uring);
	RUN_TEST(test_size_and_lock_pool);
	RUN_TEST(test_read_write_uring);
	RUN_TEST(test_read_write_pool);
	RUN_TEST(test_refusals_uring);
	RUN_TEST(test_refusals_pool);
	RUN_TEST(test_discard_zeroes_uring);
	RUN_TEST(test_discard_zeroes_pool);
	RUN_TEST(test_errors_uring);
	RUN_TEST(test_errors_pool);
	RUN_TEST(test_real_write_error_uring);
	RUN_TEST(test_real_write_error_pool);
	RUN_TEST(test_short_read_uring);
	RUN_TEST(test_short_read_pool);
	RUN_TEST(test_many_uring);
	RUN_TEST(test_many_pool);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", t_dir);
	TEST_EXIT();
}
