/*
 * The x87 control instructions (x87.c) on the vCPU's XSAVE image: FNINIT's reset values, FNCLEX,
 * FLDCW/FNSTCW and FNSTSW to memory and AX, #NM under CR0.EM/TS, and no emulation without an
 * image. Arithmetic is not emulated and stays -ENOTSUP.
 */
#include "emu_fake.h"

static uint8_t image[4096] __attribute__((aligned(64)));

static struct emu_cpu fpu64(void)
{
	struct emu_cpu c = cpu64();

	memset(image, 0xaa, sizeof(image));
	c.xstate = image;
	c.fcw = 0x27f;
	c.fsw = 0x38a5; /* TOP 7, an unmasked pending exception, ES */
	return c;
}

static void test_fninit_fnclex(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = fpu64();
	CHECK_EQ(RUN(&c, &exc, 0xdb, 0xe2), 0); /* fnclex: exception flags, SF, ES, B clear */
	CHECK(!exc.valid);
	CHECK_EQ(c.fsw, 0x3800);
	CHECK(c.dirty & EMU_DIRTY_XSTATE);
	CHECK_EQ(image[2] | image[3] << 8, 0x3800);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xdb, 0xe3), 0); /* fninit */
	CHECK_EQ(c.fcw, 0x37f);
	CHECK_EQ(c.fsw, 0);
	CHECK_EQ(image[0] | image[1] << 8, 0x37f);
	CHECK_EQ(image[4], 0); /* all registers empty */
	for (unsigned i = 6; i < 24; i++)
		CHECK_EQ(image[i], 0); /* FOP, FIP, FDP */
	CHECK_EQ(image[24], 0xaa);     /* MXCSR untouched */
	CHECK_EQ(c.rip, CODE + 2);
}

static void test_control_and_status_words(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	uint16_t v;

	fake_reset();
	c = fpu64();
	c.gpr[EMU_RBX] = 0x3000;
	fake.mem[0x3000] = 0x7f, fake.mem[0x3001] = 0x02;
	CHECK_EQ(RUN(&c, &exc, 0xd9, 0x2b), 0); /* fldcw (%rbx) */
	CHECK_EQ(c.fcw, 0x27f);
	c.rip = CODE;
	c.fcw = 0x33f;
	CHECK_EQ(RUN(&c, &exc, 0xd9, 0x7b, 0x10), 0); /* fnstcw 0x10(%rbx) */
	memcpy(&v, fake.mem + 0x3010, 2);
	CHECK_EQ(v, 0x33f);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xdd, 0x7b, 0x20), 0); /* fnstsw 0x20(%rbx) */
	memcpy(&v, fake.mem + 0x3020, 2);
	CHECK_EQ(v, 0x38a5);
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0x1111111111111111ull;
	CHECK_EQ(RUN(&c, &exc, 0xdf, 0xe0), 0); /* fnstsw %ax: the rest of RAX kept */
	CHECK_EQ(c.gpr[EMU_RAX], 0x11111111111138a5ull);
}

static void test_faults(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = fpu64();
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0xdb, 0xe3), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	CHECK_EQ(c.fcw, 0x27f);
	c = fpu64();
	c.cr0 |= EMU_CR0_EM;
	CHECK_EQ(RUN(&c, &exc, 0xdf, 0xe0), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	c = fpu64();
	c.xstate = NULL; /* no image: not emulated */
	CHECK_EQ(RUN(&c, &exc, 0xdb, 0xe3), -ENOTSUP);
	c = fpu64();
	CHECK_EQ(RUN(&c, &exc, 0xd9, 0xe8), -ENOTSUP); /* fld1: arithmetic is not emulated */
	CHECK_EQ(RUN(&c, &exc, 0xd9, 0xc0), -ENOTSUP); /* fld %st(0) */
}

int main(void)
{
	RUN_TEST(test_fninit_fnclex);
	RUN_TEST(test_control_and_status_words);
	RUN_TEST(test_faults);
	TEST_EXIT();
}
