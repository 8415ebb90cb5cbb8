/*
 * Unit tests of the instructions that exist only outside 64-bit mode (legacy.c) and of CLI/STI:
 * the SDM's worked examples for the decimal adjusts, PUSHA/POPA's frame, BOUND's #BR, the #UD
 * they all raise in 64-bit mode, and the privilege rules for the interrupt flag.
 */
#include "emu_fake.h"

#define STACK 0x8000ull

static uint8_t al(const struct emu_cpu *c)
{
	return (uint8_t)c->gpr[EMU_RAX];
}

static void test_decimal(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* 79 + 35 = AE; DAA gives 14 with a decimal carry. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x12345600 | 0xae;
	CHECK_EQ(RUN(&c, &exc, 0x27), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x12345614);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	CHECK(c.rflags & EMU_RFLAGS_AF);
	/* 38 + 45 = 7D: 83, no carry. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x7d;
	CHECK_EQ(RUN(&c, &exc, 0x27), 0);
	CHECK_EQ(al(&c), 0x83);
	CHECK(!(c.rflags & EMU_RFLAGS_CF));
	CHECK(c.rflags & EMU_RFLAGS_SF);
	/* 35 - 47 = EE with a borrow and AF: DAS gives 88, borrow kept. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0xee;
	c.rflags |= EMU_RFLAGS_CF | EMU_RFLAGS_AF;
	CHECK_EQ(RUN(&c, &exc, 0x2f), 0);
	CHECK_EQ(al(&c), 0x88);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	/* 8 + 6 = 0E: AAA makes AX 0104. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x000e;
	CHECK_EQ(RUN(&c, &exc, 0x37), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x0104);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	/* 3 - 8 = FB with AF: AAS makes AX FF05 (borrowed from AH). */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x00fb;
	c.rflags |= EMU_RFLAGS_AF;
	CHECK_EQ(RUN(&c, &exc, 0x3f), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0xff05);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	/* No adjustment: CF and AF cleared, the high nibble dropped. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x1234;
	c.rflags |= EMU_RFLAGS_CF;
	CHECK_EQ(RUN(&c, &exc, 0x37), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1204);
	CHECK(!(c.rflags & (EMU_RFLAGS_CF | EMU_RFLAGS_AF)));
	/* AAM: 63 = 6 * 10 + 3; base 16; base 0 is #DE. AAD undoes it. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x3f;
	CHECK_EQ(RUN(&c, &exc, 0xd4, 0x0a), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x0603);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xd5, 0x0a), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x003f);
	CHECK(c.rflags & EMU_RFLAGS_PF);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xd4, 0x10), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x030f);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xd4, 0x00), 0);
	CHECK_EXC(exc, EMU_X_DE, -1);
	CHECK_EQ(c.gpr[EMU_RAX], 0x030f);
	CHECK_EQ(c.rip, CODE);
	/* SALC: AL = CF ? FF : 00. */
	c = cpu32();
	c.rflags |= EMU_RFLAGS_CF;
	CHECK_EQ(RUN(&c, &exc, 0xd6), 0);
	CHECK_EQ(al(&c), 0xff);
	c.rflags &= ~EMU_RFLAGS_CF;
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xd6), 0);
	CHECK_EQ(al(&c), 0);
	/* None of them exists in 64-bit mode. */
	static const uint8_t inv64[] = { 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0xd6 };
	for (unsigned i = 0; i < sizeof(inv64); i++) {
		c = cpu64();
		CHECK_EQ(run(&c, &inv64[i], 1, &exc), 0);
		CHECK_EXC(exc, EMU_X_UD, -1);
	}
}

static void test_pusha_popa_bound(void)
{
	struct emu_cpu c, before;
	struct emu_exception exc;

	fake_reset();
	c = cpu32();
	for (unsigned i = 0; i < 8; i++)
		c.gpr[i] = 0x11111111u * (i + 1);
	c.gpr[EMU_RSP] = STACK;
	before = c;
	CHECK_EQ(RUN(&c, &exc, 0x60), 0);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 32);
	/* EAX at the top, EDI at the bottom, ESP as it was before the instruction. */
	CHECK_EQ(get32(STACK - 4), 0x11111111);
	CHECK_EQ(get32(STACK - 20), STACK);
	CHECK_EQ(get32(STACK - 32), 0x88888888);
	for (unsigned i = 0; i < 8; i++)
		if (i != EMU_RSP)
			c.gpr[i] = 0;
	put32(STACK - 20, 0xdeadbeef); /* POPA skips the saved ESP */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x61), 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(c.gpr[i], before.gpr[i]);
	/* 16-bit: 66 pusha, 2-byte slots. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x60), 0);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 16);
	CHECK_EQ(fake.mem[STACK - 2] | fake.mem[STACK - 1] << 8, 0x1111);

	/* BOUND: within the signed pair, or #BR with no error code; the register form is #UD. */
	c = cpu32();
	c.gpr[EMU_RBX] = 0x3000;
	put32(0x3000, (uint32_t)-5);
	put32(0x3004, 10);
	c.gpr[EMU_RAX] = (uint32_t)-5;
	CHECK_EQ(RUN(&c, &exc, 0x62, 0x03), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 2);
	c.rip = CODE;
	c.gpr[EMU_RAX] = 11;
	CHECK_EQ(RUN(&c, &exc, 0x62, 0x03), 0);
	CHECK_EXC(exc, EMU_X_BR, -1);
	CHECK_EQ(c.rip, CODE);
	c.gpr[EMU_RAX] = 0xfff0; /* 16-bit: -16, below -5 */
	put32(0x3000, 0x0010fffb);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x62, 0x03), 0);
	CHECK_EXC(exc, EMU_X_BR, -1);
}

static void test_cli_sti(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* CPL 0: fine; STI from IF = 0 starts a shadow, from IF = 1 not. */
	c = cpu32();
	c.rflags = 0x2;
	CHECK_EQ(RUN(&c, &exc, 0xfb), 0);
	CHECK(c.rflags & EMU_RFLAGS_IF);
	CHECK(c.dirty & EMU_DIRTY_STI_SHADOW);
	c.dirty = 0;
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xfb), 0);
	CHECK(!(c.dirty & EMU_DIRTY_STI_SHADOW));
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xfa), 0);
	CHECK(!(c.rflags & EMU_RFLAGS_IF));
	/* CPL 3 with IOPL 0: #GP(0); with IOPL 3: fine. */
	c = cpu32();
	c.cpl = 3;
	c.rflags = 0x202;
	CHECK_EQ(RUN(&c, &exc, 0xfa), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK(c.rflags & EMU_RFLAGS_IF);
	c.rflags |= EMU_RFLAGS_IOPL;
	CHECK_EQ(RUN(&c, &exc, 0xfa), 0);
	CHECK(!exc.valid);
	CHECK(!(c.rflags & EMU_RFLAGS_IF));
	/* Real mode: always. Virtual-8086 mode below IOPL 3: #GP, or VME's virtual IF (not
	 * emulated). */
	c = cpu16();
	CHECK_EQ(RUN(&c, &exc, 0xfb), 0);
	CHECK(c.rflags & EMU_RFLAGS_IF);
	c = cpu16();
	c.cr0 |= EMU_CR0_PE;
	c.rflags = 0x2 | EMU_RFLAGS_VM;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0xfb), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.cr4 |= EMU_CR4_VME;
	CHECK_EQ(RUN(&c, &exc, 0xfb), -ENOTSUP);
}

int main(void)
{
	RUN_TEST(test_decimal);
	RUN_TEST(test_pusha_popa_bound);
	RUN_TEST(test_cli_sti);
	free(fake.mem);
	TEST_EXIT();
}
