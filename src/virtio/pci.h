/* virtio-pci modern transport (virtio 1.2 section 4.1): a PCI function with one memory BAR. */
#ifndef KVMBOX_VIRTIO_PCI_H
#define KVMBOX_VIRTIO_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + virtio device ID: a modern-only device */
#define VIRTIO_PCI_SUBSYS_ID 0x1100   /* >= 0x40 for non-transitional devices (4.1.2.1) */
#define VIRTIO_PCI_NO_VECTOR 0xffff   /* VIRTIO_MSI_NO_VECTOR: no interrupt for this source */

/* The BAR every structure lives in, and where (what the vendor capabilities point at). */
#define VIRTIO_PCI_BAR 4
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x38 /* up to queue_device; no notify_data or queue_reset */
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_DEVICE_MAX 0x1000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4 /* queue q's doorbell: NOTIFY_OFF + 4 * q */
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x3800
#define VIRTIO_PCI_MSIX_PBA_OFF 0x3c00
#define VIRTIO_PCI_MAX_QUEUES                                                                      \
	((VIRTIO_PCI_MSIX_TABLE_OFF - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULTIPLIER)

/* Vendor capability cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* Common configuration structure offsets. */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00
#define VIRTIO_PCI_COMMON_DF 0x04
#define VIRTIO_PCI_COMMON_GFSELECT 0x08
#define VIRTIO_PCI_COMMON_GF 0x0c
#define VIRTIO_PCI_COMMON_MSIX 0x10
#define VIRTIO_PCI_COMMON_NUMQ 0x12
#define VIRTIO_PCI_COMMON_STATUS 0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO 0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI 0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO 0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI 0x34

#define VIRTIO_PCI_ISR_QUEUE 0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

struct virtio_pci {
	struct pci_dev pci;
	struct msix msix;
	struct virtio_dev *vdev;
	uint8_t pci_cfg_cap; /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
	/* Selectors and the config vector: relaxed atomics, as each is one register. */
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t queue_select;
	uint16_t config_msix_vector;
	/*
	 * A leaf lock for ISR and the INTx level: notify_queue comes from the I/O thread holding
	 * vdev->lock, so the interrupt path never takes vdev->lock.
	 */
	pthread_mutex_t irq_lock;
	uint8_t isr;
};

/*
 * Build the PCI function for vdev (which has no transport yet), attach as its transport and
 * put it on bus (pci_bus_add: slot, BAR placement, INTA#). MSI-X vectors (one per queue plus
 * one for config changes, at most MSIX_MAX_VECTORS) are delivered through sink.
 */
int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vdev, struct pci_bus *bus,
		      const struct msi_sink *sink) __attribute__((warn_unused_result));
/*
 * Guest-physical address of queue q's doorbell, for a KVM ioeventfd on vdev->kick_fds[q]
 * (2-byte writes, no datamatch: the address names the queue). 0 if q does not exist.
 */
uint64_t virtio_pci_notify_addr(const struct virtio_pci *p, unsigned q);
/*
 * Detach from the device (interrupts are dropped afterwards) and free. The bus keeps no way
 * to remove a function: call this at VM teardown, after the vCPUs are stopped.
 */
void virtio_pci_destroy(struct virtio_pci *p);

/*
 * The BAR's register file (any offset and width); exposed for tests and fuzzing. Its save/load
 * (reached through the BAR's range on the bus) carry the whole function: section "VPCI" (config
 * space, MSI-X table and PBA, common cfg selectors, config vector, ISR), then virtio_dev_save's
 * sections. A load re-derives INTx and, through the msi_sink, every MSI-X route.
 */
extern const struct bus_ops virtio_pci_bar_ops;

#endif
