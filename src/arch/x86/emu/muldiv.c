/*
 * MUL, IMUL (one-, two- and three-operand forms), DIV and IDIV at every operand size, with #DE
 * for a zero divisor or a quotient that does not fit. After a multiply CF = OF = the product did
 * not fit the destination; SF, ZF and PF (architecturally undefined) follow the low half, AF is
 * cleared. A divide leaves the flags alone (all undefined).
 */
#include <errno.h>

#include "arch/x86/emu/exec.h"

static int64_t emu_muldiv_sext(uint64_t v, unsigned size)
{
	unsigned shift = 64 - size * 8;

	return (int64_t)(v << shift) >> shift;
}

/* The flags of a product whose low half is lo; overflow: the high half carries information. */
static void emu_muldiv_flags(struct emu_cpu *cpu, uint64_t lo, unsigned size, bool overflow)
{
	cpu->rflags &= ~(EMU_RFLAGS_CF | EMU_RFLAGS_OF | EMU_RFLAGS_SF | EMU_RFLAGS_ZF |
			 EMU_RFLAGS_PF | EMU_RFLAGS_AF);
	cpu->rflags |= emu_flag_szp(lo, size);
	if (overflow)
		cpu->rflags |= EMU_RFLAGS_CF | EMU_RFLAGS_OF;
}

/* rDX:rAX (AX for bytes) = rAX * src, unsigned or signed. */
static void emu_muldiv_widening(struct emu_run *r, uint64_t src, unsigned size, bool is_signed)
{
	struct emu_cpu *cpu = r->cpu;
	uint64_t a = cpu->gpr[EMU_RAX] & emu_size_mask(size), lo, hi;
	emu_u128 p;
	bool overflow;

	if (is_signed)
		p = (emu_u128)((emu_s128)emu_muldiv_sext(a, size) *
			       (emu_s128)emu_muldiv_sext(src, size));
	else
		p = (emu_u128)a * src;
	lo = (uint64_t)p & emu_size_mask(size);
	hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> (size * 8)) & emu_size_mask(size);
	if (is_signed)
		overflow = (emu_s128)p != (emu_s128)emu_muldiv_sext(lo, size);
	else
		overflow = hi != 0;
	if (size == 1) {
		emu_set_gpr(cpu, EMU_RAX, 2, lo | hi << 8);
	} else {
		emu_set_gpr(cpu, EMU_RAX, size, lo);
		emu_set_gpr(cpu, EMU_RDX, size, hi);
	}
	emu_muldiv_flags(cpu, lo, size, overflow);
}

/* IMUL reg, r/m (0F AF) and IMUL reg, r/m, imm (69, 6B): the product truncated to reg's size. */
static void emu_muldiv_imul(struct emu_run *r, uint64_t src)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size;
	uint64_t other = insn->map == EMU_MAP_0F ? r->cpu->gpr[insn->reg] : insn->imm;
	emu_s128 p = (emu_s128)emu_muldiv_sext(src, size) * (emu_s128)emu_muldiv_sext(other, size);
	uint64_t lo = (uint64_t)p & emu_size_mask(size);

	emu_set_gpr(r->cpu, insn->reg, size, lo);
	emu_muldiv_flags(r->cpu, lo, size, p != (emu_s128)emu_muldiv_sext(lo, size));
}

/* rAX = rDX:rAX / src, rDX = the remainder (AL and AH from AX for bytes). */
static int emu_muldiv_divide(struct emu_run *r, uint64_t src, unsigned size, bool is_signed)
{
	struct emu_cpu *cpu = r->cpu;
	uint64_t mask = emu_size_mask(size), q, rem;
	emu_u128 dividend;

	if (size == 1)
		dividend = cpu->gpr[EMU_RAX] & 0xffff;
	else if (size == 8)
		dividend = (emu_u128)cpu->gpr[EMU_RDX] << 64 | cpu->gpr[EMU_RAX];
	else
		dividend = ((cpu->gpr[EMU_RDX] & mask) << (size * 8)) | (cpu->gpr[EMU_RAX] & mask);
	if (!(src & mask))
		return emu_raise(r->exc, EMU_X_DE, -1);
	if (is_signed) {
		unsigned bits = size * 16; /* the dividend's width */
		emu_s128 n = (emu_s128)(dividend << (128 - bits)) >> (128 - bits);
		emu_s128 d = emu_muldiv_sext(src, size), sq, sr;
		emu_s128 max = ((emu_s128)1 << (size * 8 - 1)) - 1;

		/* n / -1 is -n, which for the most negative 128-bit n would overflow the host. */
		sq = d == -1 ? (emu_s128)(-(emu_u128)n) : n / d;
		sr = d == -1 ? 0 : n % d;
		if (sq > max || sq < -max - 1)
			return emu_raise(r->exc, EMU_X_DE, -1);
		q = (uint64_t)sq & mask;
		rem = (uint64_t)sr & mask;
	} else {
		emu_u128 uq = dividend / (src & mask);

		if (uq > mask)
			return emu_raise(r->exc, EMU_X_DE, -1);
		q = (uint64_t)uq;
		rem = (uint64_t)(dividend % (src & mask));
	}
	if (size == 1) {
		emu_set_gpr(cpu, EMU_RAX, 2, q | rem << 8);
	} else {
		emu_set_gpr(cpu, EMU_RAX, size, q);
		emu_set_gpr(cpu, EMU_RDX, size, rem);
	}
	return 0;
}

int emu_muldiv_execute(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	/* F6 is the byte form of group 3; everything else works at the operand size. */
	unsigned size = insn->map == EMU_MAP_LEGACY && insn->opcode == 0xf6 ? 1 : insn->op_size;
	uint64_t src;
	int ret;

	ret = emu_operand_read(r, size, &src);
	if (ret)
		return ret;
	switch (insn->op) {
	case EMU_OP_MUL:
	case EMU_OP_IMUL1:
		emu_muldiv_widening(r, src, size, insn->op == EMU_OP_IMUL1);
		break;
	case EMU_OP_IMUL:
		emu_muldiv_imul(r, src);
		break;
	case EMU_OP_DIV:
	case EMU_OP_IDIV:
		ret = emu_muldiv_divide(r, src, size, insn->op == EMU_OP_IDIV);
		if (ret)
			return ret;
		break;
	default:
		return -ENOTSUP;
	}
	emu_complete(r);
	return 0;
}
