/*
 * Shifts and rotates: ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR (by 1, CL or imm8) and the double
 * shifts SHLD, SHRD. The count is masked to 5 bits (6 with a 64-bit operand); a zero count changes
 * nothing, not even the flags. Rotates set only CF and OF. Where the architecture leaves a flag
 * undefined (OF for counts above 1, AF) this follows what common hardware does: OF from the same
 * formula as for a count of 1, AF cleared.
 */
#include <errno.h>
#include <stddef.h>

#include "arch/x86/emu/exec.h"

enum { EMU_ROL, EMU_ROR, EMU_RCL, EMU_RCR, EMU_SHL, EMU_SHR, EMU_SAL, EMU_SAR };

#define EMU_SHIFT_ARITH                                                                            \
	(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF |           \
	 EMU_RFLAGS_OF)

struct emu_shift {
	unsigned op, size, count; /* count already masked, not zero */
	uint64_t src;		  /* SHLD/SHRD: the bits shifted in */
};

static uint64_t emu_shift_bit(uint64_t v, unsigned n)
{
	return n < 64 ? (v >> n) & 1 : 0;
}

/* Rotates: only CF and OF change. */
static uint64_t emu_shift_rotate(const struct emu_shift *s, uint64_t v, uint64_t *flags)
{
	unsigned bits = s->size * 8, n;
	uint64_t mask = emu_size_mask(s->size), res, cf, of;

	switch (s->op) {
	case EMU_ROL:
	case EMU_ROR:
		n = s->count % bits;
		if (s->op == EMU_ROL)
			res = n ? ((v << n) | (v >> (bits - n))) & mask : v;
		else
			res = n ? ((v >> n) | (v << (bits - n))) & mask : v;
		cf = s->op == EMU_ROL ? res & 1 : emu_shift_bit(res, bits - 1);
		of = s->op == EMU_ROL ? emu_shift_bit(res, bits - 1) ^ cf
				      : emu_shift_bit(res, bits - 1) ^ emu_shift_bit(res, bits - 2);
		break;
	default: { /* RCL, RCR: a rotate of bits + 1 bits through CF */
		uint64_t c = (*flags & EMU_RFLAGS_CF) ? 1 : 0;

		n = s->count % (bits + 1);
		res = v;
		cf = c;
		for (unsigned i = 0; i < n; i++) {
			uint64_t out;

			if (s->op == EMU_RCL) {
				out = emu_shift_bit(res, bits - 1);
				res = ((res << 1) | cf) & mask;
			} else {
				out = res & 1;
				res = (res >> 1) | (cf << (bits - 1));
			}
			cf = out;
		}
		of = s->op == EMU_RCL ? emu_shift_bit(res, bits - 1) ^ cf
				      : emu_shift_bit(res, bits - 1) ^ emu_shift_bit(res, bits - 2);
		break;
	}
	}
	*flags = (*flags & ~(EMU_RFLAGS_CF | EMU_RFLAGS_OF)) | (cf ? EMU_RFLAGS_CF : 0) |
		 (of ? EMU_RFLAGS_OF : 0);
	return res;
}

static uint64_t emu_shift_fn(const void *ctx, uint64_t v, uint64_t *flags, bool *store)
{
	const struct emu_shift *s = ctx;
	unsigned bits = s->size * 8, n = s->count;
	uint64_t mask = emu_size_mask(s->size), res, cf, of, sign = 1ull << (bits - 1);

	*store = true;
	v &= mask;
	switch (s->op) {
	case EMU_ROL:
	case EMU_ROR:
	case EMU_RCL:
	case EMU_RCR:
		return emu_shift_rotate(s, v, flags);
	case EMU_SHL:
	case EMU_SAL:
		res = n < 64 ? (v << n) & mask : 0;
		cf = n <= bits ? emu_shift_bit(v, bits - n) : 0;
		of = ((res & sign) != 0) ^ cf;
		break;
	case EMU_SHR:
		res = n < 64 ? v >> n : 0;
		cf = emu_shift_bit(v, n - 1);
		of = (v & sign) != 0;
		break;
	default: { /* SAR */
		int64_t sv = (int64_t)(v << (64 - bits)) >> (64 - bits);

		res = (uint64_t)(sv >> (n < 64 ? n : 63)) & mask;
		cf = (uint64_t)(sv >> (n - 1 < 63 ? n - 1 : 63)) & 1;
		of = 0;
		break;
	}
	}
	*flags = (*flags & ~EMU_SHIFT_ARITH) | emu_flag_szp(res, s->size) |
		 (cf ? EMU_RFLAGS_CF : 0) | (of ? EMU_RFLAGS_OF : 0);
	return res;
}

/* SHLD/SHRD: dst shifted with bits of src coming in; a count above a 16-bit operand's width
 * shifts through src and dst again, as the hardware's 32-bit datapath does. */
static uint64_t emu_shift_double(const void *ctx, uint64_t v, uint64_t *flags, bool *store)
{
	const struct emu_shift *s = ctx;
	unsigned bits = s->size * 8, n = s->count;
	uint64_t mask = emu_size_mask(s->size), sign = 1ull << (bits - 1), res, cf;
	emu_u128 wide;

	*store = true;
	v &= mask;
	if (s->size == 2) {
		/* SHLD: dst:src:dst shifted left; SHRD: dst:src:dst shifted right (counts to 31).
		 */
		uint64_t cat = (v << 32) | ((s->src & mask) << 16) | v;

		if (s->op == EMU_OP_SHLD) {
			res = (cat << n >> 32) & mask;
			cf = emu_shift_bit(cat, 48 - n);
		} else {
			res = (cat >> n) & mask;
			cf = emu_shift_bit(cat, n - 1);
		}
	} else if (s->op == EMU_OP_SHLD) {
		wide = ((emu_u128)v << bits) | (s->src & mask);
		res = (uint64_t)(wide << n >> bits) & mask;
		cf = emu_shift_bit(v, bits - n);
	} else {
		wide = ((emu_u128)(s->src & mask) << bits) | v;
		res = (uint64_t)(wide >> n) & mask;
		cf = emu_shift_bit(v, n - 1);
	}
	*flags = (*flags & ~EMU_SHIFT_ARITH) | emu_flag_szp(res, s->size) |
		 (cf ? EMU_RFLAGS_CF : 0) | ((((res ^ v) & sign) != 0) ? EMU_RFLAGS_OF : 0);
	return res;
}

/* A count of 0: the operand as it was, not written. */
static uint64_t emu_shift_none(const void *ctx, uint64_t v, uint64_t *flags, bool *store)
{
	(void)ctx;
	(void)flags;
	*store = false;
	return v;
}

int emu_shift_execute(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	uint8_t opc = insn->opcode;
	struct emu_shift s = { insn->reg & 7, insn->op_size, 0, 0 };
	bool dbl = insn->op != EMU_OP_SHIFT;
	unsigned count;
	int ret;

	if (dbl) {
		s.op = insn->op;
		s.src = r->cpu->gpr[insn->reg];
		count = (opc & 1) ? (unsigned)r->cpu->gpr[EMU_RCX] : (unsigned)insn->imm;
	} else {
		if (!(opc & 1))
			s.size = 1; /* C0, D0, D2 */
		count = opc >= 0xd2   ? (unsigned)r->cpu->gpr[EMU_RCX]
			: opc >= 0xd0 ? 1
				      : (unsigned)insn->imm;
	}
	s.count = count & (s.size == 8 ? 63 : 31);
	if (!s.count) {
		/* Nothing changes but a 32-bit register's upper half (the CPU writes it, as for any
		 * 32-bit result); a memory operand is still read for writing, and can fault. */
		uint64_t v;

		ret = emu_operand_update(r, s.size, 0, emu_shift_none, NULL, &v);
		if (!ret && s.size == 4 && !emu_insn_has_mem(insn))
			emu_set_gpr(r->cpu, insn->rm, 4, v);
	} else {
		ret = emu_operand_update(r, s.size, 0, dbl ? emu_shift_double : emu_shift_fn, &s,
					 NULL);
	}
	return emu_done(r, ret);
}
