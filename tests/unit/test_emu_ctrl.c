/*
 * Unit tests of the control-register and MSR instructions (ctrl.c) and of LLDT/LTR (dtab.c):
 * entering and leaving IA-32e mode through CR0.PG, every #GP and #UD they raise, EFER through
 * RDMSR/WRMSR, other MSRs through the callback, and the TSS busy bit.
 */
#include "emu_fake.h"

#define GDT 0x2000ull

static int msr_value = 0x1234;

static int fake_msr(void *opaque, uint32_t index, uint64_t *value, bool write)
{
	(void)opaque;
	if (index != 0x10)
		return -ENOENT;
	if (write)
		msr_value = (int)*value;
	else
		*value = (uint64_t)msr_value;
	return 0;
}

static void test_mov_cr(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* 32-bit protected mode to IA-32e: CR4.PAE, EFER.LME, then CR0.PG sets LMA. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x5000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xd8), 0); /* mov %eax,%cr3 */
	CHECK_EQ(c.cr3, 0x5000);
	CHECK(c.dirty & EMU_DIRTY_TLB);
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0xc0000080;
	c.gpr[EMU_RAX] = 1u << 8;
	c.gpr[EMU_RDX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x30), 0); /* wrmsr */
	CHECK_EQ(c.efer, 1u << 8);
	c.rip = CODE;
	c.cr4 &= ~EMU_CR4_PAE;
	c.gpr[EMU_RAX] = (uint32_t)(EMU_CR0_PE | EMU_CR0_PG);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0); /* no PAE: #GP(0) */
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK(!(c.cr0 & EMU_CR0_PG));
	c.cr4 |= EMU_CR4_PAE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0);
	CHECK(!exc.valid);
	CHECK(c.efer & EMU_EFER_LMA);
	CHECK(c.cr0 & EMU_CR0_PG);
	/* LME cannot change under paging; rdmsr reads LMA back. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x30), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x32), 0);
	CHECK_EQ(c.gpr[EMU_RAX], (1u << 8) | (1u << 10));
	/* PAE cannot be cleared in IA-32e mode; PG without PE, CR1, CR5: #GP / #UD. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xe0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RAX] = (uint32_t)EMU_CR0_PG;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x20, 0xe8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* Leaving IA-32e mode from 64-bit code: #GP; from compatibility mode: LMA clears. */
	c = cpu64();
	c.cr3 = 0x5000;
	c.efer = EMU_EFER_LME | EMU_EFER_LMA;
	c.gpr[EMU_RAX] = EMU_CR0_PE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.seg[EMU_CS].l = 0;
	c.seg[EMU_CS].db = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0);
	CHECK(!exc.valid);
	CHECK(!(c.efer & EMU_EFER_LMA));
	/* With PCIDE, CR3 bit 63 asks to keep translations: not stored, no flush. */
	c = cpu64();
	c.cr4 |= EMU_CR4_PCIDE;
	c.gpr[EMU_RAX] = (1ull << 63) | 0x5000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xd8), 0);
	CHECK_EQ(c.cr3, 0x5000);
	CHECK(!(c.dirty & EMU_DIRTY_TLB));
	/* Paging on with LME from a CS that has L set: #GP. */
	c = cpu32();
	c.efer = EMU_EFER_LME;
	c.seg[EMU_CS].l = 1;
	c.gpr[EMU_RAX] = (uint32_t)(EMU_CR0_PE | EMU_CR0_PG);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Reserved CR0 bits below 32 are ignored, not a fault. */
	c = cpu32();
	c.gpr[EMU_RAX] = (uint32_t)EMU_CR0_PE | 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xc0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cr0 & 0x100, 0);
	/* mov %cr3,%rax in 64-bit mode is 64 bits; CPL 3: #GP. */
	c = cpu64();
	c.cr3 = 0x123456789000ull;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x20, 0xd8), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x123456789000ull);
	c.rip = CODE;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x20, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x32), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

/* CR8 (REX.R, 64-bit mode only) is the TPR: bits 3:0, the rest #GP. */
static void test_mov_cr8(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_R10] = 9;
	CHECK_EQ(RUN(&c, &exc, 0x45, 0x0f, 0x22, 0xc2), 0); /* mov %r10,%cr8 */
	CHECK(!exc.valid);
	CHECK_EQ(c.cr8, 9);
	CHECK(c.dirty & EMU_DIRTY_SREGS);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x44, 0x0f, 0x20, 0xc0), 0); /* mov %cr8,%rax */
	CHECK_EQ(c.gpr[EMU_RAX], 9);
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0x10;
	CHECK_EQ(RUN(&c, &exc, 0x44, 0x0f, 0x22, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.cr8, 9);
}

/* MOV DR where the caller keeps the debug registers (has_dr); not emulated where it does not. */
static void test_mov_dr(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_RAX] = 0x1234;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x23, 0xc0), -ENOTSUP); /* mov %rax,%dr0: KVM's */
	c.has_dr = true;
	c.dr6 = 0xffff0ff0;
	c.dr7 = 0x400;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x23, 0xc0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.dr[0], 0x1234);
	c.rip = CODE;
	c.gpr[EMU_RDX] = 0xffff0703; /* reserved bits 12, 14, 15 dropped; bit 10 reads 1 */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x23, 0xfa), 0); /* mov %rdx,%dr7 */
	CHECK_EQ(c.dr7, 0xffff0703 | 0x400);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x21, 0xeb), 0); /* mov %dr5,%rbx: DR7's alias */
	CHECK_EQ(c.gpr[EMU_RBX], c.dr7);
	c.rip = CODE;
	c.gpr[EMU_RDX] = 1ull << 32;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x23, 0xfa), 0); /* DR7's upper half: #GP */
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.cr4 |= EMU_CR4_DE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x21, 0xeb), 0); /* DR5 with CR4.DE: #UD */
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.cr4 &= ~EMU_CR4_DE;
	c.dr7 |= EMU_DR7_GD; /* general detect: the access is a #DB, BD set, GD cleared */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x21, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_DB, -1);
	CHECK_EQ(exc.dr6, EMU_DR6_BD);
	CHECK(!(c.dr7 & EMU_DR7_GD));
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x21, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

/* With cr4_valid and efer_valid from the guest's CPUID, a bit the CPU lacks is #GP. */
/* Which data breakpoints an access hits: R/W 01 writes only, 11 both, 00 and 10 never; LEN 1, 2,
 * 4 or 8 bytes with DRn aligned down to it; L or G enables. */
static void test_dr_data_hits(void)
{
	struct emu_cpu c = cpu64();

	c.dr[0] = 0x1000;			/* LEN 00: 1 byte, writes */
	c.dr[1] = 0x2003;			/* LEN 11: 4 bytes at 0x2000, reads or writes */
	c.dr[2] = 0x3007;			/* LEN 10: 8 bytes at 0x3000, reads or writes */
	c.dr[3] = 0x1000;			/* execute: never a data hit */
	c.dr7 = 0x400 | 0x1 | 0x8 | 0x20 | 0x40 /* L0, G1, G2, L3 */
		| 0x1ull << 16 | 0xfull << 20 | 0xbull << 24;
	CHECK_EQ(emu_dr_data_hits(&c, 0x1000, 1, true), 1);
	CHECK_EQ(emu_dr_data_hits(&c, 0x1000, 1, false), 0); /* a read: DR0 wants writes */
	CHECK_EQ(emu_dr_data_hits(&c, 0xffc, 8, true), 1);   /* overlapping counts */
	CHECK_EQ(emu_dr_data_hits(&c, 0x1001, 4, true), 0);
	CHECK_EQ(emu_dr_data_hits(&c, 0x2000, 1, false), 2);
	CHECK_EQ(emu_dr_data_hits(&c, 0x2003, 2, true), 2);
	CHECK_EQ(emu_dr_data_hits(&c, 0x2004, 4, false), 0);
	CHECK_EQ(emu_dr_data_hits(&c, 0x1ffc, 4, false), 0);
	CHECK_EQ(emu_dr_data_hits(&c, 0x3000, 16, false), 4);
	CHECK_EQ(emu_dr_data_hits(&c, 0x3007, 1, true), 4);
	CHECK_EQ(emu_dr_data_hits(&c, 0x3008, 1, true), 0);
	c.dr7 &= ~0x3ull; /* DR0 disabled */
	CHECK_EQ(emu_dr_data_hits(&c, 0x1000, 1, true), 0);
	c.dr7 = 0x400 | 0x4 | 0x2ull << 20; /* DR1 R/W 10: I/O, not data */
	CHECK_EQ(emu_dr_data_hits(&c, 0x2003, 1, true), 0);
}

static void test_cr4_efer_valid(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.cr4_valid = EMU_CR4_PAE | EMU_CR4_OSFXSR | EMU_CR4_SMEP;
	c.gpr[EMU_RAX] = c.cr4 | EMU_CR4_SMEP;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xe0), 0);
	CHECK(!exc.valid);
	CHECK(c.cr4 & EMU_CR4_SMEP);
	c.rip = CODE;
	c.gpr[EMU_RAX] = c.cr4 | EMU_CR4_PCIDE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x22, 0xe0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.rip = CODE;
	c.efer_valid = (1u << 0) | (1u << 8) | (1u << 11); /* SCE LME NXE */
	c.gpr[EMU_RCX] = 0xc0000080;
	c.gpr[EMU_RDX] = 0;
	c.gpr[EMU_RAX] = (uint32_t)(c.efer | (1u << 12)); /* SVME */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x30), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RAX] = (uint32_t)(c.efer | (1u << 11));
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x30), 0);
	CHECK(!exc.valid);
	CHECK(c.efer & (1u << 11));
}

static void test_msr_callback(void)
{
	struct emu_cpu c = cpu64();
	struct emu_exception exc;
	struct emu_ops ops = fake_ops;
	static const uint8_t rdmsr[] = { 0x0f, 0x32 }, wrmsr[] = { 0x0f, 0x30 };

	fake_reset();
	/* Without the callback an MSR other than EFER is not emulated. */
	c.gpr[EMU_RCX] = 0x10;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x32), -ENOTSUP);
	ops.msr = fake_msr;
	memcpy(fake.mem + c.rip, rdmsr, 2);
	CHECK_EQ(emu_step(&c, rdmsr, 2, &ops, NULL, NULL, &exc), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1234);
	CHECK_EQ(c.gpr[EMU_RDX], 0);
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0x77;
	memcpy(fake.mem + c.rip, wrmsr, 2);
	CHECK_EQ(emu_step(&c, wrmsr, 2, &ops, NULL, NULL, &exc), 0);
	CHECK_EQ(msr_value, 0x77);
	/* An MSR the CPU does not have: #GP(0). */
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0x11;
	CHECK_EQ(emu_step(&c, rdmsr, 2, &ops, NULL, NULL, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

static void test_ltr_lldt(void)
{
	struct emu_cpu c = cpu64();
	struct emu_exception exc;
	uint8_t *d = fake.mem + GDT + 0x30;

	fake_reset();
	c.gdt = (struct emu_dtable){ GDT, 0x5f };
	/* A 16-byte available 64-bit TSS at 0x30, base 0x123456789000, limit 0x67. */
	memset(d, 0, 16);
	d[0] = 0x67;
	d[3] = 0x90, d[4] = 0x78, d[7] = 0x56;
	d[5] = 0x89;
	d[8] = 0x34, d[9] = 0x12;
	c.gpr[EMU_RAX] = 0x30;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd8), 0); /* ltr %ax */
	CHECK(!exc.valid);
	CHECK_EQ(c.tr.base, 0x123456789000ull);
	CHECK_EQ(c.tr.limit, 0x67);
	CHECK_EQ(c.tr.type, 0xb);
	CHECK_EQ(d[5], 0x8b); /* busy in memory too */
	/* Busy now: loading it again is #GP(sel); so are a null selector and an LDT one. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x30);
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RAX] = 0x34;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x34);
	/* Not present: #NP. */
	d[5] = 0x09;
	c.gpr[EMU_RAX] = 0x30;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_NP, 0x30);
	/* LLDT: an LDT descriptor (type 2), or null for none. */
	d[5] = 0x82;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd0), 0); /* lldt %ax */
	CHECK(!exc.valid);
	CHECK_EQ(c.ldt.base, 0x123456789000ull);
	CHECK(!c.ldt.unusable);
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd0), 0);
	CHECK(c.ldt.unusable);
	/* CPL 3: #GP(0); real mode: #UD. */
	c.rip = CODE;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = cpu16();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
}

static int halts;

static int fake_halt(void *opaque)
{
	(void)opaque;
	halts++;
	return 0;
}

static void test_rdtsc_hlt_int1(void)
{
	struct emu_cpu c = cpu64();
	struct emu_exception exc;
	struct emu_ops ops = fake_ops;
	static const uint8_t hlt[] = { 0xf4 };

	fake_reset();
	c.tsc = 0x1122334455667788ull;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x31), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55667788);
	CHECK_EQ(c.gpr[EMU_RDX], 0x11223344);
	/* CR4.TSD: CPL 0 only. */
	c.rip = CODE;
	c.cr4 |= EMU_CR4_TSD;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x31), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* HLT: not emulated without the callback; with it the caller waits, RIP past it. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf4), -ENOTSUP);
	ops.halt = fake_halt;
	memcpy(fake.mem + c.rip, hlt, 1);
	CHECK_EQ(emu_step(&c, hlt, 1, &ops, NULL, NULL, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(halts, 1);
	CHECK_EQ(c.rip, CODE + 1);
	c.cpl = 3;
	CHECK_EQ(emu_step(&c, hlt, 1, &ops, NULL, NULL, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(halts, 1);
	/* INT1: a #DB trap after the instruction. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf1), 0);
	CHECK_EXC(exc, EMU_X_DB, -1);
	CHECK_EQ(c.rip, CODE + 1);
}

int main(void)
{
	RUN_TEST(test_rdtsc_hlt_int1);
	RUN_TEST(test_mov_cr);
	RUN_TEST(test_mov_cr8);
	RUN_TEST(test_mov_dr);
	RUN_TEST(test_dr_data_hits);
	RUN_TEST(test_cr4_efer_valid);
	RUN_TEST(test_msr_callback);
	RUN_TEST(test_ltr_lldt);
	free(fake.mem);
	TEST_EXIT();
}
