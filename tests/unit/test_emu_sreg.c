/*
 * Unit tests of segment-register loads and stores (sreg.c): MOV to and from Sreg, PUSH/POP Sreg,
 * LDS/LES/LSS/LFS/LGS, in real, virtual-8086, protected and 64-bit mode, against a fake GDT: the
 * descriptor checks and their error codes, the accessed bit, the SS interrupt shadow, and that a
 * refused load changes nothing.
 */
#include "emu_fake.h"

#define GDT 0x2000ull
#define STACK 0x8000ull

#define SEL_CODE 0x08
#define SEL_DATA 0x10	/* ring 0 writable data */
#define SEL_UDATA 0x1b	/* ring 3 writable data, RPL 3 */
#define SEL_RODATA 0x20 /* ring 0 read-only data */
#define SEL_XCODE 0x28	/* execute-only code */
#define SEL_RCODE 0x30	/* readable non-conforming code, ring 0 */
#define SEL_NP 0x38	/* writable data, not present */
#define SEL_CCODE 0x40	/* readable conforming code, DPL 0 */

static struct emu_cpu pm(unsigned cpl)
{
	struct emu_cpu c = cpu32();

	fake_put_desc(GDT, SEL_CODE, 0xa, 0, false, true, true);
	fake_put_desc(GDT, SEL_DATA, 0x2, 0, false, true, true);
	fake_put_desc(GDT, SEL_UDATA, 0x2, 3, false, true, true);
	fake_put_desc(GDT, SEL_RODATA, 0x0, 0, false, true, true);
	fake_put_desc(GDT, SEL_XCODE, 0x8, 0, false, true, true);
	fake_put_desc(GDT, SEL_RCODE, 0xa, 0, false, true, true);
	fake_put_desc(GDT, SEL_NP, 0x2, 0, false, true, false);
	fake_put_desc(GDT, SEL_CCODE, 0xe, 0, false, true, true);
	c.gdt = (struct emu_dtable){ GDT, 0x47 };
	c.cpl = (uint8_t)cpl;
	c.gpr[EMU_RSP] = STACK;
	return c;
}

static void test_mov_sreg_pm(void)
{
	struct emu_cpu c, before;
	struct emu_exception exc;

	fake_reset();
	c = pm(0);
	/* mov %ax,%ds: loaded, accessed bit set in memory and in the hidden part. */
	c.gpr[EMU_RAX] = SEL_DATA;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.seg[EMU_DS].selector, SEL_DATA);
	CHECK_EQ(c.seg[EMU_DS].type, 0x3);
	CHECK(fake.mem[GDT + SEL_DATA + 5] & 1);
	CHECK(c.dirty & EMU_DIRTY_SREGS);
	CHECK(!(c.dirty & EMU_DIRTY_SS_SHADOW));
	/* Read-only data, readable code, conforming code: fine for DS. */
	static const uint16_t ok[] = { SEL_RODATA, SEL_RCODE, SEL_CCODE };
	for (unsigned i = 0; i < 3; i++) {
		c.rip = CODE;
		c.gpr[EMU_RAX] = ok[i];
		CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
		CHECK(!exc.valid);
		CHECK_EQ(c.seg[EMU_DS].selector, ok[i]);
	}
	/* A null selector: DS unusable. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0x3;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK(c.seg[EMU_DS].unusable);
	/* Refusals: execute-only code #GP(sel), not present #NP(sel), beyond the GDT #GP(sel),
	 * ring-0 data at CPL 3 #GP(sel); nothing changes. */
	c.rip = CODE;
	before = c;
	c.gpr[EMU_RAX] = SEL_XCODE;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_XCODE);
	c.gpr[EMU_RAX] = SEL_NP;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_NP, SEL_NP);
	c.gpr[EMU_RAX] = 0x50;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x50);
	c.gpr[EMU_RAX] = SEL_DATA | 3; /* RPL 3 > DPL 0 */
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_DATA);
	c.gpr[EMU_RAX] = before.gpr[EMU_RAX];
	CHECK(!memcmp(&c.seg, &before.seg, sizeof(c.seg)));
	CHECK_EQ(c.rip, CODE);
	/* mov to CS, or to segment register 6: #UD. */
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xc8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xf0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);

	/* SS: writable data at CPL = RPL = DPL; then the interrupt shadow. */
	c = pm(0);
	c.gpr[EMU_RAX] = SEL_RODATA;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_RODATA);
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RAX] = SEL_NP;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_SS, SEL_NP);
	c.gpr[EMU_RAX] = SEL_DATA;
	c.rflags |= EMU_RFLAGS_TF;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK(!exc.valid); /* the single-step trap waits: here it is dropped */
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
	CHECK(c.dirty & EMU_DIRTY_SS_SHADOW);
	/* CPL 3: its own data is fine for SS. */
	c = pm(3);
	c.gpr[EMU_RAX] = SEL_UDATA;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.seg[EMU_SS].dpl, 3);

	/* mov %es,%eax zero-extends; mov %fs,(%ebx) writes 16 bits. */
	c = pm(0);
	c.seg[EMU_ES].selector = 0x1234;
	c.gpr[EMU_RAX] = 0xffffffff;
	CHECK_EQ(RUN(&c, &exc, 0x8c, 0xc0), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1234);
	c.rip = CODE;
	c.seg[EMU_FS].selector = 0x5678;
	c.gpr[EMU_RBX] = 0x3000;
	put32(0x3000, 0xffffffff);
	CHECK_EQ(RUN(&c, &exc, 0x8c, 0x23), 0);
	CHECK_EQ(get32(0x3000), 0xffff5678);
}

static void test_push_pop_sreg(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = pm(0);
	c.seg[EMU_DS].selector = SEL_DATA;
	CHECK_EQ(RUN(&c, &exc, 0x1e), 0); /* push %ds */
	CHECK_EQ(get32(STACK - 4), SEL_DATA);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 4);
	c.rip = CODE;
	put32(STACK - 4, SEL_RODATA);
	CHECK_EQ(RUN(&c, &exc, 0x07), 0); /* pop %es */
	CHECK_EQ(c.seg[EMU_ES].selector, SEL_RODATA);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	/* pop %ss of a bad selector: #GP(sel), RSP unchanged. */
	c.rip = CODE;
	c.gpr[EMU_RSP] = STACK - 4;
	put32(STACK - 4, SEL_XCODE);
	CHECK_EQ(RUN(&c, &exc, 0x17), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_XCODE);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 4);
	put32(STACK - 4, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0x17), 0);
	CHECK(c.dirty & EMU_DIRTY_SS_SHADOW);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	/* 64-bit mode: push/pop %fs (0f a0/a1) are 8 bytes; push %ds does not exist. */
	c = cpu64();
	c.gdt = (struct emu_dtable){ GDT, 0x47 };
	c.gpr[EMU_RSP] = STACK;
	c.seg[EMU_FS].selector = 0;
	put64(STACK - 8, ~0ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xa0), 0);
	CHECK_EQ(get64(STACK - 8), 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	c.rip = CODE;
	put64(STACK - 8, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xa9), 0); /* pop %gs */
	CHECK_EQ(c.seg[EMU_GS].selector, SEL_DATA);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	CHECK_EQ(RUN(&c, &exc, 0x1e), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* 64-bit mode at CPL 0: a null SS is allowed, with RPL = CPL only. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 1;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK(c.seg[EMU_SS].unusable);
	/* Back in real mode, a reload makes a segment usable again. */
	c = cpu16();
	c.seg[EMU_DS].unusable = true;
	c.seg[EMU_DS].present = false;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK(!c.seg[EMU_DS].unusable);
	CHECK(c.seg[EMU_DS].present);
}

static void test_far_pointer_loads(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = pm(0);
	/* lss (%ebx),%esp: offset 32 bits, then SS. */
	c.gpr[EMU_RBX] = 0x3000;
	put32(0x3000, 0x7000);
	put32(0x3004, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xb2, 0x23), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RSP], 0x7000);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
	CHECK(!(c.dirty & EMU_DIRTY_SS_SHADOW)); /* LSS makes no shadow */
	/* lfs with a 16-bit operand: offset 16 bits. */
	c.rip = CODE;
	put32(0x3000, 0xabcd | (uint32_t)SEL_RODATA << 16);
	c.gpr[EMU_RAX] = 0x11110000;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xb4, 0x03), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1111abcd);
	CHECK_EQ(c.seg[EMU_FS].selector, SEL_RODATA);
	/* A refused selector: the register keeps its value. */
	c.rip = CODE;
	put32(0x3000, 0xabcd | (uint32_t)SEL_NP << 16);
	c.gpr[EMU_RAX] = 5;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xb5, 0x03), 0);
	CHECK_EXC(exc, EMU_X_NP, SEL_NP);
	CHECK_EQ(c.gpr[EMU_RAX], 5);
	/* Register form: #UD. */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xb2, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
}

static void test_real_and_v86(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu16();
	c.seg[EMU_ES].limit = 0xffffffff; /* unreal mode: the limit survives a reload */
	c.gpr[EMU_RAX] = 0xb800;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xc0), 0);
	CHECK_EQ(c.seg[EMU_ES].base, 0xb8000);
	CHECK_EQ(c.seg[EMU_ES].limit, 0xffffffff);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd0), 0); /* mov %ax,%ss */
	CHECK(c.dirty & EMU_DIRTY_SS_SHADOW);
	CHECK_EQ(c.seg[EMU_SS].base, 0xb8000);
	/* Virtual-8086 mode: the fixed ring-3 64 KiB segment. */
	c = cpu16();
	c.cr0 |= EMU_CR0_PE;
	c.rflags |= EMU_RFLAGS_VM;
	c.cpl = 3;
	c.gpr[EMU_RAX] = 0x1000;
	CHECK_EQ(RUN(&c, &exc, 0x8e, 0xd8), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.seg[EMU_DS].base, 0x10000);
	CHECK_EQ(c.seg[EMU_DS].limit, 0xffff);
	CHECK_EQ(c.seg[EMU_DS].dpl, 3);
}

int main(void)
{
	RUN_TEST(test_mov_sreg_pm);
	RUN_TEST(test_push_pop_sreg);
	RUN_TEST(test_far_pointer_loads);
	RUN_TEST(test_real_and_v86);
	free(fake.mem);
	TEST_EXIT();
}
