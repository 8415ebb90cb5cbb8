/* Bit scans: BSF, BSR, and TZCNT/LZCNT, which are BSF/BSR on a CPU without BMI1/LZCNT (their F3
 * prefix is then ignored, as the hardware does). */
#include <errno.h>

#include "arch/x86/emu/exec.h"

/* The r/m source of op_size bytes. */
static int emu_bits_src(struct emu_run *r, uint64_t *v)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size;
	uint8_t buf[8];
	int ret;

	if (!emu_insn_has_mem(insn)) {
		*v = r->cpu->gpr[insn->rm] & emu_size_mask(size);
		return 0;
	}
	ret = emu_mem_read(r, buf, size, size);
	if (ret)
		return ret;
	*v = emu_load_le(buf, size);
	return 0;
}

int emu_bits_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	enum emu_op op = insn->op;
	unsigned bits = insn->op_size * 8;
	uint64_t v;
	int ret;

	if (op == EMU_OP_TZCNT && !(cpu->features & EMU_FEAT_BMI1))
		op = EMU_OP_BSF;
	if (op == EMU_OP_LZCNT && !(cpu->features & EMU_FEAT_LZCNT))
		op = EMU_OP_BSR;
	ret = emu_bits_src(r, &v);
	if (ret)
		return ret;
	switch (op) {
	case EMU_OP_BSF:
	case EMU_OP_BSR:
		/* A zero source sets ZF and leaves the destination alone (what CPUs do). */
		if (!v) {
			cpu->rflags |= EMU_RFLAGS_ZF;
			break;
		}
		cpu->rflags &= ~EMU_RFLAGS_ZF;
		emu_set_gpr(cpu, insn->reg, insn->op_size,
			    op == EMU_OP_BSF ? (uint64_t)__builtin_ctzll(v)
					     : (uint64_t)(63 - __builtin_clzll(v)));
		break;
	default: {
		/* TZCNT/LZCNT: the count (the operand's width for zero); CF = source was zero, ZF =
		 * result is zero. OF, SF, AF and PF are undefined: left as they were. */
		uint64_t n;

		if (!v)
			n = bits;
		else if (op == EMU_OP_TZCNT)
			n = (uint64_t)__builtin_ctzll(v);
		else
			n = (uint64_t)(__builtin_clzll(v) - (64 - (int)bits));
		emu_set_gpr(cpu, insn->reg, insn->op_size, n);
		cpu->rflags &= ~(EMU_RFLAGS_CF | EMU_RFLAGS_ZF);
		if (!v)
			cpu->rflags |= EMU_RFLAGS_CF;
		if (!n)
			cpu->rflags |= EMU_RFLAGS_ZF;
		break;
	}
	}
	emu_complete(r);
	return 0;
}
