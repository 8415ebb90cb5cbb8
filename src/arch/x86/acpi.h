/* ACPI tables for x86 guests: RSDP, XSDT, FADT, FACS, MADT, MCFG and DSDT, built into guest RAM. */
#ifndef KVMBOX_X86_ACPI_H
#define KVMBOX_X86_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"

#define ACPI_MAX_CPUS 255 /* xAPIC IDs 0-254; 255 is the broadcast ID */
#define ACPI_MAX_VIRTIO_MMIO 32
#define ACPI_PCI_ECAM_SIZE 0x100000ull /* bus 0 only */

/*
 * PCI segment 0, bus 0 (pci/pci.h): an MCFG table, the host bridge \_SB.PCI0 with its windows
 * and a _PRT giving each slot's INTA#-INTD# (swizzled as pci_bus_intx_pin_index does) as GSIs,
 * and a motherboard resource reserving the ECAM area, without which Linux ignores the MCFG.
 */
struct acpi_pci {
	bool present;
	uint64_t ecam_base;	       /* 1 MiB aligned, below 4 GiB */
	uint64_t mmio_base, mmio_size; /* 32-bit BAR window */
	uint32_t io_base, io_size;     /* I/O BAR window, e.g. 0xc000 + 0x4000 */
	uint32_t intx_gsi[4];	       /* GSIs of pci_bus.intx[0..3] */
};

/* A virtio-mmio device, described as ACPI device LNRO0005 (Linux's virtio_mmio binds to it). */
struct acpi_virtio_mmio {
	uint64_t base, size; /* below 4 GiB */
	uint32_t gsi;	     /* level-triggered, active high */
};

struct acpi_config {
	unsigned ncpus; /* 1..ACPI_MAX_CPUS; vCPU i has APIC ID i */
	struct acpi_pci pci;
	unsigned nvirtio_mmio; /* 0..ACPI_MAX_VIRTIO_MMIO */
	struct acpi_virtio_mmio virtio_mmio[ACPI_MAX_VIRTIO_MMIO];
};

/*
 * Write all tables into [LAYOUT_ACPI, +LAYOUT_ACPI_SIZE), RSDP first so that a guest scanning
 * 0xE0000-0xFFFFF finds it too, and return the RSDP's address for boot protocols that pass it.
 * -EINVAL for a bad config, -EFAULT if the area is not guest RAM, -ENOSPC if the tables do not fit.
 */
int acpi_build(const struct guest_mem *gm, const struct acpi_config *cfg, uint64_t *rsdp_gpa)
    __attribute__((warn_unused_result));

#endif
