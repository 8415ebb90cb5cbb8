/*
 * Completing a mis-delivered SYSCALL on kvm_pvm, the KVM side (issue 9; the frame checks are
 * syscall_complete.c, the mechanism docs/kvm-host-notes.md "Completing SYSCALL in the VMM"):
 * a hardware breakpoint (DR0, KVM_SET_GUEST_DEBUG) on the guest's #PF handler; at each hit the
 * fault frame decides between completing the SYSCALL and letting the fault through (stepping over
 * the handler's first instruction, as this host ignores RFLAGS.RF). Registers travel through
 * kvm_run (KVM_CAP_SYNC_REGS): a vCPU ioctl costs ~10 us here. Off unless --syscall-completion on,
 * and never together with a gdb stub (the debug registers are this one's then).
 *
 * Linux's IDT is one for all CPUs, and an AP can run user code without a single exit to kvmbox:
 * so whichever vCPU finds the handler publishes it (syscall_kvm_shared), kicks the others out of
 * KVM_RUN, and every vCPU arms the published handler before it enters KVM_RUN again.
 */
#ifndef KVMBOX_X86_SYSCALL_KVM_H
#define KVMBOX_X86_SYSCALL_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct guest_mem;

#define SYSCALL_KVM_POLL_NS 100000000ull /* the IDT looked at again every 100 ms, per vCPU */

/* The VM's: the handler every vCPU arms, and its generation (atomics). */
struct syscall_kvm_shared {
	uint64_t handler;
	unsigned gen;
};

struct syscall_kvm {
	bool on;	  /* this vCPU completes SYSCALLs */
	unsigned gen;	  /* the shared generation armed (0: none) */
	uint64_t handler; /* armed on this (0: not armed) */
	uint64_t lstar, star, sfmask;
	uint64_t next_poll_ns;
	uint64_t completed, passed; /* SYSCALLs completed, ordinary faults let through */
	bool warned;
};

/* The sync-register bits this needs in kvm_run->kvm_valid_regs (and KVM_CAP_SYNC_REGS). */
#define SYSCALL_KVM_SYNC (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)

/*
 * Look for the guest's #PF handler (rate-limited: every SYSCALL_KVM_POLL_NS) in sregs (kvm_run's
 * after an exit, or KVM_GET_SREGS's before the first KVM_RUN): 64-bit paging, LSTAR set to a
 * kernel address (the kernel's syscall_init runs after its final #PF gate is in: no early
 * handler), gate 14 a kernel address whose first instruction can be stepped over. A handler other
 * than the published one is published: true, and the caller kicks the other vCPUs.
 */
bool syscall_kvm_poll(struct syscall_kvm *s, struct syscall_kvm_shared *sh, int vcpu_fd,
		      const struct kvm_sregs *sregs, const struct guest_mem *gm, uint64_t now_ns);

/* Before each KVM_RUN: arm the published handler if this vCPU has not yet (one ioctl). */
void syscall_kvm_sync(struct syscall_kvm *s, struct syscall_kvm_shared *sh, int vcpu_fd);

/*
 * A KVM_EXIT_DEBUG: true when it was the armed breakpoint, then handled (run->s.regs.regs changed
 * and marked dirty for the next KVM_RUN). false: not this one's.
 */
bool syscall_kvm_debug(struct syscall_kvm *s, int vcpu_fd, struct kvm_run *run,
		       const struct guest_mem *gm);

#endif
