/* libFuzzer target: guest memory holding a virtqueue of virtio-blk requests, run on a temp image.
 */
#include "fuzz_virtio.h"
#include "backend/disk.h"
#include "log.h"
#include "virtio/blk.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Input: byte 0 picks the device (bit 0: thread pool instead of io_uring, bit 5: a read-only
 * disk) and drops features (bit 1 FLUSH, bit 2 EVENT_IDX, bit 3 INDIRECT_DESC, bit 4 DISCARD +
 * WRITE_ZEROES); byte 1 the
 * queue size (1 << (b % 9)). The rest is guest RAM from GPA 0: avail rings of queues 0 and 1 at
 * 0 and 0x400, the shared descriptor table at 0x800 (so small seeds reach it), used rings at
 * 0xe000 and 0xf000, the rest zeroes.
 */
#define FUZZ_MEM (64 * 1024)
#define FUZZ_IMAGE (64 * 1024) /* 128 sectors */
#define FUZZ_HDR 2

static uint8_t fuzz_ram[FUZZ_MEM] __attribute__((aligned(4096)));
static struct guest_mem fuzz_gm;
static struct virtio_dev *fuzz_dev[3];

static void fuzz_irq(void *opaque, unsigned q)
{
	(void)opaque;
	(void)q;
}

static void fuzz_cfg_irq(void *opaque)
{
	(void)opaque;
}

static const struct virtio_transport_ops fuzz_transport = { fuzz_irq, fuzz_cfg_irq };

static struct virtio_dev *fuzz_create(bool pool, bool ro)
{
	char path[] = "/tmp/kvmbox-fuzz-blk-XXXXXX";
	struct virtio_blk_config cfg = {
		.path = path, .readonly = ro, .serial = "fuzz", .nqueues = 2
	};
	struct virtio_dev *vdev = NULL;
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, FUZZ_IMAGE) < 0)
		abort();
	close(fd);
	if (pool)
		setenv("KVMBOX_DISK_NO_URING", "1", 1);
	else
		unsetenv("KVMBOX_DISK_NO_URING");
	cfg.name = ro ? "fuzz-blk-ro" : pool ? "fuzz-blk-pool" : "fuzz-blk-uring";
	if (virtio_blk_create(&vdev, &fuzz_gm, &cfg) < 0)
		abort();
	unlink(path); /* the open fd keeps it */
	vdev->transport_ops = &fuzz_transport;
	return vdev;
}

static void fuzz_init(void)
{
	log_set_level(LOG_ERROR);
	if (guest_mem_add(&fuzz_gm, 0, FUZZ_MEM, fuzz_ram) < 0)
		abort();
	fuzz_dev[0] = fuzz_create(false, false);
	fuzz_dev[1] = fuzz_create(true, false);
	fuzz_dev[2] = fuzz_create(false, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct virtio_dev *vdev;
	uint64_t features;
	uint8_t sel, status;

	if (!ready) {
		fuzz_init();
		ready = true;
	}
	if (size < FUZZ_HDR)
		return 0;
	sel = data[0];
	vdev = fuzz_dev[sel & 32 ? 2 : sel & 1];
	memset(fuzz_ram, 0, sizeof(fuzz_ram));
	memcpy(fuzz_ram, data + FUZZ_HDR,
	       size - FUZZ_HDR < sizeof(fuzz_ram) ? size - FUZZ_HDR : sizeof(fuzz_ram));

	features = fuzz_virtio_offered(vdev);
	if (sel & 2)
		features &= ~(1ull << VIRTIO_BLK_F_FLUSH);
	if (sel & 4)
		features &= ~(1ull << VIRTIO_F_EVENT_IDX);
	if (sel & 8)
		features &= ~(1ull << VIRTIO_F_INDIRECT_DESC);
	if (sel & 16)
		features &= ~((1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	status = fuzz_virtio_negotiate(vdev, features);
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 2; q++) {
		struct virtq *vq = &vdev->vqs[q];

		vq->size = (uint16_t)(1u << (data[1] % 9));
		vq->desc_gpa = 0x800;
		vq->avail_gpa = 0x400 * q;
		vq->used_gpa = 0xe000 + 0x1000 * q;
		vq->ready = true;
	}
	pthread_mutex_unlock(&vdev->lock);
	virtio_status_write(vdev, status | VIRTIO_STATUS_DRIVER_OK);

	/* Process both queues here (the I/O thread may beat us to it: either is fine), then let
	 * the I/O finish and its completions reach the rings before the reset. */
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 2; q++)
		if (!(vdev->status & VIRTIO_STATUS_NEEDS_RESET))
			vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
	for (;;) {
		unsigned n;

		pthread_mutex_lock(&vdev->lock);
		n = disk_inflight(virtio_blk_disk(vdev));
		pthread_mutex_unlock(&vdev->lock);
		if (!n)
			break;
		sched_yield();
	}
	virtio_status_write(vdev, 0);
	return 0;
}
