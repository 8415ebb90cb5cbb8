/*
 * The integer core: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP (register, memory and immediate forms),
 * TEST, INC, DEC, NOT, NEG, XADD, CMPXCHG, MOV and LEA, with the flags the architecture defines.
 * A LOCK prefix makes the memory forms one atomic update (operand.c).
 */
#include <errno.h>
#include <stddef.h>

#include "arch/x86/emu/exec.h"

enum {
	EMU_ALU_ADD,
	EMU_ALU_OR,
	EMU_ALU_ADC,
	EMU_ALU_SBB,
	EMU_ALU_AND,
	EMU_ALU_SUB,
	EMU_ALU_XOR,
	EMU_ALU_CMP
};

#define EMU_ALU_ARITH                                                                              \
	(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF |           \
	 EMU_RFLAGS_OF)

/* res = a op b at size bytes; *flags updated as the architecture defines for op. */
static uint64_t emu_alu_op(unsigned op, uint64_t a, uint64_t b, unsigned size, uint64_t *flags)
{
	uint64_t mask = emu_size_mask(size), sign = 1ull << (size * 8 - 1), res, carry_in;
	uint64_t f = *flags & ~EMU_ALU_ARITH;
	bool cf = false, of = false, af = false;

	a &= mask;
	b &= mask;
	carry_in = (*flags & EMU_RFLAGS_CF) ? 1 : 0;
	switch (op) {
	case EMU_ALU_ADD:
	case EMU_ALU_ADC: {
		uint64_t c = op == EMU_ALU_ADC ? carry_in : 0;

		res = (a + b + c) & mask;
		cf = size == 8 ? (res < a || (c && res == a)) : ((a + b + c) >> (size * 8)) != 0;
		of = ((a ^ res) & (b ^ res) & sign) != 0;
		af = ((a ^ b ^ res) & 0x10) != 0;
		break;
	}
	case EMU_ALU_SUB:
	case EMU_ALU_SBB:
	case EMU_ALU_CMP: {
		uint64_t c = op == EMU_ALU_SBB ? carry_in : 0;

		res = (a - b - c) & mask;
		cf = a < b || (c && a == b);
		of = ((a ^ b) & (a ^ res) & sign) != 0;
		af = ((a ^ b ^ res) & 0x10) != 0;
		break;
	}
	case EMU_ALU_OR:
		res = a | b;
		break;
	case EMU_ALU_AND:
		res = a & b;
		break;
	default: /* XOR */
		res = a ^ b;
		break;
	}
	if (cf)
		f |= EMU_RFLAGS_CF;
	if (of)
		f |= EMU_RFLAGS_OF;
	if (af)
		f |= EMU_RFLAGS_AF; /* the logic ops leave AF clear (architecturally undefined) */
	*flags = f | emu_flag_szp(res, size);
	return res;
}

/* What an update of the r/m operand computes: dst = dst op src (operand.c calls it back). */
struct emu_alu_update {
	unsigned op, size;
	uint64_t src;
};

/* LOCK where it may stand; CMP is no read-modify-write, so LOCK CMP is #UD. */
static unsigned emu_alu_how(const struct emu_insn *insn, unsigned op)
{
	return (insn->lock ? EMU_UPDATE_LOCKED : 0) |
	       (op == EMU_ALU_CMP ? EMU_UPDATE_READ_ONLY : 0);
}

static uint64_t emu_alu_binary(const void *ctx, uint64_t old, uint64_t *flags, bool *store)
{
	const struct emu_alu_update *u = ctx;

	*store = u->op != EMU_ALU_CMP;
	return emu_alu_op(u->op, old, u->src, u->size, flags);
}

static int emu_alu_arith(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	uint8_t opc = insn->opcode;
	struct emu_alu_update u = { opc >> 3, (opc & 1) ? insn->op_size : 1, 0 };
	uint64_t a, flags = cpu->rflags, res;
	int ret;

	if (insn->op == EMU_OP_ALU_GRP1) {
		u.op = insn->reg & 7;
		u.size = opc == 0x80 ? 1 : insn->op_size;
		u.src = insn->imm;
		if (insn->lock && u.op == EMU_ALU_CMP)
			return emu_raise(r->exc, EMU_X_UD, -1);
		return emu_operand_update(r, u.size, emu_alu_how(insn, u.op), emu_alu_binary, &u,
					  NULL);
	}
	if ((opc & 7) >= 4) { /* AL/rAX, imm */
		res = emu_alu_op(u.op, emu_operand_reg(r, EMU_RAX, u.size), insn->imm, u.size,
				 &flags);
		if (u.op != EMU_ALU_CMP)
			emu_operand_set_reg(r, EMU_RAX, u.size, res);
		cpu->rflags = flags;
		return 0;
	}
	if (!(opc & 2)) { /* r/m op= reg */
		u.src = emu_operand_reg(r, insn->reg, u.size);
		if (insn->lock && u.op == EMU_ALU_CMP)
			return emu_raise(r->exc, EMU_X_UD, -1);
		return emu_operand_update(r, u.size, emu_alu_how(insn, u.op), emu_alu_binary, &u,
					  NULL);
	}
	ret = emu_operand_read(r, u.size, &a); /* reg op= r/m */
	if (ret)
		return ret;
	res = emu_alu_op(u.op, emu_operand_reg(r, insn->reg, u.size), a, u.size, &flags);
	if (u.op != EMU_ALU_CMP)
		emu_operand_set_reg(r, insn->reg, u.size, res);
	cpu->rflags = flags;
	return 0;
}

static int emu_alu_test(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	uint8_t opc = insn->opcode;
	unsigned size = (opc & 1) ? insn->op_size : 1;
	uint64_t a, b, flags = r->cpu->rflags;
	int ret;

	if (opc == 0xa8 || opc == 0xa9) {
		a = emu_operand_reg(r, EMU_RAX, size);
		b = insn->imm;
	} else {
		ret = emu_operand_read(r, size, &a);
		if (ret)
			return ret;
		b = opc >= 0xf6 ? insn->imm : emu_operand_reg(r, insn->reg, size);
	}
	emu_alu_op(EMU_ALU_AND, a, b, size, &flags);
	r->cpu->rflags = flags;
	return 0;
}

/* INC, DEC (CF kept), NOT (no flags) and NEG (CF = operand was not zero). */
static uint64_t emu_alu_unary(const void *ctx, uint64_t old, uint64_t *flags, bool *store)
{
	const struct emu_alu_update *u = ctx;
	uint64_t cf = *flags & EMU_RFLAGS_CF, res;

	*store = true;
	switch (u->op) {
	case EMU_OP_INC:
		res = emu_alu_op(EMU_ALU_ADD, old, 1, u->size, flags);
		*flags = (*flags & ~EMU_RFLAGS_CF) | cf;
		return res;
	case EMU_OP_DEC:
		res = emu_alu_op(EMU_ALU_SUB, old, 1, u->size, flags);
		*flags = (*flags & ~EMU_RFLAGS_CF) | cf;
		return res;
	case EMU_OP_NOT:
		return ~old;
	default:
		return emu_alu_op(EMU_ALU_SUB, 0, old, u->size, flags);
	}
}

static int emu_alu_one(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	struct emu_alu_update u = { insn->op, insn->op_size, 0 };

	if (!insn->has_modrm) { /* 40-4F outside 64-bit mode: the register in the opcode */
		uint64_t flags = r->cpu->rflags,
			 v = emu_alu_unary(&u, r->cpu->gpr[insn->opcode & 7], &flags,
					   &(bool){ true });

		emu_set_gpr(r->cpu, insn->opcode & 7, u.size, v);
		r->cpu->rflags = flags;
		return 0;
	}
	if ((insn->opcode & 1) == 0)
		u.size = 1; /* FE, F6 */
	return emu_operand_update(r, u.size, insn->lock ? EMU_UPDATE_LOCKED : 0, emu_alu_unary, &u,
				  NULL);
}

/* XADD: dst = dst + src, src = old dst. CMPXCHG: dst = src if rAX == dst, else rAX = dst. */
static uint64_t emu_alu_xadd(const void *ctx, uint64_t old, uint64_t *flags, bool *store)
{
	const struct emu_alu_update *u = ctx;

	*store = true;
	return emu_alu_op(EMU_ALU_ADD, old, u->src, u->size, flags);
}

struct emu_alu_cmpxchg {
	unsigned size;
	uint64_t acc, src;
	bool mem;
};

/* Memory is always written (the old value when the compare fails); a register only on success. */
static uint64_t emu_alu_cmpxchg_fn(const void *ctx, uint64_t old, uint64_t *flags, bool *store)
{
	const struct emu_alu_cmpxchg *c = ctx;
	bool equal;

	emu_alu_op(EMU_ALU_CMP, c->acc, old, c->size, flags);
	equal = (*flags & EMU_RFLAGS_ZF) != 0;
	*store = equal || c->mem;
	return equal ? c->src : old;
}

static int emu_alu_exchange(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = (insn->opcode & 1) ? insn->op_size : 1;
	uint64_t old;
	int ret;

	if (insn->op == EMU_OP_XADD) {
		struct emu_alu_update u = { EMU_ALU_ADD, size,
					    emu_operand_reg(r, insn->reg, size) };

		ret = emu_operand_update(r, size, insn->lock ? EMU_UPDATE_LOCKED : 0, emu_alu_xadd,
					 &u, &old);
		if (ret)
			return ret;
		/* The source register gets the old value, unless it is the destination too. */
		if (emu_insn_has_mem(insn) || insn->rm != insn->reg)
			emu_operand_set_reg(r, insn->reg, size, old);
		return 0;
	}
	struct emu_alu_cmpxchg c = { size, emu_operand_reg(r, EMU_RAX, size),
				     emu_operand_reg(r, insn->reg, size), emu_insn_has_mem(insn) };

	ret = emu_operand_update(r, size, insn->lock ? EMU_UPDATE_LOCKED : 0, emu_alu_cmpxchg_fn,
				 &c, &old);
	if (ret)
		return ret;
	if (!(r->cpu->rflags & EMU_RFLAGS_ZF))
		emu_operand_set_reg(r, EMU_RAX, size, old);
	return 0;
}

static int emu_alu_mov(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	uint8_t opc = insn->opcode;
	unsigned size = (opc & 1) ? insn->op_size : 1;
	uint64_t v;
	int ret;

	if (opc >= 0xb0 && opc <= 0xbf) {
		unsigned reg = (opc & 7) | (insn->rex_b ? 8 : 0);

		emu_operand_set_reg(r, reg, opc < 0xb8 ? 1 : insn->op_size, insn->imm);
		return 0;
	}
	if (opc == 0xc6 || opc == 0xc7)
		return emu_operand_write(r, size, insn->imm);
	/* 88/89: r/m <- reg; 8A/8B: reg <- r/m. */
	if (opc & 2) {
		ret = emu_operand_read(r, size, &v);
		if (!ret)
			emu_operand_set_reg(r, insn->reg, size, v);
		return ret;
	}
	return emu_operand_write(r, size, emu_operand_reg(r, insn->reg, size));
}

int emu_alu_execute(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	int ret;

	switch (insn->op) {
	case EMU_OP_ALU:
	case EMU_OP_ALU_GRP1:
		ret = emu_alu_arith(r);
		break;
	case EMU_OP_TEST:
		ret = emu_alu_test(r);
		break;
	case EMU_OP_INC:
	case EMU_OP_DEC:
	case EMU_OP_NOT:
	case EMU_OP_NEG:
		ret = emu_alu_one(r);
		break;
	case EMU_OP_XADD:
	case EMU_OP_CMPXCHG:
		ret = emu_alu_exchange(r);
		break;
	case EMU_OP_MOV:
		ret = emu_alu_mov(r);
		break;
	case EMU_OP_LEA:
		/* The effective address (no segment base), truncated to the operand size. */
		emu_operand_set_reg(r, insn->reg, insn->op_size, emu_ea_of(r->cpu, insn));
		ret = 0;
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
