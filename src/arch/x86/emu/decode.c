/* x86 instruction decoder: table-driven opcode lookup, operand/address sizes, ModRM addressing. */
#include "arch/x86/emu/decode.h"

#include <errno.h>
#include <string.h>

/*
 * The opcode tables. A map entry either names an instruction (K_OP) or says what chooses among up
 * to 16 entries of a node: the ModRM reg field (K_GROUP: 0-7 memory form, 8-15 register form), the
 * ModRM rm field (K_RM, register form), the mandatory prefix (K_PREFIX), legacy vs VEX encoding
 * (K_VEX) or REX.W/VEX.W (K_W). New instructions are new entries, not new code.
 */
enum emu_decode_kind { K_NONE, K_OP, K_GROUP, K_RM, K_PREFIX, K_VEX, K_W };

#define F_MODRM (1u << 0) /* top-level entries: a ModRM byte follows the opcode */
#define F_LOCK (1u << 1)  /* LOCK allowed (with a memory operand) */
#define F_NP (1u << 2)	  /* no 66/F2/F3 (VEX: pp = 0); with one it is another instruction */
#define F_MEM (1u << 3)	  /* register form is #UD */
#define F_IMM8 (1u << 4)
#define F_IMMZ (1u << 5)      /* imm16/imm32 by operand size (sign-extended to 64) */
#define F_66_OPSIZE (1u << 6) /* a 66 that selected this entry is still an operand-size prefix */
#define F_IMM16 (1u << 7)     /* a 16-bit immediate (RET imm16) */
#define F_ENTER (1u << 8)     /* imm16 then imm8 (ENTER) */
#define F_MOFFS (1u << 9)     /* an absolute offset of the address size (MOV moffs) */
#define F_IMMV (1u << 10)   /* an immediate of the operand size, 8 bytes with REX.W (MOV r, imm) */
#define F_FAR (1u << 11)    /* a far pointer: offset of the operand size, then a selector */
#define F_INV64 (1u << 12)  /* invalid in 64-bit mode: #UD */
#define F_BRANCH (1u << 13) /* a near displacement: imm16/32 by operand size, 32 in 64-bit mode */
#define F_MODREG (1u << 14) /* ModRM's mod is ignored: always the register form (MOV CR/DR) */
#define F_D64 (1u << 15)    /* 64-bit mode: the operand size is 64 unless 66 makes it 16 (stack) */
#define F_F64 (1u << 16)    /* 64-bit mode: the operand size is 64, 66 or not (near branches) */
#define F_MMX (1u << 17)    /* the MMX form: vector operands are MM0-7 (64 bits), REX.R/B ignored */

struct emu_decode_entry {
	uint8_t kind;
	uint16_t arg;	/* K_OP: enum emu_op; others: node index */
	uint32_t flags; /* F_* */
};

/* clang-format off */
#define OP(o, f) { K_OP, (o), (f) }
/* Known (its length and operands decode) but not emulated: execution answers -ENOTSUP. */
#define UNIMPL(f) { K_OP, EMU_OP_UNIMPL, (f) }

enum {
	N_0F00,
	N_0F01,
	N_0F01_R0,
	N_D9,
	N_DB,
	N_DB_R4,
	N_DD,
	N_DF,
	N_DF_R4,
	N_0F01_R1,
	N_0F01_R2,
	N_0F01_R3,
	N_0F01_R7,
	N_0FAE,
	N_0FAE_LEGACY,
	N_0FAE_6,
	N_0FAE_7,
	N_0FAE_VEX,
	N_0FB8,
	N_0FBC,
	N_0FBD,
	N_0FC7,
	N_0FC7_1,
	N_0FC7_R7,
	N_0F38_82,
	N_0FBA,
	N_8F,
	N_FE,
	N_F6,
	N_F7,
	N_C6,
	N_C7,
	N_66_PUNPCK,
	N_66_PUNPCKQ,
	N_66_PSHIFT_DQ,
	N_0F77,
	N_66_SSE_INT,
	N_0F38_00,
	N_0F3A_0F,
	N_0F3A_44,
	N_66_PSHIFT,
	N_0F71,
	N_0F73,
	N_FF,
	N_0F78,
	N_0F10,
	N_0F11,
	N_0F28,
	N_0F29,
	N_0F2B,
	N_0F54,
	N_0F55,
	N_0F56,
	N_0F57,
	N_0F6E,
	N_0F6F,
	N_0F70,
	N_0F74,
	N_0F75,
	N_0F76,
	N_0F7E,
	N_0F7F,
	N_0FD4,
	N_0FD6,
	N_0FD7,
	N_0FDB,
	N_0FDF,
	N_0FE7,
	N_0FEB,
	N_0FEF,
	N_0FF8,
	N_0FF9,
	N_0FFA,
	N_0FFB,
	N_0FFC,
	N_0FFD,
	N_0FFE,
	N_COUNT
};

static const struct emu_decode_entry emu_decode_nodes[N_COUNT][16] = {
	[N_0F01] = { [0] = OP(EMU_OP_SGDT, 0), [1] = OP(EMU_OP_SIDT, 0), [2] = OP(EMU_OP_LGDT, 0),
		     [3] = OP(EMU_OP_LIDT, 0), [4] = OP(EMU_OP_SMSW, 0), [6] = OP(EMU_OP_LMSW, 0),
		     [7] = OP(EMU_OP_INVLPG, 0), [8 + 0] = { K_RM, N_0F01_R0, 0 },
		     [8 + 1] = { K_RM, N_0F01_R1, 0 }, [8 + 2] = { K_RM, N_0F01_R2, 0 },
		     [8 + 3] = { K_RM, N_0F01_R3, 0 },
		     [8 + 4] = OP(EMU_OP_SMSW, 0), [8 + 6] = OP(EMU_OP_LMSW, 0),
		     [8 + 7] = { K_RM, N_0F01_R7, 0 } },
	/* Group 6: SLDT, STR, LLDT, LTR; VERR and VERW are not emulated. */
	[N_0F00] = { [0] = OP(EMU_OP_SLDT, 0), [1] = OP(EMU_OP_STR, 0), [2] = OP(EMU_OP_LLDT, 0),
		     [3] = OP(EMU_OP_LTR, 0), [8 + 0] = OP(EMU_OP_SLDT, 0),
		     [8 + 1] = OP(EMU_OP_STR, 0), [8 + 2] = OP(EMU_OP_LLDT, 0),
		     [8 + 3] = OP(EMU_OP_LTR, 0) },
	[N_0F01_R0] = { [1] = OP(EMU_OP_VMX, F_NP), [2] = OP(EMU_OP_VMX, F_NP),
			[3] = OP(EMU_OP_VMX, F_NP), [4] = OP(EMU_OP_VMX, F_NP) },
	[N_0F01_R1] = { [2] = OP(EMU_OP_CLAC, F_NP), [3] = OP(EMU_OP_STAC, F_NP) },
	[N_D9] = { [5] = OP(EMU_OP_FLDCW, 0), [7] = OP(EMU_OP_FNSTCW, 0) },
	[N_DB] = { [8 + 4] = { K_RM, N_DB_R4, 0 } },
	[N_DB_R4] = { [2] = OP(EMU_OP_FNCLEX, 0), [3] = OP(EMU_OP_FNINIT, 0) },
	[N_DD] = { [7] = OP(EMU_OP_FNSTSW, 0) },
	[N_DF] = { [8 + 4] = { K_RM, N_DF_R4, 0 } },
	[N_DF_R4] = { [0] = OP(EMU_OP_FNSTSW, 0) },
	[N_0F01_R2] = { [0] = OP(EMU_OP_XGETBV, F_NP), [1] = OP(EMU_OP_XSETBV, F_NP) },
	[N_0F01_R3] = { [0 ... 7] = OP(EMU_OP_SVM, 0) },
	[N_0F01_R7] = { [0] = OP(EMU_OP_SWAPGS, F_NP), [1] = OP(EMU_OP_RDTSCP, F_NP),
			[5] = OP(EMU_OP_RDPRU, F_NP) },
	[N_0FAE] = { [0] = { K_GROUP, N_0FAE_LEGACY, 0 }, [1] = { K_GROUP, N_0FAE_VEX, 0 } },
	[N_0FAE_LEGACY] = { [0] = OP(EMU_OP_FXSAVE, F_NP), [1] = OP(EMU_OP_FXRSTOR, F_NP),
			    [2] = OP(EMU_OP_LDMXCSR, F_NP), [3] = OP(EMU_OP_STMXCSR, F_NP),
			    [4] = OP(EMU_OP_XSAVE, F_NP), [5] = OP(EMU_OP_XRSTOR, F_NP),
			    [6] = { K_PREFIX, N_0FAE_6, 0 }, [7] = { K_PREFIX, N_0FAE_7, 0 },
			    [8 + 5] = OP(EMU_OP_FENCE, F_NP), [8 + 6] = OP(EMU_OP_FENCE, F_NP),
			    [8 + 7] = OP(EMU_OP_FENCE, F_NP) },
	[N_0FAE_6] = { [EMU_MANDATORY_NONE] = OP(EMU_OP_XSAVEOPT, F_MEM),
		       [EMU_MANDATORY_66] = OP(EMU_OP_CLWB, F_MEM) },
	[N_0FAE_7] = { [EMU_MANDATORY_NONE] = OP(EMU_OP_CLFLUSH, F_MEM),
		       [EMU_MANDATORY_66] = OP(EMU_OP_CLFLUSHOPT, F_MEM) },
	[N_0FAE_VEX] = { [2] = OP(EMU_OP_VLDMXCSR, F_NP), [3] = OP(EMU_OP_VSTMXCSR, F_NP) },
	[N_0FB8] = { [EMU_MANDATORY_F3] = OP(EMU_OP_POPCNT, 0) },
	[N_0FBC] = { OP(EMU_OP_BSF, 0), OP(EMU_OP_BSF, F_66_OPSIZE), OP(EMU_OP_TZCNT, 0),
		     OP(EMU_OP_BSF, 0) },
	[N_0FBD] = { OP(EMU_OP_BSR, 0), OP(EMU_OP_BSR, F_66_OPSIZE), OP(EMU_OP_LZCNT, 0),
		     OP(EMU_OP_BSR, 0) },
	[N_0FC7] = { [1] = { K_W, N_0FC7_1, 0 }, [3] = OP(EMU_OP_XRSTORS, F_NP),
		     [4] = OP(EMU_OP_XSAVEC, F_NP), [5] = OP(EMU_OP_XSAVES, F_NP),
		     [8 + 1] = { K_W, N_0FC7_1, 0 },
		     [8 + 7] = { K_PREFIX, N_0FC7_R7, 0 } },
	[N_0FC7_1] = { OP(EMU_OP_CMPXCHG8B, F_LOCK | F_MEM),
		       OP(EMU_OP_CMPXCHG16B, F_LOCK | F_MEM) },
	[N_0FC7_R7] = { [EMU_MANDATORY_F3] = OP(EMU_OP_RDPID, 0) },
	[N_0F38_82] = { [EMU_MANDATORY_66] = OP(EMU_OP_INVPCID, F_MEM) },
	/* VMREAD; with 66 or F2 AMD's EXTRQ/INSERTQ, which take two imm8. */
	[N_0F78] = { UNIMPL(0), UNIMPL(F_IMM16), UNIMPL(0), UNIMPL(F_IMM16) },
	/* Group 5: INC, DEC, CALL, CALLF, JMP, JMPF, PUSH; the far forms take a memory operand. */
	[N_FF] = { OP(EMU_OP_INC, F_LOCK), OP(EMU_OP_DEC, F_LOCK), OP(EMU_OP_CALL, F_F64),
		   OP(EMU_OP_CALLF, F_MEM), OP(EMU_OP_JMP, F_F64), OP(EMU_OP_JMPF, F_MEM),
		   OP(EMU_OP_PUSH, F_D64), OP(EMU_OP_UD, 0),
		   OP(EMU_OP_INC, 0), OP(EMU_OP_DEC, 0), OP(EMU_OP_CALL, F_F64),
		   OP(EMU_OP_CALLF, F_MEM), OP(EMU_OP_JMP, F_F64), OP(EMU_OP_JMPF, F_MEM),
		   OP(EMU_OP_PUSH, F_D64), OP(EMU_OP_UD, 0) },
	/* Group 4: INC and DEC of a byte; the rest is undefined (#UD). */
	[N_FE] = { OP(EMU_OP_INC, F_LOCK), OP(EMU_OP_DEC, F_LOCK), OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0),
		   OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0),
		   OP(EMU_OP_INC, 0), OP(EMU_OP_DEC, 0), OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0),
		   OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0), OP(EMU_OP_UD, 0) },
	/* Group 1A: POP r/m (/0); XOP took the other encodings before the tables. */
	[N_8F] = { [0] = OP(EMU_OP_POP, F_D64), [8 + 0] = OP(EMU_OP_POP, F_D64) },
	/* Group 8: BT, BTS, BTR, BTC with an imm8 bit offset. */
	[N_0FBA] = { [0] = OP(EMU_OP_UD, 0), [1] = OP(EMU_OP_UD, 0), [2] = OP(EMU_OP_UD, 0),
		     [3] = OP(EMU_OP_UD, 0), [8 + 0] = OP(EMU_OP_UD, 0), [8 + 1] = OP(EMU_OP_UD, 0),
		     [8 + 2] = OP(EMU_OP_UD, 0), [8 + 3] = OP(EMU_OP_UD, 0), [4] = OP(EMU_OP_BT, 0), [5] = OP(EMU_OP_BTS, F_LOCK), [6] = OP(EMU_OP_BTR, F_LOCK),
		     [7] = OP(EMU_OP_BTC, F_LOCK), [8 + 4] = OP(EMU_OP_BT, 0),
		     [8 + 5] = OP(EMU_OP_BTS, 0), [8 + 6] = OP(EMU_OP_BTR, 0),
		     [8 + 7] = OP(EMU_OP_BTC, 0) },
	/* SSE2 interleaves and shifts by an immediate: one op each, told apart by opcode and reg. */
	/* Their MMX forms (no prefix) work on MM registers; PUNPCK[LH]QDQ and PS[LR]LDQ have none. */
	[N_66_PUNPCK] = { OP(EMU_OP_PUNPCK, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PUNPCK, 0) },
	[N_66_PUNPCKQ] = { [EMU_MANDATORY_66] = OP(EMU_OP_PUNPCK, 0) },
	[N_66_SSE_INT] = { OP(EMU_OP_SSE_INT, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_SSE_INT, 0) },
	[N_0F38_00] = { OP(EMU_OP_PSHUFB, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PSHUFB, 0) },
	[N_0F3A_0F] = { OP(EMU_OP_PALIGNR, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PALIGNR, 0) },
	[N_0F3A_44] = { [EMU_MANDATORY_66] = OP(EMU_OP_PCLMULQDQ, 0) },
	[N_66_PSHIFT] = { OP(EMU_OP_PSHIFT_IMM, F_MMX),
			  [EMU_MANDATORY_66] = OP(EMU_OP_PSHIFT_IMM, 0) },
	[N_66_PSHIFT_DQ] = { [EMU_MANDATORY_66] = OP(EMU_OP_PSHIFT_IMM, 0) },
	/* EMMS; VEX.128 is VZEROUPPER, VEX.256 VZEROALL (not emulated). */
	[N_0F77] = { OP(EMU_OP_EMMS, F_NP), UNIMPL(0) },
	[N_0F71] = { [8 + 2] = { K_PREFIX, N_66_PSHIFT, 0 },
		     [8 + 4] = { K_PREFIX, N_66_PSHIFT, 0 },
		     [8 + 6] = { K_PREFIX, N_66_PSHIFT, 0 } },
	[N_0F73] = { [8 + 2] = { K_PREFIX, N_66_PSHIFT, 0 },
		     [8 + 3] = { K_PREFIX, N_66_PSHIFT_DQ, 0 },
		     [8 + 6] = { K_PREFIX, N_66_PSHIFT, 0 },
		     [8 + 7] = { K_PREFIX, N_66_PSHIFT_DQ, 0 } },
	/* Group 3: TEST (/0, /1) has an immediate, NOT/NEG/MUL/IMUL/DIV/IDIV do not. */
	[N_F6] = { OP(EMU_OP_TEST, F_IMM8), OP(EMU_OP_TEST, F_IMM8), OP(EMU_OP_NOT, F_LOCK),
		   OP(EMU_OP_NEG, F_LOCK), OP(EMU_OP_MUL, 0), OP(EMU_OP_IMUL1, 0), OP(EMU_OP_DIV, 0),
		   OP(EMU_OP_IDIV, 0), OP(EMU_OP_TEST, F_IMM8), OP(EMU_OP_TEST, F_IMM8),
		   OP(EMU_OP_NOT, 0), OP(EMU_OP_NEG, 0), OP(EMU_OP_MUL, 0), OP(EMU_OP_IMUL1, 0),
		   OP(EMU_OP_DIV, 0), OP(EMU_OP_IDIV, 0) },
	[N_F7] = { OP(EMU_OP_TEST, F_IMMZ), OP(EMU_OP_TEST, F_IMMZ), OP(EMU_OP_NOT, F_LOCK),
		   OP(EMU_OP_NEG, F_LOCK), OP(EMU_OP_MUL, 0), OP(EMU_OP_IMUL1, 0), OP(EMU_OP_DIV, 0),
		   OP(EMU_OP_IDIV, 0), OP(EMU_OP_TEST, F_IMMZ), OP(EMU_OP_TEST, F_IMMZ),
		   OP(EMU_OP_NOT, 0), OP(EMU_OP_NEG, 0), OP(EMU_OP_MUL, 0), OP(EMU_OP_IMUL1, 0),
		   OP(EMU_OP_DIV, 0), OP(EMU_OP_IDIV, 0) },
	/* Group 11: MOV r/m, imm (/0); the rest (XABORT, XBEGIN at F8) not emulated. */
	[N_C6] = { OP(EMU_OP_MOV, F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8),
		   UNIMPL(F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8),
		   OP(EMU_OP_MOV, F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8),
		   UNIMPL(F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8), UNIMPL(F_IMM8) },
	[N_C7] = { OP(EMU_OP_MOV, F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ),
		   UNIMPL(F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ),
		   OP(EMU_OP_MOV, F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ),
		   UNIMPL(F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ), UNIMPL(F_IMMZ) },
	/* SSE/SSE2 by mandatory prefix (none, 66, F3, F2); none is the MMX form from 0F 60 on. */
	[N_0F10] = { OP(EMU_OP_MOVUPS_LOAD, 0), OP(EMU_OP_MOVUPS_LOAD, 0) },
	[N_0F11] = { OP(EMU_OP_MOVUPS_STORE, 0), OP(EMU_OP_MOVUPS_STORE, 0) },
	[N_0F28] = { OP(EMU_OP_MOVAPS_LOAD, 0), OP(EMU_OP_MOVAPS_LOAD, 0) },
	[N_0F29] = { OP(EMU_OP_MOVAPS_STORE, 0), OP(EMU_OP_MOVAPS_STORE, 0) },
	[N_0F2B] = { OP(EMU_OP_MOVNTDQ, F_MEM), OP(EMU_OP_MOVNTDQ, F_MEM) },
	[N_0F54] = { OP(EMU_OP_PAND, 0), OP(EMU_OP_PAND, 0) },
	[N_0F55] = { OP(EMU_OP_PANDN, 0), OP(EMU_OP_PANDN, 0) },
	[N_0F56] = { OP(EMU_OP_POR, 0), OP(EMU_OP_POR, 0) },
	[N_0F57] = { OP(EMU_OP_PXOR, 0), OP(EMU_OP_PXOR, 0) },
	[N_0F6E] = { OP(EMU_OP_MOVD_TO_XMM, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_MOVD_TO_XMM, 0) },
	[N_0F6F] = { OP(EMU_OP_MOVDQU_LOAD, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_MOVDQA_LOAD, 0),
		     [EMU_MANDATORY_F3] = OP(EMU_OP_MOVDQU_LOAD, 0) },
	[N_0F70] = { OP(EMU_OP_PSHUFD, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PSHUFD, F_IMM8) },
	[N_0F74] = { OP(EMU_OP_PCMPEQB, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PCMPEQB, 0) },
	[N_0F75] = { OP(EMU_OP_PCMPEQW, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PCMPEQW, 0) },
	[N_0F76] = { OP(EMU_OP_PCMPEQD, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PCMPEQD, 0) },
	[N_0F7E] = { OP(EMU_OP_MOVD_FROM_XMM, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_MOVD_FROM_XMM, 0),
		     [EMU_MANDATORY_F3] = OP(EMU_OP_MOVQ_TO_XMM, 0) },
	[N_0F7F] = { OP(EMU_OP_MOVDQU_STORE, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_MOVDQA_STORE, 0),
		     [EMU_MANDATORY_F3] = OP(EMU_OP_MOVDQU_STORE, 0) },
	[N_0FD4] = { OP(EMU_OP_PADDQ, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PADDQ, 0) },
	[N_0FD6] = { [EMU_MANDATORY_66] = OP(EMU_OP_MOVQ_FROM_XMM, 0) },
	[N_0FD7] = { OP(EMU_OP_PMOVMSKB, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PMOVMSKB, 0) },
	[N_0FDB] = { OP(EMU_OP_PAND, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PAND, 0) },
	[N_0FDF] = { OP(EMU_OP_PANDN, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PANDN, 0) },
	[N_0FE7] = { OP(EMU_OP_MOVNTDQ, F_MEM | F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_MOVNTDQ, F_MEM) },
	[N_0FEB] = { OP(EMU_OP_POR, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_POR, 0) },
	[N_0FEF] = { OP(EMU_OP_PXOR, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PXOR, 0) },
	[N_0FF8] = { OP(EMU_OP_PSUBB, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PSUBB, 0) },
	[N_0FF9] = { OP(EMU_OP_PSUBW, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PSUBW, 0) },
	[N_0FFA] = { OP(EMU_OP_PSUBD, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PSUBD, 0) },
	[N_0FFB] = { OP(EMU_OP_PSUBQ, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PSUBQ, 0) },
	[N_0FFC] = { OP(EMU_OP_PADDB, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PADDB, 0) },
	[N_0FFD] = { OP(EMU_OP_PADDW, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PADDW, 0) },
	[N_0FFE] = { OP(EMU_OP_PADDD, F_MMX), [EMU_MANDATORY_66] = OP(EMU_OP_PADDD, 0) },
};

static const struct emu_decode_entry emu_decode_map_legacy[256] = {
	[0x00 ... 0x01] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x02 ... 0x03] = OP(EMU_OP_ALU, F_MODRM),
	[0x04] = OP(EMU_OP_ALU, F_IMM8),
	[0x05] = OP(EMU_OP_ALU, F_IMMZ),
	[0x06] = OP(EMU_OP_PUSH_SREG, F_INV64),
	[0x07] = OP(EMU_OP_POP_SREG, F_INV64),
	[0x08 ... 0x09] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x0a ... 0x0b] = OP(EMU_OP_ALU, F_MODRM),
	[0x0c] = OP(EMU_OP_ALU, F_IMM8),
	[0x0d] = OP(EMU_OP_ALU, F_IMMZ),
	[0x0e] = OP(EMU_OP_PUSH_SREG, F_INV64),
	[0x10 ... 0x11] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x12 ... 0x13] = OP(EMU_OP_ALU, F_MODRM),
	[0x14] = OP(EMU_OP_ALU, F_IMM8),
	[0x15] = OP(EMU_OP_ALU, F_IMMZ),
	[0x16] = OP(EMU_OP_PUSH_SREG, F_INV64),
	[0x17] = OP(EMU_OP_POP_SREG, F_INV64),
	[0x18 ... 0x19] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x1a ... 0x1b] = OP(EMU_OP_ALU, F_MODRM),
	[0x1c] = OP(EMU_OP_ALU, F_IMM8),
	[0x1d] = OP(EMU_OP_ALU, F_IMMZ),
	[0x1e] = OP(EMU_OP_PUSH_SREG, F_INV64),
	[0x1f] = OP(EMU_OP_POP_SREG, F_INV64),
	[0x20 ... 0x21] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x22 ... 0x23] = OP(EMU_OP_ALU, F_MODRM),
	[0x24] = OP(EMU_OP_ALU, F_IMM8),
	[0x25] = OP(EMU_OP_ALU, F_IMMZ),
	[0x27] = OP(EMU_OP_DAA, F_INV64),
	[0x28 ... 0x29] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x2a ... 0x2b] = OP(EMU_OP_ALU, F_MODRM),
	[0x2c] = OP(EMU_OP_ALU, F_IMM8),
	[0x2d] = OP(EMU_OP_ALU, F_IMMZ),
	[0x2f] = OP(EMU_OP_DAS, F_INV64),
	[0x30 ... 0x31] = OP(EMU_OP_ALU, F_MODRM | F_LOCK),
	[0x32 ... 0x33] = OP(EMU_OP_ALU, F_MODRM),
	[0x34] = OP(EMU_OP_ALU, F_IMM8),
	[0x35] = OP(EMU_OP_ALU, F_IMMZ),
	[0x37] = OP(EMU_OP_AAA, F_INV64),
	[0x38 ... 0x39] = OP(EMU_OP_ALU, F_MODRM), /* CMP: no read-modify-write, no LOCK */
	[0x3a ... 0x3b] = OP(EMU_OP_ALU, F_MODRM),
	[0x3c] = OP(EMU_OP_ALU, F_IMM8),
	[0x3d] = OP(EMU_OP_ALU, F_IMMZ),
	[0x3f] = OP(EMU_OP_AAS, F_INV64),
	/* 40-4F are REX prefixes in 64-bit mode: INC and DEC only reach the table outside it. */
	[0x40 ... 0x47] = OP(EMU_OP_INC, 0),
	[0x48 ... 0x4f] = OP(EMU_OP_DEC, 0),
	[0x50 ... 0x57] = OP(EMU_OP_PUSH, F_D64),
	[0x58 ... 0x5f] = OP(EMU_OP_POP, F_D64),
	[0x60] = OP(EMU_OP_PUSHA, F_INV64),
	[0x61] = OP(EMU_OP_POPA, F_INV64),
	[0x62] = OP(EMU_OP_BOUND, F_MODRM | F_INV64 | F_MEM), /* EVEX when mod = 3 */
	[0x63] = OP(EMU_OP_MOVSXD, F_MODRM), /* ARPL outside 64-bit mode */
	[0x68] = OP(EMU_OP_PUSH, F_IMMZ | F_D64),
	[0x69] = OP(EMU_OP_IMUL, F_MODRM | F_IMMZ),
	[0x6a] = OP(EMU_OP_PUSH, F_IMM8 | F_D64),
	[0x6b] = OP(EMU_OP_IMUL, F_MODRM | F_IMM8),
	[0x6c ... 0x6d] = OP(EMU_OP_INS, 0),
	[0x6e ... 0x6f] = OP(EMU_OP_OUTS, 0),
	[0x70 ... 0x7f] = OP(EMU_OP_JCC, F_IMM8 | F_F64),
	[0x80] = OP(EMU_OP_ALU_GRP1, F_MODRM | F_IMM8 | F_LOCK),
	[0x81] = OP(EMU_OP_ALU_GRP1, F_MODRM | F_IMMZ | F_LOCK),
	[0x82] = UNIMPL(F_MODRM | F_IMM8 | F_INV64),
	[0x83] = OP(EMU_OP_ALU_GRP1, F_MODRM | F_IMM8 | F_LOCK),
	[0x84 ... 0x85] = OP(EMU_OP_TEST, F_MODRM),
	[0x86 ... 0x87] = OP(EMU_OP_XCHG, F_MODRM | F_LOCK),
	[0x88 ... 0x8b] = OP(EMU_OP_MOV, F_MODRM),
	[0x8c] = OP(EMU_OP_MOV_FROM_SREG, F_MODRM),
	[0x8d] = OP(EMU_OP_LEA, F_MODRM | F_MEM),
	[0x8e] = OP(EMU_OP_MOV_SREG, F_MODRM),
	[0x8f] = { K_GROUP, N_8F, F_MODRM },
	[0x90] = OP(EMU_OP_NOP, 0),
	[0x91 ... 0x97] = OP(EMU_OP_XCHG, 0),
	[0x98] = OP(EMU_OP_CBW, 0),
	[0x99] = OP(EMU_OP_CWD, 0),
	[0x9a] = OP(EMU_OP_CALLF, F_FAR | F_INV64),
	[0x9b] = OP(EMU_OP_FWAIT, 0),
	[0x9c] = OP(EMU_OP_PUSHF, F_D64),
	[0x9d] = OP(EMU_OP_POPF, F_D64),
	[0x9e] = OP(EMU_OP_SAHF, 0),
	[0x9f] = OP(EMU_OP_LAHF, 0),
	[0xa0 ... 0xa3] = OP(EMU_OP_MOV_MOFFS, F_MOFFS),
	[0xa4 ... 0xa5] = OP(EMU_OP_MOVS, 0),
	[0xa6 ... 0xa7] = OP(EMU_OP_CMPS, 0),
	[0xa8] = OP(EMU_OP_TEST, F_IMM8),
	[0xa9] = OP(EMU_OP_TEST, F_IMMZ),
	[0xaa ... 0xab] = OP(EMU_OP_STOS, 0),
	[0xac ... 0xad] = OP(EMU_OP_LODS, 0),
	[0xae ... 0xaf] = OP(EMU_OP_SCAS, 0),
	[0xb0 ... 0xb7] = OP(EMU_OP_MOV, F_IMM8),
	[0xb8 ... 0xbf] = OP(EMU_OP_MOV, F_IMMV),
	[0xc0 ... 0xc1] = OP(EMU_OP_SHIFT, F_MODRM | F_IMM8),
	[0xc2] = OP(EMU_OP_RET, F_IMM16 | F_F64),
	[0xc3] = OP(EMU_OP_RET, F_F64),
	[0xc4 ... 0xc5] = OP(EMU_OP_LOAD_FAR, F_MODRM | F_INV64 | F_MEM), /* VEX when mod = 3 */
	[0xc6] = { K_GROUP, N_C6, F_MODRM },
	[0xc7] = { K_GROUP, N_C7, F_MODRM },
	[0xc8] = OP(EMU_OP_ENTER, F_ENTER | F_D64),
	[0xc9] = OP(EMU_OP_LEAVE, F_D64),
	[0xca] = OP(EMU_OP_RETF, F_IMM16),
	[0xcb] = OP(EMU_OP_RETF, 0),
	[0xcc] = OP(EMU_OP_INT3, 0),
	[0xcd] = OP(EMU_OP_INT, F_IMM8),
	[0xce] = OP(EMU_OP_INTO, F_INV64),
	[0xcf] = OP(EMU_OP_IRET, 0),
	[0xd0 ... 0xd3] = OP(EMU_OP_SHIFT, F_MODRM),
	[0xd4] = OP(EMU_OP_AAM, F_IMM8 | F_INV64),
	[0xd5] = OP(EMU_OP_AAD, F_IMM8 | F_INV64),
	[0xd6] = OP(EMU_OP_SALC, F_INV64),
	[0xd7] = OP(EMU_OP_XLAT, 0),
	/* x87: the control instructions are emulated (x87.c); any other form decodes as UNIMPL. */
	[0xd8] = UNIMPL(F_MODRM),
	[0xd9] = { K_GROUP, N_D9, F_MODRM },
	[0xda] = UNIMPL(F_MODRM),
	[0xdb] = { K_GROUP, N_DB, F_MODRM },
	[0xdc] = UNIMPL(F_MODRM),
	[0xdd] = { K_GROUP, N_DD, F_MODRM },
	[0xde] = UNIMPL(F_MODRM),
	[0xdf] = { K_GROUP, N_DF, F_MODRM },
	[0xe0 ... 0xe3] = OP(EMU_OP_LOOP, F_IMM8 | F_F64),
	[0xe4 ... 0xe5] = OP(EMU_OP_IN, F_IMM8),
	[0xe6 ... 0xe7] = OP(EMU_OP_OUT, F_IMM8),
	[0xe8] = OP(EMU_OP_CALL, F_BRANCH | F_F64),
	[0xe9] = OP(EMU_OP_JMP, F_BRANCH | F_F64),
	[0xea] = OP(EMU_OP_JMPF, F_FAR | F_INV64),
	[0xeb] = OP(EMU_OP_JMP, F_IMM8 | F_F64),
	[0xec ... 0xed] = OP(EMU_OP_IN, 0),
	[0xee ... 0xef] = OP(EMU_OP_OUT, 0),
	[0xf1] = OP(EMU_OP_INT1, 0),
	[0xf4] = OP(EMU_OP_HLT, 0),
	[0xf5] = OP(EMU_OP_CMC, 0),
	[0xf6] = { K_GROUP, N_F6, F_MODRM },
	[0xf7] = { K_GROUP, N_F7, F_MODRM },
	[0xf8] = OP(EMU_OP_CLC, 0),
	[0xf9] = OP(EMU_OP_STC, 0),
	[0xfa] = OP(EMU_OP_CLI, 0),
	[0xfb] = OP(EMU_OP_STI, 0),
	[0xfc] = OP(EMU_OP_CLD, 0),
	[0xfd] = OP(EMU_OP_STD, 0),
	[0xfe] = { K_GROUP, N_FE, F_MODRM },
	[0xff] = { K_GROUP, N_FF, F_MODRM },
};

static const struct emu_decode_entry emu_decode_map_0f[256] = {
	[0x00] = { K_GROUP, N_0F00, F_MODRM },
	[0x01] = { K_GROUP, N_0F01, F_MODRM },
	[0x02 ... 0x03] = UNIMPL(F_MODRM),
	[0x05] = OP(EMU_OP_SYSCALL, 0),
	[0x06] = OP(EMU_OP_CLTS, 0),
	[0x07] = OP(EMU_OP_SYSRET, 0),
	[0x08] = OP(EMU_OP_INVD, 0),
	[0x09] = OP(EMU_OP_WBINVD, 0),
	[0x0b] = OP(EMU_OP_UD, 0),
	[0x0d] = OP(EMU_OP_NOP, F_MODRM), /* PREFETCH, PREFETCHW */
	[0x0e] = UNIMPL(0),
	[0x0f] = UNIMPL(F_MODRM | F_IMM8),
	[0x10] = { K_PREFIX, N_0F10, F_MODRM },
	[0x11] = { K_PREFIX, N_0F11, F_MODRM },
	[0x12 ... 0x17] = UNIMPL(F_MODRM),
	[0x18 ... 0x1f] = OP(EMU_OP_NOP, F_MODRM), /* prefetch hints, NOP r/m, ENDBR, BND* off */
	[0x20] = OP(EMU_OP_MOV_CR, F_MODRM | F_MODREG),
	[0x21] = OP(EMU_OP_MOV_DR, F_MODRM | F_MODREG),
	[0x22] = OP(EMU_OP_MOV_CR, F_MODRM | F_MODREG),
	[0x23] = OP(EMU_OP_MOV_DR, F_MODRM | F_MODREG),
	[0x28] = { K_PREFIX, N_0F28, F_MODRM },
	[0x29] = { K_PREFIX, N_0F29, F_MODRM },
	[0x2a] = UNIMPL(F_MODRM),
	[0x2b] = { K_PREFIX, N_0F2B, F_MODRM },
	[0x2c ... 0x2f] = UNIMPL(F_MODRM),
	[0x30] = OP(EMU_OP_WRMSR, 0),
	[0x31] = OP(EMU_OP_RDTSC, 0),
	[0x32] = OP(EMU_OP_RDMSR, 0),
	[0x33] = OP(EMU_OP_RDPMC, 0),
	[0x34 ... 0x35] = UNIMPL(0),
	[0x37] = UNIMPL(0),
	[0x40 ... 0x4f] = OP(EMU_OP_CMOV, F_MODRM),
	[0x50 ... 0x53] = UNIMPL(F_MODRM),
	[0x54] = { K_PREFIX, N_0F54, F_MODRM },
	[0x55] = { K_PREFIX, N_0F55, F_MODRM },
	[0x56] = { K_PREFIX, N_0F56, F_MODRM },
	[0x57] = { K_PREFIX, N_0F57, F_MODRM },
	[0x58 ... 0x5f] = UNIMPL(F_MODRM),
	[0x60 ... 0x62] = { K_PREFIX, N_66_PUNPCK, F_MODRM },
	[0x63 ... 0x67] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0x68 ... 0x6a] = { K_PREFIX, N_66_PUNPCK, F_MODRM },
	[0x6b] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0x6c ... 0x6d] = { K_PREFIX, N_66_PUNPCKQ, F_MODRM },
	[0x6e] = { K_PREFIX, N_0F6E, F_MODRM },
	[0x6f] = { K_PREFIX, N_0F6F, F_MODRM },
	[0x70] = { K_PREFIX, N_0F70, F_MODRM | F_IMM8 },
	[0x71] = { K_GROUP, N_0F71, F_MODRM | F_IMM8 },
	[0x72] = { K_GROUP, N_0F71, F_MODRM | F_IMM8 },
	[0x73] = { K_GROUP, N_0F73, F_MODRM | F_IMM8 },
	[0x74] = { K_PREFIX, N_0F74, F_MODRM },
	[0x75] = { K_PREFIX, N_0F75, F_MODRM },
	[0x76] = { K_PREFIX, N_0F76, F_MODRM },
	[0x77] = { K_VEX, N_0F77, 0 },
	[0x78] = { K_PREFIX, N_0F78, F_MODRM },
	[0x79] = UNIMPL(F_MODRM),
	[0x7c ... 0x7d] = UNIMPL(F_MODRM),
	[0x7e] = { K_PREFIX, N_0F7E, F_MODRM },
	[0x7f] = { K_PREFIX, N_0F7F, F_MODRM },
	[0x80 ... 0x8f] = OP(EMU_OP_JCC, F_BRANCH | F_F64),
	[0x90 ... 0x9f] = OP(EMU_OP_SETCC, F_MODRM),
	[0xa0] = OP(EMU_OP_PUSH_SREG, F_D64),
	[0xa1] = OP(EMU_OP_POP_SREG, F_D64),
	[0xa2] = OP(EMU_OP_CPUID, 0),
	[0xa3] = OP(EMU_OP_BT, F_MODRM),
	[0xa4] = OP(EMU_OP_SHLD, F_MODRM | F_IMM8),
	[0xa5] = OP(EMU_OP_SHLD, F_MODRM),
	[0xa8] = OP(EMU_OP_PUSH_SREG, F_D64),
	[0xa9] = OP(EMU_OP_POP_SREG, F_D64),
	[0xaa] = UNIMPL(0),
	[0xab] = OP(EMU_OP_BTS, F_MODRM | F_LOCK),
	[0xac] = OP(EMU_OP_SHRD, F_MODRM | F_IMM8),
	[0xad] = OP(EMU_OP_SHRD, F_MODRM),
	[0xae] = { K_VEX, N_0FAE, F_MODRM },
	[0xaf] = OP(EMU_OP_IMUL, F_MODRM),
	[0xb0 ... 0xb1] = OP(EMU_OP_CMPXCHG, F_MODRM | F_LOCK),
	[0xb2] = OP(EMU_OP_LOAD_FAR, F_MODRM | F_MEM),
	[0xb3] = OP(EMU_OP_BTR, F_MODRM | F_LOCK),
	[0xb4 ... 0xb5] = OP(EMU_OP_LOAD_FAR, F_MODRM | F_MEM),
	[0xb6 ... 0xb7] = OP(EMU_OP_MOVZX, F_MODRM),
	[0xb8] = { K_PREFIX, N_0FB8, F_MODRM },
	[0xb9] = OP(EMU_OP_UD, F_MODRM),
	[0xba] = { K_GROUP, N_0FBA, F_MODRM | F_IMM8 },
	[0xbb] = OP(EMU_OP_BTC, F_MODRM | F_LOCK),
	[0xbc] = { K_PREFIX, N_0FBC, F_MODRM },
	[0xbd] = { K_PREFIX, N_0FBD, F_MODRM },
	[0xbe ... 0xbf] = OP(EMU_OP_MOVSX, F_MODRM),
	[0xc0 ... 0xc1] = OP(EMU_OP_XADD, F_MODRM | F_LOCK),
	[0xc2] = UNIMPL(F_MODRM | F_IMM8),
	[0xc3] = UNIMPL(F_MODRM),
	[0xc4 ... 0xc6] = UNIMPL(F_MODRM | F_IMM8),
	[0xc7] = { K_GROUP, N_0FC7, F_MODRM },
	[0xc8 ... 0xcf] = OP(EMU_OP_BSWAP, 0),
	[0xd0] = UNIMPL(F_MODRM),
	[0xd1 ... 0xd3] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xd4] = { K_PREFIX, N_0FD4, F_MODRM },
	[0xd5] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xd6] = { K_PREFIX, N_0FD6, F_MODRM },
	[0xd7] = { K_PREFIX, N_0FD7, F_MODRM },
	[0xd8 ... 0xda] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xdb] = { K_PREFIX, N_0FDB, F_MODRM },
	[0xdc ... 0xde] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xdf] = { K_PREFIX, N_0FDF, F_MODRM },
	[0xe0 ... 0xe5] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xe6] = UNIMPL(F_MODRM),
	[0xe7] = { K_PREFIX, N_0FE7, F_MODRM },
	[0xe8 ... 0xea] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xeb] = { K_PREFIX, N_0FEB, F_MODRM },
	[0xec ... 0xee] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xef] = { K_PREFIX, N_0FEF, F_MODRM },
	[0xf0] = UNIMPL(F_MODRM),
	[0xf1 ... 0xf6] = { K_PREFIX, N_66_SSE_INT, F_MODRM },
	[0xf7] = UNIMPL(F_MODRM),
	[0xf8] = { K_PREFIX, N_0FF8, F_MODRM },
	[0xf9] = { K_PREFIX, N_0FF9, F_MODRM },
	[0xfa] = { K_PREFIX, N_0FFA, F_MODRM },
	[0xfb] = { K_PREFIX, N_0FFB, F_MODRM },
	[0xfc] = { K_PREFIX, N_0FFC, F_MODRM },
	[0xfd] = { K_PREFIX, N_0FFD, F_MODRM },
	[0xfe] = { K_PREFIX, N_0FFE, F_MODRM },
	[0xff] = OP(EMU_OP_UD, F_MODRM),
};

static const struct emu_decode_entry emu_decode_map_0f38[256] = {
	[0x00] = { K_PREFIX, N_0F38_00, F_MODRM },
	[0x01 ... 0x81] = UNIMPL(F_MODRM),
	[0x82] = { K_PREFIX, N_0F38_82, F_MODRM },
	[0x83 ... 0xff] = UNIMPL(F_MODRM),
};

static const struct emu_decode_entry emu_decode_map_0f3a[256] = {
	[0x00 ... 0x0e] = UNIMPL(F_MODRM | F_IMM8),
	[0x0f] = { K_PREFIX, N_0F3A_0F, F_MODRM | F_IMM8 },
	[0x10 ... 0x43] = UNIMPL(F_MODRM | F_IMM8),
	[0x44] = { K_PREFIX, N_0F3A_44, F_MODRM | F_IMM8 },
	[0x45 ... 0xff] = UNIMPL(F_MODRM | F_IMM8),
};

/* AMD XOP: every instruction has ModRM; map 8 adds an imm8, map 0Ah an imm32. */
static const struct emu_decode_entry emu_decode_map_xop8[256] = {
	[0 ... 255] = UNIMPL(F_MODRM | F_IMM8),
};
static const struct emu_decode_entry emu_decode_map_xop9[256] = {
	[0 ... 255] = UNIMPL(F_MODRM),
};
static const struct emu_decode_entry emu_decode_map_xopa[256] = {
	[0 ... 255] = UNIMPL(F_MODRM | F_IMMZ),
};

static const struct emu_decode_entry *const emu_decode_maps[] = {
	[EMU_MAP_LEGACY] = emu_decode_map_legacy,
	[EMU_MAP_0F] = emu_decode_map_0f,
	[EMU_MAP_0F38] = emu_decode_map_0f38,
	[EMU_MAP_0F3A] = emu_decode_map_0f3a,
	[EMU_MAP_XOP8] = emu_decode_map_xop8,
	[EMU_MAP_XOP9] = emu_decode_map_xop9,
	[EMU_MAP_XOPA] = emu_decode_map_xopa,
};

/* clang-format on */

struct emu_decoder {
	struct emu_insn *insn;
	const struct emu_cpu *cpu;
	const struct emu_ops *ops;
	void *opaque;
	struct emu_exception *exc;
	unsigned have; /* valid bytes in insn->bytes */
};

/* Make n more bytes (from insn->len on) available, fetching only what is missing. */
static int emu_decode_need(struct emu_decoder *d, unsigned n)
{
	const struct emu_cpu *cpu = d->cpu;
	unsigned end = d->insn->len + n, cnt;
	unsigned access = EMU_ACC_FETCH | (cpu->cpl == 3 ? EMU_ACC_USER : 0);
	struct emu_pf pf;
	uint64_t la;
	int ret;

	if (end > EMU_MAX_INSN_LEN)
		return emu_raise(d->exc, EMU_X_GP, 0);
	if (end <= d->have)
		return 0;
	cnt = end - d->have;
	if (d->insn->code_size == 8) {
		la = cpu->rip + d->have;
		if (!emu_is_canonical(cpu, la) || !emu_is_canonical(cpu, la + cnt - 1))
			return emu_raise(d->exc, EMU_X_GP, 0);
	} else {
		const struct emu_seg *cs = &cpu->seg[EMU_CS];
		uint64_t off = (cpu->rip + d->have) & 0xffffffffull;

		if (off + cnt - 1 > cs->limit)
			return emu_raise(d->exc, EMU_X_GP, 0);
		la = (cs->base + off) & 0xffffffffull;
		/* A fetch that wraps the 4 GiB linear space: too odd to be worth emulating. */
		if (la + cnt - 1 > 0xffffffffull)
			return -ENOTSUP;
	}
	if (d->ops->prefetch) {
		/* The rest of the page, within CS's limit: no fault the needed bytes do not have.
		 */
		unsigned want = EMU_MAX_INSN_LEN - d->have;
		uint64_t left = 4096 - (la & 4095);

		if (d->insn->code_size != 8) {
			uint64_t off = (cpu->rip + d->have) & 0xffffffffull;

			left = left < cpu->seg[EMU_CS].limit - off + 1
				   ? left
				   : cpu->seg[EMU_CS].limit - off + 1;
		}
		if (want > left)
			want = (unsigned)left;
		if (want > cnt && d->ops->read(d->opaque, la, d->insn->bytes + d->have, want,
					       access | EMU_ACC_PREFETCH, &pf) == 0) {
			d->have += want;
			return 0;
		}
	}
	ret = d->ops->read(d->opaque, la, d->insn->bytes + d->have, cnt, access, &pf);
	if (ret == EMU_MEM_FAULT) {
		emu_raise(d->exc, EMU_X_PF, pf.error_code);
		d->exc->cr2 = pf.addr;
		return EMU_RAISED;
	}
	if (ret)
		return ret < 0 ? ret : -EIO;
	d->have = end;
	return 0;
}

static int emu_decode_byte(struct emu_decoder *d, uint8_t *b)
{
	int ret = emu_decode_need(d, 1);

	if (ret)
		return ret;
	*b = d->insn->bytes[d->insn->len++];
	return 0;
}

/* n = 1, 2, 4 or 8 little-endian bytes, sign-extended. */
static int emu_decode_signed(struct emu_decoder *d, unsigned n, int64_t *v)
{
	const uint8_t *p;
	int ret = emu_decode_need(d, n);

	if (ret)
		return ret;
	p = d->insn->bytes + d->insn->len;
	d->insn->len += n;
	if (n == 8) {
		uint64_t u = 0;

		for (unsigned i = 0; i < 8; i++)
			u |= (uint64_t)p[i] << (8 * i);
		*v = (int64_t)u;
	} else if (n == 1)
		*v = (int8_t)p[0];
	else if (n == 2)
		*v = (int16_t)(p[0] | p[1] << 8);
	else
		*v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			       (uint32_t)p[3] << 24);
	return 0;
}

/* Record b if it is a legacy prefix; false if it is not one. */
static bool emu_decode_prefix(struct emu_insn *insn, uint8_t b)
{
	static const int8_t segs[256] = {
		[0x26] = EMU_ES + 1, [0x2e] = EMU_CS + 1, [0x36] = EMU_SS + 1,
		[0x3e] = EMU_DS + 1, [0x64] = EMU_FS + 1, [0x65] = EMU_GS + 1,
	};

	switch (b) {
	case 0xf0:
		insn->lock = true;
		return true;
	case 0xf2:
		insn->rep_f2 = true;
		insn->last_rep = b;
		return true;
	case 0xf3:
		insn->rep_f3 = true;
		insn->last_rep = b;
		return true;
	case 0x66:
		insn->opsize_prefix = true;
		return true;
	case 0x67:
		insn->adsize_prefix = true;
		return true;
	default:
		break;
	}
	if (!segs[b])
		return false;
	/* 64-bit mode treats CS/DS/ES/SS overrides as no prefix at all (an FS/GS one stays). */
	if (insn->code_size != 8 || b == 0x64 || b == 0x65)
		insn->seg_override = (int8_t)(segs[b] - 1);
	return true;
}

/* Prefixes, REX, VEX and opcode bytes, up to the byte after the opcode. */
static int emu_decode_opcode(struct emu_decoder *d)
{
	struct emu_insn *insn = d->insn;
	bool real_or_v86 = !(d->cpu->cr0 & EMU_CR0_PE) || (d->cpu->rflags & EMU_RFLAGS_VM);
	uint8_t b;
	int ret;

	for (;;) {
		ret = emu_decode_byte(d, &b);
		if (ret)
			return ret;
		if (insn->code_size == 8 && (b & 0xf0) == 0x40) {
			insn->rex = b; /* of several REX bytes the last counts */
			continue;
		}
		if (!emu_decode_prefix(insn, b))
			break;
		insn->rex = 0; /* REX counts only directly before the opcode */
	}
	if (insn->rex) {
		insn->rex_w = insn->rex & 8;
		insn->rex_r = insn->rex & 4;
		insn->rex_x = insn->rex & 2;
		insn->rex_b = insn->rex & 1;
	}

	if (b == 0x8f && !real_or_v86) {
		uint8_t p1, p2;

		ret = emu_decode_need(d, 1);
		if (ret)
			return ret;
		p1 = insn->bytes[insn->len];
		/* XOP when the map field is 8 or more; below that it is POP r/m (a ModRM byte). */
		if ((p1 & 0x1f) >= 8) {
			insn->len++;
			if (insn->opsize_prefix || insn->rep_f2 || insn->rep_f3 || insn->lock ||
			    insn->rex)
				return emu_raise(d->exc, EMU_X_UD, -1);
			if ((p1 & 0x1f) > 10)
				return -ENOTSUP;
			insn->map = (enum emu_map)(EMU_MAP_XOP8 + (p1 & 0x1f) - 8);
			ret = emu_decode_byte(d, &p2);
			if (ret)
				return ret;
			insn->vex = true;
			insn->rex_r = !(p1 & 0x80);
			insn->rex_x = !(p1 & 0x40);
			insn->rex_b = !(p1 & 0x20);
			insn->rex_w = p2 & 0x80;
			if (insn->code_size != 8)
				insn->rex_r = insn->rex_x = insn->rex_b = false;
			insn->vex_vvvv = (uint8_t)(~p2 >> 3) & 15;
			insn->vex_l = (p2 >> 2) & 1;
			insn->vex_pp = p2 & 3;
			return emu_decode_byte(d, &insn->opcode);
		}
	}
	if (b == 0x62 && !real_or_v86) {
		uint8_t p[3];

		ret = emu_decode_need(d, 1);
		if (ret)
			return ret;
		/* Outside 64-bit mode it is BOUND unless the next byte looks like ModRM mod=3. */
		if (insn->code_size == 8 || (insn->bytes[insn->len] & 0xc0) == 0xc0) {
			for (unsigned i = 0; i < 3; i++) {
				ret = emu_decode_byte(d, &p[i]);
				if (ret)
					return ret;
			}
			if (insn->opsize_prefix || insn->rep_f2 || insn->rep_f3 || insn->lock ||
			    insn->rex)
				return emu_raise(d->exc, EMU_X_UD, -1);
			/* EVEX (AVX-512): P0 = R X B R' 0 m m m, P1 = W vvvv 1 pp, P2 = z L'L b V'
			 * aaa. */
			switch (p[0] & 7) {
			case 1:
				insn->map = EMU_MAP_0F;
				break;
			case 2:
				insn->map = EMU_MAP_0F38;
				break;
			case 3:
				insn->map = EMU_MAP_0F3A;
				break;
			default:
				return -ENOTSUP; /* maps 5 and 6 (AVX512-FP16), reserved ones */
			}
			insn->vex = insn->evex = true;
			insn->rex_r = !(p[0] & 0x80);
			insn->rex_x = !(p[0] & 0x40);
			insn->rex_b = !(p[0] & 0x20);
			insn->rex_w = p[1] & 0x80;
			if (insn->code_size != 8)
				insn->rex_r = insn->rex_x = insn->rex_b = false;
			insn->vex_vvvv = (uint8_t)(~p[1] >> 3) & 15;
			insn->vex_l = (p[2] >> 5) & 3;
			insn->vex_pp = p[1] & 3;
			insn->mandatory = (enum emu_mandatory)insn->vex_pp;
			return emu_decode_byte(d, &insn->opcode);
		}
	}
	if ((b == 0xc4 || b == 0xc5) && !real_or_v86) {
		uint8_t p1, p2;

		ret = emu_decode_need(d, 1);
		if (ret)
			return ret;
		p1 = insn->bytes[insn->len];
		/* Outside 64-bit mode it is LES/LDS unless the next byte looks like ModRM mod=3. */
		if (insn->code_size != 8 && (p1 & 0xc0) != 0xc0)
			goto legacy;
		insn->len++;
		if (insn->opsize_prefix || insn->rep_f2 || insn->rep_f3 || insn->lock || insn->rex)
			return emu_raise(d->exc, EMU_X_UD, -1);
		insn->vex = true;
		insn->rex_r = !(p1 & 0x80);
		if (b == 0xc5) {
			p2 = p1;
			insn->map = EMU_MAP_0F;
		} else {
			insn->rex_x = !(p1 & 0x40);
			insn->rex_b = !(p1 & 0x20);
			switch (p1 & 0x1f) {
			case 1:
				insn->map = EMU_MAP_0F;
				break;
			case 2:
				insn->map = EMU_MAP_0F38;
				break;
			case 3:
				insn->map = EMU_MAP_0F3A;
				break;
			default:
				return -ENOTSUP; /* reserved map: #UD on the CPU, unknown to us */
			}
			ret = emu_decode_byte(d, &p2);
			if (ret)
				return ret;
			insn->rex_w = p2 & 0x80;
		}
		if (insn->code_size != 8)
			insn->rex_r = insn->rex_x = insn->rex_b = false;
		insn->vex_vvvv = (uint8_t)(~p2 >> 3) & 15;
		insn->vex_l = (p2 >> 2) & 1;
		insn->vex_pp = p2 & 3;
		insn->mandatory = (enum emu_mandatory)insn->vex_pp; /* pp: none, 66, F3, F2 */
		return emu_decode_byte(d, &insn->opcode);
	}
legacy:
	if (insn->last_rep)
		insn->mandatory = insn->last_rep == 0xf3 ? EMU_MANDATORY_F3 : EMU_MANDATORY_F2;
	else if (insn->opsize_prefix)
		insn->mandatory = EMU_MANDATORY_66;
	if (b != 0x0f) {
		insn->map = EMU_MAP_LEGACY;
		insn->opcode = b;
		return 0;
	}
	ret = emu_decode_byte(d, &b);
	if (ret)
		return ret;
	if (b == 0x38 || b == 0x3a) {
		insn->map = b == 0x38 ? EMU_MAP_0F38 : EMU_MAP_0F3A;
		return emu_decode_byte(d, &insn->opcode);
	}
	insn->map = EMU_MAP_0F;
	insn->opcode = b;
	return 0;
}

/* ModRM, SIB and displacement: the memory operand's shape (its address is computed at execute). */
static int emu_decode_modrm(struct emu_decoder *d, bool register_form)
{
	struct emu_insn *insn = d->insn;
	uint8_t rm;
	int ret;

	ret = emu_decode_byte(d, &insn->modrm);
	if (ret)
		return ret;
	insn->has_modrm = true;
	insn->mod = register_form ? 3 : insn->modrm >> 6;
	insn->reg = ((insn->modrm >> 3) & 7) | (insn->rex_r ? 8 : 0);
	rm = insn->modrm & 7;
	insn->rm = rm | (insn->rex_b ? 8 : 0);
	insn->base = insn->index = EMU_NO_REG;
	insn->scale = 1;
	insn->seg = EMU_DS;
	if (insn->mod == 3)
		return 0;

	if (insn->addr_size == 2) {
		static const uint8_t base16[8] = { EMU_RBX, EMU_RBX, EMU_RBP, EMU_RBP,
						   EMU_RSI, EMU_RDI, EMU_RBP, EMU_RBX };
		/* rm 4-7 have no index register. */
		static const uint8_t index16[4] = { EMU_RSI, EMU_RDI, EMU_RSI, EMU_RDI };

		if (insn->mod == 0 && rm == 6) {
			insn->disp_size = 2;
		} else {
			insn->base = base16[rm];
			insn->index = rm < 4 ? index16[rm] : EMU_NO_REG;
			insn->disp_size = insn->mod == 1 ? 1 : insn->mod == 2 ? 2 : 0;
			if (insn->base == EMU_RBP)
				insn->seg = EMU_SS;
		}
	} else {
		uint8_t base = rm;

		if (rm == 4) {
			ret = emu_decode_byte(d, &insn->sib);
			if (ret)
				return ret;
			insn->has_sib = true;
			insn->scale = (uint8_t)(1u << (insn->sib >> 6));
			insn->index = ((insn->sib >> 3) & 7) | (insn->rex_x ? 8 : 0);
			/* Index 100b means none; with REX.X it is R12. */
			if (insn->index == EMU_RSP)
				insn->index = EMU_NO_REG;
			base = insn->sib & 7;
		}
		if (insn->mod == 0 && base == 5) {
			/* No base: disp32, which without SIB in 64-bit mode is RIP-relative. */
			insn->disp_size = 4;
			insn->rip_relative = rm == 5 && insn->code_size == 8;
		} else {
			insn->base = base | (insn->rex_b ? 8 : 0);
			insn->disp_size = insn->mod == 1 ? 1 : insn->mod == 2 ? 4 : 0;
			if (insn->base == EMU_RSP || insn->base == EMU_RBP)
				insn->seg = EMU_SS;
		}
	}
	if (insn->disp_size) {
		ret = emu_decode_signed(d, insn->disp_size, &insn->disp);
		if (ret)
			return ret;
	}
	return 0;
}

/* emu_decode_resolve: the walk reached no instruction (a form the tables do not list). */
#define EMU_DECODE_UNLISTED 2

/*
 * Walk the nodes down to an instruction; the ModRM byte has been read if the map entry wants it.
 * On success *e is the instruction's entry and *mandatory_66 says whether 66 selected it.
 */
static int emu_decode_resolve(struct emu_decoder *d, struct emu_decode_entry *e, bool *mandatory_66)
{
	struct emu_insn *insn = d->insn;
	bool vex_ok = false;

	*mandatory_66 = false;
	for (;;) {
		unsigned sel;

		switch (e->kind) {
		case K_OP:
			/* UNIMPL entries stand for every encoding, VEX or not. */
			if (e->arg != EMU_OP_UNIMPL && insn->vex != vex_ok)
				return EMU_DECODE_UNLISTED;
			if ((e->flags & F_NP) && insn->mandatory != EMU_MANDATORY_NONE)
				return EMU_DECODE_UNLISTED;
			insn->op = (enum emu_op)e->arg;
			if ((e->flags & F_MEM) && !emu_insn_has_mem(insn))
				return emu_raise(d->exc, EMU_X_UD, -1);
			if (insn->lock && (!(e->flags & F_LOCK) || !emu_insn_has_mem(insn)) &&
			    insn->op != EMU_OP_UNIMPL)
				return emu_raise(d->exc, EMU_X_UD, -1);
			return 0;
		case K_GROUP:
			sel = ((insn->modrm >> 3) & 7) + (insn->mod == 3 ? 8 : 0);
			break;
		case K_RM:
			if (insn->mod != 3)
				return EMU_DECODE_UNLISTED;
			sel = insn->modrm & 7;
			break;
		case K_PREFIX:
			sel = insn->mandatory;
			*mandatory_66 = sel == EMU_MANDATORY_66;
			insn->mandatory = EMU_MANDATORY_NONE; /* consumed as part of the opcode */
			break;
		case K_VEX:
			sel = insn->vex;
			vex_ok = insn->vex;
			break;
		case K_W:
			sel = insn->rex_w;
			break;
		default:
			return EMU_DECODE_UNLISTED;
		}
		*e = emu_decode_nodes[e->arg][sel];
	}
}

/* The immediate(s) the flags call for: insn->imm (sign-extended), and insn->imm2 for ENTER/far. */
static int emu_decode_imm(struct emu_decoder *d, unsigned flags)
{
	struct emu_insn *insn = d->insn;
	unsigned size = 0, size2 = 0;
	int64_t v;
	int ret;

	if (flags & F_IMM8)
		size = 1;
	else if (flags & F_IMMZ)
		size = insn->op_size == 2 ? 2 : 4;
	else if (flags & F_BRANCH)
		size = insn->code_size == 8 || insn->op_size != 2 ? 4 : 2;
	else if (flags & F_IMM16)
		size = 2;
	else if (flags & F_ENTER)
		size = 2, size2 = 1;
	else if (flags & F_MOFFS)
		size = insn->addr_size;
	else if (flags & F_IMMV)
		size = insn->op_size;
	else if (flags & F_FAR)
		size = insn->op_size == 2 ? 2 : 4, size2 = 2;
	if (!size)
		return 0;
	insn->imm_size = (uint8_t)size;
	ret = emu_decode_signed(d, size, &v);
	if (ret)
		return ret;
	insn->imm = (uint64_t)v;
	if (size2) {
		ret = emu_decode_signed(d, size2, &v);
		if (ret)
			return ret;
		insn->imm2 = (uint64_t)v & ((1ull << (8 * size2)) - 1);
	}
	return 0;
}

int emu_decode(struct emu_insn *insn, const struct emu_cpu *cpu, const uint8_t *bytes,
	       unsigned nbytes, const struct emu_ops *ops, void *opaque, struct emu_exception *exc)
{
	struct emu_decoder d = { insn, cpu, ops, opaque, exc, 0 };
	const struct emu_decode_entry *map;
	struct emu_decode_entry top, e;
	bool mandatory_66;
	int ret;

	memset(insn, 0, sizeof(*insn));
	memset(exc, 0, sizeof(*exc));
	insn->seg_override = -1;
	insn->code_size = (uint8_t)emu_code_size(cpu);
	d.have = nbytes < EMU_MAX_INSN_LEN ? nbytes : EMU_MAX_INSN_LEN;
	if (d.have)
		memcpy(insn->bytes, bytes, d.have);

	ret = emu_decode_opcode(&d);
	if (ret)
		goto out;
	if (insn->code_size == 8)
		insn->addr_size = insn->adsize_prefix ? 4 : 8;
	else
		insn->addr_size = (insn->code_size == 2) != insn->adsize_prefix ? 2 : 4;
	map = emu_decode_maps[insn->map];
	top = map ? map[insn->opcode] : (struct emu_decode_entry){ K_NONE, 0, 0 };
	if (top.kind == K_NONE) {
		ret = -ENOTSUP;
		goto out;
	}
	if ((top.flags & F_INV64) && insn->code_size == 8) {
		ret = emu_raise(exc, EMU_X_UD, -1);
		goto out;
	}
	if (top.flags & F_MODRM) {
		ret = emu_decode_modrm(&d, top.flags & F_MODREG);
		if (ret)
			goto out;
	}
	e = top;
	ret = emu_decode_resolve(&d, &e, &mandatory_66);
	if (ret == EMU_DECODE_UNLISTED) {
		/* A form the tables do not name: its length still follows from the opcode. */
		insn->op = EMU_OP_UNIMPL;
		e = top;
		mandatory_66 = false;
		ret = 0;
	}
	if (ret)
		goto out;
	if (insn->evex)
		insn->op = EMU_OP_UNIMPL; /* AVX-512: decoded for its length, never emulated */
	insn->mmx = (e.flags & F_MMX) != 0;
	if (e.flags & F_66_OPSIZE)
		mandatory_66 = false;
	/* Only the resolved entry knows whether 66 was an operand-size or a mandatory prefix. */
	if (insn->code_size == 8 && ((top.flags | e.flags) & F_F64))
		insn->op_size = 8;
	else if (insn->code_size == 8 && ((top.flags | e.flags) & F_D64))
		insn->op_size = insn->opsize_prefix && !insn->rex_w ? 2 : 8;
	else if (insn->rex_w && !insn->vex)
		insn->op_size = 8;
	else if (insn->opsize_prefix && !mandatory_66)
		insn->op_size = insn->code_size == 2 ? 4 : 2;
	else
		insn->op_size = insn->code_size == 2 ? 2 : 4;
	ret = emu_decode_imm(&d, top.flags | e.flags);
	if (ret)
		goto out;
	if (emu_insn_has_mem(insn) && insn->seg_override >= 0)
		insn->seg = (uint8_t)insn->seg_override;
out:
	if (ret == EMU_RAISED) {
		/* Real mode pushes no error codes. */
		if (!(cpu->cr0 & EMU_CR0_PE))
			exc->has_error_code = false;
		return 0;
	}
	return ret;
}
