/* The frame checks that tell a mis-delivered SYSCALL from an ordinary page fault. */
#include "arch/x86/syscall_complete.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/mmu.h"

#define SC_PF_P (1u << 0)
#define SC_PF_U (1u << 2)
#define SC_PF_I (1u << 4)
#define SC_RFLAGS_IF (1ull << 9)
#define SC_RFLAGS_RF (1ull << 16)
#define SC_RFLAGS_VM (1ull << 17)

bool syscall_complete_kernel_address(uint64_t va)
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

int syscall_complete_handler(const struct emu_mmu *mmu, uint64_t idt_base, uint16_t idt_limit,
			     uint64_t *handler)
{
	const unsigned vec = 14;
	uint64_t la = idt_base + vec * 16, gpa;
	const uint8_t *g;
	struct emu_pf pf;
	int ret;

	if (vec * 16 + 15 > idt_limit)
		return -ENOENT;
	/* A gate never straddles a page: IDT entries are 16-byte aligned when the IDT is. */
	if ((la & 4095) > 4096 - 16)
		return -ENOENT;
	ret = emu_mmu_translate(mmu, la, EMU_ACC_IMPLICIT | EMU_ACC_PEEK, &gpa, &pf);
	if (ret)
		return ret;
	g = mmu->pt(mmu->opaque, gpa, 16);
	if (!g)
		return -EFAULT;
	/* Present, S = 0, type 0xe or 0xf (64-bit interrupt or trap gate). */
	if (!(g[5] & 0x80) || (g[5] & 0x1e) != 0xe)
		return -ENOENT;
	*handler = (uint64_t)g[0] | (uint64_t)g[1] << 8 | (uint64_t)g[6] << 16 |
		   (uint64_t)g[7] << 24 | (uint64_t)g[8] << 32 | (uint64_t)g[9] << 40 |
		   (uint64_t)g[10] << 48 | (uint64_t)g[11] << 56;
	return 0;
}
