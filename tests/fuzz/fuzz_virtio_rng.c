/* libFuzzer target: virtio-rng requests on a fuzzed virtqueue. */
#include "fuzz_virtio.h"
#include "log.h"
#include "virtio/rng.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Input: byte 0 flags (bit 0: drop EVENT_IDX, bit 1: drop INDIRECT_DESC, bit 2: a device reset
 * and the same negotiation again before the extra rounds), byte 1 the queue size
 * (1 << (b % 7)), byte 2 the number of extra rounds (b & 3), byte 3 how far each extra round
 * moves the avail index on (the driver posting that many more chains, then kicking). The rest is
 * guest RAM from GPA 0 (64 KiB, the rest zeroes): the avail ring at 0, the descriptor table at
 * 0x800 (so small seeds reach it), the used ring at 0xf000.
 * Kicks (the activation kick, the driver's, and the device's own re-kick after its per-kick
 * budget) are run on this thread as the I/O thread would, up to 4 times per round, so every
 * input replays the same and a ring that never empties stays cheap.
 */
#define FUZZ_MEM (64 * 1024)
#define FUZZ_HDR 4
#define FUZZ_ROUNDS 4
#define FUZZ_AVAIL 0x0
#define FUZZ_DESC 0x800
#define FUZZ_USED 0xf000

static uint8_t fuzz_ram[FUZZ_MEM] __attribute__((aligned(4096)));
static struct guest_mem fuzz_gm;
static struct virtio_dev *fuzz_dev;

static void fuzz_irq(void *opaque, unsigned q)
{
	(void)opaque;
	if (q != 0)
		abort(); /* one request queue */
}

static void fuzz_cfg_irq(void *opaque)
{
	(void)opaque;
}

static const struct virtio_transport_ops fuzz_transport = { fuzz_irq, fuzz_cfg_irq };

static void fuzz_init(void)
{
	log_set_level(LOG_ERROR);
	if (guest_mem_add(&fuzz_gm, 0, FUZZ_MEM, fuzz_ram) < 0 ||
	    virtio_rng_create(&fuzz_dev, &fuzz_gm, "fuzz-rng") < 0)
		abort();
	fuzz_dev->transport_ops = &fuzz_transport;
	/* Kicks reach the eventfd but not the I/O thread: fuzz_run_kicks runs the queue. */
	if (event_loop_del(fuzz_dev->loop, fuzz_dev->kick_fds[0]))
		abort();
}

/* What virtio_kick_cb does on the I/O thread; checks what each pass returned to the driver. */
static void fuzz_run_kicks(struct virtio_dev *vdev)
{
	struct virtq *vq = &vdev->vqs[0];

	for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
		uint64_t n = 0, reqs, bytes;
		uint16_t used;

		if (read(vdev->kick_fds[0], &n, sizeof(n)) != sizeof(n) || !n)
			break;
		pthread_mutex_lock(&vdev->lock);
		if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vq->ready && !vq->broken) {
			reqs = vdev->stats.requests;
			bytes = vdev->stats.bytes_in;
			used = vq->used_idx;
			vdev->ops->queue_notify(vdev, 0);
			reqs = vdev->stats.requests - reqs;
			bytes = vdev->stats.bytes_in - bytes;
			if (reqs > VIRTIO_RNG_MAX_REQS_PER_KICK ||
			    bytes > reqs * VIRTIO_RNG_MAX_REQ_BYTES)
				abort(); /* the per-kick and per-request bounds */
			/* Every request was returned, unless the device gave up on the queue. */
			if (!(vdev->status & VIRTIO_STATUS_NEEDS_RESET) &&
			    (uint16_t)(vq->used_idx - used) != reqs)
				abort();
		}
		pthread_mutex_unlock(&vdev->lock);
	}
}

static void fuzz_negotiate(struct virtio_dev *vdev, uint8_t sel, uint8_t qsize)
{
	uint64_t features;
	uint8_t status;

	features = fuzz_virtio_offered(vdev);
	if (sel & 1)
		features &= ~(1ull << VIRTIO_F_EVENT_IDX);
	if (sel & 2)
		features &= ~(1ull << VIRTIO_F_INDIRECT_DESC);
	status = fuzz_virtio_negotiate(vdev, features);
	pthread_mutex_lock(&vdev->lock);
	vdev->vqs[0].size = (uint16_t)(1u << (qsize % 7));
	vdev->vqs[0].desc_gpa = FUZZ_DESC;
	vdev->vqs[0].avail_gpa = FUZZ_AVAIL;
	vdev->vqs[0].used_gpa = FUZZ_USED;
	vdev->vqs[0].ready = true;
	pthread_mutex_unlock(&vdev->lock);
	/* DRIVER_OK kicks the ready queue: the first round. */
	virtio_status_write(vdev, status | VIRTIO_STATUS_DRIVER_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct virtio_dev *vdev;
	uint8_t sel;

	if (!ready) {
		fuzz_init();
		ready = true;
	}
	if (size < FUZZ_HDR)
		return 0;
	vdev = fuzz_dev;
	sel = data[0];
	memset(fuzz_ram, 0, sizeof(fuzz_ram));
	memcpy(fuzz_ram, data + FUZZ_HDR,
	       size - FUZZ_HDR < sizeof(fuzz_ram) ? size - FUZZ_HDR : sizeof(fuzz_ram));

	fuzz_negotiate(vdev, sel, data[1]);
	fuzz_run_kicks(vdev);
	if (sel & 4) {
		virtio_status_write(vdev, 0);
		fuzz_negotiate(vdev, sel, data[1]);
		fuzz_run_kicks(vdev);
	}
	for (unsigned r = 0; r < (data[2] & 3u); r++) {
		uint16_t idx;

		/* The driver posts more chains (re-using the ring's entries) and kicks. */
		memcpy(&idx, fuzz_ram + FUZZ_AVAIL + 2, sizeof(idx));
		idx = (uint16_t)(idx + data[3]);
		memcpy(fuzz_ram + FUZZ_AVAIL + 2, &idx, sizeof(idx));
		virtio_queue_kick(vdev, 0);
		fuzz_run_kicks(vdev);
	}
	virtio_status_write(vdev, 0);
	fuzz_run_kicks(vdev); /* drops the kicks left over: the device is reset */
	return 0;
}
