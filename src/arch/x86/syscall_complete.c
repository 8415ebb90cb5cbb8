/* The frame checks that tell a mis-delivered SYSCALL from an ordinary page fault. */
#include "arch/x86/syscall_complete.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"

#define SC_PF_P (1u << 0)
#define SC_PF_U (1u << 2)
#define SC_PF_I (1u << 4)
#define SC_RFLAGS_IF (1ull << 9)
#define SC_RFLAGS_RF (1ull << 16)
#define SC_RFLAGS_VM (1ull << 17)

static bool syscall_complete_kernel_address(uint64_t va)
{
	/* Canonical and in the upper half (48- or 57-bit: both have bit 63 set there). */
	return (va >> 63) &&
	       ((int64_t)(va << 7) >> 7 == (int64_t)va || (int64_t)(va << 16) >> 16 == (int64_t)va);
}

bool syscall_complete_check(const struct syscall_complete_state *s,
			    struct syscall_complete_entry *entry)
{
	const struct syscall_complete_frame *f = &s->frame;
	uint16_t kernel_cs = (uint16_t)(s->star >> 32) & 0xfffc;
	/* SYSRET's 64-bit user CS is STAR[63:48] + 16, with RPL 3: SYSCALL came from there. */
	uint16_t user_cs = (uint16_t)(((s->star >> 48) + 16) | 3);

	if (!syscall_complete_kernel_address(s->lstar))
		return false;
	if (f->error != (SC_PF_P | SC_PF_U | SC_PF_I))
		return false;
	if (f->rip != s->lstar || s->cr2 != s->lstar)
		return false;
	if ((f->cs & 0xffff) != user_cs || (f->cs & 3) != 3 || (f->ss & 3) != 3)
		return false;
	/*
	 * SYSCALL masked RFLAGS with FMASK (Linux's includes IF) and saved the rest in R11. CPL 3
	 * code cannot clear IF in its own RFLAGS (IOPL 3 is dropped on this host), so a fetch
	 * fault at LSTAR with IF clear can only come from a SYSCALL.
	 */
	if (!(s->sfmask & SC_RFLAGS_IF) || (f->rflags & (SC_RFLAGS_IF | SC_RFLAGS_VM)))
		return false;
	if ((f->rflags & ~SC_RFLAGS_RF) != ((s->r11 & ~s->sfmask) | 2))
		return false;
	*entry = (struct syscall_complete_entry){
		.rip = s->lstar,
		.rsp = f->rsp, /* SYSCALL leaves the user stack in place */
		.rflags = f->rflags & ~SC_RFLAGS_RF,
		.cs = kernel_cs,
		.ss = (uint16_t)(kernel_cs + 8),
	};
	return true;
}

/* The decoder gets only the bytes the caller read: anything more is "cannot tell". */
static int syscall_complete_no_read(void *opaque, uint64_t la, void *dst, unsigned len,
				    unsigned access, struct emu_pf *pf)
{
	(void)opaque;
	(void)la;
	(void)dst;
	(void)len;
	(void)access;
	(void)pf;
	return -EFAULT;
}

static const struct emu_ops syscall_complete_ops = { .read = syscall_complete_no_read };

unsigned syscall_complete_skip_len(const uint8_t *bytes, unsigned n)
{
	struct emu_cpu cpu;
	struct emu_insn insn;
	struct emu_exception exc;

	/* 64-bit kernel code: decode only from the bytes given (no memory callbacks). */
	memset(&cpu, 0, sizeof(cpu));
	cpu.cr0 = EMU_CR0_PE | EMU_CR0_PG;
	cpu.efer = EMU_EFER_LMA | EMU_EFER_LME;
	cpu.seg[EMU_CS].l = true;
	cpu.seg[EMU_CS].present = true;
	if (!n || emu_decode(&insn, &cpu, bytes, n, &syscall_complete_ops, NULL, &exc) ||
	    exc.valid || insn.len > n || insn.op != EMU_OP_NOP ||
	    (insn.rex_b && insn.map == EMU_MAP_LEGACY))
		return 0;
	return insn.len;
}
