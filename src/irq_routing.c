/* KVM GSI routing (irqchip pins + MSI routes), irqfds for MSI-X vectors, and ioeventfds. */
#include "irq_routing.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

#define IRQ_ROUTING_IOAPIC_PINS 24
#define IRQ_ROUTING_PIC_PINS 16

static struct kvm_irq_routing *irq_routing_table(struct irq_routing *r)
{
	return r->table;
}

static void irq_routing_add_irqchip(struct kvm_irq_routing *t, unsigned gsi, unsigned chip,
				    unsigned pin)
{
	struct kvm_irq_routing_entry *e = &t->entries[t->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

int irq_routing_init(struct irq_routing *r, int vm_fd)
{
	struct kvm_irq_routing *t;

	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	t = calloc(1, sizeof(*t) + IRQ_ROUTING_MAX * sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	r->table = t;
	pthread_mutex_init(&r->lock, NULL);
	/*
	 * KVM_SET_GSI_ROUTING replaces the whole table, so it must repeat what
	 * KVM_CREATE_IRQCHIP set up: GSI 0-15 on both PICs and the IOAPIC, 16-23 on the IOAPIC,
	 * and GSI 0 (the PIT) on IOAPIC pin 2, as the MADT's interrupt source override says.
	 */
	for (unsigned gsi = 0; gsi < IRQ_ROUTING_PIC_PINS; gsi++) {
		if (gsi == 2)
			continue; /* the slave PIC's cascade */
		irq_routing_add_irqchip(
		    t, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
	}
	for (unsigned gsi = 0; gsi < IRQ_ROUTING_IOAPIC_PINS; gsi++)
		irq_routing_add_irqchip(t, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
	r->nentries = t->nr;
	r->next_gsi = IRQ_ROUTING_IOAPIC_PINS;
	/*
	 * Committed with the first MSI route, not here: with this table in force from the start,
	 * the PIT on IOAPIC pin 2, 2- and 4-vCPU Linux boots on kvm_pvm stalled right before their
	 * clocksource switch (seen 2026-12-03; KVM's default routing had passed CI for weeks).
	 */
	return 0;
}

void irq_routing_cleanup(struct irq_routing *r)
{
	free(r->table);
	r->table = NULL;
	pthread_mutex_destroy(&r->lock);
}

static int irq_routing_commit(struct irq_routing *r)
{
	struct kvm_irq_routing *t = irq_routing_table(r);

	t->nr = r->nentries;
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
		return -errno;
	return 0;
}

static struct kvm_irq_routing_entry *irq_routing_find(struct irq_routing *r, unsigned gsi)
{
	struct kvm_irq_routing *t = irq_routing_table(r);

	for (unsigned i = 0; i < r->nentries; i++)
		if (t->entries[i].gsi == gsi && t->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &t->entries[i];
	return NULL;
}

static void irq_msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	struct irq_msi *m = opaque;
	struct kvm_irq_routing_entry *e;
	int ret;

	if (vec >= m->nvec)
		return;
	pthread_mutex_lock(&m->r->lock);
	if (!masked) {
		m->addr[vec] = addr;
		m->data[vec] = data;
	}
	e = irq_routing_find(m->r, m->gsi[vec]);
	if (e) {
		/* A masked vector keeps its old route; msix does not signal it anyway. */
		if (!masked) {
			e->u.msi.address_lo = (uint32_t)addr;
			e->u.msi.address_hi = (uint32_t)(addr >> 32);
			e->u.msi.data = data;
		}
		ret = irq_routing_commit(m->r);
		if (ret)
			log_guest("KVM_SET_GSI_ROUTING failed: %s", strerror(-ret));
	}
	pthread_mutex_unlock(&m->r->lock);
}

static void irq_msi_signal(void *opaque, unsigned vec)
{
	struct irq_msi *m = opaque;
	uint64_t one = 1;

	if (vec >= m->nvec)
		return;
	if (!m->use_irqfd) {
		struct kvm_msi msi = { .address_lo = (uint32_t)m->addr[vec],
				       .address_hi = (uint32_t)(m->addr[vec] >> 32),
				       .data = m->data[vec] };

		if (ioctl(m->r->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
			log_guest("KVM_SIGNAL_MSI failed: %s", strerror(errno));
		return;
	}
	if (write(m->fd[vec], &one, sizeof(one)) < 0)
		log_guest("irqfd write failed: %s", strerror(errno));
}

int irq_msi_create(struct irq_msi **out, struct irq_routing *r, unsigned nvec, bool use_irqfd,
		   struct msi_sink *sink)
{
	struct irq_msi *m;
	int ret = 0;

	if (nvec > MSIX_MAX_VECTORS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->r = r;
	m->use_irqfd = use_irqfd;
	for (unsigned i = 0; i < MSIX_MAX_VECTORS; i++)
		m->fd[i] = -1;
	pthread_mutex_lock(&r->lock);
	if (r->nentries + nvec > IRQ_ROUTING_MAX)
		ret = -ENOSPC;
	for (unsigned i = 0; !ret && i < nvec; i++) {
		struct kvm_irq_routing_entry *e = &irq_routing_table(r)->entries[r->nentries];
		struct kvm_irqfd irqfd;

		m->fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->fd[i] < 0) {
			ret = -errno;
			break;
		}
		m->gsi[i] = r->next_gsi++;
		memset(e, 0, sizeof(*e));
		e->gsi = m->gsi[i];
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = 0xfee00000u; /* until the driver programs the vector */
		r->nentries++;
		m->nvec = i + 1;
		ret = irq_routing_commit(r);
		if (ret)
			break;
		memset(&irqfd, 0, sizeof(irqfd));
		irqfd.fd = (uint32_t)m->fd[i];
		irqfd.gsi = m->gsi[i];
		if (ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&r->lock);
	if (ret) {
		log_error("setting up %u MSI-X vectors failed: %s", nvec, strerror(-ret));
		irq_msi_destroy(m);
		return ret;
	}
	sink->update = irq_msi_update;
	sink->signal = irq_msi_signal;
	sink->opaque = m;
	*out = m;
	return 0;
}

void irq_msi_destroy(struct irq_msi *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < MSIX_MAX_VECTORS; i++) {
		if (m->fd[i] < 0)
			continue;
		if (i < m->nvec) {
			struct kvm_irqfd irqfd = { .fd = (uint32_t)m->fd[i],
						   .gsi = m->gsi[i],
						   .flags = KVM_IRQFD_FLAG_DEASSIGN };

			ioctl(m->r->vm_fd, KVM_IRQFD, &irqfd);
		}
		close(m->fd[i]);
	}
	free(m);
}

int irq_ioeventfd_add(int vm_fd, uint64_t addr, unsigned len, bool pio, bool datamatch,
		      uint64_t data, int fd)
{
	struct kvm_ioeventfd io = {
		.datamatch = data,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0u) |
			 (datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0u),
	};

	if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}
