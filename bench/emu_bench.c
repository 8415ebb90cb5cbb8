/*
 * The x86 emulator's cost per instruction against the host CPU running the same instruction, in
 * the same process and the same run (bench/README.md): decode + execute through emu_step on flat
 * fake RAM, then a native loop of the instruction. Prints a table; asserts nothing.
 *
 *   build/bench/emu_bench [iterations]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"

#define RAM (1u << 20)
#define CODE 0x1000u
#define DATA 0x3000u
#define STACK 0x8000u

static uint8_t *ram;

static int bench_access(uint64_t la, unsigned len, struct emu_pf *pf)
{
	(void)pf;
	return la + len <= RAM ? 0 : -EFAULT;
}

static int bench_read(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
		      struct emu_pf *pf)
{
	int ret = bench_access(la, len, pf);

	(void)opaque;
	(void)access;
	if (!ret)
		memcpy(dst, ram + la, len);
	return ret;
}

static int bench_write(void *opaque, uint64_t la, const void *src, unsigned len, unsigned access,
		       struct emu_pf *pf)
{
	int ret = bench_access(la, len, pf);

	(void)opaque;
	(void)access;
	if (!ret)
		memcpy(ram + la, src, len);
	return ret;
}

static int bench_cmpxchg(void *opaque, uint64_t la, void *expected, const void *desired,
			 unsigned len, unsigned access, bool *swapped, struct emu_pf *pf)
{
	int ret = bench_access(la, len, pf);

	(void)opaque;
	(void)access;
	if (ret)
		return ret;
	ret = emu_host_cmpxchg(ram + la, expected, desired, len);
	if (ret < 0)
		return ret;
	*swapped = ret;
	return 0;
}

static const struct emu_ops ops = { .read = bench_read,
				    .write = bench_write,
				    .cmpxchg = bench_cmpxchg };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct emu_cpu cpu64(void)
{
	struct emu_cpu c;

	memset(&c, 0, sizeof(c));
	c.cr0 = EMU_CR0_PE | EMU_CR0_PG | EMU_CR0_NE | EMU_CR0_MP;
	c.cr4 = EMU_CR4_PAE | EMU_CR4_OSFXSR;
	c.efer = EMU_EFER_LME | EMU_EFER_LMA;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		c.seg[i] = (struct emu_seg){
			.limit = 0xffffffff, .type = 3, .s = 1, .present = 1, .db = 1
		};
	c.seg[EMU_CS] =
	    (struct emu_seg){ .limit = 0xffffffff, .type = 0xb, .s = 1, .present = 1, .l = 1 };
	c.rip = CODE;
	c.rflags = 0x2;
	c.gpr[EMU_RBX] = DATA;
	c.gpr[EMU_RSP] = STACK;
	c.mxcsr = 0x1f80;
	return c;
}

/* ns per emulated instruction: every step decodes from the bytes an exit would carry. */
static double emulated(const uint8_t *b, unsigned n, unsigned iters)
{
	struct emu_cpu c = cpu64(), start = c;
	struct emu_exception exc;
	double t0;

	memcpy(ram + CODE, b, n);
	t0 = now();
	for (unsigned i = 0; i < iters; i++) {
		if (emu_step(&c, b, n, &ops, NULL, NULL, &exc) || exc.valid) {
			fprintf(stderr, "emu_bench: the emulator refused an instruction\n");
			exit(1);
		}
		c.rip = CODE;
		c.gpr[EMU_RSP] = STACK;
		if (!(i & 1023))
			c = start;
	}
	return (now() - t0) * 1e9 / iters;
}

/* ns per native instruction: 16 copies in a loop, the empty loop subtracted. */
#define NATIVE(name, body)                                                                         \
	static double name(unsigned iters)                                                         \
	{                                                                                          \
		uint64_t data[4] = { 0 };                                                          \
		double t0 = now(), t1;                                                             \
                                                                                                   \
		for (unsigned i = 0; i < iters / 16; i++)                                          \
			__asm__ volatile(body body body body body body body body body body body    \
					     body body body body body                              \
					 :                                                         \
					 : "r"(data)                                               \
					 : "rax", "rcx", "rdx", "memory", "cc");                   \
		t1 = now();                                                                        \
		return (t1 - t0) * 1e9 / (iters / 16 * 16);                                        \
	}

NATIVE(native_add, "add %%rcx, %%rax\n\t")
NATIVE(native_mov_load, "mov (%0), %%rax\n\t")
NATIVE(native_lock_add, "lock addq $1, (%0)\n\t")
NATIVE(native_imul, "imul %%rcx, %%rax\n\t")
NATIVE(native_push_pop, "push %%rax\n\tpop %%rax\n\t")
NATIVE(native_bt, "bt %%rcx, %%rax\n\t")
NATIVE(native_empty, "\n\t")

struct bench_case {
	const char *name;
	uint8_t b[8];
	unsigned n;
	double (*native)(unsigned);
	unsigned native_insns; /* instructions per native body */
};

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
		{ "add %rcx,%rax", { 0x48, 0x01, 0xc8 }, 3, native_add, 1 },
		{ "mov (%rbx),%rax", { 0x48, 0x8b, 0x03 }, 3, native_mov_load, 1 },
		{ "lock addq $1,(%rbx)", { 0xf0, 0x48, 0x83, 0x03, 0x01 }, 5, native_lock_add, 1 },
		{ "imul %rcx,%rax", { 0x48, 0x0f, 0xaf, 0xc1 }, 4, native_imul, 1 },
		{ "push %rax", { 0x50 }, 1, native_push_pop, 2 },
		{ "bt %rcx,%rax", { 0x48, 0x0f, 0xa3, 0xc8 }, 4, native_bt, 1 },
	};
	unsigned iters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 2000000;
	double empty;

	if (iters < 16) {
		fprintf(stderr, "emu_bench: iterations must be at least 16\n");
		return 2;
	}
	ram = calloc(1, RAM);
	if (!ram) {
		fprintf(stderr, "emu_bench: out of memory\n");
		return 1;
	}
	empty = native_empty(iters);
	printf("%-22s %12s %12s %10s\n", "instruction", "emulated ns", "native ns", "ratio");
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bench_case *k = &cases[i];
		double e = emulated(k->b, k->n, iters);
		double nat = (k->native(iters) - empty) / k->native_insns;

		if (nat < 0.05)
			nat = 0.05; /* below the clock's resolution: report a lower bound of the
				       ratio */
		printf("%-22s %12.1f %12.2f %10.0f\n", k->name, e, nat, e / nat);
	}
	free(ram);
	return 0;
}
