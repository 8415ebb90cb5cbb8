/* Raw disk image backend: asynchronous I/O with io_uring, or a small thread pool without it. */
#ifndef KVMBOX_BACKEND_DISK_H
#define KVMBOX_BACKEND_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define DISK_SECTOR_SIZE 512

enum disk_op {
	DISK_OP_READ,
	DISK_OP_WRITE,
	DISK_OP_FLUSH,	      /* fdatasync */
	DISK_OP_DISCARD,      /* punch a hole; a hint: unsupported by the file system = success */
	DISK_OP_WRITE_ZEROES, /* the range reads back as zeroes afterwards */
	DISK_OP_COUNT
};

struct disk_req;

/*
 * One request, owned by the caller (embed it: no allocation per request) and untouched by the
 * caller from a successful disk_queue until its done callback.
 */
struct disk_req {
	/* Set by the caller. */
	enum disk_op op;
	struct iovec *iov; /* READ/WRITE buffers; the backend advances them on short transfers */
	unsigned iovcnt;
	uint64_t offset; /* bytes; offset + length must lie inside the image */
	uint64_t len;	 /* DISCARD/WRITE_ZEROES: bytes (READ/WRITE: the iovecs' total) */
	bool fua;   /* WRITE, DISCARD, WRITE_ZEROES: durable before completion (write-through) */
	bool unmap; /* WRITE_ZEROES: the range may be deallocated */
	/*
	 * Called once, from disk_complete or disk_drain, never from disk_queue. result: READ/WRITE
	 * the bytes transferred (always the full length), others 0; or negative errno.
	 */
	void (*done)(struct disk_req *req, int64_t result);

	/* Backend-private. */
	uint64_t done_bytes;
	unsigned stage; /* WRITE_ZEROES: which method is being tried */
	bool syncing;	/* fua after fallocate: the fdatasync that follows */
	int64_t result;
	struct disk_req *next;
	struct iovec zero_iov;
};

/*
 * A disk's functions (except disk_event_fd) are not thread-safe: its owner serialises them (the
 * block device calls them under its lock). Callbacks run inside disk_complete and disk_drain.
 */
struct disk;

/*
 * Open a raw image (regular file or block device): read-write, or read-only with readonly. depth
 * bounds the requests in flight at once (disk_queue refuses more). A size that is not a multiple
 * of 512 is rounded down (with a warning: the tail is not visible to the guest, which therefore
 * can never extend the file). io_uring is used when the kernel offers it and the environment
 * variable KVMBOX_DISK_NO_URING is not 1; otherwise a pool of worker threads. On failure, one
 * error line naming the file and the problem is logged (missing, unreadable, read-only without
 * ro=on, not a regular file or block device...).
 */
int disk_open(struct disk **out, const char *path, bool readonly, unsigned depth)
    __attribute__((warn_unused_result));
/* Wait for every request in flight (their callbacks run), stop the workers, close the file. */
void disk_close(struct disk *disk);

uint64_t disk_size(const struct disk *disk); /* bytes, a multiple of DISK_SECTOR_SIZE */
bool disk_readonly(const struct disk *disk);
bool disk_uses_uring(const struct disk *disk);
const char *disk_path(const struct disk *disk);

/* Readable (EPOLLIN) when completions are ready: run disk_complete on the owner's thread. */
int disk_event_fd(const struct disk *disk);

/*
 * Start req; its done callback runs later. Negative errno (the callback will not run): -EINVAL
 * outside the image or malformed, -EROFS write to a read-only image, -EBUSY depth reached.
 * Requests may be batched: nothing reaches io_uring before disk_submit.
 */
int disk_queue(struct disk *disk, struct disk_req *req) __attribute__((warn_unused_result));
void disk_submit(struct disk *disk);

/* Run the callbacks of finished requests (non-blocking). Returns how many completed. */
unsigned disk_complete(struct disk *disk);
/* Block until nothing is in flight, running callbacks as requests finish. */
void disk_drain(struct disk *disk);
unsigned disk_inflight(const struct disk *disk);

/*
 * Test hook: the next `count` attempts (a request's first try, retries of short transfers,
 * WRITE_ZEROES fallbacks) of the ops in op_mask (1u << DISK_OP_*) end with -err without reaching
 * the file; err 0 turns it off. Completions still arrive asynchronously.
 */
void disk_inject_error(struct disk *disk, unsigned op_mask, int err, unsigned count);

#endif
