/*
 * Unit tests of the SSE/SSE2 group: moves between XMM, GPRs and memory (alignment, faults, MMIO
 * reaching the memory callbacks), the integer/bitwise arithmetic, and a differential test that
 * runs each arithmetic instruction natively on the host CPU and compares.
 */

#include "emu_fake.h"

static void set_xmm(struct emu_cpu *c, unsigned i, uint64_t lo, uint64_t hi)
{
	memcpy(c->xmm[i], &lo, 8);
	memcpy(c->xmm[i] + 8, &hi, 8);
}

static uint64_t xmm_lo(const struct emu_cpu *c, unsigned i)
{
	uint64_t v;

	memcpy(&v, c->xmm[i], 8);
	return v;
}

static uint64_t xmm_hi(const struct emu_cpu *c, unsigned i)
{
	uint64_t v;

	memcpy(&v, c->xmm[i] + 8, 8);
	return v;
}

static void test_movd_movq(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* movd %ecx, %xmm15 (66 44 0f 6e f9): what Debian's stock kernel stops on. */
	c = cpu64();
	c.gpr[EMU_RCX] = 0x1122334455667788ull;
	set_xmm(&c, 15, ~0ull, ~0ull);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x44, 0x0f, 0x6e, 0xf9), 0);
	CHECK(!exc.valid);
	CHECK_EQ(xmm_lo(&c, 15), 0x55667788);
	CHECK_EQ(xmm_hi(&c, 15), 0);
	CHECK_EQ(c.rip, CODE + 5);
	CHECK(c.dirty & EMU_DIRTY_XMM);
	/* movq %rcx, %xmm1 (66 48 0f 6e c9). */
	c = cpu64();
	c.gpr[EMU_RCX] = 0x1122334455667788ull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x48, 0x0f, 0x6e, 0xc9), 0);
	CHECK_EQ(xmm_lo(&c, 1), 0x1122334455667788ull);
	/* movd %xmm2, %eax (66 0f 7e d0): zero-extends RAX. */
	c = cpu64();
	c.gpr[EMU_RAX] = ~0ull;
	set_xmm(&c, 2, 0xaabbccdd11223344ull, 5);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x7e, 0xd0), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x11223344);
	/* movd %xmm2, (%rbx) and movq %xmm2, (%rbx) (REX.W). */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x3000;
	set_xmm(&c, 2, 0xaabbccdd11223344ull, 5);
	put64(0x3000, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x7e, 0x13), 0);
	CHECK_EQ(get64(0x3000), 0x11223344);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x48, 0x0f, 0x7e, 0x13), 0);
	CHECK_EQ(get64(0x3000), 0xaabbccdd11223344ull);
	/* movq (%rbx), %xmm3 (f3 0f 7e 1b): upper half cleared. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x3000;
	set_xmm(&c, 3, 1, ~0ull);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x7e, 0x1b), 0);
	CHECK_EQ(xmm_lo(&c, 3), 0xaabbccdd11223344ull);
	CHECK_EQ(xmm_hi(&c, 3), 0);
	/* movq %xmm3, %xmm4 (66 0f d6 dc): the register destination's upper half cleared. */
	set_xmm(&c, 4, 7, 7);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xd6, 0xdc), 0);
	CHECK_EQ(xmm_lo(&c, 4), 0xaabbccdd11223344ull);
	CHECK_EQ(xmm_hi(&c, 4), 0);
	/* #AC for the 8-byte forms at CPL 3 with CR0.AM and RFLAGS.AC, like movd's. */
	c = cpu64();
	c.cpl = 3;
	c.cr0 |= EMU_CR0_AM;
	c.rflags |= EMU_RFLAGS_AC;
	c.gpr[EMU_RAX] = 0x2001;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x7e, 0x00), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xd6, 0x00), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x6e, 0x00), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	/* Without a 66/F3 prefix these are MMX instructions: not emulated. */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x6e, 0xc9), -ENOTSUP);
	/* VEX forms are not either. */
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf9, 0x6e, 0xc9), -ENOTSUP);
}

static void test_sse_checks(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.cr4 &= ~EMU_CR4_OSFXSR;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xef, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = cpu64();
	c.cr0 |= EMU_CR0_EM;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xef, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = cpu64();
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xef, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	CHECK_EQ(c.rip, CODE);
	CHECK(!c.dirty);
	/* LOCK is #UD. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x66, 0x0f, 0x6f, 0x03), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* pmovmskb has no memory form; movntdq no register form. */
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xd7, 0x03), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xe7, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
}

static void test_moves_128(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3000, 0x0102030405060708ull);
	put64(0x3008, 0x1112131415161718ull);
	/* movdqa (%rbx), %xmm0; movdqu, movaps, movups, movapd, movupd likewise. */
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x6f, 0x03), 0);
	CHECK_EQ(xmm_lo(&c, 0), 0x0102030405060708ull);
	CHECK_EQ(xmm_hi(&c, 0), 0x1112131415161718ull);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x6f, 0x0b), 0);
	CHECK_EQ(xmm_hi(&c, 1), 0x1112131415161718ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x28, 0x13), 0);
	CHECK_EQ(xmm_lo(&c, 2), 0x0102030405060708ull);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x10, 0x1b), 0);
	CHECK_EQ(xmm_hi(&c, 3), 0x1112131415161718ull);
	/* Stores: movdqu %xmm0, 0x40(%rbx); movntdq %xmm0, 0x50(%rbx); movaps %xmm0, %xmm5. */
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x7f, 0x43, 0x41), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get64(0x3041), 0x0102030405060708ull);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xe7, 0x43, 0x50), 0);
	CHECK_EQ(get64(0x3058), 0x1112131415161718ull);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x29, 0xc5), 0);
	CHECK_EQ(xmm_hi(&c, 5), 0x1112131415161718ull);
	/* Aligned forms on a misaligned address: #GP(0) whatever CR0.AM says; unaligned fine. */
	c.gpr[EMU_RBX] = 0x3004;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x6f, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x7f, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x29, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xef, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x6f, 0x03), 0);
	CHECK(!exc.valid);
	/* A page fault on a store: #PF with W, nothing changed. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x7000;
	fake.fault_lo = 0x7000;
	fake.fault_hi = 0x8000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x7f, 0x03), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(exc.cr2, 0x7000);
	CHECK_EQ(c.rip, CODE);
	/* A memory callback error (an operand the caller cannot reach) is not emulated. */
	fake.fault_lo = fake.fault_hi = 0;
	fake.error = -EFAULT;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x6f, 0x03), -EFAULT);
	fake.error = 0;
	/* 32-bit mode: a segment limit. */
	c = cpu32();
	c.seg[EMU_DS].limit = 0x3007;
	c.gpr[EMU_RBX] = 0x3000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x6f, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

static void test_arith(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	set_xmm(&c, 0, 0x00ff00ff00ff00ffull, 0x8000000000000001ull);
	set_xmm(&c, 1, 0x0101010101010101ull, 0x8000000000000001ull);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xfc, 0xc1), 0); /* paddb */
	CHECK_EQ(xmm_lo(&c, 0), 0x0100010001000100ull);
	CHECK_EQ(xmm_hi(&c, 0), 0x2); /* 0x80 + 0x80 wraps to 0 */
	set_xmm(&c, 0, 5, 0);
	set_xmm(&c, 1, 7, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xfb, 0xc1), 0); /* psubq */
	CHECK_EQ(xmm_lo(&c, 0), ~0ull - 1);
	set_xmm(&c, 0, 0x1234, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xef, 0xc0), 0); /* pxor %xmm0, %xmm0 */
	CHECK_EQ(xmm_lo(&c, 0) | xmm_hi(&c, 0), 0);
	set_xmm(&c, 1, 0x80ff007f01000080ull, 0x8000000000000000ull);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xd7, 0xc1), 0); /* pmovmskb %xmm1, %eax */
	CHECK_EQ(c.gpr[EMU_RAX], 0x80c1);
	set_xmm(&c, 1, 0x0000000200000001ull, 0x0000000400000003ull);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x70, 0xc1, 0x1b), 0); /* pshufd $0x1b */
	CHECK_EQ(xmm_lo(&c, 0), 0x0000000300000004ull);
	CHECK_EQ(xmm_hi(&c, 0), 0x0000000100000002ull);
	CHECK_EQ(c.rip, CODE + 5); /* the immediate counts */
	/* A memory source, with REX-extended registers: pcmpeqd (%r9), %xmm10. */
	c = cpu64();
	c.gpr[EMU_R9] = 0x3000;
	put64(0x3000, 0x0000000500000006ull);
	put64(0x3008, 0);
	set_xmm(&c, 10, 0x0000000500000007ull, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x45, 0x0f, 0x76, 0x11), 0);
	CHECK_EQ(xmm_lo(&c, 10), 0xffffffff00000000ull);
	CHECK_EQ(xmm_hi(&c, 10), ~0ull);
}

/*
 * Run "movdqu (%rdi),%xmm0; movdqu 16(%rdi),%xmm1; INSN; movdqu %xmm0,(%rdi); ret" natively,
 * INSN being the same bytes the emulator gets (reg = xmm0, rm = xmm1).
 */
static uint32_t native(uint8_t *page, const uint8_t *insn, unsigned n, uint8_t io[32])
{
	static const uint8_t pre[] = { 0xf3, 0x0f, 0x6f, 0x07, 0xf3, 0x0f, 0x6f, 0x4f, 0x10 };
	static const uint8_t post[] = { 0xf3, 0x0f, 0x7f, 0x07, 0xc3 };
	uint32_t (*fn)(uint8_t *);

	memcpy(page, pre, sizeof(pre));
	memcpy(page + sizeof(pre), insn, n);
	memcpy(page + sizeof(pre) + n, post, sizeof(post));
	__builtin___clear_cache((char *)page, (char *)page + 64);
	fn = (uint32_t(*)(uint8_t *))(void *)page;
	return fn(io);
}

/* 32 bytes of xorshift output. */
static void fill_random(uint8_t io[32], uint64_t *seed)
{
	for (unsigned i = 0; i < 32; i++) {
		*seed ^= *seed << 13;
		*seed ^= *seed >> 7;
		*seed ^= *seed << 17;
		io[i] = (uint8_t)*seed;
	}
}

static void test_differential(void)
{
	static const uint8_t ops[] = {
		0xef, 0xeb, 0xdb, 0xdf, 0xfc, 0xfd, 0xfe, 0xd4, 0xf8, 0xf9, 0xfa, 0xfb, 0x74, 0x75,
		0x76, 0x70, 0x60, 0x61, 0x62, 0x68, 0x69, 0x6a, 0x6c, 0x6d,
		/* sse_int.c: packs, compares, saturating arithmetic, min/max, averages,
		 * multiplies, PSADBW, shifts by a register */
		0x63, 0x64, 0x65, 0x66, 0x67, 0x6b, 0xd1, 0xd2, 0xd3, 0xd5, 0xd8, 0xd9, 0xda, 0xdc,
		0xdd, 0xde, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xec, 0xed, 0xee,
		0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6
	};
	uint8_t *page = native_page();
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned compared = 0;

	if (!page)
		return;
	fake_reset();
	for (unsigned round = 0; round < 200; round++) {
		for (unsigned k = 0; k < sizeof(ops); k++) {
			uint8_t insn[5] = { 0x66, 0x0f, ops[k], 0xc1, 0 };
			unsigned n = ops[k] == 0x70 ? 5 : 4;
			uint8_t io[32];
			struct emu_cpu c = cpu64();
			struct emu_exception exc;
			uint32_t eax;

			for (unsigned i = 0; i < 32; i++) {
				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				/* Equal lanes now and then, so PCMPEQ sees both answers. */
				io[i] = (round & 3) == 0 && i >= 16 ? io[i - 16] : (uint8_t)seed;
			}
			insn[4] = (uint8_t)seed;
			/* Shifts by a register: a count within the lane most of the time. */
			if (((ops[k] & 0xf0) == 0xd0 || (ops[k] & 0xf0) == 0xe0 ||
			     (ops[k] & 0xf0) == 0xf0) &&
			    (ops[k] & 0xf) >= 1 && (ops[k] & 0xf) <= 3 && round % 4) {
				memset(io + 16, 0, 8);
				io[16] = (uint8_t)(seed % 70);
			}
			memcpy(c.xmm[0], io, 16);
			memcpy(c.xmm[1], io + 16, 16);
			CHECK_EQ(run(&c, insn, n, &exc), 0);
			CHECK(!exc.valid);
			native(page, insn, n, io);
			if (memcmp(c.xmm[0], io, 16)) {
				CHECK(!"sse differs");
				fprintf(stderr, "  66 0f %02x differs\n", ops[k]);
			}
			compared++;
			/* pmovmskb %xmm1, %eax on the same input. */
			{
				static const uint8_t pm[] = { 0x66, 0x0f, 0xd7, 0xc1 };

				memcpy(c.xmm[1], io + 16, 16);
				CHECK_EQ(run(&c, pm, sizeof(pm), &exc), 0);
				eax = native(page, pm, sizeof(pm), io);
				CHECK_EQ(c.gpr[EMU_RAX], eax);
			}
		}
	}
	CHECK_EQ(compared, 200 * sizeof(ops));
	/* SSSE3 and PCLMUL, with the CPUID bits: pshufb, palignr $imm, pclmulqdq $imm. */
	for (unsigned round = 0; round < 300; round++) {
		uint8_t b[3][6] = { { 0x66, 0x0f, 0x38, 0x00, 0xc1 },
				    { 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0 },
				    { 0x66, 0x0f, 0x3a, 0x44, 0xc1, 0 } };
		static const unsigned len[3] = { 5, 6, 6 };

		for (unsigned k = 0; k < 3; k++) {
			uint8_t io[32];
			struct emu_cpu c = cpu64();
			struct emu_exception exc;

			fill_random(io, &seed);
			b[1][5] = (uint8_t)(seed >> 8) % 40; /* palignr: shifts up to past 32 */
			b[2][5] = (uint8_t)(seed >> 16) & 0x11;
			c.features = EMU_FEAT_SSSE3 | EMU_FEAT_PCLMUL;
			memcpy(c.xmm[0], io, 16);
			memcpy(c.xmm[1], io + 16, 16);
			CHECK_EQ(run(&c, b[k], len[k], &exc), 0);
			CHECK(!exc.valid);
			native(page, b[k], len[k], io);
			if (memcmp(c.xmm[0], io, 16)) {
				CHECK(!"ssse3/pclmul differs");
				fprintf(stderr, "  %02x %02x differs\n", b[k][2], b[k][3]);
			}
			compared++;
			/* Without the CPUID bit: #UD. */
			c = cpu64();
			CHECK_EQ(run(&c, b[k], len[k], &exc), 0);
			CHECK_EXC(exc, EMU_X_UD, -1);
		}
	}
	CHECK_EQ(compared, 200 * sizeof(ops) + 900);
	/* Shifts by an immediate: 66 0f 71-73 /r with ModRM c0|reg<<3 (on %xmm0). */
	{
		static const uint8_t shifts[][2] = { { 0x71, 2 }, { 0x71, 4 }, { 0x71, 6 },
						     { 0x72, 2 }, { 0x72, 4 }, { 0x72, 6 },
						     { 0x73, 2 }, { 0x73, 3 }, { 0x73, 6 },
						     { 0x73, 7 } };
		static const uint8_t counts[] = { 0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64, 200 };

		for (unsigned k = 0; k < sizeof(shifts) / sizeof(shifts[0]); k++) {
			for (unsigned j = 0; j < sizeof(counts); j++) {
				uint8_t insn[5] = { 0x66, 0x0f, shifts[k][0],
						    (uint8_t)(0xc0 | shifts[k][1] << 3),
						    counts[j] };
				uint8_t io[32];
				struct emu_cpu c = cpu64();
				struct emu_exception exc;

				fill_random(io, &seed);
				memcpy(c.xmm[0], io, 16);
				CHECK_EQ(run(&c, insn, 5, &exc), 0);
				CHECK(!exc.valid);
				native(page, insn, 5, io);
				CHECK(!memcmp(c.xmm[0], io, 16));
				compared++;
			}
		}
	}
	munmap(page, 4096);
}

int main(void)
{
	RUN_TEST(test_movd_movq);
	RUN_TEST(test_sse_checks);
	RUN_TEST(test_moves_128);
	RUN_TEST(test_arith);
	RUN_TEST(test_differential);
	free(fake.mem);
	TEST_EXIT();
}
