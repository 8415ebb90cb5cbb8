/* libFuzzer target: the input is guest memory holding rings and buffers, plus queue parameters. */
#include "log.h"
#include "virtio/virtq.h"

#include <stdlib.h>
#include <string.h>

/*
 * Two RAM regions in separately malloc'd buffers of exactly their size, so ASan reports any host
 * access outside them; the second sits just below 4 GiB to exercise region ends and wrap-around.
 */
#define LOW_GPA 0x1000ull
#define LOW_SIZE 0xf000ull
#define HIGH_GPA 0xfffff000ull
#define HIGH_SIZE 0x1000ull
#define PARAMS 16

static struct virtq_elem elem;

static int fuzz_in_ram(const struct iovec *iov, const uint8_t *low, const uint8_t *high)
{
	const uint8_t *p = iov->iov_base;
	size_t n = iov->iov_len;

	if (!n)
		return 0; /* the walker never emits empty iovecs */
	if (p >= low && p <= low + LOW_SIZE && n <= (size_t)(low + LOW_SIZE - p))
		return 1;
	return p >= high && p <= high + HIGH_SIZE && n <= (size_t)(high + HIGH_SIZE - p);
}

/* A ring address: mostly inside low RAM (offset from the input), sometimes anywhere. */
static uint64_t fuzz_gpa(const uint8_t *b)
{
	uint16_t v = (uint16_t)(b[0] | b[1] << 8);

	switch (v >> 14) {
	case 0:
	case 1:
		return LOW_GPA + (v & 0x7fff) % LOW_SIZE;
	case 2:
		return HIGH_GPA + (v & 0xfff);
	default:
		return (uint64_t)v << 48 | v; /* far outside, maybe wrapping */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem gm = { 0 };
	uint8_t *low, *high, scratch[64];
	struct virtq vq = { 0 };

	log_set_level(LOG_ERROR);
	if (size < PARAMS)
		return 0;
	low = calloc(1, LOW_SIZE);
	high = calloc(1, HIGH_SIZE);
	if (!low || !high || guest_mem_add(&gm, LOW_GPA, LOW_SIZE, low) ||
	    guest_mem_add(&gm, HIGH_GPA, HIGH_SIZE, high))
		abort();
	memcpy(low, data + PARAMS, size - PARAMS < LOW_SIZE ? size - PARAMS : LOW_SIZE);
	if (size - PARAMS > LOW_SIZE)
		memcpy(high, data + PARAMS + LOW_SIZE,
		       size - PARAMS - LOW_SIZE < HIGH_SIZE ? size - PARAMS - LOW_SIZE : HIGH_SIZE);

	vq.max_size = VIRTQ_MAX_SIZE;
	/* Mostly a power of two up to 1024, sometimes anything. */
	vq.size =
	    data[0] & 0x80 ? (uint16_t)(data[0] << 4 | data[1]) : (uint16_t)(1u << (data[0] % 11));
	vq.event_idx = data[1] & 1;
	vq.indirect = data[1] & 2;
	vq.desc_gpa = fuzz_gpa(data + 2);
	vq.avail_gpa = fuzz_gpa(data + 4);
	vq.used_gpa = fuzz_gpa(data + 6);
	if (data[1] & 4) { /* align as a correct driver would */
		vq.desc_gpa &= ~15ull;
		vq.avail_gpa &= ~1ull;
		vq.used_gpa &= ~3ull;
	}
	virtq_reset(&vq);
	vq.ready = true;
	vq.last_avail = (uint16_t)(data[8] | data[9] << 8);
	vq.used_idx = (uint16_t)(data[10] | data[11] << 8);

	/* Pop and push until empty or error; a ring can hold at most size chains per pass, and the
	 * device's own used-ring writes may rewrite the rings (overlap is the guest's choice). */
	for (unsigned i = 0; i < 2u * VIRTQ_MAX_SIZE + 8; i++) {
		int ret = virtq_pop(&vq, &gm, &elem);

		if (ret == 0)
			break;
		if (ret < 0) {
			if (!vq.broken || virtq_pop(&vq, &gm, &elem) >= 0)
				abort(); /* an error must stick until reset */
			break;
		}
		if (elem.out_num > VIRTQ_MAX_SEGS || elem.in_num > VIRTQ_MAX_SEGS ||
		    elem.out_num + elem.in_num > VIRTQ_MAX_SEGS || elem.head >= vq.size)
			abort();
		for (unsigned j = 0; j < elem.out_num; j++)
			if (!fuzz_in_ram(&elem.out[j], low, high))
				abort();
		for (unsigned j = 0; j < elem.in_num; j++)
			if (!fuzz_in_ram(&elem.in[j], low, high))
				abort();
		/* Touch every byte the device may touch: ASan checks them. */
		virtq_iov_to_buf(elem.out, elem.out_num, data[12], scratch, sizeof(scratch));
		virtq_iov_from_buf(elem.in, elem.in_num, data[13], scratch, sizeof(scratch));
		if (virtq_push(&vq, &gm, elem.head, (uint32_t)(elem.in_len & 0xffffffff)) &&
		    !vq.broken)
			abort();
		if (data[14] & 1)
			(void)virtq_should_notify(&vq, &gm);
	}
	(void)virtq_should_notify(&vq, &gm);
	free(low);
	free(high);
	return 0;
}
