/* System instructions the backend leaves to userspace: XGETBV/XSETBV, cache and TLB maintenance,
 * RDTSCP/RDPID, RDPRU. Each checks the guest's CPUID first: what its CPU lacks is #UD. */
#include <errno.h>

#include "arch/x86/emu/exec.h"

/*
 * XCR0 bits: x87, SSE, AVX, MPX (BNDREGS, BNDCSR), AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM), AMX
 * (TILECFG, TILEDATA).
 */
#define EMU_XCR0_X87 (1ull << 0)
#define EMU_XCR0_SSE (1ull << 1)
#define EMU_XCR0_AVX (1ull << 2)
#define EMU_XCR0_MPX (3ull << 3)
#define EMU_XCR0_AVX512 (7ull << 5)
#define EMU_XCR0_AMX (3ull << 17)

static bool emu_sys_has(const struct emu_run *r, uint32_t feature)
{
	return r->cpu->features & feature;
}

/* EDX:EAX = v, the upper halves of RAX and RDX cleared (as every 32-bit register write). */
static void emu_sys_edx_eax(struct emu_cpu *cpu, uint64_t v)
{
	cpu->gpr[EMU_RAX] = (uint32_t)v;
	cpu->gpr[EMU_RDX] = v >> 32;
}

static int emu_sys_xgetbv(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint32_t index = (uint32_t)cpu->gpr[EMU_RCX];

	if (!emu_sys_has(r, EMU_FEAT_XSAVE) || !(cpu->cr4 & EMU_CR4_OSXSAVE))
		return emu_raise(r->exc, EMU_X_UD, -1);
	/* XCR0 & XINUSE for index 1: reporting every enabled component in use is allowed. */
	if (index == 0 || (index == 1 && emu_sys_has(r, EMU_FEAT_XGETBV1)))
		emu_sys_edx_eax(cpu, cpu->xcr0);
	else
		return emu_raise(r->exc, EMU_X_GP, 0);
	emu_complete(r);
	return 0;
}

/* The SDM's rules for a new XCR0 value. */
static bool emu_sys_xcr0_valid(const struct emu_cpu *cpu, uint64_t v)
{
	if (!(v & EMU_XCR0_X87) || (v & ~cpu->xcr0_supported))
		return false;
	if ((v & EMU_XCR0_AVX) && !(v & EMU_XCR0_SSE))
		return false;
	if ((v & EMU_XCR0_MPX) && (v & EMU_XCR0_MPX) != EMU_XCR0_MPX)
		return false;
	if ((v & EMU_XCR0_AVX512) &&
	    ((v & EMU_XCR0_AVX512) != EMU_XCR0_AVX512 || !(v & EMU_XCR0_AVX)))
		return false;
	if ((v & EMU_XCR0_AMX) && (v & EMU_XCR0_AMX) != EMU_XCR0_AMX)
		return false;
	return true;
}

static int emu_sys_xsetbv(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint64_t v = (uint32_t)cpu->gpr[EMU_RAX] | (cpu->gpr[EMU_RDX] << 32);

	if (!emu_sys_has(r, EMU_FEAT_XSAVE) || !(cpu->cr4 & EMU_CR4_OSXSAVE))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if ((uint32_t)cpu->gpr[EMU_RCX] != 0 || !emu_sys_xcr0_valid(cpu, v))
		return emu_raise(r->exc, EMU_X_GP, 0);
	cpu->xcr0 = v;
	cpu->dirty |= EMU_DIRTY_XCR0;
	emu_complete(r);
	return 0;
}

/*
 * CLFLUSH, CLFLUSHOPT, CLWB: guest RAM is ordinary cached host memory, so there is nothing to write
 * back; what remains is the architectural part, the faults of a one-byte read at the operand
 * (segment checks, #PF), without touching it (it may be a device register). The SDM lets CLFLUSH
 * and CLFLUSHOPT (not CLWB) name an execute-only code segment, so exec_only_ok checks that
 * segment as if it were readable.
 */
static int emu_sys_cache_line(struct emu_run *r, uint32_t feature, bool exec_only_ok)
{
	const struct emu_seg *seg = &r->cpu->seg[r->insn->seg];
	struct emu_pf pf;
	uint8_t byte;
	uint64_t la;
	int ret;

	if (!emu_sys_has(r, feature))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (exec_only_ok && (seg->type & 8) && !(seg->type & 2)) {
		struct emu_cpu readable = *r->cpu;
		struct emu_run rr = *r;

		readable.seg[r->insn->seg].type |= 2;
		rr.cpu = &readable;
		ret = emu_linear(&rr, 1, false, &la);
	} else {
		ret = emu_linear(r, 1, false, &la);
	}
	if (ret)
		return ret;
	ret = r->ops->read(r->opaque, la, &byte, 1, r->user | EMU_ACC_PROBE, &pf);
	ret = emu_mem_result(r, ret, &pf);
	return emu_done(r, ret);
}

/* Instructions only CPL 0 may execute (virtual-8086 mode is CPL 3). */
static int emu_sys_privileged(struct emu_run *r)
{
	if (r->cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	return 0;
}

/*
 * INVPCID: all checks as the SDM lists them, then the invalidation, which the caller does
 * (EMU_DIRTY_TLB): flushing more than asked for is always correct.
 */
static int emu_sys_invpcid(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	uint64_t type = insn->code_size == 8 ? cpu->gpr[insn->reg] : (uint32_t)cpu->gpr[insn->reg];
	uint8_t desc[16];
	uint64_t pcid, la;
	bool pcide = cpu->cr4 & EMU_CR4_PCIDE;
	int ret;

	if (!emu_sys_has(r, EMU_FEAT_INVPCID))
		return emu_raise(r->exc, EMU_X_UD, -1);
	/* Not recognised in virtual-8086 mode. */
	if ((cpu->rflags & EMU_RFLAGS_VM) && (cpu->cr0 & EMU_CR0_PE))
		return emu_raise(r->exc, EMU_X_UD, -1);
	ret = emu_sys_privileged(r);
	if (ret)
		return ret;
	if (type > 3)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_mem_read(r, desc, sizeof(desc), 1);
	if (ret)
		return ret;
	pcid = emu_load_le(desc, 8);
	la = emu_load_le(desc + 8, 8);
	if (pcid > 0xfff)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (type == 0 && !emu_is_canonical(cpu, la))
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (type <= 1 && !pcide && pcid)
		return emu_raise(r->exc, EMU_X_GP, 0);
	cpu->dirty |= EMU_DIRTY_TLB;
	emu_complete(r);
	return 0;
}

/* CR4.TSD disables RDTSCP (#GP(0)) and RDPRU (#UD, per the AMD APM) outside CPL 0. */
static bool emu_sys_tsd(const struct emu_run *r)
{
	return (r->cpu->cr4 & EMU_CR4_TSD) && r->cpu->cpl && (r->cpu->cr0 & EMU_CR0_PE);
}

static int emu_sys_rdtscp(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;

	if (!emu_sys_has(r, EMU_FEAT_RDTSCP))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (emu_sys_tsd(r))
		return emu_raise(r->exc, EMU_X_GP, 0);
	emu_sys_edx_eax(cpu, cpu->tsc);
	cpu->gpr[EMU_RCX] = (uint32_t)cpu->tsc_aux;
	emu_complete(r);
	return 0;
}

/* RDTSC: every x86-64 CPU has it; CR4.TSD makes it CPL 0 only. */
static int emu_sys_rdtsc(struct emu_run *r)
{
	if (emu_sys_tsd(r))
		return emu_raise(r->exc, EMU_X_GP, 0);
	emu_sys_edx_eax(r->cpu, r->cpu->tsc);
	return emu_done(r, 0);
}

/* HLT: CPL 0; the caller waits for an interrupt (ops->halt), RIP already past the HLT. */
static int emu_sys_hlt(struct emu_run *r)
{
	int ret;

	if (!r->ops->halt)
		return -ENOTSUP;
	if (r->cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = r->ops->halt(r->opaque);
	return emu_done(r, ret);
}

/* INT1 (ICEBP): a #DB trap that no DR6 bit explains, delivered like a hardware one. */
static int emu_sys_int1(struct emu_run *r)
{
	emu_complete(r);
	return emu_raise(r->exc, EMU_X_DB, -1);
}

static int emu_sys_rdpid(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;

	if (!emu_sys_has(r, EMU_FEAT_RDPID))
		return emu_raise(r->exc, EMU_X_UD, -1);
	/* 64-bit operand in 64-bit mode, 32-bit elsewhere; the prefixes do not change it. */
	if (r->insn->code_size == 8)
		cpu->gpr[r->insn->rm] = cpu->tsc_aux;
	else
		emu_set_gpr(cpu, r->insn->rm, 4, (uint32_t)cpu->tsc_aux);
	emu_complete(r);
	return 0;
}

static int emu_sys_rdpru(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint32_t reg = (uint32_t)cpu->gpr[EMU_RCX];

	if (!emu_sys_has(r, EMU_FEAT_RDPRU) || emu_sys_tsd(r))
		return emu_raise(r->exc, EMU_X_UD, -1);
	/* MPERF (0) and APERF (1) are not modelled: valid, so stop rather than fake them. */
	if (reg <= 1)
		return -ENOTSUP;
	/* Unsupported register numbers read as zero with CF clear (and OF/SF/ZF/AF/PF, always). */
	emu_sys_edx_eax(cpu, 0);
	cpu->rflags &= ~(EMU_RFLAGS_OF | EMU_RFLAGS_SF | EMU_RFLAGS_ZF | EMU_RFLAGS_AF |
			 EMU_RFLAGS_PF | EMU_RFLAGS_CF);
	emu_complete(r);
	return 0;
}

/* CPUID: EAX/ECX in, the four registers out (32-bit writes, so zero-extended). */
static int emu_sys_cpuid(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint32_t out[4];

	if (!r->ops->cpuid)
		return -ENOTSUP;
	r->ops->cpuid(r->opaque, (uint32_t)cpu->gpr[EMU_RAX], (uint32_t)cpu->gpr[EMU_RCX], out);
	emu_set_gpr(cpu, EMU_RAX, 4, out[0]);
	emu_set_gpr(cpu, EMU_RBX, 4, out[1]);
	emu_set_gpr(cpu, EMU_RCX, 4, out[2]);
	emu_set_gpr(cpu, EMU_RDX, 4, out[3]);
	return emu_done(r, 0);
}

int emu_sys_execute(struct emu_run *r)
{
	int ret;

	switch (r->insn->op) {
	case EMU_OP_XGETBV:
		return emu_sys_xgetbv(r);
	case EMU_OP_XSETBV:
		return emu_sys_xsetbv(r);
	case EMU_OP_CLFLUSH:
		return emu_sys_cache_line(r, EMU_FEAT_CLFSH, true);
	case EMU_OP_CLFLUSHOPT:
		return emu_sys_cache_line(r, EMU_FEAT_CLFLUSHOPT, true);
	case EMU_OP_CLWB:
		return emu_sys_cache_line(r, EMU_FEAT_CLWB, false);
	case EMU_OP_INVPCID:
		return emu_sys_invpcid(r);
	case EMU_OP_WBINVD:
		/* Host caches are coherent with what the guest sees: only the privilege check. */
		ret = emu_sys_privileged(r);
		if (!ret)
			emu_complete(r);
		return ret;
	case EMU_OP_RDTSCP:
		return emu_sys_rdtscp(r);
	case EMU_OP_RDPID:
		return emu_sys_rdpid(r);
	case EMU_OP_RDPRU:
		return emu_sys_rdpru(r);
	case EMU_OP_CPUID:
		return emu_sys_cpuid(r);
	case EMU_OP_RDTSC:
		return emu_sys_rdtsc(r);
	case EMU_OP_HLT:
		return emu_sys_hlt(r);
	case EMU_OP_INT1:
		return emu_sys_int1(r);
	case EMU_OP_INVLPG: /* no fault for any address; the caller flushes (EMU_DIRTY_TLB) */
	case EMU_OP_INVD:   /* coherent caches: only the privilege check, like WBINVD */
		ret = emu_sys_privileged(r);
		if (!ret && r->insn->op == EMU_OP_INVLPG)
			r->cpu->dirty |= EMU_DIRTY_TLB;
		return emu_done(r, ret);
	case EMU_OP_CLTS:
		ret = emu_sys_privileged(r);
		if (!ret) {
			r->cpu->cr0 &= ~EMU_CR0_TS;
			r->cpu->dirty |= EMU_DIRTY_SREGS;
		}
		return emu_done(r, ret);
	case EMU_OP_RDPMC:
		/* A CPU with no performance counters (CPUID leaf 0xa absent): every ECX names an
		 * invalid counter, #GP(0), as does CPL > 0 without CR4.PCE. Under KVM, KVM's. */
		if (!r->ops->msr)
			return -ENOTSUP;
		return emu_raise(r->exc, EMU_X_GP, 0);
	case EMU_OP_VMX: /* the guest's CPU has neither VMX nor SVM (no CPU template offers them) */
	case EMU_OP_SVM:
		/* Under KVM, VMCALL/VMMCALL are hypercalls: KVM's, never kvmbox's to answer. The
		 * glue has no MSR callback; a CPU-emulator mode does. */
		if (!r->ops->msr)
			return -ENOTSUP;
		return emu_raise(r->exc, EMU_X_UD, -1);
	default:
		return -ENOTSUP;
	}
}
