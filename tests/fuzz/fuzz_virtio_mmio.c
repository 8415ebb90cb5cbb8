/* libFuzzer target: register access sequences against virtio-mmio + the virtio core + virtio-rng.
 */
#include "log.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"

#include <stdlib.h>
#include <string.h>

#define RAM_SIZE 0x10000

static int fuzz_level, fuzz_redundant;

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	if (level == __atomic_load_n(&fuzz_level, __ATOMIC_SEQ_CST))
		__atomic_store_n(&fuzz_redundant, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fuzz_level, level, __ATOMIC_SEQ_CST);
}

/* The kick callback's work, run here synchronously so an input replays deterministically. */
static void fuzz_process(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vdev->vqs[0].ready &&
	    !vdev->vqs[0].broken)
		vdev->ops->queue_notify(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
}

/*
 * Guest RAM starts as a copy of the whole input, so rings and descriptors come from it too. The
 * first two bytes give the length of the op list that follows (the rest is only RAM); each op is
 * 7 bytes: kind/width, offset (16 bits, beyond the window too), value (32 bits).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct irq_line line = { .set = fuzz_irq_set };
	struct guest_mem gm = { 0 };
	struct virtio_dev *vdev;
	struct virtio_mmio *m;
	uint8_t *ram, buf[16];

	log_set_level(LOG_ERROR);
	fuzz_level = 0;
	fuzz_redundant = 0;
	ram = calloc(1, RAM_SIZE);
	if (!ram || guest_mem_add(&gm, 0, RAM_SIZE, ram))
		abort();
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	if (virtio_rng_create(&vdev, &gm, "fuzz-rng") ||
	    virtio_mmio_create(&m, vdev, 0xd0000000, &line))
		abort();
	/* Kicks reach the eventfd but not the I/O thread: fuzz_process runs the queue instead. */
	if (event_loop_del(vdev->loop, vdev->kick_fds[0]))
		abort();
	size_t ops_end = size < 2 ? 0 : 2 + (size_t)(data[0] | data[1] << 8);

	if (ops_end > size)
		ops_end = size;
	for (size_t i = 2; i + 7 <= ops_end; i += 7) {
		uint8_t op = data[i];
		uint64_t off =
		    (uint64_t)(data[i + 1] | data[i + 2] << 8) % (VIRTIO_MMIO_SIZE + 0x40);
		unsigned len = lens[(op >> 2) & 3];
		uint32_t val;

		memcpy(&val, data + i + 3, 4);
		switch (op & 3) {
		case 0:
			memset(buf, 0xaa, sizeof(buf));
			virtio_mmio_bus_ops.read(m, off, buf, len);
			for (unsigned j = len; j < sizeof(buf); j++)
				if (buf[j] != 0xaa)
					abort(); /* wrote past the access */
			break;
		case 1:
			memset(buf, 0, sizeof(buf));
			memcpy(buf, &val, 4);
			memcpy(buf + 4, &val, 4);
			virtio_mmio_bus_ops.write(m, off, buf, len);
			break;
		case 2:
			fuzz_process(vdev);
			break;
		default:
			/* Let the fuzzer edit guest RAM between accesses, as a vCPU would. */
			memcpy(ram + (val % (RAM_SIZE - 1)), &data[i + 1], 1);
			break;
		}
		pthread_mutex_lock(&m->irq_lock);
		if (fuzz_redundant || fuzz_level != (m->interrupt_status != 0) ||
		    (m->interrupt_status & ~3u))
			abort();
		pthread_mutex_unlock(&m->irq_lock);
		pthread_mutex_lock(&vdev->lock);
		for (unsigned q = 0; q < vdev->nqueues; q++) {
			const struct virtq *vq = &vdev->vqs[q];

			if (!vq->size || vq->size > vq->max_size || (vq->size & (vq->size - 1)))
				abort(); /* the transport let a bad QueueNum through */
		}
		if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
		    (!(vdev->status & VIRTIO_STATUS_FEATURES_OK) ||
		     !(vdev->driver_features & (1ull << VIRTIO_F_VERSION_1)) ||
		     (vdev->driver_features & ~vdev->host_features)))
			abort(); /* DRIVER_OK without a valid negotiation */
		pthread_mutex_unlock(&vdev->lock);
	}
	virtio_mmio_destroy(m);
	vdev->ops->destroy(vdev);
	free(ram);
	return 0;
}
