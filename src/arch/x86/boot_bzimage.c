/* Loads a Linux bzImage for the 64-bit boot protocol entry (no real-mode setup code is run). */
#include "arch/x86/boot_bzimage.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86/boot_e820.h"
#include "arch/x86/boot_format.h"
#include "arch/x86/layout.h"
#include "log.h"

#define BOOT_PROTO_MIN 0x0206 /* cmdline_size; anything older is from before 2.6.22 */
#define BOOT_PROTO_XLOADFLAGS 0x020c
#define BOOT_PROTO_PREF_ADDRESS 0x020a /* pref_address and init_size */
#define BOOT_PROTO_ACPI_RSDP 0x020e
#define BOOT_SETUP_SECTS_DEFAULT 4 /* setup_sects 0 means 4, for ancient compatibility */
#define BOOT_SECTOR_SIZE 512
/* Offset of the heap end from the real-mode code, minus 0x200: the usual 0xfe00 stack top. */
#define BOOT_HEAP_END 0xfe00

/* Where everything goes; computed before anything is written. */
struct boot_bzimage_plan {
	struct boot_setup_header hdr;
	size_t hdr_end;	     /* 0x202 + the jump byte: end of the header in the file */
	size_t setup_size;   /* real-mode part, skipped */
	size_t pm_size;	     /* protected-mode part, loaded */
	uint64_t load;	     /* protected-mode load address */
	uint64_t kernel_end; /* end of everything the kernel uses before it reads the e820 map */
};

bool boot_bzimage_probe(const struct boot_request *req)
{
	uint32_t magic;

	if (req->kernel_size < 0x202 + sizeof(magic))
		return false;
	memcpy(&magic, req->kernel + 0x202, sizeof(magic));
	return magic == BOOT_HDR_MAGIC;
}

static int boot_bzimage_check(const struct boot_request *req, struct boot_bzimage_plan *plan)
{
	const char *name = req->kernel_name;
	struct boot_setup_header *hdr = &plan->hdr;
	size_t copy, setup_sects;

	plan->hdr_end = 0x202 + (size_t)req->kernel[0x201];
	if (plan->hdr_end > req->kernel_size) {
		log_error("kernel %s: truncated bzImage: setup header ends beyond the file", name);
		return -ENOEXEC;
	}
	/* Fields past the header's own end are not there: they read as zero. */
	copy = plan->hdr_end - BOOT_HDR_OFFSET;
	if (copy > sizeof(*hdr))
		copy = sizeof(*hdr);
	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr, req->kernel + BOOT_HDR_OFFSET, copy);
	if (hdr->boot_flag != BOOT_FLAG_MAGIC) {
		log_error("kernel %s: bzImage boot flag is 0x%04x, not 0xaa55", name,
			  hdr->boot_flag);
		return -ENOEXEC;
	}
	if (hdr->version < BOOT_PROTO_MIN) {
		log_error("kernel %s: Linux boot protocol %u.%02u is too old (kvmbox needs 2.06 or "
			  "later)",
			  name, hdr->version >> 8, hdr->version & 0xff);
		return -ENOEXEC;
	}
	if (!(hdr->loadflags & BOOT_LOADFLAGS_LOADED_HIGH)) {
		log_error("kernel %s: zImage (not loaded high) is not supported", name);
		return -ENOEXEC;
	}
	if (hdr->version < BOOT_PROTO_XLOADFLAGS || !(hdr->xloadflags & BOOT_XLF_KERNEL_64)) {
		log_error("kernel %s: bzImage has no 64-bit entry point (XLF_KERNEL_64, boot "
			  "protocol %u.%02u): kvmbox boots 64-bit kernels only",
			  name, hdr->version >> 8, hdr->version & 0xff);
		return -ENOEXEC;
	}
	setup_sects = hdr->setup_sects ? hdr->setup_sects : BOOT_SETUP_SECTS_DEFAULT;
	plan->setup_size = (setup_sects + 1) * BOOT_SECTOR_SIZE;
	if (plan->setup_size >= req->kernel_size) {
		log_error(
		    "kernel %s: truncated bzImage: %zu bytes, but the setup code alone is %zu",
		    name, req->kernel_size, plan->setup_size);
		return -ENOEXEC;
	}
	plan->pm_size = req->kernel_size - plan->setup_size;
	if (plan->pm_size <= BOOT_ENTRY64_OFFSET) {
		log_error("kernel %s: truncated bzImage: %zu bytes of kernel end before the 64-bit "
			  "entry at +0x200",
			  req->kernel_name, plan->pm_size);
		return -ENOEXEC;
	}
	if ((uint64_t)hdr->syssize * 16 > plan->pm_size) {
		log_error(
		    "kernel %s: truncated bzImage: kernel is %zu bytes, the header says %" PRIu64,
		    name, plan->pm_size, (uint64_t)hdr->syssize * 16);
		return -ENOEXEC;
	}
	return 0;
}

static int boot_bzimage_place(const struct boot_request *req, struct boot_bzimage_plan *plan)
{
	const struct boot_setup_header *hdr = &plan->hdr;
	uint64_t low_end = boot_low_ram_end(req->gm);
	uint64_t pref = 0, init_size = 0, align = 1, runtime, need;

	if (hdr->version >= BOOT_PROTO_PREF_ADDRESS) {
		pref = hdr->pref_address;
		init_size = hdr->init_size;
	}
	if (hdr->kernel_alignment && !(hdr->kernel_alignment & (hdr->kernel_alignment - 1)))
		align = hdr->kernel_alignment;
	need = plan->pm_size > init_size ? plan->pm_size : init_size;
	plan->load = LAYOUT_HIMEM;
	/* A relocatable kernel loaded where it will run need not move itself before decompressing.
	 */
	if (hdr->relocatable_kernel && pref >= LAYOUT_HIMEM && !(pref & (align - 1)) &&
	    pref < low_end && need <= low_end - pref)
		plan->load = pref;
	/*
	 * The decompressor runs at max(load aligned up, LOAD_PHYSICAL_ADDR = pref_address) and uses
	 * init_size bytes from there (arch/x86/boot/compressed/head_64.S); nothing may sit there.
	 */
	runtime = boot_align_up(plan->load, align);
	if (runtime < pref)
		runtime = pref;
	plan->kernel_end = plan->load + plan->pm_size;
	if (init_size) {
		/* pref_address comes from the file: saturate rather than wrap. */
		uint64_t end = runtime > UINT64_MAX - init_size ? UINT64_MAX : runtime + init_size;

		if (end > plan->kernel_end)
			plan->kernel_end = end;
	}
	if (plan->kernel_end > low_end) {
		log_error("kernel %s: guest RAM too small: the kernel needs RAM up to 0x%" PRIx64
			  " (%" PRIu64 " MiB), low RAM ends at 0x%" PRIx64,
			  req->kernel_name, plan->kernel_end,
			  (plan->kernel_end >> 20) + !!(plan->kernel_end & 0xfffff), low_end);
		return -ENOMEM;
	}
	return 0;
}

static int boot_bzimage_place_initrd(const struct boot_request *req,
				     const struct boot_bzimage_plan *plan, uint64_t *gpa)
{
	uint64_t low_end = boot_low_ram_end(req->gm);
	/* initrd_addr_max is the highest address the initrd may occupy, so the end is one past. */
	uint64_t max_end = (uint64_t)plan->hdr.initrd_addr_max + 1;

	if (max_end > low_end)
		max_end = low_end;
	if (!boot_place_initrd(req, plan->kernel_end, max_end, gpa))
		return 0;
	if ((plan->hdr.xloadflags & BOOT_XLF_CAN_BE_LOADED_ABOVE_4G) &&
	    !boot_place_initrd(req, LAYOUT_4G, UINT64_MAX, gpa))
		return 0;
	log_error("initrd %s: %zu bytes do not fit in guest RAM between the kernel's end 0x%" PRIx64
		  " and 0x%" PRIx64 ": give the guest more memory",
		  req->initrd_name, req->initrd_size, plan->kernel_end, max_end);
	return -ENOMEM;
}

static int boot_bzimage_e820(const struct boot_request *req, struct boot_params *bp)
{
	struct boot_e820_entry map[BOOT_E820_ZEROPAGE_MAX];
	int n = boot_e820_build(req->gm, map, BOOT_E820_ZEROPAGE_MAX);

	if (n < 0) {
		log_error("kernel %s: guest memory map does not fit the zero page",
			  req->kernel_name);
		return n;
	}
	for (int i = 0; i < n; i++) {
		bp->e820_table[i].addr = map[i].addr;
		bp->e820_table[i].size = map[i].size;
		bp->e820_table[i].type = map[i].type;
	}
	bp->e820_entries = (uint8_t)n;
	return 0;
}

static int boot_bzimage_zero_page(const struct boot_request *req,
				  const struct boot_bzimage_plan *plan, uint64_t initrd_gpa)
{
	struct boot_params bp;
	size_t hdr_end = plan->hdr_end < 0x290 ? plan->hdr_end : 0x290;
	int ret;

	/* A clean page plus the file's own header, as boot.rst asks; then our fields on top. */
	memset(&bp, 0, sizeof(bp));
	memcpy((uint8_t *)&bp + BOOT_HDR_OFFSET, req->kernel + BOOT_HDR_OFFSET,
	       hdr_end - BOOT_HDR_OFFSET);
	bp.hdr.type_of_loader = BOOT_LOADER_TYPE_UNDEFINED;
	bp.hdr.loadflags |= BOOT_LOADFLAGS_CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BOOT_HEAP_END;
	bp.hdr.code32_start = (uint32_t)plan->load;
	bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	/* Pointers the loader owns: a stale value from the file would send the kernel astray. */
	bp.hdr.setup_data = 0;
	bp.hdr.hardware_subarch = 0;
	bp.hdr.hardware_subarch_data = 0;
	if (req->initrd) {
		bp.hdr.ramdisk_image = (uint32_t)initrd_gpa;
		bp.hdr.ramdisk_size = (uint32_t)req->initrd_size;
		bp.ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
		bp.ext_ramdisk_size = (uint32_t)((uint64_t)req->initrd_size >> 32);
	}
	if (req->rsdp_gpa && plan->hdr.version >= BOOT_PROTO_ACPI_RSDP)
		bp.acpi_rsdp_addr = req->rsdp_gpa;
	ret = boot_bzimage_e820(req, &bp);
	if (ret)
		return ret;
	if (guest_mem_write(req->gm, LAYOUT_BOOT_PARAMS, &bp, sizeof(bp))) {
		log_error("kernel %s: guest RAM does not cover the zero page at 0x%llx",
			  req->kernel_name, LAYOUT_BOOT_PARAMS);
		return -ENOMEM;
	}
	return 0;
}

int boot_bzimage_load(const struct boot_request *req, struct boot_entry *entry)
{
	struct boot_bzimage_plan plan;
	uint64_t initrd_gpa = 0;
	int ret;

	ret = boot_bzimage_check(req, &plan);
	if (!ret)
		ret = boot_bzimage_place(req, &plan);
	if (!ret)
		ret = boot_write_cmdline(req, plan.hdr.cmdline_size);
	if (!ret && req->initrd)
		ret = boot_bzimage_place_initrd(req, &plan, &initrd_gpa);
	if (ret)
		return ret;
	if (guest_mem_write(req->gm, plan.load, req->kernel + plan.setup_size, plan.pm_size)) {
		log_error("kernel %s: %zu bytes do not fit in guest RAM at 0x%" PRIx64,
			  req->kernel_name, plan.pm_size, plan.load);
		return -ENOMEM;
	}
	ret = boot_bzimage_zero_page(req, &plan, initrd_gpa);
	if (ret)
		return ret;
	entry->mode = BOOT_MODE_LINUX64;
	entry->rip = plan.load + BOOT_ENTRY64_OFFSET;
	entry->rsi = LAYOUT_BOOT_PARAMS;
	entry->format = "bzImage";
	return 0;
}
