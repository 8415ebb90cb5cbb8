/*
 * Completing a mis-delivered SYSCALL on kvm_pvm, the KVM side (issue 9; the frame checks are
 * syscall_complete.c, the mechanism docs/kvm-host-notes.md "Completing SYSCALL in the VMM"):
 * a hardware breakpoint (DR0, KVM_SET_GUEST_DEBUG) on the guest's #PF handler, kept on the handler
 * of the IDT the vCPU uses now; at each hit the fault frame decides between completing the SYSCALL
 * and letting the fault through (stepping over the handler's first instruction, as this host
 * ignores RFLAGS.RF). Registers travel through kvm_run (KVM_CAP_SYNC_REGS): a vCPU ioctl costs
 * ~10 us here. Runs on the vCPU's own thread. Off unless --syscall-completion on.
 */
#ifndef KVMBOX_X86_SYSCALL_KVM_H
#define KVMBOX_X86_SYSCALL_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct guest_mem;

#define SYSCALL_KVM_POLL_NS 100000000ull /* IDT and MSRs looked at again every 100 ms */

struct syscall_kvm {
	bool on;    /* this vCPU completes SYSCALLs */
	bool armed; /* DR0 is on handler */
	uint64_t handler;
	uint64_t lstar, star, sfmask; /* read at each look (Linux sets them after its IDT) */
	uint64_t next_poll_ns;
	uint64_t completed, passed; /* SYSCALLs completed, ordinary faults let through */
};

/* The sync-register bits this needs in kvm_run->kvm_valid_regs (and KVM_CAP_SYNC_REGS). */
#define SYSCALL_KVM_SYNC (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)

/*
 * After an exit, with run->s.regs valid: every SYSCALL_KVM_POLL_NS, find the #PF handler of the
 * IDT the vCPU uses now (64-bit guests) and (re)arm DR0 on it. debugger: a gdb stub owns the
 * vCPU's debug registers now, so nothing is armed (it is re-armed once the stub is gone).
 */
void syscall_kvm_poll(struct syscall_kvm *s, int vcpu_fd, struct kvm_run *run,
		      const struct guest_mem *gm, bool debugger, uint64_t now_ns);

/*
 * A KVM_EXIT_DEBUG: true when it was the armed breakpoint, then handled (run->s.regs.regs changed
 * and marked dirty for the next KVM_RUN). false: not this one's.
 */
bool syscall_kvm_debug(struct syscall_kvm *s, int vcpu_fd, struct kvm_run *run,
		       const struct guest_mem *gm);

#endif
