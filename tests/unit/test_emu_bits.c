/* Unit tests of the bit scans (BSF, BSR, TZCNT, LZCNT) and a differential test against the host CPU
 * for every operand size, zero and non-zero sources, and the CPUID-dependent TZCNT/LZCNT forms. */
#include <cpuid.h>

#include "emu_fake.h"

static void test_bits_basic(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* bsf %rax, %rcx (48 0f bc c8) */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x8000000000000100ull;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xbc, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 8);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	/* bsr %eax, %ecx: 32-bit, zero-extends. */
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xbd, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 8);
	/* A zero source: ZF set, destination untouched. */
	c = cpu64();
	c.gpr[EMU_RCX] = 0x1234;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xbc, 0xc8), 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(c.gpr[EMU_RCX], 0x1234);
	/* 66: a 16-bit bsf (66 is the operand size here, not a mandatory prefix). */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x10000;
	c.gpr[EMU_RCX] = 0xffffffffffffffffull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xbc, 0xc8), 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF); /* the low 16 bits are zero */
	/* tzcnt with BMI1: a count, CF for a zero source; without BMI1 it is bsf. */
	c = cpu64();
	c.features = EMU_FEAT_BMI1;
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xbc, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 32);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	c.gpr[EMU_RAX] = 1;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xbc, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK(!(c.rflags & EMU_RFLAGS_CF));
	c.features = 0;
	c.gpr[EMU_RCX] = 77;
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xbc, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 77); /* bsf: untouched */
	/* lzcnt (F3 REX.W 0f bd) with the feature: leading zeros of 64 bits. */
	c = cpu64();
	c.features = EMU_FEAT_LZCNT;
	c.gpr[EMU_RAX] = 0x00ff000000000000ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x48, 0x0f, 0xbd, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 8);
	/* 16-bit lzcnt (66 F3 0f bd): within 16 bits, the rest of the register kept. */
	c.gpr[EMU_RAX] = 0x00f0;
	c.gpr[EMU_RCX] = 0xaaaaaaaaaaaaaaaaull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xf3, 0x0f, 0xbd, 0xc8), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 0xaaaaaaaaaaaa0008ull);
	/* A memory source that faults: #PF, nothing changed. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x7000;
	fake.fault_lo = 0x7000;
	fake.fault_hi = 0x8000;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xbc, 0x0b), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(c.rip, CODE);
	fake.fault_lo = fake.fault_hi = 0;
	CHECK(!strcmp(emu_op_name(EMU_OP_LZCNT), "lzcnt"));
	CHECK(emu_op_needs(EMU_OP_TZCNT) & EMU_NEED_CPUID);
}

/* Run "load rax, rcx, flags; INSN (reg = rcx, rm = rax); store rcx, flags" natively. */
static void native(uint8_t *page, const uint8_t *insn, unsigned n, uint64_t io[4])
{
	static const uint8_t pre[] = { 0x48, 0x8b, 0x07, 0x48, 0x8b, 0x4f,
				       0x08, 0xff, 0x77, 0x18, 0x9d };
	static const uint8_t post[] = { 0x9c, 0x5a, 0x48, 0x89, 0x4f, 0x08,
					0x48, 0x89, 0x57, 0x10, 0xc3 };
	void (*fn)(uint64_t *);

	memcpy(page, pre, sizeof(pre));
	memcpy(page + sizeof(pre), insn, n);
	memcpy(page + sizeof(pre) + n, post, sizeof(post));
	__builtin___clear_cache((char *)page, (char *)page + 64);
	fn = (void (*)(uint64_t *))(void *)page;
	fn(io);
}

static void test_bits_differential(void)
{
	/* Prefix sets: none (32-bit), 66 (16-bit), REX.W (64-bit); with or without F3. */
	static const struct {
		uint8_t bytes[3];
		unsigned n;
	} sizes[] = { { { 0 }, 0 }, { { 0x66 }, 1 }, { { 0x48 }, 1 } };
	uint8_t *page = native_page();
	unsigned a, b, c, d;
	uint32_t features = 0;
	uint64_t seed = 0x243f6a8885a308d3ull;
	unsigned compared = 0;

	if (!page)
		return;
	/* The emulated CPU has what the host has, so both run the same instruction. */
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 3)))
		features |= EMU_FEAT_BMI1;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 5)))
		features |= EMU_FEAT_LZCNT;
	fake_reset();
	for (unsigned round = 0; round < 400; round++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		for (unsigned s = 0; s < 3; s++) {
			for (unsigned f3 = 0; f3 < 2; f3++) {
				for (uint8_t op = 0xbc; op <= 0xbd; op++) {
					uint8_t insn[8];
					unsigned n = 0;
					uint64_t src = round % 7 == 0 ? 0 : seed >> (round % 64);
					uint64_t io[4] = { src, 0x5555aaaa5555aaaaull, 0,
							   0x2 | (seed & 0x8d5) };
					struct emu_cpu cpu = cpu64();
					struct emu_exception exc;
					bool counts;
					uint64_t defined;

					if (sizes[s].n && sizes[s].bytes[0] == 0x66)
						insn[n++] = 0x66;
					if (f3)
						insn[n++] = 0xf3;
					if (sizes[s].n && sizes[s].bytes[0] == 0x48)
						insn[n++] = 0x48;
					insn[n++] = 0x0f;
					insn[n++] = op;
					insn[n++] = 0xc8;
					counts = f3 && (op == 0xbc ? features & EMU_FEAT_BMI1
								   : features & EMU_FEAT_LZCNT);
					defined =
					    counts ? EMU_RFLAGS_CF | EMU_RFLAGS_ZF : EMU_RFLAGS_ZF;
					cpu.features = features;
					cpu.gpr[EMU_RAX] = io[0];
					cpu.gpr[EMU_RCX] = io[1];
					cpu.rflags = io[3];
					CHECK_EQ(run(&cpu, insn, n, &exc), 0);
					CHECK(!exc.valid);
					native(page, insn, n, io);
					CHECK_EQ(cpu.rflags & defined, io[2] & defined);
					CHECK_EQ(cpu.gpr[EMU_RCX], io[1]);
					compared++;
				}
			}
		}
	}
	CHECK_EQ(compared, 400 * 12);
	munmap(page, 4096);
}

int main(void)
{
	RUN_TEST(test_bits_basic);
	RUN_TEST(test_bits_differential);
	free(fake.mem);
	TEST_EXIT();
}
