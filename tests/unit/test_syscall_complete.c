/* Unit tests of the SYSCALL-completion frame checks (issue 9): a mis-delivered SYSCALL is
 * completed; an ordinary user fault, a kernel fault, a user jump to LSTAR and forged frames are
 * not; and which handler instructions the VMM may step over. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/mmu.h"
#include "arch/x86/syscall_complete.h"
#include "guest_mem.h"
#include "test.h"

#define LSTAR 0xffffffff81e00080ull
#define STAR 0x0023001000000000ull /* SYSRET CS base 0x23 -> user CS 0x33; kernel CS 0x10 */
#define FMASK 0x47700ull	   /* Linux: TF DF IF IOPL AC NT */
#define USER_FLAGS 0x246ull	   /* IF ZF PF */

/* What a broken SYSCALL from user RIP 0x401000 with RSP 0x7ffe0000 leaves. */
static struct syscall_complete_state broken(void)
{
	return (struct syscall_complete_state){
		.frame = { .error = 0x15,
			   .rip = LSTAR,
			   .cs = 0x33,
			   .rflags = ((USER_FLAGS & ~FMASK) | 2) | (1ull << 16),
			   .rsp = 0x7ffe0000,
			   .ss = 0x2b },
		.cr2 = LSTAR,
		.rcx = 0x401002,
		.r11 = USER_FLAGS,
		.lstar = LSTAR,
		.star = STAR,
		.sfmask = FMASK,
	};
}

static void test_checks(void)
{
	struct syscall_complete_state s;
	struct syscall_complete_entry e;

	s = broken();
	CHECK(syscall_complete_check(&s, &e));
	CHECK_EQ(e.rip, LSTAR);
	CHECK_EQ(e.rsp, 0x7ffe0000);
	CHECK_EQ(e.rflags, (USER_FLAGS & ~FMASK) | 2); /* IF masked, ZF/PF kept, RF dropped */
	CHECK_EQ(e.cs, 0x10);
	CHECK_EQ(e.ss, 0x18);

	/* An ordinary user page fault: another address, a data access. */
	s = broken();
	s.frame.rip = 0x401000;
	s.cr2 = 0x602000;
	s.frame.error = 0x6; /* write, user, not present */
	s.frame.rflags = USER_FLAGS;
	CHECK(!syscall_complete_check(&s, &e));
	/* A kernel fault (CS RPL 0) at LSTAR. */
	s = broken();
	s.frame.cs = 0x10;
	s.frame.ss = 0x18;
	s.frame.error = 0x11;
	CHECK(!syscall_complete_check(&s, &e));
	/* A user jump to LSTAR: the same fetch fault, but IF is set (CPL 3 cannot clear it). */
	s = broken();
	s.frame.rflags = USER_FLAGS;
	s.r11 = USER_FLAGS & ~FMASK; /* whatever R11 the attacker chose */
	CHECK(!syscall_complete_check(&s, &e));
	s.r11 = USER_FLAGS;
	CHECK(!syscall_complete_check(&s, &e));
	/* Forged frames: R11 that does not match, another CS, CR2 elsewhere, another error code. */
	s = broken();
	s.r11 = 0x202;
	s.frame.rflags = 2;
	CHECK(syscall_complete_check(&s, &e)); /* consistent: R11 0x202 masked is 2 */
	s.r11 = 0x203;
	CHECK(!syscall_complete_check(&s, &e));
	s = broken();
	s.frame.cs = 0x23; /* the 32-bit user CS: CSTAR, not LSTAR, would be the target */
	CHECK(!syscall_complete_check(&s, &e));
	s = broken();
	s.cr2 = LSTAR + 8;
	CHECK(!syscall_complete_check(&s, &e));
	s = broken();
	s.frame.error = 0x14; /* not present: not this host's symptom */
	CHECK(!syscall_complete_check(&s, &e));
	s = broken();
	s.frame.rflags |= 1ull << 17; /* VM */
	CHECK(!syscall_complete_check(&s, &e));
	/* A kernel whose FMASK leaves IF alone gives no proof: never complete then. */
	s = broken();
	s.sfmask = FMASK & ~0x200ull;
	s.frame.rflags = (USER_FLAGS & ~s.sfmask) | 2;
	CHECK(!syscall_complete_check(&s, &e));
	/* LSTAR must be a kernel address. */
	s = broken();
	s.lstar = s.cr2 = s.frame.rip = 0x401000;
	CHECK(!syscall_complete_check(&s, &e));
}

static void test_skip_len(void)
{
	static const uint8_t nop[] = { 0x90 }, endbr[] = { 0xf3, 0x0f, 0x1e, 0xfa },
			     nopl[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, push[] = { 0x55 },
			     xchg[] = { 0x41, 0x90 }, clac[] = { 0x0f, 0x01, 0xca };

	CHECK_EQ(syscall_complete_skip_len(nop, sizeof(nop)), 1);
	CHECK_EQ(syscall_complete_skip_len(endbr, sizeof(endbr)), 4);
	CHECK_EQ(syscall_complete_skip_len(nopl, sizeof(nopl)), 5);
	CHECK_EQ(syscall_complete_skip_len(push, sizeof(push)), 0);
	CHECK_EQ(syscall_complete_skip_len(xchg, sizeof(xchg)), 0);
	CHECK_EQ(syscall_complete_skip_len(clac, sizeof(clac)), 0);
	CHECK_EQ(syscall_complete_skip_len(nopl, 3), 0); /* too few bytes to tell */
	CHECK_EQ(syscall_complete_skip_len(nop, 0), 0);
}

static void *pt(void *opaque, uint64_t gpa, unsigned len)
{
	return guest_mem_ptr(opaque, gpa, len);
}

static void put64(uint8_t *mem, uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, 8);
}

/* The IDT at kernel VA 0xffffffff81000000 through 4-level paging, gate 14 -> handler. */
static void test_handler(void)
{
	const uint64_t idt = 0xffffffff81000000ull, handler = 0xffffffff81a01230ull;
	uint8_t *mem = calloc(1, 1 << 20), *g = mem + 0x5000 + 14 * 16;
	struct guest_mem gm = { 0 };
	struct emu_mmu mmu = { .cr0 = EMU_CR0_PE | EMU_CR0_PG,
			       .cr3 = 0x1000,
			       .cr4 = EMU_CR4_PAE,
			       .efer = EMU_EFER_LMA | EMU_EFER_LME,
			       .pt = pt,
			       .opaque = &gm };
	uint64_t found = 0;

	CHECK_EQ(guest_mem_add(&gm, 0, 1 << 20, mem), 0);
	put64(mem, 0x1000 + 511 * 8, 0x2000 | 3);
	put64(mem, 0x2000 + 510 * 8, 0x3000 | 3);
	put64(mem, 0x3000 + 8 * 8, 0x4000 | 3);
	put64(mem, 0x4000 + 0 * 8, 0x5000 | 3);
	g[0] = (uint8_t)handler;
	g[1] = (uint8_t)(handler >> 8);
	g[2] = 0x10;
	g[5] = 0x8e;
	g[6] = (uint8_t)(handler >> 16);
	g[7] = (uint8_t)(handler >> 24);
	for (int i = 0; i < 4; i++)
		g[8 + i] = (uint8_t)(handler >> (32 + 8 * i));
	CHECK_EQ(syscall_complete_handler(&mmu, idt, 0xfff, &found), 0);
	CHECK_EQ(found, handler);
	/* The walk does not mark the page tables accessed (a debugger's look). */
	CHECK(!(mem[0x1000 + 511 * 8] & 0x20));
	/* Not yet there: the IDT too short, gate 14 not present, a call gate. */
	CHECK_EQ(syscall_complete_handler(&mmu, idt, 14 * 16 + 14, &found), -ENOENT);
	g[5] = 0x0e;
	CHECK_EQ(syscall_complete_handler(&mmu, idt, 0xfff, &found), -ENOENT);
	g[5] = 0x8c;
	CHECK_EQ(syscall_complete_handler(&mmu, idt, 0xfff, &found), -ENOENT);
	g[5] = 0x8f; /* a trap gate is fine */
	CHECK_EQ(syscall_complete_handler(&mmu, idt, 0xfff, &found), 0);
	/* An IDT that is not mapped: the walk says so. */
	put64(mem, 0x4000, 0);
	CHECK_EQ(syscall_complete_handler(&mmu, idt, 0xfff, &found), EMU_MEM_FAULT);
	free(mem);
}

int main(void)
{
	RUN_TEST(test_checks);
	RUN_TEST(test_skip_len);
	RUN_TEST(test_handler);
	TEST_EXIT();
}
