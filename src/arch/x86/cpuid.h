/* CPUID for guests: per-vCPU topology, hypervisor leaves, and the host profile for restricted
 * backends. */
#ifndef KVMBOX_X86_CPUID_H
#define KVMBOX_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

enum cpuid_template {
	CPUID_TEMPLATE_HOST, /* pass the host's features through (VMX/SVM hosts) */
	CPUID_TEMPLATE_PVM,  /* restricted software backend (kvm_pvm): hide what it cannot run */
};

/* "auto" picks PVM when the backend is restricted. -EINVAL for an unknown name. */
int cpuid_template_parse(const char *name, bool restricted_backend, enum cpuid_template *out)
    __attribute__((warn_unused_result));
const char *cpuid_template_name(enum cpuid_template t);

/*
 * Rewrite a copy of KVM_GET_SUPPORTED_CPUID for vCPU `index` of `ncpus`: APIC IDs and topology
 * (leaves 1, 4, 0xb, 0x1f), the hypervisor bit, the KVM signature leaf, and the template's masks.
 * Pure: no ioctls, so it is unit-tested on canned tables.
 */
void cpuid_apply(struct kvm_cpuid2 *cpuid, unsigned index, unsigned ncpus, enum cpuid_template t);

/* Options a Linux guest needs on this template's backend (NULL when none). */
const char *cpuid_linux_cmdline_extra(enum cpuid_template t);

/*
 * Append to user's command line each option of extra whose key the user has not given already,
 * so the user can override any of them. Returns a malloc'd string or NULL on allocation failure.
 */
char *cpuid_cmdline_merge(const char *user, const char *extra);

#endif
