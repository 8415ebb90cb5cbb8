/*
 * The descriptor-table registers and the machine status word: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW,
 * SLDT, STR (with UMIP: the stores are CPL 0 only when CR4.UMIP is set). LLDT and LTR, which load
 * descriptors and mark the TSS busy, are not emulated.
 */
#include <errno.h>

#include "arch/x86/emu/exec.h"

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
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
