/* Loads a Multiboot v1 kernel: ELF32/ELF64 by program headers, or a flat image via the a.out
 * kludge. */
#include "arch/x86/boot_multiboot.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot_e820.h"
#include "arch/x86/boot_elf.h"
#include "arch/x86/boot_format.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "log.h"

#define BOOT_MB_HEADER_MIN 12 /* magic, flags, checksum */
#define BOOT_MB_MMAP_MAX                                                                           \
	((BOOT_PAGE_SIZE - BOOT_MB_MMAP_OFFSET) / sizeof(struct multiboot_mmap_entry))
_Static_assert(BOOT_MB_MMAP_MAX >= BOOT_E820_MAX, "mmap fits the boot info page");
_Static_assert(BOOT_MB_NAME_OFFSET + sizeof(BOOT_MB_LOADER_NAME) <= BOOT_MB_MMAP_OFFSET, "name");

/*
 * Everything kvmbox writes or reserves below 1 MiB when it boots a multiboot kernel, which may load
 * anywhere else there (real-mode test guests do). Some of it is written before the kernel (the
 * ACPI and MP tables), the rest after (command line, module name, multiboot info, then the GDT in
 * cpu_write_boot_tables), so an image overlapping any of it is refused before a byte of it is
 * copied. Nothing is written for a multiboot boot at the IVT/BDA (no BIOS), the IDT (limit 0),
 * the Linux zero page or the page tables (64-bit boots only), so kernels may load there.
 */
static const struct boot_range boot_mb_reserved[] = {
	{ LAYOUT_GDT, LAYOUT_GDT + LAYOUT_GDT_SIZE, "the boot GDT kvmbox writes" },
	{ LAYOUT_BOOT_INFO, LAYOUT_BOOT_INFO + BOOT_PAGE_SIZE,
	  "the multiboot information kvmbox writes" },
	{ LAYOUT_CMDLINE, LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX,
	  "the command line and module names kvmbox writes" },
	/* Also where RAM below 1 MiB ends for the guest (e820 map, mem_lower). */
	{ LAYOUT_EBDA, LAYOUT_HIMEM,
	  "the EBDA, MP table, ACPI tables and BIOS area kvmbox reserves" },
};
#define BOOT_MB_NRESERVED (sizeof(boot_mb_reserved) / sizeof(boot_mb_reserved[0]))
_Static_assert(LAYOUT_EBDA <= MPTABLE_GPA && MPTABLE_GPA + MPTABLE_MAX_LEN <= LAYOUT_HIMEM,
	       "the MP table is inside the reserved BIOS area");
_Static_assert(LAYOUT_EBDA <= LAYOUT_ACPI && LAYOUT_ACPI + LAYOUT_ACPI_SIZE <= LAYOUT_HIMEM,
	       "the ACPI tables are inside the reserved BIOS area");

/* A 32-bit entry with paging off: the image must be below 4 GiB, and clear of the above. */
static const struct boot_elf_limits boot_mb_limits = {
	.min = 0,
	.max_end = LAYOUT_4G,
	.reserved = boot_mb_reserved,
	.nreserved = BOOT_MB_NRESERVED,
};

/* What the kernel image turned into in guest RAM. */
struct boot_mb_image {
	uint64_t entry;
	uint64_t end;
	const char *format;
};

/*
 * Offset of the first header with a valid checksum in the first 8 KiB. -EBADMSG (with *off at
 * the first one) if every magic found has a bad checksum, -ENOENT if there is no magic at all.
 */
static int boot_multiboot_find(const uint8_t *data, size_t size, size_t *off)
{
	size_t limit = size < BOOT_MB_SEARCH_LIMIT ? size : BOOT_MB_SEARCH_LIMIT;
	int ret = -ENOENT;

	for (size_t o = 0; o + BOOT_MB_HEADER_MIN <= limit; o += 4) {
		uint32_t w[3];

		memcpy(w, data + o, sizeof(w));
		if (w[0] != BOOT_MB_HEADER_MAGIC)
			continue;
		if ((uint32_t)(w[0] + w[1] + w[2]) == 0) {
			*off = o;
			return 0;
		}
		if (ret == -ENOENT)
			*off = o;
		ret = -EBADMSG;
	}
	return ret;
}

bool boot_multiboot_probe(const struct boot_request *req)
{
	size_t off;

	/* A bad checksum still routes here, so the error names the real problem. */
	return boot_multiboot_find(req->kernel, req->kernel_size, &off) != -ENOENT;
}

static int boot_multiboot_check_flags(const struct boot_request *req, uint32_t flags)
{
	uint32_t unsupported =
	    flags & BOOT_MB_REQUIRED_MASK & ~(BOOT_MB_PAGE_ALIGN | BOOT_MB_MEMORY_INFO);

	if (unsupported & BOOT_MB_VIDEO_MODE) {
		log_error("kernel %s: multiboot header requires a video mode (flag bit 2), which "
			  "kvmbox does not provide",
			  req->kernel_name);
		return -ENOEXEC;
	}
	if (unsupported) {
		log_error(
		    "kernel %s: multiboot header requires unsupported features (flags 0x%04x)",
		    req->kernel_name, unsupported);
		return -ENOEXEC;
	}
	return 0;
}

/* The a.out kludge: the header's own address fields say what part of the file goes where. */
static int boot_multiboot_load_kludge(const struct boot_request *req, size_t off,
				      const struct multiboot_header *h, struct boot_mb_image *img)
{
	const char *name = req->kernel_name;
	const struct boot_range *r;
	uint64_t text_off, load_len, load_end, bss_end;
	uint8_t *dst;

	if (off + sizeof(*h) > req->kernel_size || off + sizeof(*h) > BOOT_MB_SEARCH_LIMIT) {
		log_error("kernel %s: multiboot header at 0x%zx is truncated", name, off);
		return -ENOEXEC;
	}
	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > off) {
		log_error("kernel %s: multiboot load_addr 0x%x and header_addr 0x%x do not match "
			  "the header's file offset 0x%zx",
			  name, h->load_addr, h->header_addr, off);
		return -ENOEXEC;
	}
	text_off = off - (h->header_addr - h->load_addr);
	if (!h->load_end_addr) {
		load_len = req->kernel_size - text_off;
	} else if (h->load_end_addr < h->load_addr ||
		   h->load_end_addr - h->load_addr > req->kernel_size - text_off) {
		log_error(
		    "kernel %s: multiboot load_end_addr 0x%x is before load_addr or beyond the "
		    "end of the file (truncated?)",
		    name, h->load_end_addr);
		return -ENOEXEC;
	} else {
		load_len = h->load_end_addr - h->load_addr;
	}
	load_end = h->load_addr + load_len;
	bss_end = h->bss_end_addr ? h->bss_end_addr : load_end;
	if (bss_end < load_end) {
		log_error("kernel %s: multiboot bss_end_addr 0x%x is before the end of the image",
			  name, h->bss_end_addr);
		return -ENOEXEC;
	}
	if (bss_end > LAYOUT_4G || bss_end == h->load_addr) {
		log_error("kernel %s: multiboot image [0x%x, 0x%" PRIx64
			  ") is empty or not below 4 GiB",
			  name, h->load_addr, bss_end);
		return -ENOEXEC;
	}
	r = boot_range_overlap(boot_mb_reserved, BOOT_MB_NRESERVED, h->load_addr, bss_end);
	if (r) {
		log_error("kernel %s: multiboot image [0x%x, 0x%" PRIx64
			  ") overlaps %s at [0x%" PRIx64 ", 0x%" PRIx64 ")",
			  name, h->load_addr, bss_end, r->what, r->start, r->end);
		return -ENOEXEC;
	}
	dst = guest_mem_ptr(req->gm, h->load_addr, bss_end - h->load_addr);
	if (!dst) {
		log_error("kernel %s: multiboot image [0x%x, 0x%" PRIx64
			  ") is not in guest RAM: the guest needs more memory",
			  name, h->load_addr, bss_end);
		return -ENOMEM;
	}
	memcpy(dst, req->kernel + text_off, load_len);
	memset(dst + load_len, 0, bss_end - load_end);
	if (h->entry_addr < h->load_addr || h->entry_addr >= bss_end) {
		log_error("kernel %s: multiboot entry_addr 0x%x is outside the image", name,
			  h->entry_addr);
		return -ENOEXEC;
	}
	img->entry = h->entry_addr;
	img->end = bss_end;
	img->format = "multiboot a.out kludge";
	return 0;
}

static int boot_multiboot_load_elf(const struct boot_request *req, struct boot_mb_image *img)
{
	struct boot_elf elf;
	const char *why;
	int ret;

	ret = boot_elf_parse(&elf, req->kernel, req->kernel_size, &why);
	if (ret) {
		log_error("kernel %s: multiboot kernel without the address fields (flag bit 16) "
			  "must be ELF: %s",
			  req->kernel_name, why);
		return ret;
	}
	if ((elf.is64 && elf.machine != EM_X86_64) || (!elf.is64 && elf.machine != EM_386)) {
		log_error("kernel %s: ELF machine %u is not x86", req->kernel_name, elf.machine);
		return -ENOEXEC;
	}
	ret = boot_elf_load(&elf, req->gm, req->kernel_name, &boot_mb_limits, &img->end);
	if (ret)
		return ret;
	img->entry = boot_elf_entry_paddr(&elf);
	if (!boot_elf_paddr_loaded(&elf, img->entry)) {
		log_error("kernel %s: ELF entry point 0x%" PRIx64 " is not in a loaded segment",
			  req->kernel_name, elf.entry);
		return -ENOEXEC;
	}
	img->format = elf.is64 ? "multiboot ELF64" : "multiboot ELF32";
	return 0;
}

/* mem_lower/mem_upper: RAM at 0 (up to 640 KiB) and contiguous RAM from 1 MiB, in KiB. */
static void boot_multiboot_mem(const struct boot_e820_entry *map, int n,
			       struct multiboot_info *info)
{
	for (int i = 0; i < n; i++) {
		uint64_t kib = map[i].size >> 10;

		if (map[i].type != BOOT_E820_RAM)
			continue;
		if (map[i].addr == 0)
			info->mem_lower = (uint32_t)(kib < 640 ? kib : 640);
		if (map[i].addr == LAYOUT_HIMEM)
			info->mem_upper = (uint32_t)(kib < UINT32_MAX ? kib : UINT32_MAX);
	}
}

/* The length of the command line boot_multiboot_cmdline writes (without its NUL). */
static size_t boot_multiboot_cmdline_len(const struct boot_request *req)
{
	return strlen(req->kernel_name) + (req->cmdline[0] ? 1 + strlen(req->cmdline) : 0);
}

/*
 * The command line as GRUB and QEMU hand it to a multiboot kernel: the kernel's path, then the
 * arguments. Programs that parse it as argv (kvm-unit-tests' test_args) take the path as argv[0].
 */
static int boot_multiboot_cmdline(const struct boot_request *req)
{
	struct boot_request full = *req;
	size_t name_len = strlen(req->kernel_name);
	char *s = malloc(boot_multiboot_cmdline_len(req) + 1);
	int ret;

	if (!s)
		return -ENOMEM;
	memcpy(s, req->kernel_name, name_len + 1);
	if (req->cmdline[0]) {
		s[name_len] = ' ';
		memcpy(s + name_len + 1, req->cmdline, strlen(req->cmdline) + 1);
	}
	full.cmdline = s;
	ret = boot_write_cmdline(&full, LAYOUT_CMDLINE_MAX - 1);
	free(s);
	return ret;
}

static int boot_multiboot_info(const struct boot_request *req, uint64_t initrd_gpa)
{
	const struct guest_mem *gm = req->gm;
	struct boot_e820_entry map[BOOT_E820_MAX];
	struct multiboot_mmap_entry mmap[BOOT_E820_MAX];
	struct multiboot_info info = {
		.flags = BOOT_MB_INFO_MEMORY | BOOT_MB_INFO_CMDLINE | BOOT_MB_INFO_MEM_MAP |
			 BOOT_MB_INFO_BOOT_LOADER_NAME,
		.cmdline = (uint32_t)LAYOUT_CMDLINE,
		.mmap_addr = (uint32_t)(LAYOUT_BOOT_INFO + BOOT_MB_MMAP_OFFSET),
		.boot_loader_name = (uint32_t)(LAYOUT_BOOT_INFO + BOOT_MB_NAME_OFFSET),
	};
	int n = boot_e820_build(gm, map, BOOT_E820_MAX);
	int bad;

	if (n < 0) {
		log_error("kernel %s: guest memory map has too many entries", req->kernel_name);
		return n;
	}
	for (int i = 0; i < n; i++)
		mmap[i] = (struct multiboot_mmap_entry){ sizeof(mmap[i]) - sizeof(mmap[i].size),
							 map[i].addr, map[i].size, map[i].type };
	info.mmap_length = (uint32_t)(n * sizeof(mmap[0]));
	boot_multiboot_mem(map, n, &info);
	bad = guest_mem_write(gm, info.mmap_addr, mmap, info.mmap_length) ||
	      guest_mem_write(gm, info.boot_loader_name, BOOT_MB_LOADER_NAME,
			      sizeof(BOOT_MB_LOADER_NAME));
	if (req->initrd) {
		/* The module's string goes right after the command line, in the same area. */
		size_t cmd_len = boot_multiboot_cmdline_len(req),
		       name_len = strlen(req->initrd_name);
		struct multiboot_mod_list mod = {
			.mod_start = (uint32_t)initrd_gpa,
			.mod_end = (uint32_t)(initrd_gpa + req->initrd_size),
			.cmdline = (uint32_t)(LAYOUT_CMDLINE + cmd_len + 1),
		};

		if (cmd_len + 1 + name_len + 1 > LAYOUT_CMDLINE_MAX) {
			log_error("initrd %s: command line and module name exceed %llu bytes",
				  req->initrd_name, LAYOUT_CMDLINE_MAX);
			return -EINVAL;
		}
		info.flags |= BOOT_MB_INFO_MODS;
		info.mods_count = 1;
		info.mods_addr = (uint32_t)(LAYOUT_BOOT_INFO + BOOT_MB_MODS_OFFSET);
		bad = bad || guest_mem_write(gm, mod.cmdline, req->initrd_name, name_len + 1) ||
		      guest_mem_write(gm, info.mods_addr, &mod, sizeof(mod));
	}
	bad = bad || guest_mem_write(gm, LAYOUT_BOOT_INFO, &info, sizeof(info));
	if (bad) {
		log_error("kernel %s: guest RAM does not cover the multiboot info at 0x%llx",
			  req->kernel_name, LAYOUT_BOOT_INFO);
		return -ENOMEM;
	}
	return 0;
}

int boot_multiboot_load(const struct boot_request *req, struct boot_entry *entry)
{
	struct multiboot_header h = { 0 };
	struct boot_mb_image img;
	uint64_t low_end, mod_min, initrd_gpa = 0;
	size_t off;
	int ret;

	ret = boot_multiboot_find(req->kernel, req->kernel_size, &off);
	if (ret == -EBADMSG) {
		log_error("kernel %s: multiboot header at offset 0x%zx has a bad checksum",
			  req->kernel_name, off);
		return -ENOEXEC;
	}
	if (ret) {
		log_error("kernel %s: no multiboot header in the first 8 KiB", req->kernel_name);
		return -ENOEXEC;
	}
	memcpy(&h, req->kernel + off,
	       req->kernel_size - off < sizeof(h) ? req->kernel_size - off : sizeof(h));
	ret = boot_multiboot_check_flags(req, h.flags);
	if (ret)
		return ret;
	/* As GRUB does, the address fields win even over an ELF header when bit 16 is set. */
	if (h.flags & BOOT_MB_AOUT_KLUDGE)
		ret = boot_multiboot_load_kludge(req, off, &h, &img);
	else
		ret = boot_multiboot_load_elf(req, &img);
	if (ret)
		return ret;
	ret = boot_multiboot_cmdline(req);
	if (ret)
		return ret;
	/*
	 * Modules are always page-aligned, which also satisfies BOOT_MB_PAGE_ALIGN. Above 1 MiB
	 * even after a kernel below it: low memory holds kvmbox's boot data.
	 */
	low_end = boot_low_ram_end(req->gm);
	mod_min = img.end > LAYOUT_HIMEM ? img.end : LAYOUT_HIMEM;
	if (req->initrd && boot_place_initrd(req, mod_min, low_end, &initrd_gpa)) {
		log_error("initrd %s: %zu bytes do not fit in guest RAM between 0x%" PRIx64
			  " (the kernel's end or 1 MiB) and 0x%" PRIx64
			  ": give the guest more memory",
			  req->initrd_name, req->initrd_size, mod_min, low_end);
		return -ENOMEM;
	}
	ret = boot_multiboot_info(req, initrd_gpa);
	if (ret)
		return ret;
	entry->mode = BOOT_MODE_MULTIBOOT;
	entry->rip = img.entry;
	entry->rax = BOOT_MB_BOOTLOADER_MAGIC;
	entry->rbx = LAYOUT_BOOT_INFO;
	entry->format = img.format;
	return 0;
}
