/* The PVH boot ABI: Xen's hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#ifndef KVMBOX_X86_BOOT_PVH_H
#define KVMBOX_X86_BOOT_PVH_H

#include <stddef.h>
#include <stdint.h>

#define BOOT_PVH_MAGIC 0x336ec578     /* "xEn3" with the 0x80 bit of the "E" set */
#define BOOT_PVH_VERSION 1	      /* version 1 adds the memory map */
#define BOOT_PVH_NOTE_PHYS32_ENTRY 18 /* XEN_ELFNOTE_PHYS32_ENTRY */
#define BOOT_PVH_NOTE_NAME "Xen"

/* Where the pieces go inside the LAYOUT_BOOT_INFO page. */
#define BOOT_PVH_MODLIST_OFFSET 0x40
#define BOOT_PVH_MEMMAP_OFFSET 0x80

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* e820 types */
	uint32_t reserved;
};

_Static_assert(offsetof(struct hvm_start_info, modlist_paddr) == 16, "modlist_paddr");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 32, "rsdp_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "memmap_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "memmap_entries");
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");
_Static_assert(sizeof(struct hvm_start_info) <= BOOT_PVH_MODLIST_OFFSET, "start_info fits");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");
_Static_assert(BOOT_PVH_MODLIST_OFFSET + sizeof(struct hvm_modlist_entry) <= BOOT_PVH_MEMMAP_OFFSET,
	       "modlist fits");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry");

#endif
