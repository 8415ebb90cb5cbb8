/*
 * SSE/SSE2 in their legacy encodings: the 128-bit moves and the integer and bitwise arithmetic
 * kernels use (memcpy and checksum variants, crypto and RAID setup), and the same instructions'
 * MMX forms on 64-bit MM registers (mmx.c keeps those). XMM registers live in cpu->xmm; the VEX
 * forms are not here (they would also clear YMM's upper halves).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/exec.h"

typedef uint8_t emu_sse_vec[16];

/* The #UD and #NM checks every legacy SSE instruction makes before touching anything. */
int emu_sse_checks(struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;

	if ((cpu->cr0 & EMU_CR0_EM) || !(cpu->cr4 & EMU_CR4_OSFXSR))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cr0 & EMU_CR0_TS)
		return emu_raise(r->exc, EMU_X_NM, -1);
	return 0;
}

int emu_vec_checks(struct emu_run *r)
{
	return r->insn->mmx ? emu_mmx_checks(r) : emu_sse_checks(r);
}

void emu_vec_get(const struct emu_run *r, unsigned n, uint8_t *v)
{
	if (r->insn->mmx)
		emu_mmx_get(r, n, v);
	else
		memcpy(v, r->cpu->xmm[n], 16);
}

void emu_vec_set(struct emu_run *r, unsigned n, const uint8_t *v)
{
	if (r->insn->mmx)
		emu_mmx_set(r, n, v);
	else
		memcpy(r->cpu->xmm[n], v, 16);
}

/* The instruction completed: XMM state dirty, or MMX's TOP and tags (even a store does it). */
void emu_vec_done(struct emu_run *r)
{
	if (r->insn->mmx)
		emu_mmx_commit(r);
	else
		r->cpu->dirty |= EMU_DIRTY_XMM;
}

/*
 * The r/m operand of len bytes (4, 8 or 16): a vector register, or memory. aligned: a 16-byte
 * operand that must be 16-byte aligned (#GP(0), whatever AC says).
 */
int emu_sse_rm_read(struct emu_run *r, void *dst, unsigned len, bool aligned)
{
	const struct emu_insn *insn = r->insn;
	uint8_t v[16];
	uint64_t la;
	int ret;

	if (!emu_insn_has_mem(insn)) {
		emu_vec_get(r, insn->rm, v);
		memcpy(dst, v, len);
		return 0;
	}
	if (aligned) {
		ret = emu_linear(r, len, false, &la);
		if (ret)
			return ret;
		if (la & 15)
			return emu_raise(r->exc, EMU_X_GP, 0);
	}
	/* #AC (CPL 3, CR0.AM, RFLAGS.AC) for the 4- and 8-byte forms; 16-byte ones check above. */
	return emu_mem_read(r, dst, len, len < 16 ? len : 1);
}

static int emu_sse_rm_write(struct emu_run *r, const void *src, unsigned len, bool aligned)
{
	const struct emu_insn *insn = r->insn;
	uint64_t la;
	int ret;

	if (!emu_insn_has_mem(insn)) {
		/* A register destination of a 4- or 8-byte store is zero-extended. */
		uint8_t v[16] = { 0 };

		memcpy(v, src, len);
		emu_vec_set(r, insn->rm, v);
		return 0;
	}
	if (aligned) {
		ret = emu_linear(r, len, true, &la);
		if (ret)
			return ret;
		if (la & 15)
			return emu_raise(r->exc, EMU_X_GP, 0);
	}
	return emu_mem_write(r, src, len, len < 16 ? len : 1);
}

/* A GPR or memory operand of 4 or 8 bytes (MOVD/MOVQ's r/m). */
static int emu_sse_gpr_read(struct emu_run *r, uint8_t *dst, unsigned len)
{
	const struct emu_insn *insn = r->insn;

	if (emu_insn_has_mem(insn))
		return emu_mem_read(r, dst, len, len);
	emu_store_le(dst, r->cpu->gpr[insn->rm], len);
	return 0;
}

static int emu_sse_movd(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned len = insn->rex_w ? 8 : 4;
	uint8_t v[16] = { 0 };
	int ret;

	switch (insn->op) {
	case EMU_OP_MOVD_TO_XMM:
		ret = emu_sse_gpr_read(r, v, len);
		if (ret)
			return ret;
		emu_vec_set(r, insn->reg, v);
		break;
	case EMU_OP_MOVD_FROM_XMM:
		emu_vec_get(r, insn->reg, v);
		if (emu_insn_has_mem(insn))
			return emu_mem_write(r, v, len, len);
		emu_set_gpr(cpu, insn->rm, len, emu_load_le(v, len));
		return 0;
	case EMU_OP_MOVQ_TO_XMM:
		ret = emu_sse_rm_read(r, v, 8, false);
		if (ret)
			return ret;
		memset(v + 8, 0, 8);
		memcpy(cpu->xmm[insn->reg], v, 16);
		break;
	case EMU_OP_MOVQ_FROM_XMM:
		return emu_sse_rm_write(r, cpu->xmm[insn->reg], 8, false);
	default:
		return -ENOTSUP;
	}
	return 0;
}

/* Element-wise integer arithmetic on little-endian lanes of size bytes, over len bytes. */
static void emu_sse_lanes(emu_sse_vec d, const emu_sse_vec s, unsigned len, unsigned size,
			  enum emu_op op)
{
	for (unsigned i = 0; i < len; i += size) {
		uint64_t a = emu_load_le(d + i, size), b = emu_load_le(s + i, size), v;

		switch (op) {
		case EMU_OP_PADDB:
		case EMU_OP_PADDW:
		case EMU_OP_PADDD:
		case EMU_OP_PADDQ:
			v = a + b;
			break;
		case EMU_OP_PSUBB:
		case EMU_OP_PSUBW:
		case EMU_OP_PSUBD:
		case EMU_OP_PSUBQ:
			v = a - b;
			break;
		default: /* PCMPEQx */
			v = a == b ? ~0ull : 0;
			break;
		}
		emu_store_le(d + i, v, size);
	}
}

static unsigned emu_sse_lane_size(enum emu_op op)
{
	switch (op) {
	case EMU_OP_PADDB:
	case EMU_OP_PSUBB:
	case EMU_OP_PCMPEQB:
		return 1;
	case EMU_OP_PADDW:
	case EMU_OP_PSUBW:
	case EMU_OP_PCMPEQW:
		return 2;
	case EMU_OP_PADDD:
	case EMU_OP_PSUBD:
	case EMU_OP_PCMPEQD:
		return 4;
	default:
		return 8;
	}
}

/* reg = reg op r/m: xmm/m128 (memory operands 16-byte aligned), or mm/m64. */
static int emu_sse_arith(struct emu_run *r)
{
	enum emu_op op = r->insn->op;
	unsigned len = emu_vec_len(r);
	emu_sse_vec s, d;
	int ret;

	ret = emu_sse_rm_read(r, s, len, len == 16);
	if (ret)
		return ret;
	emu_vec_get(r, r->insn->reg, d);
	for (unsigned i = 0; i < len; i++) {
		switch (op) {
		case EMU_OP_PXOR:
			d[i] ^= s[i];
			break;
		case EMU_OP_POR:
			d[i] |= s[i];
			break;
		case EMU_OP_PAND:
			d[i] &= s[i];
			break;
		case EMU_OP_PANDN:
			d[i] = (uint8_t)(~d[i] & s[i]);
			break;
		default:
			break;
		}
	}
	if (op != EMU_OP_PXOR && op != EMU_OP_POR && op != EMU_OP_PAND && op != EMU_OP_PANDN)
		emu_sse_lanes(d, s, len, emu_sse_lane_size(op), op);
	emu_vec_set(r, r->insn->reg, d);
	return 0;
}

/* PSHUFD (dwords of an XMM register) and PSHUFW (words of an MM register). */
static int emu_sse_pshufd(struct emu_run *r)
{
	uint8_t order = (uint8_t)r->insn->imm;
	unsigned len = emu_vec_len(r), lane = len / 4;
	emu_sse_vec s, d;
	int ret;

	ret = emu_sse_rm_read(r, s, len, len == 16);
	if (ret)
		return ret;
	for (unsigned i = 0; i < 4; i++)
		memcpy(d + lane * i, s + lane * ((order >> (2 * i)) & 3), lane);
	emu_vec_set(r, r->insn->reg, d);
	return 0;
}

/* PSRLW/PSRAW/PSLLW, PSRLD/PSRAD/PSLLD, PSRLQ/PSLLQ and PSRLDQ/PSLLDQ by an immediate. */
static int emu_sse_pshift_imm(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	uint8_t x[16], out[16] = { 0 };
	unsigned kind = insn->reg & 7, count = (uint8_t)insn->imm, len = emu_vec_len(r);
	unsigned lane = insn->opcode == 0x71 ? 2 : insn->opcode == 0x72 ? 4 : 8;

	emu_vec_get(r, insn->rm, x);

	if (insn->opcode == 0x73 && (kind == 3 || kind == 7)) {
		/* Whole-register byte shifts. */
		for (unsigned i = 0; i < 16 && count < 16; i++) {
			if (kind == 3 && i + count < 16)
				out[i] = x[i + count];
			else if (kind == 7 && i >= count)
				out[i] = x[i - count];
		}
		emu_vec_set(r, insn->rm, out);
		return 0;
	}
	for (unsigned i = 0; i < len; i += lane) {
		uint64_t v = emu_load_le(x + i, lane), bits = lane * 8;
		uint64_t sign = 1ull << (bits - 1), mask = emu_size_mask(lane);

		if (kind == 2)
			v = count >= bits ? 0 : v >> count;
		else if (kind == 6)
			v = count >= bits ? 0 : (v << count) & mask;
		else /* 4: arithmetic right; a count past the width fills with the sign */
			v = ((v & sign) ? ~((~v & mask) >> (count >= bits ? bits - 1 : count))
					: v >> (count >= bits ? bits - 1 : count)) &
			    mask;
		emu_store_le(out + i, v, lane);
	}
	emu_vec_set(r, insn->rm, out);
	return 0;
}

/*
 * PUNPCKL/H BW, WD, DQ, QDQ: interleave the low (or high) halves of destination and source. The
 * MMX forms' low halves are 32 bits and read as such from memory (the SDM's m32 operand).
 */
static int emu_sse_punpck(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	uint8_t op = insn->opcode;
	unsigned lane = op == 0x6c || op == 0x6d ? 8 : 1u << (op & 3), len = emu_vec_len(r);
	bool high = op >= 0x68 && op != 0x6c;
	emu_sse_vec d, s = { 0 }, out;
	int ret;

	ret = emu_sse_rm_read(r, s, len == 8 && !high ? 4 : len, len == 16);
	if (ret)
		return ret;
	emu_vec_get(r, insn->reg, d);
	for (unsigned i = 0, from = high ? len / 2 : 0; i < len; i += 2 * lane, from += lane) {
		memcpy(out + i, d + from, lane);
		memcpy(out + i + lane, s + from, lane);
	}
	emu_vec_set(r, insn->reg, out);
	return 0;
}

static int emu_sse_pmovmskb(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint32_t mask = 0;
	uint8_t v[16];

	if (emu_insn_has_mem(r->insn))
		return emu_raise(r->exc, EMU_X_UD, -1);
	emu_vec_get(r, r->insn->rm, v);
	for (unsigned i = 0; i < emu_vec_len(r); i++)
		mask |= (uint32_t)(v[i] >> 7) << i;
	/* The destination is a 32- or 64-bit GPR, zero-extended either way. */
	cpu->gpr[r->insn->reg] = mask;
	return 0;
}

int emu_sse_execute(struct emu_run *r)
{
	const struct emu_insn *insn = r->insn;
	unsigned len = emu_vec_len(r);
	uint8_t v[16];
	int ret;

	ret = emu_vec_checks(r);
	if (ret)
		return ret;
	switch (insn->op) {
	case EMU_OP_MOVD_TO_XMM:
	case EMU_OP_MOVD_FROM_XMM:
	case EMU_OP_MOVQ_TO_XMM:
	case EMU_OP_MOVQ_FROM_XMM:
		ret = emu_sse_movd(r);
		break;
	case EMU_OP_MOVDQA_LOAD:
	case EMU_OP_MOVDQU_LOAD:
	case EMU_OP_MOVAPS_LOAD:
	case EMU_OP_MOVUPS_LOAD:
		ret = emu_sse_rm_read(
		    r, v, len, insn->op == EMU_OP_MOVDQA_LOAD || insn->op == EMU_OP_MOVAPS_LOAD);
		if (!ret)
			emu_vec_set(r, insn->reg, v);
		break;
	case EMU_OP_MOVDQA_STORE:
	case EMU_OP_MOVDQU_STORE:
	case EMU_OP_MOVAPS_STORE:
	case EMU_OP_MOVUPS_STORE:
	case EMU_OP_MOVNTDQ:
		emu_vec_get(r, insn->reg, v);
		ret = emu_sse_rm_write(r, v, len,
				       len == 16 && insn->op != EMU_OP_MOVDQU_STORE &&
					   insn->op != EMU_OP_MOVUPS_STORE);
		break;
	case EMU_OP_PSHUFD:
		ret = emu_sse_pshufd(r);
		break;
	case EMU_OP_PMOVMSKB:
		ret = emu_sse_pmovmskb(r);
		break;
	case EMU_OP_PSHIFT_IMM:
		ret = emu_sse_pshift_imm(r);
		break;
	case EMU_OP_PUNPCK:
		ret = emu_sse_punpck(r);
		break;
	default:
		ret = emu_sse_arith(r);
		break;
	}
	if (ret)
		return ret;
	emu_vec_done(r);
	emu_complete(r);
	return 0;
}
