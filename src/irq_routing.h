/* KVM interrupt plumbing for devices: the GSI routing table, MSI routes with irqfds, ioeventfds. */
#ifndef KVMBOX_IRQ_ROUTING_H
#define KVMBOX_IRQ_ROUTING_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/msix.h"

#define IRQ_ROUTING_MAX 1024

struct irq_routing {
	int vm_fd;
	pthread_mutex_t lock;
	unsigned nentries;
	unsigned next_gsi;
	void *table; /* struct kvm_irq_routing with IRQ_ROUTING_MAX entries */
};

/* The in-kernel irqchip's default routes (PIC + IOAPIC pins), ready for MSI routes. */
int irq_routing_init(struct irq_routing *r, int vm_fd) __attribute__((warn_unused_result));
void irq_routing_cleanup(struct irq_routing *r);

/*
 * An MSI-X function's vectors as KVM routes: each vector gets a GSI and an irqfd, so a device's
 * I/O thread interrupts the guest with one eventfd write. The msi_sink it fills in is what the
 * device model holds.
 */
struct irq_msi {
	struct irq_routing *r;
	unsigned nvec;
	unsigned gsi[MSIX_MAX_VECTORS];
	int fd[MSIX_MAX_VECTORS];
	bool use_irqfd; /* false: KVM_SIGNAL_MSI per interrupt (for comparison in bench/) */
	uint64_t addr[MSIX_MAX_VECTORS];
	uint32_t data[MSIX_MAX_VECTORS];
};

int irq_msi_create(struct irq_msi **out, struct irq_routing *r, unsigned nvec, bool use_irqfd,
		   struct msi_sink *sink) __attribute__((warn_unused_result));
void irq_msi_destroy(struct irq_msi *m);

/* Register a KVM ioeventfd: a guest write of len bytes at addr (datamatch if set) signals fd. */
int irq_ioeventfd_add(int vm_fd, uint64_t addr, unsigned len, bool pio, bool datamatch,
		      uint64_t data, int fd) __attribute__((warn_unused_result));

#endif
