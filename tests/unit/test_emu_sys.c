/* Unit tests of the emulator's system instructions (sys.c) and the CPUID feature mapping. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu_fake.h"

/* XCR0 components, as the SDM numbers them. */
#define X87 (1ull << 0)
#define SSE (1ull << 1)
#define AVX (1ull << 2)
#define BNDREGS (1ull << 3)
#define BNDCSR (1ull << 4)
#define OPMASK (1ull << 5)
#define ZMM_HI256 (1ull << 6)
#define HI16_ZMM (1ull << 7)
#define PKRU (1ull << 9)
#define TILECFG (1ull << 17)
#define TILEDATA (1ull << 18)
#define AVX512 (OPMASK | ZMM_HI256 | HI16_ZMM)
#define XCR0_SUPPORTED (X87 | SSE | AVX | BNDREGS | BNDCSR | AVX512 | PKRU | TILECFG | TILEDATA)

#define ALL_FEATURES                                                                               \
	(EMU_FEAT_CLFSH | EMU_FEAT_XSAVE | EMU_FEAT_PCID | EMU_FEAT_INVPCID |                      \
	 EMU_FEAT_CLFLUSHOPT | EMU_FEAT_CLWB | EMU_FEAT_RDPID | EMU_FEAT_RDTSCP | EMU_FEAT_RDPRU | \
	 EMU_FEAT_XGETBV1 | EMU_FEAT_LZCNT | EMU_FEAT_BMI1 | EMU_FEAT_LAHF64 | EMU_FEAT_XSAVEOPT | \
	 EMU_FEAT_XSAVEC | EMU_FEAT_XSAVES | EMU_FEAT_SSSE3 | EMU_FEAT_PCLMUL)

/* A guest whose CPUID has every feature here and whose OS enabled XSAVE with x87 and SSE. */
static struct emu_cpu sys_setup(struct emu_cpu c)
{
	c.features = ALL_FEATURES;
	c.cr4 |= EMU_CR4_OSXSAVE;
	c.xcr0 = X87 | SSE;
	c.xcr0_supported = XCR0_SUPPORTED;
	return c;
}

static struct emu_cpu sys64(void)
{
	return sys_setup(cpu64());
}

static struct emu_cpu sys32(void)
{
	return sys_setup(cpu32());
}

static struct emu_cpu sys16(void)
{
	return sys_setup(cpu16());
}

/* Virtual-8086 mode: protected mode with RFLAGS.VM, which the glue reports as CPL 3. */
static struct emu_cpu sys_v86(void)
{
	struct emu_cpu c = sys32();

	c.rflags |= EMU_RFLAGS_VM;
	c.cpl = 3;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		c.seg[i].limit = 0xffff;
	return c;
}

/* Like RUN, but keeps the decoded instruction. */
static int run_insn(struct emu_cpu *c, const uint8_t *bytes, unsigned n, struct emu_insn *insn,
		    struct emu_exception *exc)
{
	memcpy(fake.mem + c->rip, bytes, n);
	return emu_step(c, bytes, n, &fake_ops, NULL, insn, exc);
}

#define RUN_INSN(c, insn, exc, ...)                                                                \
	({                                                                                         \
		static const uint8_t b_[] = { __VA_ARGS__ };                                       \
		run_insn((c), b_, sizeof(b_), (insn), (exc));                                      \
	})

static void test_names_needs(void)
{
	static const struct {
		enum emu_op op;
		const char *name;
		unsigned needs;
	} ops[] = {
		{ EMU_OP_XGETBV, "xgetbv", EMU_NEED_XCR0 | EMU_NEED_CPUID },
		{ EMU_OP_XSETBV, "xsetbv", EMU_NEED_XCR0 | EMU_NEED_CPUID },
		{ EMU_OP_CLFLUSH, "clflush", EMU_NEED_CPUID },
		{ EMU_OP_CLFLUSHOPT, "clflushopt", EMU_NEED_CPUID },
		{ EMU_OP_CLWB, "clwb", EMU_NEED_CPUID },
		{ EMU_OP_INVPCID, "invpcid", EMU_NEED_CPUID },
		{ EMU_OP_WBINVD, "wbinvd", 0 },
		{ EMU_OP_RDTSCP, "rdtscp", EMU_NEED_CPUID | EMU_NEED_TSC },
		{ EMU_OP_RDPID, "rdpid", EMU_NEED_CPUID | EMU_NEED_TSC },
		{ EMU_OP_RDPRU, "rdpru", EMU_NEED_CPUID },
	};

	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		CHECK(!strcmp(emu_op_name(ops[i].op), ops[i].name));
		CHECK_EQ(emu_op_needs(ops[i].op), ops[i].needs);
		/* Nothing here touches x87/SSE state. */
		CHECK(!(emu_op_needs(ops[i].op) & EMU_NEED_FPU));
	}
	/* Every name is distinct, so stats keyed by name do not merge two instructions. */
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		for (unsigned j = i + 1; j < sizeof(ops) / sizeof(ops[0]); j++)
			CHECK(strcmp(emu_op_name(ops[i].op), emu_op_name(ops[j].op)));
	CHECK_EQ(emu_op_needs(EMU_OP_COUNT), 0);
	CHECK(!strcmp(emu_op_name((enum emu_op)(EMU_OP_COUNT + 5)), "?"));
}

/* A CPUID table for emu_features_from_cpuid: leaves not listed are absent. */
struct fake_leaf {
	uint32_t function, index, regs[4];
};

struct fake_cpuid {
	struct fake_leaf leaf[16];
	unsigned n, calls;
	uint32_t asked_above; /* a leaf above the table's maxima was asked for */
};

static int fake_cpuid_leaf(void *opaque, uint32_t function, uint32_t index, uint32_t out[4])
{
	struct fake_cpuid *t = opaque;

	t->calls++;
	for (unsigned i = 0; i < t->n; i++) {
		if (t->leaf[i].function == function && t->leaf[i].index == index) {
			memcpy(out, t->leaf[i].regs, sizeof(t->leaf[i].regs));
			return 0;
		}
	}
	memset(out, 0, 4 * sizeof(uint32_t));
	return -1;
}

static void fake_cpuid_set(struct fake_cpuid *t, uint32_t function, uint32_t index, unsigned reg,
			   uint32_t v)
{
	for (unsigned i = 0; i < t->n; i++) {
		if (t->leaf[i].function == function && t->leaf[i].index == index) {
			t->leaf[i].regs[reg] = v;
			return;
		}
	}
	if (t->n == sizeof(t->leaf) / sizeof(t->leaf[0]))
		abort();
	t->leaf[t->n] = (struct fake_leaf){ function, index, { 0, 0, 0, 0 } };
	t->leaf[t->n++].regs[reg] = v;
}

/* The maximum leaves, with every mapped leaf present and empty. */
static void fake_cpuid_init(struct fake_cpuid *t, uint32_t max_basic, uint32_t max_ext)
{
	memset(t, 0, sizeof(*t));
	fake_cpuid_set(t, 0, 0, 0, max_basic);
	fake_cpuid_set(t, 0x80000000, 0, 0, max_ext);
	fake_cpuid_set(t, 1, 0, 0, 0);
	fake_cpuid_set(t, 7, 0, 0, 0);
	fake_cpuid_set(t, 0xd, 0, 0, 0);
	fake_cpuid_set(t, 0xd, 1, 0, 0);
	fake_cpuid_set(t, 0x80000001, 0, 0, 0);
	fake_cpuid_set(t, 0x80000008, 0, 0, 0);
}

static void test_features_from_cpuid(void)
{
	enum { EAX, EBX, ECX, EDX };
	static const struct {
		uint32_t function, index;
		unsigned reg, bit;
		uint32_t feature;
	} map[] = {
		{ 1, 0, EDX, 19, EMU_FEAT_CLFSH },
		{ 1, 0, ECX, 26, EMU_FEAT_XSAVE },
		{ 1, 0, ECX, 17, EMU_FEAT_PCID },
		{ 7, 0, EBX, 10, EMU_FEAT_INVPCID },
		{ 7, 0, EBX, 23, EMU_FEAT_CLFLUSHOPT },
		{ 7, 0, EBX, 24, EMU_FEAT_CLWB },
		{ 7, 0, ECX, 22, EMU_FEAT_RDPID },
		{ 0x80000001, 0, EDX, 27, EMU_FEAT_RDTSCP },
		{ 0x80000008, 0, EBX, 4, EMU_FEAT_RDPRU },
		{ 0xd, 1, EAX, 2, EMU_FEAT_XGETBV1 },
		{ 0x80000001, 0, ECX, 5, EMU_FEAT_LZCNT },
		{ 7, 0, EBX, 3, EMU_FEAT_BMI1 },
		{ 0x80000001, 0, ECX, 0, EMU_FEAT_LAHF64 },
		{ 0xd, 1, EAX, 0, EMU_FEAT_XSAVEOPT },
		{ 0xd, 1, EAX, 1, EMU_FEAT_XSAVEC },
		{ 0xd, 1, EAX, 3, EMU_FEAT_XSAVES },
		{ 1, 0, ECX, 9, EMU_FEAT_SSSE3 },
		{ 1, 0, ECX, 1, EMU_FEAT_PCLMUL },
	};
	const unsigned n = sizeof(map) / sizeof(map[0]);
	struct fake_cpuid t;
	uint32_t all = 0;

	/* Nothing set: nothing found. */
	fake_cpuid_init(&t, 0xd, 0x80000008);
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), 0);
	CHECK(t.calls > 0);

	/* Each bit alone maps to its feature and nothing else. */
	for (unsigned i = 0; i < n; i++) {
		fake_cpuid_init(&t, 0xd, 0x80000008);
		fake_cpuid_set(&t, map[i].function, map[i].index, map[i].reg, 1u << map[i].bit);
		CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), map[i].feature);
		all |= map[i].feature;
	}
	CHECK_EQ(all, ALL_FEATURES);

	/* Everything set except the mapped bits: nothing found (no neighbouring bit counts). */
	fake_cpuid_init(&t, 0xd, 0x80000008);
	for (unsigned l = 0; l < t.n; l++)
		if (t.leaf[l].function != 0 && t.leaf[l].function != 0x80000000)
			for (unsigned r = 0; r < 4; r++)
				t.leaf[l].regs[r] = ~0u;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned l = 0; l < t.n; l++)
			if (t.leaf[l].function == map[i].function &&
			    t.leaf[l].index == map[i].index)
				t.leaf[l].regs[map[i].reg] &= ~(1u << map[i].bit);
	}
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), 0);

	/* Everything: every feature. */
	fake_cpuid_init(&t, 0xd, 0x80000008);
	for (unsigned i = 0; i < n; i++)
		for (unsigned l = 0; l < t.n; l++)
			if (t.leaf[l].function == map[i].function &&
			    t.leaf[l].index == map[i].index)
				t.leaf[l].regs[map[i].reg] |= 1u << map[i].bit;
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), ALL_FEATURES);

	/*
	 * Leaves above the maximum the guest is told about do not exist, even when the table
	 * (like a real CPU answering an out-of-range leaf) has data for them.
	 */
	t.leaf[0].regs[EAX] = 7; /* no leaf 0xd */
#define LEAF_D_FEATURES (EMU_FEAT_XGETBV1 | EMU_FEAT_XSAVEOPT | EMU_FEAT_XSAVEC | EMU_FEAT_XSAVES)
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), ALL_FEATURES & ~LEAF_D_FEATURES);
	t.leaf[0].regs[EAX] = 6; /* no leaf 7 either */
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 EMU_FEAT_CLFSH | EMU_FEAT_XSAVE | EMU_FEAT_PCID | EMU_FEAT_RDTSCP |
		     EMU_FEAT_RDPRU | EMU_FEAT_LZCNT | EMU_FEAT_LAHF64 | EMU_FEAT_SSSE3 |
		     EMU_FEAT_PCLMUL);
	t.leaf[0].regs[EAX] = 0; /* only leaf 0 */
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 EMU_FEAT_RDTSCP | EMU_FEAT_RDPRU | EMU_FEAT_LZCNT | EMU_FEAT_LAHF64);
	t.leaf[0].regs[EAX] = 0xd;
	t.leaf[1].regs[EAX] = 0x80000007; /* no 0x80000008 */
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), ALL_FEATURES & ~EMU_FEAT_RDPRU);
	t.leaf[1].regs[EAX] = 0x80000000; /* no extended leaves at all */
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 ALL_FEATURES &
		     ~(EMU_FEAT_RDPRU | EMU_FEAT_RDTSCP | EMU_FEAT_LZCNT | EMU_FEAT_LAHF64));
	t.leaf[1].regs[EAX] = 0; /* garbage below 0x80000000: no extended leaves */
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 ALL_FEATURES &
		     ~(EMU_FEAT_RDPRU | EMU_FEAT_RDTSCP | EMU_FEAT_LZCNT | EMU_FEAT_LAHF64));
	/* Maxima above the mapped leaves change nothing. */
	t.leaf[0].regs[EAX] = 0x20;
	t.leaf[1].regs[EAX] = 0x80000021;
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), ALL_FEATURES);

	/* Leaf 0 or 0x80000000 absent (the callback fails): that whole range is absent. */
	t.leaf[0].function = 0x4fffffff;
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 EMU_FEAT_RDTSCP | EMU_FEAT_RDPRU | EMU_FEAT_LZCNT | EMU_FEAT_LAHF64);
	t.leaf[0].function = 0;
	t.leaf[1].function = 0x8fffffff;
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 ALL_FEATURES &
		     ~(EMU_FEAT_RDPRU | EMU_FEAT_RDTSCP | EMU_FEAT_LZCNT | EMU_FEAT_LAHF64));
	t.leaf[1].function = 0x80000000;

	/* A leaf within the maximum that the callback reports absent: skipped. */
	for (unsigned l = 0; l < t.n; l++)
		if (t.leaf[l].function == 7)
			t.leaf[l].function = 0x4ffffffe;
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 ALL_FEATURES & ~(EMU_FEAT_INVPCID | EMU_FEAT_CLFLUSHOPT | EMU_FEAT_CLWB |
				  EMU_FEAT_RDPID | EMU_FEAT_BMI1));

	/*
	 * Subleaves: XGETBV1 is 0xd.1 EAX[2]; 0xd.0 EAX[2] is the AVX state component, which
	 * says nothing about XGETBV. Leaf 7 features come from subleaf 0 only.
	 */
	fake_cpuid_init(&t, 0xd, 0x80000008);
	fake_cpuid_set(&t, 0xd, 0, EAX, 0x7);
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), 0);
	fake_cpuid_set(&t, 0xd, 1, EAX, 0xf);
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t),
		 EMU_FEAT_XGETBV1 | EMU_FEAT_XSAVEOPT | EMU_FEAT_XSAVEC | EMU_FEAT_XSAVES);
	fake_cpuid_set(&t, 0xd, 1, EAX, ~0xfu);
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), 0);
	fake_cpuid_set(&t, 7, 1, EBX, ~0u);
	fake_cpuid_set(&t, 7, 1, ECX, ~0u);
	CHECK_EQ(emu_features_from_cpuid(fake_cpuid_leaf, &t), 0);
}

static void test_xgetbv(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* ECX = 0: EDX:EAX = XCR0; the upper halves of RAX and RDX are cleared. */
	c = sys64();
	c.xcr0 = 0x00000002000602e7ull;
	c.gpr[EMU_RAX] = 0x1111111111111111ull;
	c.gpr[EMU_RDX] = 0x2222222222222222ull;
	c.gpr[EMU_RCX] = 0xffffffff00000000ull; /* upper half of RCX ignored */
	c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_XGETBV);
	CHECK_EQ(c.gpr[EMU_RAX], 0x000602e7);
	CHECK_EQ(c.gpr[EMU_RDX], 0x2);
	CHECK_EQ(c.gpr[EMU_RCX], 0xffffffff00000000ull);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK(!(c.rflags & EMU_RFLAGS_RF));
	CHECK_EQ(c.rflags & ARITH_FLAGS, ARITH_FLAGS); /* flags untouched */
	CHECK_EQ(c.xcr0, 0x00000002000602e7ull);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(fake.reads + fake.writes, 0);

	/* Works at CPL 3, in 32-bit protected mode and in real mode. */
	c = sys64();
	c.cpl = 3;
	c.xcr0 = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 7);
	c = sys32();
	c.xcr0 = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 7);
	CHECK_EQ(c.rip, CODE + 3);
	c = sys16();
	c.xcr0 = X87 | SSE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 3);

	/* ECX = 1 (XCR0 & XINUSE) only with the XGETBV1 feature; #GP(0) without it. */
	c = sys64();
	c.xcr0 = X87 | SSE | AVX;
	c.gpr[EMU_RCX] = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX] & ~c.xcr0, 0); /* never a component that is not enabled */
	CHECK_EQ(c.gpr[EMU_RDX], 0);
	c = sys64();
	c.features &= ~EMU_FEAT_XGETBV1;
	c.gpr[EMU_RCX] = 1;
	c.gpr[EMU_RAX] = 0x55;
	c.rflags |= EMU_RFLAGS_RF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	CHECK_EQ(c.rip, CODE);
	CHECK(c.rflags & EMU_RFLAGS_RF); /* a fault leaves RF for the handler's IRET */

	/* Any other index: #GP(0). */
	c = sys64();
	for (uint32_t ecx = 2; ecx < 0x10; ecx++) {
		c.gpr[EMU_RCX] = ecx;
		CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
		CHECK_EXC(exc, EMU_X_GP, 0);
	}
	c.gpr[EMU_RCX] = 0xffffffff;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RCX] = 0x80000000;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.rip, CODE);
	/* Real mode: #GP without an error code. */
	c = sys16();
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);

	/* #UD without the XSAVE feature or without CR4.OSXSAVE, before the index check. */
	c = sys64();
	c.features &= ~EMU_FEAT_XSAVE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = sys64();
	c.cr4 &= ~EMU_CR4_OSXSAVE;
	c.gpr[EMU_RCX] = 5;
	c.gpr[EMU_RAX] = 0x55;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	CHECK_EQ(c.rip, CODE);

	/* LOCK: #UD. A mandatory-prefix form or the memory form (LGDT) is another instruction. */
	c = sys64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x01, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x01, 0xd0), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x01, 0xd0), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x18), 0); /* lidt: the memory form */
	CHECK(!exc.valid);
	c = sys64();
	CHECK_EQ(c.rip, CODE);
	/* REX is not a mandatory prefix: still XGETBV. */
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0x01, 0xd0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 4);
}

/* XSETBV with EDX:EAX = v at ECX = 0 on a fresh CPU: 0 when accepted, else the vector. */
static int xsetbv(uint64_t v, struct emu_cpu *c)
{
	struct emu_exception exc;

	*c = sys64();
	c->gpr[EMU_RAX] = (uint32_t)v;
	c->gpr[EMU_RDX] = v >> 32;
	if (RUN(c, &exc, 0x0f, 0x01, 0xd1) != 0)
		return -1;
	if (!exc.valid)
		return 0;
	if (!exc.has_error_code || exc.error_code != 0)
		return -2;
	return exc.vector;
}

static void test_xsetbv(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;
	static const uint64_t bad[] = {
		0,					/* x87 clear */
		SSE,					/* x87 clear */
		SSE | AVX,				/* x87 clear */
		X87 | AVX,				/* AVX without SSE */
		X87 | AVX | AVX512,			/* AVX without SSE */
		X87 | SSE | AVX | (1ull << 8),		/* PT: a supervisor state, not supported */
		X87 | SSE | (1ull << 11),		/* CET_U: supervisor state */
		X87 | SSE | (1ull << 63),		/* reserved */
		X87 | SSE | (1ull << 32),		/* EDX part: not supported */
		X87 | SSE | BNDREGS,			/* MPX halves must go together */
		X87 | SSE | BNDCSR,			/* MPX halves must go together */
		X87 | SSE | AVX | OPMASK,		/* partial AVX-512 */
		X87 | SSE | AVX | ZMM_HI256,		/* partial AVX-512 */
		X87 | SSE | AVX | HI16_ZMM,		/* partial AVX-512 */
		X87 | SSE | AVX | OPMASK | ZMM_HI256,	/* partial AVX-512 */
		X87 | SSE | AVX | ZMM_HI256 | HI16_ZMM, /* partial AVX-512 */
		X87 | SSE | AVX512,			/* AVX-512 without AVX */
		X87 | SSE | AVX | TILECFG,		/* AMX halves must go together */
		X87 | SSE | AVX | TILEDATA,		/* AMX halves must go together */
	};
	static const uint64_t good[] = {
		X87,
		X87 | SSE,
		X87 | SSE | AVX,
		X87 | BNDREGS | BNDCSR,
		X87 | SSE | AVX | AVX512,
		X87 | SSE | AVX | AVX512 | PKRU,
		X87 | SSE | AVX | TILECFG | TILEDATA,
		XCR0_SUPPORTED,
	};

	fake_reset();
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(xsetbv(bad[i], &c), EMU_X_GP);
		CHECK_EQ(c.xcr0, X87 | SSE); /* unchanged */
		CHECK_EQ(c.dirty, 0);
		CHECK_EQ(c.rip, CODE);
	}
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_EQ(xsetbv(good[i], &c), 0);
		CHECK_EQ(c.xcr0, good[i]);
		CHECK_EQ(c.dirty, EMU_DIRTY_XCR0);
		CHECK_EQ(c.rip, CODE + 3);
	}

	/* A bit the CPU has but the guest's CPUID does not offer: #GP(0). */
	c = sys64();
	c.xcr0_supported = X87 | SSE | AVX;
	c.gpr[EMU_RAX] = X87 | SSE | AVX | AVX512;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.xcr0, X87 | SSE);
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.xcr0, X87 | SSE | AVX);

	/* Success: upper halves of RAX, RDX and RCX ignored; RF cleared; no other state. */
	c = sys64();
	c.gpr[EMU_RAX] = 0xffffffff00000000ull | X87 | SSE | AVX;
	c.gpr[EMU_RDX] = 0xffffffff00000000ull;
	c.gpr[EMU_RCX] = 0xffffffff00000000ull;
	c.rflags |= EMU_RFLAGS_RF | EMU_RFLAGS_CF;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_XSETBV);
	CHECK_EQ(c.xcr0, X87 | SSE | AVX);
	CHECK_EQ(c.dirty, EMU_DIRTY_XCR0);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK(!(c.rflags & EMU_RFLAGS_RF));
	CHECK(c.rflags & EMU_RFLAGS_CF);
	CHECK_EQ(c.gpr[EMU_RAX], 0xffffffff00000000ull | X87 | SSE | AVX);
	CHECK_EQ(fake.reads + fake.writes, 0);
	/* dirty accumulates: the caller clears it. */
	c.dirty = EMU_DIRTY_SREGS;
	c.gpr[EMU_RAX] = X87 | SSE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EQ(c.dirty, EMU_DIRTY_SREGS | EMU_DIRTY_XCR0);

	/* ECX != 0 (XCR1 and beyond are not writable): #GP(0), nothing changed. */
	c = sys64();
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	c.rflags |= EMU_RFLAGS_RF;
	for (uint32_t ecx = 1; ecx < 4; ecx++) {
		c.gpr[EMU_RCX] = ecx;
		CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
		CHECK_EXC(exc, EMU_X_GP, 0);
	}
	CHECK_EQ(c.xcr0, X87 | SSE);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(c.rip, CODE);
	CHECK(c.rflags & EMU_RFLAGS_RF);

	/* CPL 3, and virtual-8086 mode: #GP(0) even for a valid value. */
	c = sys64();
	c.cpl = 3;
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.xcr0, X87 | SSE);
	CHECK_EQ(c.dirty, 0);
	c.cpl = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = sys_v86();
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.xcr0, X87 | SSE);

	/* 32-bit protected mode and real mode (CPL 0) work. */
	c = sys32();
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.xcr0, X87 | SSE | AVX);
	c = sys16();
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.xcr0, X87 | SSE | AVX);
	CHECK_EQ(c.rip, CODE + 3);
	c = sys16();
	c.gpr[EMU_RAX] = SSE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_GP, -1); /* real mode: no error code */

	/* #UD without XSAVE or CR4.OSXSAVE, before the privilege check. */
	c = sys64();
	c.features &= ~EMU_FEAT_XSAVE;
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.xcr0, X87 | SSE);
	c = sys64();
	c.cr4 &= ~EMU_CR4_OSXSAVE;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.dirty, 0);

	/* LOCK: #UD; 66/F2/F3: another instruction. */
	c = sys64();
	c.gpr[EMU_RAX] = X87 | SSE | AVX;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x01, 0xd1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x01, 0xd1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0x0f, 0x01, 0xd1), -ENOTSUP);
	CHECK_EQ(c.xcr0, X87 | SSE);
	CHECK_EQ(c.dirty, 0);
}

/* The three cache-line instructions, each with [rax] as operand. */
static const struct {
	const char *name;
	uint8_t bytes[4];
	unsigned len;
	uint32_t feature;
	enum emu_op op;
} cache_ops[] = {
	{ "clflush", { 0x0f, 0xae, 0x38 }, 3, EMU_FEAT_CLFSH, EMU_OP_CLFLUSH },
	{ "clflushopt", { 0x66, 0x0f, 0xae, 0x38 }, 4, EMU_FEAT_CLFLUSHOPT, EMU_OP_CLFLUSHOPT },
	{ "clwb", { 0x66, 0x0f, 0xae, 0x30 }, 4, EMU_FEAT_CLWB, EMU_OP_CLWB },
};

static int run_cache_op(struct emu_cpu *c, unsigned i, struct emu_insn *insn,
			struct emu_exception *exc)
{
	return run_insn(c, cache_ops[i].bytes, cache_ops[i].len, insn, exc);
}

static void test_cache_line(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;
	uint8_t buf[8];

	for (unsigned i = 0; i < sizeof(cache_ops) / sizeof(cache_ops[0]); i++) {
		unsigned len = cache_ops[i].len;

		fake_reset();
		/* Success: one probe of the byte at the operand, nothing read or written. */
		c = sys64();
		c.gpr[EMU_RAX] = 0x2345;
		fake.mem[0x2345] = 0xa5;
		c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK(!exc.valid);
		CHECK_EQ(insn.op, cache_ops[i].op);
		CHECK(!strcmp(emu_op_name(insn.op), cache_ops[i].name));
		CHECK_EQ(c.rip, CODE + len);
		CHECK(!(c.rflags & EMU_RFLAGS_RF));
		CHECK_EQ(c.rflags & ARITH_FLAGS, ARITH_FLAGS);
		CHECK_EQ(fake.reads, 1);
		CHECK_EQ(fake.writes, 0);
		CHECK_EQ(fake.cmpxchgs, 0);
		CHECK_EQ(fake.last_la, 0x2345);
		CHECK_EQ(fake.last_len, 1);
		CHECK_EQ(fake.last_access, EMU_ACC_PROBE);
		CHECK_EQ(fake.mem[0x2345], 0xa5);
		CHECK_EQ(c.gpr[EMU_RAX], 0x2345);
		CHECK_EQ(c.dirty, 0);
		/* At CPL 3 the probe is a user access. */
		c = sys64();
		c.cpl = 3;
		c.gpr[EMU_RAX] = 0x2345;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK(!exc.valid);
		CHECK_EQ(fake.last_access, EMU_ACC_PROBE | EMU_ACC_USER);
		/* A misaligned operand at CPL 3 with alignment checking on: no #AC. */
		c.cr0 |= EMU_CR0_AM;
		c.rflags |= EMU_RFLAGS_AC;
		c.gpr[EMU_RAX] = 0x2347;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK(!exc.valid);

		/* The feature missing: #UD before any access. */
		fake_reset();
		c = sys64();
		c.features &= ~cache_ops[i].feature;
		c.gpr[EMU_RAX] = 0x2345;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK_EXC(exc, EMU_X_UD, -1);
		CHECK_EQ(c.rip, CODE);
		CHECK_EQ(fake.reads, 0);
		/* Only that feature matters. */
		c = sys64();
		c.features = cache_ops[i].feature;
		c.gpr[EMU_RAX] = 0x2345;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK(!exc.valid);

		/* Not-present page: #PF, a read (no W bit) with CR2; RIP and RF kept. */
		fake_reset();
		fake.fault_lo = 0x30000;
		fake.fault_hi = 0x31000;
		c = sys64();
		c.gpr[EMU_RAX] = 0x30040;
		c.rflags |= EMU_RFLAGS_RF;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK_EXC(exc, EMU_X_PF, 0);
		CHECK_EQ(exc.cr2, 0x30040);
		CHECK_EQ(c.rip, CODE);
		CHECK(c.rflags & EMU_RFLAGS_RF);
		CHECK_EQ(fake.writes, 0);
		/* Present page a user may not touch, at CPL 3: U and P, still no W. */
		fake.fault_present = 1;
		c.cpl = 3;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK_EXC(exc, EMU_X_PF, EMU_ACC_USER | 1);
		CHECK_EQ(exc.cr2, 0x30040);
		CHECK_EQ(fake.last_access, EMU_ACC_PROBE | EMU_ACC_USER);
		/* A page that faults only on writes does not fault: the probe is a read. */
		fake.fault_access = EMU_ACC_WRITE;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK(!exc.valid);
		CHECK_EQ(c.rip, CODE + len);
		CHECK_EQ(fake.writes, 0);
		/* The last byte before the faulting page: fine (only one byte is probed). */
		fake_reset();
		fake.fault_lo = 0x30000;
		fake.fault_hi = 0x31000;
		c = sys64();
		c.gpr[EMU_RAX] = 0x2ffff;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK(!exc.valid);

		/* A callback's error (e.g. it cannot reach the address) is passed up. */
		fake_reset();
		fake.error = -EIO;
		c = sys64();
		c.gpr[EMU_RAX] = 0x2345;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), -EIO);
		CHECK_EQ(c.rip, CODE);

		/* 64-bit mode: non-canonical is #GP(0), or #SS(0) through RSP/RBP. */
		fake_reset();
		c = sys64();
		c.gpr[EMU_RAX] = 0x0000800000000000ull;
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), 0);
		CHECK_EXC(exc, EMU_X_GP, 0);
		CHECK_EQ(fake.reads, 0);
		c.cr4 |= EMU_CR4_LA57; /* canonical with 5-level paging; outside the fake RAM */
		CHECK_EQ(run_cache_op(&c, i, &insn, &exc), -EFAULT);
		CHECK_EQ(fake.last_la, 0x0000800000000000ull);

		/* LOCK: #UD. */
		c = sys64();
		c.gpr[EMU_RAX] = 0x2345;
		buf[0] = 0xf0;
		memcpy(buf + 1, cache_ops[i].bytes, len);
		CHECK_EQ(run_insn(&c, buf, len + 1, &insn, &exc), 0);
		CHECK_EXC(exc, EMU_X_UD, -1);
		CHECK_EQ(c.rip, CODE);
		/* Register form (mod = 3): another instruction (SFENCE, TPAUSE...), never this. */
		memcpy(buf, cache_ops[i].bytes, len);
		buf[len - 1] |= 0xc0;
		{
			int ret = run_insn(&c, buf, len, &insn, &exc);

			CHECK(insn.op != EMU_OP_CLFLUSH && insn.op != EMU_OP_CLFLUSHOPT &&
			      insn.op != EMU_OP_CLWB);
			/* SFENCE (0f ae f8+) is emulated; the others are not. */
			CHECK(ret == -ENOTSUP || (ret == 0 && insn.op == EMU_OP_FENCE));
			c.rip = CODE;
		}
	}

	/* #SS(0) for a non-canonical RBP/RSP-based operand in 64-bit mode. */
	fake_reset();
	c = sys64();
	c.gpr[EMU_RBP] = 0xffff000000000000ull;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x7d, 0x10), 0); /* clflush [rbp+0x10] */
	CHECK_EXC(exc, EMU_X_SS, 0);
	c.gpr[EMU_RSP] = 0x0000800000000000ull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xae, 0x3c, 0x24), 0); /* clflushopt [rsp] */
	CHECK_EXC(exc, EMU_X_SS, 0);
	CHECK_EQ(fake.reads, 0);
	/* FS override: its base applies in 64-bit mode; a DS override does not. */
	c = sys64();
	c.seg[EMU_FS].base = 0x5000;
	c.seg[EMU_DS].base = 0x7000;
	c.gpr[EMU_RAX] = 0x10;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0x0f, 0xae, 0x38), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x5010);
	CHECK_EQ(RUN(&c, &exc, 0x3e, 0x66, 0x0f, 0xae, 0x30), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x10);

	/* The prefix selects the instruction: CLFLUSH without 66, CLFLUSHOPT with it. */
	c = sys64();
	c.features = EMU_FEAT_CLFLUSHOPT;
	c.gpr[EMU_RAX] = 0x100;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK_EQ(insn.op, EMU_OP_CLFLUSH);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x66, 0x0f, 0xae, 0x38), 0);
	CHECK_EQ(insn.op, EMU_OP_CLFLUSHOPT);
	CHECK(!exc.valid);
	c = sys64();
	c.features = EMU_FEAT_CLFSH;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x66, 0x0f, 0xae, 0x38), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK(!exc.valid);
	/* /6 without 66 is XSAVEOPT, F3/F2 forms are others: not emulated. */
	c = sys64();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x30), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xae, 0x38), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0x0f, 0xae, 0x30), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);
	/* REX.W changes nothing. */
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x66, 0x48, 0x0f, 0xae, 0x38), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_CLFLUSHOPT);
}

static void test_cache_line_segments(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* 32-bit mode: base added, limit checked (#GP(0)), and nothing accessed on a fault. */
	c = sys32();
	c.seg[EMU_DS].base = 0x10000;
	c.seg[EMU_DS].limit = 0xfff;
	c.gpr[EMU_RAX] = 0xfff;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x10fff);
	CHECK_EQ(fake.last_access, EMU_ACC_PROBE);
	CHECK_EQ(c.rip, CODE + 3);
	c.gpr[EMU_RAX] = 0x1000;
	fake.reads = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(fake.reads, 0);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xae, 0x30), 0); /* clwb */
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Upper bits of a 64-bit register do not reach a 32-bit address. */
	c.gpr[EMU_RAX] = 0xffffffff00000010ull;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x10010);

	/* SS-based operand past the SS limit: #SS(0); a DS override makes it #GP(0). */
	c = sys32();
	c.seg[EMU_SS].limit = 0x1fff;
	c.gpr[EMU_RBP] = 0x1ff0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x7d, 0x0f), 0); /* clflush [ebp+0xf] */
	CHECK(!exc.valid);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x7d, 0x10), 0); /* clflush [ebp+0x10] */
	CHECK_EXC(exc, EMU_X_SS, 0);
	c.gpr[EMU_RSP] = 0x2000;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xae, 0x3c, 0x24), 0); /* clflushopt [esp] */
	CHECK_EXC(exc, EMU_X_SS, 0);
	c.seg[EMU_DS].limit = 0x1fff;
	CHECK_EQ(RUN(&c, &exc, 0x3e, 0x0f, 0xae, 0x7d, 0x10), 0); /* clflush ds:[ebp+0x10] */
	CHECK_EXC(exc, EMU_X_GP, 0);

	/* An unusable segment: #GP(0). A read-only data segment is fine (the probe is a read). */
	c = sys32();
	c.seg[EMU_ES].unusable = true;
	c.gpr[EMU_RAX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x26, 0x0f, 0xae, 0x38), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = sys32();
	c.seg[EMU_DS].type = 1; /* read-only data */
	c.gpr[EMU_RAX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK(!exc.valid);
	/*
	 * An execute-only code segment: the SDM lets CLFLUSH and CLFLUSHOPT flush through one,
	 * while CLWB gets a byte load's checks (#GP(0)). Its limit still applies.
	 */
	c = sys32();
	c.seg[EMU_CS].type = 0x9; /* execute-only code */
	c.seg[EMU_CS].base = 0x4000;
	c.seg[EMU_CS].limit = 0xffff;
	c.gpr[EMU_RAX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0x0f, 0xae, 0x38), 0); /* clflush cs:[eax] */
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x4100);
	CHECK_EQ(fake.last_access, EMU_ACC_PROBE);
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0x66, 0x0f, 0xae, 0x38), 0); /* clflushopt cs:[eax] */
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x4100);
	CHECK_EQ(c.seg[EMU_CS].type, 0x9); /* the CPU state is not changed by the check */
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0x66, 0x0f, 0xae, 0x30), 0); /* clwb cs:[eax] */
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RAX] = 0x10000;
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0x0f, 0xae, 0x38), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* An execute/read code segment is readable for all three. */
	c.seg[EMU_CS].type = 0xb;
	c.gpr[EMU_RAX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0x66, 0x0f, 0xae, 0x30), 0);
	CHECK(!exc.valid);

	/* Real mode: segment base from the selector's hidden part, 64 KiB limit, no error code. */
	c = sys16();
	c.seg[EMU_DS].base = 0x20000;
	c.gpr[EMU_RBX] = 0x10;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x3f), 0); /* clflush [bx] */
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x20010);
	CHECK_EQ(c.rip, CODE + 3);
	c.gpr[EMU_RBX] = 0xffff;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x7f, 0x01), 0); /* clflush [bx+1]: wraps to 0 */
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x20000);
	c.seg[EMU_DS].limit = 0xff;
	c.gpr[EMU_RBX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x3f), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);
	c.seg[EMU_SS].limit = 0xff;
	c.gpr[EMU_RBP] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x7e, 0x00), 0); /* clflush [bp+0] */
	CHECK_EXC(exc, EMU_X_SS, -1);
}

/* INVPCID rcx, [rax] with the descriptor at 0x3000. */
#define DESC 0x3000ull

static void invpcid_setup(struct emu_cpu *c, uint64_t type, uint64_t pcid, uint64_t la)
{
	c->gpr[EMU_RCX] = type;
	c->gpr[EMU_RAX] = DESC;
	put64(DESC, pcid);
	put64(DESC + 8, la);
}

static int invpcid(struct emu_cpu *c, struct emu_exception *exc)
{
	return RUN(c, exc, 0x66, 0x0f, 0x38, 0x82, 0x08);
}

static void test_invpcid(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* Each type succeeds with PCID 0: EMU_DIRTY_TLB, RIP past it, RF cleared, 16-byte read. */
	for (uint64_t type = 0; type < 4; type++) {
		c = sys64();
		c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
		invpcid_setup(&c, type, 0, 0xffff800000001000ull);
		CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x66, 0x0f, 0x38, 0x82, 0x08), 0);
		CHECK(!exc.valid);
		CHECK_EQ(insn.op, EMU_OP_INVPCID);
		CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
		CHECK_EQ(c.rip, CODE + 5);
		CHECK(!(c.rflags & EMU_RFLAGS_RF));
		CHECK_EQ(c.rflags & ARITH_FLAGS, ARITH_FLAGS);
		CHECK_EQ(fake.last_la, DESC);
		CHECK_EQ(fake.last_len, 16);
		CHECK_EQ(fake.last_access, 0);
		CHECK_EQ(c.gpr[EMU_RCX], type);
	}
	CHECK_EQ(fake.writes, 0);

	/* Type above 3: #GP(0) before the descriptor is read. */
	c = sys64();
	fake.reads = 0;
	invpcid_setup(&c, 4, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(fake.reads, 0);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(c.rip, CODE);
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* 64-bit mode: the whole 64-bit register is the type. */
	c.gpr[EMU_RCX] = 0x100000002ull;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.dirty, 0);

	/* Descriptor bits 63:12 (above the PCID) set: #GP(0), for every type. */
	for (uint64_t type = 0; type < 4; type++) {
		static const uint64_t pcids[] = { 0x1000, 0x1fff, 1ull << 63,
						  0xfffffffffffff000ull };

		for (unsigned i = 0; i < sizeof(pcids) / sizeof(pcids[0]); i++) {
			c = sys64();
			c.cr4 |= EMU_CR4_PCIDE;
			invpcid_setup(&c, type, pcids[i], 0);
			CHECK_EQ(invpcid(&c, &exc), 0);
			CHECK_EXC(exc, EMU_X_GP, 0);
			CHECK_EQ(c.dirty, 0);
			CHECK_EQ(c.rip, CODE);
		}
	}

	/* Type 0 with a non-canonical address: #GP(0); other types ignore the address. */
	c = sys64();
	invpcid_setup(&c, 0, 0, 0x0000800000000000ull);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.dirty, 0);
	put64(DESC + 8, 0xfff0000000000000ull);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	put64(DESC + 8, 0x00007fffffffffffull);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
	for (uint64_t type = 1; type < 4; type++) {
		c = sys64();
		invpcid_setup(&c, type, 0, 0x0000800000000000ull);
		CHECK_EQ(invpcid(&c, &exc), 0);
		CHECK(!exc.valid);
		CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
	}
	/* With LA57 the 57-bit rule applies. */
	c = sys64();
	c.cr4 |= EMU_CR4_LA57;
	invpcid_setup(&c, 0, 0, 0x0000800000000000ull);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK(!exc.valid);
	c = sys64();
	c.cr4 |= EMU_CR4_LA57;
	invpcid_setup(&c, 0, 0, 0x0100000000000000ull);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);

	/* PCID != 0 with CR4.PCIDE = 0: #GP(0) for types 0 and 1, fine for 2 and 3. */
	for (uint64_t type = 0; type < 4; type++) {
		c = sys64();
		invpcid_setup(&c, type, 0x5, 0x1000);
		CHECK_EQ(invpcid(&c, &exc), 0);
		if (type <= 1) {
			CHECK_EXC(exc, EMU_X_GP, 0);
			CHECK_EQ(c.dirty, 0);
			CHECK_EQ(c.rip, CODE);
		} else {
			CHECK(!exc.valid);
			CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
			CHECK_EQ(c.rip, CODE + 5);
		}
		/* With CR4.PCIDE every PCID up to 0xfff is fine. */
		c = sys64();
		c.cr4 |= EMU_CR4_PCIDE;
		invpcid_setup(&c, type, 0xfff, 0x1000);
		CHECK_EQ(invpcid(&c, &exc), 0);
		CHECK(!exc.valid);
		CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
	}

	/* CPL 3 (and 1): #GP(0) without reading the descriptor. */
	c = sys64();
	c.cpl = 3;
	fake.reads = 0;
	invpcid_setup(&c, 2, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(fake.reads, 0);
	CHECK_EQ(c.dirty, 0);
	c.cpl = 1;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);

	/* The feature missing: #UD, also at CPL 3 (before the privilege check). */
	c = sys64();
	c.features &= ~EMU_FEAT_INVPCID;
	invpcid_setup(&c, 2, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.cpl = 3;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.dirty, 0);
	/* PCID (CR4.PCIDE support) is a separate feature INVPCID does not need. */
	c = sys64();
	c.features = EMU_FEAT_INVPCID;
	invpcid_setup(&c, 3, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK(!exc.valid);

	/* Register form and LOCK: #UD; without 66 it is another instruction. */
	c = sys64();
	invpcid_setup(&c, 2, 0, 0);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x38, 0x82, 0xc8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x66, 0x0f, 0x38, 0x82, 0x08), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x38, 0x82, 0x08), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x38, 0x82, 0x08), -ENOTSUP);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(c.rip, CODE);

	/* REX.R: the type comes from R8; REX.B: the descriptor address from R9. */
	c = sys64();
	invpcid_setup(&c, 9, 0, 0);
	c.gpr[EMU_R8] = 3;
	c.gpr[EMU_R9] = DESC;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x66, 0x45, 0x0f, 0x38, 0x82, 0x01), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.reg, EMU_R8);
	CHECK_EQ(fake.last_la, DESC);
	CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
	CHECK_EQ(c.rip, CODE + 6);
	c = sys64();
	c.gpr[EMU_R8] = 4;
	c.gpr[EMU_R9] = DESC;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x45, 0x0f, 0x38, 0x82, 0x01), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);

	/* #PF on the descriptor: a read (no W), CR2 the first faulting byte; nothing changed. */
	fake_reset();
	fake.fault_lo = 0x30000;
	fake.fault_hi = 0x31000;
	c = sys64();
	invpcid_setup(&c, 2, 0, 0);
	c.gpr[EMU_RAX] = 0x30010;
	c.rflags |= EMU_RFLAGS_RF;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(exc.cr2, 0x30010);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(c.rip, CODE);
	CHECK(c.rflags & EMU_RFLAGS_RF);
	/* Split across pages: the second page faults. */
	c.gpr[EMU_RAX] = 0x2fff8;
	fake.fault_present = 1;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_PF, 1);
	CHECK_EQ(exc.cr2, 0x30000);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(fake.writes, 0);
	/* A type > 3 is reported before the #PF. */
	c.gpr[EMU_RCX] = 7;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Non-canonical descriptor address: #GP(0). */
	c = sys64();
	invpcid_setup(&c, 2, 0, 0);
	c.gpr[EMU_RAX] = 0x0000800000000000ull;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.dirty, 0);
}

static void test_invpcid_modes(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* 32-bit mode: the type register is 32 bits, upper bits of the 64-bit register ignored. */
	c = sys32();
	invpcid_setup(&c, 0xffffffff00000002ull, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
	CHECK_EQ(c.rip, CODE + 5);
	c = sys32();
	invpcid_setup(&c, 0x0000000100000004ull, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = sys32();
	invpcid_setup(&c, 0x80000000ull, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Compatibility mode is not 64-bit mode either. */
	c = sys64();
	c.seg[EMU_CS].l = 0;
	c.seg[EMU_CS].db = 1;
	invpcid_setup(&c, 0xffffffff00000003ull, 0, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.dirty, EMU_DIRTY_TLB);

	/* Outside 64-bit mode type 0 still checks the full 64-bit address and the PCID rule. */
	c = sys32();
	invpcid_setup(&c, 0, 0, 0x0000800000000000ull);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = sys32();
	invpcid_setup(&c, 1, 1, 0);
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.dirty, 0);

	/* Segment limit on the 16-byte descriptor: #GP(0), or #SS(0) through EBP. */
	c = sys32();
	invpcid_setup(&c, 2, 0, 0);
	c.seg[EMU_DS].limit = DESC + 14;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.seg[EMU_DS].limit = DESC + 15;
	CHECK_EQ(invpcid(&c, &exc), 0);
	CHECK(!exc.valid);
	c = sys32();
	invpcid_setup(&c, 2, 0, 0);
	c.seg[EMU_SS].limit = DESC + 14;
	c.gpr[EMU_RBP] = DESC;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x38, 0x82, 0x4d, 0x00), 0); /* [ebp+0] */
	CHECK_EXC(exc, EMU_X_SS, 0);
	CHECK_EQ(c.dirty, 0);

	/* Real mode (CPL 0): allowed; 16-bit addressing, 32-bit type; #GP without error code. */
	c = sys16();
	invpcid_setup(&c, 0xffffffff00000003ull, 0, 0);
	c.gpr[EMU_RBX] = DESC;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x38, 0x82, 0x0f), 0); /* invpcid ecx, [bx] */
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, DESC);
	CHECK_EQ(c.dirty, EMU_DIRTY_TLB);
	CHECK_EQ(c.rip, CODE + 5);
	c = sys16();
	invpcid_setup(&c, 4, 0, 0);
	c.gpr[EMU_RBX] = DESC;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x38, 0x82, 0x0f), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);

	/* Virtual-8086 mode: not recognised there (#UD), even if the CPL were reported as 0. */
	c = sys_v86();
	invpcid_setup(&c, 2, 0, 0);
	c.gpr[EMU_RBX] = DESC;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x38, 0x82, 0x0f), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.cpl = 0;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x38, 0x82, 0x0f), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.dirty, 0);
}

static void test_wbinvd(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* No CPUID feature gates it; CPL 0 only. */
	c = sys64();
	c.features = 0;
	c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0x09), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_WBINVD);
	CHECK_EQ(c.rip, CODE + 2);
	CHECK(!(c.rflags & EMU_RFLAGS_RF));
	CHECK_EQ(c.rflags & ARITH_FLAGS, ARITH_FLAGS);
	CHECK_EQ(c.dirty, 0);
	CHECK_EQ(fake.reads + fake.writes, 0);

	c = sys64();
	c.cpl = 3;
	c.rflags |= EMU_RFLAGS_RF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x09), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.rip, CODE);
	CHECK(c.rflags & EMU_RFLAGS_RF);
	c.cpl = 2;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x09), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = sys_v86();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x09), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);

	/* 32-bit and real mode. */
	c = sys32();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x09), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 2);
	c = sys16();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x09), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 2);

	/* LOCK: #UD. F3 (WBNOINVD) may always do what WBINVD does. */
	c = sys64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x09), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x09), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 3);
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x09), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

static void test_rdtscp(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* EDX:EAX = TSC, ECX = TSC_AUX[31:0]; upper halves of RAX, RDX and RCX cleared. */
	c = sys64();
	c.tsc = 0x1122334455667788ull;
	c.tsc_aux = 0xaabbccdd00000042ull;
	c.gpr[EMU_RAX] = c.gpr[EMU_RCX] = c.gpr[EMU_RDX] = ~0ull;
	c.gpr[EMU_RBX] = 0x77;
	c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_RDTSCP);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55667788);
	CHECK_EQ(c.gpr[EMU_RDX], 0x11223344);
	CHECK_EQ(c.gpr[EMU_RCX], 0x42);
	CHECK_EQ(c.gpr[EMU_RBX], 0x77);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK(!(c.rflags & EMU_RFLAGS_RF));
	CHECK_EQ(c.rflags & ARITH_FLAGS, ARITH_FLAGS);
	CHECK_EQ(c.tsc, 0x1122334455667788ull);
	CHECK_EQ(c.dirty, 0);

	/* 32-bit mode. */
	c = sys32();
	c.tsc = 0x8000000000000001ull;
	c.tsc_aux = 7;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 1);
	CHECK_EQ(c.gpr[EMU_RDX], 0x80000000);
	CHECK_EQ(c.gpr[EMU_RCX], 7);

	/* CR4.TSD: #GP(0) above CPL 0 (and in virtual-8086 mode); fine at CPL 0 and in real mode.
	 */
	c = sys64();
	c.cr4 |= EMU_CR4_TSD;
	c.cpl = 3;
	c.gpr[EMU_RAX] = 0x55;
	c.rflags |= EMU_RFLAGS_RF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	CHECK_EQ(c.rip, CODE);
	CHECK(c.rflags & EMU_RFLAGS_RF);
	c.cpl = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.cpl = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK(!exc.valid);
	c = sys64();
	c.cpl = 3; /* TSD clear: any CPL */
	c.tsc = 5;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 5);
	c = sys_v86();
	c.cr4 |= EMU_CR4_TSD;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = sys16();
	c.cr4 |= EMU_CR4_TSD;
	c.tsc = 9;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 9);

	/* The feature missing: #UD, before the TSD check. */
	c = sys64();
	c.features &= ~EMU_FEAT_RDTSCP;
	c.gpr[EMU_RAX] = 0x55;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	c.cr4 |= EMU_CR4_TSD;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);

	/* LOCK: #UD. */
	c = sys64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x01, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.rip, CODE);
}

static void test_rdpid(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* 64-bit mode: a 64-bit destination. */
	c = sys64();
	c.tsc_aux = 0x0000000100000042ull;
	c.gpr[EMU_RAX] = ~0ull;
	c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
	CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0xf3, 0x0f, 0xc7, 0xf8), 0); /* rdpid rax */
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_RDPID);
	CHECK_EQ(c.gpr[EMU_RAX], 0x0000000100000042ull);
	CHECK_EQ(c.rip, CODE + 4);
	CHECK(!(c.rflags & EMU_RFLAGS_RF));
	CHECK_EQ(c.rflags & ARITH_FLAGS, ARITH_FLAGS);
	CHECK_EQ(c.dirty, 0);
	/* Other registers; REX.B reaches R8-R15. */
	c = sys64();
	c.tsc_aux = 0x42;
	c.gpr[EMU_RDI] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xc7, 0xff), 0); /* rdpid rdi */
	CHECK_EQ(c.gpr[EMU_RDI], 0x42);
	CHECK_EQ(c.gpr[EMU_RAX], 0);
	c.gpr[EMU_R9] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x41, 0x0f, 0xc7, 0xf9), 0); /* rdpid r9 */
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_R9], 0x42);
	CHECK_EQ(c.gpr[EMU_RCX], 0);
	/* 66 and REX.W change nothing: still the full 64-bit register. */
	c = sys64();
	c.tsc_aux = 0x0000000100001234ull;
	c.gpr[EMU_RAX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xf3, 0x0f, 0xc7, 0xf8), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 0x0000000100001234ull);
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x48, 0x0f, 0xc7, 0xf8), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x0000000100001234ull);

	/* 32-bit mode: a 32-bit destination, even with 66. */
	c = sys32();
	c.tsc_aux = 0x0000000100001234ull;
	c.gpr[EMU_RDX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xc7, 0xfa), 0); /* rdpid edx */
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RDX], 0x1234);
	CHECK_EQ(c.rip, CODE + 4);
	c.gpr[EMU_RDX] = 0xffffffffffff0000ull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xf3, 0x0f, 0xc7, 0xfa), 0);
	CHECK_EQ(c.gpr[EMU_RDX], 0x1234);
	/* Real mode: 32-bit as well (not 16). */
	c = sys16();
	c.tsc_aux = 0xabcd1234;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xc7, 0xf8), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 0xabcd1234);

	/* CR4.TSD does not apply to RDPID. */
	c = sys64();
	c.cr4 |= EMU_CR4_TSD;
	c.cpl = 3;
	c.tsc_aux = 3;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xc7, 0xf8), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 3);

	/* The feature missing: #UD (RDTSCP's feature is not enough). */
	c = sys64();
	c.features &= ~EMU_FEAT_RDPID;
	c.gpr[EMU_RAX] = 0x55;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xc7, 0xf8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	CHECK_EQ(c.rip, CODE);

	/* LOCK: #UD. No F3 (RDSEED), 66 (RDSEED r16) or memory form: other instructions. */
	c = sys64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0xf3, 0x0f, 0xc7, 0xf8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xc7, 0xf8), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xc7, 0xf8), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xc7, 0x38), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);
}

static void test_rdpru(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* Without the feature (every Intel CPU): #UD whatever ECX says. */
	for (uint32_t ecx = 0; ecx < 4; ecx++) {
		c = sys64();
		c.features &= ~EMU_FEAT_RDPRU;
		c.gpr[EMU_RCX] = ecx;
		c.gpr[EMU_RAX] = 0x55;
		CHECK_EQ(RUN_INSN(&c, &insn, &exc, 0x0f, 0x01, 0xfd), 0);
		CHECK_EQ(insn.op, EMU_OP_RDPRU);
		CHECK_EXC(exc, EMU_X_UD, -1);
		CHECK_EQ(c.gpr[EMU_RAX], 0x55);
		CHECK_EQ(c.rip, CODE);
	}

	/* MPERF (0) and APERF (1) exist but are not modelled: refused, state untouched. */
	for (uint32_t ecx = 0; ecx < 2; ecx++) {
		c = sys64();
		c.gpr[EMU_RCX] = 0xffffffff00000000ull | ecx; /* upper half of RCX ignored */
		c.gpr[EMU_RAX] = 0x55;
		c.gpr[EMU_RDX] = 0x66;
		c.rflags |= EMU_RFLAGS_RF;
		CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), -ENOTSUP);
		CHECK_EQ(c.gpr[EMU_RAX], 0x55);
		CHECK_EQ(c.gpr[EMU_RDX], 0x66);
		CHECK_EQ(c.rip, CODE);
		CHECK(c.rflags & EMU_RFLAGS_RF);
	}

	/* Any other register: EDX:EAX = 0 and CF (with the other status flags) clear. */
	static const uint32_t others[] = { 2, 3, 0x100, 0x80000000, 0xffffffff };
	for (unsigned i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		c = sys64();
		c.gpr[EMU_RCX] = others[i];
		c.gpr[EMU_RAX] = c.gpr[EMU_RDX] = ~0ull;
		c.rflags |= EMU_RFLAGS_RF | ARITH_FLAGS;
		CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
		CHECK(!exc.valid);
		CHECK_EQ(c.gpr[EMU_RAX], 0);
		CHECK_EQ(c.gpr[EMU_RDX], 0);
		CHECK_EQ(c.gpr[EMU_RCX], others[i]);
		CHECK_EQ(c.rflags & ARITH_FLAGS, 0);
		CHECK(!(c.rflags & EMU_RFLAGS_RF));
		CHECK_EQ(c.rip, CODE + 3);
		CHECK_EQ(c.dirty, 0);
	}
	/* 32-bit mode. */
	c = sys32();
	c.gpr[EMU_RCX] = 7;
	c.gpr[EMU_RAX] = c.gpr[EMU_RDX] = ~0ull;
	c.rflags |= EMU_RFLAGS_CF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 0);
	CHECK_EQ(c.gpr[EMU_RDX], 0);
	CHECK(!(c.rflags & EMU_RFLAGS_CF));

	/*
	 * CR4.TSD above CPL 0: the AMD APM makes RDPRU #UD there (not #GP as for RDTSC), before
	 * the register number is looked at; CPL 0 and CR4.TSD clear are fine.
	 */
	c = sys64();
	c.cr4 |= EMU_CR4_TSD;
	c.cpl = 3;
	c.gpr[EMU_RCX] = 2;
	c.gpr[EMU_RAX] = 0x55;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	CHECK_EQ(c.rip, CODE);
	c.gpr[EMU_RCX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.gpr[EMU_RCX] = 2;
	c.cpl = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 0);
	c = sys64();
	c.cpl = 3;
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
	CHECK(!exc.valid);
	c = sys16();
	c.cr4 |= EMU_CR4_TSD;
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), 0);
	CHECK(!exc.valid);

	/* LOCK: #UD; a mandatory prefix makes it another instruction. */
	c = sys64();
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x01, 0xfd), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x01, 0xfd), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);
}

/*
 * Across the group: a successful instruction clears RF and, with TF set, is followed by a
 * single-step #DB (DR6.BS) with RIP past it; a faulting one keeps RF and raises no #DB.
 */
static void test_rf_tf(void)
{
	static const struct {
		const char *what;
		uint8_t bytes[6];
		unsigned len;
	} ok[] = {
		{ "xgetbv", { 0x0f, 0x01, 0xd0 }, 3 },
		{ "xsetbv", { 0x0f, 0x01, 0xd1 }, 3 },
		{ "clflush", { 0x0f, 0xae, 0x3b }, 3 },
		{ "clflushopt", { 0x66, 0x0f, 0xae, 0x3b }, 4 },
		{ "clwb", { 0x66, 0x0f, 0xae, 0x33 }, 4 },
		{ "invpcid", { 0x66, 0x0f, 0x38, 0x82, 0x33 }, 5 }, /* invpcid rsi, [rbx] */
		{ "wbinvd", { 0x0f, 0x09 }, 2 },
		{ "rdtscp", { 0x0f, 0x01, 0xf9 }, 3 },
		{ "rdpid", { 0xf3, 0x0f, 0xc7, 0xfe }, 4 },
		{ "rdpru", { 0x0f, 0x01, 0xfd }, 3 },
	};
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	put64(DESC, 0);
	put64(DESC + 8, 0);
	for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		/* EDX:EAX = x87|SSE|AVX and ECX = 0 for XSETBV, RSI = 2 the INVPCID type. */
		c = sys64();
		c.gpr[EMU_RAX] = X87 | SSE | AVX;
		c.gpr[EMU_RCX] = 0;
		c.gpr[EMU_RDX] = 0;
		c.gpr[EMU_RSI] = 2;
		c.gpr[EMU_RBX] = DESC;
		if (ok[i].bytes[1] == 0x01 && ok[i].bytes[2] == 0xfd)
			c.gpr[EMU_RCX] = 2; /* RDPRU: an unmodelled register */
		c.rflags |= EMU_RFLAGS_RF | EMU_RFLAGS_TF;
		CHECK_EQ(run_insn(&c, ok[i].bytes, ok[i].len, &insn, &exc), 0);
		CHECK(!strcmp(emu_op_name(insn.op), ok[i].what));
		CHECK_EXC(exc, EMU_X_DB, -1);
		CHECK_EQ(exc.dr6, EMU_DR6_BS);
		CHECK_EQ(c.rip, CODE + ok[i].len);
		CHECK(!(c.rflags & EMU_RFLAGS_RF));
		CHECK(c.rflags & EMU_RFLAGS_TF);

		/* Without any CPUID feature and at CPL 3 each one faults (#UD, or #GP for WBINVD):
		 * no #DB, RF and RIP kept. */
		c = sys64();
		c.features = 0;
		c.cpl = 3;
		c.gpr[EMU_RSI] = 2;
		c.gpr[EMU_RBX] = DESC;
		c.rflags |= EMU_RFLAGS_RF | EMU_RFLAGS_TF;
		CHECK_EQ(run_insn(&c, ok[i].bytes, ok[i].len, &insn, &exc), 0);
		CHECK(exc.valid);
		CHECK(exc.vector == EMU_X_UD || exc.vector == EMU_X_GP);
		CHECK_EQ(exc.dr6, 0);
		CHECK_EQ(c.rip, CODE);
		CHECK(c.rflags & EMU_RFLAGS_RF);
	}

	/* A #PF is a fault too: no #DB after it. */
	fake.fault_lo = 0x30000;
	fake.fault_hi = 0x31000;
	c = sys64();
	c.gpr[EMU_RAX] = 0x30000;
	c.rflags |= EMU_RFLAGS_TF | EMU_RFLAGS_RF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x38), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(exc.dr6, 0);
	CHECK(c.rflags & EMU_RFLAGS_RF);
	/* A refused instruction (RDPRU's MPERF) neither traps nor changes anything. */
	c = sys64();
	c.gpr[EMU_RCX] = 0;
	c.rflags |= EMU_RFLAGS_TF | EMU_RFLAGS_RF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfd), -ENOTSUP);
	CHECK(c.rflags & EMU_RFLAGS_RF);
	CHECK_EQ(c.rip, CODE);

	/* 32-bit code: EIP wraps at 4 GiB. */
	c = sys32();
	c.rip = 0xfffffffe;
	c.seg[EMU_CS].base = 0x3002; /* linear 0x3000 */
	fake.mem[0x3000] = 0x0f;
	fake.mem[0x3001] = 0x09;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0x0f, 0x09 }, 2, &fake_ops, NULL, &insn, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_WBINVD);
	CHECK_EQ(c.rip, 0);
}

int main(void)
{
	RUN_TEST(test_names_needs);
	RUN_TEST(test_features_from_cpuid);
	RUN_TEST(test_xgetbv);
	RUN_TEST(test_xsetbv);
	RUN_TEST(test_cache_line);
	RUN_TEST(test_cache_line_segments);
	RUN_TEST(test_invpcid);
	RUN_TEST(test_invpcid_modes);
	RUN_TEST(test_wbinvd);
	RUN_TEST(test_rdtscp);
	RUN_TEST(test_rdpid);
	RUN_TEST(test_rdpru);
	RUN_TEST(test_rf_tf);
	free(fake.mem);
	TEST_EXIT();
}
