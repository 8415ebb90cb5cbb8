/*
 * MMX state: MM0-7 are the 64-bit mantissas of the x87 registers R0-R7, kept in the vCPU's XSAVE
 * image (EMU_NEED_XSTATE, as for x87.c). The image holds the registers in stack order, ST(i) being
 * R[(TOP + i) & 7], so MMn reads from slot (n - TOP) & 7. An MMX instruction that completes sets
 * TOP to 0 and tags every register valid, and writing MMn sets Rn's exponent (bits 79:64) to all
 * ones; EMMS tags every register empty. A fault leaves all of it untouched. The arithmetic itself
 * is the SSE groups' (sse.c, sse_int.c) on 8-byte vectors.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/exec.h"

#define EMU_MMX_ST 32 /* ST(0) in the image; 16 bytes per register, 10 used */
#define EMU_FSW_TOP (7u << 11)
#define EMU_FSW_ES (1u << 7) /* an unmasked x87 exception is pending */

/* Every MMX instruction's checks, in the SDM's order: #UD, #NM, then a pending x87 #MF. */
int emu_mmx_checks(struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;

	if (cpu->cr0 & EMU_CR0_EM)
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cr0 & EMU_CR0_TS)
		return emu_raise(r->exc, EMU_X_NM, -1);
	if (!cpu->xstate)
		return -ENOTSUP;
	if (cpu->fsw & EMU_FSW_ES) {
		/* With CR0.NE clear the error goes out as FERR#/IRQ 13: not ours to model. */
		if (!(cpu->cr0 & EMU_CR0_NE))
			return -ENOTSUP;
		return emu_raise(r->exc, EMU_X_MF, -1);
	}
	return 0;
}

void emu_mmx_get(const struct emu_run *r, unsigned n, uint8_t v[8])
{
	unsigned top = (r->cpu->fsw & EMU_FSW_TOP) >> 11;

	memcpy(v, r->cpu->xstate + EMU_MMX_ST + 16 * ((n - top) & 7), 8);
}

void emu_mmx_commit(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	unsigned top = (cpu->fsw & EMU_FSW_TOP) >> 11;

	if (top) {
		uint8_t st[8][16];

		memcpy(st, cpu->xstate + EMU_MMX_ST, sizeof(st));
		for (unsigned i = 0; i < 8; i++)
			memcpy(cpu->xstate + EMU_MMX_ST + 16 * i, st[(i - top) & 7], 16);
		cpu->fsw &= (uint16_t)~EMU_FSW_TOP;
	}
	cpu->xstate[EMU_X87_FTW] = 0xff;
	emu_x87_touch(cpu);
}

void emu_mmx_set(struct emu_run *r, unsigned n, const uint8_t v[8])
{
	uint8_t *p;

	emu_mmx_commit(r);
	p = r->cpu->xstate + EMU_MMX_ST + 16 * (n & 7);
	memcpy(p, v, 8);
	p[8] = p[9] = 0xff;
}

/* EMMS: every register empty; TOP and the registers stay. */
int emu_mmx_execute(struct emu_run *r)
{
	int ret = emu_mmx_checks(r);

	if (ret)
		return ret;
	r->cpu->xstate[EMU_X87_FTW] = 0;
	emu_x87_touch(r->cpu);
	return emu_done(r, 0);
}
