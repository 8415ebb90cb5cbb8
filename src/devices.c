/* Creates the configured virtio devices on PCI or MMIO, and wires them to KVM (ioeventfd, irqfd).
 */
#include "devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "irq_routing.h"
#include "log.h"
#include "pci/pci.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/mmio_cmdline.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "vm.h"

#define DEVICES_MAX 24
#define DEVICES_MAX_MMIO 16

/*
 * IOAPIC pins for virtio-mmio devices, one each (no sharing): 20-23, then the ISA lines no
 * platform device uses (the MP table marks them level-triggered, as the devices drive them).
 * With no PCI device (pci=off guests) the PCI INTx pins 16-19 come last: a pci=off acpi=off
 * Linux 6.1 guest with a virtio-mmio device on pin 16 hung early in boot here (before the
 * clocksource switch; not understood yet), while the same device on pin 5 boots.
 */
static const unsigned devices_mmio_gsis[] = { 20, 21, 22, 23, 5, 6, 7, 10, 11, 14, 15 };
static const unsigned devices_mmio_gsis_nopci[] = { 20, 21, 22, 23, 5,	6,  7, 10,
						    11, 14, 15, 16, 17, 18, 19 };

struct devices_entry {
	struct virtio_dev *vdev;
	struct virtio_pci *pci;
	struct virtio_mmio *mmio;
	struct irq_msi *msi;
	uint64_t mmio_base;
	unsigned mmio_gsi;
	char name[32];
};

struct devices {
	struct irq_routing routing;
	int routing_ready;
	struct pci_bus pci;
	int pci_ready;
	struct devices_entry dev[DEVICES_MAX];
	unsigned ndev;
	unsigned nmmio;
	struct virtio_dev *console; /* hvc0 when --console virtio */
};

/* Put vdev on its transport and let KVM deliver its notifications straight to the I/O thread. */
static int devices_attach(struct vm *vm, struct devices *d, struct virtio_dev *vdev,
			  enum config_transport transport)
{
	struct devices_entry *e = &d->dev[d->ndev];
	int ret;

	e->vdev = vdev;
	d->ndev++; /* owned from here on: devices_destroy frees it, whatever happens next */
	if (vm->cfg->mmio_cmdline)
		transport = CONFIG_TRANSPORT_MMIO; /* booted the Firecracker way: pci=off */
	if (transport == CONFIG_TRANSPORT_MMIO) {
		const unsigned *gsis =
		    vm->cfg->mmio_cmdline ? devices_mmio_gsis_nopci : devices_mmio_gsis;
		unsigned ngsis = vm->cfg->mmio_cmdline
				     ? sizeof(devices_mmio_gsis_nopci) / sizeof(unsigned)
				     : sizeof(devices_mmio_gsis) / sizeof(unsigned);
		struct irq_line irq = { vm_irq_line, vm, 0 };

		if (d->nmmio >= ngsis || d->nmmio >= DEVICES_MAX_MMIO) {
			log_error("at most %u virtio-mmio devices", ngsis);
			return -E2BIG;
		}
		irq.gsi = gsis[d->nmmio];
		e->mmio_base = LAYOUT_VIRTIO_MMIO + d->nmmio * LAYOUT_VIRTIO_MMIO_STRIDE;
		e->mmio_gsi = irq.gsi;
		d->nmmio++;
		ret = virtio_mmio_create(&e->mmio, vdev, e->mmio_base, &irq);
		if (ret)
			return ret;
		ret = bus_add(&vm->mmio, e->mmio_base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops,
			      e->mmio, vdev->name);
		for (unsigned q = 0; !ret && !vm->cfg->no_ioeventfd && q < vdev->nqueues; q++)
			ret = irq_ioeventfd_add(vm->fd, virtio_mmio_notify_addr(e->mmio), 4, false,
						true, q, vdev->kick_fds[q]);
	} else {
		struct msi_sink sink;

		ret = irq_msi_create(&e->msi, &d->routing, vdev->nqueues + 1,
				     !vm->cfg->no_ioeventfd, &sink);
		if (ret)
			return ret;
		ret = virtio_pci_create(&e->pci, vdev, &d->pci, &sink);
		/* Linux writes the 16-bit queue index; each queue has its own address. */
		for (unsigned q = 0; !ret && !vm->cfg->no_ioeventfd && q < vdev->nqueues; q++)
			ret = irq_ioeventfd_add(vm->fd, virtio_pci_notify_addr(e->pci, q), 2, false,
						false, 0, vdev->kick_fds[q]);
	}
	if (ret)
		log_error("%s: attaching to its transport failed: %s", vdev->name, strerror(-ret));
	return ret;
}

static int devices_add_all(struct vm *vm, struct devices *d)
{
	const struct vm_config *cfg = vm->cfg;
	struct virtio_dev *vdev;
	int ret;

	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct config_disk *c = &cfg->disks[i];
		char *name = d->dev[d->ndev].name;
		struct virtio_blk_config bc = {
			.path = c->path,
			.readonly = c->readonly,
			.serial = c->serial,
			.nqueues = vm->ncpus < 4 ? vm->ncpus : 4,
			.name = name,
		};

		snprintf(name, sizeof(d->dev[0].name), "virtio-blk%u", i);
		ret = virtio_blk_create(&vdev, &vm->mem, &bc);
		if (!ret)
			ret = devices_attach(vm, d, vdev, c->transport);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < cfg->nnics; i++) {
		const struct config_net *c = &cfg->nics[i];
		char *name = d->dev[d->ndev].name;
		struct virtio_net_config nc = { .tap_name = c->tap,
						.has_mac = c->has_mac,
						.name = name };

		memcpy(nc.mac, c->mac, 6);
		snprintf(name, sizeof(d->dev[0].name), "virtio-net%u", i);
		ret = virtio_net_create(&vdev, &vm->mem, &nc);
		if (!ret)
			ret = devices_attach(vm, d, vdev, c->transport);
		if (ret)
			return ret;
	}
	if (cfg->rng) {
		ret = virtio_rng_create(&vdev, &vm->mem, "virtio-rng0");
		if (!ret)
			ret = devices_attach(vm, d, vdev, CONFIG_TRANSPORT_PCI);
		if (ret)
			return ret;
	}
	if (cfg->vsock.enabled) {
		ret = virtio_vsock_create(&vdev, &vm->mem, cfg->vsock.guest_cid,
					  cfg->vsock.uds_path, "virtio-vsock0");
		if (!ret)
			ret = devices_attach(vm, d, vdev, CONFIG_TRANSPORT_PCI);
		if (ret)
			return ret;
	}
	if (cfg->virtio_console) {
		/* Input is fed by the console loop (Ctrl-A handling stays there); output to stdout.
		 */
		ret = virtio_console_create(&vdev, &vm->mem, -1, STDOUT_FILENO, "virtio-console0");
		if (!ret) {
			d->console = vdev;
			ret = devices_attach(vm, d, vdev, CONFIG_TRANSPORT_PCI);
		}
		if (ret)
			return ret;
	}
	return 0;
}

int devices_create(struct vm *vm)
{
	struct devices *d = calloc(1, sizeof(*d));
	struct irq_line intx[4];
	int ret;

	if (!d)
		return -ENOMEM;
	vm->devices = d;
	ret = irq_routing_init(&d->routing, vm->fd);
	if (ret)
		return ret;
	d->routing_ready = 1;
	for (unsigned i = 0; i < 4; i++)
		intx[i] = (struct irq_line){ vm_irq_line, vm, LAYOUT_GSI_PCI_INTX + i };
	ret = pci_bus_init(&d->pci, &vm->pio, &vm->mmio, LAYOUT_PCI_ECAM, LAYOUT_PCI_MMIO,
			   LAYOUT_PCI_MMIO_SIZE, intx);
	if (ret) {
		log_error("creating the PCI bus failed: %s", strerror(-ret));
		return ret;
	}
	d->pci_ready = 1;
	return devices_add_all(vm, d);
}

void devices_acpi(struct vm *vm, struct acpi_config *acpi)
{
	struct devices *d = vm->devices;

	acpi->pci.present = true;
	acpi->pci.ecam_base = LAYOUT_PCI_ECAM;
	acpi->pci.mmio_base = LAYOUT_PCI_MMIO;
	acpi->pci.mmio_size = LAYOUT_PCI_MMIO_SIZE;
	acpi->pci.io_base = 0xc000;
	acpi->pci.io_size = 0x4000;
	for (unsigned i = 0; i < 4; i++)
		acpi->pci.intx_gsi[i] = LAYOUT_GSI_PCI_INTX + i;
	acpi->nvirtio_mmio = 0;
	/* Announced on the command line instead: described twice, Linux would probe them twice. */
	for (unsigned i = 0; i < d->ndev && !vm->cfg->mmio_cmdline; i++) {
		if (!d->dev[i].mmio)
			continue;
		acpi->virtio_mmio[acpi->nvirtio_mmio].base = d->dev[i].mmio_base;
		acpi->virtio_mmio[acpi->nvirtio_mmio].size = VIRTIO_MMIO_SIZE;
		acpi->virtio_mmio[acpi->nvirtio_mmio].gsi = d->dev[i].mmio_gsi;
		acpi->nvirtio_mmio++;
	}
}

size_t devices_console_input(struct vm *vm, const uint8_t *buf, size_t len)
{
	struct devices *d = vm->devices;

	return d && d->console ? virtio_console_input(d->console, buf, len) : 0;
}

int devices_has_virtio_console(const struct vm *vm)
{
	const struct devices *d = vm->devices;

	return d && d->console;
}

int devices_mmio_list(const struct vm *vm, struct mmio_cmdline_dev *out, unsigned max)
{
	const struct devices *d = vm->devices;
	unsigned n = 0;

	for (unsigned i = 0; d && i < d->ndev && n < max; i++) {
		if (!d->dev[i].mmio)
			continue;
		out[n].base = d->dev[i].mmio_base;
		out[n].size = VIRTIO_MMIO_SIZE;
		out[n].gsi = d->dev[i].mmio_gsi;
		n++;
	}
	return (int)n;
}

int devices_update_disk(struct vm *vm, unsigned index, const char *path)
{
	struct devices *d = vm->devices;
	char name[32];

	snprintf(name, sizeof(name), "virtio-blk%u", index);
	for (unsigned i = 0; d && i < d->ndev; i++)
		if (!strcmp(d->dev[i].name, name))
			return virtio_blk_set_backing(d->dev[i].vdev, path);
	return -ENOENT;
}

int devices_quiesce(struct vm *vm)
{
	struct devices *d = vm->devices;
	int ret = 0;
	unsigned i;

	for (i = 0; d && i < d->ndev && !ret; i++)
		ret = virtio_dev_quiesce(d->dev[i].vdev);
	if (ret) {
		log_error("pausing %s failed: %s", d->dev[i - 1].name, strerror(-ret));
		while (--i > 0)
			virtio_dev_resume(d->dev[i - 1].vdev);
	}
	return ret;
}

void devices_resume(struct vm *vm)
{
	struct devices *d = vm->devices;

	for (unsigned i = 0; d && i < d->ndev; i++)
		virtio_dev_resume(d->dev[i].vdev);
}

void devices_destroy(struct vm *vm)
{
	struct devices *d = vm->devices;

	if (!d)
		return;
	/* Transports first (no more guest register traffic), then the devices and their threads. */
	for (unsigned i = 0; i < d->ndev; i++) {
		struct devices_entry *e = &d->dev[i];

		if (e->pci)
			virtio_pci_destroy(e->pci);
		if (e->mmio)
			virtio_mmio_destroy(e->mmio);
		if (e->vdev)
			e->vdev->ops->destroy(e->vdev);
		irq_msi_destroy(e->msi);
	}
	if (d->pci_ready)
		pci_bus_cleanup(&d->pci);
	if (d->routing_ready)
		irq_routing_cleanup(&d->routing);
	free(d);
	vm->devices = NULL;
}

unsigned devices_count(const struct vm *vm)
{
	const struct devices *d = vm->devices;

	return d ? d->ndev : 0;
}

struct virtio_dev *devices_get(const struct vm *vm, unsigned i)
{
	const struct devices *d = vm->devices;

	return d && i < d->ndev ? d->dev[i].vdev : NULL;
}
