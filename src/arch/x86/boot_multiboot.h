/* Multiboot v1 (the 0.6.96 specification): the kernel's header and the info kvmbox hands over. */
#ifndef KVMBOX_X86_BOOT_MULTIBOOT_H
#define KVMBOX_X86_BOOT_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define BOOT_MB_HEADER_MAGIC 0x1badb002
#define BOOT_MB_BOOTLOADER_MAGIC 0x2badb002 /* in EAX at entry */
#define BOOT_MB_SEARCH_LIMIT 8192	    /* the header lies in the first 8 KiB, 4-aligned */

/* Header flags: bits 0-15 are requirements a loader must refuse if it cannot meet them. */
#define BOOT_MB_PAGE_ALIGN (1u << 0)
#define BOOT_MB_MEMORY_INFO (1u << 1)
#define BOOT_MB_VIDEO_MODE (1u << 2)
#define BOOT_MB_REQUIRED_MASK 0xffffu
#define BOOT_MB_AOUT_KLUDGE (1u << 16) /* the address fields below are valid: use them */

/* Info flags. */
#define BOOT_MB_INFO_MEMORY (1u << 0)
#define BOOT_MB_INFO_CMDLINE (1u << 2)
#define BOOT_MB_INFO_MODS (1u << 3)
#define BOOT_MB_INFO_MEM_MAP (1u << 6)
#define BOOT_MB_INFO_BOOT_LOADER_NAME (1u << 9)

/* Where the pieces go inside the LAYOUT_BOOT_INFO page. */
#define BOOT_MB_MODS_OFFSET 0x80
#define BOOT_MB_NAME_OFFSET 0x90
#define BOOT_MB_MMAP_OFFSET 0x100
#define BOOT_MB_LOADER_NAME "kvmbox"

struct multiboot_header {
	uint32_t magic;
	uint32_t flags;
	uint32_t checksum;
	/* Valid with BOOT_MB_AOUT_KLUDGE. */
	uint32_t header_addr;
	uint32_t load_addr;
	uint32_t load_end_addr;
	uint32_t bss_end_addr;
	uint32_t entry_addr;
};

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB from 0 */
	uint32_t mem_upper; /* KiB from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info;
	uint32_t vbe_mode_info;
	uint16_t vbe_mode;
	uint16_t vbe_interface_seg;
	uint16_t vbe_interface_off;
	uint16_t vbe_interface_len;
	uint64_t framebuffer_addr;
	uint32_t framebuffer_pitch;
	uint32_t framebuffer_width;
	uint32_t framebuffer_height;
	uint8_t framebuffer_bpp;
	uint8_t framebuffer_type;
	uint8_t color_info[6];
} __attribute__((packed));

/* size counts the bytes after itself, so a guest steps by size + 4. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

struct multiboot_mod_list {
	uint32_t mod_start;
	uint32_t mod_end; /* exclusive, as GRUB does */
	uint32_t cmdline;
	uint32_t pad;
};

_Static_assert(sizeof(struct multiboot_header) == 32, "multiboot_header");
_Static_assert(offsetof(struct multiboot_info, cmdline) == 16, "cmdline");
_Static_assert(offsetof(struct multiboot_info, mods_addr) == 24, "mods_addr");
_Static_assert(offsetof(struct multiboot_info, mmap_length) == 44, "mmap_length");
_Static_assert(offsetof(struct multiboot_info, boot_loader_name) == 64, "boot_loader_name");
_Static_assert(offsetof(struct multiboot_info, framebuffer_addr) == 88, "framebuffer_addr");
_Static_assert(sizeof(struct multiboot_info) == 116, "multiboot_info");
_Static_assert(sizeof(struct multiboot_info) <= BOOT_MB_MODS_OFFSET, "info fits");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot_mmap_entry");
_Static_assert(sizeof(struct multiboot_mod_list) == 16, "multiboot_mod_list");

#endif
