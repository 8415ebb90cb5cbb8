/* x86 instruction decoder: prefixes, REX, VEX, the 0F/0F38/0F3A maps, ModRM/SIB/disp/imm. */
#ifndef KVMBOX_X86_EMU_DECODE_H
#define KVMBOX_X86_EMU_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/emu/emu.h"

/* The opcode maps; the XOP ones are AMD's (8F prefix), decoded for their length only. */
enum emu_map {
	EMU_MAP_LEGACY,
	EMU_MAP_0F,
	EMU_MAP_0F38,
	EMU_MAP_0F3A,
	EMU_MAP_XOP8,
	EMU_MAP_XOP9,
	EMU_MAP_XOPA
};

/* The mandatory prefix an opcode table may select on (the VEX pp field uses the same values). */
enum emu_mandatory { EMU_MANDATORY_NONE, EMU_MANDATORY_66, EMU_MANDATORY_F3, EMU_MANDATORY_F2 };

#define EMU_NO_REG 0xff

/* One decoded instruction. Register fields already include the REX/VEX extension bits. */
struct emu_insn {
	uint8_t bytes[EMU_MAX_INSN_LEN];
	uint8_t len;
	enum emu_op op;

	/* Prefixes. */
	bool lock, rep_f2, rep_f3, opsize_prefix, adsize_prefix;
	uint8_t last_rep;    /* 0, 0xf2 or 0xf3: the last of them wins as mandatory prefix */
	int8_t seg_override; /* enum emu_sreg, or -1 (64-bit mode keeps only FS/GS) */
	uint8_t rex;	     /* the REX byte in effect, 0 if none */
	bool rex_w, rex_r, rex_x, rex_b; /* from REX or VEX */
	bool vex, evex;			 /* evex: an EVEX (AVX-512) prefix, vex set too */
	uint8_t vex_l, vex_vvvv, vex_pp;
	enum emu_mandatory mandatory;
	bool mmx; /* an MMX form: the vector registers are MM0-7 (reg and rm & 7) */

	enum emu_map map;
	uint8_t opcode;
	uint8_t code_size, op_size, addr_size; /* bytes: 2, 4 or 8 */

	bool has_modrm;
	uint8_t modrm, mod, reg, rm; /* reg and rm (register form) with REX.R/REX.B */
	bool has_sib;
	uint8_t sib;

	/* Memory operand (mod != 3): seg:[base + index*scale + disp], or RIP-relative. */
	uint8_t base, index, scale; /* EMU_NO_REG when absent */
	bool rip_relative;
	uint8_t seg; /* enum emu_sreg that applies, after overrides */
	int64_t disp;
	uint8_t disp_size;

	uint64_t imm;
	uint8_t imm_size;
	uint64_t imm2; /* ENTER's nesting level, a far pointer's selector */
};

static inline bool emu_insn_has_mem(const struct emu_insn *insn)
{
	return insn->has_modrm && insn->mod != 3;
}

/*
 * Decode the instruction at cpu's CS:RIP. bytes/nbytes: the bytes already known (from KVM's exit);
 * missing ones are fetched through ops->read (only as many as the instruction needs). Returns 0
 * with insn filled, 0 with exc->valid (#GP past 15 bytes, #PF on fetch, #UD for an invalid
 * LOCK/VEX form), -ENOTSUP for an instruction it does not know, or a callback's negative errno.
 */
int emu_decode(struct emu_insn *insn, const struct emu_cpu *cpu, const uint8_t *bytes,
	       unsigned nbytes, const struct emu_ops *ops, void *opaque, struct emu_exception *exc)
    __attribute__((warn_unused_result));

#endif
