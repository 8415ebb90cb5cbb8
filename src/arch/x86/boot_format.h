/* The interface between boot.c (detection, shared placement helpers) and the format loaders. */
#ifndef KVMBOX_X86_BOOT_FORMAT_H
#define KVMBOX_X86_BOOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "guest_mem.h"

#define BOOT_PAGE_SIZE 0x1000ull

/* One boot request with every input resolved: the loaders never touch the filesystem. */
struct boot_request {
	const struct guest_mem *gm;
	const uint8_t *kernel;
	size_t kernel_size;
	const char *kernel_name;
	const uint8_t *initrd; /* NULL = no initrd */
	size_t initrd_size;
	const char *initrd_name;
	const char *cmdline;	   /* never NULL */
	const char *linux_cmdline; /* boot_config.linux_cmdline */
	uint64_t rsdp_gpa;
};

/*
 * Write req->cmdline NUL-terminated at LAYOUT_CMDLINE. max_len is the format's own limit on the
 * length without the NUL (capped further by LAYOUT_CMDLINE_MAX). -EINVAL (logged) if too long.
 */
int boot_write_cmdline(const struct boot_request *req, uint64_t max_len)
    __attribute__((warn_unused_result));

/*
 * Copy the initrd page-aligned to the highest guest RAM address such that it lies entirely within
 * [min_gpa, max_end). Returns 0 and its address in *gpa, or -ENOMEM (not logged: callers may retry
 * elsewhere).
 */
int boot_place_initrd(const struct boot_request *req, uint64_t min_gpa, uint64_t max_end,
		      uint64_t *gpa) __attribute__((warn_unused_result));

/* A guest-physical range [start, end) that kvmbox writes or reserves at boot. */
struct boot_range {
	uint64_t start, end;
	const char *what; /* ends "overlaps ... at [start, end)": "the GDT kvmbox writes" */
};

/* The first of the n ranges that [start, end) overlaps, or NULL (also for an empty range). */
const struct boot_range *boot_range_overlap(const struct boot_range *r, size_t n, uint64_t start,
					    uint64_t end);

/* End of the RAM region holding LAYOUT_HIMEM (the contiguous RAM a 32-bit guest starts with). */
uint64_t boot_low_ram_end(const struct guest_mem *gm);

static inline uint64_t boot_align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Cheap content checks used for format detection (the loaders validate fully). */
bool boot_bzimage_probe(const struct boot_request *req);
bool boot_pvh_probe(const struct boot_request *req);
bool boot_multiboot_probe(const struct boot_request *req);

/* The format loaders; each logs its own errors naming req->kernel_name. */
int boot_bzimage_load(const struct boot_request *req, struct boot_entry *entry)
    __attribute__((warn_unused_result));
int boot_pvh_load(const struct boot_request *req, struct boot_entry *entry)
    __attribute__((warn_unused_result));
int boot_multiboot_load(const struct boot_request *req, struct boot_entry *entry)
    __attribute__((warn_unused_result));

#endif
