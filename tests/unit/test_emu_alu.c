/* Unit tests of the integer core (ADD..CMP, TEST, MOV, LEA): memory forms, byte registers, and a
 * differential test running each form natively on the host CPU with the same inputs. */

#include "emu_fake.h"

#define ARITH                                                                                      \
	(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF |           \
	 EMU_RFLAGS_OF)

static void test_memory_forms(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3000, 5);
	c.gpr[EMU_RCX] = 7;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x01, 0x0b), 0); /* add %rcx, (%rbx) */
	CHECK_EQ(get64(0x3000), 12);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x2b, 0x0b), 0); /* sub (%rbx), %rcx */
	CHECK_EQ(c.gpr[EMU_RCX], (uint64_t)-5);
	CHECK(c.rflags & EMU_RFLAGS_CF);
	CHECK_EQ(RUN(&c, &exc, 0x83, 0x3b, 0x0c), 0); /* cmpl $12, (%rbx) */
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(get64(0x3000), 12);
	CHECK_EQ(RUN(&c, &exc, 0xc7, 0x03, 0x78, 0x56, 0x34, 0x12), 0); /* movl $imm, (%rbx) */
	CHECK_EQ(get64(0x3000), 0x12345678);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x8b, 0x13), 0); /* mov (%rbx), %rdx */
	CHECK_EQ(c.gpr[EMU_RDX], 0x12345678);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x8d, 0x44, 0x8b, 0x10), 0); /* lea 0x10(%rbx,%rcx,4), %rax */
	CHECK_EQ(c.gpr[EMU_RAX], 0x3000 + 0x10 + (uint64_t)-5 * 4);
	/* Byte registers: AH without REX, SPL with it. */
	c.gpr[EMU_RAX] = 0x1234;
	CHECK_EQ(RUN(&c, &exc, 0x88, 0xe0), 0); /* mov %ah, %al */
	CHECK_EQ(c.gpr[EMU_RAX], 0x1212);
	c.gpr[EMU_RSP] = 0x8000;
	CHECK_EQ(RUN(&c, &exc, 0x40, 0x88, 0xe0), 0); /* mov %spl, %al */
	CHECK_EQ(c.gpr[EMU_RAX] & 0xff, 0);
	/* mov $imm64, %r9 */
	CHECK_EQ(RUN(&c, &exc, 0x49, 0xb9, 1, 2, 3, 4, 5, 6, 7, 8), 0);
	CHECK_EQ(c.gpr[EMU_R9], 0x0807060504030201ull);
	/* A write fault: #PF, memory and flags untouched. */
	fake.fault_lo = 0x3000;
	fake.fault_hi = 0x4000;
	{
		uint64_t flags = c.rflags;

		/* A read-modify-write faults as a write (error code W), as on the CPU. */
		CHECK_EQ(RUN(&c, &exc, 0x48, 0x01, 0x0b), 0);
		CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
		CHECK_EQ(c.rflags, flags);
		/* CMP only reads. */
		CHECK_EQ(RUN(&c, &exc, 0x48, 0x39, 0x0b), 0);
		CHECK_EXC(exc, EMU_X_PF, 0);
	}
	fake.fault_lo = fake.fault_hi = 0;
	/* LOCK: #UD on a register destination and on CMP (no read-modify-write); on memory a
	 * compare-and-exchange to read, one to write. */
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x39, 0x0b), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x83, 0x3b, 0x01), 0); /* lock cmpq $1,(%rbx) */
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x01, 0xc8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	{
		uint64_t before = get64(0x3000), cmpxchgs = fake.cmpxchgs;

		CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x01, 0x0b), 0);
		CHECK(!exc.valid);
		CHECK_EQ(get64(0x3000), before + c.gpr[EMU_RCX]);
		CHECK_EQ(fake.cmpxchgs, cmpxchgs + 2);
	}
	/* LEA of a register: #UD. */
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x8d, 0xc0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
}

/* "load rax, rcx, flags; INSN; store rax, rcx, flags". */
static void native(uint8_t *page, const uint8_t *insn, unsigned n, uint64_t io[4])
{
	static const uint8_t pre[] = { 0x48, 0x8b, 0x07, 0x48, 0x8b, 0x4f,
				       0x08, 0xff, 0x77, 0x18, 0x9d };
	static const uint8_t post[] = { 0x9c, 0x5a, 0x48, 0x89, 0x07, 0x48, 0x89,
					0x4f, 0x08, 0x48, 0x89, 0x57, 0x10, 0xc3 };
	void (*fn)(uint64_t *);

	memcpy(page, pre, sizeof(pre));
	memcpy(page + sizeof(pre), insn, n);
	memcpy(page + sizeof(pre) + n, post, sizeof(post));
	__builtin___clear_cache((char *)page, (char *)page + 64);
	fn = (void (*)(uint64_t *))(void *)page;
	fn(io);
}

static void test_differential(void)
{
	uint8_t *page = native_page();
	uint64_t seed = 0x0123456789abcdefull;
	unsigned compared = 0;

	if (!page)
		return;
	fake_reset();
	for (unsigned round = 0; round < 60; round++) {
		for (unsigned op = 0; op < 8; op++) {
			for (unsigned form = 0; form < 12; form++) {
				uint8_t insn[8];
				unsigned n = 0, opc = op << 3;
				uint64_t io[4], in_rax, in_rcx, fl;
				struct emu_cpu c = cpu64();
				struct emu_exception exc;
				bool logic = op == 1 || op == 4 || op == 6;

				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				in_rax = round % 5 == 0 ? seed & 0x8000000080008080ull : seed;
				in_rcx = round % 7 == 0 ? in_rax : seed * 0x9e3779b97f4a7c15ull;
				fl = 0x2 | (seed >> 32 & 0x8d5);
				switch (form) {
				case 0: /* 64-bit r/m <- reg */
					insn[n++] = 0x48, insn[n++] = (uint8_t)(opc + 1),
					insn[n++] = 0xc8;
					break;
				case 1: /* 32-bit reg <- r/m */
					insn[n++] = (uint8_t)(opc + 3), insn[n++] = 0xc8;
					break;
				case 2: /* 16-bit */
					insn[n++] = 0x66, insn[n++] = (uint8_t)(opc + 1),
					insn[n++] = 0xc8;
					break;
				case 3: /* 8-bit, al and cl */
					insn[n++] = (uint8_t)opc, insn[n++] = 0xc8;
					break;
				case 4: /* 8-bit, ah into al */
					insn[n++] = (uint8_t)(opc + 2), insn[n++] = 0xc4;
					break;
				case 5: /* al, imm8 */
					insn[n++] = (uint8_t)(opc + 4), insn[n++] = (uint8_t)seed;
					break;
				case 6: /* rax, imm32 */
					insn[n++] = 0x48, insn[n++] = (uint8_t)(opc + 5);
					for (int i = 0; i < 4; i++)
						insn[n++] = (uint8_t)(seed >> (8 * i + 8));
					break;
				case 7: /* group 1: r/m64, imm8 sign-extended */
					insn[n++] = 0x48, insn[n++] = 0x83,
					insn[n++] = (uint8_t)(0xc0 | op << 3 | 1),
					insn[n++] = (uint8_t)(seed >> 16);
					break;
				case 8: /* group 1: r/m8, imm8 */
					insn[n++] = 0x80, insn[n++] = (uint8_t)(0xc0 | op << 3),
					insn[n++] = (uint8_t)(seed >> 24);
					break;
				case 9: /* group 1: r/m16, imm16 */
					insn[n++] = 0x66, insn[n++] = 0x81,
					insn[n++] = (uint8_t)(0xc0 | op << 3 | 1),
					insn[n++] = (uint8_t)seed, insn[n++] = (uint8_t)(seed >> 8);
					break;
				case 10: /* test r/m64, reg */
					insn[n++] = 0x48, insn[n++] = 0x85, insn[n++] = 0xc8;
					logic = true;
					break;
				default: /* test al, imm8 */
					insn[n++] = 0xa8, insn[n++] = (uint8_t)(seed >> 40);
					logic = true;
					break;
				}
				io[0] = in_rax;
				io[1] = in_rcx;
				io[3] = fl;
				c.gpr[EMU_RAX] = in_rax;
				c.gpr[EMU_RCX] = in_rcx;
				c.rflags = fl;
				CHECK_EQ(run(&c, insn, n, &exc), 0);
				CHECK(!exc.valid);
				native(page, insn, n, io);
				CHECK_EQ(c.gpr[EMU_RAX], io[0]);
				CHECK_EQ(c.gpr[EMU_RCX], io[1]);
				/* AF is undefined after the logic operations. */
				CHECK_EQ(c.rflags & (logic ? ARITH & ~EMU_RFLAGS_AF : ARITH),
					 io[2] & (logic ? ARITH & ~EMU_RFLAGS_AF : ARITH));
				compared++;
			}
		}
	}
	CHECK_EQ(compared, 60 * 8 * 12);
	munmap(page, 4096);
}

int main(void)
{
	RUN_TEST(test_memory_forms);
	RUN_TEST(test_differential);
	free(fake.mem);
	TEST_EXIT();
}
