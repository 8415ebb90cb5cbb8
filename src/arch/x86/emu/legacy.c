/*
 * The one-byte instructions that exist only outside 64-bit mode (the decoder raises #UD for them
 * there): the decimal adjusts DAA, DAS, AAA, AAS, AAM, AAD, the undocumented SALC, PUSHA/PUSHAD,
 * POPA/POPAD and BOUND. Flags the SDM leaves undefined: OF cleared after DAA/DAS; OF, SF, ZF, PF
 * left alone after AAA/AAS; OF, AF, CF cleared after AAM/AAD.
 */
#include <errno.h>

#include "arch/x86/emu/seg.h"

#define EMU_LEGACY_SZP (EMU_RFLAGS_SF | EMU_RFLAGS_ZF | EMU_RFLAGS_PF)

/* DAA and DAS: AL back to two packed BCD digits after an addition or subtraction. */
static void emu_legacy_daa_das(struct emu_cpu *cpu, bool sub)
{
	uint8_t al = (uint8_t)cpu->gpr[EMU_RAX], old_al = al;
	bool old_cf = cpu->rflags & EMU_RFLAGS_CF, cf = false, af = false;

	if ((al & 0xf) > 9 || (cpu->rflags & EMU_RFLAGS_AF)) {
		cf = old_cf || (sub ? al < 6 : al > 0xf9);
		al = (uint8_t)(sub ? al - 6 : al + 6);
		af = true;
	}
	if (old_al > 0x99 || old_cf) {
		al = (uint8_t)(sub ? al - 0x60 : al + 0x60);
		cf = true;
	} else if (!sub) {
		cf = false;
	}
	emu_set_gpr(cpu, EMU_RAX, 1, al);
	cpu->rflags &= ~(EMU_RFLAGS_CF | EMU_RFLAGS_AF | EMU_LEGACY_SZP | EMU_RFLAGS_OF);
	cpu->rflags |= emu_flag_szp(al, 1) | (cf ? EMU_RFLAGS_CF : 0) | (af ? EMU_RFLAGS_AF : 0);
}

/* AAA and AAS: AL to one unpacked BCD digit, the carry into (or borrow from) AH. */
static void emu_legacy_aaa_aas(struct emu_cpu *cpu, bool sub)
{
	uint16_t ax = (uint16_t)cpu->gpr[EMU_RAX];
	bool adjust = (ax & 0xf) > 9 || (cpu->rflags & EMU_RFLAGS_AF);

	if (adjust) /* the SDM's current form: the whole of AX, then AH once more for AAS */
		ax = sub ? (uint16_t)(ax - 6 - 0x100) : (uint16_t)(ax + 0x106);
	ax &= 0xff0f;
	emu_set_gpr(cpu, EMU_RAX, 2, ax);
	cpu->rflags &= ~(EMU_RFLAGS_CF | EMU_RFLAGS_AF);
	if (adjust)
		cpu->rflags |= EMU_RFLAGS_CF | EMU_RFLAGS_AF;
}

/* AAM and AAD with base imm8 (10 in the usual encoding); AAM by 0 is #DE. */
static int emu_legacy_aam_aad(struct emu_run *r, bool aam)
{
	struct emu_cpu *cpu = r->cpu;
	uint8_t base = (uint8_t)r->insn->imm, al = (uint8_t)cpu->gpr[EMU_RAX];
	uint8_t ah = (uint8_t)(cpu->gpr[EMU_RAX] >> 8);
	uint16_t ax;

	if (aam) {
		if (!base)
			return emu_raise(r->exc, EMU_X_DE, -1);
		ax = (uint16_t)((al / base) << 8 | (al % base));
	} else {
		ax = (uint8_t)(al + ah * base);
	}
	emu_set_gpr(cpu, EMU_RAX, 2, ax);
	cpu->rflags &= ~(EMU_RFLAGS_CF | EMU_RFLAGS_AF | EMU_LEGACY_SZP | EMU_RFLAGS_OF);
	cpu->rflags |= emu_flag_szp(ax & 0xff, 1);
	return 0;
}

/* PUSHA: AX, CX, DX, BX, the SP before, BP, SI, DI; POPA: the reverse, SP's slot skipped. */
static int emu_legacy_pusha_popa(struct emu_run *r, bool push)
{
	struct emu_cpu *cpu = r->cpu;
	struct emu_seg_stack st = emu_seg_cur_stack(r);
	unsigned size = r->insn->op_size;
	uint64_t v[8];
	int ret;

	if (push) {
		for (unsigned i = 0; i < 8; i++)
			v[i] = cpu->gpr[i];
		ret = emu_seg_push(r, &st, v, 8, size);
		if (!ret)
			cpu->gpr[EMU_RSP] = st.sp;
		return ret;
	}
	ret = emu_seg_pop(r, &st, v, 8, size);
	if (ret)
		return ret;
	for (unsigned i = 0; i < 8; i++)
		if (7 - i != EMU_RSP)
			emu_set_gpr(cpu, 7 - i, size, v[i]);
	cpu->gpr[EMU_RSP] = st.sp;
	return 0;
}

/* BOUND: the signed register within [lower, upper] from memory, or #BR. */
static int emu_legacy_bound(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size, shift = 64 - size * 8;
	uint8_t buf[8];
	int64_t idx = (int64_t)(r->cpu->gpr[insn->reg] << shift) >> shift, lo, hi;
	int ret;

	ret = emu_mem_read(r, buf, 2 * size, 1);
	if (ret)
		return ret;
	lo = (int64_t)(emu_load_le(buf, size) << shift) >> shift;
	hi = (int64_t)(emu_load_le(buf + size, size) << shift) >> shift;
	if (idx < lo || idx > hi)
		return emu_raise(r->exc, EMU_X_BR, -1);
	return 0;
}

int emu_legacy_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	int ret = 0;

	switch (r->insn->op) {
	case EMU_OP_DAA:
	case EMU_OP_DAS:
		emu_legacy_daa_das(cpu, r->insn->op == EMU_OP_DAS);
		break;
	case EMU_OP_AAA:
	case EMU_OP_AAS:
		emu_legacy_aaa_aas(cpu, r->insn->op == EMU_OP_AAS);
		break;
	case EMU_OP_AAM:
	case EMU_OP_AAD:
		ret = emu_legacy_aam_aad(r, r->insn->op == EMU_OP_AAM);
		break;
	case EMU_OP_SALC:
		emu_set_gpr(cpu, EMU_RAX, 1, (cpu->rflags & EMU_RFLAGS_CF) ? 0xff : 0);
		break;
	case EMU_OP_PUSHA:
	case EMU_OP_POPA:
		ret = emu_legacy_pusha_popa(r, r->insn->op == EMU_OP_PUSHA);
		break;
	case EMU_OP_BOUND:
		ret = emu_legacy_bound(r);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
