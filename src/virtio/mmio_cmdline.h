/* virtio-mmio devices announced on a Linux kernel command line (virtio_mmio.device=...). */
#ifndef KVMBOX_VIRTIO_MMIO_CMDLINE_H
#define KVMBOX_VIRTIO_MMIO_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

/*
 * What Linux keeps of a command line on x86: COMMAND_LINE_SIZE (2048) with the NUL. A bzImage's
 * setup header says its own limit (cmdline_size); use that when there is one.
 */
#define MMIO_CMDLINE_LINUX_MAX 2047

struct mmio_cmdline_dev {
	uint64_t base;
	uint64_t size; /* > 0 */
	unsigned gsi;  /* > 0: Linux rejects IRQ 0 */
};

/*
 * *out = cmdline (NULL = empty) followed by " virtio_mmio.device=<size>@<base>:<gsi>" for each
 * device, in order, in the form drivers/virtio/virtio_mmio.c parses: size in decimal with the
 * largest of the K/M/G/T suffixes that divides it, base in hex with 0x, the GSI in decimal (e.g.
 * "4K@0xd0000000:20"). No leading space when cmdline is empty. The caller frees *out.
 * Returns 0, -EINVAL (a size or GSI of 0, base + size past 2^64), -E2BIG (the result would be
 * longer than max_len bytes, not counting the NUL) or -ENOMEM; *out is untouched on error.
 */
int mmio_cmdline_append(const char *cmdline, const struct mmio_cmdline_dev *devs, unsigned ndevs,
			size_t max_len, char **out) __attribute__((warn_unused_result));

#endif
