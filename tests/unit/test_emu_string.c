/* Unit tests of port I/O (IN, OUT, and their permission checks) and the string instructions with
 * REP prefixes: counts, directions, address sizes, segment overrides, batches, faults midway. */
#include "emu_fake.h"

static void fill(uint64_t gpa, unsigned n, uint8_t start)
{
	for (unsigned i = 0; i < n; i++)
		fake.mem[gpa + i] = (uint8_t)(start + i);
}

static void test_movs_stos_lods(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* rep movsb, 100 bytes forward. */
	c = cpu64();
	fill(0x3000, 100, 1);
	c.gpr[EMU_RSI] = 0x3000;
	c.gpr[EMU_RDI] = 0x4000;
	c.gpr[EMU_RCX] = 100;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xa4), 0);
	CHECK(!exc.valid);
	CHECK(!memcmp(fake.mem + 0x4000, fake.mem + 0x3000, 100));
	CHECK_EQ(c.gpr[EMU_RCX], 0);
	CHECK_EQ(c.gpr[EMU_RSI], 0x3064);
	CHECK_EQ(c.gpr[EMU_RDI], 0x4064);
	CHECK_EQ(c.rip, CODE + 2);
	/* std; rep movsd backwards: 3 dwords ending at the given addresses. */
	c = cpu64();
	c.rflags |= EMU_RFLAGS_DF;
	c.gpr[EMU_RSI] = 0x3008;
	c.gpr[EMU_RDI] = 0x5008;
	c.gpr[EMU_RCX] = 3;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xa5), 0);
	CHECK(!memcmp(fake.mem + 0x5000, fake.mem + 0x3000, 12));
	CHECK_EQ(c.gpr[EMU_RSI], 0x3008 - 12);
	/* rep stosq. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x1122334455667788ull;
	c.gpr[EMU_RDI] = 0x6000;
	c.gpr[EMU_RCX] = 4;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x48, 0xab), 0);
	CHECK_EQ(get64(0x6018), 0x1122334455667788ull);
	CHECK_EQ(c.gpr[EMU_RDI], 0x6020);
	/* lodsw (no rep) through an FS override: FS's base counts in 64-bit mode. */
	c = cpu64();
	c.seg[EMU_FS].base = 0x1000;
	c.gpr[EMU_RSI] = 0x2000; /* linear 0x3000 */
	c.gpr[EMU_RAX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0x66, 0xad), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0xffffffffffff0201ull);
	CHECK_EQ(c.gpr[EMU_RSI], 0x2002);
	/* A zero count does nothing but move on. */
	c = cpu64();
	c.gpr[EMU_RCX] = 0;
	c.gpr[EMU_RDI] = 0x7000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xaa), 0);
	CHECK_EQ(c.rip, CODE + 2);
	CHECK_EQ(c.gpr[EMU_RDI], 0x7000);
	/* 16-bit addressing (67 in 32-bit code): SI, DI and CX wrap at 64 KiB. */
	c = cpu32();
	c.gpr[EMU_RSI] = 0x1230ffff;
	c.gpr[EMU_RDI] = 0x12344000;
	c.gpr[EMU_RCX] = 0xabcd0002;
	fake.mem[0xffff] = 0x5a;
	fake.mem[0] = 0x5b;
	CHECK_EQ(RUN(&c, &exc, 0x67, 0xf3, 0xa4), 0);
	CHECK_EQ(fake.mem[0x4000], 0x5a);
	CHECK_EQ(fake.mem[0x4001], 0x5b);
	CHECK_EQ(c.gpr[EMU_RSI], 0x12300001);
	CHECK_EQ(c.gpr[EMU_RCX], 0xabcd0000);
}

static void test_cmps_scas(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* repe cmpsb stops after the first difference, which it counts. */
	c = cpu64();
	memcpy(fake.mem + 0x3000, "abcdef", 6);
	memcpy(fake.mem + 0x4000, "abcxef", 6);
	c.gpr[EMU_RSI] = 0x3000;
	c.gpr[EMU_RDI] = 0x4000;
	c.gpr[EMU_RCX] = 6;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xa6), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 2);
	CHECK_EQ(c.gpr[EMU_RSI], 0x3004);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	CHECK(c.rflags & EMU_RFLAGS_CF); /* 'd' < 'x' */
	CHECK(c.rflags & EMU_RFLAGS_SF);
	/* repne scasb: strlen's idiom. */
	c = cpu64();
	memcpy(fake.mem + 0x5000, "hello", 6);
	c.gpr[EMU_RDI] = 0x5000;
	c.gpr[EMU_RCX] = ~0ull;
	c.gpr[EMU_RAX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0xae), 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(c.gpr[EMU_RDI], 0x5006);
	CHECK_EQ(~c.gpr[EMU_RCX] - 1, 5);
	/* cmpsd flags: 0x80000000 - 1 overflows. */
	c = cpu64();
	put32(0x3000, 0x80000000u);
	put32(0x4000, 1);
	c.gpr[EMU_RSI] = 0x3000;
	c.gpr[EMU_RDI] = 0x4000;
	CHECK_EQ(RUN(&c, &exc, 0xa7), 0);
	CHECK(c.rflags & EMU_RFLAGS_OF);
	CHECK(!(c.rflags & EMU_RFLAGS_SF));
	CHECK(!(c.rflags & EMU_RFLAGS_CF));
	CHECK(c.rflags & EMU_RFLAGS_AF); /* a borrow out of bit 4 */
}

static void test_batches_and_faults(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	unsigned calls = 0;

	fake_reset();
	/* rep stosb of 5000 bytes: in batches, RIP staying on the instruction until the end. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x77;
	c.gpr[EMU_RDI] = 0x10000;
	c.gpr[EMU_RCX] = 5000;
	do {
		CHECK_EQ(RUN(&c, &exc, 0xf3, 0xaa), 0);
		CHECK(!exc.valid);
		calls++;
	} while (c.rip == CODE && calls < 100);
	CHECK_EQ(calls, 5);
	CHECK_EQ(c.gpr[EMU_RCX], 0);
	CHECK_EQ(fake.mem[0x10000 + 4999], 0x77);
	/* rep movsb into a page that faults: the bytes before it are copied, then the fault. */
	c = cpu64();
	fill(0x3000, 64, 1);
	c.gpr[EMU_RSI] = 0x3000;
	c.gpr[EMU_RDI] = 0x8ff0;
	c.gpr[EMU_RCX] = 64;
	fake.fault_lo = 0x9000;
	fake.fault_hi = 0xa000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xa4), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(c.gpr[EMU_RCX], 48);
	CHECK_EQ(fake.mem[0x8fff], 16);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xa4), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(exc.cr2, 0x9000);
	CHECK_EQ(c.gpr[EMU_RCX], 48); /* nothing of the faulting iteration done */
	fake.fault_lo = fake.fault_hi = 0;
	/* A segment limit in 32-bit mode: #GP(0) for DS, ES likewise. */
	c = cpu32();
	c.seg[EMU_ES].limit = 0x3fff;
	c.gpr[EMU_RDI] = 0x4000;
	CHECK_EQ(RUN(&c, &exc, 0xaa), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

static void test_port_io(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	fake.port_value = 0xa1b2c3d4;
	/* in $0x60, %al; in %dx, %eax (zero-extends RAX); out %eax, %dx. */
	c = cpu64();
	c.gpr[EMU_RAX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0xe4, 0x60), 0);
	CHECK_EQ(fake.last_port, 0x60);
	CHECK_EQ(c.gpr[EMU_RAX], 0xffffffffffffffd4ull);
	c.gpr[EMU_RDX] = 0x3f8;
	CHECK_EQ(RUN(&c, &exc, 0xed), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0xa1b2c3d4ull);
	CHECK_EQ(fake.last_pio_len, 4);
	c.gpr[EMU_RAX] = 0x12345678;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xef), 0);
	CHECK_EQ(fake.last_pio_data, 0x5678);
	CHECK_EQ(fake.last_pio_len, 2);
	/* rep outsb: one port write per byte; rep insw: memory from the port. */
	c = cpu64();
	memcpy(fake.mem + 0x3000, "abc", 3);
	c.gpr[EMU_RSI] = 0x3000;
	c.gpr[EMU_RCX] = 3;
	c.gpr[EMU_RDX] = 0x3f8;
	fake.pio_writes = 0;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x6e), 0);
	CHECK_EQ(fake.pio_writes, 3);
	CHECK_EQ(fake.last_pio_data, 'c');
	c.gpr[EMU_RDI] = 0x4000;
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x66, 0x6d), 0);
	CHECK_EQ(get32(0x4000), 0xc3d4c3d4u);
	/* insb into a page that faults: the port is not read (its data would be lost). */
	c = cpu64();
	c.gpr[EMU_RDI] = 0x9000;
	fake.fault_lo = 0x9000;
	fake.fault_hi = 0xa000;
	fake.pio_reads = 0;
	CHECK_EQ(RUN(&c, &exc, 0x6c), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(fake.pio_reads, 0);
	fake.fault_lo = fake.fault_hi = 0;
	/* CPL 3 above IOPL: the TSS I/O bitmap decides. */
	c = cpu64();
	c.cpl = 3;
	c.tr =
	    (struct emu_seg){ .base = 0x20000, .limit = 0x2067 + 0x20, .type = 0xb, .present = 1 };
	fake.mem[0x20066] = 0x68; /* bitmap right after the 0x68-byte TSS */
	fake.mem[0x20067] = 0;
	memset(fake.mem + 0x20068, 0xff, 0x20);
	fake.mem[0x20068 + 0x60 / 8] = (uint8_t)~1u; /* port 0x60 allowed */
	CHECK_EQ(RUN(&c, &exc, 0xe4, 0x60), 0);
	CHECK(!exc.valid);
	CHECK_EQ(RUN(&c, &exc, 0xe4, 0x61), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* A word at 0x60 also needs port 0x61. */
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xe5, 0x60), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Ports beyond the TSS's limit are denied; IOPL 3 needs no bitmap. */
	CHECK_EQ(RUN(&c, &exc, 0xe4, 0xff), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.rflags |= EMU_RFLAGS_IOPL;
	CHECK_EQ(RUN(&c, &exc, 0xe4, 0xff), 0);
	CHECK(!exc.valid);
	/* Without a port callback: not emulated. */
	{
		struct emu_ops no_pio = fake_ops;

		no_pio.pio = NULL;
		c = cpu64();
		memcpy(fake.mem + c.rip, (const uint8_t[]){ 0xe4, 0x60 }, 2);
		CHECK_EQ(
		    emu_step(&c, (const uint8_t[]){ 0xe4, 0x60 }, 2, &no_pio, NULL, NULL, &exc),
		    -ENOTSUP);
	}
}

int main(void)
{
	RUN_TEST(test_movs_stos_lods);
	RUN_TEST(test_cmps_scas);
	RUN_TEST(test_batches_and_faults);
	RUN_TEST(test_port_io);
	free(fake.mem);
	TEST_EXIT();
}
