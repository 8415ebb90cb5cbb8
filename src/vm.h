/* struct vm: one guest — its KVM fd, memory, buses, vCPUs and platform — and its lifecycle. */
#ifndef KVMBOX_VM_H
#define KVMBOX_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "bus.h"
#include "config.h"
#include "guest_mem.h"
#include "arch/x86/emu_smp.h"
#include "dev/ioapic.h"
#include "kvm.h"
#include "vcpu.h"

/* kvmbox's exit statuses (documented in --help and the README). */
enum vm_exit_status {
	VM_EXIT_POWEROFF = 0,
	VM_EXIT_BAD_INPUT = 2,
	VM_EXIT_REBOOT = 4,
	VM_EXIT_TRIPLE_FAULT = 6,
	VM_EXIT_INTERNAL =
	    8, /* unhandled guest exit or instruction KVM and kvmbox cannot emulate */
	VM_EXIT_HOST_ERROR = 10, /* a KVM or host call failed */
};

struct vcpu;
struct platform;
struct devices;

struct vm {
	struct kvm *kvm; /* NULL under --accel emu */
	const struct vm_config *cfg;
	int fd;	  /* the KVM VM; -1 under --accel emu */
	bool emu; /* --accel emu: the emulator runs the vCPUs, no KVM at all */
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct kvm_cpuid2 *cpuid; /* what KVM supports; each vCPU gets a rewritten copy */
	enum cpuid_template cpu_template;
	char *cmdline; /* the command line the guest gets */
	struct boot_entry entry;
	struct platform *platform;
	struct devices *devices;
	struct vcpu *vcpus;
	struct vcpu_ctx vcpu_ctx; /* what the vCPUs see of this VM */
	struct emu_smp smp;	  /* --accel emu: the emulated CPUs' machine */
	struct ioapic ioapic;	  /* --accel emu: its I/O APIC (under KVM, KVM's) */
	unsigned ncpus;
	unsigned started; /* vCPU threads running */

	bool input_error; /* vm_create failed because of the user's input (exit status 2) */
	int stop_fd;	  /* eventfd: becomes readable when the VM stops */
	int stopping;	  /* atomic: first vm_stop wins */
	int exit_status;
	uint64_t start_ns;
	bool paused;   /* vm_pause succeeded; main thread only */
	bool restored; /* built from a snapshot (vm_create's restore), not booted */
	struct syscall_kvm_shared syscall; /* --syscall-completion: the published #PF handler */
	/* The last snapshot this VM took or was restored from (0: none): the base a Diff needs. */
	uint64_t snapshot_id;
};

/* What vm_create restores from: the memory file of snapshot id. */
struct vm_restore {
	const char *mem_path;
	uint64_t id;
};

/*
 * Build the whole VM, in order; on failure everything built so far is undone. restore: NULL to
 * boot cfg's kernel; else a snapshot's memory file is mapped as guest RAM and neither kernel nor
 * boot state is loaded (vm_snapshot_restore puts the saved state in). kvm: NULL with
 * cfg->accel_emu (the emulator runs the vCPU; no restore then).
 */
int vm_create(struct vm *vm, struct kvm *kvm, const struct vm_config *cfg,
	      const struct vm_restore *restore) __attribute__((warn_unused_result));
/* Start one thread per vCPU. */
int vm_start(struct vm *vm) __attribute__((warn_unused_result));
/* The same, but the VM is paused (as after vm_pause) before any vCPU enters KVM_RUN. */
int vm_start_paused(struct vm *vm) __attribute__((warn_unused_result));
/* Ask every vCPU to stop; the first status given is the one kvmbox exits with. Any thread. */
void vm_stop(struct vm *vm, int status);
bool vm_stopping(const struct vm *vm);
/*
 * Pause: park every vCPU (out of KVM_RUN, pending I/O completed, kvmclock told), then quiesce
 * the devices (in-flight disk requests complete, I/O threads parked: nothing writes guest
 * memory). Resume undoes it. Main thread only; a vm_stop from any thread meanwhile wins:
 * -ESHUTDOWN, and the VM is left to stop.
 */
int vm_pause(struct vm *vm) __attribute__((warn_unused_result));
int vm_resume(struct vm *vm) __attribute__((warn_unused_result));
/*
 * Call fn on each started vCPU, in order, while none is inside KVM_RUN: the VM's own pause if it
 * is paused, else a park of the vCPUs alone (devices keep running) lifted before returning. Stops
 * at fn's first non-zero return and returns it; -ESHUTDOWN if the VM is stopping. Main thread.
 */
int vm_with_vcpus_parked(struct vm *vm, int (*fn)(struct vcpu *vcpu, void *arg), void *arg)
    __attribute__((warn_unused_result));
/* Park every started vCPU for reason (VCPU_PARK_*) and wait; -ESHUTDOWN (reason lifted again)
 * when one stopped instead. Unpark lifts only that reason. Main thread. */
int vm_park_vcpus(struct vm *vm, unsigned reason) __attribute__((warn_unused_result));
void vm_unpark_vcpus(struct vm *vm, unsigned reason);
/* Wait for the vCPU threads to finish (after vm_stop). */
void vm_join(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Assert or deassert an interrupt line (GSI) through the in-kernel irqchip. */
void vm_irq_line(void *vm, unsigned gsi, int level);

/* Host monotonic clock in nanoseconds. */
uint64_t vm_now_ns(void);

#endif
