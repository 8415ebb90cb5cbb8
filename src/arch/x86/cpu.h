/* x86 vCPU state at reset and boot: CPUID, MSRs, LAPIC wiring, segments, page tables. */
#ifndef KVMBOX_X86_CPU_H
#define KVMBOX_X86_CPU_H

#include <linux/kvm.h>

#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "guest_mem.h"

/* Identity page tables (4 GiB, 2 MiB pages) and the boot GDT, written once per VM. */
int cpu_write_boot_tables(const struct guest_mem *gm) __attribute__((warn_unused_result));

/* Every vCPU: CPUID (from the supported table), boot MSRs, FPU defaults, LAPIC LINT0/LINT1. */
int cpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index, unsigned ncpus,
	     enum cpuid_template t) __attribute__((warn_unused_result));

/* The boot vCPU: registers and segments for the loaded kernel's entry convention. */
int cpu_set_boot_state(int vcpu_fd, const struct boot_entry *entry)
    __attribute__((warn_unused_result));

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table (caller frees). */
struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd);

/* Print the registers of a stopped vCPU to the log (triple fault, unhandled exits). */
void cpu_dump(int vcpu_fd);

#endif
