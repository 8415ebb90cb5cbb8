/* Kernel loading entry points: read the images, detect the format, and helpers every format uses.
 */
#include "arch/x86/boot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot_file.h"
#include "arch/x86/boot_format.h"
#include "arch/x86/layout.h"
#include "log.h"

int boot_write_cmdline(const struct boot_request *req, uint64_t max_len)
{
	size_t len = strlen(req->cmdline);

	if (max_len > LAYOUT_CMDLINE_MAX - 1)
		max_len = LAYOUT_CMDLINE_MAX - 1;
	if (len > max_len) {
		log_error("kernel %s: command line is %zu bytes, the limit is %" PRIu64,
			  req->kernel_name, len, max_len);
		return -EINVAL;
	}
	if (guest_mem_write(req->gm, LAYOUT_CMDLINE, req->cmdline, len + 1)) {
		log_error("kernel %s: guest RAM does not cover the command line at 0x%llx",
			  req->kernel_name, LAYOUT_CMDLINE);
		return -ENOMEM;
	}
	return 0;
}

int boot_place_initrd(const struct boot_request *req, uint64_t min_gpa, uint64_t max_end,
		      uint64_t *gpa)
{
	const struct guest_mem *gm = req->gm;
	uint64_t best = 0, size = req->initrd_size;
	int found = 0;

	if (min_gpa > UINT64_MAX - BOOT_PAGE_SIZE)
		return -ENOMEM;
	min_gpa = boot_align_up(min_gpa, BOOT_PAGE_SIZE);
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];
		uint64_t lo = r->gpa > min_gpa ? r->gpa : min_gpa;
		uint64_t hi = r->gpa + r->size < max_end ? r->gpa + r->size : max_end;
		uint64_t addr;

		if (hi <= lo || hi - lo < size)
			continue;
		/* Top of the range, like other loaders: keeps low memory free for the kernel. */
		addr = (hi - size) & ~(BOOT_PAGE_SIZE - 1);
		if (addr < lo || (found && addr <= best))
			continue;
		best = addr;
		found = 1;
	}
	if (!found || guest_mem_write(gm, best, req->initrd, size))
		return -ENOMEM;
	*gpa = best;
	return 0;
}

const struct boot_range *boot_range_overlap(const struct boot_range *r, size_t n, uint64_t start,
					    uint64_t end)
{
	for (size_t i = 0; i < n; i++)
		if (start < r[i].end && r[i].start < end)
			return &r[i];
	return NULL;
}

uint64_t boot_low_ram_end(const struct guest_mem *gm)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];
		uint64_t end = r->gpa + r->size;

		if (r->gpa <= LAYOUT_HIMEM && LAYOUT_HIMEM < end)
			return end < LAYOUT_MMIO_HOLE ? end : LAYOUT_MMIO_HOLE;
	}
	return 0;
}

int boot_load_buffer(const struct guest_mem *gm, const struct boot_config *cfg, const void *kernel,
		     size_t kernel_size, const void *initrd, size_t initrd_size,
		     struct boot_entry *entry)
{
	struct boot_request req = {
		.gm = gm,
		.kernel = kernel,
		.kernel_size = kernel_size,
		.kernel_name = cfg->kernel_path ? cfg->kernel_path : "kernel",
		.initrd = initrd,
		.initrd_size = initrd_size,
		.initrd_name = cfg->initrd_path ? cfg->initrd_path : "initrd",
		.cmdline = cfg->cmdline ? cfg->cmdline : "",
		.linux_cmdline = cfg->linux_cmdline,
		.rsdp_gpa = cfg->rsdp_gpa,
	};
	int ret;

	memset(entry, 0, sizeof(*entry));
	if (!kernel_size) {
		log_error("kernel %s: file is empty", req.kernel_name);
		return -ENOEXEC;
	}
	if (initrd && !initrd_size) {
		/* Almost certainly the wrong file; Linux would silently boot without it. */
		log_error("initrd %s: file is empty", req.initrd_name);
		return -EINVAL;
	}
	/* bzImage first: its setup code is neither ELF nor multiboot, while ELF may carry both. */
	if (boot_bzimage_probe(&req)) {
		if (req.linux_cmdline)
			req.cmdline = req.linux_cmdline;
		ret = boot_bzimage_load(&req, entry);
	} else if (boot_pvh_probe(&req)) {
		if (req.linux_cmdline)
			req.cmdline = req.linux_cmdline;
		ret = boot_pvh_load(&req, entry);
	} else if (boot_multiboot_probe(&req))
		ret = boot_multiboot_load(&req, entry);
	else {
		log_error(
		    "kernel %s: not a bootable kernel (no bzImage header, no ELF PVH note, no "
		    "multiboot header)",
		    req.kernel_name);
		ret = -ENOEXEC;
	}
	if (ret) {
		memset(entry, 0, sizeof(*entry));
		return ret;
	}
	log_info("kernel %s: loaded as %s, entry 0x%" PRIx64, req.kernel_name, entry->format,
		 entry->rip);
	return 0;
}

int boot_load(const struct guest_mem *gm, const struct boot_config *cfg, struct boot_entry *entry)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t kernel_size = 0, initrd_size = 0;
	int ret;

	memset(entry, 0, sizeof(*entry));
	if (!cfg->kernel_path) {
		log_error("no kernel image given");
		return -EINVAL;
	}
	/* Nothing larger than guest RAM can be loaded, so that bounds what we read. */
	ret = boot_file_read(cfg->kernel_path, "kernel", gm->ram_size, &kernel, &kernel_size);
	if (ret)
		return ret;
	if (cfg->initrd_path) {
		ret =
		    boot_file_read(cfg->initrd_path, "initrd", gm->ram_size, &initrd, &initrd_size);
		if (ret)
			goto out;
	}
	ret = boot_load_buffer(gm, cfg, kernel, kernel_size, initrd, initrd_size, entry);
out:
	free(initrd);
	free(kernel);
	return ret;
}
