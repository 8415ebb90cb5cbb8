/* The Linux x86 boot protocol's zero page and setup header (Documentation/arch/x86/boot.rst). */
#ifndef KVMBOX_X86_BOOT_BZIMAGE_H
#define KVMBOX_X86_BOOT_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define BOOT_HDR_OFFSET 0x1f1	  /* where the setup header starts, in the file and the zero page */
#define BOOT_HDR_MAGIC 0x53726448 /* "HdrS" at 0x202 */
#define BOOT_FLAG_MAGIC 0xaa55
#define BOOT_LOADFLAGS_LOADED_HIGH 0x01
#define BOOT_LOADFLAGS_CAN_USE_HEAP 0x80
#define BOOT_XLF_KERNEL_64 0x01
#define BOOT_XLF_CAN_BE_LOADED_ABOVE_4G 0x02
#define BOOT_LOADER_TYPE_UNDEFINED 0xff
#define BOOT_E820_ZEROPAGE_MAX 128
#define BOOT_ENTRY64_OFFSET 0x200 /* 64-bit entry: protected-mode load address + 0x200 */

struct boot_setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

struct boot_params_e820 {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* Only the fields kvmbox writes are named; everything else stays zero. */
struct boot_params {
	uint8_t pad0[0x070];
	uint64_t acpi_rsdp_addr; /* 0x070 */
	uint8_t pad1[0x0c0 - 0x078];
	uint32_t ext_ramdisk_image; /* 0x0c0 */
	uint32_t ext_ramdisk_size;  /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;  /* 0x0c8 */
	uint8_t pad2[0x1e8 - 0x0cc];
	uint8_t e820_entries; /* 0x1e8 */
	uint8_t pad3[BOOT_HDR_OFFSET - 0x1e9];
	struct boot_setup_header hdr; /* 0x1f1 */
	uint8_t pad4[0x2d0 - BOOT_HDR_OFFSET - sizeof(struct boot_setup_header)];
	struct boot_params_e820 e820_table[BOOT_E820_ZEROPAGE_MAX]; /* 0x2d0 */
	uint8_t pad5[0x1000 - 0xcd0];
} __attribute__((packed));

/* The ABI is offsets: pin every field we rely on. */
_Static_assert(offsetof(struct boot_setup_header, syssize) == 0x1f4 - BOOT_HDR_OFFSET, "syssize");
_Static_assert(offsetof(struct boot_setup_header, boot_flag) == 0x1fe - BOOT_HDR_OFFSET, "flag");
_Static_assert(offsetof(struct boot_setup_header, header) == 0x202 - BOOT_HDR_OFFSET, "header");
_Static_assert(offsetof(struct boot_setup_header, version) == 0x206 - BOOT_HDR_OFFSET, "version");
_Static_assert(offsetof(struct boot_setup_header, type_of_loader) == 0x210 - BOOT_HDR_OFFSET,
	       "type_of_loader");
_Static_assert(offsetof(struct boot_setup_header, loadflags) == 0x211 - BOOT_HDR_OFFSET, "lf");
_Static_assert(offsetof(struct boot_setup_header, code32_start) == 0x214 - BOOT_HDR_OFFSET, "c32");
_Static_assert(offsetof(struct boot_setup_header, ramdisk_image) == 0x218 - BOOT_HDR_OFFSET, "rd");
_Static_assert(offsetof(struct boot_setup_header, heap_end_ptr) == 0x224 - BOOT_HDR_OFFSET, "he");
_Static_assert(offsetof(struct boot_setup_header, cmd_line_ptr) == 0x228 - BOOT_HDR_OFFSET, "cl");
_Static_assert(offsetof(struct boot_setup_header, initrd_addr_max) == 0x22c - BOOT_HDR_OFFSET,
	       "initrd_addr_max");
_Static_assert(offsetof(struct boot_setup_header, relocatable_kernel) == 0x234 - BOOT_HDR_OFFSET,
	       "relocatable_kernel");
_Static_assert(offsetof(struct boot_setup_header, xloadflags) == 0x236 - BOOT_HDR_OFFSET, "xlf");
_Static_assert(offsetof(struct boot_setup_header, cmdline_size) == 0x238 - BOOT_HDR_OFFSET, "cs");
_Static_assert(offsetof(struct boot_setup_header, setup_data) == 0x250 - BOOT_HDR_OFFSET, "sd");
_Static_assert(offsetof(struct boot_setup_header, pref_address) == 0x258 - BOOT_HDR_OFFSET, "pa");
_Static_assert(offsetof(struct boot_setup_header, init_size) == 0x260 - BOOT_HDR_OFFSET, "is");
_Static_assert(sizeof(struct boot_setup_header) == 0x26c - BOOT_HDR_OFFSET, "setup_header size");
_Static_assert(sizeof(struct boot_params_e820) == 20, "e820 entry");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct boot_params, hdr) == BOOT_HDR_OFFSET, "hdr");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(sizeof(struct boot_params) == 0x1000, "zero page size");

#endif
