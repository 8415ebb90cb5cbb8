/*
 * The x87's control instructions, which system code runs even where it computes nothing with the
 * FPU: FNINIT, FNCLEX, FLDCW, FNSTCW, FNSTSW (AX and memory). They work on the vCPU's XSAVE image
 * (EMU_NEED_XSTATE: the tag word, FOP and the last-instruction pointers live only there) and mark
 * it dirty. x87 arithmetic is not emulated.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/exec.h"

#define EMU_X87_FOP 6 /* after the abridged tag word (exec.h); FIP/FDP at 8..23 */
#define EMU_X87_FIP 8

/* #NM when CR0.EM or CR0.TS says the FPU is not the program's now. */
static int emu_x87_checks(struct emu_run *r)
{
	if (r->cpu->cr0 & (EMU_CR0_EM | EMU_CR0_TS))
		return emu_raise(r->exc, EMU_X_NM, -1);
	if (!r->cpu->xstate)
		return -ENOTSUP;
	return 0;
}

/*
 * FCW and FSW into the image too, so that the caller's write-back carries them, and the x87
 * component marked in use: an image whose XSTATE_BV bit 0 is clear loads as the init state
 * (KVM_SET_XSAVE, XRSTOR), whatever its legacy area holds.
 */
void emu_x87_touch(struct emu_cpu *cpu)
{
	memcpy(cpu->xstate + 0, &cpu->fcw, 2);
	memcpy(cpu->xstate + 2, &cpu->fsw, 2);
	cpu->xstate[512] |= 1; /* XSTATE_BV.x87 */
	cpu->dirty |= EMU_DIRTY_XSTATE;
}

static void emu_x87_store(struct emu_run *r)
{
	emu_x87_touch(r->cpu);
}

int emu_x87_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint16_t v;
	int ret = emu_x87_checks(r);

	if (ret)
		return ret;
	switch (r->insn->op) {
	case EMU_OP_FNINIT:
		cpu->fcw = 0x37f;
		cpu->fsw = 0;
		cpu->xstate[EMU_X87_FTW] = 0; /* every register empty */
		memset(cpu->xstate + EMU_X87_FOP, 0, 2);
		memset(cpu->xstate + EMU_X87_FIP, 0, 16);
		emu_x87_store(r);
		break;
	case EMU_OP_FNCLEX:
		cpu->fsw &= 0x7f00; /* exception flags, SF, ES and B */
		emu_x87_store(r);
		break;
	case EMU_OP_FLDCW:
		ret = emu_mem_read(r, &v, 2, 0);
		if (ret)
			return ret;
		cpu->fcw = (v & 0x1f3f) | 0x40; /* reserved bits: 6 reads as 1, 7 and 13-15 as 0 */
		emu_x87_store(r);
		break;
	case EMU_OP_FNSTCW:
		ret = emu_mem_write(r, &cpu->fcw, 2, 0);
		break;
	case EMU_OP_FNSTSW:
		if (r->insn->mod == 3)
			emu_set_gpr(cpu, EMU_RAX, 2, cpu->fsw);
		else
			ret = emu_mem_write(r, &cpu->fsw, 2, 0);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
