/*
 * Completing a mis-delivered SYSCALL on restricted KVM backends (kvm_pvm; docs/kvm-host-notes.md,
 * "Completing SYSCALL in the VMM"): there the guest's SYSCALL loads RIP = LSTAR, RCX, R11 and the
 * masked RFLAGS but stays at CPL 3, so fetching LSTAR raises a user-mode #PF into the guest's IDT.
 * A hardware breakpoint on the #PF handler stops the vCPU before its first instruction, with the
 * fault frame on the kernel stack; this decides, from that frame alone, whether it is such a
 * SYSCALL (then the VMM completes it) or an ordinary fault (then the handler runs as usual), and
 * must never let user code gain anything it could not get from a real SYSCALL. No KVM inside.
 */
#ifndef KVMBOX_X86_SYSCALL_COMPLETE_H
#define KVMBOX_X86_SYSCALL_COMPLETE_H

#include <stdbool.h>
#include <stdint.h>

/* The hardware's #PF frame, as pushed on the handler's stack (lowest address first). */
struct syscall_complete_frame {
	uint64_t error, rip, cs, rflags, rsp, ss;
};

/* The vCPU at the breakpoint, and the MSRs that define SYSCALL. */
struct syscall_complete_state {
	struct syscall_complete_frame frame;
	uint64_t cr2, rcx, r11;
	uint64_t lstar, star, sfmask; /* IA32_LSTAR, IA32_STAR, IA32_FMASK */
};

/* What the VMM sets to complete the SYSCALL: the state its entry point expects at CPL 0. */
struct syscall_complete_entry {
	uint64_t rip, rsp, rflags;
	uint16_t cs, ss; /* STAR[47:32] and STAR[47:32] + 8 */
};

/*
 * True, with *entry filled, when the frame is the one a mis-delivered SYSCALL leaves: a user-mode
 * instruction fetch (error P|U|I) at LSTAR = CR2 = the frame's RIP, from the user code segment,
 * with RFLAGS = (R11 & ~FMASK) | 2, in particular IF clear, which no CPL 3 code can produce in
 * its own RFLAGS (so a user jump to LSTAR, or any forged frame, is an ordinary fault).
 */
bool syscall_complete_check(const struct syscall_complete_state *s,
			    struct syscall_complete_entry *entry);

/* A canonical upper-half (kernel) address, for 48- or 57-bit linear addresses. */
bool syscall_complete_kernel_address(uint64_t va);

struct emu_mmu;

/*
 * Where the guest's #PF handler is: gate 14 of the IDT at idt_base (a kernel virtual address,
 * read through the guest's page tables as the CPU would, supervisor and implicit). 0 with
 * *handler, -ENOENT when the gate is not a present 64-bit interrupt or trap gate (the guest has
 * not installed its IDT yet), or what the page walk answers (-EFAULT, EMU_MEM_FAULT).
 */
int syscall_complete_handler(const struct emu_mmu *mmu, uint64_t idt_base, uint16_t idt_limit,
			     uint64_t *handler) __attribute__((warn_unused_result));

/*
 * The length of the handler's first instruction if the VMM may step over it when resuming an
 * ordinary fault (the breakpoint re-fires on an unmoved RIP on this host): only instructions
 * with no effect (NOP, ENDBR64, multi-byte NOP). 0 if it is anything else.
 */
unsigned syscall_complete_skip_len(const uint8_t *bytes, unsigned n);

#endif
