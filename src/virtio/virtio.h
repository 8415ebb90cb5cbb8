/* The virtio device interface: what device models (blk, net, ...) and transports (PCI, MMIO) share.
 */
#ifndef KVMBOX_VIRTIO_VIRTIO_H
#define KVMBOX_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "event_loop.h"
#include "guest_mem.h"
#include "virtio/virtq.h"

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_VSOCK 19

struct virtio_dev;
struct state_writer;
struct state_reader;

/* Implemented by each device model. Called with vdev->lock held unless noted. */
struct virtio_dev_ops {
	/* Device-specific config space; off + len <= config_size is checked by the core. */
	void (*config_read)(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len);
	void (*config_write)(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len);
	/* DRIVER_OK set: queues are configured; start work. Negative: the device enters
	 * NEEDS_RESET. */
	int (*activate)(struct virtio_dev *vdev);
	/* Driver reset (status 0) or teardown: drop in-flight work, forget queue state. */
	void (*reset)(struct virtio_dev *vdev);
	/* The driver made buffers available on queue q. Runs on the device's I/O thread. */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* Free the device (after the transport is gone). */
	void (*destroy)(struct virtio_dev *vdev);
	/* Optional. Pause: the I/O thread is parked; finish in-flight work (blk: wait for the
	 * backend and push the completions) so that nothing touches guest memory until resume. */
	void (*quiesce)(struct virtio_dev *vdev);
	/*
	 * Snapshot hooks for the device-specific state (config space contents the driver can
	 * change, device counters that matter to the driver); the virtio core saves the common
	 * state (features, status, queues) itself. Same contract as struct bus_ops's: load is
	 * all-or-nothing and -EINVAL on bytes this device cannot take. Every device model has
	 * both (tests/lint.sh checks).
	 */
	void (*save)(const struct virtio_dev *vdev, struct state_writer *w);
	int (*load)(struct virtio_dev *vdev, struct state_reader *r);
};

/* Implemented by each transport: how the device interrupts the driver. Any thread. */
struct virtio_transport_ops {
	void (*notify_queue)(void *transport, unsigned q);
	void (*notify_config)(void *transport);
};

/* Per-device counters for --stats and metrics; bumped with __atomic_fetch_add (relaxed), read
 * from any thread. */
struct virtio_dev_stats {
	uint64_t kicks;	     /* queue notifications handled */
	uint64_t requests;   /* requests / packets / buffers completed */
	uint64_t bytes_in;   /* bytes the device wrote to guest memory */
	uint64_t bytes_out;  /* bytes the device read from guest memory */
	uint64_t errors;     /* failed requests, malformed chains, dropped packets */
	uint64_t interrupts; /* used-buffer and config interrupts sent */
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const char *name; /* for logs: "virtio-blk0" */
	uint32_t device_id;
	uint64_t host_features;	  /* offered: device bits | VERSION_1 | INDIRECT_DESC | EVENT_IDX */
	uint64_t driver_features; /* accepted by the driver */
	uint32_t config_size;
	uint8_t status;
	uint8_t config_generation;
	unsigned nqueues;
	struct virtq *vqs;
	int *kick_fds; /* one eventfd per queue: the transport's notify register and KVM's
			  ioeventfd both end here; the device's I/O thread waits on them */
	const struct guest_mem *mem;
	struct event_loop *loop; /* the device's I/O thread; device models may add their own fds */
	pthread_mutex_t lock;	 /* register accesses (vCPU threads) vs queue work (I/O thread) */

	const struct virtio_transport_ops *transport_ops;
	void *transport;
	void *priv; /* the device model's own state */
	struct virtio_dev_stats stats;
};

/*
 * Common initialisation for device models: allocates nqueues queues of up to queue_max entries
 * and their kick eventfds, and starts the device's I/O thread (vdev->loop) waiting on them.
 * features are the device-specific bits; the core adds VERSION_1, INDIRECT_DESC and EVENT_IDX.
 */
int virtio_dev_init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, const char *name,
		    uint32_t device_id, uint64_t features, uint32_t config_size, unsigned nqueues,
		    uint16_t queue_max, const struct guest_mem *mem)
    __attribute__((warn_unused_result));
/* Stops the I/O thread first (no callback runs afterwards), then frees queues and eventfds.
 * A device model's destroy calls it before freeing its own state. Not from the I/O thread. */
void virtio_dev_cleanup(struct virtio_dev *vdev);

/*
 * Pause support (vCPUs already parked): park the I/O thread, then ops->quiesce under the lock.
 * Resume restarts the thread and re-kicks every queue of a live device, so work that arrived or
 * was deferred meanwhile is picked up.
 */
int virtio_dev_quiesce(struct virtio_dev *vdev) __attribute__((warn_unused_result));
void virtio_dev_resume(struct virtio_dev *vdev);

/*
 * Snapshot of the common state: section "VDEV" (device id, offered and accepted features,
 * status, config generation, each queue as virtq_save writes it), then the device model's own
 * section (ops->save). A device with chains popped and not pushed is refused (w fails with
 * -EBUSY): quiesce it first. Transports call it after their own section. Takes vdev->lock.
 */
void virtio_dev_save(struct virtio_dev *vdev, struct state_writer *w);
/*
 * Read what virtio_dev_save wrote into a device created the same way and in its reset state
 * (status 0, as created; else -EBUSY, nothing read). Accepted are only states the device can
 * reach through its registers: the offered features must equal this device's (a snapshot of a
 * device with other features is refused), FEATURES_OK needs a valid negotiation and DRIVER_OK
 * FEATURES_OK, queues pass virtq_load (msix_vectors: the transport's MSI-X table size, 0
 * without MSI-X). All-or-nothing with the device model's part: the common state is applied,
 * then ops->load runs (both under vdev->lock); if ops->load refuses, the common state is put
 * back. Returns 0 or -EINVAL (r says why).
 * The device is then as saved, but its I/O thread has not looked at the rings and no interrupt
 * was sent: once guest memory and every device are in place, the VM calls virtio_dev_resume,
 * which re-kicks each queue of a live device (the I/O threads should be parked meanwhile, with
 * virtio_dev_quiesce, so no host event reaches a half-restored VM).
 */
int virtio_dev_load(struct virtio_dev *vdev, struct state_reader *r, unsigned msix_vectors)
    __attribute__((warn_unused_result));

/* --- called by transports (vdev->lock taken inside) --- */
uint32_t virtio_features_read(struct virtio_dev *vdev, unsigned select); /* 32-bit half */
void virtio_features_write(struct virtio_dev *vdev, unsigned select, uint32_t value);
/* Status register write: FEATURES_OK validation, DRIVER_OK -> activate, 0 -> reset. */
void virtio_status_write(struct virtio_dev *vdev, uint8_t status);
uint8_t virtio_status_read(struct virtio_dev *vdev);
void virtio_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len);
void virtio_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len);
/* The driver wrote the notify register of queue q (when no ioeventfd caught it first). */
void virtio_queue_kick(struct virtio_dev *vdev, unsigned q);

/*
 * --- called by device models ---
 * With vdev->lock held (as inside ops->queue_notify), which also serialises them with the
 * queue's pops and pushes and with the transport's teardown. virtio_notify may run without the
 * lock only if the caller serialises it with the queue's pushes and outlives the transport.
 */
/* Used buffers were pushed on queue q: interrupt the driver if the ring asks for it. */
void virtio_notify(struct virtio_dev *vdev, unsigned q);
/* The driver broke the protocol (malformed ring...): set NEEDS_RESET, tell it, log once. */
void virtio_needs_reset(struct virtio_dev *vdev, const char *why);
/* The device config changed (e.g. link status): bump the generation, interrupt the driver. */
void virtio_config_changed(struct virtio_dev *vdev);

#endif
