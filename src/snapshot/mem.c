/* Snapshot memory file: sparse full saves, dirty-page diffs, copy-on-write restore, the trailer
 * that ties it to its state file, and the lock that keeps a Diff off a mapped file. */
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

/* "<path>.tmp.<pid>": a Full save's file until it is committed. */
static int snapshot_mem_tmp(const char *path, char *tmp, size_t len)
{
	return (size_t)snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid()) >= len ? -ENAMETOOLONG
										   : 0;
}

static void snapshot_mem_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t snapshot_mem_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The trailer page at ram_size: magic, id, RAM size. */
static int snapshot_mem_trailer_write(int fd, uint64_t ram_size, uint64_t id)
{
	uint8_t t[SNAPSHOT_MEM_TRAILER] = { 0 };

	memcpy(t, SNAPSHOT_MEM_MAGIC, 8);
	snapshot_mem_put64(t + 8, id);
	snapshot_mem_put64(t + 16, ram_size);
	return snapshot_mem_pwrite(fd, t, sizeof(t), (off_t)ram_size);
}

/* The file is RAM + trailer for ram_size; *id gets the trailer's id. */
static int snapshot_mem_trailer_read(int fd, uint64_t ram_size, uint64_t *id)
{
	uint8_t t[24];
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != ram_size + SNAPSHOT_MEM_TRAILER)
		return -EINVAL;
	if (pread(fd, t, sizeof(t), (off_t)ram_size) != (ssize_t)sizeof(t) ||
	    memcmp(t, SNAPSHOT_MEM_MAGIC, 8) || snapshot_mem_get64(t + 16) != ram_size)
		return -EINVAL;
	*id = snapshot_mem_get64(t + 8);
	return 0;
}

/* An open-file-description lock on the whole file: F_RDLCK or F_WRLCK, never waiting. */
static int snapshot_mem_lock(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Open the Diff's base: the memory file of snapshot base_id, mapped by no restored VM. */
static int snapshot_mem_open_base(const char *path, const struct guest_mem *gm, uint64_t base_id,
				  char *err, size_t errlen)
{
	uint64_t id;
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open memory file %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = snapshot_mem_lock(fd, F_WRLCK);
	if (ret) {
		snprintf(err, errlen,
			 "memory file %s is mapped by a microVM restored from it: a Diff snapshot "
			 "cannot go into it (copy it first)",
			 path);
		close(fd);
		return ret == -EAGAIN || ret == -EACCES ? -EBUSY : ret;
	}
	if (snapshot_mem_trailer_read(fd, gm->ram_size, &id) || id != base_id || !id) {
		snprintf(err, errlen,
			 "memory file %s is not the memory of this microVM's last snapshot: a Diff "
			 "goes into a copy of it",
			 path);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int snapshot_mem_save(const char *path, const struct guest_mem *gm, const uint64_t *dirty,
		      uint64_t base_id, uint64_t id, struct snapshot_mem_stats *stats, char *err,
		      size_t errlen)
{
	char tmp[4096];
	uint64_t page = 0, off = 0;
	int fd, ret = 0;

	memset(stats, 0, sizeof(*stats));
	for (unsigned r = 0; r < gm->nregions; r++)
		if (gm->regions[r].size % SNAPSHOT_MEM_PAGE) {
			snprintf(err, errlen, "guest RAM region %u is not made of whole pages", r);
			return -EINVAL;
		}
	if (!dirty && snapshot_mem_tmp(path, tmp, sizeof(tmp))) {
		snprintf(err, errlen, "memory file path is too long");
		return -ENAMETOOLONG;
	}
	if (dirty) {
		fd = snapshot_mem_open_base(path, gm, base_id, err, errlen);
		if (fd < 0)
			return fd;
		/* Not a snapshot while its pages change: a Diff cut short leaves id 0. */
		ret = snapshot_mem_trailer_write(fd, gm->ram_size, 0);
		if (!ret && fdatasync(fd) < 0)
			ret = -errno;
	} else {
		/*
		 * A Full save goes to a new file renamed over path later: truncating path in
		 * place would discard the pages of any VM restored from it (a MAP_PRIVATE mapping
		 * of that very file).
		 */
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot create memory file %s: %s", tmp,
				 strerror(-ret));
			return ret;
		}
		if (ftruncate(fd, (off_t)(gm->ram_size + SNAPSHOT_MEM_TRAILER)) < 0)
			ret = -errno;
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
	/* The pages reach the disk before the id that says they are snapshot id's. */
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
	if (!ret)
		ret = snapshot_mem_trailer_write(fd, gm->ram_size, id);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write memory file %s: %s", dirty ? path : tmp,
			 strerror(-ret));
		if (!dirty)
			unlink(tmp);
	}
	return ret;
}

int snapshot_mem_commit(const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	int ret;

	if (snapshot_mem_tmp(path, tmp, sizeof(tmp)))
		return -ENAMETOOLONG;
	ret = rename(tmp, path) < 0 ? -errno : 0;
	if (ret) {
		snprintf(err, errlen, "cannot move the memory file to %s: %s", path,
			 strerror(-ret));
		unlink(tmp);
	}
	return ret;
}

void snapshot_mem_abort(const char *path)
{
	char tmp[4096];

	if (!snapshot_mem_tmp(path, tmp, sizeof(tmp)))
		unlink(tmp);
}

int snapshot_mem_map(const char *path, struct guest_mem *gm, uint64_t id, char *err, size_t errlen)
{
	uint64_t off = 0, file_id = 0;
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open memory file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != gm->ram_size + SNAPSHOT_MEM_TRAILER) {
		snprintf(err, errlen,
			 "memory file %s has %" PRIu64
			 " bytes, the snapshot's guest needs %" PRIu64,
			 path, (uint64_t)st.st_size, gm->ram_size + SNAPSHOT_MEM_TRAILER);
		close(fd);
		return -EINVAL;
	}
	if (snapshot_mem_trailer_read(fd, gm->ram_size, &file_id) || !file_id || file_id != id) {
		snprintf(err, errlen,
			 "memory file %s does not belong to this snapshot's state file (another "
			 "snapshot's, or a Diff into it did not finish)",
			 path);
		close(fd);
		return -EINVAL;
	}
	/*
	 * Shared, for as long as the file is mapped: the lock belongs to the open file description,
	 * which the mappings keep after the descriptor is closed. A Diff into this file (which
	 * would change this guest's untouched pages under it) needs the exclusive lock and is
	 * refused.
	 */
	ret = snapshot_mem_lock(fd, F_RDLCK);
	if (ret) {
		snprintf(err, errlen, "memory file %s is being written by a Diff snapshot", path);
		close(fd);
		return -EBUSY;
	}
	for (unsigned r = 0; r < gm->nregions; r++) {
		struct guest_mem_region *reg = &gm->regions[r];
		/* Committed like the anonymous RAM it replaces (no MAP_NORESERVE). */
		void *p = mmap(reg->host, reg->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_FIXED, fd, (off_t)off);

		if (p == MAP_FAILED) {
			ret = -errno;
			snprintf(err, errlen, "cannot map memory file %s: %s", path,
				 strerror(-ret));
			break;
		}
		madvise(p, reg->size, MADV_DONTDUMP); /* guest RAM stays out of core dumps */
		off += reg->size;
	}
	close(fd); /* the mappings keep the file, and its lock */
	return ret;
}
