/* virtio-mmio v2 transport (virtio 1.2 section 4.2): a register file in front of a virtio_dev. */
#ifndef KVMBOX_VIRTIO_MMIO_H
#define KVMBOX_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"
#include "virtio/virtio.h"

#define VIRTIO_MMIO_SIZE 0x200 /* registers 0x000-0x0ff, device config 0x100-0x1ff */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_INT_VRING 1
#define VIRTIO_MMIO_INT_CONFIG 2

struct virtio_mmio {
	struct virtio_dev *vdev;
	uint64_t base;
	struct irq_line irq;
	/* Selector registers: relaxed atomics, read by the same vCPU that wrote them. */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	/*
	 * A leaf lock for the interrupt state: notify_queue comes from the I/O thread while it
	 * holds vdev->lock, so the interrupt path must not take vdev->lock itself.
	 */
	pthread_mutex_t irq_lock;
	uint32_t interrupt_status; /* VIRTIO_MMIO_INT_* */
	bool irq_level;		   /* last level driven, so the line is only set on a change */
};

/*
 * Attach an MMIO transport to vdev (which has no transport yet). The VM registers
 * [base, base + VIRTIO_MMIO_SIZE) on the MMIO bus with virtio_mmio_bus_ops and *out as dev. The
 * level-triggered irq is asserted while InterruptStatus is non-zero.
 */
int virtio_mmio_create(struct virtio_mmio **out, struct virtio_dev *vdev, uint64_t base,
		       const struct irq_line *irq) __attribute__((warn_unused_result));
/* Detach from the device (interrupts are dropped afterwards) and free. */
void virtio_mmio_destroy(struct virtio_mmio *m);

/*
 * Any offset and width: registers take aligned 32-bit accesses, config space 1/2/4/8 bytes.
 * save/load: section "VMMI" (selectors, InterruptStatus), then virtio_dev_save's sections.
 */
extern const struct bus_ops virtio_mmio_bus_ops;

/* Guest-physical address of QueueNotify: a KVM ioeventfd there (datamatch = queue index,
 * len 4) on vdev->kick_fds[q] spares the vCPU an exit to userspace per kick. */
uint64_t virtio_mmio_notify_addr(const struct virtio_mmio *m);

#endif
