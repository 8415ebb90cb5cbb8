/* Split virtqueue, device side (virtio 1.2 section 2.7): the one chain walker every device uses. */
#include "virtio/virtq.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "snapshot/state.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_DESC_SIZE 16

/* Offsets inside the driver area (avail ring) and device area (used ring). */
#define VIRTQ_AVAIL_FLAGS 0
#define VIRTQ_AVAIL_IDX 2
#define VIRTQ_AVAIL_RING 4
#define VIRTQ_USED_IDX 2
#define VIRTQ_USED_RING 4
#define VIRTQ_USED_ELEM_SIZE 8

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * The driver may rewrite a descriptor while we walk it. Copy it once into a local and stop the
 * compiler from going back to guest memory for a field (it could otherwise reload instead of
 * keeping a register): every check and every use then sees the same value. memcpy, not a typed
 * load, because an indirect table need not be 8-byte aligned.
 */
static inline void virtq_desc_read(struct virtq_desc *d, const uint8_t *p)
{
	memcpy(d, p, sizeof(*d));
	__asm__ volatile("" ::: "memory");
}

/* Ring fields: the ring alignment checked in virtq_rings_check makes these naturally aligned. */
static inline uint16_t virtq_load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

/* avail->idx: acquire, so the ring entries and descriptors behind it are read after it. */
static inline uint16_t virtq_load16_acquire(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static inline void virtq_store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static inline void virtq_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/* One call site for every ring error: a guest breaking rings in a loop gets a few lines/s. */
static int virtq_fail(struct virtq *vq, int err, const char *why, uint64_t val)
{
	vq->broken = true;
	log_guest("virtqueue: %s (0x%llx); queue stopped until the driver resets the device", why,
		  (unsigned long long)val);
	return err;
}

bool virtq_size_valid(const struct virtq *vq, uint32_t size)
{
	return size && !(size & (size - 1)) && size <= vq->max_size && size <= VIRTQ_MAX_SIZE;
}

/* 2.7: descriptor table 16, driver area 2, device area 4. */
static bool virtq_aligned(const struct virtq *vq)
{
	return !(vq->desc_gpa & 15) && !(vq->avail_gpa & 1) && !(vq->used_gpa & 3);
}

/* Size and alignment, at every use: the driver may have set anything before enabling. */
static int virtq_rings_check(struct virtq *vq)
{
	if (!virtq_size_valid(vq, vq->size))
		return virtq_fail(vq, -EINVAL, "bad queue size", vq->size);
	if (!virtq_aligned(vq))
		return virtq_fail(vq, -EINVAL, "misaligned ring",
				  vq->desc_gpa | vq->avail_gpa | vq->used_gpa);
	return 0;
}

/* Each area is translated as a whole at use, so every index below size stays inside it. */
static uint8_t *virtq_desc_table(const struct virtq *vq, const struct guest_mem *gm)
{
	return guest_mem_ptr(gm, vq->desc_gpa, (uint64_t)vq->size * VIRTQ_DESC_SIZE);
}

static uint8_t *virtq_avail_ring(const struct virtq *vq, const struct guest_mem *gm)
{
	return guest_mem_ptr(gm, vq->avail_gpa, 6 + 2 * (uint64_t)vq->size);
}

/* Everything that asks for it writes it (used entries, the index, avail_event). */
static uint8_t *virtq_used_ring(const struct virtq *vq, const struct guest_mem *gm)
{
	uint64_t len = 6 + VIRTQ_USED_ELEM_SIZE * (uint64_t)vq->size;

	guest_mem_mark_dirty(gm, vq->used_gpa, len);
	return guest_mem_ptr(gm, vq->used_gpa, len);
}

void virtq_reset(struct virtq *vq)
{
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->unpoppable = 0;
	vq->broken = false;
}

const char *virtq_layout_error(const struct virtq *vq, const struct guest_mem *gm)
{
	if (!virtq_size_valid(vq, vq->size))
		return "queue size is not a power of two up to the maximum";
	if (!virtq_aligned(vq))
		return "misaligned ring";
	if (!virtq_desc_table(vq, gm) || !virtq_avail_ring(vq, gm) || !virtq_used_ring(vq, gm))
		return "ring outside guest RAM";
	return NULL;
}

unsigned virtq_in_flight(const struct virtq *vq)
{
	return vq->ready && !vq->broken ? (uint16_t)(vq->last_avail - vq->used_idx) : 0;
}

void virtq_save(const struct virtq *vq, struct state_writer *w)
{
	state_put_u16(w, vq->size);
	state_put_bool(w, vq->ready);
	state_put_u64(w, vq->desc_gpa);
	state_put_u64(w, vq->avail_gpa);
	state_put_u64(w, vq->used_gpa);
	state_put_u16(w, vq->msix_vector);
	state_put_u16(w, vq->last_avail);
	state_put_u16(w, vq->used_idx);
	state_put_u16(w, vq->signalled_used);
	state_put_bool(w, vq->signalled_used_valid);
	state_put_u16(w, vq->unpoppable);
	state_put_bool(w, vq->broken);
}

void virtq_load(struct virtq *out, const struct virtq *tmpl, struct state_reader *r,
		const struct guest_mem *gm, unsigned msix_vectors)
{
	/*
	 * Ring addresses are not checked here: the driver can enable a queue on any addresses
	 * (the transports check them when the queue is used), so a snapshot may hold such a
	 * queue; it breaks at its first use, as it would have without the snapshot.
	 */
	(void)gm;
	*out = *tmpl;
	out->size = state_get_u16(r);
	out->ready = state_get_bool(r);
	out->desc_gpa = state_get_u64(r);
	out->avail_gpa = state_get_u64(r);
	out->used_gpa = state_get_u64(r);
	out->msix_vector = state_get_u16(r);
	out->last_avail = state_get_u16(r);
	out->used_idx = state_get_u16(r);
	out->signalled_used = state_get_u16(r);
	out->signalled_used_valid = state_get_bool(r);
	out->unpoppable = state_get_u16(r);
	out->broken = state_get_bool(r);
	if (!state_reader_ok(r))
		return;
	/* The size register never holds anything else (a write of another value is refused). */
	if (!virtq_size_valid(out, out->size))
		state_reader_fail(r, "queue size is not a power of two up to the maximum");
	else if (out->msix_vector != VIRTQ_NO_VECTOR && out->msix_vector >= msix_vectors)
		state_reader_fail(r, "queue vector beyond the MSI-X table");
	else if (out->unpoppable > out->size)
		state_reader_fail(r, "more chains to give back than the queue holds");
	else if (virtq_in_flight(out))
		state_reader_fail(r, "chains in flight (the device was not quiesced)");
}

/*
 * Walk the chain starting at head into elem. Bounds: a direct chain visits at most size
 * descriptors and an indirect table at most its own entry count, so a loop is caught as "too
 * long" without remembering which descriptors were seen. An indirect table may exceed the queue
 * size (Linux sizes it by the request's segment count, not the ring), so it is bounded by
 * VIRTQ_MAX_SEGS, and so are the chain's buffers in total. Zero-length descriptors are legal
 * but carry nothing: they count towards the bounds and the direction rule, but their address
 * is neither checked nor turned into an iovec.
 */
static int virtq_walk(struct virtq *vq, const struct guest_mem *gm, const uint8_t *table,
		      uint16_t head, struct virtq_elem *elem)
{
	const uint8_t *tbl = table;
	uint32_t tbl_n = vq->size, i = head, seen = 0;
	bool in_indirect = false, writable = false;
	unsigned nsegs = 0;

	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	if (head >= vq->size)
		return virtq_fail(vq, -EINVAL, "avail ring head out of range", head);
	for (;;) {
		struct virtq_desc d;
		void *p;

		if (++seen > tbl_n)
			return virtq_fail(vq, -ELOOP, "descriptor chain loops or exceeds its table",
					  head);
		virtq_desc_read(&d, tbl + (size_t)i * VIRTQ_DESC_SIZE);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* Its WRITE flag is ignored (2.7.5.3.2); NEXT is forbidden with it. */
			if (in_indirect)
				return virtq_fail(vq, -EINVAL, "nested indirect descriptor",
						  d.addr);
			if (!vq->indirect)
				return virtq_fail(vq, -EINVAL, "indirect descriptor not negotiated",
						  d.addr);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return virtq_fail(vq, -EINVAL, "indirect descriptor with NEXT",
						  d.addr);
			if (!d.len || d.len % VIRTQ_DESC_SIZE ||
			    d.len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SEGS)
				return virtq_fail(vq, -EINVAL, "bad indirect table length", d.len);
			tbl = guest_mem_ptr(gm, d.addr, d.len);
			if (!tbl)
				return virtq_fail(vq, -EFAULT, "indirect table outside RAM",
						  d.addr);
			tbl_n = d.len / VIRTQ_DESC_SIZE;
			i = 0;
			seen = 0;
			in_indirect = true;
			continue;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE)
			writable = true; /* even if empty: later readable ones are still errors */
		else if (writable)
			return virtq_fail(vq, -EINVAL, "device-readable after device-writable",
					  d.addr);
		if (d.len) {
			p = guest_mem_ptr(gm, d.addr, d.len);
			if (!p)
				return virtq_fail(vq, -EFAULT, "buffer outside RAM", d.addr);
			if (++nsegs > VIRTQ_MAX_SEGS)
				return virtq_fail(vq, -E2BIG, "too many buffers in chain", head);
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				/* Counted as written now: the device may fill any of it. */
				guest_mem_mark_dirty(gm, d.addr, d.len);
				elem->in[elem->in_num++] = (struct iovec){ p, d.len };
				elem->in_len += d.len;
			} else {
				elem->out[elem->out_num++] = (struct iovec){ p, d.len };
				elem->out_len += d.len;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= tbl_n)
			return virtq_fail(vq, -EINVAL, "descriptor next out of range", d.next);
		i = d.next;
	}
}

int virtq_pop(struct virtq *vq, const struct guest_mem *gm, struct virtq_elem *elem)
{
	uint8_t *desc, *avail, *used = NULL;
	uint16_t avail_idx, pending, head;
	int ret;

	if (vq->broken)
		return -EIO;
	if (!vq->ready)
		return 0;
	ret = virtq_rings_check(vq);
	if (ret)
		return ret;
	desc = virtq_desc_table(vq, gm);
	avail = virtq_avail_ring(vq, gm);
	if (vq->event_idx)
		used = virtq_used_ring(vq, gm);
	if (!desc || !avail || (vq->event_idx && !used))
		return virtq_fail(vq, -EFAULT, "ring outside RAM",
				  !desc	   ? vq->desc_gpa
				  : !avail ? vq->avail_gpa
					   : vq->used_gpa);

	avail_idx = virtq_load16_acquire(avail + VIRTQ_AVAIL_IDX);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (!pending) {
		if (!vq->event_idx)
			return 0;
		/*
		 * Empty: ask for a kick at the next buffer (avail_event), then look again, with a
		 * full barrier between our store and our load, pairing with the driver's barrier
		 * between its avail->idx store and its avail_event load: one of the two sides
		 * sees the other, so a buffer is never stranded without a kick.
		 */
		virtq_store16(used + VIRTQ_USED_RING + VIRTQ_USED_ELEM_SIZE * vq->size,
			      vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = virtq_load16_acquire(avail + VIRTQ_AVAIL_IDX);
		pending = (uint16_t)(avail_idx - vq->last_avail);
		if (!pending)
			return 0;
	}
	if (pending > vq->size)
		return virtq_fail(vq, -EINVAL, "avail idx more than the queue size ahead",
				  avail_idx);
	head = virtq_load16(avail + VIRTQ_AVAIL_RING + 2 * (vq->last_avail & (vq->size - 1)));
	ret = virtq_walk(vq, gm, desc, head, elem);
	if (ret)
		return ret;
	vq->last_avail++;
	/* A driver re-offering heads it has not got back could outrun size: more is never legal. */
	if (vq->unpoppable < vq->size)
		vq->unpoppable++;
	return 1;
}

int virtq_push_batch(struct virtq *vq, const struct guest_mem *gm,
		     const struct virtq_used_elem *elems, unsigned n)
{
	uint16_t old = vq->used_idx;
	uint8_t *used;
	int ret;

	if (vq->broken)
		return -EIO;
	if (!vq->ready)
		return -EINVAL;
	ret = virtq_rings_check(vq);
	if (ret)
		return ret;
	if (!n)
		return 0;
	/* Device bugs, not the guest's: refused before any write, and the queue stays usable. */
	if (n > vq->size)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (elems[i].head >= vq->size)
			return -EINVAL;
	used = virtq_used_ring(vq, gm);
	if (!used)
		return virtq_fail(vq, -EFAULT, "used ring outside RAM", vq->used_gpa);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = used + VIRTQ_USED_RING +
			     VIRTQ_USED_ELEM_SIZE * ((uint16_t)(old + i) & (vq->size - 1));

		virtq_store32(e, elems[i].head);
		virtq_store32(e + 4, elems[i].written);
	}
	vq->used_idx = (uint16_t)(old + n);
	/* Release: the buffer contents and every used element are visible before the new index. */
	__atomic_store_n((uint16_t *)(void *)(used + VIRTQ_USED_IDX), vq->used_idx,
			 __ATOMIC_RELEASE);
	/*
	 * 2^16 entries since the last interrupt bring used_idx back onto signalled_used, where the
	 * modular test in virtq_should_notify would see a small step: interrupt regardless.
	 */
	if ((uint16_t)(vq->used_idx - vq->signalled_used) < n)
		vq->signalled_used_valid = false;
	vq->unpoppable = 0;
	return 0;
}

int virtq_push(struct virtq *vq, const struct guest_mem *gm, uint16_t head, uint32_t written)
{
	const struct virtq_used_elem e = { .head = head, .written = written };

	return virtq_push_batch(vq, gm, &e, 1);
}

void virtq_unpop(struct virtq *vq, unsigned n)
{
	if (n > vq->unpoppable) {
		/* A device bug; rewinding further would re-offer chains the driver may reuse. */
		log_guest("virtqueue: %u chains given back, only %u popped since the last push", n,
			  vq->unpoppable);
		n = vq->unpoppable;
	}
	vq->last_avail = (uint16_t)(vq->last_avail - n);
	vq->unpoppable = (uint16_t)(vq->unpoppable - n);
}

bool virtq_should_notify(struct virtq *vq, const struct guest_mem *gm)
{
	uint16_t old, used_event;
	uint8_t *avail;
	bool valid;

	if (!vq->ready || !vq->size || (vq->size & (vq->size - 1)) || (vq->avail_gpa & 1))
		return false;
	avail = virtq_avail_ring(vq, gm);
	if (!avail)
		return true; /* a spurious interrupt is harmless, a missing one hangs the driver */
	/* Our used->idx store must be visible before we read the driver's suppression state. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(virtq_load16(avail + VIRTQ_AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	used_event = virtq_load16(avail + VIRTQ_AVAIL_RING + 2 * vq->size);
	/* vring_need_event: did used_idx step over used_event since the last interrupt? */
	return (uint16_t)(vq->used_idx - used_event - 1) < (uint16_t)(vq->used_idx - old);
}

size_t virtq_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + skip, l);
		done += l;
		skip = 0;
	}
	return done;
}

size_t virtq_iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf,
			  size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, l);
		done += l;
		skip = 0;
	}
	return done;
}
