/* Internal to the emulator: one instruction being executed, and the helpers its groups share. */
#ifndef KVMBOX_X86_EMU_EXEC_H
#define KVMBOX_X86_EMU_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"

struct emu_run {
	struct emu_cpu *cpu;
	const struct emu_insn *insn;
	const struct emu_ops *ops;
	void *opaque;
	struct emu_exception *exc;
	unsigned user;	 /* EMU_ACC_USER at CPL 3 */
	int64_t ea_bias; /* added to the memory operand's offset (BT with a register bit offset) */
};

typedef unsigned __int128 emu_u128;
typedef __int128 emu_s128;

uint64_t emu_size_mask(unsigned size);
void emu_set_gpr(struct emu_cpu *cpu, unsigned reg, unsigned size, uint64_t v);
uint64_t emu_load_le(const uint8_t *p, unsigned len);
void emu_store_le(uint8_t *p, uint64_t v, unsigned len);

/* Real mode or virtual-8086 mode: no descriptors, 16-bit code. */
bool emu_real_or_v86(const struct emu_cpu *cpu);

/* The memory operand's offset in its segment (what LEA computes). */
uint64_t emu_ea_of(const struct emu_cpu *cpu, const struct emu_insn *insn);
/* The memory operand's linear address for len bytes (segmentation and canonical checks). */
int emu_linear(struct emu_run *r, unsigned len, bool write, uint64_t *la);
/* The same for offset ea in segment segno (string instructions: DS:rSI, ES:rDI). */
int emu_linear_at(struct emu_run *r, unsigned segno, uint64_t ea, unsigned len, bool write,
		  uint64_t *la);
/* #AC(0) when alignment checking applies (CPL 3, CR0.AM, RFLAGS.AC) and la is not aligned. */
int emu_check_alignment(struct emu_run *r, uint64_t la, unsigned align);
/* The memory operand's linear address for len bytes: segmentation, then alignment (#AC). */
int emu_mem_la(struct emu_run *r, unsigned len, bool write, unsigned align, uint64_t *la);
/* The memory operand: segmentation, alignment (#AC), then the access. */
int emu_mem_read(struct emu_run *r, void *dst, unsigned len, unsigned align);
int emu_mem_write(struct emu_run *r, const void *src, unsigned len, unsigned align);
/* len bytes at offset off in segment seg (no ModRM operand: string instructions, moffs, XLAT). */
int emu_mem_at(struct emu_run *r, unsigned seg, uint64_t off, void *buf, unsigned len, bool write);
/* A callback's answer as the instruction's: a fault becomes #PF with CR2. */
int emu_mem_result(struct emu_run *r, int ret, const struct emu_pf *pf);

/* The instruction finished: RIP past it (wrapped outside 64-bit mode), RFLAGS.RF cleared. */
void emu_complete(struct emu_run *r);
/* The end of most instructions: ret (0, EMU_RAISED or an errno) as is, and on 0 emu_complete. */
static inline int emu_done(struct emu_run *r, int ret)
{
	if (ret)
		return ret;
	emu_complete(r);
	return 0;
}

/* Operands (operand.c): a general register of size bytes (AH-BH for 4-7 without REX). */
uint64_t emu_operand_reg(const struct emu_run *r, unsigned reg, unsigned size);
void emu_operand_set_reg(struct emu_run *r, unsigned reg, unsigned size, uint64_t v);
/* The ModRM r/m operand, a register or memory (aligned for #AC to its size). */
int emu_operand_read(struct emu_run *r, unsigned size, uint64_t *v);
int emu_operand_write(struct emu_run *r, unsigned size, uint64_t v);
/*
 * A read-modify-write of the r/m operand: fn gets the old value and a copy of RFLAGS, returns the
 * new value and sets *store (false: nothing to write back). Memory is read with write intent (a
 * read-only page faults as a write, as on the CPU) unless how has EMU_UPDATE_READ_ONLY (CMP, BT).
 * With EMU_UPDATE_LOCKED (LOCK, or XCHG with memory) the memory form is one atomic
 * compare-and-exchange, recomputed when another agent changed the value in between. On success
 * RFLAGS takes fn's flags and *old (if given) the value the result was computed from.
 */
#define EMU_UPDATE_LOCKED (1u << 0)
#define EMU_UPDATE_READ_ONLY (1u << 1)
typedef uint64_t emu_update_fn(const void *ctx, uint64_t old, uint64_t *rflags, bool *store);
int emu_operand_update(struct emu_run *r, unsigned size, unsigned how, emu_update_fn *fn,
		       const void *ctx, uint64_t *old);

/* Flags (flag.c): condition code cc (the low nibble of Jcc/SETcc/CMOVcc) against rflags. */
bool emu_flag_cond(uint64_t rflags, unsigned cc);
/* ZF, SF and PF of a result of size bytes. */
uint64_t emu_flag_szp(uint64_t res, unsigned size);

/* Instruction groups, one file each (sys.c, intr.c, ..., branch.c). Each
 * returns 0, EMU_RAISED, or a negative errno. */
int emu_sys_execute(struct emu_run *r);
int emu_intr_execute(struct emu_run *r);
int emu_sse_execute(struct emu_run *r);
int emu_bits_execute(struct emu_run *r);
int emu_far_execute(struct emu_run *r);
int emu_io_execute(struct emu_run *r);
int emu_dtab_execute(struct emu_run *r);
int emu_alu_execute(struct emu_run *r);
int emu_string_execute(struct emu_run *r);
int emu_muldiv_execute(struct emu_run *r);
int emu_shift_execute(struct emu_run *r);
int emu_move_execute(struct emu_run *r);
int emu_flag_execute(struct emu_run *r);
int emu_stack_execute(struct emu_run *r);
int emu_branch_execute(struct emu_run *r);
int emu_sreg_execute(struct emu_run *r);
int emu_xsave_execute(struct emu_run *r);
int emu_legacy_execute(struct emu_run *r);
int emu_ctrl_execute(struct emu_run *r);
int emu_syscall_execute(struct emu_run *r);
int emu_x87_execute(struct emu_run *r);
int emu_sse_int_execute(struct emu_run *r);
int emu_mmx_execute(struct emu_run *r);
/*
 * Shared by the SSE groups (sse.c): the checks (#UD/#NM, and #MF for MMX forms); the r/m operand
 * (aligned: a 16-byte memory operand that must be aligned, #GP if not); the vector registers,
 * XMMn or (insn->mmx) MMn, emu_vec_len() bytes; emu_vec_done() once an instruction completes.
 */
int emu_sse_checks(struct emu_run *r);
int emu_sse_rm_read(struct emu_run *r, void *dst, unsigned len, bool aligned);
int emu_vec_checks(struct emu_run *r);
void emu_vec_get(const struct emu_run *r, unsigned n, uint8_t *v);
void emu_vec_set(struct emu_run *r, unsigned n, const uint8_t *v);
void emu_vec_done(struct emu_run *r);
static inline unsigned emu_vec_len(const struct emu_run *r)
{
	return r->insn->mmx ? 8 : 16;
}
/* MMX state in the XSAVE image (mmx.c): checks, MMn (n & 7), and the TOP/tag update. */
int emu_mmx_checks(struct emu_run *r);
void emu_mmx_get(const struct emu_run *r, unsigned n, uint8_t v[8]);
void emu_mmx_set(struct emu_run *r, unsigned n, const uint8_t v[8]);
void emu_mmx_commit(struct emu_run *r);
/* x87.c: FCW and FSW into the image, the x87 component marked in use, the image dirty. */
#define EMU_X87_FTW 4 /* the image's abridged tag word (bit i: Ri in use) */
void emu_x87_touch(struct emu_cpu *cpu);
/* Port access permission (IOPL, the TSS I/O bitmap): 0, or #GP(0) raised. */
int emu_io_check(struct emu_run *r, uint16_t port, unsigned len);
/* A port access through ops->pio (-ENOTSUP without one). */
int emu_io_port(struct emu_run *r, uint16_t port, void *data, unsigned len, bool write);

#endif
