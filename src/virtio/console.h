/* virtio-console (device id 3): one port (hvc0) between the guest and host fds or a feeder. */
#ifndef KVMBOX_VIRTIO_CONSOLE_H
#define KVMBOX_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define VIRTIO_CONSOLE_QUEUE_RX 0 /* receiveq: host -> guest */
#define VIRTIO_CONSOLE_QUEUE_TX 1 /* transmitq: guest -> host */
#define VIRTIO_CONSOLE_QUEUE_SIZE 128

/* Config space: cols, rows, max_nr_ports (unused: no SIZE/MULTIPORT), emerg_wr (EMERG_WRITE). */
struct virtio_console_dev_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

/*
 * Create the device. The fds stay the caller's (never closed, flags untouched):
 * - in_fd >= 0: the device's I/O thread reads it whenever it is readable and the guest has
 *   posted receive buffers (one read per wakeup, so a blocking fd is fine); it stops watching
 *   while there are no buffers, and for good at end of file.
 * - in_fd < 0: input comes only from virtio_console_input (e.g. the main console loop feeding
 *   stdin after handling its own escape keys).
 * - out_fd: what the guest writes to hvc0 (and emergency writes); < 0 discards it.
 * Destroy with vdev->ops->destroy(vdev).
 */
int virtio_console_create(struct virtio_dev **out, const struct guest_mem *gm, int in_fd,
			  int out_fd, const char *name) __attribute__((warn_unused_result));

/*
 * Host input from any thread (either mode). Returns the bytes placed in the guest's receive
 * buffers: fewer than len when it has none (or the driver is not ready); the rest is the caller's
 * to keep and offer again once the ready callback fires.
 */
size_t virtio_console_input(struct virtio_dev *vdev, const uint8_t *buf, size_t len);

/*
 * After virtio_console_input accepted less than it was offered, ready(opaque) is called once the
 * driver posts receive buffers. It runs on the device's I/O thread with the device lock held:
 * it should only wake the feeder (e.g. an eventfd write), never call virtio_console_input.
 */
void virtio_console_set_input_ready(struct virtio_dev *vdev, void (*ready)(void *opaque),
				    void *opaque);

#endif
