/* Whole-vCPU state for snapshots: KVM in and out, in the order restore requires; serialization. */
#include "arch/x86/cpu_state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define CPU_STATE_TAG STATE_TAG('V', 'C', 'P', 'U')
#define CPU_STATE_VERSION 1
#define CPU_STATE_MSR_TSC 0x10
#define CPU_STATE_MSR_TSC_DEADLINE 0x6e0

/*
 * MSRs KVM emulates but leaves out of KVM_GET_MSR_INDEX_LIST, which other VMMs learned to add
 * (QEMU saves them; Firecracker and cloud-hypervisor fixed their absence after guests broke):
 * PAT, and the MTRRs, whose default type kvmbox sets at boot (without it Linux maps RAM uncached).
 * The default type goes last, after the ranges it enables.
 */
static const uint32_t cpu_state_extra_msrs[] = {
	0x277,							/* IA32_PAT */
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207, /* MTRRphysBase/Mask 0-3 */
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f, /* 4-7 (KVM has 8) */
	0x250, 0x258, 0x259,					/* MTRRfix64K, 16K x2 */
	0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f, /* MTRRfix4K */
	0x2ff,							/* MTRRdefType */
};

static bool cpu_state_has(const uint32_t *list, unsigned n, uint32_t index)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == index)
			return true;
	return false;
}

int cpu_state_msr_list(int kvm_fd, uint32_t *list, unsigned max)
{
	struct {
		struct kvm_msr_list l;
		uint32_t idx[CPU_STATE_MAX_MSRS];
	} m = { .l.nmsrs = CPU_STATE_MAX_MSRS };
	unsigned n = 0;
	bool tsc = false, deadline = false;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &m.l) < 0)
		return -errno;
	/*
	 * IA32_TSC goes back before anything derived from it and IA32_TSC_DEADLINE after it (and
	 * after the LAPIC, see cpu_state_set): a deadline restored against the wrong TSC fires at
	 * the wrong time, or never, and the guest's timer hangs.
	 */
	for (unsigned i = 0; i < m.l.nmsrs && i < CPU_STATE_MAX_MSRS; i++) {
		tsc |= m.idx[i] == CPU_STATE_MSR_TSC;
		deadline |= m.idx[i] == CPU_STATE_MSR_TSC_DEADLINE;
	}
	if (tsc && n < max)
		list[n++] = CPU_STATE_MSR_TSC;
	for (unsigned i = 0; i < m.l.nmsrs && i < CPU_STATE_MAX_MSRS && n < max; i++)
		if (m.idx[i] != CPU_STATE_MSR_TSC && m.idx[i] != CPU_STATE_MSR_TSC_DEADLINE &&
		    !cpu_state_has(cpu_state_extra_msrs,
				   sizeof(cpu_state_extra_msrs) / sizeof(cpu_state_extra_msrs[0]),
				   m.idx[i]))
			list[n++] = m.idx[i];
	for (size_t i = 0;
	     i < sizeof(cpu_state_extra_msrs) / sizeof(cpu_state_extra_msrs[0]) && n < max; i++)
		list[n++] = cpu_state_extra_msrs[i];
	if (deadline && n < max)
		list[n++] = CPU_STATE_MSR_TSC_DEADLINE;
	return (int)n;
}

int cpu_state_get(int vcpu_fd, const uint32_t *msr_list, unsigned nmsrs, struct cpu_state *s)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e[CPU_STATE_MAX_MSRS];
	} msrs;
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[CPU_STATE_MAX_CPUID];
	} cpuid = { .c.nent = CPU_STATE_MAX_CPUID };
	int n;

	memset(s, 0, sizeof(*s));
	if (nmsrs > CPU_STATE_MAX_MSRS)
		return -E2BIG;
	/*
	 * MP_STATE first: reading it makes KVM act on a pending INIT or SIPI, which changes the
	 * registers and the LAPIC; read after it, they match the MP state saved with them.
	 */
	if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &s->mp_state) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_SREGS, &s->sregs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_XSAVE, &s->xsave) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_XCRS, &s->xcrs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &s->events) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_CPUID2, &cpuid.c) < 0)
		return -errno;
	{
		struct kvm_sregs2 s2;

		/* Older KVMs lack SREGS2: the PDPTRs are then reloaded from memory on restore. */
		if (ioctl(vcpu_fd, KVM_GET_SREGS2, &s2) == 0 &&
		    (s2.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID)) {
			s->pdptrs_valid = true;
			memcpy(s->pdptrs, s2.pdptrs, sizeof(s->pdptrs));
		}
	}
	memset(&msrs, 0, sizeof(msrs));
	msrs.m.nmsrs = nmsrs;
	for (unsigned i = 0; i < nmsrs; i++)
		msrs.e[i].index = msr_list[i];
	n = ioctl(vcpu_fd, KVM_GET_MSRS, &msrs.m);
	if (n < 0)
		return -errno;
	/*
	 * KVM stops at the first MSR it cannot read. A snapshot without it (the TSC deadline is
	 * last) would restore a guest whose timer never fires: refuse rather than lose it.
	 */
	if ((unsigned)n != nmsrs)
		return -EIO;
	s->nmsrs = (uint32_t)n;
	memcpy(s->msrs, msrs.e, (size_t)n * sizeof(msrs.e[0]));
	s->ncpuid = cpuid.c.nent;
	memcpy(s->cpuid, cpuid.e, cpuid.c.nent * sizeof(cpuid.e[0]));
	return 0;
}

/*
 * The order, and why (KVM API documentation and what other VMMs learned):
 * 1. CPUID first: KVM derives guest features (XSAVE size, MSR validity) from it, and refuses
 *    changes once the vCPU has run.
 * 2. SREGS (CR0/CR4/EFER decide which MSRs and XSAVE components are valid), then MSRs, with
 *    IA32_TSC first; XCRS before XSAVE (XCR0 bounds the XSAVE image), REGS.
 * 3. LAPIC, then IA32_TSC_DEADLINE again: KVM drops a deadline written while the LAPIC is not in
 *    TSC-deadline mode, so it must follow the LAPIC (and the TSC, set in step 2).
 * 4. DEBUGREGS, MP_STATE, and VCPU_EVENTS last: pending exceptions and interrupts, NMI and SMI
 *    state apply to the registers as they are now, and earlier SETs may clear them.
 */
int cpu_state_set(int vcpu_fd, const struct cpu_state *s, uint32_t *bad_msr)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[CPU_STATE_MAX_CPUID];
	} cpuid;
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e[CPU_STATE_MAX_MSRS];
	} msrs;
	int n;

	if (s->ncpuid > CPU_STATE_MAX_CPUID || s->nmsrs > CPU_STATE_MAX_MSRS)
		return -EINVAL;
	memset(&cpuid, 0, sizeof(cpuid));
	cpuid.c.nent = s->ncpuid;
	memcpy(cpuid.e, s->cpuid, s->ncpuid * sizeof(s->cpuid[0]));
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, &cpuid.c) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_SREGS, &s->sregs) < 0)
		return -errno;
	/* KVM_SET_SREGS reloads a PAE guest's PDPTRs from the page at CR3: put the saved ones. */
	if (s->pdptrs_valid) {
		struct kvm_sregs2 s2;

		if (ioctl(vcpu_fd, KVM_GET_SREGS2, &s2) < 0)
			return -errno;
		s2.flags |= KVM_SREGS2_FLAGS_PDPTRS_VALID;
		memcpy(s2.pdptrs, s->pdptrs, sizeof(s2.pdptrs));
		if (ioctl(vcpu_fd, KVM_SET_SREGS2, &s2) < 0)
			return -errno;
	}
	memset(&msrs, 0, sizeof(msrs));
	msrs.m.nmsrs = s->nmsrs;
	memcpy(msrs.e, s->msrs, s->nmsrs * sizeof(s->msrs[0]));
	n = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs.m);
	if (n < 0)
		return -errno;
	if ((uint32_t)n != s->nmsrs) {
		/* KVM refused MSR msrs.e[n]: this host cannot hold the snapshot */
		if (bad_msr)
			*bad_msr = msrs.e[n].index;
		return -EINVAL;
	}
	if (ioctl(vcpu_fd, KVM_SET_XCRS, &s->xcrs) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_XSAVE, &s->xsave) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_REGS, &s->regs) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_LAPIC, &s->lapic) < 0)
		return -errno;
	for (unsigned i = 0; i < s->nmsrs; i++) {
		if (s->msrs[i].index != CPU_STATE_MSR_TSC_DEADLINE)
			continue;
		msrs.m.nmsrs = 1;
		msrs.e[0] = s->msrs[i];
		if (ioctl(vcpu_fd, KVM_SET_MSRS, &msrs.m) != 1) {
			if (bad_msr)
				*bad_msr = CPU_STATE_MSR_TSC_DEADLINE;
			return -EINVAL;
		}
	}
	if (ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_MP_STATE, &s->mp_state) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return -errno;
	return 0;
}

static const struct kvm_cpuid_entry2 *cpu_state_leaf(const struct kvm_cpuid_entry2 *e, unsigned n,
						     uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].function == fn &&
		    (e[i].index == idx || !(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return &e[i];
	return NULL;
}

static uint32_t cpu_state_reg(const struct kvm_cpuid_entry2 *e, unsigned reg)
{
	return !e ? 0 : reg == 0 ? e->eax : reg == 1 ? e->ebx : reg == 2 ? e->ecx : e->edx;
}

int cpu_state_cpuid_check(const struct cpu_state *s, const struct kvm_cpuid2 *here, char *err,
			  size_t errlen)
{
	static const char names[] = "ABCD";
	static const struct {
		uint32_t fn, idx;
		unsigned reg;	 /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
		uint32_t ignore; /* bits KVM changes at run time (OSXSAVE, OSPKE follow CR4) */
	} regs[] = {
		{ 1, 0, 2, 1u << 27 },	 { 1, 0, 3, 0 },	  { 7, 0, 1, 0 },
		{ 7, 0, 2, 1u << 4 },	 { 7, 0, 3, 0 },	  { 7, 1, 0, 0 },
		{ 0xd, 1, 0, 0 },	 { 0x80000001, 0, 2, 0 }, { 0x80000001, 0, 3, 0 },
		{ 0x80000008, 0, 1, 0 },
	};
	unsigned n = s->ncpuid < CPU_STATE_MAX_CPUID ? s->ncpuid : CPU_STATE_MAX_CPUID;

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		uint32_t saved = cpu_state_reg(cpu_state_leaf(s->cpuid, n, regs[i].fn, regs[i].idx),
					       regs[i].reg);
		uint32_t have = cpu_state_reg(
		    cpu_state_leaf(here->entries, here->nent, regs[i].fn, regs[i].idx),
		    regs[i].reg);
		uint32_t missing = saved & ~have & ~regs[i].ignore;

		if (missing) {
			snprintf(err, errlen,
				 "this host's CPU lacks features the snapshot's vCPUs use: "
				 "CPUID.0x%x.%u:E%cX bits 0x%08x",
				 regs[i].fn, regs[i].idx, names[regs[i].reg], missing);
			return -EINVAL;
		}
	}
	return 0;
}

/* A fixed-size KVM structure as a length-prefixed blob (a header of another size is refused). */
static void cpu_state_put_blob(struct state_writer *w, const void *p, uint32_t len)
{
	state_put_u32(w, len);
	state_put_bytes(w, p, len);
}

static void cpu_state_get_blob(struct state_reader *r, void *p, uint32_t len, const char *what)
{
	if (state_get_u32(r) != len)
		state_reader_fail(r, what);
	state_get_bytes(r, p, len);
}

void cpu_state_save(const struct cpu_state *s, struct state_writer *w)
{
	state_section_begin(w, CPU_STATE_TAG, CPU_STATE_VERSION);
	cpu_state_put_blob(w, &s->regs, sizeof(s->regs));
	cpu_state_put_blob(w, &s->sregs, sizeof(s->sregs));
	state_put_bool(w, s->pdptrs_valid);
	for (int i = 0; i < 4; i++)
		state_put_u64(w, s->pdptrs[i]);
	cpu_state_put_blob(w, &s->xsave, sizeof(s->xsave));
	cpu_state_put_blob(w, &s->xcrs, sizeof(s->xcrs));
	cpu_state_put_blob(w, &s->debugregs, sizeof(s->debugregs));
	cpu_state_put_blob(w, &s->lapic, sizeof(s->lapic));
	cpu_state_put_blob(w, &s->events, sizeof(s->events));
	cpu_state_put_blob(w, &s->mp_state, sizeof(s->mp_state));
	state_put_u32(w, s->nmsrs);
	for (uint32_t i = 0; i < s->nmsrs && i < CPU_STATE_MAX_MSRS; i++) {
		state_put_u32(w, s->msrs[i].index);
		state_put_u64(w, s->msrs[i].data);
	}
	state_put_u32(w, s->ncpuid);
	cpu_state_put_blob(w, s->cpuid, s->ncpuid * (uint32_t)sizeof(s->cpuid[0]));
	state_section_end_write(w);
}

int cpu_state_load(struct state_reader *r, struct cpu_state *s)
{
	uint32_t version;

	memset(s, 0, sizeof(*s));
	state_section_begin_read(r, CPU_STATE_TAG, CPU_STATE_VERSION, &version);
	cpu_state_get_blob(r, &s->regs, sizeof(s->regs), "vCPU registers of another size");
	cpu_state_get_blob(r, &s->sregs, sizeof(s->sregs), "vCPU segments of another size");
	s->pdptrs_valid = state_get_bool(r);
	for (int i = 0; i < 4; i++)
		s->pdptrs[i] = state_get_u64(r);
	cpu_state_get_blob(r, &s->xsave, sizeof(s->xsave), "an XSAVE image of another size");
	cpu_state_get_blob(r, &s->xcrs, sizeof(s->xcrs), "XCRs of another size");
	cpu_state_get_blob(r, &s->debugregs, sizeof(s->debugregs),
			   "debug registers of another size");
	cpu_state_get_blob(r, &s->lapic, sizeof(s->lapic), "a LAPIC page of another size");
	cpu_state_get_blob(r, &s->events, sizeof(s->events), "vCPU events of another size");
	cpu_state_get_blob(r, &s->mp_state, sizeof(s->mp_state), "an MP state of another size");
	if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		state_reader_fail(r, "more XCRs than KVM has");
	s->nmsrs = state_get_u32_below(r, CPU_STATE_MAX_MSRS + 1, "too many MSRs");
	for (uint32_t i = 0; i < s->nmsrs; i++) {
		s->msrs[i].index = state_get_u32(r);
		s->msrs[i].data = state_get_u64(r);
	}
	s->ncpuid = state_get_u32_below(r, CPU_STATE_MAX_CPUID + 1, "too many CPUID entries");
	cpu_state_get_blob(r, s->cpuid, s->ncpuid * (uint32_t)sizeof(s->cpuid[0]),
			   "CPUID entries of another size");
	return state_section_end(r);
}
