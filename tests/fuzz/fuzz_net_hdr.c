/* libFuzzer target: virtio-net TX on fuzzed guest memory (rings, vnet headers, features). */
#include "log.h"
#include "virtio/net.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Input: PARAMS bytes of parameters, then guest RAM from RAM_GPA. RAM is a malloc'd buffer of
 * exactly its size, so ASan reports any host access outside it. The rings sit at fixed places
 * unless the parameters move them (misaligned, outside RAM...).
 */
#define RAM_GPA 0x1000ull
#define RAM_SIZE 0x10000ull
#define DESC_GPA 0x1000ull  /* up to 128 entries: 2 KiB */
#define AVAIL_GPA 0x1800ull /* 6 + 2 * 128 bytes */
#define USED_GPA 0x2000ull  /* queue q at + 0x800 * q: 6 + 8 * 128 bytes each */
#define PARAMS 12

static struct guest_mem gm;
static uint8_t *ram;
static struct virtio_dev *vdev;
static int host_fd = -1;
static uint8_t pkt[RAM_SIZE + 64];

static void fuzz_notify_queue(void *t, unsigned q)
{
	(void)t, (void)q;
}

static void fuzz_notify_config(void *t)
{
	(void)t;
}

static const struct virtio_transport_ops fuzz_tops = {
	.notify_queue = fuzz_notify_queue,
	.notify_config = fuzz_notify_config,
};

/* One device for the whole run: creating one starts an I/O thread. */
static void fuzz_init(void)
{
	struct virtio_net_config cfg = { .tap_name = "fuzz",
					 .has_mac = true,
					 .mac = { 2, 0, 0, 0, 0, 1 },
					 .name = "vnet-fuzz" };
	int sv[2], big = 4 << 20;

	ram = malloc(RAM_SIZE);
	if (!ram || guest_mem_add(&gm, RAM_GPA, RAM_SIZE, ram) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (virtio_net_create_fd(&vdev, &gm, &cfg, sv[1], false))
		abort();
	vdev->transport_ops = &fuzz_tops;
	host_fd = sv[0];
}

static uint64_t prev_features;

/* Whatever reached the "tap" must carry a header the checks allow under those features. */
static void fuzz_drain(uint64_t features)
{
	ssize_t r;

	while ((r = recv(host_fd, pkt, sizeof(pkt), MSG_DONTWAIT)) >= 0) {
		struct virtio_net_hdr_v1 h;

		if ((size_t)r < sizeof(h))
			abort();
		memcpy(&h, pkt, sizeof(h));
		if (h.num_buffers || virtio_net_hdr_check(&h, (uint64_t)r - sizeof(h), features))
			abort();
	}
}

static uint64_t fuzz_u16(const uint8_t *b)
{
	return (uint64_t)(b[0] | b[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t features;
	uint8_t s;

	log_set_level(LOG_ERROR);
	if (!vdev)
		fuzz_init();
	if (size < PARAMS)
		return 0;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + PARAMS, size - PARAMS < RAM_SIZE ? size - PARAMS : RAM_SIZE);
	/* Any subset of the offered features (VERSION_1 is required, or nothing happens). */
	features = (fuzz_u16(data) | fuzz_u16(data + 2) << 16 | 1ull << VIRTIO_F_VERSION_1 |
		    (uint64_t)(data[4] & 3) << VIRTIO_F_INDIRECT_DESC) &
		   vdev->host_features;

	/*
	 * Reset first: it serialises with the I/O thread, which may still have been sending for
	 * the previous input (DRIVER_OK kicks every ready queue on that thread too). Whatever it
	 * sent is checked against the features of the input it belonged to.
	 */
	virtio_status_write(vdev, 0);
	fuzz_drain(prev_features);
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_features_write(vdev, 0, (uint32_t)features);
	virtio_features_write(vdev, 1, (uint32_t)(features >> 32));
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK);
	pthread_mutex_lock(&vdev->lock);
	s = data[5];
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtq *vq = &vdev->vqs[q];

		/* Mostly a power of two up to 128 (under the per-wakeup budget, so the I/O thread
		 * is never asked to come back), sometimes anything. */
		vq->size = s & 0x80 ? (uint16_t)(s << 4 | data[6]) : (uint16_t)(1u << (s % 8));
		vq->desc_gpa = (data[7] & 1) ? fuzz_u16(data + 8) << 4 : DESC_GPA;
		vq->avail_gpa = (data[7] & 2) ? fuzz_u16(data + 10) : AVAIL_GPA;
		vq->used_gpa = (data[7] & 4) ? ~0ull - data[11] : USED_GPA + 0x800 * q;
		virtq_reset(vq);
		vq->ready = true;
	}
	pthread_mutex_unlock(&vdev->lock);
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);

	/* What the I/O thread does on a TX kick, on this thread: deterministic. */
	pthread_mutex_lock(&vdev->lock);
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) && !(vdev->status & VIRTIO_STATUS_NEEDS_RESET))
		vdev->ops->queue_notify(vdev, VIRTIO_NET_QUEUE_TX);
	pthread_mutex_unlock(&vdev->lock);

	fuzz_drain(features);
	prev_features = features;
	return 0;
}
