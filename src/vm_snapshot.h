/*
 * A paused VM into snapshot files, and a snapshot's state back into a VM that vm_create built
 * from the snapshot's configuration and memory file. What is saved and in which order it goes
 * back is in vm_snapshot.c; the file formats are in docs/snapshot-format.md.
 */
#ifndef KVMBOX_VM_SNAPSHOT_H
#define KVMBOX_VM_SNAPSHOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm.h"
#include "snapshot/file.h"
#include "snapshot/mem.h"

struct vm;
struct snapshot_image;

/* The host facts a snapshot depends on (snapshot_host_check compares two of them). */
int vm_snapshot_host(const struct kvm *kvm, const struct kvm_cpuid2 *supported, unsigned ncpus,
		     struct snapshot_host *h) __attribute__((warn_unused_result));

/* KVM's backend name ("kvm_intel", ...) as the state file's number for it (0: unknown). */
uint32_t vm_snapshot_backend_id(const char *backend);

/*
 * Save a paused VM: guest RAM to mem_path (Full: every page; Diff: the pages written since the
 * last snapshot, into the Full file mem_path already holds), then the state file at state_path
 * (config: the JSON document a restore rebuilds the VM from). The state file is written last
 * and atomically: it is what makes the pair a snapshot. stats may be NULL.
 */
int vm_snapshot_save(struct vm *vm, const char *config, const char *state_path,
		     const char *mem_path, bool diff, struct snapshot_mem_stats *stats, char *err,
		     size_t errlen) __attribute__((warn_unused_result));

/*
 * Put image's state into vm (built by vm_create with the snapshot's memory file, not started):
 * the TSC frequency (saved->tsc_khz), the VM-wide KVM state, the devices, then each vCPU. On
 * failure the VM must be discarded.
 */
int vm_snapshot_restore(struct vm *vm, const struct snapshot_host *saved,
			const struct snapshot_image *image, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
