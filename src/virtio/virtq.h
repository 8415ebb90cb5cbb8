/* Split virtqueue, device side: one bounded, overflow-safe chain walker shared by every device. */
#ifndef KVMBOX_VIRTIO_VIRTQ_H
#define KVMBOX_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"

#define VIRTQ_MAX_SIZE 1024    /* largest queue size any device offers (power of two) */
#define VIRTQ_MAX_SEGS 1024    /* host iovecs per chain; a chain never exceeds the queue size */
#define VIRTQ_NO_VECTOR 0xffff /* msix_vector: VIRTIO_MSI_NO_VECTOR, no interrupt */

struct state_writer;
struct state_reader;

/* The driver-visible ring state of one queue, as programmed through the transport. */
struct virtq {
	uint16_t max_size; /* offered by the device */
	uint16_t size;	   /* chosen by the driver; power of two, <= max_size */
	bool ready;	   /* queue_enable / QueueReady */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t msix_vector; /* virtio-pci only: VIRTIO_MSI_NO_VECTOR = 0xffff when none */

	/* Device-private progress, valid while ready. */
	uint16_t last_avail; /* next avail ring slot to consume */
	uint16_t used_idx;   /* host copy of used->idx (the guest may scribble on the ring) */
	uint16_t signalled_used;
	bool signalled_used_valid;
	uint16_t unpoppable; /* chains popped since the last push: what virtq_unpop may return */
	bool event_idx;	     /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	     /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool broken;	     /* a malformed ring was seen: the device must enter NEEDS_RESET */
};

/*
 * One descriptor chain, translated: out[] are the device-readable buffers in chain order, then
 * in[] the device-writable ones. Every iovec lies entirely inside guest RAM (checked once, here).
 */
struct virtq_elem {
	uint16_t head;
	unsigned out_num;
	unsigned in_num;
	uint64_t out_len; /* total bytes readable */
	uint64_t in_len;  /* total bytes writable */
	struct iovec out[VIRTQ_MAX_SEGS];
	struct iovec in[VIRTQ_MAX_SEGS];
};

/* Reset progress (queue reset, device reset, or when the driver enables the queue). */
void virtq_reset(struct virtq *vq);

/*
 * A queue size the driver may choose: a power of two, at most what the device offers. The
 * transports check the driver's writes with it, and a snapshot load the saved size.
 */
bool virtq_size_valid(const struct virtq *vq, uint32_t size);

/*
 * Why the rings of vq cannot be used, or NULL: size, alignment (2.7), and each area (descriptor
 * table, driver area with used_event, device area with avail_event) inside guest RAM. No side
 * effects: virtq_pop and virtq_push make the same checks at use, and break the queue.
 */
const char *virtq_layout_error(const struct virtq *vq, const struct guest_mem *gm);

/* Chains popped and not yet pushed on a usable (ready, unbroken) queue. */
unsigned virtq_in_flight(const struct virtq *vq);

/*
 * Snapshot of one queue: size, ready, ring addresses, MSI-X vector and the device's progress
 * (last_avail, used_idx, the event-idx shadow, unpoppable, broken). Not saved: max_size (the
 * device's, fixed at creation) and event_idx/indirect (derived from the negotiated features at
 * DRIVER_OK, which the virtio core re-derives at load).
 */
void virtq_save(const struct virtq *vq, struct state_writer *w);
/*
 * Read virtq_save's fields into *out, which starts as a copy of tmpl (the same queue of the
 * device being loaded: its max_size). Checked as the transports check the driver's writes
 * (virtq_size_valid), plus what a queue that passed through them and a quiesced device can be:
 * a vector below msix_vectors or VIRTQ_NO_VECTOR, unpoppable <= size, and for a ready, unbroken
 * queue rings inside gm (virtq_layout_error) and no chain in flight. Failures fail r.
 */
void virtq_load(struct virtq *out, const struct virtq *tmpl, struct state_reader *r,
		const struct guest_mem *gm, unsigned msix_vectors);

/*
 * Take the next available chain. 1: *elem filled. 0: ring empty. Negative: the ring is malformed
 * (descriptor loop, chain longer than the queue, index/address/length out of range, readable
 * after writable, indirect inside indirect, ...): vq->broken is set and nothing was consumed.
 * Zero-length descriptors are accepted and skipped (no iovec). A chain holds at most
 * VIRTQ_MAX_SEGS buffers; an indirect table at most VIRTQ_MAX_SEGS entries (it may exceed size).
 * With event_idx, the kick for new buffers is re-armed only when virtq_pop returns 0: a device
 * that stops before the ring is empty must come back by itself (e.g. virtio_queue_kick).
 * Not ready: returns 0. Serialise pop/push/should_notify per queue (vdev->lock does).
 */
int virtq_pop(struct virtq *vq, const struct guest_mem *gm, struct virtq_elem *elem)
    __attribute__((warn_unused_result));

/* One chain to return: its head, and the bytes written into its in[] buffers (host-side form). */
struct virtq_used_elem {
	uint16_t head;
	uint32_t written;
};

/*
 * Return n chains to the driver in used ring order and publish them with one used->idx store, so
 * a driver polling the ring sees all of them or none (a mergeable RX packet spans several).
 * 1 <= n <= size; n = 0 does nothing. A head >= size or n > size is a device bug: -EINVAL, nothing
 * written, the queue stays usable. Used ring outside RAM: the queue breaks (-EFAULT).
 */
int virtq_push_batch(struct virtq *vq, const struct guest_mem *gm,
		     const struct virtq_used_elem *elems, unsigned n)
    __attribute__((warn_unused_result));

/* Return a chain to the driver with `written` bytes written into its in[] buffers. */
int virtq_push(struct virtq *vq, const struct guest_mem *gm, uint16_t head, uint32_t written)
    __attribute__((warn_unused_result));

/*
 * Give back, unused, the last n chains virtq_pop returned: the next pops return them again
 * (re-read and re-checked, as the driver may have rewritten them). Only chains popped since the
 * last push (of any chain) qualify: until then the driver can reuse none of their descriptors or
 * avail slots. Asking for more is a device bug: it is logged and only those are given back.
 */
void virtq_unpop(struct virtq *vq, unsigned n);

/* After pushes: must the driver be interrupted (VRING_AVAIL_F_NO_INTERRUPT / used_event)? */
bool virtq_should_notify(struct virtq *vq, const struct guest_mem *gm);

/* Copy helpers over an iovec array (bounded by the iovecs; return bytes copied). */
size_t virtq_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t virtq_iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf,
			  size_t len);

#endif
