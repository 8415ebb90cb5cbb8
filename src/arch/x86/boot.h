/* x86 kernel loading without firmware: bzImage (64-bit entry), PVH ELF and Multiboot v1. */
#ifndef KVMBOX_X86_BOOT_H
#define KVMBOX_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

/*
 * How the boot vCPU must be set up before jumping to entry->rip:
 * LINUX64:   64-bit long mode, identity-mapped paging, flat segments, RSI = boot_params.
 * PVH:       32-bit protected mode, paging off, flat segments, EBX = hvm_start_info.
 * MULTIBOOT: 32-bit protected mode, paging off, flat segments, EAX = 0x2BADB002, EBX = info.
 */
enum boot_mode { BOOT_MODE_LINUX64, BOOT_MODE_PVH, BOOT_MODE_MULTIBOOT };

struct boot_config {
	const char *kernel_path;
	const char *initrd_path; /* may be NULL */
	const char *cmdline;	 /* NULL = empty */
	uint64_t rsdp_gpa;	 /* 0 = none */
	/* For Linux kernels (bzImage, PVH) only: replaces cmdline when set, e.g. with the
	 * options a restricted KVM backend needs. Multiboot kernels always get cmdline. */
	const char *linux_cmdline;
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi;	    /* LINUX64: boot_params */
	uint64_t rbx;	    /* PVH: start_info, MULTIBOOT: mb info */
	uint64_t rax;	    /* MULTIBOOT magic 0x2BADB002 */
	const char *format; /* "bzImage", "ELF vmlinux (PVH)", "multiboot ELF32", ... for logs */
};

/*
 * Read cfg->kernel_path (and initrd), detect the format from the contents, load it into guest RAM
 * with the command line, initrd and memory map, and fill *entry. On error logs one line naming the
 * file and the problem and returns -ENOENT/-EACCES/... (file), -ENOEXEC (not a kernel we can boot),
 * -ENOMEM (guest RAM too small) or -EINVAL (command line too long).
 */
int boot_load(const struct guest_mem *gm, const struct boot_config *cfg, struct boot_entry *entry)
    __attribute__((warn_unused_result));

/*
 * Same, from file contents already in memory (fuzzers and tests use this to avoid the
 * filesystem). cfg->kernel_path and cfg->initrd_path only name the images in messages; the initrd
 * is present iff initrd != NULL.
 */
int boot_load_buffer(const struct guest_mem *gm, const struct boot_config *cfg, const void *kernel,
		     size_t kernel_size, const void *initrd, size_t initrd_size,
		     struct boot_entry *entry) __attribute__((warn_unused_result));

#endif
