/* Unit tests of SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, SLDT and STR: operand sizes, UMIP, privilege,
 * canonical bases, what reaches the CPU state. */
#include "emu_fake.h"

static void test_store_tables(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gdt = (struct emu_dtable){ 0xffff888000001000ull, 0x7f };
	c.idt = (struct emu_dtable){ 0xfffffe0000000000ull, 0xfff };
	c.gpr[EMU_RAX] = 0x3000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x00), 0); /* sgdt (%rax): 10 bytes */
	CHECK(!exc.valid);
	CHECK_EQ(fake.mem[0x3000] | fake.mem[0x3001] << 8, 0x7f);
	CHECK_EQ(get64(0x3002), 0xffff888000001000ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x08), 0); /* sidt */
	CHECK_EQ(get64(0x3002), 0xfffffe0000000000ull);
	/* 32-bit mode: 6 bytes. */
	c = cpu32();
	c.gdt = (struct emu_dtable){ 0x12345678, 0x27 };
	c.gpr[EMU_RAX] = 0x3100;
	put64(0x3100, ~0ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x00), 0);
	CHECK_EQ(get32(0x3102), 0x12345678);
	CHECK_EQ(fake.mem[0x3106], 0xff); /* nothing past the 6 bytes */
	/* UMIP: only CPL 0 may store them; without UMIP anyone may. */
	c = cpu64();
	c.cpl = 3;
	c.gpr[EMU_RAX] = 0x3000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x00), 0);
	CHECK(!exc.valid);
	c.cr4 |= EMU_CR4_UMIP;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x00), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xc8), 0); /* str %eax */
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* SMSW to a register (all of CR0's low half) and to memory (16 bits). */
	c = cpu64();
	c.gpr[EMU_RCX] = ~0ull;
	c.gpr[EMU_RAX] = 0x3000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xe1), 0); /* smsw %ecx */
	CHECK_EQ(c.gpr[EMU_RCX], c.cr0 & 0xffffffffull);
	put32(0x3000, 0xaaaaaaaa);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x20), 0); /* smsw (%rax) */
	CHECK_EQ(get32(0x3000), 0xaaaa0000u | (uint32_t)(c.cr0 & 0xffff));
	/* SLDT/STR: the selectors; #UD in real mode. */
	c = cpu64();
	c.ldt.selector = 0x28;
	c.tr.selector = 0x40;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xc1), 0); /* sldt %ecx */
	CHECK_EQ(c.gpr[EMU_RCX], 0x28);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xca), 0); /* str %edx */
	CHECK_EQ(c.gpr[EMU_RDX], 0x40);
	c = cpu16();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x00, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
}

static void test_load_tables(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_RAX] = 0x3000;
	fake.mem[0x3000] = 0xff;
	fake.mem[0x3001] = 0x0f;
	put64(0x3002, 0xffffffff81000000ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x18), 0); /* lidt (%rax) */
	CHECK(!exc.valid);
	CHECK_EQ(c.idt.limit, 0xfff);
	CHECK_EQ(c.idt.base, 0xffffffff81000000ull);
	CHECK(c.dirty & EMU_DIRTY_SREGS);
	/* A non-canonical base: #GP(0), nothing loaded. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x3000;
	put64(0x3002, 0x0000800000000000ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x10), 0); /* lgdt */
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.gdt.base, 0);
	/* CPL 3: #GP(0). */
	c = cpu64();
	c.cpl = 3;
	c.gpr[EMU_RAX] = 0x3000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x10), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* A 16-bit operand keeps 24 bits of the base; the register form is another instruction. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0x3000;
	put32(0x3002, 0x12345678);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x01, 0x10), 0);
	CHECK_EQ(c.gdt.base, 0x345678);
	/* LMSW: sets MP, EM, TS and PE; clears the first three; never clears PE. */
	c = cpu32();
	c.gpr[EMU_RCX] = 0xe;
	c.cr0 &= ~(EMU_CR0_MP | EMU_CR0_TS);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf1), 0); /* lmsw %cx */
	CHECK(c.cr0 & EMU_CR0_TS);
	CHECK(c.cr0 & EMU_CR0_EM);
	CHECK(c.cr0 & EMU_CR0_PE);
	c.gpr[EMU_RCX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf1), 0);
	CHECK(!(c.cr0 & (EMU_CR0_TS | EMU_CR0_EM | EMU_CR0_MP)));
	CHECK(c.cr0 & EMU_CR0_PE);
	c = cpu16();
	c.gpr[EMU_RCX] = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf1), 0);
	CHECK(c.cr0 & EMU_CR0_PE); /* from real mode into protected mode */
	c = cpu32();
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf1), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

int main(void)
{
	RUN_TEST(test_store_tables);
	RUN_TEST(test_load_tables);
	free(fake.mem);
	TEST_EXIT();
}
