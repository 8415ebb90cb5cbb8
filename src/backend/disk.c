/* Raw disk image backend: io_uring (liburing) or a thread pool, one completion state machine. */
#include "backend/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "syscall_filter.h"

#define DISK_POOL_THREADS 4
#define DISK_MAX_DEPTH 32768 /* io_uring's largest ring (IORING_MAX_ENTRIES) */
#define DISK_ZERO_CHUNK (1u << 20)

/* WRITE_ZEROES methods, tried in order until the file system accepts one. */
enum { DISK_WZ_ZERO_RANGE, DISK_WZ_PUNCH_HOLE, DISK_WZ_WRITE };

/*
 * The source of WRITE_ZEROES when no fallocate mode works. Never written: its untouched .bss
 * pages all map the kernel's zero page, so it costs no memory.
 */
static uint8_t disk_zeroes[DISK_ZERO_CHUNK];

struct disk {
	char *path;
	int fd;
	int efd;
	bool readonly;
	uint64_t size;
	unsigned depth;
	unsigned inflight; /* queued and not yet called back */

	bool uring;
	struct io_uring ring;
	unsigned uring_inflight; /* SQEs prepared, not yet reaped */
	unsigned uring_unsubmitted;

	/* Thread pool (and, with io_uring too, the list of injected failures). */
	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	pthread_cond_t done_cond;
	struct disk_req *work_head, *work_tail;
	struct disk_req *done_head, *done_tail;
	bool stop;
	unsigned nthreads;
	pthread_t threads[DISK_POOL_THREADS];

	unsigned inject_mask;
	int inject_err;
	unsigned inject_count;
};

static void disk_list_append(struct disk_req **head, struct disk_req **tail, struct disk_req *req)
{
	req->next = NULL;
	if (*tail)
		(*tail)->next = req;
	else
		*head = req;
	*tail = req;
}

static void disk_signal(struct disk *disk)
{
	uint64_t one = 1;

	/* Only EAGAIN (counter saturated) can fail here, and then the fd is readable anyway. */
	if (write(disk->efd, &one, sizeof(one)) < 0) {
	}
}

/* --- one synchronous attempt, as a pool worker runs it --- */

static int disk_falloc_mode(const struct disk_req *req)
{
	if (req->op == DISK_OP_WRITE_ZEROES && req->stage == DISK_WZ_ZERO_RANGE)
		return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

static int64_t disk_ret(ssize_t ret)
{
	return ret < 0 ? -(int64_t)errno : (int64_t)ret;
}

static int64_t disk_exec(struct disk *disk, struct disk_req *req)
{
	uint64_t off = req->offset + req->done_bytes;
	uint64_t left = req->len - req->done_bytes;

	if (req->syncing)
		return disk_ret(fdatasync(disk->fd));
	switch (req->op) {
	case DISK_OP_READ:
		return disk_ret(preadv(disk->fd, req->iov, (int)req->iovcnt, (off_t)off));
	case DISK_OP_WRITE:
		return disk_ret(pwritev2(disk->fd, req->iov, (int)req->iovcnt, (off_t)off,
					 req->fua ? RWF_DSYNC : 0));
	case DISK_OP_FLUSH:
		return disk_ret(fdatasync(disk->fd));
	case DISK_OP_DISCARD:
	case DISK_OP_WRITE_ZEROES:
		if (req->op == DISK_OP_WRITE_ZEROES && req->stage == DISK_WZ_WRITE)
			return disk_ret(pwritev2(disk->fd, &req->zero_iov, 1, (off_t)off,
						 req->fua ? RWF_DSYNC : 0));
		return disk_ret(
		    fallocate(disk->fd, disk_falloc_mode(req), (off_t)off, (off_t)left));
	default:
		return -EINVAL;
	}
}

static void *disk_worker(void *opaque)
{
	struct disk *disk = opaque;

	prctl(PR_SET_NAME, "disk-io", 0, 0, 0); /* itself: a jailed kvmbox has no /proc */
	if (syscall_filter_install(SYSCALL_FILTER_IO))
		log_error("disk image '%s': cannot install the I/O thread's seccomp filter",
			  disk->path);
	pthread_mutex_lock(&disk->lock);
	for (;;) {
		struct disk_req *req;

		while (!disk->work_head && !disk->stop)
			pthread_cond_wait(&disk->work_cond, &disk->lock);
		req = disk->work_head;
		if (!req)
			break;
		disk->work_head = req->next;
		if (!disk->work_head)
			disk->work_tail = NULL;
		pthread_mutex_unlock(&disk->lock);

		req->result = disk_exec(disk, req);

		pthread_mutex_lock(&disk->lock);
		disk_list_append(&disk->done_head, &disk->done_tail, req);
		pthread_cond_signal(&disk->done_cond);
		pthread_mutex_unlock(&disk->lock);
		disk_signal(disk);
		pthread_mutex_lock(&disk->lock);
	}
	pthread_mutex_unlock(&disk->lock);
	return NULL;
}

/* --- issuing one attempt --- */

/* Finish an attempt without running it: it completes from disk_complete with res. */
static void disk_defer(struct disk *disk, struct disk_req *req, int64_t res)
{
	req->result = res;
	pthread_mutex_lock(&disk->lock);
	disk_list_append(&disk->done_head, &disk->done_tail, req);
	pthread_mutex_unlock(&disk->lock);
	disk_signal(disk);
}

static void disk_uring_prep(struct disk *disk, struct disk_req *req)
{
	uint64_t off = req->offset + req->done_bytes;
	uint64_t left = req->len - req->done_bytes;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&disk->ring);

	if (!sqe) {
		/* The ring holds depth SQEs and each request has at most one out: only unsubmitted
		 * entries can fill it, so push them to the kernel and take the freed slot. */
		disk_submit(disk);
		sqe = io_uring_get_sqe(&disk->ring);
	}
	if (!sqe) {
		disk_defer(disk, req, -EAGAIN); /* reissued from disk_complete */
		return;
	}
	if (req->syncing) {
		io_uring_prep_fsync(sqe, disk->fd, IORING_FSYNC_DATASYNC);
		goto out;
	}
	switch (req->op) {
	case DISK_OP_READ:
		io_uring_prep_readv(sqe, disk->fd, req->iov, req->iovcnt, off);
		break;
	case DISK_OP_WRITE:
		io_uring_prep_writev(sqe, disk->fd, req->iov, req->iovcnt, off);
		sqe->rw_flags = req->fua ? RWF_DSYNC : 0;
		break;
	case DISK_OP_FLUSH:
		io_uring_prep_fsync(sqe, disk->fd, IORING_FSYNC_DATASYNC);
		break;
	case DISK_OP_DISCARD:
	case DISK_OP_WRITE_ZEROES:
		if (req->op == DISK_OP_WRITE_ZEROES && req->stage == DISK_WZ_WRITE) {
			io_uring_prep_writev(sqe, disk->fd, &req->zero_iov, 1, off);
			sqe->rw_flags = req->fua ? RWF_DSYNC : 0;
		} else {
			io_uring_prep_fallocate(sqe, disk->fd, disk_falloc_mode(req), (off_t)off,
						(off_t)left);
		}
		break;
	default:
		break;
	}
out:
	io_uring_sqe_set_data(sqe, req);
	disk->uring_inflight++;
	disk->uring_unsubmitted++;
}

static void disk_issue(struct disk *disk, struct disk_req *req)
{
	if (disk->inject_count && (disk->inject_mask & (1u << req->op))) {
		disk->inject_count--;
		disk_defer(disk, req, -disk->inject_err);
		return;
	}
	if (req->op == DISK_OP_WRITE_ZEROES && req->stage == DISK_WZ_WRITE) {
		uint64_t left = req->len - req->done_bytes;

		req->zero_iov.iov_base = disk_zeroes;
		req->zero_iov.iov_len = left < DISK_ZERO_CHUNK ? (size_t)left : DISK_ZERO_CHUNK;
	}
	if (disk->uring) {
		disk_uring_prep(disk, req);
		return;
	}
	pthread_mutex_lock(&disk->lock);
	disk_list_append(&disk->work_head, &disk->work_tail, req);
	pthread_cond_signal(&disk->work_cond);
	pthread_mutex_unlock(&disk->lock);
}

/* --- completion: short transfers, fallbacks, callbacks --- */

static void disk_iov_advance(struct disk_req *req, uint64_t n)
{
	while (n && req->iovcnt) {
		if (n >= req->iov->iov_len) {
			n -= req->iov->iov_len;
			req->iov++;
			req->iovcnt--;
		} else {
			req->iov->iov_base = (uint8_t *)req->iov->iov_base + n;
			req->iov->iov_len -= n;
			n = 0;
		}
	}
}

/*
 * One attempt of req finished with res. True: req is finished, req->result is final. False: the
 * rest (or the next method) was issued again.
 */
static bool disk_advance(struct disk *disk, struct disk_req *req, int64_t res)
{
	uint64_t left = req->len - req->done_bytes;

	if (res == -EINTR || res == -EAGAIN)
		goto again;
	if (req->syncing) {
		req->result = res < 0 ? res : 0;
		return true;
	}
	switch (req->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		if (res < 0)
			goto fail;
		if (res == 0 && left) {
			if (req->op == DISK_OP_WRITE) {
				res = -EIO; /* no progress: it would loop forever */
				goto fail;
			}
			/* End of file before the end of the request: the image shrank under us
			 * (capacity was checked against its size at open). Read as zeroes. */
			for (unsigned i = 0; i < req->iovcnt; i++)
				memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
			res = (int64_t)left;
		}
		if ((uint64_t)res > left)
			res = (int64_t)left; /* cannot happen; never walk past the iovecs */
		req->done_bytes += (uint64_t)res;
		disk_iov_advance(req, (uint64_t)res);
		if (req->done_bytes < req->len)
			goto again;
		req->result = (int64_t)req->len;
		return true;
	case DISK_OP_DISCARD:
		/* A discard is a hint: a file system without hole punching just keeps the data. */
		if (res == -EOPNOTSUPP)
			res = 0;
		if (res < 0)
			goto fail;
		goto done_falloc;
	case DISK_OP_WRITE_ZEROES:
		if (req->stage != DISK_WZ_WRITE) {
			/* Unsupported mode (tmpfs has no ZERO_RANGE), or misaligned for a block
			 * device: the next method still gives zeroes. */
			if (res == -EOPNOTSUPP || res == -EINVAL) {
				req->stage++;
				goto again;
			}
			if (res < 0)
				goto fail;
			goto done_falloc;
		}
		if (res < 0)
			goto fail;
		if (res == 0) {
			res = -EIO;
			goto fail;
		}
		req->done_bytes += (uint64_t)res < left ? (uint64_t)res : left;
		if (req->done_bytes < req->len)
			goto again;
		req->result = 0;
		return true;
	default:
		req->result = res < 0 ? res : 0;
		return true;
	}
fail:
	req->result = res;
	return true;
done_falloc:
	req->result = 0;
	if (!req->fua)
		return true;
	/* Write-through: fallocate has no RWF_DSYNC, so make it durable before completing. */
	req->syncing = true;
again:
	disk_issue(disk, req);
	return false;
}

static unsigned disk_finish(struct disk *disk, struct disk_req *req, int64_t res)
{
	if (!disk_advance(disk, req, res))
		return 0;
	disk->inflight--;
	req->done(req, req->result);
	return 1;
}

unsigned disk_complete(struct disk *disk)
{
	struct disk_req *list;
	unsigned n = 0;
	uint64_t count;

	/* Clear the eventfd before reaping: a completion posted meanwhile sets it again. */
	if (read(disk->efd, &count, sizeof(count)) < 0) {
	}
	if (disk->uring) {
		struct io_uring_cqe *cqe;

		while (io_uring_peek_cqe(&disk->ring, &cqe) == 0) {
			struct disk_req *req = io_uring_cqe_get_data(cqe);
			int64_t res = cqe->res;

			io_uring_cqe_seen(&disk->ring, cqe);
			disk->uring_inflight--;
			n += disk_finish(disk, req, res);
		}
	}
	pthread_mutex_lock(&disk->lock);
	list = disk->done_head;
	disk->done_head = disk->done_tail = NULL;
	pthread_mutex_unlock(&disk->lock);
	while (list) {
		struct disk_req *req = list;

		list = req->next;
		n += disk_finish(disk, req, req->result);
	}
	disk_submit(disk); /* reissued remainders */
	return n;
}

void disk_drain(struct disk *disk)
{
	while (disk->inflight) {
		bool done_pending;

		if (disk_complete(disk))
			continue;
		pthread_mutex_lock(&disk->lock);
		done_pending = disk->done_head != NULL;
		if (!done_pending && !disk->uring)
			pthread_cond_wait(&disk->done_cond, &disk->lock);
		pthread_mutex_unlock(&disk->lock);
		if (!done_pending && disk->uring && disk->uring_inflight) {
			int ret = io_uring_submit_and_wait(&disk->ring, 1);

			if (ret >= 0)
				disk->uring_unsubmitted = 0;
		}
	}
}

/* --- the public request interface --- */

int disk_queue(struct disk *disk, struct disk_req *req)
{
	uint64_t len = 0;

	if (disk->inflight >= disk->depth)
		return -EBUSY;
	if (req->op >= DISK_OP_COUNT || !req->done)
		return -EINVAL;
	if (disk->readonly && req->op != DISK_OP_READ && req->op != DISK_OP_FLUSH)
		return -EROFS;
	if (req->op == DISK_OP_READ || req->op == DISK_OP_WRITE) {
		if (req->iovcnt > IOV_MAX || (req->iovcnt && !req->iov))
			return -EINVAL;
		for (unsigned i = 0; i < req->iovcnt; i++) {
			if (req->iov[i].iov_len > disk->size - len)
				return -EINVAL;
			len += req->iov[i].iov_len;
		}
		req->len = len;
	} else if (req->op == DISK_OP_FLUSH) {
		req->offset = req->len = 0;
	}
	/* Written so that nothing overflows; also keeps io_uring's offset below its -1 sentinel. */
	if (req->offset > disk->size || req->len > disk->size - req->offset)
		return -EINVAL;
	req->done_bytes = 0;
	req->syncing = false;
	req->stage = DISK_WZ_ZERO_RANGE;
	req->result = 0;
	disk->inflight++;
	if (req->len == 0 && (req->op == DISK_OP_READ || req->op == DISK_OP_WRITE ||
			      req->op == DISK_OP_DISCARD || req->op == DISK_OP_WRITE_ZEROES)) {
		/* Nothing to do, but still complete asynchronously like every request. */
		disk_defer(disk, req, 0);
		return 0;
	}
	disk_issue(disk, req);
	return 0;
}

void disk_submit(struct disk *disk)
{
	int ret;

	if (!disk->uring || !disk->uring_unsubmitted)
		return;
	ret = io_uring_submit(&disk->ring);
	if (ret >= 0) {
		disk->uring_unsubmitted = 0;
	} else if (ret != -EAGAIN && ret != -EBUSY && ret != -EINTR) {
		static struct log_ratelimit rl;

		/* The entries stay in the ring; the next submit (or disk_drain) tries again. */
		if (log_ratelimit_ok(&rl))
			log_warn("disk image '%s': io_uring submit: %s", disk->path,
				 strerror(-ret));
	}
}

void disk_inject_error(struct disk *disk, unsigned op_mask, int err, unsigned count)
{
	disk->inject_mask = op_mask;
	disk->inject_err = err;
	disk->inject_count = err ? count : 0;
}

uint64_t disk_size(const struct disk *disk)
{
	return disk->size;
}

bool disk_readonly(const struct disk *disk)
{
	return disk->readonly;
}

bool disk_uses_uring(const struct disk *disk)
{
	return disk->uring;
}

const char *disk_path(const struct disk *disk)
{
	return disk->path;
}

int disk_event_fd(const struct disk *disk)
{
	return disk->efd;
}

unsigned disk_inflight(const struct disk *disk)
{
	return disk->inflight;
}

/* --- open and close --- */

static int disk_open_fd(const char *path, bool readonly)
{
	/* O_NONBLOCK: opening a FIFO must not hang waiting for a writer (it is refused below). */
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	int err;

	if (fd >= 0)
		return fd;
	err = errno;
	if (err == ENOENT || err == ENOTDIR)
		log_error("disk image '%s': no such file", path);
	else if (err == EISDIR)
		log_error("disk image '%s' is a directory", path);
	else if (!readonly && (err == EACCES || err == EPERM || err == EROFS) &&
		 access(path, R_OK) == 0)
		log_error("disk image '%s' is read-only (%s): use ro=on", path, strerror(err));
	else
		log_error("cannot open disk image '%s': %s", path, strerror(err));
	return -err;
}

static int disk_get_size(struct disk *disk, const struct stat *st)
{
	uint64_t size;

	if (S_ISREG(st->st_mode)) {
		size = (uint64_t)st->st_size;
	} else if (S_ISBLK(st->st_mode)) {
		if (ioctl(disk->fd, BLKGETSIZE64, &size) < 0) {
			int err = errno;

			log_error("disk image '%s': cannot get the block device's size: %s",
				  disk->path, strerror(err));
			return -err;
		}
	} else {
		log_error("disk image '%s' is not a regular file or block device", disk->path);
		return -EINVAL;
	}
	if (size % DISK_SECTOR_SIZE)
		log_warn("disk image '%s': %llu bytes is not a multiple of %u; the last %llu bytes "
			 "are not visible to the guest",
			 disk->path, (unsigned long long)size, DISK_SECTOR_SIZE,
			 (unsigned long long)(size % DISK_SECTOR_SIZE));
	disk->size = size - size % DISK_SECTOR_SIZE;
	return 0;
}

/*
 * Two VMs writing one image corrupt it: take an open file description lock (shared for read-only,
 * exclusive for read-write), as QEMU does. It goes away with the fd, even on kill -9.
 */
static int disk_lock(struct disk *disk)
{
	struct flock fl = { .l_type = disk->readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(disk->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES) {
		log_error("disk image '%s' is in use by another process", disk->path);
		return -EBUSY;
	}
	/* File systems without locks (some network ones): run unprotected, as before. */
	log_info("disk image '%s': cannot lock it (%s)", disk->path, strerror(errno));
	return 0;
}

static bool disk_uring_init(struct disk *disk)
{
	static const int ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				   IORING_OP_FALLOCATE };
	struct io_uring_probe *probe;
	unsigned entries = 1;
	bool ok = true;
	int ret;

	while (entries < disk->depth)
		entries <<= 1;
	ret = io_uring_queue_init(entries, &disk->ring, 0);
	if (ret < 0) {
		log_info("disk image '%s': io_uring unavailable (%s): using worker threads",
			 disk->path, strerror(-ret));
		return false;
	}
	probe = io_uring_get_probe_ring(&disk->ring);
	for (size_t i = 0; probe && i < sizeof(ops) / sizeof(ops[0]); i++)
		ok = ok && io_uring_opcode_supported(probe, ops[i]);
	if (probe)
		io_uring_free_probe(probe);
	if (!probe || !ok) {
		log_info("disk image '%s': io_uring lacks an operation: using worker threads",
			 disk->path);
		goto fail;
	}
	ret = io_uring_register_eventfd(&disk->ring, disk->efd);
	if (ret < 0) {
		log_info("disk image '%s': io_uring eventfd: %s: using worker threads", disk->path,
			 strerror(-ret));
		goto fail;
	}
	return true;
fail:
	io_uring_queue_exit(&disk->ring);
	return false;
}

static int disk_pool_start(struct disk *disk)
{
	sigset_t all, old;
	int ret = 0;

	/* Workers take no signals: those belong to the main thread and the vCPUs. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < DISK_POOL_THREADS; i++) {
		ret = -pthread_create(&disk->threads[i], NULL, disk_worker, disk);
		if (ret)
			break;
		disk->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret && !disk->nthreads) {
		log_error("disk image '%s': cannot start I/O threads: %s", disk->path,
			  strerror(-ret));
		return ret;
	}
	return 0;
}

static void disk_pool_stop(struct disk *disk)
{
	pthread_mutex_lock(&disk->lock);
	disk->stop = true;
	pthread_cond_broadcast(&disk->work_cond);
	pthread_mutex_unlock(&disk->lock);
	for (unsigned i = 0; i < disk->nthreads; i++)
		pthread_join(disk->threads[i], NULL);
	disk->nthreads = 0;
}

int disk_open(struct disk **out, const char *path, bool readonly, unsigned depth)
{
	const char *no_uring = getenv("KVMBOX_DISK_NO_URING");
	struct disk *disk;
	struct stat st;
	int ret, flags;

	if (!depth || depth > DISK_MAX_DEPTH)
		return -EINVAL;
	disk = calloc(1, sizeof(*disk));
	if (!disk)
		return -ENOMEM;
	disk->fd = disk->efd = -1;
	disk->readonly = readonly;
	disk->depth = depth;
	pthread_mutex_init(&disk->lock, NULL);
	pthread_cond_init(&disk->work_cond, NULL);
	pthread_cond_init(&disk->done_cond, NULL);
	disk->path = strdup(path);
	if (!disk->path) {
		ret = -ENOMEM;
		goto err;
	}
	ret = disk->fd = disk_open_fd(path, readonly);
	if (ret < 0)
		goto err;
	if (fstat(disk->fd, &st) < 0) {
		ret = -errno;
		log_error("disk image '%s': %s", path, strerror(-ret));
		goto err;
	}
	ret = disk_get_size(disk, &st);
	if (ret < 0)
		goto err;
	flags = fcntl(disk->fd, F_GETFL);
	if (flags < 0 || fcntl(disk->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		ret = -errno;
		log_error("disk image '%s': %s", path, strerror(-ret));
		goto err;
	}
	ret = disk_lock(disk);
	if (ret < 0)
		goto err;
	disk->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (disk->efd < 0) {
		ret = -errno;
		log_error("disk image '%s': eventfd: %s", path, strerror(-ret));
		goto err;
	}
	if (!(no_uring && !strcmp(no_uring, "1")))
		disk->uring = disk_uring_init(disk);
	if (!disk->uring) {
		ret = disk_pool_start(disk);
		if (ret < 0)
			goto err;
	}
	log_debug("disk image '%s': %llu bytes, %s, %s", path, (unsigned long long)disk->size,
		  readonly ? "read-only" : "read-write",
		  disk->uring ? "io_uring" : "worker threads");
	*out = disk;
	return 0;
err:
	disk_close(disk);
	return ret;
}

void disk_close(struct disk *disk)
{
	if (!disk)
		return;
	disk_drain(disk);
	if (disk->uring)
		io_uring_queue_exit(&disk->ring);
	else
		disk_pool_stop(disk);
	if (disk->efd >= 0)
		close(disk->efd);
	if (disk->fd >= 0)
		close(disk->fd);
	pthread_cond_destroy(&disk->done_cond);
	pthread_cond_destroy(&disk->work_cond);
	pthread_mutex_destroy(&disk->lock);
	free(disk->path);
	free(disk);
}
