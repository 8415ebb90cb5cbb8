/* Unit tests of the control transfers: INT n, INTO and IRET through a fake IDT, GDT and TSS,
 * and far JMP/CALL/RET, in real, protected and IA-32e mode. */
#include "emu_fake.h"

#define GDT 0x2000ull
#define IDT 0x3000ull
#define TSS 0x4000ull
#define STACK 0x8000ull	    /* the interrupted code's stack top */
#define RSP0 0x9000ull	    /* the TSS's ring-0 stack */
#define IST1 0xa000ull	    /* the TSS's first interrupt stack */
#define HANDLER 0x5000ull   /* handler code */
#define USER_CODE 0x6000ull /* CPL 3 code */

/* Selectors of the fake GDT. */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_UCODE64 0x1b
#define SEL_UDATA 0x23
#define SEL_CODE32 0x28
#define SEL_UCODE32 0x33
#define SEL_DATA16 0x38 /* a 16-bit data segment (B = 0), ring 0 */
#define SEL_RODATA 0x40 /* read-only data: not a stack */

static void put_desc(uint16_t sel, uint8_t type, unsigned dpl, bool l, bool db, bool present)
{
	fake_put_desc(GDT, sel, type, dpl, l, db, present);
}

/* A gate at g: 16 bytes in IA-32e mode, 8 in protected mode; byte4: IST or parameter count. */
static void put_gate_at(uint8_t *g, uint64_t target, uint16_t sel, uint8_t type, unsigned dpl,
			unsigned byte4, bool lm)
{
	memset(g, 0, lm ? 16 : 8);
	g[0] = (uint8_t)target;
	g[1] = (uint8_t)(target >> 8);
	g[2] = (uint8_t)sel;
	g[3] = (uint8_t)(sel >> 8);
	g[4] = (uint8_t)byte4;
	g[5] = (uint8_t)(0x80 | dpl << 5 | type);
	g[6] = (uint8_t)(target >> 16);
	g[7] = (uint8_t)(target >> 24);
	if (lm)
		for (unsigned i = 0; i < 4; i++)
			g[8 + i] = (uint8_t)(target >> (32 + 8 * i));
}

/* An IDT gate for vector vec. */
static void put_gate(unsigned vec, uint64_t target, uint16_t sel, uint8_t type, unsigned dpl,
		     unsigned ist, bool lm)
{
	put_gate_at(fake.mem + IDT + vec * (lm ? 16 : 8), target, sel, type, dpl, ist, lm);
}

static void fill_gdt(void)
{
	put_desc(SEL_CODE64, 0xa, 0, true, false, true); /* execute/read, not accessed */
	put_desc(SEL_DATA, 0x3, 0, false, true, true);
	put_desc(SEL_UCODE64, 0xb, 3, true, false, true);
	put_desc(SEL_UDATA, 0x3, 3, false, true, true);
	put_desc(SEL_CODE32, 0xb, 0, false, true, true);
	put_desc(SEL_UCODE32, 0xb, 3, false, true, true);
	put_desc(SEL_DATA16, 0x3, 0, false, false, true);
	put_desc(SEL_RODATA, 0x1, 0, false, true, true);
}

static struct emu_seg seg_of(uint16_t sel, uint8_t type, unsigned dpl, bool l, bool db)
{
	return (struct emu_seg){ .limit = 0xffffffff,
				 .selector = sel,
				 .type = type,
				 .dpl = (uint8_t)dpl,
				 .s = 1,
				 .present = 1,
				 .db = db,
				 .l = l };
}

/* IA-32e mode at CPL cpl (0 or 3) with the fake tables. */
static struct emu_cpu lm_cpu(unsigned cpl)
{
	struct emu_cpu c = cpu64();

	fill_gdt();
	c.gdt = (struct emu_dtable){ GDT, 0x47 };
	c.idt = (struct emu_dtable){ IDT, 256 * 16 - 1 };
	c.tr = (struct emu_seg){
		.base = TSS, .limit = 0x67, .selector = 0x50, .type = 0xb, .present = 1
	};
	c.ldt.unusable = true;
	put64(TSS + 4, RSP0);
	put64(TSS + 0x24, IST1);
	c.cpl = (uint8_t)cpl;
	if (cpl == 3) {
		c.seg[EMU_CS] = seg_of(SEL_UCODE64, 0xb, 3, true, false);
		c.seg[EMU_SS] = seg_of(SEL_UDATA, 0x3, 3, false, true);
		c.seg[EMU_DS] = seg_of(SEL_UDATA, 0x3, 3, false, true);
		c.seg[EMU_ES] = seg_of(SEL_DATA, 0x3, 0, false, true); /* not usable at CPL 3 */
		c.rip = USER_CODE;
	} else {
		c.seg[EMU_CS] = seg_of(SEL_CODE64, 0xb, 0, true, false);
		c.seg[EMU_SS] = seg_of(SEL_DATA, 0x3, 0, false, true);
	}
	c.gpr[EMU_RSP] = STACK - 8; /* misaligned on purpose: IA-32e aligns to 16 */
	c.rflags = 0x202;	    /* IF */
	return c;
}

static void test_int_lm_same_privilege(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	uint64_t f = (STACK - 8) & ~0xfull;

	fake_reset();
	c = lm_cpu(0);
	put_gate(0x20, HANDLER, SEL_CODE64, 0xe, 0, 0, true);
	c.rflags |= EMU_RFLAGS_RF | EMU_RFLAGS_NT | EMU_RFLAGS_CF;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x20), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ(c.gpr[EMU_RSP], f - 40);
	/* The frame: RIP, CS, RFLAGS, RSP, SS from the lowest address up. */
	CHECK_EQ(get64(f - 40), CODE + 2);
	CHECK_EQ(get64(f - 32), SEL_CODE64);
	CHECK_EQ(get64(f - 24), 0x202 | EMU_RFLAGS_RF | EMU_RFLAGS_NT | EMU_RFLAGS_CF);
	CHECK_EQ(get64(f - 16), STACK - 8);
	CHECK_EQ(get64(f - 8), SEL_DATA);
	/* An interrupt gate clears IF; every gate clears TF, NT, RF; CF stays. */
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_CF);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE64);
	CHECK(c.seg[EMU_CS].l);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
	CHECK_EQ(c.cpl, 0);
	CHECK(c.dirty & EMU_DIRTY_SREGS);
	/* The CPU sets the descriptor's accessed bit; the hidden type has it too. */
	CHECK(fake.mem[GDT + SEL_CODE64 + 5] & 1);
	CHECK_EQ(c.seg[EMU_CS].type, 0xb);

	/* A trap gate leaves IF alone. */
	c = lm_cpu(0);
	put_gate(0x21, HANDLER, SEL_CODE64, 0xf, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x21), 0);
	CHECK(!exc.valid);
	CHECK(c.rflags & EMU_RFLAGS_IF);

	/* IST: the stack comes from the TSS even without a privilege change. */
	c = lm_cpu(0);
	put_gate(0x22, HANDLER, SEL_CODE64, 0xe, 0, 1, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x22), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RSP], IST1 - 40);
	CHECK_EQ(get64(IST1 - 16), STACK - 8);
	CHECK_EQ(get64(IST1 - 8), SEL_DATA);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
}

static void test_int_lm_from_user(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = lm_cpu(3);
	put_gate(0x80, HANDLER, SEL_CODE64, 0xe, 3, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x80), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 0);
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ(c.gpr[EMU_RSP], RSP0 - 40);
	CHECK_EQ(get64(RSP0 - 40), USER_CODE + 2);
	CHECK_EQ(get64(RSP0 - 32), SEL_UCODE64);
	CHECK_EQ(get64(RSP0 - 16), STACK - 8);
	CHECK_EQ(get64(RSP0 - 8), SEL_UDATA);
	/* SS is a null selector with RPL 0; CS has RPL 0. */
	CHECK(c.seg[EMU_SS].unusable);
	CHECK_EQ(c.seg[EMU_SS].selector, 0);
	CHECK_EQ(c.seg[EMU_SS].dpl, 0);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE64);
	/* The frame went to a supervisor stack (no user access flag on the writes). */
	CHECK(!(fake.last_access & EMU_ACC_USER));

	/* IRETQ back to user mode: everything restored, ES (DPL 0) nulled. */
	c.rip = HANDLER;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.rip, USER_CODE + 2);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_UCODE64);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_UDATA);
	CHECK_EQ(c.seg[EMU_SS].dpl, 3);
	CHECK(c.rflags & EMU_RFLAGS_IF);
	CHECK(c.seg[EMU_ES].unusable);
	CHECK_EQ(c.seg[EMU_ES].selector, 0);
	CHECK(!c.seg[EMU_DS].unusable);

	/* A gate with DPL 0 is out of reach of INT n at CPL 3: #GP(vector * 8 + 2). */
	c = lm_cpu(3);
	put_gate(0x81, HANDLER, SEL_CODE64, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x81), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x81 * 8 + 2);
	CHECK_EQ(c.rip, USER_CODE);
	CHECK_EQ(c.cpl, 3);
	CHECK(!c.dirty);
}

static void test_int_lm_faults(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* Beyond the IDT limit. */
	c = lm_cpu(0);
	c.idt.limit = 0x20 * 16 - 1;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x20), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x20 * 8 + 2);
	/* Not present. */
	c = lm_cpu(0);
	put_gate(0x30, HANDLER, SEL_CODE64, 0xe, 0, 0, true);
	fake.mem[IDT + 0x30 * 16 + 5] &= 0x7f;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x30), 0);
	CHECK_EXC(exc, EMU_X_NP, 0x30 * 8 + 2);
	/* A call gate (type 0xc) or a 32-bit-only type in the IDT. */
	c = lm_cpu(0);
	put_gate(0x31, HANDLER, SEL_CODE64, 0xc, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x31), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x31 * 8 + 2);
	c = lm_cpu(0);
	put_gate(0x31, HANDLER, SEL_CODE64, 0x6, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x31), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x31 * 8 + 2);
	/* Target selector: null, beyond the GDT, data, 32-bit code, not present. */
	c = lm_cpu(0);
	put_gate(0x32, HANDLER, 0, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x32), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = lm_cpu(0);
	put_gate(0x32, HANDLER, 0x80, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x32), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x80);
	c = lm_cpu(0);
	put_gate(0x32, HANDLER, SEL_DATA, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x32), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_DATA);
	c = lm_cpu(0);
	put_gate(0x32, HANDLER, SEL_CODE32, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x32), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_CODE32);
	c = lm_cpu(0);
	put_desc(SEL_CODE64, 0xb, 0, true, false, false);
	put_gate(0x32, HANDLER, SEL_CODE64, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x32), 0);
	CHECK_EXC(exc, EMU_X_NP, SEL_CODE64);
	/* A handler at a non-canonical address. */
	c = lm_cpu(0);
	put_gate(0x33, 0x0000800000000000ull, SEL_CODE64, 0xe, 0, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x33), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* The TSS too short for RSP0: #TS(TSS selector). */
	c = lm_cpu(3);
	c.tr.limit = 8;
	put_gate(0x34, HANDLER, SEL_CODE64, 0xe, 3, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x34), 0);
	CHECK_EXC(exc, EMU_X_TS, 0x50);
	/* A page fault while pushing the frame: #PF (write, supervisor), nothing changed. */
	c = lm_cpu(0);
	put_gate(0x35, HANDLER, SEL_CODE64, 0xe, 0, 0, true);
	fake.fault_lo = STACK - PAGE;
	fake.fault_hi = STACK;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x35), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
	CHECK(!c.dirty);
	fake.fault_lo = fake.fault_hi = 0;
	/* Reading the IDT faults: #PF without the user bit even from CPL 3. */
	c = lm_cpu(3);
	fake.fault_lo = IDT;
	fake.fault_hi = IDT + PAGE;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x36), 0);
	CHECK_EXC(exc, EMU_X_PF, 0);
	CHECK_EQ(exc.cr2, IDT + 0x36 * 16);
	fake.fault_lo = fake.fault_hi = 0;
	/* INTO is invalid in 64-bit mode. */
	c = lm_cpu(0);
	c.rflags |= EMU_RFLAGS_OF;
	CHECK_EQ(RUN(&c, &exc, 0xce), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
}

static void test_iret_lm(void)
{
	struct emu_cpu c;
	struct emu_exception exc;
	uint64_t sp = 0x7000;

	fake_reset();
	/* IRETQ at CPL 0 to CPL 0 still pops SS:RSP. */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put64(sp, 0x1234);
	put64(sp + 8, SEL_CODE64);
	put64(sp + 16, 0x2 | EMU_RFLAGS_CF | EMU_RFLAGS_IF | EMU_RFLAGS_IOPL);
	put64(sp + 24, 0x7777);
	put64(sp + 32, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x1234);
	CHECK_EQ(c.gpr[EMU_RSP], 0x7777);
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_CF | EMU_RFLAGS_IF | EMU_RFLAGS_IOPL);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
	/* A null SS is fine for a 64-bit CPL 0 target. */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put64(sp + 32, 0);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK(c.seg[EMU_SS].unusable);
	/* IRETD (no REX.W) in 64-bit mode: 4-byte slots, still five of them. */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put32(sp, 0x4321);
	put32(sp + 4, SEL_CODE64);
	put32(sp + 8, 0x2);
	put32(sp + 12, 0x6000);
	put32(sp + 16, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x4321);
	CHECK_EQ(c.gpr[EMU_RSP], 0x6000);
	/* CPL 3 cannot raise IOPL or touch IF when IOPL < 3. */
	c = lm_cpu(3);
	c.gpr[EMU_RSP] = sp;
	put64(sp, USER_CODE);
	put64(sp + 8, SEL_UCODE64);
	put64(sp + 16, 0x2 | EMU_RFLAGS_IOPL);
	put64(sp + 24, 0x7000);
	put64(sp + 32, SEL_UDATA);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rflags, 0x202);
	/* Returning to an inner level (RPL 0 from CPL 3): #GP(selector). */
	c = lm_cpu(3);
	c.gpr[EMU_RSP] = sp;
	put64(sp + 8, SEL_CODE64);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_CODE64);
	CHECK_EQ(c.rip, USER_CODE);
	/* Non-canonical RIP: #GP(0). */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put64(sp, 0x0000800000000000ull);
	put64(sp + 8, SEL_CODE64);
	put64(sp + 32, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* A read-only data segment is no stack: #GP(SS selector). */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put64(sp, 0x1000);
	put64(sp + 32, SEL_RODATA);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_RODATA);
	/* NT set in IA-32e mode: #GP(0) (no task returns there). */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put64(sp + 32, SEL_DATA);
	c.rflags |= EMU_RFLAGS_NT;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* TF set before IRET: the single-step trap comes after it. */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = sp;
	put64(sp, 0x1000);
	put64(sp + 8, SEL_CODE64);
	put64(sp + 16, 0x2);
	put64(sp + 32, SEL_DATA);
	c.rflags |= EMU_RFLAGS_TF;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_DB, -1);
	CHECK_EQ(c.rip, 0x1000);
}

/* 32-bit protected mode with the fake tables and a 32-bit TSS. */
static struct emu_cpu pm_cpu(unsigned cpl)
{
	struct emu_cpu c = cpu32();

	fill_gdt();
	c.gdt = (struct emu_dtable){ GDT, 0x47 };
	c.idt = (struct emu_dtable){ IDT, 256 * 8 - 1 };
	c.tr = (struct emu_seg){
		.base = TSS, .limit = 0x67, .selector = 0x50, .type = 0xb, .present = 1
	};
	c.ldt.unusable = true;
	put32(TSS + 4, (uint32_t)RSP0);
	put32(TSS + 8, SEL_DATA);
	c.cpl = (uint8_t)cpl;
	c.seg[EMU_CS] = cpl ? seg_of(SEL_UCODE32, 0xb, 3, false, true)
			    : seg_of(SEL_CODE32, 0xb, 0, false, true);
	c.seg[EMU_SS] =
	    cpl ? seg_of(SEL_UDATA, 0x3, 3, false, true) : seg_of(SEL_DATA, 0x3, 0, false, true);
	c.gpr[EMU_RSP] = STACK;
	c.rflags = 0x202;
	return c;
}

static void test_int_iret_pm(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* Same privilege through a 32-bit interrupt gate: EFLAGS, CS, EIP. */
	c = pm_cpu(0);
	put_gate(0x40, HANDLER, SEL_CODE32, 0xe, 0, 0, false);
	c.gpr[EMU_RSP] = 0xffffffff00000000ull | STACK; /* upper half ignored, kept */
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x40), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 12);
	CHECK_EQ(get32(STACK - 12), CODE + 2);
	CHECK_EQ(get32(STACK - 8), SEL_CODE32);
	CHECK_EQ(get32(STACK - 4), 0x202);
	CHECK(!(c.rflags & EMU_RFLAGS_IF));
	/* IRETD back. */
	CHECK_EQ(RUN(&c, &exc, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 2);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK);
	CHECK(c.rflags & EMU_RFLAGS_IF);

	/* A 16-bit trap gate: 2-byte slots, 16-bit target. */
	c = pm_cpu(0);
	put_gate(0x41, 0x12345, SEL_CODE32, 0x7, 0, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x41), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x2345);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 6);
	CHECK(c.rflags & EMU_RFLAGS_IF);

	/* From CPL 3: the ring-0 stack from the TSS, SS:ESP pushed. */
	c = pm_cpu(3);
	c.rip = USER_CODE;
	put_gate(0x80, HANDLER, SEL_CODE32, 0xe, 3, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x80), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 0);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], RSP0 - 20);
	CHECK_EQ(get32(RSP0 - 20), USER_CODE + 2);
	CHECK_EQ(get32(RSP0 - 16), SEL_UCODE32);
	CHECK_EQ(get32(RSP0 - 8), STACK);
	CHECK_EQ(get32(RSP0 - 4), SEL_UDATA);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE32);
	/* And IRET to CPL 3 pops SS:ESP. */
	CHECK_EQ(RUN(&c, &exc, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.rip, USER_CODE + 2);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_UDATA);

	/* The TSS's SS0 is not a writable data segment: #TS(selector). */
	c = pm_cpu(3);
	put32(TSS + 8, SEL_RODATA);
	put_gate(0x80, HANDLER, SEL_CODE32, 0xe, 3, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x80), 0);
	CHECK_EXC(exc, EMU_X_TS, SEL_RODATA);
	CHECK_EQ(c.cpl, 3);
	/* A null SS0: #TS(0). */
	put32(TSS + 8, 0);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x80), 0);
	CHECK_EXC(exc, EMU_X_TS, 0);

	/* The pushes must fit in SS's limit: #SS(0). */
	c = pm_cpu(0);
	put_gate(0x40, HANDLER, SEL_CODE32, 0xe, 0, 0, false);
	c.seg[EMU_SS].limit = STACK - 8;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x40), 0);
	CHECK_EXC(exc, EMU_X_SS, 0);

	/* Task gates, nested-task returns and virtual-8086 mode are not emulated. */
	c = pm_cpu(0);
	put_gate(0x42, 0, 0x50, 0x5, 0, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x42), -ENOTSUP);
	c.rflags |= EMU_RFLAGS_NT;
	CHECK_EQ(RUN(&c, &exc, 0xcf), -ENOTSUP);
	c = pm_cpu(0);
	c.rflags |= EMU_RFLAGS_VM;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x40), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);

	/* INTO: nothing without OF; with it, vector 4 like INT 4. */
	c = pm_cpu(0);
	put_gate(EMU_X_OF, HANDLER, SEL_CODE32, 0xf, 0, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xce), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 1);
	c = pm_cpu(0);
	c.rflags |= EMU_RFLAGS_OF | EMU_RFLAGS_TF;
	CHECK_EQ(RUN(&c, &exc, 0xce), 0);
	CHECK(!exc.valid); /* TF cleared by the delivery: no single-step trap */
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ(get32(STACK - 12), CODE + 1);
}

static void test_int_iret_real(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu16();
	c.idt = (struct emu_dtable){ 0, 0x3ff };
	c.seg[EMU_CS].selector = 0x0100;
	c.seg[EMU_CS].base = 0x1000;
	c.rip = 0x20;
	c.seg[EMU_SS].selector = 0;
	c.seg[EMU_SS].base = 0;
	c.gpr[EMU_RSP] = 0x7000;
	c.rflags = 0x202 | EMU_RFLAGS_TF | EMU_RFLAGS_CF;
	/* IVT entry 0x10: 0x0200:0x0034. */
	put32(0x10 * 4, 0x02000034);
	CHECK_EQ(run(&c, (const uint8_t[]){ 0xcd, 0x10 }, 2, &exc), 0);
	memcpy(fake.mem + 0x1020, (const uint8_t[]){ 0xcd, 0x10 }, 2);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x34);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x200);
	CHECK_EQ(c.seg[EMU_CS].base, 0x2000);
	CHECK_EQ(c.gpr[EMU_RSP], 0x7000 - 6);
	CHECK_EQ(fake.mem[0x7000 - 6] | fake.mem[0x7000 - 5] << 8, 0x22);  /* IP */
	CHECK_EQ(fake.mem[0x7000 - 4] | fake.mem[0x7000 - 3] << 8, 0x100); /* CS */
	CHECK_EQ(fake.mem[0x7000 - 2] | fake.mem[0x7000 - 1] << 8, 0x302 | EMU_RFLAGS_CF);
	CHECK_EQ(c.rflags, 0x2 | EMU_RFLAGS_CF);
	/* IRET pops IP, CS, FLAGS. */
	CHECK_EQ(RUN(&c, &exc, 0xcf), 0);
	CHECK_EQ(c.rip, 0x22);
	CHECK_EQ(c.seg[EMU_CS].base, 0x1000);
	CHECK_EQ(c.gpr[EMU_RSP], 0x7000);
	CHECK_EQ(c.rflags, 0x302 | EMU_RFLAGS_CF);
	/* 32-bit IRET (66 cf): EIP beyond the 64 KiB limit is #GP. */
	c.gpr[EMU_RSP] = 0x7000;
	c.rflags = 0x2;
	put32(0x7000, 0x10000);
	put32(0x7004, 0x100);
	put32(0x7008, 0x202);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_GP, -1); /* real mode pushes no error code */
	put32(0x7000, 0x40);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x40);
	CHECK_EQ(c.gpr[EMU_RSP], 0x700c);
	CHECK(c.rflags & EMU_RFLAGS_IF);
	/* The IVT limit. */
	c.idt.limit = 0x3f;
	c.gpr[EMU_RSP] = 0x7000;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x10), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);
	/* SP wraps within the 64 KiB stack segment. */
	c = cpu16();
	c.idt = (struct emu_dtable){ 0, 0x3ff };
	c.gpr[EMU_RSP] = 0x2;
	c.rip = 0x100;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x10), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RSP], 0xfffc);
}

/* Findings of a review against the SDM, each kept as a case. */
static void test_review_cases(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* A delivery that faults sets no accessed bit (gate -> data segment: #GP(selector)). */
	c = pm_cpu(0);
	put_desc(0x48, 0x2, 0, false, true, true); /* writable data, not accessed */
	put_gate(0x43, HANDLER, 0x48, 0xe, 0, 0, false);
	c.gdt.limit = 0x4f;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x43), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x48);
	CHECK_EQ(fake.mem[GDT + 0x48 + 5], 0x92);
	/* Task gates: the gate's DPL and present bit are checked before the (unemulated) switch. */
	c = pm_cpu(3);
	put_gate(0x08, 0, 0x50, 0x5, 0, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x08), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x08 * 8 + 2);
	c = pm_cpu(0);
	put_gate(0x09, 0, 0x50, 0x5, 0, 0, false);
	fake.mem[IDT + 0x09 * 8 + 5] &= 0x7f;
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x09), 0);
	CHECK_EXC(exc, EMU_X_NP, 0x09 * 8 + 2);
	/* A 32-bit TSS needs only ESP0 and SS0's two bytes: a limit of 9 is enough. */
	c = pm_cpu(3);
	c.tr.limit = 9;
	put_gate(0x80, HANDLER, SEL_CODE32, 0xe, 3, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x80), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 0);
	/* IA-32e: a non-canonical new stack is #SS(0) even when the handler is bad too. */
	c = lm_cpu(3);
	put64(TSS + 4, 0x8000000000000000ull);
	put_gate(0x81, 0x0000900000000000ull, SEL_CODE64, 0xe, 3, 0, true);
	CHECK_EQ(RUN(&c, &exc, 0xcd, 0x81), 0);
	CHECK_EXC(exc, EMU_X_SS, 0);
	/* IRETQ to a 32-bit CPL 3 segment takes all of the popped RSP. */
	c = lm_cpu(0);
	c.gpr[EMU_RSP] = 0x7000;
	put64(0x7000, 0x1000);
	put64(0x7008, SEL_UCODE32);
	put64(0x7010, 0x2);
	put64(0x7018, 0x100002000ull);
	put64(0x7020, SEL_UDATA);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcf), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RSP], 0x100002000ull);
	CHECK_EQ(c.cpl, 3);
	/* Real mode: a 32-bit IRET to an EIP above 64 KiB is #GP, whatever CS's limit says. */
	c = cpu16();
	c.seg[EMU_CS].limit = 0xffffffff;
	c.gpr[EMU_RSP] = 0x7000;
	put32(0x7000, 0x12345);
	put32(0x7004, 0);
	put32(0x7008, 0x2);
	CHECK_EQ(RUN(&c, &exc, 0x66, 0xcf), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);
	/* 16-bit protected-mode code: the pushed return IP wraps at 64 KiB. */
	c = pm_cpu(0);
	c.seg[EMU_CS].db = 0;
	c.seg[EMU_CS].base = 0x10000;
	c.rip = 0xfffe;
	put_gate(0x44, HANDLER, SEL_CODE32, 0xe, 0, 0, false);
	memcpy(fake.mem + 0x10000 + 0xfffe, (const uint8_t[]){ 0xcd, 0x44 }, 2);
	CHECK_EQ(emu_step(&c, (const uint8_t[]){ 0xcd, 0x44 }, 2, &fake_ops, NULL, NULL, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(get32(STACK - 12), 0);
}

/* A call gate in the GDT at sel: 8 bytes, or 16 in IA-32e mode. */
static void put_call_gate(uint16_t sel, uint64_t target, uint16_t csel, uint8_t type, unsigned dpl,
			  unsigned params, bool lm)
{
	put_gate_at(fake.mem + GDT + sel, target, csel, type, dpl, params, lm);
}

static void test_call_gates(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* Protected mode: CPL 3 calls a DPL 3 32-bit gate to ring-0 code with two parameters. */
	c = pm_cpu(3);
	c.gdt.limit = 0x5f;
	put_call_gate(0x58, HANDLER, SEL_CODE32, 0xc, 3, 2, false);
	c.gpr[EMU_RSP] = STACK - 8;
	put32(STACK - 8, 0x11111111); /* the last parameter pushed */
	put32(STACK - 4, 0x22222222);
	CHECK_EQ(RUN(&c, &exc, 0x9a, 0, 0, 0, 0, 0x5b, 0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 0);
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE32);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_DATA);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], RSP0 - 24);
	CHECK_EQ(get32(RSP0 - 4), SEL_UDATA);
	CHECK_EQ(get32(RSP0 - 8), STACK - 8);
	CHECK_EQ(get32(RSP0 - 12), 0x22222222);
	CHECK_EQ(get32(RSP0 - 16), 0x11111111);
	CHECK_EQ(get32(RSP0 - 20), SEL_UCODE32);
	CHECK_EQ(get32(RSP0 - 24), CODE + 7);
	/* lret $8 goes back out to CPL 3, releasing the parameters on both stacks. */
	CHECK_EQ(RUN(&c, &exc, 0xca, 8, 0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.rip, CODE + 7);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_UDATA);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK);
	/* Same privilege through a 16-bit gate: 2-byte CS and IP, no stack switch. */
	c = pm_cpu(0);
	c.gdt.limit = 0x5f;
	put_call_gate(0x58, 0x1234, SEL_CODE32, 0x4, 0, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0x9a, 0, 0, 0, 0, 0x58, 0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x1234);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 4);
	CHECK_EQ(fake.mem[STACK - 2] | fake.mem[STACK - 1] << 8, SEL_CODE32);
	/* JMP through a gate: the same level only. */
	c = pm_cpu(3);
	c.gdt.limit = 0x5f;
	put_call_gate(0x58, HANDLER, SEL_CODE32, 0xc, 3, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0xea, 0, 0, 0, 0, 0x5b, 0), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_CODE32);
	/* A gate the caller may not use (DPL 0 from CPL 3), a not-present one. */
	put_call_gate(0x58, HANDLER, SEL_CODE32, 0xc, 0, 0, false);
	CHECK_EQ(RUN(&c, &exc, 0x9a, 0, 0, 0, 0, 0x5b, 0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x58);
	put_call_gate(0x58, HANDLER, SEL_CODE32, 0xc, 3, 0, false);
	fake.mem[GDT + 0x58 + 5] &= 0x7f;
	CHECK_EQ(RUN(&c, &exc, 0x9a, 0, 0, 0, 0, 0x5b, 0), 0);
	CHECK_EXC(exc, EMU_X_NP, 0x58);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.rip, CODE);

	/* IA-32e: a 16-byte 64-bit gate from CPL 3 into ring 0: SS null, RSP0 unaligned kept. */
	c = lm_cpu(3);
	c.gdt.limit = 0x67;
	put_call_gate(0x58, 0xffff800000001000ull, SEL_CODE64, 0xc, 3, 5, true);
	put64(TSS + 4, RSP0 - 8);
	put32(0x7000, 0); /* m16:32: the offset is the gate's business */
	fake.mem[0x7004] = 0x5b;
	fake.mem[0x7005] = 0;
	CHECK_EQ(RUN(&c, &exc, 0xff, 0x1c, 0x25, 0x00, 0x70, 0, 0), 0); /* lcall *0x7000 */
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 0);
	CHECK_EQ(c.rip, 0xffff800000001000ull);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE64);
	CHECK(c.seg[EMU_SS].unusable);
	CHECK_EQ(c.gpr[EMU_RSP], RSP0 - 40);
	CHECK_EQ(get64(RSP0 - 16), SEL_UDATA);
	CHECK_EQ(get64(RSP0 - 24), STACK - 8);
	CHECK_EQ(get64(RSP0 - 32), SEL_UCODE64);
	CHECK_EQ(get64(RSP0 - 40), USER_CODE + 7);
	/* The gate's upper half must have type 0. */
	c = lm_cpu(3);
	c.gdt.limit = 0x67;
	fake.mem[GDT + 0x58 + 13] = 0x0c;
	CHECK_EQ(RUN(&c, &exc, 0xff, 0x1c, 0x25, 0x00, 0x70, 0, 0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0x58);
	CHECK_EQ(c.cpl, 3);
}

/* Exception delivery (emu_deliver): RF in a fault's frame, none in a trap's; EXT when the
 * delivery itself faults. */
static void test_deliver(void)
{
	struct emu_cpu c;
	struct emu_exception exc = { .valid = true, .vector = EMU_X_UD }, nested;

	fake_reset();
	c = pm_cpu(0);
	put_gate(EMU_X_UD, HANDLER, SEL_CODE32, 0xe, 0, 0, false);
	put_gate(EMU_X_BP, HANDLER, SEL_CODE32, 0xf, 0, 0, false);
	put_gate(EMU_X_GP, HANDLER, SEL_CODE32, 0xe, 0, 0, false);
	CHECK_EQ(emu_deliver(&c, &exc, false, &fake_ops, NULL, &nested), 0);
	CHECK(!nested.valid);
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ(get32(STACK - 12), CODE); /* EIP: the faulting instruction */
	CHECK(get32(STACK - 4) & EMU_RFLAGS_RF);
	/* #GP with its error code, pushed last. */
	c = pm_cpu(0);
	exc = (struct emu_exception){
		.valid = true, .vector = EMU_X_GP, .has_error_code = true, .error_code = 0x18
	};
	CHECK_EQ(emu_deliver(&c, &exc, false, &fake_ops, NULL, &nested), 0);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 16);
	CHECK_EQ(get32(STACK - 16), 0x18);
	/* A trap (#BP): no RF. */
	c = pm_cpu(0);
	exc = (struct emu_exception){ .valid = true, .vector = EMU_X_BP };
	CHECK_EQ(emu_deliver(&c, &exc, true, &fake_ops, NULL, &nested), 0);
	CHECK(!(get32(STACK - 4) & EMU_RFLAGS_RF));
	/* The IDT too short for the vector: 0 with a nested #GP(vector, IDT, EXT). */
	c = pm_cpu(0);
	c.idt.limit = 8 * EMU_X_UD - 1;
	exc = (struct emu_exception){ .valid = true, .vector = EMU_X_UD };
	CHECK_EQ(emu_deliver(&c, &exc, false, &fake_ops, NULL, &nested), 0);
	CHECK(nested.valid);
	CHECK_EQ(nested.vector, EMU_X_GP);
	CHECK_EQ(nested.error_code, (EMU_X_UD << 3) | 2 | 1);
	CHECK_EQ(c.rip, CODE);
}

static void test_far_real(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu16();
	c.seg[EMU_CS].selector = 0x100;
	c.seg[EMU_CS].base = 0x1000;
	c.rip = 0x20;
	c.gpr[EMU_RSP] = 0x7000;
	/* ljmp $0x2000, $0x34 */
	CHECK_EQ(run(&c, (const uint8_t[]){ 0xea, 0x34, 0, 0, 0x20 }, 5, &exc), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x2000);
	CHECK_EQ(c.seg[EMU_CS].base, 0x20000);
	CHECK_EQ(c.rip, 0x34);
	/* lcall $0x300, $0x10 pushes CS and the next IP; lret comes back. */
	CHECK_EQ(run(&c, (const uint8_t[]){ 0x9a, 0x10, 0, 0, 3 }, 5, &exc), 0);
	CHECK_EQ(c.seg[EMU_CS].base, 0x3000);
	CHECK_EQ(c.gpr[EMU_RSP], 0x7000 - 4);
	CHECK_EQ(fake.mem[0x7000 - 4] | fake.mem[0x7000 - 3] << 8, 0x39); /* IP after the call */
	CHECK_EQ(fake.mem[0x7000 - 2] | fake.mem[0x7000 - 1] << 8, 0x2000);
	CHECK_EQ(RUN(&c, &exc, 0xcb), 0);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x2000);
	CHECK_EQ(c.rip, 0x39);
	CHECK_EQ(c.gpr[EMU_RSP], 0x7000);
	/* A 32-bit far jump above 64 KiB: #GP. */
	CHECK_EQ(run(&c, (const uint8_t[]){ 0x66, 0xea, 0, 0, 1, 0, 0, 0x10 }, 8, &exc), 0);
	CHECK_EXC(exc, EMU_X_GP, -1);
}

static void test_far_protected(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* ljmp $SEL_CODE32, $HANDLER */
	c = pm_cpu(0);
	CHECK_EQ(RUN(&c, &exc, 0xea, 0x00, 0x50, 0, 0, SEL_CODE32, 0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, HANDLER);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE32);
	CHECK(c.dirty & EMU_DIRTY_SREGS);
	/* To a data segment, a not-present one, a DPL 3 code segment from CPL 0, past the limit. */
	c = pm_cpu(0);
	CHECK_EQ(RUN(&c, &exc, 0xea, 0x00, 0x50, 0, 0, SEL_DATA, 0), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_DATA);
	CHECK_EQ(RUN(&c, &exc, 0xea, 0x00, 0x50, 0, 0, SEL_UCODE32 & ~3, 0), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_UCODE32 & ~3);
	put_desc(0x48, 0xb, 0, false, true, false);
	c.gdt.limit = 0x4f;
	CHECK_EQ(RUN(&c, &exc, 0xea, 0x00, 0x50, 0, 0, 0x48, 0), 0);
	CHECK_EXC(exc, EMU_X_NP, 0x48);
	fake.mem[GDT + 0x48] = 0x0f; /* limit 0xfff (byte-granular view: 0xfffff... keep G) */
	fake.mem[GDT + 0x48 + 1] = 0;
	fake.mem[GDT + 0x48 + 6] = 0x40; /* G = 0, D = 1, limit 19:16 = 0: limit 0xf */
	fake.mem[GDT + 0x48 + 5] |= 0x80;
	CHECK_EQ(RUN(&c, &exc, 0xea, 0x10, 0, 0, 0, 0x48, 0), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* A task gate (S = 0, type 5): a task switch, not emulated. */
	fake.mem[GDT + 0x48 + 5] = 0x85;
	CHECK_EQ(RUN(&c, &exc, 0x9a, 0, 0, 0, 0, 0x48, 0), -ENOTSUP);
	/* A conforming DPL 0 segment from CPL 3: allowed, CPL stays 3. */
	c = pm_cpu(3);
	c.gdt.limit = 0x4f;
	put_desc(0x48, 0xe, 0, false, true, true);
	CHECK_EQ(RUN(&c, &exc, 0xea, 0x00, 0x50, 0, 0, 0x48, 0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x4b);

	/* lcall, then lret $8 releasing two parameters. */
	c = pm_cpu(0);
	CHECK_EQ(RUN(&c, &exc, 0x9a, 0x00, 0x50, 0, 0, SEL_CODE32, 0), 0);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 8);
	CHECK_EQ(get32(STACK - 8), CODE + 7);
	CHECK_EQ(get32(STACK - 4), SEL_CODE32);
	c.gpr[EMU_RSP] -= 8; /* pretend the callee's caller pushed two parameters first */
	put32(STACK - 16, CODE + 7);
	put32(STACK - 12, SEL_CODE32);
	CHECK_EQ(RUN(&c, &exc, 0xca, 8, 0), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 7);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], STACK - 8 + 8);

	/* lret to CPL 3: the caller's SS:ESP, and data segments it may not use are nulled. */
	c = pm_cpu(0);
	c.seg[EMU_ES] = seg_of(SEL_DATA, 0x3, 0, false, true);
	c.gpr[EMU_RSP] = 0x7000;
	put32(0x7000, USER_CODE);
	put32(0x7004, SEL_UCODE32);
	put32(0x7008, 0x6ff0);
	put32(0x700c, SEL_UDATA);
	CHECK_EQ(RUN(&c, &exc, 0xcb), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.rip, USER_CODE);
	CHECK_EQ((uint32_t)c.gpr[EMU_RSP], 0x6ff0);
	CHECK_EQ(c.seg[EMU_SS].selector, SEL_UDATA);
	CHECK(c.seg[EMU_ES].unusable);
	/* ... but not to an inner one. */
	c = pm_cpu(3);
	c.gpr[EMU_RSP] = 0x7000;
	put32(0x7004, SEL_CODE32);
	CHECK_EQ(RUN(&c, &exc, 0xcb), 0);
	CHECK_EXC(exc, EMU_X_GP, SEL_CODE32);
}

static void test_far_long(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* rex.W ljmp *(%rbx): m16:64 to a 64-bit code segment. */
	c = lm_cpu(0);
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3000, 0x0000123456789000ull);
	fake.mem[0x3008] = SEL_CODE64;
	fake.mem[0x3009] = 0;
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xff, 0x2b), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, 0x0000123456789000ull);
	CHECK_EQ(c.seg[EMU_CS].selector, SEL_CODE64);
	c.rip = CODE;
	/* Non-canonical: #GP(0). */
	put64(0x3000, 0x0000800000000000ull);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xff, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* The register forms of FF /3 and /5 and the direct forms (EA, 9A) are #UD here. */
	CHECK_EQ(RUN(&c, &exc, 0xff, 0xd8), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUN(&c, &exc, 0xea, 0, 0, 0, 0, 8, 0), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* rex.W lcall *(%rbx) and rex.W lret: 8-byte slots. */
	c = lm_cpu(0);
	c.gpr[EMU_RBX] = 0x3000;
	put64(0x3000, HANDLER);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xff, 0x1b), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8 - 16);
	CHECK_EQ(get64(STACK - 24), CODE + 3);
	CHECK_EQ(get64(STACK - 16), SEL_CODE64);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0xcb), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 3);
	CHECK_EQ(c.gpr[EMU_RSP], STACK - 8);
}

int main(void)
{
	RUN_TEST(test_int_lm_same_privilege);
	RUN_TEST(test_int_lm_from_user);
	RUN_TEST(test_int_lm_faults);
	RUN_TEST(test_iret_lm);
	RUN_TEST(test_int_iret_pm);
	RUN_TEST(test_int_iret_real);
	RUN_TEST(test_review_cases);
	RUN_TEST(test_far_real);
	RUN_TEST(test_call_gates);
	RUN_TEST(test_deliver);
	RUN_TEST(test_far_protected);
	RUN_TEST(test_far_long);
	free(fake.mem);
	TEST_EXIT();
}
