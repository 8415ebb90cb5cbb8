/*
 * The integer core: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP (register, memory and immediate forms),
 * TEST, MOV and LEA, with the flags the architecture defines. The start of an emulator that runs
 * guest code without KVM. A LOCK prefix on a memory destination is not emulated (-ENOTSUP).
 */
#include <errno.h>

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

/* A general register of size bytes; without REX, byte registers 4-7 are AH, CH, DH, BH. */
static uint64_t emu_alu_get_reg(const struct emu_run *r, unsigned reg, unsigned size)
{
	const struct emu_cpu *cpu = r->cpu;

	if (size == 1 && !r->insn->rex && reg >= 4 && reg < 8)
		return (cpu->gpr[reg - 4] >> 8) & 0xff;
	return cpu->gpr[reg] & emu_size_mask(size);
}

static void emu_alu_set_reg(struct emu_run *r, unsigned reg, unsigned size, uint64_t v)
{
	struct emu_cpu *cpu = r->cpu;

	if (size == 1 && !r->insn->rex && reg >= 4 && reg < 8) {
		cpu->gpr[reg - 4] = (cpu->gpr[reg - 4] & ~0xff00ull) | ((v & 0xff) << 8);
		return;
	}
	emu_set_gpr(cpu, reg, size, v);
}

/* The r/m operand: a register (rm) or memory. */
static int emu_alu_get_rm(struct emu_run *r, unsigned size, uint64_t *v)
{
	uint8_t buf[8];
	int ret;

	if (!emu_insn_has_mem(r->insn)) {
		*v = emu_alu_get_reg(r, r->insn->rm, size);
		return 0;
	}
	ret = emu_mem_read(r, buf, size, size);
	if (!ret)
		*v = emu_load_le(buf, size);
	return ret;
}

static int emu_alu_set_rm(struct emu_run *r, unsigned size, uint64_t v)
{
	uint8_t buf[8];

	if (!emu_insn_has_mem(r->insn)) {
		emu_alu_set_reg(r, r->insn->rm, size, v);
		return 0;
	}
	emu_store_le(buf, v, size);
	return emu_mem_write(r, buf, size, size);
}

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
	if (!res)
		f |= EMU_RFLAGS_ZF;
	if (res & sign)
		f |= EMU_RFLAGS_SF;
	if (!(__builtin_popcount((unsigned)(res & 0xff)) & 1))
		f |= EMU_RFLAGS_PF;
	*flags = f;
	return res;
}

static int emu_alu_arith(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	uint8_t opc = insn->opcode;
	unsigned size = (opc & 1) ? insn->op_size : 1, op;
	uint64_t a, b, res, flags = cpu->rflags;
	bool to_reg = false, to_acc = false;
	int ret;

	if (insn->op == EMU_OP_ALU_GRP1) {
		op = (insn->reg & 7);
		size = opc == 0x80 ? 1 : insn->op_size;
		b = insn->imm;
	} else if ((opc & 7) >= 4) {
		op = opc >> 3;
		to_acc = true;
		b = insn->imm;
	} else {
		op = opc >> 3;
		to_reg = opc & 2;
		b = emu_alu_get_reg(r, insn->reg, size);
	}
	if (insn->lock && emu_insn_has_mem(insn))
		return -ENOTSUP; /* an atomic read-modify-write: not emulated */
	if (to_acc) {
		a = emu_alu_get_reg(r, EMU_RAX, size);
	} else {
		ret = emu_alu_get_rm(r, size, &a);
		if (ret)
			return ret;
		if (to_reg) {
			uint64_t t = a;

			a = b;
			b = t;
		}
	}
	res = emu_alu_op(op, a, b, size, &flags);
	if (op != EMU_ALU_CMP) {
		if (to_acc)
			emu_alu_set_reg(r, EMU_RAX, size, res);
		else if (to_reg)
			emu_alu_set_reg(r, insn->reg, size, res);
		else if ((ret = emu_alu_set_rm(r, size, res)))
			return ret;
	}
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
		a = emu_alu_get_reg(r, EMU_RAX, size);
		b = insn->imm;
	} else {
		ret = emu_alu_get_rm(r, size, &a);
		if (ret)
			return ret;
		b = opc >= 0xf6 ? insn->imm : emu_alu_get_reg(r, insn->reg, size);
	}
	emu_alu_op(EMU_ALU_AND, a, b, size, &flags);
	r->cpu->rflags = flags;
	return 0;
}

static int emu_alu_mov(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	uint8_t opc = insn->opcode;
	uint64_t v;
	int ret;

	if (opc >= 0xb0 && opc <= 0xbf) {
		unsigned reg = (opc & 7) | (insn->rex_b ? 8 : 0);

		emu_alu_set_reg(r, reg, opc < 0xb8 ? 1 : insn->op_size, insn->imm);
		return 0;
	}
	if (opc == 0xc6 || opc == 0xc7)
		return emu_alu_set_rm(r, opc == 0xc6 ? 1 : insn->op_size, insn->imm);
	/* 88/89: r/m <- reg; 8A/8B: reg <- r/m. */
	if (opc & 2) {
		ret = emu_alu_get_rm(r, (opc & 1) ? insn->op_size : 1, &v);
		if (!ret)
			emu_alu_set_reg(r, insn->reg, (opc & 1) ? insn->op_size : 1, v);
		return ret;
	}
	return emu_alu_set_rm(r, (opc & 1) ? insn->op_size : 1,
			      emu_alu_get_reg(r, insn->reg, (opc & 1) ? insn->op_size : 1));
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
	case EMU_OP_MOV:
		ret = emu_alu_mov(r);
		break;
	case EMU_OP_LEA:
		/* The effective address (no segment base), truncated to the operand size. */
		emu_alu_set_reg(r, insn->reg, insn->op_size, emu_ea_of(r->cpu, insn));
		ret = 0;
		break;
	default:
		return -ENOTSUP;
	}
	if (ret)
		return ret;
	emu_complete(r);
	return 0;
}
