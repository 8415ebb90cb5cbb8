/* Builds the e820 map that bzImage, PVH and multiboot guests all receive in their own formats. */
#include "arch/x86/boot_e820.h"

#include <errno.h>
#include <stdbool.h>

#include "arch/x86/layout.h"

/* KVM_SET_IDENTITY_MAP_ADDR takes one page and KVM_SET_TSS_ADDR three, back to back. */
#define BOOT_E820_KVM_PAGES_SIZE 0x4000ull

struct boot_e820_builder {
	struct boot_e820_entry *map;
	unsigned n;
	unsigned max;
};

static int boot_e820_add(struct boot_e820_builder *b, uint64_t start, uint64_t end, uint32_t type)
{
	if (start >= end)
		return 0;
	if (b->n == b->max)
		return -ENOSPC;
	b->map[b->n++] = (struct boot_e820_entry){ start, end - start, type };
	return 0;
}

static bool boot_e820_overlaps_ram(const struct guest_mem *gm, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];

		if (start < r->gpa + r->size && r->gpa < end)
			return true;
	}
	return false;
}

static void boot_e820_sort_merge(struct boot_e820_builder *b)
{
	unsigned out = 0;

	/* At most a few dozen entries: insertion sort is plenty. */
	for (unsigned i = 1; i < b->n; i++) {
		struct boot_e820_entry e = b->map[i];
		unsigned j = i;

		for (; j > 0 && b->map[j - 1].addr > e.addr; j--)
			b->map[j] = b->map[j - 1];
		b->map[j] = e;
	}
	for (unsigned i = 0; i < b->n; i++) {
		struct boot_e820_entry *prev = out ? &b->map[out - 1] : NULL;

		if (prev && prev->type == b->map[i].type &&
		    prev->addr + prev->size == b->map[i].addr)
			prev->size += b->map[i].size;
		else
			b->map[out++] = b->map[i];
	}
	b->n = out;
}

int boot_e820_build(const struct guest_mem *gm, struct boot_e820_entry *map, unsigned max)
{
	struct boot_e820_builder b = { map, 0, max };
	int ret;

	/*
	 * Real PCs reserve [EBDA, 1 MiB); Linux expects it and scans it for the RSDP, and kvmbox
	 * puts its ACPI tables there, so it must never be handed out as RAM.
	 */
	ret = boot_e820_add(&b, LAYOUT_EBDA, LAYOUT_HIMEM, BOOT_E820_RESERVED);
	for (unsigned i = 0; !ret && i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];
		uint64_t start = r->gpa, end = r->gpa + r->size;

		ret =
		    boot_e820_add(&b, start, end < LAYOUT_EBDA ? end : LAYOUT_EBDA, BOOT_E820_RAM);
		if (!ret)
			ret = boot_e820_add(&b, start > LAYOUT_HIMEM ? start : LAYOUT_HIMEM, end,
					    BOOT_E820_RAM);
	}
	/*
	 * KVM's identity map and TSS live in guest-physical space in the MMIO hole; marking them
	 * reserved keeps the guest from placing PCI BARs on them (QEMU does the same).
	 */
	if (!ret && !boot_e820_overlaps_ram(gm, LAYOUT_KVM_IDENTITY_MAP,
					    LAYOUT_KVM_IDENTITY_MAP + BOOT_E820_KVM_PAGES_SIZE))
		ret = boot_e820_add(&b, LAYOUT_KVM_IDENTITY_MAP,
				    LAYOUT_KVM_IDENTITY_MAP + BOOT_E820_KVM_PAGES_SIZE,
				    BOOT_E820_RESERVED);
	if (ret)
		return ret;
	boot_e820_sort_merge(&b);
	return (int)b.n;
}
