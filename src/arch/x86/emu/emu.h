/* x86 instruction emulator core: CPU state, guest-virtual memory callbacks, entry points. */
#ifndef KVMBOX_X86_EMU_EMU_H
#define KVMBOX_X86_EMU_EMU_H

#include <stdbool.h>
#include <stdint.h>

/* Architectural bits the emulator looks at (prefixed so they cannot clash with other headers). */
#define EMU_CR0_PE (1ull << 0)
#define EMU_CR0_MP (1ull << 1)
#define EMU_CR0_EM (1ull << 2)
#define EMU_CR0_TS (1ull << 3)
#define EMU_CR0_NE (1ull << 5)
#define EMU_CR0_WP (1ull << 16)
#define EMU_CR0_AM (1ull << 18)
#define EMU_CR0_PG (1ull << 31)
#define EMU_CR4_VME (1ull << 0)
#define EMU_CR4_PVI (1ull << 1)
#define EMU_CR4_TSD (1ull << 2)
#define EMU_CR4_PSE (1ull << 4)
#define EMU_CR4_UMIP (1ull << 11)
#define EMU_CR4_PAE (1ull << 5)
#define EMU_CR4_OSFXSR (1ull << 9)
#define EMU_CR4_LA57 (1ull << 12)
#define EMU_CR4_PCIDE (1ull << 17)
#define EMU_CR4_OSXSAVE (1ull << 18)
#define EMU_CR4_SMEP (1ull << 20)
#define EMU_CR4_SMAP (1ull << 21)
#define EMU_EFER_LME (1ull << 8)
#define EMU_EFER_LMA (1ull << 10)
#define EMU_EFER_NXE (1ull << 11)
#define EMU_RFLAGS_CF (1ull << 0)
#define EMU_RFLAGS_PF (1ull << 2)
#define EMU_RFLAGS_AF (1ull << 4)
#define EMU_RFLAGS_ZF (1ull << 6)
#define EMU_RFLAGS_SF (1ull << 7)
#define EMU_RFLAGS_TF (1ull << 8)
#define EMU_RFLAGS_IF (1ull << 9)
#define EMU_RFLAGS_DF (1ull << 10)
#define EMU_RFLAGS_OF (1ull << 11)
#define EMU_RFLAGS_IOPL (3ull << 12)
#define EMU_RFLAGS_NT (1ull << 14)
#define EMU_RFLAGS_RF (1ull << 16)
#define EMU_RFLAGS_VM (1ull << 17)
#define EMU_RFLAGS_AC (1ull << 18)
#define EMU_RFLAGS_VIF (1ull << 19)
#define EMU_RFLAGS_VIP (1ull << 20)
#define EMU_RFLAGS_ID (1ull << 21)
#define EMU_XCR0_SSE_AVX 0x6ull
#define EMU_DR6_BS (1ull << 14)
#define EMU_DR6_BD (1ull << 13)
#define EMU_DR7_GD (1ull << 13)
#define EMU_CR4_DE (1ull << 3)

/* Exception vectors the emulator raises. */
enum emu_vector {
	EMU_X_DE = 0,
	EMU_X_DB = 1,
	EMU_X_NMI = 2,
	EMU_X_BP = 3,
	EMU_X_OF = 4,
	EMU_X_BR = 5,
	EMU_X_UD = 6,
	EMU_X_NM = 7,
	EMU_X_DF = 8,
	EMU_X_TS = 10,
	EMU_X_NP = 11,
	EMU_X_SS = 12,
	EMU_X_GP = 13,
	EMU_X_PF = 14,
	EMU_X_MF = 16,
	EMU_X_AC = 17,
};

#define EMU_MAX_INSN_LEN 15

/* clang-format off */
/* General-purpose registers in ModRM/REX encoding order. */
enum emu_gpr {
	EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX, EMU_RSP, EMU_RBP, EMU_RSI, EMU_RDI,
	EMU_R8, EMU_R9, EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15,
	EMU_NR_GPRS
};

/* clang-format on */

/* Segment registers in the order of the ModRM sreg field. */
enum emu_sreg { EMU_ES, EMU_CS, EMU_SS, EMU_DS, EMU_FS, EMU_GS, EMU_NR_SREGS };

/* The hidden (cached) part of a segment register, as KVM's struct kvm_segment has it. */
struct emu_seg {
	uint64_t base;
	uint32_t limit; /* in bytes, granularity already applied */
	uint16_t selector;
	/* Descriptor type field: bit 3 code, bit 2 expand-down (data), bit 1 writable/readable. */
	uint8_t type;
	uint8_t dpl;
	bool s, present, db, l, unusable;
};

/* A descriptor-table register (GDTR, IDTR). */
struct emu_dtable {
	uint64_t base;
	uint16_t limit;
};

/*
 * CPUID features of the CPU the guest sees that decide whether an instruction exists (#UD when
 * not) or how it behaves. emu_features_from_cpuid() builds the set from CPUID leaves.
 */
#define EMU_FEAT_CLFSH (1u << 0)      /* CLFLUSH: 1.EDX[19] */
#define EMU_FEAT_XSAVE (1u << 1)      /* XGETBV/XSETBV: 1.ECX[26] */
#define EMU_FEAT_PCID (1u << 2)	      /* 1.ECX[17] */
#define EMU_FEAT_INVPCID (1u << 3)    /* 7.0.EBX[10] */
#define EMU_FEAT_CLFLUSHOPT (1u << 4) /* 7.0.EBX[23] */
#define EMU_FEAT_CLWB (1u << 5)	      /* 7.0.EBX[24] */
#define EMU_FEAT_RDPID (1u << 6)      /* 7.0.ECX[22] */
#define EMU_FEAT_RDTSCP (1u << 7)     /* 0x80000001.EDX[27] */
#define EMU_FEAT_RDPRU (1u << 8)      /* 0x80000008.EBX[4] (AMD) */
#define EMU_FEAT_XGETBV1 (1u << 9)    /* XGETBV with ECX = 1: 0xd.1.EAX[2] */
#define EMU_FEAT_LZCNT (1u << 10)     /* 0x80000001.ECX[5] (ABM); without it F3 0F BD is BSR */
#define EMU_FEAT_BMI1 (1u << 11)      /* TZCNT: 7.0.EBX[3]; without it F3 0F BC is BSF */
#define EMU_FEAT_LAHF64 (1u << 12)    /* LAHF/SAHF in 64-bit mode: 0x80000001.ECX[0] */
#define EMU_FEAT_XSAVEOPT (1u << 13)  /* 0xd.1.EAX[0] */
#define EMU_FEAT_XSAVEC (1u << 14)    /* 0xd.1.EAX[1]: XSAVEC and XRSTOR's compacted form */
#define EMU_FEAT_XSAVES (1u << 15)    /* 0xd.1.EAX[3]: XSAVES, XRSTORS, IA32_XSS */
#define EMU_FEAT_SSSE3 (1u << 16)     /* 1.ECX[9]: PSHUFB, PALIGNR */
#define EMU_FEAT_PCLMUL (1u << 17)    /* 1.ECX[1]: PCLMULQDQ */

/* XSAVE state components: x87, SSE, then the ones CPUID leaf 0xd describes (AVX, ...). */
#define EMU_XSTATE_MAX 19 /* bits 0-18: up to AMX tile data */

/*
 * Where the XSAVE state components live, from CPUID leaf 0xd (emu_xlayout_from_cpuid): the
 * standard-format offset and size of each component from 2 up, and whether the compacted format
 * aligns it to 64 bytes. One layout serves the guest's XSAVE areas and the vCPU's own image.
 */
struct emu_xlayout {
	uint64_t supported; /* XCR0 bits (0xd.0 EDX:EAX) | IA32_XSS bits (0xd.1 EDX:ECX) */
	uint32_t size;	    /* a standard-format image: up to the end of the last component */
	struct {
		uint32_t offset, size;
		bool align64;
	} comp[EMU_XSTATE_MAX];
};

/* What an instruction changed beyond GPRs, RIP and RFLAGS: what the caller must write back. */
#define EMU_DIRTY_SREGS (1u << 0) /* segment registers, CPL, GDTR, IDTR, CR0 */
#define EMU_DIRTY_XCR0 (1u << 1)
#define EMU_DIRTY_TLB (1u << 2) /* the guest asked for TLB entries to be invalidated */
#define EMU_DIRTY_XMM (1u << 3)
/* The instruction loaded SS (MOV, POP): interrupts and debug traps wait one more instruction. */
#define EMU_DIRTY_SS_SHADOW (1u << 4)
#define EMU_DIRTY_XSTATE (1u << 5) /* the xstate image changed (XRSTOR, FXRSTOR) */
/* STI set IF: interrupts wait one more instruction (KVM_X86_SHADOW_INT_STI for the caller). */
#define EMU_DIRTY_STI_SHADOW (1u << 6)

/* Everything the emulator reads or changes. Plain data, so tests and fuzzers can build one. */
struct emu_cpu {
	uint64_t gpr[EMU_NR_GPRS];
	uint64_t rip;
	uint64_t rflags;
	uint64_t cr0, cr4, efer;
	uint64_t cr2, cr3; /* read and written only by MOV CR (under KVM the glue keeps them) */
	uint64_t cr8;	   /* the task-priority register (64-bit mode's MOV CR8) */
	/* Debug registers, for MOV DR when has_dr (a CPU-emulator mode; under KVM they are KVM's
	 * and the debugger's: MOV DR is not emulated). */
	bool has_dr;
	uint64_t dr[4], dr6, dr7;
	/* Bits MOV to CR4 and WRMSR to EFER may set (the rest #GP), from the CPUID the guest
	 * sees; 0: every bit the architecture defines (under KVM, which checks them itself). */
	uint64_t cr4_valid, efer_valid;
	uint64_t xcr0; /* only read by VEX-encoded instructions */
	struct emu_seg seg[EMU_NR_SREGS];
	uint8_t cpl;
	uint32_t mxcsr;
	uint32_t mxcsr_mask; /* bits LDMXCSR may set (FXSAVE's MXCSR_MASK); 0 means 0xffbf */
	uint16_t fcw, fsw;   /* x87 control and status words, for fwait */
	struct emu_dtable gdt, idt;
	struct emu_seg ldt, tr;	 /* selector + hidden part, as for the segment registers */
	uint32_t features;	 /* EMU_FEAT_* */
	uint64_t xcr0_supported; /* XCR0 bits XSETBV may set (CPUID 0xd.0 EDX:EAX) */
	uint64_t tsc, tsc_aux;	 /* read by RDTSCP/RDPID (EMU_NEED_TSC) */
	uint8_t xmm[16][16];	 /* XMM0-15, little-endian (EMU_NEED_SSE) */
	/*
	 * EMU_NEED_XSTATE: the vCPU's x87/SSE/extended state as one standard-format XSAVE image
	 * (the layout of KVM_GET_XSAVE, XSTATE_BV saying which components are in use), at least
	 * xlayout->size bytes; and IA32_XSS. The XSAVE family works on it, nothing else does.
	 */
	uint8_t *xstate;
	const struct emu_xlayout *xlayout;
	uint64_t xss;
	unsigned dirty; /* EMU_DIRTY_*: set by instructions, cleared by the caller */
	/* Set by the caller's memory callbacks when an access hit a data breakpoint: a REP string
	 * instruction stops after that iteration (the #DB trap comes between iterations). */
	bool db_hit;
};

/*
 * The feature set from a CPUID lookup: leaf(opaque, function, index, out) fills out[] with
 * EAX, EBX, ECX, EDX and returns 0, or returns non-zero when the leaf is absent (all zeros).
 */
uint32_t emu_features_from_cpuid(int (*leaf)(void *opaque, uint32_t function, uint32_t index,
					     uint32_t out[4]),
				 void *opaque);

/* An exception for the caller to inject. Faults leave RIP at the instruction; traps advance it. */
struct emu_exception {
	bool valid;
	uint8_t vector;
	bool has_error_code;
	uint32_t error_code;
	uint64_t cr2; /* #PF: the faulting linear address */
	uint64_t dr6; /* #DB: bits to set in DR6 */
};

/*
 * Access flags handed to the memory callbacks. The values are the #PF error code bits, so a
 * callback reporting a page fault builds its error code as (access | present-bit).
 */
#define EMU_ACC_WRITE (1u << 1)
#define EMU_ACC_USER (1u << 2)
#define EMU_ACC_FETCH (1u << 4)
/* A debugger's look (emu_mmu_translate only): any present mapping, accessed/dirty bits untouched.
 */
#define EMU_ACC_PEEK (1u << 8)
/*
 * A read that only checks the address (CLFLUSH and friends): translate and fault as a read would,
 * but read nothing; an address that is not RAM (MMIO) is fine and no device sees an access.
 */
#define EMU_ACC_PROBE (1u << 9)
/* An implicit supervisor access (descriptor tables, the TSS): SMAP applies whatever RFLAGS.AC. */
#define EMU_ACC_IMPLICIT (1u << 10)
/*
 * cmpxchg only: the first step of a locked read-modify-write, a compare-and-exchange of 0 with 0
 * that fetches the value. A callback that cannot be atomic (one CPU, a device operand) may just
 * read; the cmpxchg that follows for the same operand then writes without reading again.
 */
#define EMU_ACC_RMW_FIRST (1u << 11)
/* A fetch of bytes the instruction may not need (struct emu_ops.prefetch): RAM only. */
#define EMU_ACC_PREFETCH (1u << 12)

/* A memory callback's third kind of answer, besides 0 and a negative errno (cannot emulate). */
#define EMU_MEM_FAULT 1

struct emu_pf {
	uint64_t addr;	     /* becomes CR2: the first linear address in the page that faulted */
	uint32_t error_code; /* #PF error code */
};

/*
 * Guest memory by linear (virtual) address. Each returns 0, EMU_MEM_FAULT with *pf filled in, or a
 * negative errno for what the emulator cannot do (e.g. the address is MMIO). Writes and cmpxchg
 * are all-or-nothing: a fault on any page means no byte was changed. len is at most 16.
 */
struct emu_ops {
	int (*read)(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
		    struct emu_pf *pf);
	int (*write)(void *opaque, uint64_t la, const void *src, unsigned len, unsigned access,
		     struct emu_pf *pf);
	/*
	 * Atomic with respect to every other agent (len 1, 2, 4, 8 or 16): if memory equals
	 * *expected, store *desired and set *swapped; otherwise copy memory into *expected and
	 * clear *swapped. Either way the access is a write (a locked read-modify-write), so a
	 * read-only page faults.
	 */
	int (*cmpxchg)(void *opaque, uint64_t la, void *expected, const void *desired, unsigned len,
		       unsigned access, bool *swapped, struct emu_pf *pf);
	/*
	 * Port I/O of len (1, 2 or 4) bytes, after the emulator's permission checks: a device
	 * access, so never repeated or undone. 0 or a negative errno; NULL: no port I/O here.
	 */
	int (*pio)(void *opaque, uint16_t port, void *data, unsigned len, bool write);
	/*
	 * CPUID leaf/subleaf into out[] (EAX, EBX, ECX, EDX): what the guest's CPU answers. NULL:
	 * CPUID is not emulated (under KVM it never needs to be).
	 */
	void (*cpuid)(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
	/*
	 * RDMSR/WRMSR of an MSR other than EFER: 0, -ENOENT for one the CPU does not have (#GP), or
	 * another negative errno. NULL: not emulated.
	 */
	int (*msr)(void *opaque, uint32_t index, uint64_t *value, bool write);
	/* HLT at CPL 0: the vCPU waits for an interrupt. 0 or a negative errno; NULL: not emulated.
	 */
	int (*halt)(void *opaque);
	/*
	 * read accepts EMU_ACC_PREFETCH: the decoder then asks for the rest of the instruction's
	 * page at once (up to 15 bytes) instead of byte by byte. The callback must read only RAM
	 * for such a request and answer anything else (a device, a fault) with a non-zero return
	 * and no side effect; the decoder then reads just what it needs.
	 */
	bool prefetch;
};

/* What an instruction is. Names index stats; keep emu_op_name() in sync. */
enum emu_op {
	EMU_OP_NONE,
	EMU_OP_UNIMPL, /* a valid instruction the decoder knows the shape of; not emulated */
	EMU_OP_UD,     /* UD0, UD1, UD2: #UD */
	EMU_OP_NOP,    /* NOP, PAUSE, the hint space 0f 18-1f and prefetches: nothing to do */
	EMU_OP_FENCE,  /* LFENCE, MFENCE, SFENCE */
	EMU_OP_INT3,
	EMU_OP_FWAIT,
	EMU_OP_POPCNT,
	EMU_OP_CLAC,
	EMU_OP_STAC,
	EMU_OP_LDMXCSR,
	EMU_OP_STMXCSR,
	EMU_OP_VLDMXCSR,
	EMU_OP_VSTMXCSR,
	EMU_OP_CMPXCHG8B,
	EMU_OP_CMPXCHG16B,
	EMU_OP_XGETBV,
	EMU_OP_XSETBV,
	EMU_OP_CLFLUSH,
	EMU_OP_CLFLUSHOPT,
	EMU_OP_CLWB,
	EMU_OP_INVPCID,
	EMU_OP_WBINVD,
	EMU_OP_RDTSCP,
	EMU_OP_RDPID,
	EMU_OP_RDPRU,
	EMU_OP_INT,
	EMU_OP_INTO,
	EMU_OP_IRET,
	EMU_OP_JMPF,  /* EA ptr16:16/32, FF /5 m16:16/32/64 */
	EMU_OP_CALLF, /* 9A ptr16:16/32, FF /3 */
	EMU_OP_RETF,  /* CB, CA imm16 */
	/* Descriptor-table registers and the machine status word (dtab.c). */
	EMU_OP_SGDT,
	EMU_OP_SIDT,
	EMU_OP_LGDT,
	EMU_OP_LIDT,
	EMU_OP_SMSW,
	EMU_OP_LMSW,
	EMU_OP_SLDT,
	EMU_OP_STR,
	EMU_OP_LLDT,
	EMU_OP_LTR,
	/* Integer core (alu.c). */
	EMU_OP_ALU,	 /* 00-3D: ADD OR ADC SBB AND SUB XOR CMP, by opcode */
	EMU_OP_ALU_GRP1, /* 80, 81, 83: the same with an immediate, by ModRM.reg */
	EMU_OP_TEST,	 /* 84, 85, A8, A9, F6/F7 /0 /1 */
	EMU_OP_MOV,	 /* 88-8B, B0-BF, C6/C7 /0 */
	EMU_OP_LEA,	 /* 8D */
	/* Port I/O and string instructions (io.c, string.c). */
	EMU_OP_IN,  /* E4/E5 imm8, EC/ED DX */
	EMU_OP_OUT, /* E6/E7 imm8, EE/EF DX */
	EMU_OP_INS,
	EMU_OP_OUTS,
	EMU_OP_MOVS,
	EMU_OP_STOS,
	EMU_OP_LODS,
	EMU_OP_CMPS,
	EMU_OP_SCAS,
	/* SSE/SSE2, legacy (non-VEX) encodings: moves */
	EMU_OP_MOVD_TO_XMM,   /* 66 (REX.W) 0f 6e: movd/movq xmm, r/m */
	EMU_OP_MOVD_FROM_XMM, /* 66 (REX.W) 0f 7e: movd/movq r/m, xmm */
	EMU_OP_MOVQ_TO_XMM,   /* f3 0f 7e: movq xmm, xmm/m64 */
	EMU_OP_MOVQ_FROM_XMM, /* 66 0f d6: movq xmm/m64, xmm */
	EMU_OP_MOVDQA_LOAD,   /* 66 0f 6f */
	EMU_OP_MOVDQU_LOAD,   /* f3 0f 6f */
	EMU_OP_MOVDQA_STORE,  /* 66 0f 7f */
	EMU_OP_MOVDQU_STORE,  /* f3 0f 7f */
	EMU_OP_MOVAPS_LOAD,   /* (66) 0f 28: movaps/movapd */
	EMU_OP_MOVAPS_STORE,  /* (66) 0f 29 */
	EMU_OP_MOVUPS_LOAD,   /* (66) 0f 10: movups/movupd */
	EMU_OP_MOVUPS_STORE,  /* (66) 0f 11 */
	EMU_OP_MOVNTDQ,	      /* 66 0f e7 and 0f 2b (movntps), 66 0f 2b (movntpd) */
	/* SSE2 integer and bitwise arithmetic */
	EMU_OP_PXOR, /* 66 0f ef; 0f 57 xorps, 66 0f 57 xorpd */
	EMU_OP_POR,  /* 66 0f eb; (66) 0f 56 orps/orpd */
	EMU_OP_PAND, /* 66 0f db; (66) 0f 54 andps/andpd */
	EMU_OP_PANDN,
	EMU_OP_PADDB,
	EMU_OP_PADDW,
	EMU_OP_PADDD,
	EMU_OP_PADDQ,
	EMU_OP_PSUBB,
	EMU_OP_PSUBW,
	EMU_OP_PSUBD,
	EMU_OP_PSUBQ,
	EMU_OP_PCMPEQB,
	EMU_OP_PCMPEQW,
	EMU_OP_PCMPEQD,
	EMU_OP_PMOVMSKB,
	EMU_OP_PSHUFD,
	EMU_OP_PSHIFT_IMM, /* 66 0f 71/72/73 with imm8: psrl/psra/psll w/d/q, psrldq/pslldq */
	EMU_OP_PUNPCK,	   /* 66 0f 60-62, 68-6a, 6c, 6d: interleave low/high halves */
	/* Bit scans (emu/bits.c). */
	EMU_OP_BSF,
	EMU_OP_BSR,
	EMU_OP_TZCNT, /* F3 0F BC: TZCNT, or BSF on a CPU without BMI1 */
	EMU_OP_LZCNT, /* F3 0F BD: LZCNT, or BSR on a CPU without LZCNT */
	/* Bit tests (emu/bits.c): 0F A3/AB/B3/BB r, and 0F BA /4-/7 imm8. */
	EMU_OP_BT,
	EMU_OP_BTS,
	EMU_OP_BTR,
	EMU_OP_BTC,
	/* One-operand and exchanging arithmetic (alu.c). */
	EMU_OP_INC,	/* FE/FF /0, 40-47 outside 64-bit mode */
	EMU_OP_DEC,	/* FE/FF /1, 48-4F outside 64-bit mode */
	EMU_OP_NOT,	/* F6/F7 /2 */
	EMU_OP_NEG,	/* F6/F7 /3 */
	EMU_OP_XADD,	/* 0F C0/C1 */
	EMU_OP_CMPXCHG, /* 0F B0/B1 */
	/* Multiply and divide (muldiv.c). */
	EMU_OP_MUL,   /* F6/F7 /4: rDX:rAX = rAX * r/m */
	EMU_OP_IMUL1, /* F6/F7 /5: the one-operand signed form */
	EMU_OP_IMUL,  /* 0F AF, 69, 6B: reg = r/m * (reg or imm), truncated */
	EMU_OP_DIV,   /* F6/F7 /6 */
	EMU_OP_IDIV,  /* F6/F7 /7 */
	/* Shifts and rotates (shift.c). */
	EMU_OP_SHIFT, /* C0, C1, D0-D3: ROL ROR RCL RCR SHL SHR SAL SAR by ModRM.reg */
	EMU_OP_SHLD,  /* 0F A4 imm8, 0F A5 CL */
	EMU_OP_SHRD,  /* 0F AC imm8, 0F AD CL */
	/* Data movement (move.c). */
	EMU_OP_MOVZX,	  /* 0F B6, B7 */
	EMU_OP_MOVSX,	  /* 0F BE, BF */
	EMU_OP_MOVSXD,	  /* 63 in 64-bit mode (ARPL elsewhere: not emulated) */
	EMU_OP_CMOV,	  /* 0F 40-4F */
	EMU_OP_SETCC,	  /* 0F 90-9F */
	EMU_OP_XCHG,	  /* 86, 87, 91-97 (and 90 with REX.B) */
	EMU_OP_BSWAP,	  /* 0F C8-CF */
	EMU_OP_CBW,	  /* 98: CBW, CWDE, CDQE */
	EMU_OP_CWD,	  /* 99: CWD, CDQ, CQO */
	EMU_OP_MOV_MOFFS, /* A0-A3 */
	EMU_OP_XLAT,	  /* D7 */
	/* Flag instructions (flag.c). */
	EMU_OP_CLC,
	EMU_OP_STC,
	EMU_OP_CMC,
	EMU_OP_CLD,
	EMU_OP_STD,
	EMU_OP_LAHF,
	EMU_OP_SAHF,
	EMU_OP_PUSHF,
	EMU_OP_POPF,
	/* The stack (stack.c). */
	EMU_OP_PUSH, /* 50-57, 68, 6A, FF /6 */
	EMU_OP_POP,  /* 58-5F, 8F /0 */
	EMU_OP_LEAVE,
	EMU_OP_ENTER,
	/* Near branches (branch.c). */
	EMU_OP_JCC,  /* 70-7F, 0F 80-8F */
	EMU_OP_JMP,  /* EB, E9, FF /4 */
	EMU_OP_CALL, /* E8, FF /2 */
	EMU_OP_RET,  /* C3, C2 imm16 */
	EMU_OP_LOOP, /* E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JrCXZ */
	/* Segment registers (sreg.c). */
	EMU_OP_MOV_SREG,      /* 8E: MOV Sreg, r/m16 */
	EMU_OP_MOV_FROM_SREG, /* 8C: MOV r/m, Sreg */
	EMU_OP_PUSH_SREG,     /* 06, 0E, 16, 1E, 0F A0, 0F A8 */
	EMU_OP_POP_SREG,      /* 07, 17, 1F, 0F A1, 0F A9 */
	EMU_OP_LOAD_FAR,      /* C4 LES, C5 LDS, 0F B2 LSS, 0F B4 LFS, 0F B5 LGS */
	/* Saving and restoring x87/SSE/extended state (xsave.c). */
	EMU_OP_FXSAVE,	 /* 0F AE /0 */
	EMU_OP_FXRSTOR,	 /* 0F AE /1 */
	EMU_OP_XSAVE,	 /* 0F AE /4 */
	EMU_OP_XRSTOR,	 /* 0F AE /5 */
	EMU_OP_XSAVEOPT, /* 0F AE /6 */
	EMU_OP_XRSTORS,	 /* 0F C7 /3 */
	EMU_OP_XSAVEC,	 /* 0F C7 /4 */
	EMU_OP_XSAVES,	 /* 0F C7 /5 */
	/* Outside 64-bit mode only (legacy.c). */
	EMU_OP_DAA,
	EMU_OP_DAS,
	EMU_OP_AAA,
	EMU_OP_AAS,
	EMU_OP_AAM,
	EMU_OP_AAD,
	EMU_OP_SALC,
	EMU_OP_PUSHA,
	EMU_OP_POPA,
	EMU_OP_BOUND,
	/* Interrupt flag (flag.c). */
	EMU_OP_CLI,
	EMU_OP_STI,
	EMU_OP_CPUID, /* 0F A2, through ops->cpuid */
	/* Control registers and MSRs (ctrl.c). */
	EMU_OP_MOV_CR, /* 0F 20, 0F 22 */
	EMU_OP_MOV_DR, /* 0F 21, 0F 23 */
	EMU_OP_RDMSR,  /* 0F 32 */
	EMU_OP_WRMSR,  /* 0F 30 */
	EMU_OP_RDTSC,  /* 0F 31 (EMU_NEED_TSC) */
	EMU_OP_HLT,    /* F4, through ops->halt */
	EMU_OP_INT1,   /* F1 (ICEBP) */
	EMU_OP_INVLPG, /* 0F 01 /7 (memory) */
	EMU_OP_INVD,   /* 0F 08 */
	EMU_OP_CLTS,   /* 0F 06 */
	EMU_OP_VMX,    /* VMCALL, VMLAUNCH, VMRESUME, VMXOFF (0F 01 C1-C4): no VMX here, #UD */
	EMU_OP_RDPMC,  /* 0F 33: no performance counters here, #GP(0) */
	EMU_OP_SVM,    /* VMRUN ... INVLPGA (0F 01 D8-DF): no SVM here, #UD */
	/* x87 control (x87.c): what system code runs without computing on the FPU. */
	EMU_OP_FNINIT, /* DB E3 */
	EMU_OP_FNCLEX, /* DB E2 */
	EMU_OP_FLDCW,  /* D9 /5 */
	EMU_OP_FNSTCW, /* D9 /7 */
	EMU_OP_FNSTSW, /* DD /7, DF E0 (AX) */
	/* Fast system calls (syscall.c). */
	EMU_OP_SYSCALL, /* 0F 05 */
	EMU_OP_SYSRET,	/* 0F 07 */
	EMU_OP_SWAPGS,	/* 0F 01 F8 */
	/* SSE2 integer arithmetic beyond sse.c's, by opcode (sse_int.c). */
	EMU_OP_SSE_INT,
	EMU_OP_PSHUFB,	  /* 66 0F 38 00 (SSSE3) */
	EMU_OP_PALIGNR,	  /* 66 0F 3A 0F ib (SSSE3) */
	EMU_OP_PCLMULQDQ, /* 66 0F 3A 44 ib */
	EMU_OP_EMMS,	  /* 0F 77 */
	EMU_OP_COUNT
};

/* State beyond struct kvm_regs/kvm_sregs an instruction needs, so the glue fetches it only then. */
#define EMU_NEED_FPU (1u << 0)	  /* mxcsr, mxcsr_mask, fcw, fsw */
#define EMU_NEED_XCR0 (1u << 1)	  /* xcr0, xcr0_supported */
#define EMU_NEED_CPUID (1u << 2)  /* features */
#define EMU_NEED_TSC (1u << 3)	  /* tsc, tsc_aux */
#define EMU_NEED_SSE (1u << 4)	  /* xmm (and what EMU_NEED_FPU gives) */
#define EMU_NEED_XSTATE (1u << 5) /* xstate, xlayout, xss (and what EMU_NEED_XCR0 gives) */

struct emu_insn;

const char *emu_op_name(enum emu_op op);
unsigned emu_op_needs(enum emu_op op);
/* What a decoded instruction needs: its op's, and the XSAVE image for an MMX form. */
unsigned emu_insn_needs(const struct emu_insn *insn);

/*
 * The XSAVE layout from CPUID leaf 0xd through the same lookup as emu_features_from_cpuid; 0, or
 * -EINVAL when the leaf describes components that overlap the legacy area or each other.
 */
int emu_xlayout_from_cpuid(struct emu_xlayout *l,
			   int (*leaf)(void *opaque, uint32_t function, uint32_t index,
				       uint32_t out[4]),
			   void *opaque);

/* 2, 4 or 8: the code size CS and the mode give (16-bit, 32-bit, 64-bit). */
unsigned emu_code_size(const struct emu_cpu *cpu);
/* Whether la is canonical for the paging mode (48 or 57 bits with CR4.LA57). */
bool emu_is_canonical(const struct emu_cpu *cpu, uint64_t la);

/*
 * Execute a decoded instruction. Returns 0 when the instruction is done: then either the state has
 * advanced past it, or exc->valid says which exception to inject (fault: state untouched; trap such
 * as int3's #BP: RIP already past it). Negative errno (-ENOTSUP, or a callback's error) when it
 * cannot be emulated; the state is untouched then, too.
 */
int emu_execute(struct emu_cpu *cpu, const struct emu_insn *insn, const struct emu_ops *ops,
		void *opaque, struct emu_exception *exc) __attribute__((warn_unused_result));

/*
 * Decode then execute the instruction at RIP. bytes/nbytes: what is already known of it (KVM's exit
 * carries up to 15 bytes); the rest is fetched through ops->read. insn may be NULL.
 */
int emu_step(struct emu_cpu *cpu, const uint8_t *bytes, unsigned nbytes, const struct emu_ops *ops,
	     void *opaque, struct emu_insn *insn, struct emu_exception *exc)
    __attribute__((warn_unused_result));

/*
 * Deliver exc as the CPU would, through the IDT (or the real-mode IVT): the frame, with the error
 * code, on the handler's stack, and CS:RIP at the handler. RIP must be where the exception leaves
 * it (faults: the instruction; traps: after it); soft: it came from INT3 or INTO (the gate's DPL
 * must allow the CPL). CR2 for a #PF is the caller's to set. Returns 0 with nested->valid when the
 * delivery itself faulted (the caller's double fault), or -ENOTSUP (task gates, virtual-8086).
 */
int emu_deliver(struct emu_cpu *cpu, const struct emu_exception *exc, bool soft,
		const struct emu_ops *ops, void *opaque, struct emu_exception *nested)
    __attribute__((warn_unused_result));

/*
 * The data breakpoints (DR7 L or G, R/W 01 for writes or 11 for reads and writes, LEN 1/2/4/8 with
 * DRn aligned down to it) an access of len bytes at linear address la hits: DR6's B0-B3 bits.
 * The caller reports them as a #DB trap once the instruction has completed.
 */
uint8_t emu_dr_data_hits(const struct emu_cpu *cpu, uint64_t la, unsigned len, bool write);

/*
 * A locked compare-exchange of 1, 2, 4, 8 or 16 bytes on host memory, for cmpxchg callbacks: 1
 * swapped, 0 not (then *expected holds memory's value), -EINVAL if len is unsupported or a 16-byte
 * host pointer is not 16-byte aligned.
 */
int emu_host_cmpxchg(void *host, void *expected, const void *desired, unsigned len)
    __attribute__((warn_unused_result));

/* Internal to the emulator: record an exception (error_code < 0: none) and return EMU_RAISED. */
#define EMU_RAISED 1
static inline int emu_raise(struct emu_exception *exc, uint8_t vector, int64_t error_code)
{
	*exc = (struct emu_exception){ .valid = true, .vector = vector };
	if (error_code >= 0) {
		exc->has_error_code = true;
		exc->error_code = (uint32_t)error_code;
	}
	return EMU_RAISED;
}

#endif
