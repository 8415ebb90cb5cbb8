/*
 * Far control transfers: JMP and CALL to a code segment (ptr16:16/32 or m16:16/32/64) or through a
 * call gate (16-, 32- or 64-bit; CALL also into an inner privilege level on the TSS's stack, with
 * a legacy gate's parameters copied), and RET far, in real mode, protected mode and IA-32e mode;
 * RET also to an outer privilege level. Task switches (a task gate or TSS as the target) are not
 * implemented (-ENOTSUP stops the VM with the register dump).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/seg.h"

/* The far pointer: from the instruction (9A, EA) or from memory (FF /3, FF /5). */
static int emu_far_target(struct emu_run *r, uint64_t *off, uint16_t *sel)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size;
	uint8_t buf[10];
	int ret;

	if (!emu_insn_has_mem(insn)) {
		*off = insn->imm & emu_size_mask(size == 8 ? 4 : size);
		*sel = (uint16_t)insn->imm2;
		return 0;
	}
	ret = emu_mem_read(r, buf, size + 2, 1);
	if (ret)
		return ret;
	*off = emu_load_le(buf, size);
	*sel = (uint16_t)emu_load_le(buf + size, 2);
	return 0;
}

/* emu_far_code: the selector names a system descriptor (a gate or a TSS). */
#define EMU_FAR_SYSTEM 2

#define EMU_CALL_GATE16 0x4
#define EMU_CALL_GATE32 0xc /* the 64-bit call gate in IA-32e mode */

/*
 * The checks a far JMP/CALL makes of its target code segment; *cs is the new CS (RPL = CPL).
 * EMU_FAR_SYSTEM for a system descriptor, which emu_far_gate handles.
 */
static int emu_far_code(struct emu_run *r, uint16_t sel, uint64_t off, struct emu_seg *cs,
			struct emu_seg_accessed *acc)
{
	const struct emu_cpu *cpu = r->cpu;
	unsigned rpl = sel & EMU_SEL_RPL;
	int ret;

	if (!(sel & ~EMU_SEL_RPL))
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_seg_load_desc(r, sel, EMU_X_GP, cs, acc);
	if (ret)
		return ret;
	if (!cs->s)
		return EMU_FAR_SYSTEM;
	if (!(cs->type & EMU_TYPE_CODE))
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	if ((cs->type & EMU_TYPE_CONFORMING) ? cs->dpl > cpu->cpl
					     : rpl > cpu->cpl || cs->dpl != cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	if (!cs->present)
		return emu_raise(r->exc, EMU_X_NP, sel & ~EMU_SEL_RPL);
	if (emu_seg_long(cpu) && cs->l && cs->db)
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	if (emu_seg_long(cpu) && cs->l ? !emu_is_canonical(cpu, off) : off > cs->limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	cs->selector = (uint16_t)((sel & ~EMU_SEL_RPL) | cpu->cpl);
	return 0;
}

/* Copy a legacy call gate's count parameters from the caller's stack, highest address first. */
static int emu_far_gate_params(struct emu_run *r, unsigned count, unsigned size, uint64_t *out)
{
	const struct emu_seg_stack cur = emu_seg_cur_stack(r);
	uint64_t mask = emu_size_mask(cur.sp_size);
	int ret;

	for (unsigned i = 0; i < count; i++) {
		uint8_t buf[4];

		ret = emu_mem_at(r, EMU_SS, (cur.sp + (uint64_t)(count - 1 - i) * size) & mask, buf,
				 size, false);
		if (ret)
			return ret;
		out[i] = emu_load_le(buf, size);
	}
	return 0;
}

/*
 * JMP or CALL through the call gate gsel: the gate's checks, then its code segment's; a CALL to a
 * more privileged non-conforming segment switches to the TSS's stack for that level.
 */
static int emu_far_gate(struct emu_run *r, uint16_t gsel, bool call)
{
	struct emu_cpu *cpu = r->cpu;
	bool lm = emu_seg_long(cpu), inner;
	unsigned type, dpl, size, count = 0, n = 0, new_cpl = cpu->cpl;
	uint16_t csel, gerr = gsel & ~EMU_SEL_RPL;
	uint64_t off, la, frame[EMU_SEG_PUSH_MAX], ret_ip = cpu->rip + r->insn->len;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	struct emu_seg_accessed acc = { 0 };
	struct emu_seg cs;
	uint8_t g[16];
	int ret;

	if (r->insn->code_size != 8)
		ret_ip &= emu_size_mask(r->insn->code_size);
	ret = emu_seg_read_desc(r, gsel, EMU_X_GP, g, lm ? 16 : 8, &la);
	if (ret)
		return ret;
	type = g[5] & 0x1f; /* S = 0 and the type */
	dpl = (g[5] >> 5) & 3;
	if (!lm && (type == 0x5 || type == 0x1 || type == 0x9))
		return -ENOTSUP; /* a task gate or an available TSS: a task switch */
	if (lm ? type != EMU_CALL_GATE32 || (g[13] & 0x1f)
	       : type != EMU_CALL_GATE16 && type != EMU_CALL_GATE32)
		return emu_raise(r->exc, EMU_X_GP, gerr);
	if (dpl < cpu->cpl || dpl < (gsel & EMU_SEL_RPL))
		return emu_raise(r->exc, EMU_X_GP, gerr);
	if (!(g[5] & 0x80))
		return emu_raise(r->exc, EMU_X_NP, gerr);
	csel = (uint16_t)(g[2] | g[3] << 8);
	off = emu_seg_gate_offset(g, type == EMU_CALL_GATE32, lm);
	size = lm ? 8 : type == EMU_CALL_GATE32 ? 4 : 2;
	if (!(csel & ~EMU_SEL_RPL))
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_seg_load_desc(r, csel, EMU_X_GP, &cs, &acc);
	if (ret)
		return ret;
	if (!cs.s || !(cs.type & EMU_TYPE_CODE) || cs.dpl > cpu->cpl ||
	    (!call && !(cs.type & EMU_TYPE_CONFORMING) && cs.dpl != cpu->cpl) ||
	    (lm && (!cs.l || cs.db)))
		return emu_raise(r->exc, EMU_X_GP, csel & ~EMU_SEL_RPL);
	if (!cs.present)
		return emu_raise(r->exc, EMU_X_NP, csel & ~EMU_SEL_RPL);
	inner = call && !(cs.type & EMU_TYPE_CONFORMING) && cs.dpl < cpu->cpl;
	if (inner) {
		new_cpl = cs.dpl;
		ret = emu_seg_tss_stack(r, new_cpl, 0, false, &st, &acc);
		if (ret)
			return ret;
		frame[n++] = cpu->seg[EMU_SS].selector;
		frame[n++] = cpu->gpr[EMU_RSP] & emu_size_mask(emu_seg_cur_stack(r).sp_size);
		if (!lm) {
			count = g[4] & 0x1f;
			ret = emu_far_gate_params(r, count, size, frame + n);
			if (ret)
				return ret;
			n += count;
		}
	}
	if (lm ? !emu_is_canonical(cpu, off) : off > cs.limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (call) {
		frame[n++] = cpu->seg[EMU_CS].selector;
		frame[n++] = ret_ip;
		ret = emu_seg_push(r, &st, frame, n, size);
		if (ret)
			return ret;
	}
	ret = emu_seg_accessed_commit(r, &acc);
	if (ret)
		return ret;
	cs.selector = (uint16_t)((csel & ~EMU_SEL_RPL) | new_cpl);
	cpu->seg[EMU_CS] = cs;
	if (inner) {
		cpu->seg[EMU_SS] = st.ss;
		cpu->cpl = (uint8_t)new_cpl;
	}
	if (call)
		cpu->gpr[EMU_RSP] = st.sp;
	cpu->rip = off;
	cpu->rflags &= ~EMU_RFLAGS_RF;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

static int emu_far_jmp_call(struct emu_run *r, bool call)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	struct emu_seg_accessed acc = { 0 };
	unsigned size = insn->op_size;
	uint64_t off, ret_ip = cpu->rip + insn->len;
	uint16_t sel;
	struct emu_seg cs;
	int ret;

	if (cpu->rflags & EMU_RFLAGS_VM)
		return -ENOTSUP;
	ret = emu_far_target(r, &off, &sel);
	if (ret)
		return ret;
	if (insn->code_size != 8)
		ret_ip &= emu_size_mask(insn->code_size);
	if (!(cpu->cr0 & EMU_CR0_PE)) {
		uint64_t frame[2] = { cpu->seg[EMU_CS].selector, ret_ip };

		if (off > 0xffff || off > cpu->seg[EMU_CS].limit)
			return emu_raise(r->exc, EMU_X_GP, 0);
		if (call) {
			ret = emu_seg_push(r, &st, frame, 2, size);
			if (ret)
				return ret;
			cpu->gpr[EMU_RSP] = st.sp;
		}
		emu_seg_real_cs(cpu, sel);
		cpu->rip = off;
		cpu->rflags &= ~EMU_RFLAGS_RF;
		return 0;
	}
	ret = emu_far_code(r, sel, off, &cs, &acc);
	if (ret == EMU_FAR_SYSTEM)
		return emu_far_gate(r, sel, call);
	if (ret)
		return ret;
	if (call) {
		uint64_t frame[2] = { cpu->seg[EMU_CS].selector, ret_ip };

		ret = emu_seg_push(r, &st, frame, 2, size);
		if (ret)
			return ret;
	}
	ret = emu_seg_accessed_commit(r, &acc);
	if (ret)
		return ret;
	if (call)
		cpu->gpr[EMU_RSP] = st.sp;
	cpu->seg[EMU_CS] = cs;
	cpu->rip = off;
	cpu->rflags &= ~EMU_RFLAGS_RF;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

/* RET far (CB, CA imm16): back to the same level, or to an outer one with its stack. */
static int emu_far_ret(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	struct emu_seg_accessed acc = { 0 };
	unsigned size = insn->op_size, rpl;
	uint64_t v[2], outer_v[2], release = insn->imm_size ? (uint16_t)insn->imm : 0;
	uint16_t sel, ss_sel;
	struct emu_seg cs, ss;
	int ret;

	if (cpu->rflags & EMU_RFLAGS_VM)
		return -ENOTSUP;
	ret = emu_seg_pop(r, &st, v, 2, size);
	if (ret)
		return ret;
	sel = (uint16_t)v[1];
	if (!(cpu->cr0 & EMU_CR0_PE)) {
		if (v[0] > 0xffff || v[0] > cpu->seg[EMU_CS].limit)
			return emu_raise(r->exc, EMU_X_GP, 0);
		emu_seg_real_cs(cpu, sel);
		cpu->rip = v[0];
		cpu->gpr[EMU_RSP] = (st.sp & ~emu_size_mask(st.sp_size)) |
				    ((st.sp + release) & emu_size_mask(st.sp_size));
		cpu->rflags &= ~EMU_RFLAGS_RF;
		return 0;
	}
	rpl = sel & EMU_SEL_RPL;
	ret = emu_seg_load_return_cs(r, sel, &cs, &acc);
	if (ret)
		return ret;
	if (emu_seg_long(cpu) && cs.l ? !emu_is_canonical(cpu, v[0]) : v[0] > cs.limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (rpl > cpu->cpl) {
		/* The caller's stack follows the released parameters. */
		st.sp = (st.sp & ~emu_size_mask(st.sp_size)) |
			((st.sp + release) & emu_size_mask(st.sp_size));
		ret = emu_seg_pop(r, &st, outer_v, 2, size);
		if (ret)
			return ret;
		ss_sel = (uint16_t)outer_v[1];
		ret = emu_seg_load_return_ss(r, ss_sel, rpl, emu_seg_long(cpu) && cs.l, &ss, &acc);
		if (ret)
			return ret;
	}
	ret = emu_seg_accessed_commit(r, &acc);
	if (ret)
		return ret;
	cs.selector = sel;
	cpu->seg[EMU_CS] = cs;
	cpu->rip = v[0];
	if (rpl > cpu->cpl) {
		uint64_t sp = outer_v[0] + release;

		cpu->seg[EMU_SS] = ss;
		/* The caller's stack pointer, by the size of its stack. */
		if (insn->code_size == 8)
			cpu->gpr[EMU_RSP] = sp;
		else if (ss.db || ss.unusable)
			cpu->gpr[EMU_RSP] = (uint32_t)sp;
		else
			cpu->gpr[EMU_RSP] = (cpu->gpr[EMU_RSP] & ~0xffffull) | (sp & 0xffff);
		cpu->cpl = (uint8_t)rpl;
		emu_seg_null_data(cpu);
	} else {
		cpu->gpr[EMU_RSP] = (st.sp & ~emu_size_mask(st.sp_size)) |
				    ((st.sp + release) & emu_size_mask(st.sp_size));
	}
	cpu->rflags &= ~EMU_RFLAGS_RF;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

int emu_far_execute(struct emu_run *r)
{
	switch (r->insn->op) {
	case EMU_OP_JMPF:
		return emu_far_jmp_call(r, false);
	case EMU_OP_CALLF:
		return emu_far_jmp_call(r, true);
	case EMU_OP_RETF:
		return emu_far_ret(r);
	default:
		return -ENOTSUP;
	}
}
