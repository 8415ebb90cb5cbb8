/*
 * Unit tests of near branches, the stack and the flag instructions that touch privilege: Jcc,
 * JMP, CALL, RET, LOOP/JrCXZ, PUSH, POP, LEAVE, ENTER, PUSHF, POPF, in 64-bit, 32-bit and real
 * mode, with every fault leaving RIP, RSP and memory as they were.
 */
#include "emu_fake.h"

#define STACK 0x8000ull

static struct emu_cpu with_stack(struct emu_cpu c)
{
	c.gpr[EMU_RSP] = STACK;
	return c;
}

static void test_jumps(void)
{
	struct emu_cpu c = with_stack(cpu64());
	struct emu_exception exc;

	fake_reset();
	/* jz rel8 not taken, then taken backwards. */
	CHECK_EQ(RUN(&c, &exc, 0x74, 0xf0), 0);
	CHECK_EQ(c.rip, CODE + 2);
	c.rip = CODE;
	c.rflags |= EMU_RFLAGS_ZF;
	CHECK_EQ(RUN(&c, &exc, 0x74, 0xf0), 0);
	CHECK_EQ(c.rip, CODE + 2 - 16);
	/* jg rel32 (0f 8f): SF == OF and !ZF. */
	c.rip = CODE;
	c.rflags = 0x2 | EMU_RFLAGS_SF | EMU_RFLAGS_OF;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x8f, 0x00, 0x01, 0x00, 0x00), 0);
	CHECK_EQ(c.rip, CODE + 6 + 0x100);
	/* jmp to a non-canonical address: #GP(0), RIP stays. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0x0000800000000000ull;
	CHECK_EQ(RUN(&c, &exc, 0xff, 0xe0), 0); /* jmp *%rax */
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.rip, CODE);
	c.gpr[EMU_RAX] = 0xffff800000001234ull;
	CHECK_EQ(RUN(&c, &exc, 0xff, 0xe0), 0);
	CHECK_EQ(c.rip, 0xffff800000001234ull);
	/* 64-bit mode ignores 66 on a near jump (Intel): still a 64-bit target. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0x123456789ull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xff, 0xe0), 0);
	CHECK_EQ(c.rip, 0x123456789ull);

	/* 32-bit: a jump past CS's limit is #GP(0); 66 truncates the target to 16 bits. */
	c = with_stack(cpu32());
	c.seg[EMU_CS].limit = 0x1fff;
	CHECK_EQ(RUN(&c, &exc, 0xe9, 0x00, 0x10, 0x00, 0x00), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(RUN(&c, &exc, 0xe9, 0x00, 0x0f, 0x00, 0x00), 0);
	CHECK_EQ(c.rip, CODE + 5 + 0xf00);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xe9, 0x00, 0xf0), 0); /* 0x1004 + 0xf000 wraps to 16 bits */
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, (CODE + 4 + 0xf000) & 0xffff);
}

static void test_loops(void)
{
	struct emu_cpu c = with_stack(cpu64());
	struct emu_exception exc;

	fake_reset();
	c.gpr[EMU_RCX] = 2;
	CHECK_EQ(RUN(&c, &exc, 0xe2, 0xfe), 0); /* loop . */
	CHECK_EQ(c.gpr[EMU_RCX], 1);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(RUN(&c, &exc, 0xe2, 0xfe), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 0);
	CHECK_EQ(c.rip, CODE + 2);
	/* loope stops on ZF clear; loopne on ZF set. */
	c.rip = CODE;
	c.gpr[EMU_RCX] = 5;
	c.rflags = 0x2;
	CHECK_EQ(RUN(&c, &exc, 0xe1, 0x10), 0);
	CHECK_EQ(c.rip, CODE + 2);
	CHECK_EQ(c.gpr[EMU_RCX], 4);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xe0, 0x10), 0);
	CHECK_EQ(c.rip, CODE + 2 + 0x10);
	/* 67: the count is ECX (the upper half is cleared as for any 32-bit write). */
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0x100000000ull;
	CHECK_EQ(RUN(&c, &exc, 0x67, 0xe3, 0x10), 0); /* jecxz */
	CHECK_EQ(c.rip, CODE + 3 + 0x10);
	CHECK_EQ(c.gpr[EMU_RCX], 0x100000000ull);
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0x100000001ull;
	CHECK_EQ(RUN(&c, &exc, 0x67, 0xe2, 0x10), 0);
	CHECK_EQ(c.gpr[EMU_RCX], 0);
	CHECK_EQ(c.rip, CODE + 3);
	/* A taken loop to a bad target faults before the count changes. */
	c = with_stack(cpu32());
	c.seg[EMU_CS].limit = 0x1010;
	c.gpr[EMU_RCX] = 3;
	CHECK_EQ(RUN(&c, &exc, 0xe2, 0x7f), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.gpr[EMU_RCX], 3);
}

static void test_call_ret(void)
{
	struct emu_cpu c = with_stack(cpu64());
	struct emu_exception exc;

	fake_reset();
	/* call rel32: the return address on the stack, RSP down 8. */
	CHECK_EQ(RUN(&c, &exc, 0xe8, 0x00, 0x01, 0x00, 0x00), 0);
	CHECK_EQ(c.rip, CODE + 5 + 0x100);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	CHECK_EQ(get64(STACK - 8), CODE + 5);
	/* ret $16: back, and 16 more bytes released. */
	CHECK_EQ(RUN(&c, &exc, 0xc2, 0x10, 0x00), 0);
	CHECK_EQ(c.rip, CODE + 5);
	CHECK_EQ(c.gpr[EMU_RSP], STACK + 16);
	/* call *(%rbx) */
	c = with_stack(cpu64());
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3000, 0x4444);
	CHECK_EQ(RUN(&c, &exc, 0xff, 0x13), 0);
	CHECK_EQ(c.rip, 0x4444);
	CHECK_EQ(get64(STACK - 8), CODE + 2);
	/* A push that faults: no return address, RSP and RIP unchanged. */
	c = with_stack(cpu64());
	fake.fault_lo = STACK - PAGE;
	fake.fault_hi = STACK;
	CHECK_EQ(RUN(&c, &exc, 0xe8, 0x00, 0x01, 0x00, 0x00), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(exc.cr2, STACK - 8);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	fake.fault_lo = fake.fault_hi = 0;
	/* ret to a non-canonical address: #GP(0), RSP unchanged. */
	put64(STACK, 0x8000000000000000ull);
	CHECK_EQ(RUN(&c, &exc, 0xc3), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);

	/* Real mode: a 16-bit SP wraps at 64 KiB, 2-byte return addresses. */
	c = cpu16();
	c.gpr[EMU_RSP] = 0xabcd0000ull; /* only SP moves */
	c.seg[EMU_SS].base = 0x20000;
	CHECK_EQ(RUN(&c, &exc, 0xe8, 0x10, 0x00), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RSP], 0xabcdfffeull);
	CHECK_EQ(fake.mem[0x2fffe] | fake.mem[0x2ffff] << 8, CODE + 3);
	CHECK_EQ(c.rip, CODE + 3 + 0x10);
	CHECK_EQ(RUN(&c, &exc, 0xc3), 0);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK_EQ(c.gpr[EMU_RSP], 0xabcd0000ull);
	/* SP = 1: the word straddles the 64 KiB limit, #SS as on a 286 and later. */
	c.gpr[EMU_RSP] = 1;
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xe8, 0x10, 0x00), 0);
	CHECK(exc.valid && exc.vector == EMU_X_SS);
	CHECK_EQ(c.gpr[EMU_RSP], 1);
	CHECK_EQ(c.rip, CODE);

	/* 32-bit: a stack segment limit below the push: #SS(0). */
	c = with_stack(cpu32());
	c.seg[EMU_SS].limit = 0xfff;
	CHECK_EQ(RUN(&c, &exc, 0xe8, 0x00, 0x00, 0x00, 0x00), 0);
	CHECK_EXC(exc, EMU_X_SS, 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
}

static void test_push_pop(void)
{
	struct emu_cpu c = with_stack(cpu64());
	struct emu_exception exc;

	fake_reset();
	/* push $-2 (6a): sign-extended to 64 bits. */
	CHECK_EQ(RUN(&c, &exc, 0x6a, 0xfe), 0);
	CHECK_EQ(get64(STACK - 8), (uint64_t)-2);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	/* push %rsp pushes the value before the push. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x54), 0);
	CHECK_EQ(get64(STACK - 16), STACK - 8);
	/* pop %r12 */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x41, 0x5c), 0);
	CHECK_EQ(c.gpr[EMU_R12], STACK - 8);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	/* 66 push %ax in 64-bit mode: two bytes. */
	c.rip = CODE;
	c.gpr[EMU_RAX] = 0xabcd;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x50), 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 10);
	CHECK_EQ(fake.mem[STACK - 10] | fake.mem[STACK - 9] << 8, 0xabcd);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x5b), 0); /* pop %bx */
	CHECK_EQ(c.gpr[EMU_RBX] & 0xffff, 0xabcd);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	/* pushq 8(%rbx) and popq (%rsp): the destination address uses the incremented RSP. */
	c.rip = CODE;
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3008, 0x77);
	CHECK_EQ(RUN(&c, &exc, 0xff, 0x73, 0x08), 0);
	CHECK_EQ(get64(STACK - 16), 0x77);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x8f, 0x04, 0x24), 0); /* popq (%rsp) */
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	CHECK_EQ(get64(STACK - 8), 0x77);
	/* pop %rsp: RSP is the popped value. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x5c), 0);
	CHECK_EQ(c.gpr[EMU_RSP], 0x77);
	/* A pop that faults changes nothing. */
	c = with_stack(cpu64());
	fake.fault_lo = STACK;
	fake.fault_hi = STACK + PAGE;
	CHECK_EQ(RUN(&c, &exc, 0x58), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	fake.fault_lo = fake.fault_hi = 0;
	/* CPL 3 with CR0.AM and RFLAGS.AC: a misaligned stack slot is #AC(0), nothing pushed. */
	c = with_stack(cpu64());
	c.cpl = 3;
	c.cr0 |= EMU_CR0_AM;
	c.rflags |= EMU_RFLAGS_AC;
	c.gpr[EMU_RSP] = STACK - 4;
	CHECK_EQ(RUN(&c, &exc, 0x50), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 4);
	CHECK_EQ(RUN(&c, &exc, 0x58), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	c.gpr[EMU_RSP] = STACK;
	CHECK_EQ(RUN(&c, &exc, 0x50), 0); /* aligned: fine */
	CHECK(!exc.valid);
	/* 32-bit mode: push $imm32, 4-byte slots. */
	c = with_stack(cpu32());
	CHECK_EQ(RUN(&c, &exc, 0x68, 0x78, 0x56, 0x34, 0x12), 0);
	CHECK_EQ(get32(STACK - 4), 0x12345678);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 4);
}

static void test_frames(void)
{
	struct emu_cpu c = with_stack(cpu64());
	struct emu_exception exc;

	fake_reset();
	/* enter $0x20, $0: push rbp, rbp = rsp, rsp -= 0x20. */
	c.gpr[EMU_RBP] = 0x1111;
	CHECK_EQ(RUN(&c, &exc, 0xc8, 0x20, 0x00, 0x00), 0);
	CHECK_EQ(get64(STACK - 8), 0x1111);
	CHECK_EQ(c.gpr[EMU_RBP], STACK - 8);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8 - 0x20);
	/* leave undoes it. */
	CHECK_EQ(RUN(&c, &exc, 0xc9), 0);
	CHECK_EQ(c.gpr[EMU_RBP], 0x1111);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	/* enter $8, $2: one outer frame pointer copied, then the new frame's own. */
	c.rip = CODE;
	c.gpr[EMU_RBP] = 0x6000;
	put64(0x6000 - 8, 0xaaaa);
	CHECK_EQ(RUN(&c, &exc, 0xc8, 0x08, 0x00, 0x02), 0);
	CHECK_EQ(get64(STACK - 8), 0x6000);
	CHECK_EQ(get64(STACK - 16), 0xaaaa);
	CHECK_EQ(get64(STACK - 24), STACK - 8);
	CHECK_EQ(c.gpr[EMU_RBP], STACK - 8);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 24 - 8);
	/* enter $0x1000, $0: the frame's lowest slot must take a write before anything commits. */
	c = with_stack(cpu64());
	c.gpr[EMU_RBP] = 0x1111;
	fake.fault_lo = STACK - 2 * PAGE;
	fake.fault_hi = STACK - PAGE;
	CHECK_EQ(RUN(&c, &exc, 0xc8, 0x00, 0x10, 0x00), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(exc.cr2, STACK - 8 - 0x1000);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	CHECK_EQ(c.gpr[EMU_RBP], 0x1111);
	fake.fault_lo = fake.fault_hi = 0;
}

static void test_pushf_popf(void)
{
	struct emu_cpu c = with_stack(cpu64());
	struct emu_exception exc;

	fake_reset();
	/* pushf: RF and VM are not in the image. */
	c.rflags = 0x2 | EMU_RFLAGS_IF | EMU_RFLAGS_RF | EMU_RFLAGS_CF;
	CHECK_EQ(RUN(&c, &exc, 0x9c), 0);
	CHECK_EQ(get64(STACK - 8), 0x2 | EMU_RFLAGS_IF | EMU_RFLAGS_CF);
	/* popf at CPL 0: IOPL and IF change, VM does not. */
	c.rip = CODE;
	put64(STACK - 8, 0x2 | EMU_RFLAGS_IOPL | EMU_RFLAGS_VM | EMU_RFLAGS_DF);
	CHECK_EQ(RUN(&c, &exc, 0x9d), 0);
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_IOPL | EMU_RFLAGS_DF);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	/* CPL 3 with IOPL 0: neither IOPL nor IF change, the arithmetic flags do. */
	c = with_stack(cpu64());
	c.cpl = 3;
	c.rflags = 0x2 | EMU_RFLAGS_IF;
	put64(STACK, 0x2 | EMU_RFLAGS_IOPL | EMU_RFLAGS_ZF | EMU_RFLAGS_AC);
	CHECK_EQ(RUN(&c, &exc, 0x9d), 0);
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_IF | EMU_RFLAGS_ZF | EMU_RFLAGS_AC);
	/* CPL 3 with IOPL 3: IF changes, IOPL still not. */
	c = with_stack(cpu64());
	c.cpl = 3;
	c.rflags = 0x2 | EMU_RFLAGS_IOPL | EMU_RFLAGS_IF;
	put64(STACK, 0x2);
	CHECK_EQ(RUN(&c, &exc, 0x9d), 0);
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_IOPL);
	/* A 16-bit popf changes only the low 16 bits. */
	c = with_stack(cpu32());
	c.rflags = 0x2 | EMU_RFLAGS_AC;
	put32(STACK, 0xffff);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x9d), 0);
	CHECK_EQ(c.rflags, (0xffffull & 0x7fd5) | 0x2 | EMU_RFLAGS_AC);
	CHECK_EQ(c.gpr[EMU_RSP], STACK + 2);
	/* Virtual-8086 mode below IOPL 3: #GP(0) for both. */
	c = with_stack(cpu16());
	c.cr0 |= EMU_CR0_PE;
	c.rflags = 0x2 | EMU_RFLAGS_VM;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x9c), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x9d), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.gpr[EMU_RSP], STACK);
	/* ... and with IOPL 3 POPF works but keeps IOPL. */
	c.rflags |= EMU_RFLAGS_IOPL;
	put32(STACK, 0x0002 | EMU_RFLAGS_CF);
	CHECK_EQ(RUN(&c, &exc, 0x9d), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_VM | EMU_RFLAGS_IOPL | EMU_RFLAGS_CF);
	/* popf setting TF: no single-step trap after the popf itself. */
	c = with_stack(cpu64());
	put64(STACK, 0x2 | EMU_RFLAGS_TF);
	CHECK_EQ(RUN(&c, &exc, 0x9d), 0);
	CHECK(!exc.valid);
	CHECK(c.rflags & EMU_RFLAGS_TF);
}

int main(void)
{
	RUN_TEST(test_jumps);
	RUN_TEST(test_loops);
	RUN_TEST(test_call_ret);
	RUN_TEST(test_push_pop);
	RUN_TEST(test_frames);
	RUN_TEST(test_pushf_popf);
	free(fake.mem);
	TEST_EXIT();
}
