/*
 * The stack: PUSH (register, immediate, r/m), POP (register, r/m), LEAVE and ENTER (with nesting
 * levels), on a 16-, 32- or 64-bit stack pointer, each slot checked against SS before any write.
 */
#include <errno.h>

#include "arch/x86/emu/seg.h"

static int emu_stack_push(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t v;
	int ret;

	if (insn->has_modrm) { /* FF /6 */
		ret = emu_operand_read(r, insn->op_size, &v);
		if (ret)
			return ret;
	} else if (insn->imm_size) { /* 68, 6A: sign-extended to the operand size */
		v = insn->imm;
	} else { /* 50-57: PUSH rSP pushes the value it had before */
		v = cpu->gpr[(insn->opcode & 7) | (insn->rex_b ? 8 : 0)];
	}
	ret = emu_seg_push(r, &st, &v, 1, insn->op_size);
	if (ret)
		return ret;
	cpu->gpr[EMU_RSP] = st.sp;
	return 0;
}

static int emu_stack_pop(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t v, old_sp = cpu->gpr[EMU_RSP];
	int ret;

	ret = emu_seg_pop(r, &st, &v, 1, insn->op_size);
	if (ret)
		return ret;
	if (!insn->has_modrm) { /* 58-5F: POP rSP leaves the popped value */
		cpu->gpr[EMU_RSP] = st.sp;
		emu_set_gpr(cpu, (insn->opcode & 7) | (insn->rex_b ? 8 : 0), insn->op_size, v);
		return 0;
	}
	/* 8F /0: an rSP-based destination is addressed with rSP already incremented. */
	cpu->gpr[EMU_RSP] = st.sp;
	ret = emu_operand_write(r, insn->op_size, v);
	if (ret)
		cpu->gpr[EMU_RSP] = old_sp;
	return ret;
}

static int emu_stack_leave(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t mask = emu_size_mask(st.sp_size), v;
	int ret;

	st.sp = (st.sp & ~mask) | (cpu->gpr[EMU_RBP] & mask);
	ret = emu_seg_pop(r, &st, &v, 1, r->insn->op_size);
	if (ret)
		return ret;
	cpu->gpr[EMU_RSP] = st.sp;
	emu_set_gpr(cpu, EMU_RBP, r->insn->op_size, v);
	return 0;
}

/* Whether SS:sp takes a write of size bytes, without writing (#SS, #PF as a push would). */
static int emu_stack_probe(struct emu_run *r, const struct emu_seg_stack *st, uint64_t sp,
			   unsigned size)
{
	struct emu_seg_stack probe = *st;
	uint8_t dummy[8];
	struct emu_pf pf;
	uint64_t la;
	int ret;

	/* emu_seg_push's checks, for one slot just above sp, with no write. */
	probe.sp = sp + size;
	ret = emu_seg_push_la(r, &probe, size, &la);
	if (ret)
		return ret;
	ret =
	    r->ops->read(r->opaque, la, dummy, size, st->user | EMU_ACC_WRITE | EMU_ACC_PROBE, &pf);
	return emu_mem_result(r, ret, &pf);
}

/* ENTER size, level: push rBP, copy level - 1 outer frame pointers, push the new frame's. */
static int emu_stack_enter(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	unsigned size = insn->op_size, level = (unsigned)insn->imm2 & 31;
	uint64_t mask = emu_size_mask(st.sp_size), v = cpu->gpr[EMU_RBP], frame, bp, new_sp;
	int ret;

	ret = emu_seg_push(r, &st, &v, 1, size);
	if (ret)
		return ret;
	frame = st.sp & mask;
	bp = cpu->gpr[EMU_RBP];
	for (unsigned i = 1; i < level; i++) {
		uint8_t buf[8];

		bp = (bp & ~mask) | ((bp - size) & mask);
		ret = emu_mem_at(r, EMU_SS, bp & mask, buf, size, false);
		if (ret)
			return ret;
		v = emu_load_le(buf, size);
		ret = emu_seg_push(r, &st, &v, 1, size);
		if (ret)
			return ret;
	}
	if (level) {
		ret = emu_seg_push(r, &st, &frame, 1, size);
		if (ret)
			return ret;
	}
	/* The CPU checks that the frame's lowest slot takes a write before it commits. */
	new_sp = (st.sp - (uint16_t)insn->imm) & mask;
	ret = emu_stack_probe(r, &st, new_sp, size);
	if (ret)
		return ret;
	emu_set_gpr(cpu, EMU_RBP, size, frame);
	cpu->gpr[EMU_RSP] = (st.sp & ~mask) | new_sp;
	return 0;
}

int emu_stack_execute(struct emu_run *r)
{
	int ret;

	switch (r->insn->op) {
	case EMU_OP_PUSH:
		ret = emu_stack_push(r);
		break;
	case EMU_OP_POP:
		ret = emu_stack_pop(r);
		break;
	case EMU_OP_LEAVE:
		ret = emu_stack_leave(r);
		break;
	case EMU_OP_ENTER:
		ret = emu_stack_enter(r);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
