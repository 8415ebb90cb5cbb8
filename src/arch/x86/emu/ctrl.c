/*
 * Control registers and MSRs: MOV to and from CR0, CR2, CR3, CR4 (entering and leaving IA-32e mode
 * through CR0.PG with EFER.LME, as the CPU does), RDMSR and WRMSR (EFER here, any other MSR through
 * ops->msr). CPL 0 only. Under KVM none of this reaches the emulator; a CPU-emulator mode needs it.
 */
#include <errno.h>

#include "arch/x86/emu/exec.h"

#define EMU_CTRL_MSR_EFER 0xc0000080u
#define EMU_CTRL_EFER_WRITABLE 0xfd01ull /* SCE, LME, NXE, SVME, LMSLE, FFXSR, TCE */
/* CR0: PE MP EM TS ET NE WP AM NW CD PG; CR4: everything up to PKS but the reserved bit 19. */
#define EMU_CTRL_CR0_BITS 0xe005003full
#define EMU_CTRL_CR4_BITS 0x1f7ffffull
#define EMU_CR0_NW (1ull << 29)
#define EMU_CR0_CD (1ull << 30)

static int emu_ctrl_write_cr0(struct emu_run *r, uint64_t v)
{
	struct emu_cpu *cpu = r->cpu;
	bool paging = v & EMU_CR0_PG, was = cpu->cr0 & EMU_CR0_PG;

	/* Bits 63:32 are #GP; the other reserved ones are ignored, as the CPU does. */
	if ((v >> 32) || (paging && !(v & EMU_CR0_PE)) || ((v & EMU_CR0_NW) && !(v & EMU_CR0_CD)))
		return emu_raise(r->exc, EMU_X_GP, 0);
	v &= EMU_CTRL_CR0_BITS;
	if (paging && !was && (cpu->efer & EMU_EFER_LME)) {
		/* Into IA-32e mode: PAE paging, from code that is not 64-bit (CS.L clear). */
		if (!(cpu->cr4 & EMU_CR4_PAE) || cpu->seg[EMU_CS].l)
			return emu_raise(r->exc, EMU_X_GP, 0);
		cpu->efer |= EMU_EFER_LMA;
	} else if (!paging && was && (cpu->efer & EMU_EFER_LMA)) {
		if (r->insn->code_size == 8)
			return emu_raise(r->exc, EMU_X_GP, 0); /* only from compatibility mode */
		cpu->efer &= ~EMU_EFER_LMA;
	}
	cpu->cr0 = v | 0x10; /* ET reads as 1 */
	cpu->dirty |= EMU_DIRTY_SREGS | EMU_DIRTY_TLB;
	return 0;
}

static int emu_ctrl_write_cr4(struct emu_run *r, uint64_t v)
{
	struct emu_cpu *cpu = r->cpu;

	uint64_t valid = cpu->cr4_valid ? cpu->cr4_valid : EMU_CTRL_CR4_BITS;

	if ((v & ~valid) || ((cpu->efer & EMU_EFER_LMA) && !(v & EMU_CR4_PAE)) ||
	    ((v ^ cpu->cr4) & EMU_CR4_LA57 && (cpu->efer & EMU_EFER_LMA)))
		return emu_raise(r->exc, EMU_X_GP, 0);
	cpu->cr4 = v;
	cpu->dirty |= EMU_DIRTY_SREGS | EMU_DIRTY_TLB;
	return 0;
}

/* 0F 20 (MOV r, CRn) and 0F 22 (MOV CRn, r): 64-bit operands in 64-bit mode, 32 elsewhere. */
static int emu_ctrl_mov_cr(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->code_size == 8 ? 8 : 4, n = insn->reg;
	uint64_t v;

	if (n == 1 || (n >= 5 && n != 8))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (insn->opcode == 0x20) {
		v = n == 0   ? cpu->cr0
		    : n == 2 ? cpu->cr2
		    : n == 3 ? cpu->cr3
		    : n == 8 ? cpu->cr8
			     : cpu->cr4;
		emu_set_gpr(cpu, insn->rm, size, v);
		return 0;
	}
	v = cpu->gpr[insn->rm] & emu_size_mask(size);
	switch (n) {
	case 0:
		return emu_ctrl_write_cr0(r, v);
	case 2:
		cpu->cr2 = v;
		return 0;
	case 8:
		/* The TPR: bits 3:0 (the glue hands it to KVM's local APIC with the sregs). */
		if (v >> 4)
			return emu_raise(r->exc, EMU_X_GP, 0);
		cpu->cr8 = v;
		cpu->dirty |= EMU_DIRTY_SREGS;
		return 0;
	case 3:
		/* With PCIDE, bit 63 only says "keep this PCID's translations". */
		if ((cpu->cr4 & EMU_CR4_PCIDE) && (v >> 63)) {
			cpu->cr3 = v & ~(1ull << 63);
			cpu->dirty |= EMU_DIRTY_SREGS;
			return 0;
		}
		cpu->cr3 = v;
		cpu->dirty |= EMU_DIRTY_SREGS | EMU_DIRTY_TLB;
		return 0;
	default:
		return emu_ctrl_write_cr4(r, v);
	}
}

/* RDMSR/WRMSR: ECX the index, EDX:EAX the value; an MSR nobody knows is #GP(0). */
static int emu_ctrl_msr(struct emu_run *r, bool write)
{
	struct emu_cpu *cpu = r->cpu;
	uint32_t index = (uint32_t)cpu->gpr[EMU_RCX];
	uint64_t v = (uint32_t)cpu->gpr[EMU_RAX] | (cpu->gpr[EMU_RDX] & 0xffffffffull) << 32;
	int ret;

	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (index == EMU_CTRL_MSR_EFER) {
		if (!write) {
			v = cpu->efer;
		} else {
			/* LMA is the CPU's; LME cannot change under paging. */
			uint64_t valid = cpu->efer_valid ? cpu->efer_valid : EMU_CTRL_EFER_WRITABLE;

			if ((v & ~valid & ~EMU_EFER_LMA) ||
			    ((cpu->cr0 & EMU_CR0_PG) && ((v ^ cpu->efer) & EMU_EFER_LME)))
				return emu_raise(r->exc, EMU_X_GP, 0);
			cpu->efer = (v & ~EMU_EFER_LMA) | (cpu->efer & EMU_EFER_LMA);
			cpu->dirty |= EMU_DIRTY_SREGS;
			return 0;
		}
	} else {
		if (!r->ops->msr)
			return -ENOTSUP;
		ret = r->ops->msr(r->opaque, index, &v, write);
		if (ret == -ENOENT)
			return emu_raise(r->exc, EMU_X_GP, 0);
		if (ret)
			return ret;
		if (write)
			return 0;
	}
	emu_set_gpr(cpu, EMU_RAX, 4, (uint32_t)v);
	emu_set_gpr(cpu, EMU_RDX, 4, v >> 32);
	return 0;
}

/*
 * 0F 21 (MOV r, DRn) and 0F 23 (MOV DRn, r), when the caller keeps the debug registers (has_dr):
 * CPL 0; DR4/DR5 alias DR6/DR7 unless CR4.DE (#UD); DR7.GD makes the access a #DB (BD in DR6);
 * DR6 and DR7 keep their fixed bits, and DR7's upper half must be 0.
 */
static int emu_ctrl_mov_dr(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->code_size == 8 ? 8 : 4, n = insn->reg;
	uint64_t v;

	if (!cpu->has_dr)
		return -ENOTSUP;
	if (n > 7)
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	if ((n == 4 || n == 5) && (cpu->cr4 & EMU_CR4_DE))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->dr7 & EMU_DR7_GD) {
		cpu->dr7 &= ~EMU_DR7_GD;
		cpu->rflags |= EMU_RFLAGS_RF; /* a fault-class #DB: its frame carries RF */
		emu_raise(r->exc, EMU_X_DB, -1);
		r->exc->dr6 = EMU_DR6_BD;
		return EMU_RAISED;
	}
	n = n == 4 ? 6 : n == 5 ? 7 : n;
	if (insn->opcode == 0x21) {
		v = n < 4 ? cpu->dr[n] : n == 6 ? cpu->dr6 : cpu->dr7;
		emu_set_gpr(cpu, insn->rm, size, v);
		return emu_done(r, 0);
	}
	v = cpu->gpr[insn->rm] & emu_size_mask(size);
	if (n < 4) {
		cpu->dr[n] = v;
	} else if (n == 6) {
		if (v >> 32)
			return emu_raise(r->exc, EMU_X_GP, 0);
		cpu->dr6 = (v & 0x1e00full) | 0xffff0ff0ull;
	} else {
		if (v >> 32)
			return emu_raise(r->exc, EMU_X_GP, 0);
		cpu->dr7 = (v & 0xffff2bffull) | 0x400;
	}
	return emu_done(r, 0);
}

uint8_t emu_dr_data_hits(const struct emu_cpu *cpu, uint64_t la, unsigned len, bool write)
{
	static const uint8_t lens[4] = { 1, 2, 8, 4 }; /* DR7's LEN encoding */
	uint8_t hits = 0;

	for (unsigned i = 0; i < 4; i++) {
		unsigned rw = (cpu->dr7 >> (16 + 4 * i)) & 3,
			 n = lens[(cpu->dr7 >> (18 + 4 * i)) & 3];
		uint64_t start = cpu->dr[i] & ~(uint64_t)(n - 1);

		if (!((cpu->dr7 >> (2 * i)) & 3) || !(rw == 1 || rw == 3) || (rw == 1 && !write))
			continue;
		if (la < start + n && start < la + len)
			hits |= (uint8_t)(1u << i);
	}
	return hits;
}

int emu_ctrl_execute(struct emu_run *r)
{
	int ret;

	switch (r->insn->op) {
	case EMU_OP_MOV_CR:
		ret = emu_ctrl_mov_cr(r);
		break;
	case EMU_OP_MOV_DR:
		return emu_ctrl_mov_dr(r);
	case EMU_OP_RDMSR:
	case EMU_OP_WRMSR:
		ret = emu_ctrl_msr(r, r->insn->op == EMU_OP_WRMSR);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}
