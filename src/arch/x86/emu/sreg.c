/*
 * Segment-register loads and stores: MOV to and from a segment register, PUSH and POP of one, and
 * the far-pointer loads LDS, LES, LSS, LFS, LGS. Real mode takes the selector as base / 16;
 * virtual-8086 mode gives the fixed 64 KiB ring-3 segment; protected mode checks the descriptor
 * as the CPU does (#GP, #NP, #SS with the selector as error code) and sets its accessed bit once
 * nothing can fault. Loading SS holds off interrupts and debug traps for one instruction
 * (EMU_DIRTY_SS_SHADOW, for the caller to pass on).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/seg.h"

/* DS, ES, FS or GS from sel, protected mode: a readable segment the CPL may use, or null. */
static int emu_sreg_load_data(struct emu_run *r, uint16_t sel, struct emu_seg *s,
			      struct emu_seg_accessed *acc)
{
	unsigned rpl = sel & EMU_SEL_RPL, err = sel & ~EMU_SEL_RPL;
	int ret;

	if (!(sel & ~EMU_SEL_RPL)) {
		memset(s, 0, sizeof(*s));
		s->selector = sel;
		s->unusable = true;
		return 0;
	}
	ret = emu_seg_load_desc(r, sel, EMU_X_GP, s, acc);
	if (ret)
		return ret;
	if (!s->s || (s->type & (EMU_TYPE_CODE | EMU_TYPE_WRITABLE)) == EMU_TYPE_CODE)
		return emu_raise(r->exc, EMU_X_GP, err); /* system, or execute-only code */
	if ((s->type & (EMU_TYPE_CODE | EMU_TYPE_CONFORMING)) !=
		(EMU_TYPE_CODE | EMU_TYPE_CONFORMING) &&
	    (rpl > s->dpl || r->cpu->cpl > s->dpl))
		return emu_raise(r->exc, EMU_X_GP, err);
	if (!s->present)
		return emu_raise(r->exc, EMU_X_NP, err);
	return 0;
}

/* What segment register n becomes with sel, every check made; emu_sreg_commit loads it. */
static int emu_sreg_load(struct emu_run *r, unsigned n, uint16_t sel, struct emu_seg *out,
			 struct emu_seg_accessed *acc)
{
	struct emu_cpu *cpu = r->cpu;

	if (!(cpu->cr0 & EMU_CR0_PE)) {
		*out = cpu->seg[n]; /* real mode: limit and attributes stay (unreal mode) */
		out->selector = sel;
		out->base = (uint64_t)sel << 4;
		out->unusable = false; /* even after a null load in protected mode */
		out->present = true;
	} else if (cpu->rflags & EMU_RFLAGS_VM) {
		*out = (struct emu_seg){ .base = (uint64_t)sel << 4,
					 .limit = 0xffff,
					 .selector = sel,
					 .type = 3,
					 .dpl = 3,
					 .s = 1,
					 .present = 1 };
	} else {
		int ret = n == EMU_SS ? emu_seg_load_return_ss(r, sel, cpu->cpl,
							       r->insn->code_size == 8, out, acc)
				      : emu_sreg_load_data(r, sel, out, acc);

		if (ret)
			return ret;
	}
	return 0;
}

static int emu_sreg_commit(struct emu_run *r, unsigned n, const struct emu_seg *s,
			   const struct emu_seg_accessed *acc)
{
	int ret = emu_seg_accessed_commit(r, acc);

	if (ret)
		return ret;
	r->cpu->seg[n] = *s;
	r->cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

/* Which segment register the opcode names (PUSH/POP: by opcode; MOV: ModRM.reg). */
static unsigned emu_sreg_of(const struct emu_insn *insn)
{
	if (insn->map == EMU_MAP_0F)
		return insn->opcode < 0xa8 ? EMU_FS : EMU_GS; /* 0F A0/A1, A8/A9 */
	return insn->opcode >> 3; /* 06/07 ES, 0E CS, 16/17 SS, 1E/1F DS */
}

static int emu_sreg_mov(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned n = insn->reg & 7;
	struct emu_seg_accessed acc = { 0 };
	struct emu_seg s;
	uint64_t v;
	int ret;

	if (n >= EMU_NR_SREGS)
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (insn->op == EMU_OP_MOV_FROM_SREG) {
		/* A register gets the selector zero-extended; memory always 16 bits. */
		if (!emu_insn_has_mem(insn)) {
			emu_set_gpr(r->cpu, insn->rm, insn->op_size, r->cpu->seg[n].selector);
			return 0;
		}
		return emu_operand_write(r, 2, r->cpu->seg[n].selector);
	}
	if (n == EMU_CS)
		return emu_raise(r->exc, EMU_X_UD, -1);
	ret = emu_operand_read(r, 2, &v);
	if (!ret)
		ret = emu_sreg_load(r, n, (uint16_t)v, &s, &acc);
	if (!ret)
		ret = emu_sreg_commit(r, n, &s, &acc);
	if (!ret && n == EMU_SS)
		r->cpu->dirty |= EMU_DIRTY_SS_SHADOW;
	return ret;
}

static int emu_sreg_push_pop(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	struct emu_seg_accessed acc = { 0 };
	unsigned n = emu_sreg_of(insn);
	struct emu_seg s;
	uint64_t v;
	int ret;

	if (insn->op == EMU_OP_PUSH_SREG) {
		v = cpu->seg[n].selector;
		ret = emu_seg_push(r, &st, &v, 1, insn->op_size);
		if (!ret)
			cpu->gpr[EMU_RSP] = st.sp;
		return ret;
	}
	ret = emu_seg_pop(r, &st, &v, 1, insn->op_size);
	if (!ret)
		ret = emu_sreg_load(r, n, (uint16_t)v, &s, &acc);
	if (!ret)
		ret = emu_sreg_commit(r, n, &s, &acc);
	if (ret)
		return ret;
	cpu->gpr[EMU_RSP] = st.sp;
	if (n == EMU_SS)
		cpu->dirty |= EMU_DIRTY_SS_SHADOW;
	return 0;
}

/* LDS, LES, LSS, LFS, LGS: offset (operand size) then selector from memory. */
static int emu_sreg_far_pointer(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size, n;
	struct emu_seg_accessed acc = { 0 };
	struct emu_seg s;
	uint8_t buf[10];
	int ret;

	if (insn->map == EMU_MAP_LEGACY)
		n = insn->opcode == 0xc4 ? EMU_ES : EMU_DS;
	else
		n = insn->opcode == 0xb2 ? EMU_SS : insn->opcode == 0xb4 ? EMU_FS : EMU_GS;
	ret = emu_mem_read(r, buf, size + 2, 1);
	if (!ret)
		ret = emu_sreg_load(r, n, (uint16_t)emu_load_le(buf + size, 2), &s, &acc);
	if (!ret)
		ret = emu_sreg_commit(r, n, &s, &acc);
	if (!ret)
		emu_set_gpr(r->cpu, insn->reg, size, emu_load_le(buf, size));
	return ret;
}

int emu_sreg_execute(struct emu_run *r)
{
	int ret;

	switch (r->insn->op) {
	case EMU_OP_MOV_SREG:
	case EMU_OP_MOV_FROM_SREG:
		ret = emu_sreg_mov(r);
		break;
	case EMU_OP_PUSH_SREG:
	case EMU_OP_POP_SREG:
		ret = emu_sreg_push_pop(r);
		break;
	case EMU_OP_LOAD_FAR:
		ret = emu_sreg_far_pointer(r);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
