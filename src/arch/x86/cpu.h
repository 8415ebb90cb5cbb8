/* x86 vCPU state at reset and boot: CPUID, MSRs, LAPIC wiring, segments, page tables. */
#ifndef KVMBOX_X86_CPU_H
#define KVMBOX_X86_CPU_H

#include <linux/kvm.h>

#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/regs.h"
#include "guest_mem.h"

/*
 * The boot GDT and, for BOOT_MODE_LINUX64 (the only mode entered with paging on), the identity
 * page tables (4 GiB, 2 MiB pages); written once per VM, after the kernel is loaded. The other
 * modes leave [LAYOUT_PML4, LAYOUT_PD + 4 pages) to the kernel: multiboot ones may load there.
 */
int cpu_write_boot_tables(const struct guest_mem *gm, enum boot_mode mode)
    __attribute__((warn_unused_result));

/* Every vCPU: CPUID (from the supported table), boot MSRs, FPU defaults, LAPIC LINT0/LINT1. */
int cpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index, unsigned ncpus,
	     enum cpuid_template t) __attribute__((warn_unused_result));

/* The boot vCPU: registers and segments for the loaded kernel's entry convention. */
int cpu_set_boot_state(int vcpu_fd, const struct boot_entry *entry)
    __attribute__((warn_unused_result));
/* The same boot state as a register file, without KVM (--accel emu): x87/SSE at reset values. */
void cpu_boot_regs(const struct boot_entry *entry, struct x86_regs *r);

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table (caller frees). */
struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd);

/* KVM's segment register in the register file's form. */
void cpu_seg_from_kvm(struct emu_seg *d, const struct kvm_segment *s);
void cpu_seg_to_kvm(struct kvm_segment *d, const struct emu_seg *s);

/* Every register, debug register, pending event and the run state of a vCPU that is not inside
 * KVM_RUN (parked, or the calling vCPU thread itself). -errno on failure. */
int cpu_read_regs(int vcpu_fd, struct x86_regs *r) __attribute__((warn_unused_result));

/* Write back what a debugger may change: general registers, RIP, RFLAGS, the FS and GS bases and
 * the x87/SSE state (selectors, control registers and events stay as they are). */
int cpu_write_regs(int vcpu_fd, const struct x86_regs *r) __attribute__((warn_unused_result));

/* A debugger's hold on a vCPU (KVM_SET_GUEST_DEBUG); enable false gives the vCPU back. */
struct x86_guest_debug {
	bool enable, sw_bp, single_step, block_irq;
	uint64_t dr[4],
	    dr7; /* hardware breakpoints and watchpoints when dr7's enable bits are set */
};
int cpu_set_guest_debug(int vcpu_fd, const struct x86_guest_debug *d)
    __attribute__((warn_unused_result));

/* The guest's own int3 that a debugger's KVM_GUESTDBG_USE_SW_BP intercepted (KVM_EXIT_DEBUG,
 * exception 3, RIP at the int3): deliver it to the guest as the CPU would have (VMX/SVM). */
int cpu_reinject_bp(int vcpu_fd) __attribute__((warn_unused_result));

/* Queue an NMI (KVM_NMI) on a vCPU that is not inside KVM_RUN. -errno on failure. */
int cpu_nmi(int vcpu_fd) __attribute__((warn_unused_result));

#endif
