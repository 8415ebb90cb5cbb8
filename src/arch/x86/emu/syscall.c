/*
 * The fast system-call instructions as Intel CPUs define them: SYSCALL and SYSRET (64-bit mode
 * only, #UD elsewhere and without EFER.SCE) and SWAPGS. Their MSRs (STAR, LSTAR, FMASK,
 * KERNEL_GS_BASE) come through ops->msr: without it (the KVM glue, where these never reach
 * kvmbox) they are not emulated.
 */
#include <errno.h>

#include "arch/x86/emu/exec.h"

#define EMU_MSR_STAR 0xc0000081u
#define EMU_MSR_LSTAR 0xc0000082u
#define EMU_MSR_FMASK 0xc0000084u
#define EMU_MSR_KERNEL_GS_BASE 0xc0000102u
#define EMU_EFER_SCE (1ull << 0)
/* What SYSRET takes from R11: the flags a CPL-3 program may hold (not VM, RF, VIF, VIP). */
#define EMU_SYSRET_FLAGS 0x3c7fd7ull

static int emu_syscall_msr(struct emu_run *r, uint32_t index, uint64_t *v, bool write)
{
	int ret;

	if (!r->ops->msr)
		return -ENOTSUP;
	ret = r->ops->msr(r->opaque, index, v, write);
	return ret == -ENOENT ? -ENOTSUP
			      : ret; /* the CPU has these MSRs: a callback without them */
}

/* A flat code or stack segment as SYSCALL and SYSRET load them (no descriptor is read). */
static struct emu_seg emu_syscall_seg(uint16_t selector, bool code, bool long_mode, uint8_t dpl)
{
	return (struct emu_seg){
		.base = 0,
		.limit = 0xffffffffu,
		.selector = selector,
		.type = code ? 0xb : 0x3,
		.dpl = dpl,
		.s = true,
		.present = true,
		.db = !(code && long_mode),
		.l = code && long_mode,
	};
}

static bool emu_syscall_64bit(const struct emu_cpu *cpu)
{
	return (cpu->efer & EMU_EFER_LMA) && cpu->seg[EMU_CS].l;
}

static int emu_syscall_syscall(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint64_t star, lstar, fmask;
	int ret;

	if (!(cpu->efer & EMU_EFER_SCE) || !emu_syscall_64bit(cpu))
		return emu_raise(r->exc, EMU_X_UD, -1);
	ret = emu_syscall_msr(r, EMU_MSR_STAR, &star, false);
	if (!ret)
		ret = emu_syscall_msr(r, EMU_MSR_LSTAR, &lstar, false);
	if (!ret)
		ret = emu_syscall_msr(r, EMU_MSR_FMASK, &fmask, false);
	if (ret)
		return ret;
	cpu->gpr[EMU_RCX] = cpu->rip + r->insn->len;
	cpu->gpr[EMU_R11] = cpu->rflags & ~EMU_RFLAGS_RF;
	cpu->rflags = (cpu->rflags & ~fmask & ~EMU_RFLAGS_RF) | 2;
	cpu->rip = lstar;
	cpu->seg[EMU_CS] = emu_syscall_seg((uint16_t)(star >> 32) & 0xfffc, true, true, 0);
	cpu->seg[EMU_SS] = emu_syscall_seg((uint16_t)((star >> 32) + 8), false, true, 0);
	cpu->cpl = 0;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

static int emu_syscall_sysret(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	bool to64 = r->insn->rex_w;
	uint64_t star, rip = to64 ? cpu->gpr[EMU_RCX] : (uint32_t)cpu->gpr[EMU_RCX];
	uint16_t base;
	int ret;

	if (!(cpu->efer & EMU_EFER_SCE) || !emu_syscall_64bit(cpu))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cpl || (to64 && !emu_is_canonical(cpu, rip)))
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_syscall_msr(r, EMU_MSR_STAR, &star, false);
	if (ret)
		return ret;
	base = (uint16_t)(star >> 48);
	cpu->rip = rip;
	cpu->rflags = (cpu->gpr[EMU_R11] & EMU_SYSRET_FLAGS) | 2;
	cpu->seg[EMU_CS] =
	    emu_syscall_seg((uint16_t)((to64 ? base + 16 : base) | 3), true, to64, 3);
	cpu->seg[EMU_SS] = emu_syscall_seg((uint16_t)((base + 8) | 3), false, false, 3);
	cpu->cpl = 3;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

static int emu_syscall_swapgs(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint64_t kernel_gs, user_gs = cpu->seg[EMU_GS].base;
	int ret;

	if (r->insn->code_size != 8)
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_syscall_msr(r, EMU_MSR_KERNEL_GS_BASE, &kernel_gs, false);
	if (!ret)
		ret = emu_syscall_msr(r, EMU_MSR_KERNEL_GS_BASE, &user_gs, true);
	if (ret)
		return ret;
	cpu->seg[EMU_GS].base = kernel_gs;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return emu_done(r, 0);
}

int emu_syscall_execute(struct emu_run *r)
{
	switch (r->insn->op) {
	case EMU_OP_SYSCALL:
		return emu_syscall_syscall(r);
	case EMU_OP_SYSRET:
		return emu_syscall_sysret(r);
	case EMU_OP_SWAPGS:
		return emu_syscall_swapgs(r);
	default:
		return -ENOTSUP;
	}
}
