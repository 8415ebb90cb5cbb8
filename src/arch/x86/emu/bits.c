/*
 * Bit scans: BSF, BSR, and TZCNT/LZCNT, which are BSF/BSR on a CPU without BMI1/LZCNT (their F3
 * prefix is then ignored, as the hardware does). Bit tests: BT, BTS, BTR, BTC, whose register bit
 * offset reaches any bit of memory around the operand (signed, in operand-size units); only CF
 * changes (OF, SF, AF and PF are undefined and left alone, ZF is kept).
 */
#include <errno.h>
#include <stddef.h>

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

struct emu_bits_test {
	enum emu_op op;
	unsigned bit;
};

static uint64_t emu_bits_test_fn(const void *ctx, uint64_t old, uint64_t *flags, bool *store)
{
	const struct emu_bits_test *t = ctx;
	uint64_t m = 1ull << t->bit;

	*flags = (*flags & ~EMU_RFLAGS_CF) | ((old & m) ? EMU_RFLAGS_CF : 0);
	*store = t->op != EMU_OP_BT;
	if (t->op == EMU_OP_BTS)
		return old | m;
	if (t->op == EMU_OP_BTR)
		return old & ~m;
	return old ^ m;
}

static int emu_bits_test(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size, bits = size * 8;
	struct emu_bits_test t = { insn->op, 0 };
	int ret;

	if (insn->opcode == 0xba) {
		t.bit = (unsigned)insn->imm & (bits - 1);
	} else {
		uint64_t off = r->cpu->gpr[insn->reg] & emu_size_mask(size);

		t.bit = (unsigned)off & (bits - 1);
		if (emu_insn_has_mem(insn)) {
			unsigned shift = 64 - bits;
			int64_t soff = (int64_t)(off << shift) >> shift;

			r->ea_bias = (soff >> __builtin_ctz(bits)) * (int64_t)size;
		}
	}
	ret = emu_operand_update(r, size,
				 (insn->lock ? EMU_UPDATE_LOCKED : 0) |
				     (t.op == EMU_OP_BT ? EMU_UPDATE_READ_ONLY : 0),
				 emu_bits_test_fn, &t, NULL);
	r->ea_bias = 0;
	return emu_done(r, ret);
}

int emu_bits_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	enum emu_op op = insn->op;
	unsigned bits = insn->op_size * 8;
	uint64_t v;
	int ret;

	if (op >= EMU_OP_BT && op <= EMU_OP_BTC)
		return emu_bits_test(r);
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
