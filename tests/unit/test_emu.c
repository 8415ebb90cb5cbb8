/* Unit tests of the x86 decoder and emulator on a fake CPU and fake guest memory (gva == gpa). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu_fake.h"

static void test_int3(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xcc), 0);
	CHECK_EXC(exc, EMU_X_BP, -1);
	CHECK_EQ(c.rip, CODE + 1); /* a trap: RIP already past it */

	/* Prefixes that do not matter still count in the length. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x2e, 0x48, 0xcc), 0);
	CHECK_EXC(exc, EMU_X_BP, -1);
	CHECK_EQ(c.rip, CODE + 4);

	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0xcc), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.rip, CODE);

	/* RF is cleared by the completed instruction; TF gives no extra #DB (the #BP wins). */
	c = cpu64();
	c.rflags |= EMU_RFLAGS_RF | EMU_RFLAGS_TF;
	CHECK_EQ(RUN(&c, &exc, 0xcc), 0);
	CHECK_EXC(exc, EMU_X_BP, -1);
	CHECK(!(c.rflags & EMU_RFLAGS_RF));

	/* 32-bit code: EIP wraps at 4 GiB. */
	c = cpu32();
	c.rip = 0xffffffff;
	c.seg[EMU_CS].base = 0x1000; /* linear 0xfff, inside RAM */
	fake.mem[0xfff] = 0xcc;
	{
		static const uint8_t b[] = { 0xcc };

		CHECK_EQ(emu_step(&c, b, 1, &fake_ops, NULL, &insn, &exc), 0);
	}
	CHECK_EXC(exc, EMU_X_BP, -1);
	CHECK_EQ(c.rip, 0);
	CHECK_EQ(insn.op, EMU_OP_INT3);
	CHECK_EQ(insn.len, 1);
}

static void test_fwait(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0x9b), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 1);

	/* #NM needs both TS and MP. */
	c = cpu64();
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x9b), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	CHECK_EQ(c.rip, CODE);
	c.cr0 &= ~EMU_CR0_MP;
	CHECK_EQ(RUN(&c, &exc, 0x9b), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 1);

	/* Pending invalid-operation exception: masked is a nop, unmasked is #MF (a fault). */
	c = cpu64();
	c.fsw = 0x0081; /* IE + ES */
	CHECK_EQ(RUN(&c, &exc, 0x9b), 0);
	CHECK(!exc.valid);
	c = cpu64();
	c.fsw = 0x0081;
	c.fcw = 0x037e;
	CHECK_EQ(RUN(&c, &exc, 0x9b), 0);
	CHECK_EXC(exc, EMU_X_MF, -1);
	CHECK_EQ(c.rip, CODE);
	/* #NM comes before #MF. */
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x9b), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	/* CR0.NE clear means FERR#/IRQ 13, which is refused rather than faked. */
	c = cpu64();
	c.fsw = 0x0081;
	c.fcw = 0x037e;
	c.cr0 &= ~EMU_CR0_NE;
	CHECK_EQ(RUN(&c, &exc, 0x9b), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);

	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x9b), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(emu_op_needs(EMU_OP_FWAIT), EMU_NEED_FPU);
}

static void test_popcnt_reg(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* popcnt eax, ecx: zero-extends into RAX, clears every arithmetic flag but ZF. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0xffffffffffffffffull;
	c.gpr[EMU_RCX] = 0xffffffff0000f0f0ull;
	c.rflags |= ARITH_FLAGS;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX], 8);
	CHECK_EQ(c.rflags & ARITH_FLAGS, 0);
	CHECK_EQ(c.rip, CODE + 4);

	/* Zero source: ZF only. */
	c = cpu64();
	c.gpr[EMU_RCX] = 0xffffffff00000000ull;
	c.rflags |= ARITH_FLAGS;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0);
	CHECK_EQ(c.rflags & ARITH_FLAGS, EMU_RFLAGS_ZF);

	/* REX.W: 64-bit. */
	c = cpu64();
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x48, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 64);

	/* 66: 16-bit, upper 48 bits of the destination kept; 66 is operand size, F3 mandatory. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x1122334455667788ull;
	c.gpr[EMU_RCX] = 0xffffffffffff0007ull;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1122334455660003ull);
	c = cpu64();
	c.gpr[EMU_RAX] = 0x1122334455667788ull;
	c.gpr[EMU_RCX] = 0x7;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x66, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1122334455660003ull);

	/* REX.R and REX.B: popcnt r8, r9 (64-bit, REX = 4d). */
	c = cpu64();
	c.gpr[EMU_R9] = 0x8000000000000001ull;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x4d, 0x0f, 0xb8, 0xc1 }, 5, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EQ(c.gpr[EMU_R8], 2);
	CHECK_EQ(insn.reg, EMU_R8);
	CHECK_EQ(insn.rm, EMU_R9);
	CHECK_EQ(insn.op_size, 8);

	/* A REX before a legacy prefix is ignored: 32-bit popcnt eax, ecx. */
	c = cpu64();
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 32);
	/* Of two REX bytes the last counts. */
	c = cpu64();
	c.gpr[EMU_RCX] = ~0ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x48, 0x40, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 32);

	/* Mandatory prefix: none, F2, or F2 after F3 is another instruction. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xb8, 0xc1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0x0f, 0xb8, 0xc1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0xf2, 0x0f, 0xb8, 0xc1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xb8, 0xc1), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK(!exc.valid);

	/* LOCK: #UD, register or memory form. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.rip, CODE);

	/* TF: the instruction completes, then #DB with DR6.BS. */
	c = cpu64();
	c.rflags |= EMU_RFLAGS_TF;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_DB, -1);
	CHECK_EQ(exc.dr6, EMU_DR6_BS);
	CHECK_EQ(c.rip, CODE + 4);
}

static void test_popcnt_mem(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* RIP-relative: from the end of the instruction. popcnt eax, [rip + 0x100] (8 bytes). */
	c = cpu64();
	put32(CODE + 8 + 0x100, 0x0f0f0f0f);
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x05, 0x00, 0x01, 0x00, 0x00 },
			  8, &fake_ops, NULL, &insn, &exc),
		 0);
	CHECK(!exc.valid);
	CHECK(insn.rip_relative);
	CHECK_EQ(c.gpr[EMU_RAX], 16);
	CHECK_EQ(fake.last_la, CODE + 8 + 0x100);
	CHECK_EQ(fake.last_len, 4);
	CHECK_EQ(c.rip, CODE + 8);

	/* Negative disp32, RIP-relative with REX.B (still RIP-relative, not R13). */
	c = cpu64();
	c.rip = 0x3000;
	put64(0x3000 + 9 - 0x40, 0x3);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x49, 0x0f, 0xb8, 0x05, 0xc0, 0xff, 0xff, 0xff), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 2);
	CHECK_EQ(fake.last_la, 0x3000 + 9 - 0x40);
	CHECK_EQ(fake.last_len, 8);

	/* SIB: [rbx + rcx*4 + 0x10]. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x8000;
	c.gpr[EMU_RCX] = 3;
	put32(0x8000 + 12 + 0x10, 0x7);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x44, 0x8b, 0x10), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 3);
	CHECK_EQ(fake.last_la, 0x8000 + 12 + 0x10);

	/* SIB with REX.X: index 100b is R12, not "none". [rbx + r12*8]. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x8000;
	c.gpr[EMU_R12] = 2;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x42, 0x0f, 0xb8, 0x04, 0xe3), 0);
	CHECK_EQ(fake.last_la, 0x8010);
	/* Without REX.X it is no index: [rbx]. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x8000;
	c.gpr[EMU_RSP] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x04, 0x23), 0);
	CHECK_EQ(fake.last_la, 0x8000);

	/* SIB base 101b with mod 0: disp32, no base (also with REX.B). */
	c = cpu64();
	c.gpr[EMU_RBP] = 0x5000;
	c.gpr[EMU_R13] = 0x5000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x41, 0x0f, 0xb8, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00), 0);
	CHECK_EQ(fake.last_la, 0x9000);
	/* [r13 + 0]: mod 1 needed for R13 as base. */
	c = cpu64();
	c.gpr[EMU_R13] = 0x5000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x41, 0x0f, 0xb8, 0x45, 0x00), 0);
	CHECK_EQ(fake.last_la, 0x5000);
	/* [rsp]: SIB with base RSP. */
	c = cpu64();
	c.gpr[EMU_RSP] = 0x6000;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x04, 0x24 }, 5, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EQ(fake.last_la, 0x6000);
	CHECK_EQ(insn.seg, EMU_SS);

	/* 67: 32-bit address size truncates the effective address. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0xffffffff00007000ull;
	CHECK_EQ(RUN(&c, &exc, 0x67, 0xf3, 0x0f, 0xb8, 0x43, 0x10), 0);
	CHECK_EQ(fake.last_la, 0x7010);
	CHECK_EQ(c.rip, CODE + 6);
	c = cpu64();
	c.gpr[EMU_RBX] = 0xfffffff0;
	CHECK_EQ(RUN(&c, &exc, 0x67, 0xf3, 0x0f, 0xb8, 0x43, 0x20), 0);
	CHECK_EQ(fake.last_la, 0x10); /* wraps at 4 GiB */
	/* 67 with RIP-relative: EIP-relative, truncated. */
	c = cpu64();
	c.rip = 0x100001000ull;
	put32(0x1000 + 9 + 0x40, 0xff);
	fake.mem[0x1000] = 0; /* the bytes come from the exit, not memory, at this RIP */
	CHECK_EQ(emu_step(&c,
			  (const uint8_t[]){ 0x67, 0xf3, 0x0f, 0xb8, 0x05, 0x40, 0x00, 0x00, 0x00 },
			  9, &fake_ops, NULL, &insn, &exc),
		 0);
	CHECK_EQ(fake.last_la, 0x1000 + 9 + 0x40);
	CHECK_EQ(c.gpr[EMU_RAX], 8);

	/* FS/GS overrides add the base; DS/CS/ES/SS overrides are ignored in 64-bit mode. */
	c = cpu64();
	c.seg[EMU_FS].base = 0x20000;
	c.seg[EMU_GS].base = 0x40000;
	c.seg[EMU_DS].base = 0x60000;
	c.gpr[EMU_RBX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EQ(fake.last_la, 0x20100);
	CHECK_EQ(RUN(&c, &exc, 0x65, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EQ(fake.last_la, 0x40100);
	CHECK_EQ(RUN(&c, &exc, 0x3e, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EQ(fake.last_la, 0x100);
	CHECK_EQ(RUN(&c, &exc, 0x65, 0x2e, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EQ(fake.last_la, 0x40100);
	CHECK_EQ(RUN(&c, &exc, 0x64, 0x65, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EQ(fake.last_la, 0x40100);

	/* 16-bit operand from memory. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x100;
	put32(0x100, 0xffff0003);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EQ(fake.last_len, 2);
	CHECK_EQ(c.gpr[EMU_RAX] & 0xffff, 2);
}

static void test_popcnt_faults(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* Page fault on the operand: #PF with CR2 and the callback's error code; no change. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x20000;
	c.gpr[EMU_RAX] = 0x55;
	fake.fault_lo = 0x20000;
	fake.fault_hi = 0x21000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(exc.cr2, 0x20000);
	CHECK_EQ(c.gpr[EMU_RAX], 0x55);
	CHECK_EQ(c.rip, CODE);
	/* At CPL 3 the access is a user one. */
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_USER);
	/* Split across pages: CR2 is the first byte on the faulting page. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x1fffe;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(exc.cr2, 0x20000);

	/* Non-canonical: #GP(0), or #SS(0) through RSP/RBP. */
	fake_reset();
	c = cpu64();
	c.gpr[EMU_RBX] = 0x0000800000000000ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(fake.reads, 0);
	c.gpr[EMU_RBX] = 0x00007ffffffffffeull; /* last byte crosses into the hole */
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RBP] = 0x0000800000000000ull;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x45, 0x00), 0);
	CHECK_EXC(exc, EMU_X_SS, 0);
	/* With LA57, 0x0000800000000000 is canonical. */
	c.cr4 |= EMU_CR4_LA57;
	c.gpr[EMU_RBX] = 0x0000800000000000ull;
	fake.error = -EFAULT;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), -EFAULT); /* callback: not RAM */
	CHECK_EQ(c.rip, CODE);
	fake.error = 0;
	/* FS base pushing the address non-canonical. */
	c = cpu64();
	c.seg[EMU_FS].base = 0xffff7fffffffff00ull;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);

	/* #AC at CPL 3 with CR0.AM and RFLAGS.AC, misaligned only. */
	c = cpu64();
	c.cpl = 3;
	c.cr0 |= EMU_CR0_AM;
	c.rflags |= EMU_RFLAGS_AC;
	c.gpr[EMU_RBX] = 0x102;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	c.gpr[EMU_RBX] = 0x104;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK(!exc.valid);
	c = cpu64(); /* CPL 0: no alignment checking */
	c.cr0 |= EMU_CR0_AM;
	c.rflags |= EMU_RFLAGS_AC;
	c.gpr[EMU_RBX] = 0x102;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK(!exc.valid);
}

static void test_legacy_modes(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	/* 32-bit: 0x40 is INC, not REX; mod 0 rm 5 is an absolute disp32. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0xffffffff;
	CHECK_EQ(RUN(&c, &exc, 0x40), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(c.rip, CODE + 1);
	c.rip = CODE;
	put32(0x9000, 0x1);
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x05, 0x00, 0x90, 0x00, 0x00 },
			  8, &fake_ops, NULL, &insn, &exc),
		 0);
	CHECK(!insn.rip_relative);
	CHECK_EQ(fake.last_la, 0x9000);
	CHECK_EQ(c.gpr[EMU_RAX], 1);
	/* Segment base and limit: DS base 0x10000, limit 0xfff. */
	c = cpu32();
	c.seg[EMU_DS].base = 0x10000;
	c.seg[EMU_DS].limit = 0xfff;
	c.gpr[EMU_RBX] = 0xffc;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x10ffc);
	c.gpr[EMU_RBX] = 0xffd;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* EBP-based: SS, #SS(0) past its limit. */
	c = cpu32();
	c.seg[EMU_SS].limit = 0xfff;
	c.gpr[EMU_RBP] = 0x1000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x45, 0x00), 0);
	CHECK_EXC(exc, EMU_X_SS, 0);
	/* Expand-down data segment: offsets at or below the limit fault. */
	c = cpu32();
	c.seg[EMU_DS].type = 7;
	c.seg[EMU_DS].limit = 0xfff;
	c.gpr[EMU_RBX] = 0x1000;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK(!exc.valid);
	c.gpr[EMU_RBX] = 0xfff;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Null (unusable) segment: #GP(0). ES override. */
	c = cpu32();
	c.seg[EMU_ES].unusable = true;
	CHECK_EQ(RUN(&c, &exc, 0x26, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* CS override: readable code segment can be read, never written. */
	c = cpu32();
	c.gpr[EMU_RBX] = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK(!exc.valid);
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0x0f, 0xae, 0x1b), 0); /* stmxcsr cs:[ebx] */
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.seg[EMU_CS].type = 0x9; /* execute-only */
	CHECK_EQ(RUN(&c, &exc, 0x2e, 0xf3, 0x0f, 0xb8, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Read-only data segment: writes #GP. */
	c = cpu32();
	c.seg[EMU_DS].type = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x1b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* 67 in 32-bit code: 16-bit addressing, [bx+si]. */
	c = cpu32();
	c.gpr[EMU_RBX] = 0x12340100;
	c.gpr[EMU_RSI] = 0x20;
	CHECK_EQ(RUN(&c, &exc, 0x67, 0xf3, 0x0f, 0xb8, 0x00), 0);
	CHECK_EQ(fake.last_la, 0x120);
	/* 66 in 32-bit code: 16-bit operand. */
	c = cpu32();
	c.gpr[EMU_RAX] = 0xaaaa5555;
	c.gpr[EMU_RCX] = 0xff;
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0xaaaa0008);

	/* Real mode: 16-bit operand and address; DS base = selector * 16, BP means SS. */
	c = cpu16();
	c.rip = 0x100;
	c.seg[EMU_CS].base = 0x1000; /* code at linear 0x1100 */
	c.seg[EMU_DS].base = 0x20000;
	c.seg[EMU_SS].base = 0x30000;
	c.gpr[EMU_RBX] = 0x10;
	c.gpr[EMU_RSI] = 0x4;
	c.gpr[EMU_RAX] = 0x12345678;
	put32(0x20000 + 0x10 + 0x4 + 0x5, 0xffff);
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x40, 0x05 }, 5, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.addr_size, 2);
	CHECK_EQ(insn.op_size, 2);
	CHECK_EQ(fake.last_la, 0x20019);
	CHECK_EQ(c.gpr[EMU_RAX], 0x12340010);
	CHECK_EQ(c.rip, 0x105);
	c.gpr[EMU_RBP] = 0x8;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x46, 0x02 }, 5, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EQ(fake.last_la, 0x3000a);
	/* [disp16] with mod 0 rm 6, and 16-bit wrap of the offset. */
	c.gpr[EMU_RBX] = 0xfff0;
	c.gpr[EMU_RSI] = 0x20;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x00 }, 4, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EQ(fake.last_la, 0x20010);
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x06, 0x34, 0x12 }, 6, &fake_ops,
			  NULL, &insn, &exc),
		 0);
	CHECK_EQ(fake.last_la, 0x21234);
	/* Past the 64 KiB limit: #GP with no error code in real mode. */
	c.gpr[EMU_RBX] = 0xfffe;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0x66, 0xf3, 0x0f, 0xb8, 0x07 }, 5, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EXC(exc, EMU_X_GP, -1);
	/* 66 in real mode: 32-bit operand. */
	c.gpr[EMU_RCX] = 0xffffffff;
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0x66, 0xf3, 0x0f, 0xb8, 0xc1 }, 5, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EQ(c.gpr[EMU_RAX], 32);
	/* VEX does not exist in real mode: C5 is LDS, whose register form is #UD. */
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xc5, 0xf8, 0xae, 0x10 }, 4, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* lds (%bx),%ax: offset, then the selector, which in real mode is base / 16. */
	c.gpr[EMU_RBX] = 0x600;
	put32(0x20600, 0xbeef | 0x1234u << 16); /* DS base 0x20000 */
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xc5, 0x07 }, 2, &fake_ops, NULL, &insn, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RAX] & 0xffff, 0xbeef);
	CHECK_EQ(c.seg[EMU_DS].selector, 0x1234);
	CHECK_EQ(c.seg[EMU_DS].base, 0x12340);
}

static void test_clac_stac(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xcb), 0);
	CHECK(!exc.valid);
	CHECK(c.rflags & EMU_RFLAGS_AC);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xca), 0);
	CHECK(!exc.valid);
	CHECK(!(c.rflags & EMU_RFLAGS_AC));
	CHECK_EQ(c.rip, CODE + 6);
	CHECK_EQ(c.rflags & ~EMU_RFLAGS_AC, 0x2);

	/* CPL 3 (or virtual-8086 mode, which the glue reports as CPL 3): #UD. */
	c = cpu64();
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xcb), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK(!(c.rflags & EMU_RFLAGS_AC));
	CHECK_EQ(c.rip, CODE);
	c.cpl = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xca), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);

	/* Real mode is CPL 0. */
	c = cpu16();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xcb), 0);
	CHECK(!exc.valid);
	CHECK(c.rflags & EMU_RFLAGS_AC);

	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x01, 0xca), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* F2/F3 0F 01 CA are FRED's ERETS/ERETU, and other 0F 01 forms are other instructions. */
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0x01, 0xca), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0x0f, 0x01, 0xca), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0x01, 0xca), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xc8), -ENOTSUP); /* monitor */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xc9), -ENOTSUP); /* mwait: not emulated */
	CHECK_EQ(c.rip, CODE);
}

static void test_ldmxcsr(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_RAX] = 0x400;
	put32(0x400, 0x1f40); /* DAZ (bit 6) on, a few masks off */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.mxcsr, 0x1f40);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK_EQ(emu_op_needs(EMU_OP_LDMXCSR), EMU_NEED_FPU);

	/* Reserved bits: #GP(0), MXCSR unchanged. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x400;
	put32(0x400, 0x11f80);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.mxcsr, 0x1f80);
	CHECK_EQ(c.rip, CODE);
	/* Without DAZ in MXCSR_MASK, bit 6 is reserved; a zero mask means 0xffbf. */
	put32(0x400, 0x1fc0);
	c.mxcsr_mask = 0xffbf;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.mxcsr_mask = 0;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.mxcsr_mask = 0xffff;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.mxcsr, 0x1fc0);

	/* #UD without CR4.OSFXSR or with CR0.EM, before #NM; #NM on CR0.TS alone. */
	c = cpu64();
	c.cr4 &= ~EMU_CR4_OSFXSR;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = cpu64();
	c.cr0 |= EMU_CR0_EM | EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = cpu64();
	c.cr0 = (c.cr0 | EMU_CR0_TS) & ~EMU_CR0_MP;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);

	/* #NM before the page fault; page fault before the reserved-bit check. */
	fake_reset();
	c = cpu64();
	c.gpr[EMU_RAX] = 0x30000;
	fake.fault_lo = 0x30000;
	fake.fault_hi = 0x31000;
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	CHECK_EQ(fake.reads, 0);
	c.cr0 &= ~EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(exc.cr2, 0x30000);

	/* Prefix and form checks. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x400;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0x0f, 0xae, 0x10), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x0f, 0xae, 0x10), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0xd0), -ENOTSUP); /* register form */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x00), -ENOTSUP); /* fxsave */
	/* REX.W is ignored. */
	put32(0x400, 0x1f80);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xae, 0x10), 0);
	CHECK(!exc.valid);
}

static void test_stmxcsr(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.mxcsr = 0x1234;
	c.gpr[EMU_RDI] = 0x500;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x1f), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get32(0x500), 0x1234);
	CHECK_EQ(fake.last_access, EMU_ACC_WRITE);
	CHECK_EQ(c.rip, CODE + 3);

	/* Write to a page that faults on writes: #PF with the W bit, nothing written. */
	fake.fault_lo = 0x40000;
	fake.fault_hi = 0x41000;
	fake.fault_access = EMU_ACC_WRITE;
	fake.fault_present = 1;
	c = cpu64();
	c.gpr[EMU_RDI] = 0x40ffe; /* split: first page fine, second faults */
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x1f), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE | EMU_ACC_USER | 1);
	CHECK_EQ(exc.cr2, 0x40ffe);
	CHECK_EQ(get32(0x40ffe), 0);

	c = cpu64();
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x1f), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
}

static void test_vldmxcsr(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	c = cpu64();
	c.cr4 |= EMU_CR4_OSXSAVE;
	c.xcr0 = 7;
	c.gpr[EMU_RAX] = 0x400;
	put32(0x400, 0x1f00);
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xc5, 0xf8, 0xae, 0x10 }, 4, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.op, EMU_OP_VLDMXCSR);
	CHECK_EQ(c.mxcsr, 0x1f00);
	CHECK_EQ(c.rip, CODE + 4);
	CHECK_EQ(emu_op_needs(EMU_OP_VLDMXCSR), EMU_NEED_FPU | EMU_NEED_XCR0);
	/* Three-byte VEX, with REX-like bits: vldmxcsr [r8] (VEX.B). */
	c.gpr[EMU_R8] = 0x404;
	put32(0x404, 0x1f80);
	CHECK_EQ(RUN(&c, &exc, 0xc4, 0xc1, 0x78, 0xae, 0x10), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.mxcsr, 0x1f80);
	CHECK_EQ(fake.last_la, 0x404);
	/* vstmxcsr [rax]. */
	c.mxcsr = 0x9fc0;
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0xae, 0x18), 0);
	CHECK_EQ(get32(0x400), 0x9fc0);

	/* #UD: no OSXSAVE, XCR0 lacking AVX state, VEX.L, vvvv != 1111, prefixes before VEX. */
	c = cpu64();
	c.gpr[EMU_RAX] = 0x400;
	c.xcr0 = 7;
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.cr4 |= EMU_CR4_OSXSAVE;
	c.xcr0 = 3;
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.xcr0 = 7;
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xfc, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf0, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* CR0.TS: #NM; CR0.EM and CR4.OSFXSR do not matter for VEX. */
	c.cr0 |= EMU_CR0_EM;
	c.cr4 &= ~EMU_CR4_OSFXSR;
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK(!exc.valid);
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	/* pp != 0 and other VEX opcodes are unknown. */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf9, 0xae, 0x10), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0x77), -ENOTSUP);		 /* vzeroupper */
	CHECK_EQ(RUN(&c, &exc, 0xc4, 0xe2, 0x78, 0xae, 0x10), -ENOTSUP); /* map 0F38 */
	CHECK_EQ(RUN(&c, &exc, 0xc4, 0xe7, 0x78, 0xae, 0x10), -ENOTSUP); /* reserved map */
	/* 32-bit mode: C5 with a ModRM-like mod != 3 is LDS (here a null selector). */
	c = cpu32();
	put32(0, 0x12345678);
	put32(4, 0);
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0x38), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RDI], 0x12345678);
	CHECK(c.seg[EMU_DS].unusable);
	c = cpu32();
	c.cr4 |= EMU_CR4_OSXSAVE;
	c.xcr0 = 7;
	c.gpr[EMU_RAX] = 0x400;
	put32(0x400, 0x1f80);
	CHECK_EQ(RUN(&c, &exc, 0xc5, 0xf8, 0xae, 0x10), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.mxcsr, 0x1f80);
}

static void set_rdx_rax(struct emu_cpu *c, uint64_t hi, uint64_t lo)
{
	c->gpr[EMU_RDX] = hi;
	c->gpr[EMU_RAX] = lo;
}

static void test_cmpxchg16b(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* Equal: ZF=1, memory = RCX:RBX, registers untouched, other flags kept. */
	c = cpu64();
	c.gpr[EMU_RSI] = 0x2000;
	put64(0x2000, 0x1111);
	put64(0x2008, 0x2222);
	set_rdx_rax(&c, 0x2222, 0x1111);
	c.gpr[EMU_RCX] = 0x4444;
	c.gpr[EMU_RBX] = 0x3333;
	c.rflags |= EMU_RFLAGS_CF | EMU_RFLAGS_SF;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get64(0x2000), 0x3333);
	CHECK_EQ(get64(0x2008), 0x4444);
	CHECK_EQ(c.rflags & ARITH_FLAGS, EMU_RFLAGS_ZF | EMU_RFLAGS_CF | EMU_RFLAGS_SF);
	CHECK_EQ(c.gpr[EMU_RAX], 0x1111);
	CHECK_EQ(c.gpr[EMU_RDX], 0x2222);
	CHECK_EQ(c.rip, CODE + 5);
	CHECK_EQ(fake.cmpxchgs, 1);
	CHECK_EQ(fake.last_access, EMU_ACC_WRITE);

	/* Not equal (high half differs): ZF=0, RDX:RAX = memory, memory unchanged. No LOCK. */
	c.rip = CODE;
	set_rdx_rax(&c, 0x9999, 0x3333);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK(!exc.valid);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	CHECK(c.rflags & EMU_RFLAGS_CF);
	CHECK_EQ(c.gpr[EMU_RAX], 0x3333);
	CHECK_EQ(c.gpr[EMU_RDX], 0x4444);
	CHECK_EQ(get64(0x2000), 0x3333);
	CHECK_EQ(get64(0x2008), 0x4444);
	CHECK_EQ(c.rip, CODE + 4);

	/* Misaligned: #GP(0) without touching memory. */
	fake.cmpxchgs = 0;
	c = cpu64();
	c.gpr[EMU_RSI] = 0x2008;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(fake.cmpxchgs, 0);
	CHECK_EQ(c.rip, CODE);
	/* Alignment is of the linear address: FS base counts. */
	c.gpr[EMU_RSI] = 0x2000;
	c.seg[EMU_FS].base = 8;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.seg[EMU_FS].base = 0x10;
	CHECK_EQ(RUN(&c, &exc, 0x64, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.last_la, 0x2010);

	/* Register operand: #UD (also with LOCK). */
	c = cpu64();
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xc7, 0xce), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xc7, 0xce), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);

	/* A write fault even when the comparison fails (the access is always a write). */
	fake.fault_lo = 0x50000;
	fake.fault_hi = 0x51000;
	fake.fault_access = EMU_ACC_WRITE;
	fake.fault_present = 1;
	c = cpu64();
	c.gpr[EMU_RSI] = 0x50010;
	set_rdx_rax(&c, 1, 2);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE | 1);
	CHECK_EQ(exc.cr2, 0x50010);
	CHECK_EQ(c.gpr[EMU_RAX], 2);
	CHECK_EQ(c.rip, CODE);

	/* Other /1 encodings with F2/F3 (XACQUIRE/XRELEASE hints) still work; /0 is unknown. */
	fake_reset();
	c = cpu64();
	c.gpr[EMU_RSI] = 0x2000;
	CHECK_EQ(RUN(&c, &exc, 0xf2, 0xf0, 0x48, 0x0f, 0xc7, 0x0e), 0);
	CHECK(!exc.valid);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xc7, 0x06), -ENOTSUP);
}

static void test_cmpxchg8b(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* Equal: stores ECX:EBX; RAX/RDX (upper halves too) untouched. */
	c = cpu64();
	c.gpr[EMU_RDI] = 0x3000;
	put64(0x3000, 0xbbbbbbbbaaaaaaaaull);
	set_rdx_rax(&c, 0xffffffffbbbbbbbbull, 0xffffffffaaaaaaaaull);
	c.gpr[EMU_RCX] = 0x1234567800000002ull;
	c.gpr[EMU_RBX] = 0x8765432100000001ull;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0xc7, 0x0f), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get64(0x3000), 0x0000000200000001ull);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(c.gpr[EMU_RAX], 0xffffffffaaaaaaaaull);
	CHECK_EQ(c.gpr[EMU_RDX], 0xffffffffbbbbbbbbull);
	CHECK_EQ(fake.last_len, 8);

	/* Not equal: EDX:EAX loaded, zero-extended into RDX/RAX. */
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xc7, 0x0f), 0);
	CHECK(!(c.rflags & EMU_RFLAGS_ZF));
	CHECK_EQ(c.gpr[EMU_RAX], 1);
	CHECK_EQ(c.gpr[EMU_RDX], 2);

	/* Misaligned is fine (and atomic on the host); page-split too, when RAM is contiguous. */
	c = cpu64();
	c.gpr[EMU_RDI] = 0x3ffc;
	put64(0x3ffc, 0x55);
	set_rdx_rax(&c, 0, 0x55);
	c.gpr[EMU_RBX] = 0x66;
	c.gpr[EMU_RCX] = 0;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0xc7, 0x0f), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get64(0x3ffc), 0x66);
	/* ... except #AC at CPL 3 with alignment checking on. */
	c = cpu64();
	c.cpl = 3;
	c.cr0 |= EMU_CR0_AM;
	c.rflags |= EMU_RFLAGS_AC;
	c.gpr[EMU_RDI] = 0x3004;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0xc7, 0x0f), 0);
	CHECK_EXC(exc, EMU_X_AC, 0);
	/* 32-bit mode works with 32-bit registers. */
	c = cpu32();
	c.gpr[EMU_RDI] = 0x3000;
	put64(0x3000, 5);
	set_rdx_rax(&c, 0, 5);
	c.gpr[EMU_RBX] = 6;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xc7, 0x0f), 0);
	CHECK(c.rflags & EMU_RFLAGS_ZF);
	CHECK_EQ(get64(0x3000), 6);
	/* REX.W outside 64-bit mode does not exist: 0x48 is DEC %eax, then cmpxchg8b. */
	c.gpr[EMU_RAX] = 7;
	{
		uint64_t rip = c.rip;

		CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xc7, 0x0f), 0);
		CHECK_EQ(c.gpr[EMU_RAX], 6);
		CHECK_EQ(c.rip, rip + 1);
	}
}

/* Two threads add 1 to one 128-bit counter through emulated cmpxchg16b loops. */
#define RACE_ITERS 20000

static void *race_thread(void *arg)
{
	uint8_t *counter = arg;
	uint64_t gpa = (uint64_t)(counter - fake.mem);
	static const uint8_t insn[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0e };

	for (int i = 0; i < RACE_ITERS; i++) {
		struct emu_cpu c = cpu64();
		struct emu_exception exc;
		uint64_t lo, hi;

		c.gpr[EMU_RSI] = gpa;
		lo = __atomic_load_n((uint64_t *)counter, __ATOMIC_RELAXED);
		hi = __atomic_load_n((uint64_t *)(counter + 8), __ATOMIC_RELAXED);
		for (;;) {
			c.rip = CODE;
			set_rdx_rax(&c, hi, lo);
			c.gpr[EMU_RBX] = lo + 1;
			c.gpr[EMU_RCX] = hi + (lo + 1 == 0);
			if (emu_step(&c, insn, sizeof(insn), &fake_ops, NULL, NULL, &exc))
				return (void *)1;
			if (exc.valid)
				return (void *)1;
			if (c.rflags & EMU_RFLAGS_ZF)
				break;
			lo = c.gpr[EMU_RAX];
			hi = c.gpr[EMU_RDX];
		}
	}
	return NULL;
}

static void test_cmpxchg16b_atomic(void)
{
	pthread_t t[2];
	void *res[2];

	fake_reset();
	put64(0x7000, ~0ull - RACE_ITERS); /* the carry into the high half happens mid-race */
	put64(0x7008, 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, race_thread, fake.mem + 0x7000), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], &res[i]);
		CHECK(res[i] == NULL);
	}
	CHECK_EQ(get64(0x7000), RACE_ITERS - 1);
	CHECK_EQ(get64(0x7008), 1);
}

static void test_host_cmpxchg(void)
{
	uint64_t mem[4] __attribute__((aligned(16))) = { 1, 2, 3, 4 };
	uint64_t exp[2] = { 1, 2 }, des[2] = { 5, 6 };

	CHECK_EQ(emu_host_cmpxchg(mem, exp, des, 16), 1);
	CHECK_EQ(mem[0], 5);
	CHECK_EQ(mem[1], 6);
	CHECK_EQ(emu_host_cmpxchg(mem, exp, des, 16), 0);
	CHECK_EQ(exp[0], 5);
	CHECK_EQ(exp[1], 6);
	CHECK_EQ(emu_host_cmpxchg(&mem[1], exp, des, 16), -EINVAL); /* misaligned */
	CHECK_EQ(emu_host_cmpxchg(mem, exp, des, 3), -EINVAL);
	{
		/* 1, 2 and 4 bytes, misaligned too: only those bytes change. */
		uint8_t b[16] = { 0 };
		uint64_t e1 = 0, d1 = 0x1234567890abcdefull;

		CHECK_EQ(emu_host_cmpxchg(b + 1, &e1, &d1, 1), 1);
		CHECK_EQ(b[1], 0xef);
		CHECK_EQ(b[2], 0);
		CHECK_EQ(emu_host_cmpxchg(b + 3, &e1, &d1, 2), 1);
		CHECK_EQ(b[3] | b[4] << 8, 0xcdef);
		CHECK_EQ(emu_host_cmpxchg(b + 5, &e1, &d1, 4), 1);
		CHECK_EQ(b[5] | b[6] << 8 | b[7] << 16 | (uint32_t)b[8] << 24, 0x90abcdef);
		CHECK_EQ(b[9], 0);
		e1 = 0;
		CHECK_EQ(emu_host_cmpxchg(b + 3, &e1, &d1, 2), 0);
		CHECK_EQ(e1 & 0xffff, 0xcdef);
	}
	exp[0] = 6;
	CHECK_EQ(emu_host_cmpxchg((uint8_t *)mem + 8, exp, des, 8), 1);
	CHECK_EQ(mem[1], 5);
}

static void test_length_limit(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	uint8_t b[16];

	fake_reset();
	/* 14 prefixes + int3 = 15 bytes: fine. */
	memset(b, 0x66, sizeof(b));
	b[14] = 0xcc;
	c = cpu64();
	CHECK_EQ(run(&c, b, 15, &exc), 0);
	CHECK_EXC(exc, EMU_X_BP, -1);
	CHECK_EQ(c.rip, CODE + 15);
	/* 15 prefixes + int3 = 16 bytes: #GP(0), nothing fetched beyond the 15 bytes given. */
	b[14] = 0x66;
	b[15] = 0xcc;
	c = cpu64();
	memcpy(fake.mem + CODE, b, 16);
	fake.fetches = 0;
	CHECK_EQ(emu_step(&c, b, 15, &fake_ops, NULL, NULL, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(fake.fetches, 0);
	/* Given fewer bytes, the decoder stops at 15 too. */
	CHECK_EQ(emu_step(&c, b, 3, &fake_ops, NULL, NULL, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* A disp32 that would end past byte 15. */
	memset(b, 0x3e, sizeof(b));
	memcpy(b + 8, (const uint8_t[]){ 0xf3, 0x0f, 0xb8, 0x05, 1, 2, 3, 4 }, 8);
	c = cpu64();
	CHECK_EQ(run(&c, b, 16, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* Real mode: #GP without error code. */
	memset(b, 0x66, sizeof(b));
	c = cpu16();
	CHECK_EQ(run(&c, b, 16, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);
}

static void test_fetch(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;
	static const uint8_t popcnt_mem[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x84,
					      0x8b, 0x00, 0x01, 0x00, 0x00 };

	fake_reset();
	/* Only 2 of 10 bytes in the exit: the rest comes from memory at RIP, in one fetch. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x8000;
	c.gpr[EMU_RCX] = 1;
	memcpy(fake.mem + CODE, popcnt_mem, sizeof(popcnt_mem));
	put64(0x8104, 0xff);
	CHECK_EQ(emu_step(&c, popcnt_mem, 2, &fake_ops, NULL, &insn, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(insn.len, 10);
	CHECK_EQ(c.gpr[EMU_RAX], 8);
	CHECK(fake.fetches >= 1);
	CHECK_EQ(insn.disp, 0x100);
	CHECK_EQ(insn.scale, 4);
	CHECK_EQ(insn.base, EMU_RBX);
	CHECK_EQ(insn.index, EMU_RCX);
	/* No bytes at all. */
	c = cpu64();
	c.gpr[EMU_RBX] = 0x8000;
	c.gpr[EMU_RCX] = 1;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 8);
	/* More bytes than the instruction: the rest is ignored. */
	c = cpu64();
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xcc, 0x0f, 0x0b, 0x90 }, 4, &fake_ops, NULL,
			  &insn, &exc),
		 0);
	CHECK_EQ(insn.len, 1);

	/* Instruction across a page boundary into a faulting page: #PF for a fetch, CR2 there. */
	fake.fault_lo = 0x3000;
	fake.fault_hi = 0x4000;
	c = cpu64();
	c.rip = 0x2ffe;
	memcpy(fake.mem + 0x2ffe, popcnt_mem, 2);
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_FETCH);
	CHECK_EQ(exc.cr2, 0x3000);
	CHECK_EQ(c.rip, 0x2ffe);
	/* ... and the same with the exit's bytes covering only the first page. */
	CHECK_EQ(emu_step(&c, popcnt_mem, 2, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_FETCH);
	CHECK_EQ(fake.last_la, 0x3000);
	/* At CPL 3 the fetch is a user access. */
	c.cpl = 3;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_FETCH | EMU_ACC_USER);
	/* A short instruction that ends before the faulting page needs nothing from it. */
	c = cpu64();
	c.rip = 0x2fff;
	fake.mem[0x2fff] = 0xcc;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_BP, -1);
	/* Fetch errors other than faults are returned. */
	fake.error = -EIO;
	c = cpu64();
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), -EIO);
	fake.error = 0;
	/* Non-canonical RIP: #GP(0). */
	c = cpu64();
	c.rip = 0x0000800000000000ull;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* 32-bit: CS base and limit apply to fetches. */
	c = cpu32();
	c.rip = 0x10;
	c.seg[EMU_CS].base = 0x5000;
	fake.mem[0x5010] = 0xcc;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_BP, -1);
	CHECK_EQ(fake.last_la, 0x5010);
	c.rip = 0x10;
	c.seg[EMU_CS].limit = 0xf;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, &insn, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

/*
 * struct emu_ops.prefetch: the decoder asks for the rest of the page at once, so an instruction in
 * RAM is one fetch; never past the page (an instruction ending at a page's last byte does not
 * fault on the next page) or CS's limit; a crossing instruction faults as before.
 */
static void test_prefetch(void)
{
	struct emu_ops ops = fake_ops;
	struct emu_cpu c;
	struct emu_exception exc;

	ops.prefetch = true;
	fake_reset();
	c = cpu64();
	memcpy(fake.mem + CODE, "\x48\xb8\x01\x02\x03\x04\x05\x06\x07\x08", 10); /* movabs */
	fake.fetches = 0;
	CHECK_EQ(emu_step(&c, NULL, 0, &ops, NULL, NULL, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.fetches, 1);
	CHECK_EQ(c.gpr[EMU_RAX], 0x0807060504030201ull);
	CHECK_EQ(c.rip, CODE + 10);
	c.rip = CODE;
	fake.fetches = 0;
	CHECK_EQ(emu_step(&c, NULL, 0, &fake_ops, NULL, NULL, &exc), 0);
	CHECK(fake.fetches > 1); /* without: what the decoder needs, as it goes */

	/* A NOP in a page's last byte, the next page not present: no fault. */
	fake.fault_lo = 0x3000, fake.fault_hi = 0x4000;
	fake.mem[0x2fff] = 0x90;
	c = cpu64();
	c.rip = 0x2fff;
	CHECK_EQ(emu_step(&c, NULL, 0, &ops, NULL, NULL, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x3000);
	/* ud2 across the boundary: the #PF on the second byte's page. */
	fake.mem[0x2fff] = 0x0f;
	c.rip = 0x2fff;
	CHECK_EQ(emu_step(&c, NULL, 0, &ops, NULL, NULL, &exc), 0);
	CHECK_EXC(exc, EMU_X_PF, 0x10);
	CHECK_EQ(exc.cr2, 0x3000);
	fake.fault_lo = fake.fault_hi = 0;

	/* CS's limit ends at the NOP: no #GP for the bytes after it. */
	c = cpu32();
	c.seg[EMU_CS].limit = 0x1000;
	c.rip = 0x1000;
	fake.mem[0x1000] = 0x90;
	CHECK_EQ(emu_step(&c, NULL, 0, &ops, NULL, NULL, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x1001);
}

static void test_unknown(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	c = cpu64();
	/* Known to the decoder (length, operands) but not emulated: -ENOTSUP from execution. */
	CHECK_EQ(RUN(&c, &exc, 0xf4), -ENOTSUP);	     /* hlt, with no ops->halt */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xc8), -ENOTSUP); /* monitor */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xfa), -ENOTSUP); /* monitorx */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x20), -ENOTSUP); /* xsave */
	/* MMX pshufb and palignr: #UD, since this CPU's CPUID has no SSSE3. */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x38, 0x00, 0xc1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x3a, 0x0f, 0xc1, 1), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x0f, 0x0e),
		 -ENOTSUP);			/* femms: not emulated beats LOCK #UD */
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x91), 0); /* LOCK on xchg %ecx, %eax: #UD */
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* 90 with REX.B is xchg %r8d, %eax, not a NOP. */
	c.gpr[EMU_RAX] = 0x1111111122222222ull;
	c.gpr[EMU_R8] = 0x3333333344444444ull;
	CHECK_EQ(RUN(&c, &exc, 0x41, 0x90), 0);
	CHECK_EQ(c.gpr[EMU_RAX], 0x44444444);
	CHECK_EQ(c.gpr[EMU_R8], 0x22222222);
	c.rip = CODE;
	CHECK_EQ(c.rip, CODE);
	/* NOP, PAUSE, multi-byte NOP, prefetch, fences: done, nothing else. */
	CHECK_EQ(RUN(&c, &exc, 0x90), 0);
	CHECK_EQ(c.rip, CODE + 1);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xf3, 0x90), 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x1f, 0x44, 0x00, 0x00), 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x18, 0x0e), 0); /* prefetcht0 (%rsi): no access */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0xf0), 0); /* mfence */
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 2 + 5 + 3 + 3);
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0xf0, 0x90), 0); /* lock nop */
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(emu_execute(&c, &(struct emu_insn){ .op = EMU_OP_NONE }, &fake_ops, NULL, &exc),
		 -ENOTSUP);
	/* Names for the stats. */
	CHECK(!strcmp(emu_op_name(EMU_OP_CMPXCHG16B), "cmpxchg16b"));
	CHECK(!strcmp(emu_op_name(EMU_OP_POPCNT), "popcnt"));
	CHECK(!strcmp(emu_op_name(EMU_OP_COUNT), "?"));
	for (unsigned op = 0; op < EMU_OP_COUNT; op++)
		CHECK(strcmp(emu_op_name(op), "?"));
	CHECK_EQ(
	    emu_decode(&insn, &c, (const uint8_t[]){ 0x0f, 0x01, 0xfa }, 3, &fake_ops, NULL, &exc),
	    0);
	CHECK_EQ(insn.op, EMU_OP_UNIMPL);
	CHECK_EQ(insn.len, 3);
	/* UD2, UD1, UD0: #UD, as on hardware. */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x0b), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xb9, 0x00), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(c.rip, CODE);
	/* An opcode with no instruction at all: unknown, and the decoder reports how far it got. */
	CHECK_EQ(
	    emu_decode(&insn, &c, (const uint8_t[]){ 0x66, 0x0f, 0x04 }, 3, &fake_ops, NULL, &exc),
	    -ENOTSUP);
	CHECK_EQ(insn.len, 3);
	CHECK_EQ(insn.map, EMU_MAP_0F);
	CHECK_EQ(insn.opcode, 0x04);
}

/* Instruction lengths the tables give for every kind of operand. */
static void test_lengths(void)
{
	static const struct {
		uint8_t bytes[15];
		unsigned n, len, code_size;
	} cases[] = {
		{ { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }, 10, 10, 8 }, /* mov $imm64, %rax */
		{ { 0xb8, 1, 2, 3, 4 }, 5, 5, 8 },		       /* mov $imm32, %eax */
		{ { 0x66, 0xb8, 1, 2 }, 4, 4, 8 },		       /* mov $imm16, %ax */
		{ { 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 }, 9, 9, 8 },	       /* mov moffs64, %eax */
		{ { 0x67, 0xa1, 1, 2, 3, 4 }, 6, 6, 8 },	       /* addr32 mov moffs32 */
		{ { 0xa1, 1, 2, 3, 4 }, 5, 5, 4 },		       /* 32-bit: moffs32 */
		{ { 0xe8, 1, 2, 3, 4 }, 5, 5, 8 },		       /* call rel32 */
		{ { 0x66, 0xe8, 1, 2, 3, 4 }, 6, 6, 8 },	       /* 64-bit ignores 66 */
		{ { 0x66, 0xe8, 1, 2 }, 4, 4, 4 },		       /* 32-bit: rel16 */
		{ { 0x0f, 0x84, 1, 2, 3, 4 }, 6, 6, 8 },	       /* je rel32 */
		{ { 0xc8, 1, 2, 3 }, 4, 4, 8 },			       /* enter */
		{ { 0xc2, 1, 2 }, 3, 3, 8 },			       /* ret imm16 */
		{ { 0x9a, 1, 2, 3, 4, 5, 6 }, 7, 7, 4 },	       /* lcall ptr16:32 */
		{ { 0xf6, 0x00, 7 }, 3, 3, 8 },			       /* testb $7, (%rax) */
		{ { 0xf6, 0x10 }, 2, 2, 8 },			       /* notb (%rax) */
		{ { 0xf7, 0xc0, 1, 2, 3, 4 }, 6, 6, 8 },	       /* test $imm32, %eax */
		{ { 0x66, 0xf7, 0xc0, 1, 2 }, 5, 5, 8 },	       /* test $imm16, %ax */
		{ { 0x81, 0x84, 0x24, 1, 2, 3, 4, 5, 6, 7, 8 },
		  11,
		  11,
		  8 },						  /* SIB, disp32, imm32 */
		{ { 0x0f, 0x3a, 0x0f, 0xc1, 8 }, 5, 5, 8 },	  /* palignr: 0f3a has imm8 */
		{ { 0xc4, 0xe3, 0x79, 0x0f, 0xc1, 8 }, 6, 6, 8 }, /* vpalignr */
		{ { 0xc5, 0xf9, 0x6f, 0x04, 0x24 }, 5, 5, 8 },	  /* vmovdqa (%rsp), %xmm0 */
		{ { 0x0f, 0x0f, 0xc1, 0x9e }, 4, 4, 8 },	  /* 3DNow! pfadd */
		{ { 0xd9, 0xee }, 2, 2, 8 },			  /* fldz */
		{ { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5, 5, 8 },	  /* nopl 0(%rax,%rax) */
	};
	struct emu_exception exc;
	struct emu_insn insn;

	fake_reset();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct emu_cpu c = cases[i].code_size == 8 ? cpu64() : cpu32();
		int ret = emu_decode(&insn, &c, cases[i].bytes, cases[i].n, &fake_ops, NULL, &exc);

		if (ret || exc.valid || insn.len != cases[i].len)
			fprintf(stderr, "  case %u: ret %d, exc %d, len %u (want %u)\n", i, ret,
				exc.valid, insn.len, cases[i].len);
		CHECK_EQ(ret, 0);
		CHECK(!exc.valid);
		CHECK_EQ(insn.len, cases[i].len);
	}
	/* lcall ptr16:32: the offset in imm, the selector in imm2; enter: both immediates. */
	{
		struct emu_cpu c = cpu32();

		CHECK_EQ(emu_decode(&insn, &c, cases[12].bytes, 7, &fake_ops, NULL, &exc), 0);
		CHECK_EQ(insn.imm, 0x04030201ull);
		CHECK_EQ(insn.imm2, 0x0605);
		c = cpu64();
		CHECK_EQ(emu_decode(&insn, &c, cases[10].bytes, 4, &fake_ops, NULL, &exc), 0);
		CHECK_EQ(insn.imm, 0x0201);
		CHECK_EQ(insn.imm2, 3);
	}
	/* Invalid in 64-bit mode: #UD, as on hardware; the same bytes decode in 32-bit mode. */
	{
		static const uint8_t inv[] = { 0x06, 0x27, 0x60, 0xd4, 0xd6, 0xce };

		for (unsigned i = 0; i < sizeof(inv); i++) {
			struct emu_cpu c = cpu64();

			CHECK_EQ(emu_decode(&insn, &c, &inv[i], 1, &fake_ops, NULL, &exc), 0);
			CHECK_EXC(exc, EMU_X_UD, -1);
			c = cpu32();
			if (inv[i] == 0xd4)
				continue; /* aam needs its immediate byte */
			CHECK_EQ(emu_decode(&insn, &c, &inv[i], 1, &fake_ops, NULL, &exc), 0);
			CHECK(!exc.valid);
		}
	}
}

static void test_modes(void)
{
	struct emu_cpu c = cpu64();

	CHECK_EQ(emu_code_size(&c), 8);
	c.seg[EMU_CS].l = 0; /* compatibility mode */
	c.seg[EMU_CS].db = 1;
	CHECK_EQ(emu_code_size(&c), 4);
	c.seg[EMU_CS].db = 0;
	CHECK_EQ(emu_code_size(&c), 2);
	c = cpu32();
	c.seg[EMU_CS].l = 1; /* L without LMA means nothing */
	CHECK_EQ(emu_code_size(&c), 4);
	c.rflags |= EMU_RFLAGS_VM;
	CHECK_EQ(emu_code_size(&c), 2);
	c = cpu16();
	c.seg[EMU_CS].db = 1;
	CHECK_EQ(emu_code_size(&c), 2);
	c = cpu64();
	CHECK(emu_is_canonical(&c, 0x00007fffffffffffull));
	CHECK(emu_is_canonical(&c, 0xffff800000000000ull));
	CHECK(!emu_is_canonical(&c, 0x0000800000000000ull));
	CHECK(!emu_is_canonical(&c, 0xfff0000000000000ull));
	c.cr4 |= EMU_CR4_LA57;
	CHECK(emu_is_canonical(&c, 0x00ffffffffffffffull));
	CHECK(emu_is_canonical(&c, 0xff00000000000000ull));
	CHECK(!emu_is_canonical(&c, 0x0100000000000000ull));
}

int main(void)
{
	RUN_TEST(test_int3);
	RUN_TEST(test_fwait);
	RUN_TEST(test_popcnt_reg);
	RUN_TEST(test_popcnt_mem);
	RUN_TEST(test_popcnt_faults);
	RUN_TEST(test_legacy_modes);
	RUN_TEST(test_clac_stac);
	RUN_TEST(test_ldmxcsr);
	RUN_TEST(test_stmxcsr);
	RUN_TEST(test_vldmxcsr);
	RUN_TEST(test_cmpxchg16b);
	RUN_TEST(test_cmpxchg8b);
	RUN_TEST(test_cmpxchg16b_atomic);
	RUN_TEST(test_host_cmpxchg);
	RUN_TEST(test_length_limit);
	RUN_TEST(test_fetch);
	RUN_TEST(test_unknown);
	RUN_TEST(test_prefetch);
	RUN_TEST(test_lengths);
	RUN_TEST(test_modes);
	free(fake.mem);
	TEST_EXIT();
}
