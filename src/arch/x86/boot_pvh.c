/* Loads an ELF kernel through its PVH entry (Xen's PHYS32_ENTRY note), as Linux vmlinux allows. */
#include "arch/x86/boot_pvh.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86/boot_e820.h"
#include "arch/x86/boot_elf.h"
#include "arch/x86/boot_format.h"
#include "arch/x86/layout.h"
#include "log.h"

/* The memory map must fit in the rest of the boot info page. */
#define BOOT_PVH_MEMMAP_MAX                                                                        \
	((BOOT_PAGE_SIZE - BOOT_PVH_MEMMAP_OFFSET) / sizeof(struct hvm_memmap_table_entry))
_Static_assert(BOOT_PVH_MEMMAP_MAX >= BOOT_E820_MAX, "memmap fits the boot info page");

static const struct boot_elf_limits boot_pvh_limits = { .min = LAYOUT_HIMEM, .max_end = LAYOUT_4G };

/* The 32-bit entry from the PHYS32_ENTRY note; -ENOENT if absent or malformed. */
static int boot_pvh_entry(const struct boot_elf *elf, uint64_t *entry)
{
	const uint8_t *desc;
	uint32_t descsz, e32;
	uint64_t e64;

	if (boot_elf_find_note(elf, BOOT_PVH_NOTE_NAME, BOOT_PVH_NOTE_PHYS32_ENTRY, &desc, &descsz))
		return -ENOENT;
	/* Linux emits 4 bytes; Xen also reads 8-byte numeric notes. */
	if (descsz == sizeof(e32)) {
		memcpy(&e32, desc, sizeof(e32));
		*entry = e32;
	} else if (descsz == sizeof(e64)) {
		memcpy(&e64, desc, sizeof(e64));
		*entry = e64;
	} else {
		return -ENOENT;
	}
	return 0;
}

bool boot_pvh_probe(const struct boot_request *req)
{
	struct boot_elf elf;
	const char *why;
	uint64_t entry;

	if (boot_elf_parse(&elf, req->kernel, req->kernel_size, &why))
		return false;
	return !boot_pvh_entry(&elf, &entry);
}

static int boot_pvh_start_info(const struct boot_request *req, uint64_t initrd_gpa)
{
	struct boot_e820_entry map[BOOT_E820_MAX];
	struct hvm_memmap_table_entry memmap[BOOT_E820_MAX];
	struct hvm_modlist_entry mod = { initrd_gpa, req->initrd_size, 0, 0 };
	struct hvm_start_info si = {
		.magic = BOOT_PVH_MAGIC,
		.version = BOOT_PVH_VERSION,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = req->rsdp_gpa,
		.memmap_paddr = LAYOUT_BOOT_INFO + BOOT_PVH_MEMMAP_OFFSET,
	};
	int n = boot_e820_build(req->gm, map, BOOT_E820_MAX);

	if (n < 0) {
		log_error("kernel %s: guest memory map has too many entries", req->kernel_name);
		return n;
	}
	for (int i = 0; i < n; i++)
		memmap[i] =
		    (struct hvm_memmap_table_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	si.memmap_entries = (uint32_t)n;
	if (req->initrd) {
		si.nr_modules = 1;
		si.modlist_paddr = LAYOUT_BOOT_INFO + BOOT_PVH_MODLIST_OFFSET;
	}
	if (guest_mem_write(req->gm, LAYOUT_BOOT_INFO, &si, sizeof(si)) ||
	    (req->initrd && guest_mem_write(req->gm, si.modlist_paddr, &mod, sizeof(mod))) ||
	    guest_mem_write(req->gm, si.memmap_paddr, memmap, (size_t)n * sizeof(memmap[0]))) {
		log_error("kernel %s: guest RAM does not cover the start info at 0x%llx",
			  req->kernel_name, LAYOUT_BOOT_INFO);
		return -ENOMEM;
	}
	return 0;
}

int boot_pvh_load(const struct boot_request *req, struct boot_entry *entry)
{
	struct boot_elf elf;
	const char *why;
	uint64_t rip, image_end, low_end, initrd_gpa = 0;
	int ret;

	ret = boot_elf_parse(&elf, req->kernel, req->kernel_size, &why);
	if (ret) {
		log_error("kernel %s: %s", req->kernel_name, why);
		return ret;
	}
	if (elf.machine != EM_X86_64 && elf.machine != EM_386) {
		log_error("kernel %s: ELF machine %u is not x86", req->kernel_name, elf.machine);
		return -ENOEXEC;
	}
	if (boot_pvh_entry(&elf, &rip)) {
		log_error("kernel %s: ELF file has no valid PVH entry note", req->kernel_name);
		return -ENOEXEC;
	}
	/* The PVH entry runs with paging off: everything must be reachable with 32-bit addresses.
	 * Linux never links below 1 MiB, where kvmbox keeps its boot data. */
	ret = boot_elf_load(&elf, req->gm, req->kernel_name, &boot_pvh_limits, &image_end);
	if (ret)
		return ret;
	if (!boot_elf_paddr_loaded(&elf, rip)) {
		log_error("kernel %s: PVH entry 0x%" PRIx64 " is not inside the loaded kernel",
			  req->kernel_name, rip);
		return -ENOEXEC;
	}
	ret = boot_write_cmdline(req, LAYOUT_CMDLINE_MAX - 1);
	if (ret)
		return ret;
	low_end = boot_low_ram_end(req->gm);
	if (req->initrd && boot_place_initrd(req, image_end, low_end, &initrd_gpa)) {
		log_error("initrd %s: %zu bytes do not fit in guest RAM between the kernel's end "
			  "0x%" PRIx64 " and 0x%" PRIx64 ": give the guest more memory",
			  req->initrd_name, req->initrd_size, image_end, low_end);
		return -ENOMEM;
	}
	ret = boot_pvh_start_info(req, initrd_gpa);
	if (ret)
		return ret;
	entry->mode = BOOT_MODE_PVH;
	entry->rip = rip;
	entry->rbx = LAYOUT_BOOT_INFO;
	entry->format = "ELF vmlinux (PVH)";
	return 0;
}
