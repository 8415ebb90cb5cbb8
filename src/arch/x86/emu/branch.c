/*
 * Near branches: Jcc, JMP and CALL (relative and through r/m), RET (with a stack release), LOOP,
 * LOOPE, LOOPNE and JrCXZ. The target is checked before anything changes: #GP(0) when it is past
 * CS's limit, or not canonical in 64-bit mode. In 64-bit mode the operand size is 64 whatever a
 * 66 prefix says (Intel's rule; AMD CPUs honour the prefix).
 */
#include <errno.h>

#include "arch/x86/emu/seg.h"

/* The target, truncated to the operand size, if CS allows it. */
static int emu_branch_check(struct emu_run *r, uint64_t *target)
{
	const struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;

	*target &= emu_size_mask(insn->op_size);
	if (insn->code_size == 8 ? !emu_is_canonical(cpu, *target)
				 : *target > cpu->seg[EMU_CS].limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	return 0;
}

static void emu_branch_go(struct emu_run *r, uint64_t target)
{
	r->cpu->rip = target;
	r->cpu->rflags &= ~EMU_RFLAGS_RF;
}

/* The destination: relative to the next instruction, or from r/m (FF /2, FF /4). */
static int emu_branch_target(struct emu_run *r, uint64_t *target)
{
	const struct emu_insn *insn = r->insn;
	int ret;

	if (insn->has_modrm) {
		ret = emu_operand_read(r, insn->op_size, target);
		if (ret)
			return ret;
	} else {
		*target = r->cpu->rip + insn->len + insn->imm;
	}
	return emu_branch_check(r, target);
}

static int emu_branch_call(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t target, next = (cpu->rip + r->insn->len) & emu_size_mask(r->insn->op_size);
	int ret;

	ret = emu_branch_target(r, &target);
	if (!ret)
		ret = emu_seg_push(r, &st, &next, 1, r->insn->op_size);
	if (ret)
		return ret;
	cpu->gpr[EMU_RSP] = st.sp;
	emu_branch_go(r, target);
	return 0;
}

static int emu_branch_ret(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t target, mask = emu_size_mask(st.sp_size);
	int ret;

	ret = emu_seg_pop(r, &st, &target, 1, r->insn->op_size);
	if (!ret)
		ret = emu_branch_check(r, &target);
	if (ret)
		return ret;
	if (r->insn->imm_size)
		st.sp = (st.sp & ~mask) | ((st.sp + (uint16_t)r->insn->imm) & mask);
	cpu->gpr[EMU_RSP] = st.sp;
	emu_branch_go(r, target);
	return 0;
}

/* E0-E3: the count register is rCX at the address size. */
static int emu_branch_loop(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned asz = insn->addr_size;
	uint64_t count = cpu->gpr[EMU_RCX] & emu_size_mask(asz), target;
	bool zf = cpu->rflags & EMU_RFLAGS_ZF, taken;
	int ret;

	if (insn->opcode == 0xe3) {
		taken = !count;
	} else {
		count = (count - 1) & emu_size_mask(asz);
		taken = count && (insn->opcode == 0xe2 || (insn->opcode == 0xe1) == zf);
	}
	if (taken) {
		ret = emu_branch_target(r, &target);
		if (ret)
			return ret;
	}
	if (insn->opcode != 0xe3)
		emu_set_gpr(cpu, EMU_RCX, asz, count);
	if (taken)
		emu_branch_go(r, target);
	else
		emu_complete(r);
	return 0;
}

int emu_branch_execute(struct emu_run *r)
{
	uint64_t target;
	int ret;

	switch (r->insn->op) {
	case EMU_OP_JCC:
		if (!emu_flag_cond(r->cpu->rflags, r->insn->opcode)) {
			emu_complete(r);
			return 0;
		}
		/* fall through */
	case EMU_OP_JMP:
		ret = emu_branch_target(r, &target);
		if (ret)
			return ret;
		emu_branch_go(r, target);
		return 0;
	case EMU_OP_CALL:
		return emu_branch_call(r);
	case EMU_OP_RET:
		return emu_branch_ret(r);
	case EMU_OP_LOOP:
		return emu_branch_loop(r);
	default:
		return -ENOTSUP;
	}
}
