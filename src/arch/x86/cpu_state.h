/*
 * A vCPU's whole architectural state, as snapshot/restore needs it: every vCPU-state ioctl KVM
 * offers on x86. cpu_state_get/set talk to KVM (in the order restore requires, see cpu_state.c);
 * cpu_state_save/load turn it into a state section and back, checking every length and count
 * (a snapshot file is hostile input; what KVM itself rejects fails the restore at SET time).
 */
#ifndef KVMBOX_X86_CPU_STATE_H
#define KVMBOX_X86_CPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/state.h"

#define CPU_STATE_MAX_MSRS 512
#define CPU_STATE_MAX_CPUID 256

struct cpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	/* A PAE guest's PDPTRs as the CPU holds them (KVM_GET_SREGS2), which can differ from what
	 * the page at CR3 says now; pdptrs_valid false without PAE paging or without SREGS2. */
	bool pdptrs_valid;
	uint64_t pdptrs[4];
	struct kvm_xsave xsave; /* 4 KiB: kvmbox never grants AMX, so XSAVE2's extra is unused */
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[CPU_STATE_MAX_MSRS];
	uint32_t ncpuid;
	struct kvm_cpuid_entry2 cpuid[CPU_STATE_MAX_CPUID];
};

/*
 * The MSRs a snapshot saves: KVM_GET_MSR_INDEX_LIST (system fd) into list[max], ordered for
 * restore (IA32_TSC first, IA32_TSC_DEADLINE last). Returns the count or -errno.
 */
int cpu_state_msr_list(int kvm_fd, uint32_t *list, unsigned max)
    __attribute__((warn_unused_result));

/* Read all of it from a vCPU that is not running (paused). */
int cpu_state_get(int vcpu_fd, const uint32_t *msr_list, unsigned nmsrs, struct cpu_state *s)
    __attribute__((warn_unused_result));

/* Put it into a new vCPU before its first KVM_RUN. -EINVAL when KVM refused an MSR: *bad_msr
 * names it (when bad_msr is given). */
int cpu_state_set(int vcpu_fd, const struct cpu_state *s, uint32_t *bad_msr)
    __attribute__((warn_unused_result));

/*
 * Whether this host can run s's vCPU: every CPU feature the saved CPUID gives the guest (leaves 1,
 * 7, 0xd.1, 0x80000001, 0x80000008) is in here, the CPUID this host's KVM would give a new vCPU of
 * the same template. A guest that saw a feature uses it without asking again: restored where it
 * is missing, it would fault. -EINVAL with the leaf, register and bits in err.
 */
int cpu_state_cpuid_check(const struct cpu_state *s, const struct kvm_cpuid2 *here, char *err,
			  size_t errlen) __attribute__((warn_unused_result));

void cpu_state_save(const struct cpu_state *s, struct state_writer *w);
/* 0, or -EINVAL (reader failed, *s unspecified). */
int cpu_state_load(struct state_reader *r, struct cpu_state *s) __attribute__((warn_unused_result));

#endif
