/*
 * Differential test of the integer instructions the emulator gained beyond ADD..CMP: INC, DEC,
 * NOT, NEG, MUL, IMUL (all forms), DIV, IDIV, the shifts and rotates, SHLD/SHRD, BT/BTS/BTR/BTC,
 * MOVZX/MOVSX/MOVSXD, CMOVcc, SETcc, XCHG, XADD, CMPXCHG, BSWAP, CBW/CWD and their wider forms,
 * and the flag instructions. Each form runs in the emulator and natively on the host CPU with the
 * same RAX, RCX, RDX, RBX and flags; the results must match except for the flags the architecture
 * leaves undefined for that form and input.
 */
#include <pthread.h>

#include "emu_fake.h"

#define CF EMU_RFLAGS_CF
#define PF EMU_RFLAGS_PF
#define AF EMU_RFLAGS_AF
#define ZF EMU_RFLAGS_ZF
#define SF EMU_RFLAGS_SF
#define OF EMU_RFLAGS_OF
#define ARITH (CF | PF | AF | ZF | SF | OF)
#define COMPARED (ARITH | EMU_RFLAGS_DF)

/* io: rax, rcx, rdx, rbx, rflags in and out. */
static void native(uint8_t *page, const uint8_t *insn, unsigned n, uint64_t io[5])
{
	static const uint8_t pre[] = {
		0x53,			/* push %rbx */
		0x48, 0x8b, 0x07,	/* mov (%rdi), %rax */
		0x48, 0x8b, 0x4f, 0x08, /* mov 8(%rdi), %rcx */
		0x48, 0x8b, 0x57, 0x10, /* mov 16(%rdi), %rdx */
		0x48, 0x8b, 0x5f, 0x18, /* mov 24(%rdi), %rbx */
		0xff, 0x77, 0x20,	/* push 32(%rdi) */
		0x9d,			/* popf */
	};
	static const uint8_t post[] = {
		0x9c,			/* pushf */
		0x8f, 0x47, 0x20,	/* pop 32(%rdi) */
		0x48, 0x89, 0x07,	/* mov %rax, (%rdi) */
		0x48, 0x89, 0x4f, 0x08, /* mov %rcx, 8(%rdi) */
		0x48, 0x89, 0x57, 0x10, /* mov %rdx, 16(%rdi) */
		0x48, 0x89, 0x5f, 0x18, /* mov %rbx, 24(%rdi) */
		0xfc,			/* cld: the ABI wants DF clear on return */
		0x5b,			/* pop %rbx */
		0xc3,			/* ret */
	};
	void (*fn)(uint64_t *);

	memcpy(page, pre, sizeof(pre));
	memcpy(page + sizeof(pre), insn, n);
	memcpy(page + sizeof(pre) + n, post, sizeof(post));
	__builtin___clear_cache((char *)page, (char *)page + 128);
	fn = (void (*)(uint64_t *))(void *)page;
	fn(io);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Values that find edge cases more often than uniform ones. */
static uint64_t interesting(void)
{
	static const uint64_t v[] = { 0,
				      1,
				      2,
				      0x7f,
				      0x80,
				      0xff,
				      0x7fff,
				      0x8000,
				      0xffff,
				      0x7fffffff,
				      0x80000000,
				      0xffffffff,
				      0x7fffffffffffffffull,
				      0x8000000000000000ull,
				      ~0ull,
				      0x100000000ull };
	uint64_t r = rnd();

	switch (r % 4) {
	case 0:
		return v[(r >> 8) % (sizeof(v) / sizeof(v[0]))];
	case 1:
		return (r >> 8) & 0xff;
	default:
		return rnd();
	}
}

enum kind {
	K_PLAIN,   /* every flag defined */
	K_MUL,	   /* SF ZF AF PF undefined */
	K_DIV,	   /* every arithmetic flag undefined; inputs kept free of #DE */
	K_IDIV,	   /* likewise, signed */
	K_SHIFT,   /* group 2: sub = ModRM.reg; count from cnt */
	K_DSHIFT,  /* SHLD (sub 0) / SHRD (sub 1) */
	K_BT,	   /* only CF defined */
	K_LOGICAL, /* AF undefined */
};

enum count { C_NONE, C_ONE, C_CL, C_IMM };

struct form {
	const char *name;
	uint8_t b[8];
	unsigned n;
	enum kind kind;
	unsigned size, sub;
	enum count cnt;
};

#define F(nm, k, sz, ...)                                                                          \
	{                                                                                          \
		nm, { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), k, sz, 0, C_NONE          \
	}

/* clang-format off */
static const struct form forms[] = {
	F("inc %rcx", K_PLAIN, 8, 0x48, 0xff, 0xc1), F("inc %ecx", K_PLAIN, 4, 0xff, 0xc1),
	F("inc %cx", K_PLAIN, 2, 0x66, 0xff, 0xc1), F("inc %cl", K_PLAIN, 1, 0xfe, 0xc1),
	F("inc %ah", K_PLAIN, 1, 0xfe, 0xc4), F("dec %rcx", K_PLAIN, 8, 0x48, 0xff, 0xc9),
	F("dec %bh", K_PLAIN, 1, 0xfe, 0xcf), F("dec %dx", K_PLAIN, 2, 0x66, 0xff, 0xca),
	F("not %rcx", K_PLAIN, 8, 0x48, 0xf7, 0xd1), F("not %cl", K_PLAIN, 1, 0xf6, 0xd1),
	F("not %ecx", K_PLAIN, 4, 0xf7, 0xd1), F("neg %rcx", K_PLAIN, 8, 0x48, 0xf7, 0xd9),
	F("neg %ecx", K_PLAIN, 4, 0xf7, 0xd9), F("neg %cx", K_PLAIN, 2, 0x66, 0xf7, 0xd9),
	F("neg %ah", K_PLAIN, 1, 0xf6, 0xdc),
	F("mul %rcx", K_MUL, 8, 0x48, 0xf7, 0xe1), F("mul %ecx", K_MUL, 4, 0xf7, 0xe1),
	F("mul %cx", K_MUL, 2, 0x66, 0xf7, 0xe1), F("mul %cl", K_MUL, 1, 0xf6, 0xe1),
	F("mul %ah", K_MUL, 1, 0xf6, 0xe4), F("imul %rcx", K_MUL, 8, 0x48, 0xf7, 0xe9),
	F("imul %ecx", K_MUL, 4, 0xf7, 0xe9), F("imul %cx", K_MUL, 2, 0x66, 0xf7, 0xe9),
	F("imul %cl", K_MUL, 1, 0xf6, 0xe9),
	F("imul %rcx,%rax", K_MUL, 8, 0x48, 0x0f, 0xaf, 0xc1),
	F("imul %ecx,%eax", K_MUL, 4, 0x0f, 0xaf, 0xc1),
	F("imul %cx,%ax", K_MUL, 2, 0x66, 0x0f, 0xaf, 0xc1),
	F("imul $imm32,%rcx,%rax", K_MUL, 8, 0x48, 0x69, 0xc1, 0x78, 0x56, 0x34, 0x92),
	F("imul $imm16,%cx,%ax", K_MUL, 2, 0x66, 0x69, 0xc1, 0x34, 0x92),
	F("imul $-3,%ecx,%edx", K_MUL, 4, 0x6b, 0xd1, 0xfd),
	F("div %rcx", K_DIV, 8, 0x48, 0xf7, 0xf1), F("div %ecx", K_DIV, 4, 0xf7, 0xf1),
	F("div %cx", K_DIV, 2, 0x66, 0xf7, 0xf1), F("div %cl", K_DIV, 1, 0xf6, 0xf1),
	F("idiv %rcx", K_IDIV, 8, 0x48, 0xf7, 0xf9), F("idiv %ecx", K_IDIV, 4, 0xf7, 0xf9),
	F("idiv %cx", K_IDIV, 2, 0x66, 0xf7, 0xf9), F("idiv %cl", K_IDIV, 1, 0xf6, 0xf9),
	F("movzbq %cl,%rax", K_PLAIN, 8, 0x48, 0x0f, 0xb6, 0xc1),
	F("movzbl %ch,%eax", K_PLAIN, 4, 0x0f, 0xb6, 0xc5),
	F("movzbw %cl,%ax", K_PLAIN, 2, 0x66, 0x0f, 0xb6, 0xc1),
	F("movzwq %cx,%rax", K_PLAIN, 8, 0x48, 0x0f, 0xb7, 0xc1),
	F("movsbq %cl,%rax", K_PLAIN, 8, 0x48, 0x0f, 0xbe, 0xc1),
	F("movswl %cx,%eax", K_PLAIN, 4, 0x0f, 0xbf, 0xc1),
	F("movsbw %cl,%ax", K_PLAIN, 2, 0x66, 0x0f, 0xbe, 0xc1),
	F("movslq %ecx,%rax", K_PLAIN, 8, 0x48, 0x63, 0xc1),
	F("movsxd %ecx,%eax", K_PLAIN, 4, 0x63, 0xc1),
	F("xchg %rcx,%rax", K_PLAIN, 8, 0x48, 0x87, 0xc8), F("xchg %ecx,%eax", K_PLAIN, 4, 0x87, 0xc8),
	F("xchg %cx,%ax", K_PLAIN, 2, 0x66, 0x87, 0xc8), F("xchg %cl,%al", K_PLAIN, 1, 0x86, 0xc8),
	F("xchg %ah,%al", K_PLAIN, 1, 0x86, 0xe0), F("xchg %eax,%ecx", K_PLAIN, 4, 0x91),
	F("xchg %rax,%rbx", K_PLAIN, 8, 0x48, 0x93), F("xchg %ax,%dx", K_PLAIN, 2, 0x66, 0x92),
	F("xadd %rcx,%rax", K_PLAIN, 8, 0x48, 0x0f, 0xc1, 0xc8),
	F("xadd %ecx,%eax", K_PLAIN, 4, 0x0f, 0xc1, 0xc8),
	F("xadd %cl,%al", K_PLAIN, 1, 0x0f, 0xc0, 0xc8),
	F("xadd %rax,%rax", K_PLAIN, 8, 0x48, 0x0f, 0xc1, 0xc0),
	F("cmpxchg %rcx,%rbx", K_PLAIN, 8, 0x48, 0x0f, 0xb1, 0xcb),
	F("cmpxchg %ecx,%ebx", K_PLAIN, 4, 0x0f, 0xb1, 0xcb),
	F("cmpxchg %cx,%bx", K_PLAIN, 2, 0x66, 0x0f, 0xb1, 0xcb),
	F("cmpxchg %cl,%bl", K_PLAIN, 1, 0x0f, 0xb0, 0xcb),
	F("bswap %eax", K_PLAIN, 4, 0x0f, 0xc8), F("bswap %rcx", K_PLAIN, 8, 0x48, 0x0f, 0xc9),
	F("cbw", K_PLAIN, 2, 0x66, 0x98), F("cwde", K_PLAIN, 4, 0x98), F("cdqe", K_PLAIN, 8, 0x48, 0x98),
	F("cwd", K_PLAIN, 2, 0x66, 0x99), F("cdq", K_PLAIN, 4, 0x99), F("cqo", K_PLAIN, 8, 0x48, 0x99),
	F("clc", K_PLAIN, 0, 0xf8), F("stc", K_PLAIN, 0, 0xf9), F("cmc", K_PLAIN, 0, 0xf5),
	F("cld", K_PLAIN, 0, 0xfc), F("std", K_PLAIN, 0, 0xfd), F("sahf", K_PLAIN, 0, 0x9e),
	F("lahf", K_PLAIN, 0, 0x9f),
	F("bt %rcx,%rax", K_BT, 8, 0x48, 0x0f, 0xa3, 0xc8), F("bts %ecx,%eax", K_BT, 4, 0x0f, 0xab, 0xc8),
	F("btr %cx,%ax", K_BT, 2, 0x66, 0x0f, 0xb3, 0xc8), F("btc %rcx,%rax", K_BT, 8, 0x48, 0x0f, 0xbb, 0xc8),
	F("test %rcx,%rbx", K_LOGICAL, 8, 0x48, 0x85, 0xcb),
};
/* clang-format on */

/* The flags the architecture leaves undefined for this form and these inputs. */
static uint64_t undefined_flags(const struct form *f, unsigned count)
{
	unsigned bits = f->size * 8, m;

	switch (f->kind) {
	case K_MUL:
		return SF | ZF | AF | PF;
	case K_DIV:
	case K_IDIV:
		return ARITH;
	case K_BT:
		return OF | SF | AF | PF;
	case K_LOGICAL:
		return AF;
	case K_SHIFT:
		m = count & (f->size == 8 ? 63 : 31);
		if (!m)
			return 0;
		if (f->sub < 4) /* rotates: OF only for 1 */
			return m == 1 ? 0 : OF;
		return AF | (m == 1 ? 0 : OF) | (m > bits ? CF : 0);
	case K_DSHIFT:
		m = count & (f->size == 8 ? 63 : 31);
		if (!m)
			return 0;
		return AF | (m == 1 ? 0 : OF) | (m > bits ? CF : 0);
	default:
		return 0;
	}
}

/* Inputs DIV/IDIV can divide without #DE. */
static void divisible(const struct form *f, uint64_t in[5])
{
	unsigned size = f->size, shift = 64 - size * 8;
	uint64_t mask = size == 8 ? ~0ull : (1ull << (size * 8)) - 1, d = in[1] & mask;

	if (!d) {
		in[1] = (in[1] & ~mask) | 3;
		d = 3;
	}
	if (f->kind == K_DIV) {
		uint64_t hi = rnd() % d;

		if (size == 1)
			in[0] = (in[0] & ~0xff00ull) | hi << 8;
		else
			in[2] = (in[2] & ~mask) | hi;
		return;
	}
	/* Signed: a dividend that fits in size (high half = sign), not MIN / -1. */
	{
		int64_t lo = (int64_t)(in[0] << shift) >> shift;
		uint64_t hi = lo < 0 ? mask : 0;

		if (d == mask && (uint64_t)lo == (1ull << (size * 8 - 1) | ~mask))
			in[1] = (in[1] & ~mask) | 3;
		if (size == 1)
			in[0] = (in[0] & ~0xff00ull) | (hi & 0xff) << 8;
		else
			in[2] = (in[2] & ~mask) | hi;
	}
}

static unsigned compared;

static void compare_one(uint8_t *page, const struct form *f, const uint8_t *b, unsigned n,
			uint64_t in[5], unsigned count)
{
	struct emu_cpu c = cpu64();
	struct emu_exception exc;
	uint64_t io[5], undef = undefined_flags(f, count);
	static const int regs[4] = { EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX };
	int ret;

	c.features = EMU_FEAT_LAHF64;
	for (unsigned i = 0; i < 4; i++)
		c.gpr[regs[i]] = in[i];
	c.rflags = in[4];
	memcpy(io, in, sizeof(io));
	ret = run(&c, b, n, &exc);
	native(page, b, n, io);
	if (ret || exc.valid) {
		CHECK(!"emulator refused");
		fprintf(stderr, "  %s: ret %d exc %d\n", f->name, ret, exc.valid ? exc.vector : -1);
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		if (c.gpr[regs[i]] != io[i]) {
			CHECK_EQ(c.gpr[regs[i]], io[i]);
			fprintf(stderr,
				"  %s: size %u sub %u: reg %u in %#llx %#llx %#llx %#llx fl %#llx "
				"cnt %u\n",
				f->name, f->size, f->sub, i, (unsigned long long)in[0],
				(unsigned long long)in[1], (unsigned long long)in[2],
				(unsigned long long)in[3], (unsigned long long)in[4], count);
		}
	}
	if ((c.rflags & COMPARED & ~undef) != (io[4] & COMPARED & ~undef)) {
		CHECK_EQ(c.rflags & COMPARED & ~undef, io[4] & COMPARED & ~undef);
		fprintf(stderr, "  %s: in %#llx %#llx fl %#llx cnt %u\n", f->name,
			(unsigned long long)in[0], (unsigned long long)in[1],
			(unsigned long long)in[4], count);
	}
	CHECK_EQ(c.rip, CODE + n);
	compared++;
}

static void random_inputs(uint64_t in[5])
{
	for (unsigned i = 0; i < 4; i++)
		in[i] = interesting();
	if (rnd() % 5 == 0)
		in[3] = in[0]; /* cmpxchg: equal sometimes */
	in[4] = 0x2 | (rnd() & ARITH);
}

static void test_table_forms(uint8_t *page)
{
	for (unsigned round = 0; round < 400; round++) {
		for (unsigned i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			const struct form *f = &forms[i];
			uint64_t in[5];

			random_inputs(in);
			if (f->kind == K_DIV || f->kind == K_IDIV)
				divisible(f, in);
			compare_one(page, f, f->b, f->n, in, 0);
		}
	}
}

/* Jcc's partners: CMOVcc and SETcc for all 16 conditions, at each size. */
static void test_conditions(uint8_t *page)
{
	static const struct form cm = { "cmovcc", { 0 }, 0, K_PLAIN, 8, 0, C_NONE };

	for (unsigned round = 0; round < 60; round++) {
		for (unsigned cc = 0; cc < 16; cc++) {
			uint8_t b[8];
			uint64_t in[5];

			random_inputs(in);
			in[4] = 0x2 | (rnd() & ARITH);
			/* cmov %rcx,%rax / %ecx,%eax (zero-extends even when false) / %cx,%ax */
			memcpy(b, (uint8_t[]){ 0x48, 0x0f, (uint8_t)(0x40 + cc), 0xc1 }, 4);
			compare_one(page, &cm, b, 4, in, 0);
			compare_one(page, &cm, b + 1, 3, in, 0);
			memcpy(b, (uint8_t[]){ 0x66, 0x0f, (uint8_t)(0x40 + cc), 0xc1 }, 4);
			compare_one(page, &cm, b, 4, in, 0);
			/* setcc %cl, setcc %ah */
			memcpy(b, (uint8_t[]){ 0x0f, (uint8_t)(0x90 + cc), 0xc1 }, 3);
			compare_one(page, &cm, b, 3, in, 0);
			b[2] = 0xc4;
			compare_one(page, &cm, b, 3, in, 0);
		}
	}
}

/* Group 2 at every size with counts 1, CL and imm8; SHLD/SHRD; BT with an immediate. */
static void test_shifts(uint8_t *page)
{
	static const uint8_t prefix[4][2] = { { 0x48 }, { 0 }, { 0x66 }, { 0 } };
	static const unsigned sizes[4] = { 8, 4, 2, 1 };

	for (unsigned round = 0; round < 120; round++) {
		for (unsigned s = 0; s < 4; s++) {
			unsigned size = sizes[s], bits = size * 8;

			for (unsigned sub = 0; sub < 8; sub++) {
				for (unsigned how = 0; how < 3; how++) {
					struct form f = {
						"shift",
						{ 0 },
						0,
						K_SHIFT,
						size,
						sub,
						how == 0 ? C_ONE : how == 1 ? C_CL : C_IMM
					};
					uint8_t b[8];
					unsigned n = 0, count;
					uint64_t in[5];

					random_inputs(in);
					count = rnd() % 3 ? (unsigned)(rnd() % (bits + 3))
							  : (unsigned)rnd() & 0xff;
					in[1] = (in[1] & ~0xffull) | (count & 0xff);
					if (prefix[s][0])
						b[n++] = prefix[s][0];
					b[n++] = (uint8_t)((how == 0   ? 0xd0
							    : how == 1 ? 0xd2
								       : 0xc0) +
							   (size > 1));
					b[n++] = (uint8_t)(0xc0 | sub << 3); /* %al.. %rax */
					if (how == 2)
						b[n++] = (uint8_t)count;
					if (how == 0)
						count = 1;
					compare_one(page, &f, b, n, in, count);
				}
			}
			if (size == 1)
				continue;
			for (unsigned sub = 0; sub < 2; sub++) {
				for (unsigned how = 0; how < 2; how++) {
					struct form f = { "shld/shrd",	     { 0 }, 0,
							  K_DSHIFT,	     size,  sub,
							  how ? C_CL : C_IMM };
					uint8_t b[8];
					unsigned n = 0, count = (unsigned)(rnd() % (bits + 1));
					uint64_t in[5];

					if (size == 2)
						count &= 15; /* above 16: undefined result */
					random_inputs(in);
					in[1] = (in[1] & ~0xffull) | count;
					if (prefix[s][0])
						b[n++] = prefix[s][0];
					b[n++] = 0x0f;
					b[n++] = (uint8_t)((sub ? 0xac : 0xa4) + how);
					b[n++] = 0xc8; /* %rcx into %rax */
					if (!how)
						b[n++] = (uint8_t)count;
					compare_one(page, &f, b, n, in, count);
				}
			}
			for (unsigned sub = 4; sub < 8; sub++) {
				struct form f = { "bt $imm", { 0 }, 0, K_BT, size, sub, C_IMM };
				uint8_t b[8];
				unsigned n = 0;
				uint64_t in[5];

				random_inputs(in);
				if (prefix[s][0])
					b[n++] = prefix[s][0];
				b[n++] = 0x0f;
				b[n++] = 0xba;
				b[n++] = (uint8_t)(0xc0 | sub << 3);
				b[n++] = (uint8_t)rnd();
				compare_one(page, &f, b, n, in, 0);
			}
		}
	}
}

static void test_differential(void)
{
	uint8_t *page = native_page();

	if (!page)
		return;
	fake_reset();
	compared = 0;
	test_table_forms(page);
	test_conditions(page);
	test_shifts(page);
	/* Every comparison ran: a form the emulator refused would show up above. */
	CHECK_EQ(compared, 400 * (sizeof(forms) / sizeof(forms[0])) + 60 * 16 * 5 +
			       120 * (4 * 8 * 3 + 3 * (4 + 4)));
	munmap(page, 4096);
}

/* Memory operands: LOCK as one compare-and-exchange, BT's reach, faults leaving state alone. */
static void test_memory(void)
{
	struct emu_cpu c = cpu64();
	struct emu_exception exc;
	uint64_t flags;

	fake_reset();
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3000, 41);
	/* lock incq (%rbx) and plain incq: the same result, only LOCK goes through cmpxchg (one
	 * to read the value, one to update it). */
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0xff, 0x03), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get64(0x3000), 42);
	CHECK_EQ(fake.cmpxchgs, 2);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xff, 0x03), 0);
	CHECK_EQ(get64(0x3000), 43);
	CHECK_EQ(fake.cmpxchgs, 2);
	/* xchg with memory is locked without a prefix; the register gets the old value. */
	c.rip = CODE;
	c.gpr[EMU_RCX] = 7;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x87, 0x0b), 0);
	CHECK_EQ(get64(0x3000), 7);
	CHECK_EQ(c.gpr[EMU_RCX], 43);
	CHECK_EQ(fake.cmpxchgs, 4);
	/* lock xadd %ecx,(%rbx): memory 7 + 43, ecx the old 7. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0xc1, 0x0b), 0);
	CHECK_EQ(get32(0x3000), 50);
	CHECK_EQ(c.gpr[EMU_RCX], 7);
	/* lock cmpxchg: a mismatch loads rAX and still writes (the old value) back. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 1;
	c.gpr[EMU_RCX] = 99;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xb1, 0x0b), 0);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	CHECK_EQ(c.gpr[EMU_RAX], 50);
	CHECK_EQ(get64(0x3000), 50);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xb1, 0x0b), 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(get64(0x3000), 99);
	/* LOCK where it is not allowed: a register destination, a shift, a plain MOV. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0xff, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0xd1, 0x23), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xa3, 0x0b), 0); /* bt reads only */
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.rip, CODE);

	/* bt %rcx,(%rbx) with rcx = -1: bit 63 of the quadword before. */
	put64(0x2ff8, 1ull << 63);
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xa3, 0x0b), 0);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	/* lock btr %rcx,(%rbx) with rcx = 130: bit 2 of the quadword at +16. */
	c.rip = CODE;
	put64(0x3010, 0x4);
	c.gpr[EMU_RCX] = 130;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xb3, 0x0b), 0);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	CHECK_EQ(get64(0x3010), 0);
	/* bts $70,(%rbx) as a 32-bit operand: the immediate wraps to bit 6 of the same dword. */
	c.rip = CODE;
	put32(0x3000, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xba, 0x2b, 70), 0);
	CHECK_EQ(get32(0x3000), 0x40);
	CHECK(!(c.rflags & EMU_RFLAGS_CF));

	/* A locked access that is not to RAM: refused before any read reaches a device. */
	{
		unsigned reads = fake.reads;
		uint64_t rbx = c.gpr[EMU_RBX];

		c.gpr[EMU_RBX] = MEM_SIZE + 0x1000;
		CHECK(RUN(&c, &exc, 0xf0, 0x48, 0xff, 0x03) < 0);
		CHECK_EQ(fake.reads, reads);
		c.gpr[EMU_RBX] = rbx;
	}
	/* 0f ba /0-/3 do not exist: #UD. */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xba, 0x03, 1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);

	/* A faulting write: memory, registers and flags as they were. */
	c.rip = CODE;
	fake.fault_lo = 0x3000;
	fake.fault_hi = 0x4000;
	fake.fault_access = EMU_ACC_WRITE;
	flags = c.rflags;
	put64(0x3000, 5);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xc1, 0x0b), 0); /* lock xadd */
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(c.gpr[EMU_RCX], 130);
	CHECK_EQ(get64(0x3000), 5);
	CHECK_EQ(c.rflags, flags);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xd3, 0x23), 0); /* shlq %cl,(%rbx) */
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(get64(0x3000), 5);
	CHECK_EQ(c.rflags, flags);
	/* A shift by 0 still checks that memory takes a write; BT and CMP only read. */
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xc1, 0x23, 0x00), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xa3, 0x0b), 0);
	CHECK(!exc.valid);
	c.rip = CODE;
	/* A failing cmpxchg to memory writes too (the old value): a read-only page faults. */
	c.gpr[EMU_RAX] = 6;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xb1, 0x0b), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(c.gpr[EMU_RAX], 6);
	CHECK_EQ(c.rip, CODE);
	fake.fault_lo = fake.fault_hi = 0;
	fake.fault_access = 0;

	/* mov moffs: A1 with a 64-bit offset, A2 with %fs, through the segment base. */
	put64(0x5000, 0x1122334455667788ull);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xa1, 0x00, 0x50, 0, 0, 0, 0, 0, 0), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1122334455667788ull);
	CHECK_EQ(c.rip, CODE + 10);
	c.rip = CODE;
	c.seg[EMU_FS].base = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0xa2, 0x00, 0x50, 0, 0, 0, 0, 0, 0), 0);
	CHECK_EQ(fake.mem[0x5100], 0x88);
	/* xlat: AL = [rBX + AL]. */
	c.rip = CODE;
	c.gpr[EMU_RBX] = 0x5000;
	c.gpr[EMU_RAX] = 0xff01;
	CHECK_EQ(RUN(&c, &exc, 0xd7), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0xff77);
	c.rip = CODE;
}

/* #DE, #UD and the forms that exist only in some modes. */
static void test_faults(void)
{
	struct emu_cpu c = cpu64();
	struct emu_exception exc;

	fake_reset();
	/* div by zero and a quotient that does not fit: #DE, no error code, nothing changed. */
	c.gpr[EMU_RAX] = 5;
	c.gpr[EMU_RDX] = 0;
	c.gpr[EMU_RCX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xf7, 0xf1), 0);
	CHECK_EXC(exc, EMU_X_DE, -1);
	CHECK_EQ(c.gpr[EMU_RAX], 5);
	CHECK_EQ(c.rip, CODE);
	c.gpr[EMU_RDX] = 2;
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xf7, 0xf1), 0);
	CHECK_EXC(exc, EMU_X_DE, -1);
	/* idiv: the most negative 128-bit dividend by -1 overflows. */
	c.gpr[EMU_RDX] = 1ull << 63;
	c.gpr[EMU_RAX] = 0;
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xf7, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_DE, -1);
	/* -128 / -1 in 8 bits. */
	c.gpr[EMU_RAX] = 0xff80;
	c.gpr[EMU_RCX] = 0xff;
	CHECK_EQ(RUN(&c, &exc, 0xf6, 0xf9), 0);
	CHECK_EXC(exc, EMU_X_DE, -1);
	CHECK_EQ(c.rip, CODE);
	/* Undefined encodings of groups 4 and 5: #UD. */
	CHECK_EQ(RUN(&c, &exc, 0xfe, 0xd0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xff, 0xf8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* LAHF/SAHF in 64-bit mode need CPUID's LAHF-SAHF bit; outside it they always exist. */
	c.features = 0;
	CHECK_EQ(RUN(&c, &exc, 0x9f), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = cpu32();
	c.rflags = 0x2 | EMU_RFLAGS_CF | EMU_RFLAGS_ZF;
	CHECK_EQ(RUN(&c, &exc, 0x9f), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX] >> 8 & 0xff, 0x43);
	/* 63 outside 64-bit mode is ARPL: not emulated. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x63, 0xc1), -ENOTSUP);
	/* Real mode: 16-bit operands by default, 66 for 32. */
	c = cpu16();
	c.gpr[EMU_RAX] = 0x12345678;
	CHECK_EQ(RUN(&c, &exc, 0x40), 0); /* inc %ax */
	CHECK_EQ(c.gpr[EMU_RAX], 0x12345679);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xc8), 0); /* bswap %eax */
	CHECK_EQ(c.gpr[EMU_RAX], 0x79563412);
}

/* Two threads do `lock incq` and `lock xadd` on one counter through the emulator. */
#define RACE_ITERS 20000

static void *race(void *arg)
{
	static const uint8_t inc[] = { 0xf0, 0x48, 0xff, 0x03 },
			     xadd[] = { 0xf0, 0x48, 0x0f, 0xc1, 0x0b };
	uintptr_t which = (uintptr_t)arg;

	for (int i = 0; i < RACE_ITERS; i++) {
		struct emu_cpu c = cpu64();
		struct emu_exception exc;

		c.gpr[EMU_RBX] = 0x7000;
		c.gpr[EMU_RCX] = 1;
		if (emu_step(&c, which ? xadd : inc, which ? sizeof(xadd) : sizeof(inc), &fake_ops,
			     NULL, NULL, &exc) ||
		    exc.valid)
			return (void *)1;
	}
	return NULL;
}

static void test_locked_race(void)
{
	pthread_t t[2];
	void *res[2];

	fake_reset();
	put64(0x7000, 0);
	for (uintptr_t i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, race, (void *)i), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], &res[i]);
		CHECK(res[i] == NULL);
	}
	CHECK_EQ(get64(0x7000), 2 * RACE_ITERS);
}

int main(void)
{
	RUN_TEST(test_differential);
	RUN_TEST(test_memory);
	RUN_TEST(test_faults);
	RUN_TEST(test_locked_race);
	free(fake.mem);
	TEST_EXIT();
}
