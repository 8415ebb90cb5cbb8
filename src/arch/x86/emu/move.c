/*
 * Data movement: MOVZX, MOVSX, MOVSXD, CMOVcc, SETcc, XCHG (atomic with memory, as on the CPU),
 * BSWAP, CBW/CWDE/CDQE, CWD/CDQ/CQO, MOV to and from an absolute offset (A0-A3) and XLAT.
 */
#include <errno.h>

#include "arch/x86/emu/exec.h"

static uint64_t emu_move_sext(uint64_t v, unsigned size)
{
	unsigned shift = 64 - size * 8;

	return (uint64_t)((int64_t)(v << shift) >> shift);
}

/* The segment of an operand without ModRM: DS unless overridden. */
static unsigned emu_move_seg(const struct emu_insn *insn)
{
	return insn->seg_override >= 0 ? (unsigned)insn->seg_override : EMU_DS;
}

static uint64_t emu_move_xchg_fn(const void *ctx, uint64_t old, uint64_t *flags, bool *store)
{
	(void)old;
	(void)flags;
	*store = true;
	return *(const uint64_t *)ctx;
}

static int emu_move_xchg(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size, reg;
	uint64_t v, old;
	int ret;

	if (!insn->has_modrm) { /* 90-97: rAX and the register in the opcode */
		reg = (insn->opcode & 7) | (insn->rex_b ? 8 : 0);
		v = r->cpu->gpr[reg];
		emu_set_gpr(r->cpu, reg, size, r->cpu->gpr[EMU_RAX]);
		emu_set_gpr(r->cpu, EMU_RAX, size, v);
		return 0;
	}
	if (insn->opcode == 0x86)
		size = 1;
	v = emu_operand_reg(r, insn->reg, size);
	ret = emu_operand_update(r, size, EMU_UPDATE_LOCKED, emu_move_xchg_fn, &v, &old);
	if (!ret)
		emu_operand_set_reg(r, insn->reg, size, old);
	return ret;
}

static int emu_move_moffs(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = (insn->opcode & 1) ? insn->op_size : 1;
	uint64_t off = insn->imm & emu_size_mask(insn->addr_size);
	uint8_t buf[8];
	int ret;

	if (insn->opcode >= 0xa2) {
		emu_store_le(buf, r->cpu->gpr[EMU_RAX], size);
		return emu_mem_at(r, emu_move_seg(insn), off, buf, size, true);
	}
	ret = emu_mem_at(r, emu_move_seg(insn), off, buf, size, false);
	if (!ret)
		emu_operand_set_reg(r, EMU_RAX, size, emu_load_le(buf, size));
	return ret;
}

static int emu_move_one(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size, reg;
	uint64_t v;
	uint8_t b;
	int ret;

	switch (insn->op) {
	case EMU_OP_MOVZX:
	case EMU_OP_MOVSX: {
		unsigned src = (insn->opcode & 1) ? 2 : 1;

		ret = emu_operand_read(r, src, &v);
		if (ret)
			return ret;
		if (insn->op == EMU_OP_MOVSX)
			v = emu_move_sext(v, src);
		emu_set_gpr(cpu, insn->reg, size, v);
		return 0;
	}
	case EMU_OP_MOVSXD:
		if (insn->code_size != 8)
			return -ENOTSUP; /* ARPL */
		ret = emu_operand_read(r, size == 8 ? 4 : size, &v);
		if (!ret)
			emu_set_gpr(cpu, insn->reg, size, emu_move_sext(v, size == 8 ? 4 : size));
		return ret;
	case EMU_OP_CMOV:
		/* The source is read (and can fault) whatever the condition; a 32-bit
		 * destination is zero-extended even when nothing moves. */
		ret = emu_operand_read(r, size, &v);
		if (ret)
			return ret;
		emu_set_gpr(cpu, insn->reg, size,
			    emu_flag_cond(cpu->rflags, insn->opcode) ? v : cpu->gpr[insn->reg]);
		return 0;
	case EMU_OP_SETCC:
		return emu_operand_write(r, 1, emu_flag_cond(cpu->rflags, insn->opcode));
	case EMU_OP_XCHG:
	case EMU_OP_NOP: /* 90 with REX.B: xchg %r8, %rax */
		return emu_move_xchg(r);
	case EMU_OP_BSWAP:
		reg = (insn->opcode & 7) | (insn->rex_b ? 8 : 0);
		/* With a 16-bit operand the result is undefined: CPUs clear the register's low 16.
		 */
		emu_set_gpr(cpu, reg, size,
			    size == 8	? __builtin_bswap64(cpu->gpr[reg])
			    : size == 4 ? __builtin_bswap32((uint32_t)cpu->gpr[reg])
					: 0);
		return 0;
	case EMU_OP_CBW:
		emu_set_gpr(cpu, EMU_RAX, size, emu_move_sext(cpu->gpr[EMU_RAX], size / 2));
		return 0;
	case EMU_OP_CWD:
		v = (cpu->gpr[EMU_RAX] >> (size * 8 - 1)) & 1;
		emu_set_gpr(cpu, EMU_RDX, size, v ? ~0ull : 0);
		return 0;
	case EMU_OP_MOV_MOFFS:
		return emu_move_moffs(r);
	case EMU_OP_XLAT:
		ret = emu_mem_at(r, emu_move_seg(insn),
				 (cpu->gpr[EMU_RBX] + (cpu->gpr[EMU_RAX] & 0xff)) &
				     emu_size_mask(insn->addr_size),
				 &b, 1, false);
		if (!ret)
			emu_set_gpr(cpu, EMU_RAX, 1, b);
		return ret;
	default:
		return -ENOTSUP;
	}
}

int emu_move_execute(struct emu_run *r)
{
	int ret = emu_move_one(r);

	return emu_done(r, ret);
}
