/* Snapshot memory file: sparse full saves, dirty-page diffs, copy-on-write restore. */
#include "snapshot/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool snapshot_mem_zero(const uint8_t *p)
{
	static const uint8_t zero[SNAPSHOT_MEM_PAGE];

	return !memcmp(p, zero, SNAPSHOT_MEM_PAGE);
}

static int snapshot_mem_pwrite(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int snapshot_mem_save(const char *path, const struct guest_mem *gm, const uint64_t *dirty,
		      struct snapshot_mem_stats *stats, char *err, size_t errlen)
{
	char tmp[4096];
	uint64_t page = 0, off = 0;
	struct stat st;
	int fd, ret = 0;

	memset(stats, 0, sizeof(*stats));
	for (unsigned r = 0; r < gm->nregions; r++)
		if (gm->regions[r].size % SNAPSHOT_MEM_PAGE) {
			snprintf(err, errlen, "guest RAM region %u is not made of whole pages", r);
			return -EINVAL;
		}
	/*
	 * A Full save goes to a new file renamed over path: truncating path in place would discard
	 * the pages of any VM restored from it (a MAP_PRIVATE mapping of that very file).
	 */
	if (!dirty &&
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "memory file path is too long");
		return -ENAMETOOLONG;
	}
	fd = dirty ? open(path, O_WRONLY | O_CLOEXEC)
		   : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open memory file %s: %s", dirty ? path : tmp,
			 strerror(-ret));
		return ret;
	}
	if (dirty && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != gm->ram_size)) {
		snprintf(err, errlen,
			 "memory file %s is not the base of this Diff snapshot (%" PRIu64
			 " bytes, the guest has %" PRIu64 ")",
			 path, (uint64_t)st.st_size, gm->ram_size);
		close(fd);
		return -EINVAL;
	}
	if (!dirty && ftruncate(fd, (off_t)gm->ram_size) < 0) {
		ret = -errno;
		goto out;
	}
	for (unsigned r = 0; !ret && r < gm->nregions; r++) {
		const struct guest_mem_region *reg = &gm->regions[r];

		for (uint64_t o = 0; !ret && o < reg->size; o += SNAPSHOT_MEM_PAGE, page++) {
			const uint8_t *p = reg->host + o;
			bool want = !dirty || (dirty[page / 64] >> (page % 64) & 1);

			if (!want)
				continue;
			if (snapshot_mem_zero(p)) {
				stats->holes++;
				/* A Full file starts as holes; a Diff must clear what the base had.
				 */
				if (dirty &&
				    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (off_t)(off + o), SNAPSHOT_MEM_PAGE) < 0)
					ret = snapshot_mem_pwrite(fd, p, SNAPSHOT_MEM_PAGE,
								  (off_t)(off + o));
				continue;
			}
			ret = snapshot_mem_pwrite(fd, p, SNAPSHOT_MEM_PAGE, (off_t)(off + o));
			stats->written++;
		}
		off += reg->size;
	}
	if (!ret && fsync(fd) < 0)
		ret = -errno;
out:
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && !dirty && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write memory file %s: %s", path, strerror(-ret));
		if (!dirty)
			unlink(tmp);
	}
	return ret;
}

int snapshot_mem_map(const char *path, struct guest_mem *gm, char *err, size_t errlen)
{
	uint64_t off = 0;
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open memory file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != gm->ram_size) {
		snprintf(err, errlen,
			 "memory file %s has %" PRIu64 " bytes, the snapshot's guest %" PRIu64,
			 path, (uint64_t)st.st_size, gm->ram_size);
		close(fd);
		return -EINVAL;
	}
	for (unsigned r = 0; r < gm->nregions; r++) {
		struct guest_mem_region *reg = &gm->regions[r];
		/* Committed like the anonymous RAM it replaces (no MAP_NORESERVE). */
		void *p = mmap(reg->host, reg->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_FIXED, fd, (off_t)off);

		if (p != MAP_FAILED)
			madvise(p, reg->size,
				MADV_DONTDUMP); /* guest RAM stays out of core dumps */
		if (p == MAP_FAILED) {
			ret = -errno;
			snprintf(err, errlen, "cannot map memory file %s: %s", path,
				 strerror(-ret));
			break;
		}
		off += reg->size;
	}
	close(fd); /* the mappings keep the file */
	return ret;
}
