/* libFuzzer target: virtio-vsock packets on fuzzed rings, with real unix sockets on the host. */
#include "fuzz_virtio.h"
#include "log.h"
#include "virtio/vsock.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * Input: byte 0 flags (bit 0: drop EVENT_IDX, bit 1: drop INDIRECT_DESC, bit 2: the host
 * programs write the rest of the input into every stream the guest opened, then close; bit 3:
 * a transport reset before the device reset), byte 1 the queue size (1 << (b % 9)) of all three
 * queues. The rest is guest RAM from GPA 0 (64 KiB, the rest zeroes): avail rings of rx, tx and
 * event at 0x000, 0x400 and 0x600, the shared descriptor table at 0x800 (so small seeds reach
 * it), used rings at 0xd000, 0xe000 and 0xf000. The guest CID is 3; a host program listens on
 * port 1024 ("<uds>_1024"), nothing on the others.
 */
#define FUZZ_MEM (64 * 1024)
#define FUZZ_HDR 2
#define FUZZ_PORT 1024

static uint8_t fuzz_ram[FUZZ_MEM] __attribute__((aligned(4096)));
static struct guest_mem fuzz_gm;
static struct virtio_dev *fuzz_dev;
static int fuzz_lfd = -1;
static char fuzz_dir[64];

static void fuzz_irq(void *opaque, unsigned q)
{
	(void)opaque, (void)q;
}

static void fuzz_cfg_irq(void *opaque)
{
	(void)opaque;
}

static const struct virtio_transport_ops fuzz_transport = { fuzz_irq, fuzz_cfg_irq };

static void fuzz_cleanup(void)
{
	char p[128];

	if (fuzz_dev)
		fuzz_dev->ops->destroy(fuzz_dev);
	snprintf(p, sizeof(p), "%s/v.sock_%u", fuzz_dir, FUZZ_PORT);
	unlink(p);
	rmdir(fuzz_dir);
}

static void fuzz_init(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char uds[80];

	log_set_level(LOG_ERROR);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/kvmbox-fuzz-vsock-XXXXXX");
	if (!mkdtemp(fuzz_dir) || guest_mem_add(&fuzz_gm, 0, FUZZ_MEM, fuzz_ram) < 0)
		abort();
	snprintf(uds, sizeof(uds), "%s/v.sock", fuzz_dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, FUZZ_PORT);
	fuzz_lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fuzz_lfd < 0 || bind(fuzz_lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fuzz_lfd, 512) < 0)
		abort();
	if (virtio_vsock_create(&fuzz_dev, &fuzz_gm, 3, uds, "fuzz-vsock") < 0)
		abort();
	fuzz_dev->transport_ops = &fuzz_transport;
	atexit(fuzz_cleanup);
}

/* The host programs' side of the streams the guest opened: answer, or just close. */
static void fuzz_host(const uint8_t *data, size_t len, bool talk)
{
	int fd;

	while ((fd = accept4(fuzz_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (talk && len && send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			(void)errno;
		close(fd);
	}
}

static void fuzz_run_queues(struct virtio_dev *vdev)
{
	/* Here too (the I/O thread may beat us to it: either is fine). */
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 3; q++)
		if (!(vdev->status & VIRTIO_STATUS_NEEDS_RESET) &&
		    (vdev->status & VIRTIO_STATUS_DRIVER_OK))
			vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
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
	vdev = fuzz_dev;
	sel = data[0];
	memset(fuzz_ram, 0, sizeof(fuzz_ram));
	memcpy(fuzz_ram, data + FUZZ_HDR,
	       size - FUZZ_HDR < sizeof(fuzz_ram) ? size - FUZZ_HDR : sizeof(fuzz_ram));

	features = fuzz_virtio_offered(vdev);
	if (sel & 1)
		features &= ~(1ull << VIRTIO_F_EVENT_IDX);
	if (sel & 2)
		features &= ~(1ull << VIRTIO_F_INDIRECT_DESC);
	status = fuzz_virtio_negotiate(vdev, features);
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 3; q++) {
		struct virtq *vq = &vdev->vqs[q];

		vq->size = (uint16_t)(1u << (data[1] % 9));
		vq->desc_gpa = 0x800;
		vq->avail_gpa = q == 0 ? 0 : q == 1 ? 0x400 : 0x600;
		vq->used_gpa = 0xd000 + 0x1000 * q;
		vq->ready = true;
	}
	pthread_mutex_unlock(&vdev->lock);
	virtio_status_write(vdev, status | VIRTIO_STATUS_DRIVER_OK);

	fuzz_run_queues(vdev);
	if (sel & 4) {
		fuzz_host(data + FUZZ_HDR, size - FUZZ_HDR < 256 ? size - FUZZ_HDR : 256, true);
		/* Give the I/O thread a moment to move what the host sent into the rx ring. */
		for (int i = 0; i < 8; i++)
			sched_yield();
		fuzz_run_queues(vdev);
	}
	if ((sel & 8) && virtio_vsock_transport_reset(vdev) < 0)
		(void)errno;
	virtio_status_write(vdev, 0);
	fuzz_host(NULL, 0, false);
	return 0;
}
