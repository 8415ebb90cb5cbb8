/*
 * The descriptor-table registers and the machine status word: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW,
 * SLDT, STR (with UMIP: the stores are CPL 0 only when CR4.UMIP is set), and LLDT and LTR, which
 * load an LDT or TSS descriptor from the GDT (16 bytes in IA-32e mode); LTR marks the TSS busy.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/seg.h"

/* A store of len bytes to the r/m operand: memory, or a register (zero-extended to op_size). */
static int emu_dtab_store(struct emu_run *r, uint64_t v, unsigned mem_len)
{
	const struct emu_insn *insn = r->insn;
	uint8_t buf[8];

	if (!emu_insn_has_mem(insn)) {
		emu_set_gpr(r->cpu, insn->rm, insn->op_size, v);
		return 0;
	}
	emu_store_le(buf, v, mem_len);
	return emu_mem_write(r, buf, mem_len, 1);
}

/* UMIP: the store forms are privileged when CR4.UMIP is set. */
static int emu_dtab_umip(struct emu_run *r)
{
	if ((r->cpu->cr4 & EMU_CR4_UMIP) && r->cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	return 0;
}

/* SGDT/SIDT: limit, then a 32-bit base (64-bit in 64-bit mode). */
static int emu_dtab_sxdt(struct emu_run *r, const struct emu_dtable *t)
{
	unsigned blen = r->insn->code_size == 8 ? 8 : 4;
	uint8_t buf[10];

	if (!emu_insn_has_mem(r->insn))
		return emu_raise(r->exc, EMU_X_UD, -1);
	emu_store_le(buf, t->limit, 2);
	emu_store_le(buf + 2, blen == 4 ? (uint32_t)t->base : t->base, blen);
	return emu_mem_write(r, buf, 2 + blen, 1);
}

/* LGDT/LIDT: CPL 0; a 24-bit base with a 16-bit operand, a canonical one in 64-bit mode. */
static int emu_dtab_lxdt(struct emu_run *r, struct emu_dtable *t)
{
	const struct emu_insn *insn = r->insn;
	unsigned blen = insn->code_size == 8 ? 8 : 4;
	uint8_t buf[10];
	uint64_t base;
	int ret;

	if (!emu_insn_has_mem(insn))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (r->cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_mem_read(r, buf, 2 + blen, 1);
	if (ret)
		return ret;
	base = emu_load_le(buf + 2, blen);
	if (blen == 8 && !emu_is_canonical(r->cpu, base))
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (blen == 4 && insn->op_size == 2)
		base &= 0xffffff;
	t->limit = (uint16_t)emu_load_le(buf, 2);
	t->base = base;
	r->cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

/* LMSW: CR0's PE, MP, EM and TS from a 16-bit operand; PE can be set, never cleared. */
static int emu_dtab_lmsw(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	uint64_t v;
	uint8_t buf[2];
	int ret;

	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (emu_insn_has_mem(insn)) {
		ret = emu_mem_read(r, buf, 2, 1);
		if (ret)
			return ret;
		v = emu_load_le(buf, 2);
	} else {
		v = cpu->gpr[insn->rm] & 0xffff;
	}
	cpu->cr0 = (cpu->cr0 & ~0xeull) | (v & 0xe) | (cpu->cr0 & 1) | (v & 1);
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

/* LLDT (type 2: an LDT) and LTR (type 1 or 9: an available TSS, then marked busy). */
static int emu_dtab_load_system(struct emu_run *r, bool tr)
{
	struct emu_cpu *cpu = r->cpu;
	bool lm = emu_seg_long(cpu);
	uint8_t d[16], busy[8];
	uint16_t sel, err;
	unsigned type;
	struct emu_seg s;
	struct emu_pf pf;
	bool swapped;
	uint64_t v, la;
	int ret;

	if (emu_real_or_v86(cpu))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_operand_read(r, 2, &v);
	if (ret)
		return ret;
	sel = (uint16_t)v;
	err = sel & ~EMU_SEL_RPL;
	if (!(sel & ~EMU_SEL_RPL)) {
		if (tr)
			return emu_raise(r->exc, EMU_X_GP, 0);
		memset(&cpu->ldt, 0, sizeof(cpu->ldt));
		cpu->ldt.selector = sel;
		cpu->ldt.unusable = true;
		cpu->dirty |= EMU_DIRTY_SREGS;
		return 0;
	}
	if (sel & EMU_SEL_TI) /* only the GDT holds these */
		return emu_raise(r->exc, EMU_X_GP, err);
	ret = emu_seg_read_desc(r, sel, EMU_X_GP, d, lm ? 16 : 8, &la);
	if (ret)
		return ret;
	type = d[5] & 0x1f; /* S = 0 and the type */
	if (tr ? type != 0x9 && (lm || type != 0x1) : type != 0x2)
		return emu_raise(r->exc, EMU_X_GP, err);
	if (lm && (d[13] & 0x1f))
		return emu_raise(r->exc, EMU_X_GP, err);
	if (!(d[5] & 0x80))
		return emu_raise(r->exc, EMU_X_NP, err);
	s = (struct emu_seg){
		.base = (uint64_t)d[2] | (uint64_t)d[3] << 8 | (uint64_t)d[4] << 16 |
			(uint64_t)d[7] << 24 | (lm ? emu_load_le(d + 8, 4) << 32 : 0),
		.limit = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)(d[6] & 0xf) << 16,
		.selector = sel,
		.type = (uint8_t)(d[5] & 0xf),
		.dpl = (d[5] >> 5) & 3,
		.present = true,
		.db = (d[6] >> 6) & 1,
	};
	if (d[6] & 0x80)
		s.limit = s.limit << 12 | 0xfff;
	if (lm && !emu_is_canonical(cpu, s.base))
		return emu_raise(r->exc, EMU_X_GP, err);
	if (tr) {
		/* Busy, with a locked update as the CPU makes it (another vCPU may race us). */
		memcpy(busy, d, 8);
		busy[5] |= 2;
		if (!lm)
			la &= 0xffffffffull;
		ret = r->ops->cmpxchg(r->opaque, la, d, busy, 8, EMU_ACC_WRITE | EMU_ACC_IMPLICIT,
				      &swapped, &pf);
		if (ret)
			return emu_mem_result(r, ret, &pf);
		if (!swapped) /* changed under us: the CPU would have read the new one */
			return -EAGAIN;
		s.type |= 2;
		cpu->tr = s;
	} else {
		cpu->ldt = s;
	}
	cpu->dirty |= EMU_DIRTY_SREGS;
	return 0;
}

int emu_dtab_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	int ret;

	switch (r->insn->op) {
	case EMU_OP_SGDT:
	case EMU_OP_SIDT:
	case EMU_OP_SMSW:
	case EMU_OP_SLDT:
	case EMU_OP_STR:
		/* Protected-mode-only instructions: SLDT/STR are #UD in real and v86 mode. */
		if ((r->insn->op == EMU_OP_SLDT || r->insn->op == EMU_OP_STR) &&
		    emu_real_or_v86(cpu))
			return emu_raise(r->exc, EMU_X_UD, -1);
		ret = emu_dtab_umip(r);
		if (ret)
			return ret;
		if (r->insn->op == EMU_OP_SGDT)
			ret = emu_dtab_sxdt(r, &cpu->gdt);
		else if (r->insn->op == EMU_OP_SIDT)
			ret = emu_dtab_sxdt(r, &cpu->idt);
		else if (r->insn->op == EMU_OP_SMSW)
			ret = emu_dtab_store(r, cpu->cr0 & 0xffffffffull, 2);
		else
			ret = emu_dtab_store(
			    r, r->insn->op == EMU_OP_SLDT ? cpu->ldt.selector : cpu->tr.selector,
			    2);
		break;
	case EMU_OP_LGDT:
		ret = emu_dtab_lxdt(r, &cpu->gdt);
		break;
	case EMU_OP_LIDT:
		ret = emu_dtab_lxdt(r, &cpu->idt);
		break;
	case EMU_OP_LMSW:
		ret = emu_dtab_lmsw(r);
		break;
	case EMU_OP_LLDT:
	case EMU_OP_LTR:
		ret = emu_dtab_load_system(r, r->insn->op == EMU_OP_LTR);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
