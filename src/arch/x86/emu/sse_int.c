/*
 * The rest of SSE2's integer arithmetic on XMM registers (66 0F, xmm/m128 aligned): signed and
 * unsigned saturating adds and subtracts, signed compares, minimum and maximum, averages, the
 * multiplies (PMULLW, PMULHW, PMULHUW, PMULUDQ, PMADDWD), PSADBW, the packs with saturation, and
 * the shifts by a count in a register (PSLL/PSRL/PSRA W/D/Q). One table names what each opcode
 * does to its lanes. Also SSSE3's PSHUFB and PALIGNR and PCLMULQDQ (kernel crypto and CRC code),
 * #UD unless the guest's CPUID lists them. Each has an MMX form (no prefix) on 64-bit MM registers
 * but PCLMULQDQ: the same lanes over 8 bytes.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/exec.h"

enum emu_sse_int_kind {
	SI_NONE,
	SI_ADDUS,
	SI_SUBUS,
	SI_ADDS,
	SI_SUBS,
	SI_CMPGT,
	SI_MINU,
	SI_MAXU,
	SI_MINS,
	SI_MAXS,
	SI_AVG,
	SI_MULLO,
	SI_MULHI,
	SI_MULHU,
	SI_MULUDQ,
	SI_MADDWD,
	SI_SADBW,
	SI_PACKSS,
	SI_PACKUS,
	SI_SLL,
	SI_SRL,
	SI_SRA,
};

/* clang-format off */
static const struct {
	uint8_t kind, size; /* size: the lane in bytes (for a pack: the source lane) */
} emu_sse_int_table[256] = {
	[0x63] = { SI_PACKSS, 2 }, [0x64] = { SI_CMPGT, 1 }, [0x65] = { SI_CMPGT, 2 },
	[0x66] = { SI_CMPGT, 4 },  [0x67] = { SI_PACKUS, 2 }, [0x6b] = { SI_PACKSS, 4 },
	[0xd1] = { SI_SRL, 2 },	   [0xd2] = { SI_SRL, 4 },    [0xd3] = { SI_SRL, 8 },
	[0xd5] = { SI_MULLO, 2 },  [0xd8] = { SI_SUBUS, 1 },  [0xd9] = { SI_SUBUS, 2 },
	[0xda] = { SI_MINU, 1 },   [0xdc] = { SI_ADDUS, 1 },  [0xdd] = { SI_ADDUS, 2 },
	[0xde] = { SI_MAXU, 1 },   [0xe0] = { SI_AVG, 1 },    [0xe1] = { SI_SRA, 2 },
	[0xe2] = { SI_SRA, 4 },	   [0xe3] = { SI_AVG, 2 },    [0xe4] = { SI_MULHU, 2 },
	[0xe5] = { SI_MULHI, 2 },  [0xe8] = { SI_SUBS, 1 },   [0xe9] = { SI_SUBS, 2 },
	[0xea] = { SI_MINS, 2 },   [0xec] = { SI_ADDS, 1 },   [0xed] = { SI_ADDS, 2 },
	[0xee] = { SI_MAXS, 2 },   [0xf1] = { SI_SLL, 2 },    [0xf2] = { SI_SLL, 4 },
	[0xf3] = { SI_SLL, 8 },	   [0xf4] = { SI_MULUDQ, 8 }, [0xf5] = { SI_MADDWD, 4 },
	[0xf6] = { SI_SADBW, 8 },
};
/* clang-format on */

static int64_t emu_sse_int_sext(uint64_t v, unsigned size)
{
	unsigned shift = 64 - size * 8;

	return (int64_t)(v << shift) >> shift;
}

static int64_t emu_sse_int_clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* One lane of an element-wise operation: a and b the lanes of destination and source. */
static uint64_t emu_sse_int_lane(unsigned kind, uint64_t a, uint64_t b, unsigned size)
{
	uint64_t umax = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
	int64_t smax = (int64_t)(umax >> 1), smin = -smax - 1;
	int64_t sa = emu_sse_int_sext(a, size), sb = emu_sse_int_sext(b, size);

	switch (kind) {
	case SI_ADDUS:
		return a + b > umax ? umax : a + b;
	case SI_SUBUS:
		return a > b ? a - b : 0;
	case SI_ADDS:
		return (uint64_t)emu_sse_int_clamp(sa + sb, smin, smax);
	case SI_SUBS:
		return (uint64_t)emu_sse_int_clamp(sa - sb, smin, smax);
	case SI_CMPGT:
		return sa > sb ? umax : 0;
	case SI_MINU:
		return a < b ? a : b;
	case SI_MAXU:
		return a > b ? a : b;
	case SI_MINS:
		return (uint64_t)(sa < sb ? sa : sb);
	case SI_MAXS:
		return (uint64_t)(sa > sb ? sa : sb);
	case SI_AVG:
		return (a + b + 1) >> 1;
	case SI_MULLO:
		return (uint64_t)(sa * sb);
	case SI_MULHI:
		return (uint64_t)((sa * sb) >> 16);
	case SI_MULHU:
		return (a * b) >> 16;
	default:
		return 0;
	}
}

/* Shifts by the count in the source's low 64 bits: past the lane width, 0 (or the sign). */
static void emu_sse_int_shift(uint8_t d[16], unsigned len, uint64_t count, unsigned kind,
			      unsigned size)
{
	unsigned bits = size * 8;

	for (unsigned i = 0; i < len; i += size) {
		uint64_t a = emu_load_le(d + i, size), v;

		if (kind == SI_SRA)
			v = (uint64_t)(emu_sse_int_sext(a, size) >>
				       (count >= bits ? bits - 1 : count));
		else if (count >= bits)
			v = 0;
		else
			v = kind == SI_SLL ? a << count : a >> count;
		emu_store_le(d + i, v, size);
	}
}

/* PSHUFB, PALIGNR, PCLMULQDQ: d op s (imm8 for the last two) into out, len bytes (8 or 16). */
static void emu_sse_int_other(enum emu_op op, const uint8_t d[16], const uint8_t s[16],
			      unsigned len, uint8_t imm, uint8_t out[16])
{
	if (op == EMU_OP_PSHUFB) {
		for (unsigned i = 0; i < len; i++)
			out[i] = (s[i] & 0x80) ? 0 : d[s[i] & (len - 1)];
	} else if (op == EMU_OP_PALIGNR) {
		uint8_t cat[32]; /* s is the low half, d the high one; shifted right imm bytes */

		memcpy(cat, s, len);
		memcpy(cat + len, d, len);
		for (unsigned i = 0; i < len; i++)
			out[i] = i + imm < 2 * len ? cat[i + imm] : 0;
	} else { /* PCLMULQDQ: the carry-less product of one quadword of each */
		uint64_t a = emu_load_le(d + ((imm & 1) ? 8 : 0), 8);
		uint64_t b = emu_load_le(s + ((imm & 0x10) ? 8 : 0), 8), lo = 0, hi = 0;

		for (unsigned i = 0; i < 64; i++) {
			if (!((b >> i) & 1))
				continue;
			lo ^= a << i;
			hi ^= i ? a >> (64 - i) : 0;
		}
		emu_store_le(out, lo, 8);
		emu_store_le(out + 8, hi, 8);
	}
}

int emu_sse_int_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	enum emu_op op = r->insn->op;
	unsigned kind = op == EMU_OP_SSE_INT ? emu_sse_int_table[r->insn->opcode].kind : SI_NONE;
	unsigned size = emu_sse_int_table[r->insn->opcode].size, len = emu_vec_len(r);
	uint8_t s[16], d[16], out[16];
	int ret;

	if (op == EMU_OP_SSE_INT && kind == SI_NONE)
		return -ENOTSUP;
	if ((op == EMU_OP_PSHUFB || op == EMU_OP_PALIGNR) && !(cpu->features & EMU_FEAT_SSSE3))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (op == EMU_OP_PCLMULQDQ && !(cpu->features & EMU_FEAT_PCLMUL))
		return emu_raise(r->exc, EMU_X_UD, -1);
	ret = emu_vec_checks(r);
	if (!ret)
		ret = emu_sse_rm_read(r, s, len, len == 16);
	if (ret)
		return ret;
	emu_vec_get(r, r->insn->reg, d);
	switch (kind) {
	case SI_NONE:
		emu_sse_int_other(op, d, s, len, (uint8_t)r->insn->imm, out);
		break;
	case SI_SLL:
	case SI_SRL:
	case SI_SRA:
		emu_sse_int_shift(d, len, emu_load_le(s, 8), kind, size);
		memcpy(out, d, 16);
		break;
	case SI_MULUDQ: /* the low dwords of each quadword, 64-bit products */
		for (unsigned i = 0; i < len; i += 8)
			emu_store_le(out + i,
				     (uint64_t)(uint32_t)emu_load_le(d + i, 4) *
					 (uint32_t)emu_load_le(s + i, 4),
				     8);
		break;
	case SI_MADDWD: /* pairs of signed word products, summed into dwords */
		for (unsigned i = 0; i < len; i += 4) {
			int64_t p0 = emu_sse_int_sext(emu_load_le(d + i, 2), 2) *
				     emu_sse_int_sext(emu_load_le(s + i, 2), 2);
			int64_t p1 = emu_sse_int_sext(emu_load_le(d + i + 2, 2), 2) *
				     emu_sse_int_sext(emu_load_le(s + i + 2, 2), 2);

			emu_store_le(out + i, (uint64_t)(p0 + p1), 4);
		}
		break;
	case SI_SADBW: /* sums of absolute byte differences, one per quadword */
		for (unsigned i = 0; i < len; i += 8) {
			uint64_t sum = 0;

			for (unsigned k = 0; k < 8; k++)
				sum += (uint64_t)(d[i + k] > s[i + k] ? d[i + k] - s[i + k]
								      : s[i + k] - d[i + k]);
			emu_store_le(out + i, sum, 8);
		}
		break;
	case SI_PACKSS:
	case SI_PACKUS: {
		/* Lanes of size bytes from d, then from s, narrowed to half with saturation. */
		unsigned half = size / 2, n = len / size;
		int64_t hi = kind == SI_PACKUS ? (1 << (half * 8)) - 1 : (1 << (half * 8 - 1)) - 1;
		int64_t lo = kind == SI_PACKUS ? 0 : -hi - 1;

		for (unsigned i = 0; i < 2 * n; i++) {
			const uint8_t *src = i < n ? d : s;
			int64_t v = emu_sse_int_sext(emu_load_le(src + (i % n) * size, size), size);

			emu_store_le(out + i * half, (uint64_t)emu_sse_int_clamp(v, lo, hi), half);
		}
		break;
	}
	default:
		for (unsigned i = 0; i < len; i += size)
			emu_store_le(out + i,
				     emu_sse_int_lane(kind, emu_load_le(d + i, size),
						      emu_load_le(s + i, size), size),
				     size);
		break;
	}
	emu_vec_set(r, r->insn->reg, out);
	emu_vec_done(r);
	return emu_done(r, 0);
}
