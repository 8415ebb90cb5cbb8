/* ACPI tables for x86 guests: RSDP, XSDT, FADT, FACS, MADT and DSDT, built into guest RAM. */
#ifndef KVMBOX_X86_ACPI_H
#define KVMBOX_X86_ACPI_H

#include <stdint.h>

#include "guest_mem.h"

#define ACPI_MAX_CPUS 255 /* xAPIC IDs 0-254; 255 is the broadcast ID */

struct acpi_config {
	unsigned ncpus; /* 1..ACPI_MAX_CPUS; vCPU i has APIC ID i */
};

/*
 * Write all tables into [LAYOUT_ACPI, +LAYOUT_ACPI_SIZE), RSDP first so that a guest scanning
 * 0xE0000-0xFFFFF finds it too, and return the RSDP's address for boot protocols that pass it.
 * -EINVAL for a bad config, -EFAULT if the area is not guest RAM, -ENOSPC if the tables do not fit.
 */
int acpi_build(const struct guest_mem *gm, const struct acpi_config *cfg, uint64_t *rsdp_gpa)
    __attribute__((warn_unused_result));

#endif
