/*
 * MMX (mmx.c with sse.c and sse_int.c): MM0-7 as the x87 registers' mantissas in the XSAVE image,
 * TOP set to 0 and every register tagged valid by a completed instruction, the exponent of a
 * written register all ones, EMMS, the #UD/#NM/#MF checks and faults that change nothing; and every
 * MMX arithmetic form run natively on the host CPU and compared.
 */

#include "emu_fake.h"

#define ST(i) (32 + 16 * (i)) /* ST(i) in the image */

static uint8_t image[4096] __attribute__((aligned(64)));

static struct emu_cpu mmx64(void)
{
	struct emu_cpu c = cpu64();

	memset(image, 0, sizeof(image));
	c.xstate = image;
	c.fcw = 0x37f;
	image[0] = 0x7f, image[1] = 0x03;
	return c;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint64_t st_mant(unsigned slot)
{
	uint64_t v;

	memcpy(&v, image + ST(slot), 8);
	return v;
}

static void put_st(unsigned slot, uint64_t mant, uint16_t exp)
{
	memcpy(image + ST(slot), &mant, 8);
	memcpy(image + ST(slot) + 8, &exp, 2);
}

static void test_moves(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = mmx64();
	c.gpr[EMU_RAX] = 0x0102030405060708ull;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0x6e, 0xc0), 0); /* movq %rax,%mm0 */
	CHECK(!exc.valid);
	CHECK_EQ(st_mant(0), 0x0102030405060708ull);
	CHECK_EQ(image[ST(0) + 8], 0xff); /* exponent all ones */
	CHECK_EQ(image[ST(0) + 9], 0xff);
	CHECK_EQ(image[4], 0xff);    /* every register valid */
	CHECK_EQ(image[512] & 1, 1); /* x87 state in use */
	CHECK(c.dirty & EMU_DIRTY_XSTATE);
	CHECK(!(c.dirty & EMU_DIRTY_XMM));
	CHECK_EQ(c.rip, CODE + 4);

	c.rip = CODE;
	c.gpr[EMU_RAX] = 0xffffffff80000001ull;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x6e, 0xc8), 0); /* movd %eax,%mm1: zero-extended */
	CHECK_EQ(st_mant(1), 0x80000001ull);

	/* movq %mm0,(%rbx) and back into %mm2, unaligned (MMX has no alignment rule). */
	c.rip = CODE;
	c.gpr[EMU_RBX] = 0x3001;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x7f, 0x03), 0);
	CHECK_EQ(get64(0x3001), 0x0102030405060708ull);
	put64(0x3001, 0x1122334455667788ull);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x6f, 0x13), 0); /* movq (%rbx),%mm2 */
	CHECK_EQ(st_mant(2), 0x1122334455667788ull);

	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0x7e, 0xd1), 0); /* movq %mm2,%rcx */
	CHECK_EQ(c.gpr[EMU_RCX], 0x1122334455667788ull);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x7e, 0xd1), 0); /* movd %mm2,%ecx */
	CHECK_EQ(c.gpr[EMU_RCX], 0x55667788ull);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x7e, 0x53, 0x10), 0); /* movd %mm2,0x10(%rbx) */
	CHECK_EQ(get32(0x3011), 0x55667788u);

	/* REX.B does not reach MM8: 41 0f 6f d9 is movq %mm1,%mm3. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x41, 0x0f, 0x6f, 0xd9), 0);
	CHECK_EQ(st_mant(3), 0x80000001ull);
	/* movq %mm3,%mm4 through 0f 7f's register form. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x7f, 0xdc), 0);
	CHECK_EQ(st_mant(4), 0x80000001ull);
	/* movntq %mm0,(%rbx); its register form is #UD. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xe7, 0x03), 0);
	CHECK_EQ(get64(0x3001), 0x0102030405060708ull);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xe7, 0xc3), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);

	/* 32-bit protected mode: the same. */
	c = cpu32();
	c.xstate = image;
	c.gpr[EMU_RBX] = 0x3001;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x6f, 0x2b), 0); /* movq (%ebx),%mm5 */
	CHECK_EQ(st_mant(5), 0x0102030405060708ull);
}

/* With TOP = 5, MMn is ST((n - 5) & 7); the instruction leaves TOP 0 and the stack rotated. */
static void test_top(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	uint8_t before[128];

	fake_reset();
	c = mmx64();
	for (unsigned i = 0; i < 8; i++)
		put_st(i, 0x1111111111111111ull * (i + 1), (uint16_t)(0x4000 + i));
	c.fsw = 5 << 11 | 0x41; /* TOP 5, IE and SF set but masked: no ES */
	image[4] = 0x21;
	memcpy(before, image + ST(0), sizeof(before));
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0x7e, 0xd0), 0); /* movq %mm2,%rax */
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 0x6666666666666666ull); /* ST(5): R2 */
	CHECK_EQ(c.fsw, 0x41);
	CHECK_EQ(image[2] | image[3] << 8, 0x41);
	CHECK_EQ(image[4], 0xff);
	for (unsigned i = 0; i < 8; i++)
		CHECK(!memcmp(image + ST(i), before + 16 * ((i - 5) & 7),
			      16)); /* untouched but moved */

	/* A write after the rotation: R6 = ST(6) now, exponent set, the others as they were. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 42;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0x6e, 0xf0), 0); /* movq %rax,%mm6 */
	CHECK_EQ(st_mant(6), 42);
	CHECK_EQ(image[ST(6) + 8] | image[ST(6) + 9] << 8, 0xffff);
	CHECK(!memcmp(image + ST(5), before, 16));

	/* EMMS: every register empty, nothing else changes. */
	c.rip = CODE;
	c.fsw = 3 << 11;
	memcpy(before, image + ST(0), sizeof(before));
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x77), 0);
	CHECK(!exc.valid);
	CHECK_EQ(image[4], 0);
	CHECK_EQ(c.fsw, 3 << 11);
	CHECK(!memcmp(image + ST(0), before, sizeof(before)));
	CHECK_EQ(c.rip, CODE + 2);
}

static void test_faults(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	static uint8_t saved[sizeof(image)];
	static const struct {
		uint64_t cr0_set;
		uint16_t fsw;
		uint8_t vector;
	} cases[] = {
		{ EMU_CR0_EM, 0, EMU_X_UD },
		{ EMU_CR0_TS, 0, EMU_X_NM },
		{ EMU_CR0_EM | EMU_CR0_TS, 0, EMU_X_UD },
		{ 0, 0x2 << 11 | 0x84, EMU_X_MF }, /* ES: an unmasked exception pending */
	};

	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		fake_reset();
		c = mmx64();
		c.cr0 |= cases[k].cr0_set;
		c.fsw = cases[k].fsw;
		memcpy(saved, image, sizeof(image));
		CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0x6e, 0xc0), 0); /* movq %rax,%mm0 */
		CHECK_EXC(exc, cases[k].vector, -1);
		CHECK(!memcmp(saved, image, sizeof(image)));
		CHECK_EQ(c.fsw, cases[k].fsw);
		CHECK_EQ(c.rip, CODE);
		c.rip = CODE;
		CHECK_EQ(RUN(&c, &exc, 0x0f, 0x77), 0); /* emms checks the same */
		CHECK_EXC(exc, cases[k].vector, -1);
		CHECK(!memcmp(saved, image, sizeof(image)));
	}
	/* A pending x87 error with CR0.NE clear goes out as FERR#/IRQ 13: not emulated. */
	c = mmx64();
	c.cr0 &= ~EMU_CR0_NE;
	c.fsw = 0x84;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x77), -ENOTSUP);
	/* CR4.OSFXSR does not matter to MMX. */
	c = mmx64();
	c.cr4 &= ~EMU_CR4_OSFXSR;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xfc, 0xc1), 0); /* paddb %mm1,%mm0 */
	CHECK(!exc.valid);
	/* A #PF on the operand: nothing changes, not even TOP. */
	fake_reset();
	c = mmx64();
	c.fsw = 4 << 11;
	c.gpr[EMU_RBX] = 0x5000;
	fake.fault_lo = 0x5000, fake.fault_hi = 0x6000;
	memcpy(saved, image, sizeof(image));
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xfe, 0x03), 0); /* paddd (%rbx),%mm0 */
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK(!memcmp(saved, image, sizeof(image)));
	CHECK_EQ(c.fsw, 4 << 11);
	/* No image: not emulated. */
	c = mmx64();
	c.xstate = NULL;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x6f, 0xc1), -ENOTSUP);
	/* What has no MMX form: punpcklqdq, psrldq, pclmulqdq without 66; VZEROUPPER. */
	c = mmx64();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x6c, 0xc1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x73, 0xd8, 1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x3a, 0x44, 0xc1, 0), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0x77), -ENOTSUP);
	/* The needs a caller fetches: the image for the MMX form, not for the SSE one. */
	{
		struct emu_insn insn;

		c = mmx64();
		memcpy(fake.mem + CODE, "\x0f\xfc\xc1\x66\x0f\xfc\xc1", 7);
		CHECK_EQ(emu_decode(&insn, &c, NULL, 0, &fake_ops, NULL, &exc), 0);
		CHECK(insn.mmx);
		CHECK(emu_insn_needs(&insn) & EMU_NEED_XSTATE);
		c.rip = CODE + 3;
		CHECK_EQ(emu_decode(&insn, &c, NULL, 0, &fake_ops, NULL, &exc), 0);
		CHECK(!insn.mmx);
		CHECK(!(emu_insn_needs(&insn) & EMU_NEED_XSTATE));
	}
}

/*
 * Run "movq (%rdi),%mm0; movq 8(%rdi),%mm1; INSN; movq %mm0,(%rdi); emms; ret" natively, INSN
 * being the bytes the emulator gets (reg = mm0, rm = mm1); EAX comes back (PMOVMSKB).
 */
static uint32_t native(uint8_t *page, const uint8_t *insn, unsigned n, uint8_t io[16])
{
	static const uint8_t pre[] = { 0x0f, 0x6f, 0x07, 0x0f, 0x6f, 0x4f, 0x08 };
	static const uint8_t post[] = { 0x0f, 0x7f, 0x07, 0x0f, 0x77, 0xc3 };
	uint32_t (*fn)(uint8_t *);

	memcpy(page, pre, sizeof(pre));
	memcpy(page + sizeof(pre), insn, n);
	memcpy(page + sizeof(pre) + n, post, sizeof(post));
	__builtin___clear_cache((char *)page, (char *)page + 64);
	fn = (uint32_t(*)(uint8_t *))(void *)page;
	return fn(io);
}

static uint64_t xorshift(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed;
}

static void test_differential(void)
{
	static const uint8_t ops[] = {
		0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b,
		0x70, 0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd7, 0xd8, 0xd9,
		0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5,
		0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4,
		0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe,
	};
	uint8_t *page = native_page();
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned compared = 0;

	if (!page)
		return;
	fake_reset();
	for (unsigned round = 0; round < 300; round++) {
		for (unsigned k = 0; k < sizeof(ops) + 5; k++) {
			/* The opcodes above, then pshufb, palignr and shifts by an immediate. */
			uint8_t insn[6] = { 0x0f, 0, 0xc1, 0, 0, 0 };
			unsigned n = 3;
			uint8_t io[16];
			uint64_t r = xorshift(&seed);
			struct emu_cpu c = mmx64();
			struct emu_exception exc;
			uint32_t eax, emu_eax;

			if (k < sizeof(ops)) {
				insn[1] = ops[k];
				if (ops[k] == 0x70)
					insn[n++] = (uint8_t)r;
			} else if (k == sizeof(ops)) {
				memcpy(insn, "\x0f\x38\x00\xc1", 4), n = 4;
			} else if (k == sizeof(ops) + 1) {
				memcpy(insn, "\x0f\x3a\x0f\xc1", 4), n = 5;
				insn[4] = (uint8_t)(r % 20);
			} else {
				/* 0f 71-73 /2, /4, /6 on %mm0 (0f 73 /4 does not exist). */
				uint8_t op = (uint8_t)(0x71 + k - sizeof(ops) - 2);
				uint8_t reg = op == 0x73 ? ((r >> 8) & 1 ? 6 : 2)
							 : (uint8_t)(2 + 2 * ((r >> 8) % 3));

				insn[1] = op;
				insn[2] = (uint8_t)(0xc0 | reg << 3);
				insn[3] = (uint8_t)(r % 70), n = 4;
			}
			for (unsigned i = 0; i < 16; i++)
				io[i] = (round & 3) == 0 && i >= 8 ? io[i - 8]
								   : (uint8_t)xorshift(&seed);
			/* Shifts by a register: a count within the lane most of the time. */
			if (insn[1] >= 0xd1 && (insn[1] & 0xf) >= 1 && (insn[1] & 0xf) <= 3 &&
			    round % 4) {
				memset(io + 8, 0, 8);
				io[8] = (uint8_t)(r % 70);
			}
			c.features = EMU_FEAT_SSSE3;
			put_st(0, le64(io), 0);
			put_st(1, le64(io + 8), 0);
			c.gpr[EMU_RAX] = 0;
			CHECK_EQ(run(&c, insn, n, &exc), 0);
			CHECK(!exc.valid);
			emu_eax = (uint32_t)c.gpr[EMU_RAX];
			eax = native(page, insn, n, io);
			if (insn[1] == 0xd7) {
				CHECK_EQ(emu_eax, eax);
			} else if (st_mant(0) != le64(io)) {
				CHECK(!"mmx differs");
				fprintf(stderr, "  %02x %02x %02x differs\n", insn[0], insn[1],
					insn[2]);
			}
			compared++;
		}
	}
	CHECK_EQ(compared, 300 * (sizeof(ops) + 5));
	munmap(page, 4096);
}

int main(void)
{
	RUN_TEST(test_moves);
	RUN_TEST(test_top);
	RUN_TEST(test_faults);
	RUN_TEST(test_differential);
	free(fake.mem);
	TEST_EXIT();
}
