/*
 * Control transfers through the IDT and back: INT n, INTO and IRET in real mode, protected mode
 * and IA-32e mode, at the same privilege level and into an inner one (IRET: out to an outer one).
 * Task gates, task returns (NT) and virtual-8086 mode are not implemented: -ENOTSUP stops the VM
 * with the register dump rather than doing something wrong.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/seg.h"

#define EMU_IDT_ERR(vec) (((uint32_t)(vec) << 3) | 2u) /* error code naming an IDT entry */

/* Gate and segment descriptor types (S = 0 system descriptors). */
#define EMU_GATE_TASK 0x5
#define EMU_GATE_INT16 0x6
#define EMU_GATE_TRAP16 0x7
#define EMU_GATE_INT32 0xe /* 64-bit interrupt gate in IA-32e mode */
#define EMU_GATE_TRAP32 0xf

/* INT n in real mode: FLAGS, CS, IP onto the stack, the handler from the IVT. */
static int emu_intr_int_real(struct emu_run *r, uint8_t vec)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	uint64_t ret_ip = (cpu->rip + r->insn->len) & 0xffff;
	uint64_t frame[3] = { cpu->rflags & 0xffff, cpu->seg[EMU_CS].selector, ret_ip };
	uint8_t ivt[4];
	int ret;

	if ((uint64_t)vec * 4 + 3 > cpu->idt.limit)
		return emu_raise(r->exc, EMU_X_GP, EMU_IDT_ERR(vec));
	ret = emu_seg_sys_read(r, cpu->idt.base + (uint64_t)vec * 4, ivt, sizeof(ivt));
	if (!ret)
		ret = emu_seg_push(r, &st, frame, 3, 2);
	if (ret)
		return ret;
	cpu->gpr[EMU_RSP] = st.sp;
	cpu->rflags &= ~(EMU_RFLAGS_IF | EMU_RFLAGS_TF | EMU_RFLAGS_AC | EMU_RFLAGS_RF);
	emu_seg_real_cs(cpu, (uint16_t)(ivt[2] | ivt[3] << 8));
	cpu->rip = (uint16_t)(ivt[0] | ivt[1] << 8);
	return 0;
}

/*
 * An interrupt through a protected-mode or IA-32e interrupt/trap gate: software (INT n, INT3,
 * INTO: the gate's DPL must allow the CPL) or an exception's delivery (err >= 0: an error code
 * pushed last). The return address is RIP + the instruction's length (0 when delivering).
 */
static int emu_intr_int_gate(struct emu_run *r, uint8_t vec, bool soft, int64_t err, bool fault)
{
	struct emu_cpu *cpu = r->cpu;
	bool lm = emu_seg_long(cpu);
	unsigned gsize = lm ? 16 : 8, type, dpl, ist = 0, psize, n = 0;
	uint8_t g[16];
	uint16_t sel;
	uint64_t target, frame[6];
	struct emu_seg cs;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	struct emu_seg_accessed acc = { 0 };
	uint64_t ret_ip = cpu->rip + r->insn->len;
	bool task;
	int ret;

	/* The return address wraps like the instruction pointer of the interrupted code. */
	if (r->insn->code_size == 2)
		ret_ip &= 0xffff;
	else if (r->insn->code_size == 4)
		ret_ip &= 0xffffffffull;
	if ((uint64_t)vec * gsize + gsize - 1 > cpu->idt.limit)
		return emu_raise(r->exc, EMU_X_GP, EMU_IDT_ERR(vec));
	ret = emu_seg_sys_read(r, cpu->idt.base + (uint64_t)vec * gsize, g, gsize);
	if (ret)
		return ret;
	type = g[5] & 0x1f; /* S and type: a gate has S = 0 */
	dpl = (g[5] >> 5) & 3;
	task = type == EMU_GATE_TASK && !lm;
	if (!task && (lm ? type != EMU_GATE_INT32 && type != EMU_GATE_TRAP32
			 : type != EMU_GATE_INT16 && type != EMU_GATE_TRAP16 &&
			       type != EMU_GATE_INT32 && type != EMU_GATE_TRAP32))
		return emu_raise(r->exc, EMU_X_GP, EMU_IDT_ERR(vec));
	if (soft && dpl < cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, EMU_IDT_ERR(vec));
	if (!(g[5] & 0x80))
		return emu_raise(r->exc, EMU_X_NP, EMU_IDT_ERR(vec));
	if (task)
		return -ENOTSUP; /* a task switch: not emulated */
	sel = (uint16_t)(g[2] | g[3] << 8);
	target = emu_seg_gate_offset(g, type == EMU_GATE_INT32 || type == EMU_GATE_TRAP32, lm);
	if (lm)
		ist = g[4] & 7;
	if (!(sel & ~EMU_SEL_RPL))
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_seg_load_desc(r, sel, EMU_X_GP, &cs, &acc);
	if (ret)
		return ret;
	if (!cs.s || !(cs.type & EMU_TYPE_CODE) || cs.dpl > cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	if (!cs.present)
		return emu_raise(r->exc, EMU_X_NP, sel & ~EMU_SEL_RPL);
	if (lm && (!cs.l || cs.db))
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	psize = lm ? 8 : (type == EMU_GATE_INT32 || type == EMU_GATE_TRAP32) ? 4 : 2;

	if (!(cs.type & EMU_TYPE_CONFORMING) && cs.dpl < cpu->cpl) {
		ret = emu_seg_tss_stack(r, cs.dpl, ist, true, &st, &acc);
		if (ret)
			return ret;
		frame[n++] = cpu->seg[EMU_SS].selector;
		frame[n++] = cpu->gpr[EMU_RSP];
	} else {
		if (!(cs.type & EMU_TYPE_CONFORMING) && cs.dpl != cpu->cpl)
			return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
		if (lm) {
			/* IA-32e: SS:RSP are always pushed, on an IST stack or the current one. */
			struct emu_seg_stack cur = st;

			if (ist) {
				ret = emu_seg_tss_stack(r, cpu->cpl, ist, true, &st, &acc);
				if (ret)
					return ret;
				st.ss = cur.ss;
			} else {
				st.sp = cur.sp & ~0xfull;
				st.sp_size = 8;
			}
			frame[n++] = cpu->seg[EMU_SS].selector;
			frame[n++] = cpu->gpr[EMU_RSP];
		}
	}
	/* IA-32e: a bad new stack (#SS) is found before a bad handler address (#GP). */
	if (lm && (!emu_is_canonical(cpu, st.sp - 40) || !emu_is_canonical(cpu, st.sp - 1)))
		return emu_raise(r->exc, EMU_X_SS, 0);
	if (lm ? !emu_is_canonical(cpu, target) : target > cs.limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	/* A fault's frame has RF set, so that the instruction can run again without a #DB. */
	frame[n++] = (cpu->rflags | (fault ? EMU_RFLAGS_RF : 0)) & emu_size_mask(psize);
	frame[n++] = cpu->seg[EMU_CS].selector;
	frame[n++] = ret_ip;
	if (err >= 0)
		frame[n++] = (uint64_t)err;
	ret = emu_seg_push(r, &st, frame, n, psize);
	if (!ret)
		ret = emu_seg_accessed_commit(r, &acc);
	if (ret)
		return ret;

	cs.selector = (uint16_t)((sel & ~EMU_SEL_RPL) | cs.dpl);
	if (cs.type & EMU_TYPE_CONFORMING)
		cs.selector = (uint16_t)((sel & ~EMU_SEL_RPL) | cpu->cpl);
	else
		cpu->cpl = cs.dpl;
	cpu->seg[EMU_SS] = st.ss; /* unchanged unless the stack switched */
	cpu->seg[EMU_CS] = cs;
	cpu->gpr[EMU_RSP] = st.sp;
	cpu->rip = target;
	cpu->rflags &= ~(EMU_RFLAGS_TF | EMU_RFLAGS_NT | EMU_RFLAGS_RF | EMU_RFLAGS_VM);
	if (type == EMU_GATE_INT16 || type == EMU_GATE_INT32)
		cpu->rflags &= ~EMU_RFLAGS_IF;
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

static int emu_intr_int(struct emu_run *r, uint8_t vec)
{
	struct emu_cpu *cpu = r->cpu;

	if (cpu->rflags & EMU_RFLAGS_VM)
		return -ENOTSUP; /* virtual-8086 mode: IOPL and VME rules, not implemented */
	if (!(cpu->cr0 & EMU_CR0_PE))
		return emu_intr_int_real(r, vec);
	return emu_intr_int_gate(r, vec, true, -1, false);
}

int emu_deliver(struct emu_cpu *cpu, const struct emu_exception *exc, bool soft,
		const struct emu_ops *ops, void *opaque, struct emu_exception *nested)
{
	struct emu_insn insn;
	struct emu_run r = { cpu, &insn, ops, opaque, nested, cpu->cpl == 3 ? EMU_ACC_USER : 0, 0 };
	int ret;

	memset(&insn, 0, sizeof(insn));
	memset(nested, 0, sizeof(*nested));
	insn.code_size = (uint8_t)emu_code_size(cpu);
	insn.op_size = insn.code_size == 2 ? 2 : 4;
	insn.addr_size = insn.code_size;
	if (cpu->rflags & EMU_RFLAGS_VM)
		return -ENOTSUP;
	if (!(cpu->cr0 & EMU_CR0_PE)) {
		ret = emu_intr_int_real(&r, exc->vector);
		nested->has_error_code = false;
	} else {
		/* Faults, not traps: #DB from a single step, #BP and #OF come after their
		 * instruction. */
		bool fault =
		    exc->vector != EMU_X_DB && exc->vector != EMU_X_BP && exc->vector != EMU_X_OF;

		ret = emu_intr_int_gate(&r, exc->vector, soft,
					exc->has_error_code ? (int64_t)exc->error_code : -1, fault);
	}
	if (ret != EMU_RAISED)
		return ret;
	/* A fault while delivering an event the software did not ask for: EXT in its code. */
	if (!soft && nested->has_error_code &&
	    (nested->vector == EMU_X_TS || nested->vector == EMU_X_NP ||
	     nested->vector == EMU_X_SS || nested->vector == EMU_X_GP))
		nested->error_code |= 1;
	return 0;
}

/* The RFLAGS an IRET leaves: what the popped image may change at this CPL and operand size. */
static uint64_t emu_intr_iret_flags(const struct emu_cpu *cpu, uint64_t popped, unsigned size)
{
	uint64_t mask = EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF |
			EMU_RFLAGS_SF | EMU_RFLAGS_TF | EMU_RFLAGS_DF | EMU_RFLAGS_OF |
			EMU_RFLAGS_NT | EMU_RFLAGS_RF | EMU_RFLAGS_AC | EMU_RFLAGS_ID;
	unsigned iopl = (unsigned)(cpu->rflags >> 12) & 3;

	if (!(cpu->cr0 & EMU_CR0_PE)) {
		mask |= EMU_RFLAGS_IF | EMU_RFLAGS_IOPL;
	} else {
		if (cpu->cpl <= iopl)
			mask |= EMU_RFLAGS_IF;
		if (cpu->cpl == 0)
			mask |= EMU_RFLAGS_IOPL | EMU_RFLAGS_VIF | EMU_RFLAGS_VIP;
	}
	if (size == 2)
		mask &= 0xffff;
	return ((cpu->rflags & ~mask) | (popped & mask)) | 2;
}

static int emu_intr_iret_real(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	unsigned size = r->insn->op_size == 4 ? 4 : 2;
	uint64_t v[3];
	int ret;

	ret = emu_seg_pop(r, &st, v, 3, size);
	if (ret)
		return ret;
	/* A 32-bit IRET may not return above 64 KiB in real mode. */
	if (v[0] > 0xffff || v[0] > cpu->seg[EMU_CS].limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	cpu->gpr[EMU_RSP] = st.sp;
	cpu->rflags = emu_intr_iret_flags(cpu, v[2], size);
	emu_seg_real_cs(cpu, (uint16_t)v[1]);
	cpu->rip = v[0];
	return 0;
}

static int emu_intr_iret_prot(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	bool lm = emu_seg_long(cpu), from64 = r->insn->code_size == 8;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	unsigned size = r->insn->op_size, rpl;
	uint64_t v[5];
	uint16_t sel, ss_sel = 0;
	struct emu_seg cs, ss;
	struct emu_seg_accessed acc = { 0 };
	bool outer;
	int ret;

	if (cpu->rflags & EMU_RFLAGS_VM)
		return -ENOTSUP;
	if (cpu->rflags & EMU_RFLAGS_NT) {
		if (lm)
			return emu_raise(r->exc, EMU_X_GP, 0);
		return -ENOTSUP; /* return from a nested task */
	}
	ret = emu_seg_pop(r, &st, v, 3, size);
	if (ret)
		return ret;
	if (!lm && size == 4 && (v[2] & EMU_RFLAGS_VM) && cpu->cpl == 0)
		return -ENOTSUP; /* return to virtual-8086 mode */
	sel = (uint16_t)v[1];
	rpl = sel & EMU_SEL_RPL;
	ret = emu_seg_load_return_cs(r, sel, &cs, &acc);
	if (ret)
		return ret;
	outer = rpl > cpu->cpl;
	/* 64-bit mode pops SS:RSP every time; elsewhere only on a return to an outer level. */
	if (outer || from64) {
		ret = emu_seg_pop(r, &st, v + 3, 2, size);
		if (ret)
			return ret;
		ss_sel = (uint16_t)v[4];
		ret = emu_seg_load_return_ss(r, ss_sel, rpl, lm && cs.l, &ss, &acc);
		if (ret)
			return ret;
	}
	if (lm && cs.l) {
		if (!emu_is_canonical(cpu, v[0]))
			return emu_raise(r->exc, EMU_X_GP, 0);
	} else {
		v[0] &= 0xffffffffull;
		if (v[0] > cs.limit)
			return emu_raise(r->exc, EMU_X_GP, 0);
	}
	ret = emu_seg_accessed_commit(r, &acc);
	if (ret)
		return ret;

	cpu->rflags = emu_intr_iret_flags(cpu, v[2], size);
	if (lm)
		cpu->rflags &= ~EMU_RFLAGS_VM;
	cs.selector = sel;
	cpu->seg[EMU_CS] = cs;
	cpu->rip = v[0];
	if (outer || from64) {
		cpu->seg[EMU_SS] = ss;
		/*
		 * The new stack pointer: from 64-bit mode all of what was popped (whatever mode
		 * the return goes to), elsewhere by SS's size.
		 */
		if (from64)
			cpu->gpr[EMU_RSP] = v[3];
		else if (ss.db || ss.unusable)
			cpu->gpr[EMU_RSP] = (uint32_t)v[3];
		else
			cpu->gpr[EMU_RSP] = (cpu->gpr[EMU_RSP] & ~0xffffull) | (v[3] & 0xffff);
	} else {
		cpu->gpr[EMU_RSP] = st.sp;
	}
	cpu->cpl = (uint8_t)rpl;
	if (outer)
		emu_seg_null_data(cpu);
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

int emu_intr_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;

	switch (r->insn->op) {
	case EMU_OP_INT:
		return emu_intr_int(r, (uint8_t)r->insn->imm);
	case EMU_OP_INTO:
		if (r->insn->code_size == 8)
			return emu_raise(r->exc, EMU_X_UD, -1);
		if (!(cpu->rflags & EMU_RFLAGS_OF)) {
			emu_complete(r);
			return 0;
		}
		return emu_intr_int(r, EMU_X_OF);
	case EMU_OP_IRET:
		if (cpu->rflags & EMU_RFLAGS_VM)
			return -ENOTSUP;
		if (!(cpu->cr0 & EMU_CR0_PE))
			return emu_intr_iret_real(r);
		return emu_intr_iret_prot(r);
	default:
		return -ENOTSUP;
	}
}
