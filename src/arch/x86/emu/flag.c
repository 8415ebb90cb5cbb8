/*
 * RFLAGS: the condition codes Jcc/SETcc/CMOVcc test, the result flags most arithmetic sets, and
 * the flag instructions CLC, STC, CMC, CLD, STD, LAHF, SAHF, PUSHF and POPF (with the privilege
 * rules for IF and IOPL, and virtual-8086 mode without VME).
 */
#include <errno.h>

#include "arch/x86/emu/seg.h"

/* The bits POPF never changes: VM, VIF, VIP (RF is cleared); bit 1 is always set. */
#define EMU_FLAG_RESERVED_ONE (1ull << 1)
#define EMU_FLAG_LIVE                                                                              \
	(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF |           \
	 EMU_RFLAGS_TF | EMU_RFLAGS_IF | EMU_RFLAGS_DF | EMU_RFLAGS_OF | EMU_RFLAGS_IOPL |         \
	 EMU_RFLAGS_NT | EMU_RFLAGS_AC | EMU_RFLAGS_ID)
#define EMU_FLAG_LAHF                                                                              \
	(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF)

bool emu_flag_cond(uint64_t rflags, unsigned cc)
{
	bool cf = rflags & EMU_RFLAGS_CF, zf = rflags & EMU_RFLAGS_ZF;
	bool sf = rflags & EMU_RFLAGS_SF, of = rflags & EMU_RFLAGS_OF;
	bool v;

	switch ((cc >> 1) & 7) {
	case 0: /* O */
		v = of;
		break;
	case 1: /* B */
		v = cf;
		break;
	case 2: /* Z */
		v = zf;
		break;
	case 3: /* BE */
		v = cf || zf;
		break;
	case 4: /* S */
		v = sf;
		break;
	case 5: /* P */
		v = rflags & EMU_RFLAGS_PF;
		break;
	case 6: /* L */
		v = sf != of;
		break;
	default: /* LE */
		v = zf || sf != of;
		break;
	}
	return (cc & 1) ? !v : v;
}

uint64_t emu_flag_szp(uint64_t res, unsigned size)
{
	uint64_t f = 0;

	res &= emu_size_mask(size);
	if (!res)
		f |= EMU_RFLAGS_ZF;
	if (res >> (size * 8 - 1))
		f |= EMU_RFLAGS_SF;
	if (!(__builtin_popcount((unsigned)(res & 0xff)) & 1))
		f |= EMU_RFLAGS_PF;
	return f;
}

/* Virtual-8086 mode below IOPL 3 faults PUSHF/POPF (VME's virtual IF is not emulated). */
static int emu_flag_v86_check(struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;

	if (!(cpu->rflags & EMU_RFLAGS_VM) || (cpu->rflags & EMU_RFLAGS_IOPL) == EMU_RFLAGS_IOPL)
		return 0;
	if (cpu->cr4 & EMU_CR4_VME)
		return -ENOTSUP;
	return emu_raise(r->exc, EMU_X_GP, 0);
}

static int emu_flag_pushf(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t v = cpu->rflags & ~(EMU_RFLAGS_VM | EMU_RFLAGS_RF);
	int ret = emu_flag_v86_check(r);

	if (!ret)
		ret = emu_seg_push(r, &st, &v, 1, r->insn->op_size);
	if (ret)
		return ret;
	cpu->gpr[EMU_RSP] = st.sp;
	return 0;
}

static int emu_flag_popf(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	unsigned size = r->insn->op_size;
	uint64_t v, mask = EMU_FLAG_LIVE;
	unsigned iopl = (unsigned)(cpu->rflags >> 12) & 3;
	int ret = emu_flag_v86_check(r);

	if (!ret)
		ret = emu_seg_pop(r, &st, &v, 1, size);
	if (ret)
		return ret;
	if (cpu->rflags & EMU_RFLAGS_VM) {
		mask &= ~EMU_RFLAGS_IOPL;
	} else if (!emu_real_or_v86(cpu) && cpu->cpl > 0) {
		mask &= ~EMU_RFLAGS_IOPL;
		if (cpu->cpl > iopl)
			mask &= ~EMU_RFLAGS_IF;
	}
	if (size == 2)
		mask &= 0xffff;
	cpu->rflags = (cpu->rflags & ~mask & ~EMU_RFLAGS_RF) | (v & mask) | EMU_FLAG_RESERVED_ONE;
	cpu->gpr[EMU_RSP] = st.sp;
	return 0;
}

/*
 * CLI/STI: IF when IOPL allows (real mode always); in virtual-8086 mode with VME or protected mode
 * with PVI at CPL 3 the virtual IF, not emulated (-ENOTSUP); #GP(0) otherwise. STI that sets IF
 * starts an interrupt shadow.
 */
static int emu_flag_cli_sti(struct emu_run *r, bool set)
{
	struct emu_cpu *cpu = r->cpu;
	unsigned iopl = (unsigned)(cpu->rflags >> 12) & 3;
	bool allowed = !(cpu->cr0 & EMU_CR0_PE) ||
		       ((cpu->rflags & EMU_RFLAGS_VM) ? iopl == 3 : iopl >= cpu->cpl);

	if (!allowed) {
		if ((cpu->rflags & EMU_RFLAGS_VM) ? (cpu->cr4 & EMU_CR4_VME)
						  : (cpu->cpl == 3 && (cpu->cr4 & EMU_CR4_PVI)))
			return -ENOTSUP;
		return emu_raise(r->exc, EMU_X_GP, 0);
	}
	if (set && !(cpu->rflags & EMU_RFLAGS_IF))
		cpu->dirty |= EMU_DIRTY_STI_SHADOW;
	if (set)
		cpu->rflags |= EMU_RFLAGS_IF;
	else
		cpu->rflags &= ~EMU_RFLAGS_IF;
	return 0;
}

int emu_flag_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	int ret = 0;

	switch (r->insn->op) {
	case EMU_OP_CLC:
		cpu->rflags &= ~EMU_RFLAGS_CF;
		break;
	case EMU_OP_STC:
		cpu->rflags |= EMU_RFLAGS_CF;
		break;
	case EMU_OP_CMC:
		cpu->rflags ^= EMU_RFLAGS_CF;
		break;
	case EMU_OP_CLD:
		cpu->rflags &= ~EMU_RFLAGS_DF;
		break;
	case EMU_OP_STD:
		cpu->rflags |= EMU_RFLAGS_DF;
		break;
	case EMU_OP_LAHF:
	case EMU_OP_SAHF:
		if (r->insn->code_size == 8 && !(cpu->features & EMU_FEAT_LAHF64))
			return emu_raise(r->exc, EMU_X_UD, -1);
		if (r->insn->op == EMU_OP_LAHF)
			cpu->gpr[EMU_RAX] = (cpu->gpr[EMU_RAX] & ~0xff00ull) |
					    ((cpu->rflags & EMU_FLAG_LAHF) | EMU_FLAG_RESERVED_ONE)
						<< 8;
		else
			cpu->rflags = (cpu->rflags & ~EMU_FLAG_LAHF) |
				      ((cpu->gpr[EMU_RAX] >> 8) & EMU_FLAG_LAHF);
		break;
	case EMU_OP_CLI:
	case EMU_OP_STI:
		ret = emu_flag_cli_sti(r, r->insn->op == EMU_OP_STI);
		break;
	case EMU_OP_PUSHF:
		ret = emu_flag_pushf(r);
		break;
	case EMU_OP_POPF:
		ret = emu_flag_popf(r);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
