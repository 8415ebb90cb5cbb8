/* virtio-blk (device id 2): validates each request, then hands it to the disk backend. */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "backend/disk.h"
#include "log.h"
#include "snapshot/state.h"

#define BLK_SECTOR_SHIFT 9
/* Chains taken per wakeup and queue before yielding the I/O thread to the other queues. */
#define BLK_BUDGET VIRTIO_BLK_QUEUE_SIZE
#define BLK_STATE_TAG STATE_TAG('V', 'B', 'L', 'K')
#define BLK_STATE_VERSION 1

struct blk;
struct blk_queue;

/* One request in flight; a fixed pool of them per queue, so the hot path never allocates. */
struct blk_req {
	struct disk_req dreq;
	struct blk_queue *q;
	struct blk_req *next_free;
	uint8_t *status;  /* the chain's last writable byte, in guest RAM */
	uint32_t written; /* reported to the driver on success */
	uint64_t budget;  /* bytes counted in blk->inflight_bytes */
	uint16_t head;
	uint64_t sector; /* for the log line on failure */
	struct iovec iov[VIRTIO_BLK_SEG_MAX];
};

struct blk_queue {
	struct blk *blk;
	unsigned index;
	struct blk_req *reqs;
	struct blk_req *free;
	bool starved;		/* stopped popping for want of a free request */
	bool need_notify;	/* pushed since the last virtio_notify */
	struct virtq_elem elem; /* scratch for virtq_pop */
};

struct blk {
	struct virtio_dev vdev; /* first: the ops get &blk->vdev */
	char name[32];
	struct disk *disk;
	bool readonly;
	uint64_t capacity; /* sectors */
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_dev_config config;

	/* Protected by vdev.lock (every entry point below holds it). */
	bool active;	   /* between activate and reset: completions may reach the guest */
	uint64_t features; /* negotiated, snapshot at activate */
	unsigned nqueues;
	struct blk_queue *queues;
	uint64_t inflight_bytes; /* VIRTIO_BLK_INFLIGHT_BYTES_MAX bounds it (plus one request) */
	uint64_t inflight_peak;	 /* the most inflight_bytes has been */
};

static struct blk *blk_from_vdev(struct virtio_dev *vdev)
{
	return (struct blk *)vdev;
}

static struct blk_req *blk_req_get(struct blk_queue *q)
{
	struct blk_req *req = q->free;

	if (req)
		q->free = req->next_free;
	return req;
}

static void blk_req_put(struct blk_queue *q, struct blk_req *req)
{
	req->next_free = q->free;
	q->free = req;
}

/* Give a chain back with its status byte set. */
static void blk_finish(struct blk_queue *q, uint16_t head, uint8_t *status, uint8_t s,
		       uint32_t written)
{
	struct blk *blk = q->blk;

	/* Every completed request ends here; written is what reached guest memory. */
	__atomic_fetch_add(&blk->vdev.stats.requests, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&blk->vdev.stats.bytes_in, written, __ATOMIC_RELAXED);
	if (s != VIRTIO_BLK_S_OK)
		__atomic_fetch_add(&blk->vdev.stats.errors, 1, __ATOMIC_RELAXED);
	*status = s;
	if (virtq_push(&blk->vdev.vqs[q->index], blk->vdev.mem, head, written) < 0)
		virtio_needs_reset(&blk->vdev, "virtio-blk: cannot return a request");
	q->need_notify = true;
}

static void blk_req_done(struct disk_req *dreq, int64_t result)
{
	struct blk_req *req = (struct blk_req *)dreq;
	struct blk_queue *q = req->q;
	struct blk *blk = q->blk;

	blk->inflight_bytes -= req->budget;
	/* After a reset the ring is gone (and maybe reused): the result goes nowhere. */
	if (blk->active) {
		if (result > 0 && dreq->op == DISK_OP_WRITE)
			__atomic_fetch_add(&blk->vdev.stats.bytes_out, (uint64_t)result,
					   __ATOMIC_RELAXED);
		if (result < 0)
			log_guest("%s: %s at sector %llu failed: %s; I/O error for the guest",
				  blk->name,
				  dreq->op == DISK_OP_READ    ? "read"
				  : dreq->op == DISK_OP_WRITE ? "write"
				  : dreq->op == DISK_OP_FLUSH ? "flush"
							      : "discard/write-zeroes",
				  (unsigned long long)req->sector, strerror((int)-result));
		blk_finish(q, req->head, req->status,
			   result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK,
			   result < 0 ? 1 : req->written);
	}
	blk_req_put(q, req);
}

/* The status byte: the last byte of the last non-empty writable buffer. */
static uint8_t *blk_status_byte(const struct virtq_elem *elem)
{
	for (unsigned i = elem->in_num; i-- > 0;)
		if (elem->in[i].iov_len)
			return (uint8_t *)elem->in[i].iov_base + elem->in[i].iov_len - 1;
	return NULL;
}

/*
 * Copy the iovecs holding bytes [skip, skip + len) of src[] to dst[] (at most max of them).
 * Returns how many, or -1 if more than max are needed.
 */
static int blk_iov_slice(struct iovec *dst, unsigned max, const struct iovec *src, unsigned n,
			 uint64_t skip, uint64_t len)
{
	unsigned out = 0;

	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		if (out == max)
			return -1;
		dst[out].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[out].iov_len = (size_t)l;
		out++;
		len -= l;
		skip = 0;
	}
	return (int)out;
}

/* [sector, sector + count) inside the disk, with no addition that could wrap. */
static bool blk_range_ok(const struct blk *blk, uint64_t sector, uint64_t count)
{
	return sector <= blk->capacity && count <= blk->capacity - sector;
}

/* Queue req on the backend; on refusal, fail it now. */
static void blk_req_start(struct blk_queue *q, struct blk_req *req, uint8_t *status)
{
	int ret;

	req->dreq.done = blk_req_done;
	/* What the backend may spend time on: data moved, or zeroes it may have to write. */
	req->budget = req->dreq.op == DISK_OP_WRITE_ZEROES ? req->dreq.len : 0;
	for (unsigned i = 0; i < req->dreq.iovcnt; i++)
		req->budget += req->dreq.iov[i].iov_len;
	ret = disk_queue(q->blk->disk, &req->dreq);
	if (ret == 0) {
		q->blk->inflight_bytes += req->budget;
		if (q->blk->inflight_bytes > q->blk->inflight_peak)
			q->blk->inflight_peak = q->blk->inflight_bytes;
	} else {
		log_guest("%s: request at sector %llu refused by the backend: %s", q->blk->name,
			  (unsigned long long)req->sector, strerror(-ret));
		blk_finish(q, req->head, status, VIRTIO_BLK_S_IOERR, 1);
		blk_req_put(q, req);
	}
}

/* IN/OUT: returns a status to report now, or -1 when the request went to the backend. */
static int blk_rw(struct blk_queue *q, const struct virtq_elem *elem, uint8_t *status, bool write,
		  uint64_t sector)
{
	struct blk *blk = q->blk;
	uint64_t len = write ? elem->out_len - sizeof(struct virtio_blk_req_hdr) : elem->in_len - 1;
	struct blk_req *req;
	int n;

	if (write && blk->readonly) {
		log_guest("%s: write to a read-only disk", blk->name);
		return VIRTIO_BLK_S_IOERR;
	}
	if (len % DISK_SECTOR_SIZE) {
		log_guest("%s: data length %llu is not a multiple of 512", blk->name,
			  (unsigned long long)len);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!blk_range_ok(blk, sector, len >> BLK_SECTOR_SHIFT)) {
		log_guest("%s: %llu sectors at sector %llu are beyond the disk's %llu", blk->name,
			  (unsigned long long)(len >> BLK_SECTOR_SHIFT), (unsigned long long)sector,
			  (unsigned long long)blk->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	if (len > VIRTIO_BLK_REQ_BYTES_MAX) {
		log_guest("%s: %llu bytes in one request, more than seg_max x size_max", blk->name,
			  (unsigned long long)len);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!len)
		return VIRTIO_BLK_S_OK;
	req = blk_req_get(q); /* the caller made sure one is free */
	if (write)
		n = blk_iov_slice(req->iov, VIRTIO_BLK_SEG_MAX, elem->out, elem->out_num,
				  sizeof(struct virtio_blk_req_hdr), len);
	else
		n = blk_iov_slice(req->iov, VIRTIO_BLK_SEG_MAX, elem->in, elem->in_num, 0, len);
	if (n < 0) {
		blk_req_put(q, req);
		log_guest("%s: more than seg_max (%u) data buffers", blk->name, VIRTIO_BLK_SEG_MAX);
		return VIRTIO_BLK_S_IOERR;
	}
	req->dreq = (struct disk_req){
		.op = write ? DISK_OP_WRITE : DISK_OP_READ,
		.iov = req->iov,
		.iovcnt = (unsigned)n,
		.offset = sector << BLK_SECTOR_SHIFT,
		/* Without FLUSH the driver expects write-through: each write durable at once. */
		.fua = write && !(blk->features & (1ull << VIRTIO_BLK_F_FLUSH)),
	};
	req->head = elem->head;
	req->status = status;
	req->sector = sector;
	/* The status byte, plus the data for reads; the used length is 32 bits. */
	req->written = write ? 1 : len >= UINT32_MAX ? UINT32_MAX : (uint32_t)len + 1;
	blk_req_start(q, req, status);
	return -1;
}

static int blk_flush(struct blk_queue *q, const struct virtq_elem *elem, uint8_t *status)
{
	struct blk_req *req = blk_req_get(q);

	req->dreq = (struct disk_req){ .op = DISK_OP_FLUSH };
	req->head = elem->head;
	req->status = status;
	req->sector = 0;
	req->written = 1;
	/* The status is written from the completion, after fdatasync returned: an acknowledged
	 * flush is on stable storage even if kvmbox is killed right after. */
	blk_req_start(q, req, status);
	return -1;
}

static int blk_get_id(struct blk_queue *q, const struct virtq_elem *elem, uint8_t *status)
{
	uint64_t room = elem->in_len - 1; /* the status byte stays last */
	size_t n = room < VIRTIO_BLK_ID_BYTES ? (size_t)room : VIRTIO_BLK_ID_BYTES;

	n = virtq_iov_from_buf(elem->in, elem->in_num, 0, q->blk->id, n);
	blk_finish(q, elem->head, status, VIRTIO_BLK_S_OK, (uint32_t)n + 1);
	return -1;
}

static int blk_discard_zeroes(struct blk_queue *q, const struct virtq_elem *elem, uint8_t *status,
			      bool zeroes)
{
	struct blk *blk = q->blk;
	unsigned feature = zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;
	uint64_t payload = elem->out_len - sizeof(struct virtio_blk_req_hdr);
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t flags, allowed;
	uint64_t sector, count;
	struct blk_req *req;

	if (!(blk->features & (1ull << feature)))
		return VIRTIO_BLK_S_UNSUPP;
	if (blk->readonly)
		return VIRTIO_BLK_S_IOERR;
	/* Exactly one segment: max_discard_seg and max_write_zeroes_seg are 1. */
	if (payload != sizeof(seg)) {
		log_guest("%s: %llu bytes of discard/write-zeroes segments", blk->name,
			  (unsigned long long)payload);
		return VIRTIO_BLK_S_IOERR;
	}
	virtq_iov_to_buf(elem->out, elem->out_num, sizeof(struct virtio_blk_req_hdr), &seg,
			 sizeof(seg));
	__atomic_fetch_add(&blk->vdev.stats.bytes_out, sizeof(seg), __ATOMIC_RELAXED);
	sector = le64toh(seg.sector);
	count = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	/* Discarding with "unmap" is meaningless to the spec (5.2.6.2): refused like unknown bits.
	 */
	allowed = zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
	if (flags & ~allowed)
		return VIRTIO_BLK_S_UNSUPP;
	if (count >
		(zeroes ? VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS : VIRTIO_BLK_MAX_DISCARD_SECTORS) ||
	    !blk_range_ok(blk, sector, count)) {
		log_guest("%s: discard/write-zeroes of %llu sectors at sector %llu out of range",
			  blk->name, (unsigned long long)count, (unsigned long long)sector);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!count)
		return VIRTIO_BLK_S_OK;
	req = blk_req_get(q);
	req->dreq = (struct disk_req){
		.op = zeroes ? DISK_OP_WRITE_ZEROES : DISK_OP_DISCARD,
		.offset = sector << BLK_SECTOR_SHIFT,
		.len = count << BLK_SECTOR_SHIFT,
		.unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
		.fua = !(blk->features & (1ull << VIRTIO_BLK_F_FLUSH)),
	};
	req->head = elem->head;
	req->status = status;
	req->sector = sector;
	req->written = 1;
	blk_req_start(q, req, status);
	return -1;
}

/* One popped chain: validate it, then complete it now or start its I/O. */
static void blk_handle(struct blk_queue *q, const struct virtq_elem *elem)
{
	struct blk *blk = q->blk;
	struct virtio_blk_req_hdr hdr;
	uint8_t *status = blk_status_byte(elem);
	int s;

	if (!status) {
		/* Nowhere to say that the request failed: the driver is broken (as in QEMU). */
		virtio_needs_reset(&blk->vdev, "virtio-blk: request without a status byte");
		return;
	}
	if (elem->out_len < sizeof(hdr)) {
		log_guest("%s: request header shorter than 16 bytes (or device-writable)",
			  blk->name);
		blk_finish(q, elem->head, status, VIRTIO_BLK_S_IOERR, 1);
		return;
	}
	/* One copy: the driver may rewrite the header while we look at it. */
	virtq_iov_to_buf(elem->out, elem->out_num, 0, &hdr, sizeof(hdr));
	__atomic_fetch_add(&blk->vdev.stats.bytes_out, sizeof(hdr), __ATOMIC_RELAXED);
	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN:
		s = blk_rw(q, elem, status, false, le64toh(hdr.sector));
		break;
	case VIRTIO_BLK_T_OUT:
		s = blk_rw(q, elem, status, true, le64toh(hdr.sector));
		break;
	case VIRTIO_BLK_T_FLUSH:
		s = blk_flush(q, elem, status);
		break;
	case VIRTIO_BLK_T_GET_ID:
		s = blk_get_id(q, elem, status);
		break;
	case VIRTIO_BLK_T_DISCARD:
		s = blk_discard_zeroes(q, elem, status, false);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		s = blk_discard_zeroes(q, elem, status, true);
		break;
	default:
		s = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (s >= 0)
		blk_finish(q, elem->head, status, (uint8_t)s, 1);
}

static bool blk_can_run(const struct blk *blk)
{
	return blk->active && !(blk->vdev.status & VIRTIO_STATUS_NEEDS_RESET);
}

/* Room for one more chain: a free request, and the device's bytes in flight under the bound. */
static bool blk_queue_has_room(const struct blk_queue *q)
{
	return q->free && q->blk->inflight_bytes < VIRTIO_BLK_INFLIGHT_BYTES_MAX;
}

/* Take chains while a request is free and the budget lasts. vdev.lock held. */
static void blk_process(struct blk_queue *q)
{
	struct blk *blk = q->blk;
	struct virtq *vq = &blk->vdev.vqs[q->index];

	q->starved = false;
	for (unsigned n = 0; blk_can_run(blk); n++) {
		int ret;

		if (n == BLK_BUDGET) {
			/* Let the other queues and the completions in; come back for the rest. */
			virtio_queue_kick(&blk->vdev, q->index);
			break;
		}
		/* Checked before popping: a popped chain must have a request to go to (only a
		 * driver reusing heads still in flight runs out: a ring has size heads), and the
		 * bytes in flight stay bounded. A completion takes the queue up again. */
		if (!blk_queue_has_room(q)) {
			q->starved = true;
			break;
		}
		ret = virtq_pop(vq, blk->vdev.mem, &q->elem);
		if (ret == 0)
			break;
		if (ret < 0) {
			virtio_needs_reset(&blk->vdev, "virtio-blk: malformed virtqueue");
			break;
		}
		blk_handle(q, &q->elem);
	}
}

static void blk_notify_all(struct blk *blk)
{
	disk_submit(blk->disk);
	for (unsigned i = 0; i < blk->nqueues; i++) {
		if (blk->queues[i].need_notify) {
			blk->queues[i].need_notify = false;
			virtio_notify(&blk->vdev, i);
		}
	}
}

static void blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct blk *blk = blk_from_vdev(vdev);

	if (q >= blk->nqueues)
		return;
	blk_process(&blk->queues[q]);
	blk_notify_all(blk);
}

/* The backend's completion eventfd, on the device's I/O thread. */
static void blk_disk_event(void *opaque, int fd, uint32_t events)
{
	struct blk *blk = opaque;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&blk->vdev.lock);
	disk_complete(blk->disk);
	for (unsigned i = 0; i < blk->nqueues; i++)
		if (blk->queues[i].starved && blk_queue_has_room(&blk->queues[i]))
			blk_process(&blk->queues[i]);
	blk_notify_all(blk);
	pthread_mutex_unlock(&blk->vdev.lock);
}

static void blk_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len)
{
	struct blk *blk = blk_from_vdev(vdev);

	/* The core checked off + len against config_size. */
	memcpy(data, (const uint8_t *)&blk->config + off, len);
}

static void blk_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len)
{
	/* Nothing is writable: "writeback" needs CONFIG_WCE, which is not offered. */
}

static int blk_activate(struct virtio_dev *vdev)
{
	struct blk *blk = blk_from_vdev(vdev);

	blk->features = vdev->driver_features;
	blk->active = true;
	/* Buffers made available before DRIVER_OK got no kick that counted: look once. */
	for (unsigned i = 0; i < blk->nqueues; i++)
		virtio_queue_kick(vdev, i);
	return 0;
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct blk *blk = blk_from_vdev(vdev);

	/*
	 * Wait for everything in flight before the core forgets the rings: the backend may still
	 * be writing into guest buffers, and a completion after this must not push to a ring the
	 * driver is reprogramming. With active clear, the callbacks only free their requests.
	 */
	blk->active = false;
	disk_drain(blk->disk);
	for (unsigned i = 0; i < blk->nqueues; i++) {
		blk->queues[i].starved = false;
		blk->queues[i].need_notify = false;
	}
	blk->features = 0;
}

/* Pause: every request in flight completes (pushed and notified) before the VM counts as
 * paused, so a snapshot or a paused guest never has I/O half-done in the backend. */
static void blk_quiesce(struct virtio_dev *vdev)
{
	struct blk *blk = blk_from_vdev(vdev);

	disk_drain(blk->disk);
	blk_notify_all(blk);
}

/* Requests handed to the backend and not completed (vdev.lock held). */
static unsigned blk_inflight(const struct blk *blk)
{
	unsigned n = 0;

	for (unsigned i = 0; i < blk->nqueues; i++) {
		unsigned nfree = 0;

		for (const struct blk_req *req = blk->queues[i].free; req; req = req->next_free)
			nfree++;
		n += VIRTIO_BLK_QUEUE_SIZE - nfree;
	}
	return n;
}

/*
 * Nothing the driver can write: the section records the capacity the driver was told, which the
 * image must still have. The negotiated features and "active" come back with the common state.
 */
static void blk_save(const struct virtio_dev *vdev, struct state_writer *w)
{
	const struct blk *blk = (const struct blk *)vdev;
	unsigned n = blk_inflight(blk);

	if (n) {
		/* Their completions would go nowhere: the driver would wait forever. */
		log_error("%s: %u requests in flight: not saved (quiesce first)", blk->name, n);
		state_writer_fail(w, -EBUSY);
		return;
	}
	state_section_begin(w, BLK_STATE_TAG, BLK_STATE_VERSION);
	state_put_u64(w, blk->capacity);
	state_section_end_write(w);
}

static int blk_load(struct virtio_dev *vdev, struct state_reader *r)
{
	struct blk *blk = blk_from_vdev(vdev);
	uint32_t version;
	int ret;

	state_section_begin_read(r, BLK_STATE_TAG, BLK_STATE_VERSION, &version);
	/* A driver that read another capacity would address sectors that are not there. */
	if (state_get_u64(r) != blk->capacity)
		state_reader_fail(r, "the disk image has another size than the snapshot's");
	ret = state_section_end(r);
	if (ret)
		return ret;
	/* What blk_activate set, from the common state the core just loaded. */
	blk->active = vdev->status & VIRTIO_STATUS_DRIVER_OK;
	blk->features = blk->active ? vdev->driver_features : 0;
	return 0;
}

static void blk_destroy(struct virtio_dev *vdev)
{
	struct blk *blk = blk_from_vdev(vdev);

	/* The I/O thread goes first, so blk_disk_event cannot run concurrently with the rest. */
	virtio_dev_cleanup(vdev);
	blk->active = false;
	disk_close(blk->disk);
	for (unsigned i = 0; i < blk->nqueues; i++)
		free(blk->queues[i].reqs);
	free(blk->queues);
	free(blk);
}

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.reset = blk_reset,
	.queue_notify = blk_queue_notify,
	.destroy = blk_destroy,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.load = blk_load,
};

/* Serial for GET_ID: the configured one, else the image's file name (last 20 bytes of it). */
static void blk_set_id(struct blk *blk, const struct virtio_blk_config *cfg)
{
	const char *s = cfg->serial;
	size_t len;

	if (!s) {
		const char *slash = strrchr(cfg->path, '/');

		s = slash ? slash + 1 : cfg->path;
		len = strlen(s);
		if (len > VIRTIO_BLK_ID_BYTES)
			s += len - VIRTIO_BLK_ID_BYTES;
	}
	len = strlen(s);
	/* Zero-padded; exactly 20 bytes carry no terminator (5.2.6). */
	memcpy(blk->id, s, len < VIRTIO_BLK_ID_BYTES ? len : VIRTIO_BLK_ID_BYTES);
}

static void blk_init_config(struct blk *blk)
{
	struct virtio_blk_dev_config *c = &blk->config;

	c->capacity = htole64(blk->capacity);
	c->size_max = htole32(VIRTIO_BLK_SIZE_MAX);
	c->seg_max = htole32(VIRTIO_BLK_SEG_MAX);
	c->blk_size = htole32(DISK_SECTOR_SIZE);
	c->num_queues = htole16((uint16_t)blk->nqueues);
	c->max_discard_sectors = htole32(VIRTIO_BLK_MAX_DISCARD_SECTORS);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(VIRTIO_BLK_DISCARD_ALIGNMENT);
	c->max_write_zeroes_sectors = htole32(VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;
}

int virtio_blk_create(struct virtio_dev **out, const struct guest_mem *gm,
		      const struct virtio_blk_config *cfg)
{
	unsigned nq = cfg->nqueues ? cfg->nqueues : 1;
	uint64_t features;
	struct blk *blk;
	int ret;

	if (!cfg->path || nq > VIRTIO_BLK_MAX_QUEUES ||
	    (cfg->serial && strlen(cfg->serial) > VIRTIO_BLK_ID_BYTES))
		return -EINVAL;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	snprintf(blk->name, sizeof(blk->name), "%s", cfg->name ? cfg->name : "virtio-blk");
	blk->readonly = cfg->readonly;
	blk->nqueues = nq;
	blk_set_id(blk, cfg);
	blk->queues = calloc(nq, sizeof(*blk->queues));
	if (!blk->queues) {
		ret = -ENOMEM;
		goto err_free;
	}
	for (unsigned i = 0; i < nq; i++) {
		struct blk_queue *q = &blk->queues[i];

		q->blk = blk;
		q->index = i;
		/* As many requests as the ring has heads: a driver that plays by the rules never
		 * waits for one. */
		q->reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*q->reqs));
		if (!q->reqs) {
			ret = -ENOMEM;
			goto err_free;
		}
		for (unsigned r = VIRTIO_BLK_QUEUE_SIZE; r-- > 0;) {
			q->reqs[r].q = q;
			blk_req_put(q, &q->reqs[r]);
		}
	}
	ret = disk_open(&blk->disk, cfg->path, cfg->readonly, nq * VIRTIO_BLK_QUEUE_SIZE);
	if (ret < 0)
		goto err_free;
	blk->capacity = disk_size(blk->disk) >> BLK_SECTOR_SHIFT;
	blk_init_config(blk);

	features = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		   (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
		   (1ull << VIRTIO_BLK_F_MQ);
	/* A read-only disk offers nothing that writes. */
	if (cfg->readonly)
		features |= 1ull << VIRTIO_BLK_F_RO;
	else
		features |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	ret = virtio_dev_init(&blk->vdev, &blk_ops, blk->name, VIRTIO_ID_BLOCK, features,
			      sizeof(blk->config), nq, VIRTIO_BLK_QUEUE_SIZE, gm);
	if (ret < 0)
		goto err_disk;
	ret =
	    event_loop_add(blk->vdev.loop, disk_event_fd(blk->disk), EPOLLIN, blk_disk_event, blk);
	if (ret < 0)
		goto err_vdev;
	blk->vdev.priv = blk;
	*out = &blk->vdev;
	return 0;

err_vdev:
	virtio_dev_cleanup(&blk->vdev);
err_disk:
	disk_close(blk->disk);
err_free:
	if (blk->queues)
		for (unsigned i = 0; i < nq; i++)
			free(blk->queues[i].reqs);
	free(blk->queues);
	free(blk);
	return ret;
}

uint64_t virtio_blk_inflight_peak(struct virtio_dev *vdev)
{
	struct blk *blk = blk_from_vdev(vdev);
	uint64_t peak;

	pthread_mutex_lock(&vdev->lock);
	peak = blk->inflight_peak;
	pthread_mutex_unlock(&vdev->lock);
	return peak;
}

int virtio_blk_set_backing(struct virtio_dev *vdev, const char *path)
{
	struct blk *blk = blk_from_vdev(vdev);
	struct disk *fresh, *old;
	int ret;

	ret = disk_open(&fresh, path, blk->readonly, blk->nqueues * VIRTIO_BLK_QUEUE_SIZE);
	if (ret < 0)
		return ret;
	/* The I/O thread is parked while the disks trade places: no completion runs meanwhile.
	 * Requests in flight on the old image finish first, as on a pause. */
	ret = event_loop_pause(vdev->loop);
	if (ret) {
		disk_close(fresh);
		return ret;
	}
	pthread_mutex_lock(&vdev->lock);
	old = blk->disk;
	disk_drain(old);
	blk_notify_all(blk);
	event_loop_del(vdev->loop, disk_event_fd(old));
	ret = event_loop_add(vdev->loop, disk_event_fd(fresh), EPOLLIN, blk_disk_event, blk);
	if (ret) {
		/* Keep the old image: the guest sees no change. */
		if (event_loop_add(vdev->loop, disk_event_fd(old), EPOLLIN, blk_disk_event, blk))
			log_error("%s: lost the backing file's completion events", blk->name);
		pthread_mutex_unlock(&vdev->lock);
		event_loop_resume(vdev->loop);
		disk_close(fresh);
		return ret;
	}
	blk->disk = fresh;
	blk->capacity = disk_size(fresh) >> BLK_SECTOR_SHIFT;
	blk->config.capacity = htole64(blk->capacity);
	/* The driver re-reads capacity on the config-change interrupt (virtio 1.2 5.2.4). */
	virtio_config_changed(vdev);
	pthread_mutex_unlock(&vdev->lock);
	event_loop_resume(vdev->loop);
	disk_close(old);
	log_info("%s: backing file is now %s (%llu sectors)", blk->name, path,
		 (unsigned long long)blk->capacity);
	return 0;
}

struct disk *virtio_blk_disk(struct virtio_dev *vdev)
{
	return blk_from_vdev(vdev)->disk;
}
