/*
 * A whole VM's snapshot state, as the state file holds it: the configuration (the same JSON
 * document GET /vm/config and --config-file use, so a restore rebuilds the VM through the
 * API's own checks), the VM-wide in-kernel state, every vCPU's state, then the devices' state
 * (bus_save's output for the PIO bus, then the MMIO bus). Guest RAM is in the memory file.
 */
#ifndef KVMBOX_X86_SNAPSHOT_IMAGE_H
#define KVMBOX_X86_SNAPSHOT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/vm_state.h"
#include "snapshot/file.h"

#define SNAPSHOT_IMAGE_MAX_CONFIG (1u << 20)

struct snapshot_image {
	char *config; /* JSON, NUL-terminated */
	struct vm_state vm;
	unsigned ncpus;
	struct cpu_state *cpus; /* ncpus of them */
	uint8_t *devices;	/* the device sections, for bus_load */
	size_t devices_len;
};

/* Write the state file (atomically) for image, taken on host. */
int snapshot_image_write(const char *path, const struct snapshot_host *host,
			 const struct snapshot_image *image, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Read and check path: the file's header (snapshot_file_read), then each part; *image owns
 * allocations afterwards (snapshot_image_free). *host gets the header's host facts.
 */
int snapshot_image_read(const char *path, struct snapshot_host *host, struct snapshot_image *image,
			char *err, size_t errlen) __attribute__((warn_unused_result));

/* The payload part of that, from memory (a file's checked payload; fuzzed). */
int snapshot_image_parse(const uint8_t *payload, size_t len, const struct snapshot_host *host,
			 struct snapshot_image *image, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void snapshot_image_free(struct snapshot_image *image);

#endif
