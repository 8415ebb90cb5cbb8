/* The guest's e820 memory map, built once from guest RAM and shared by every boot format. */
#ifndef KVMBOX_X86_BOOT_E820_H
#define KVMBOX_X86_BOOT_E820_H

#include <stdint.h>

#include "guest_mem.h"

#define BOOT_E820_RAM 1
#define BOOT_E820_RESERVED 2
#define BOOT_E820_MAX 128 /* the Linux zero page's e820_table holds 128 */

struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * Fill map with guest RAM minus [LAYOUT_EBDA, 1 MiB) (reserved: EBDA, VGA hole, BIOS area with the
 * ACPI tables), plus the KVM identity-map/TSS pages as reserved, sorted by address with adjacent
 * same-type ranges merged. The 32-bit MMIO hole is simply absent. Returns the number of entries or
 * -ENOSPC if more than max would be needed.
 */
int boot_e820_build(const struct guest_mem *gm, struct boot_e820_entry *map, unsigned max)
    __attribute__((warn_unused_result));

#endif
