/*
 * SYSCALL completion's KVM side against a fake KVM (ioctl wrapped at link time, unit.mk) and a
 * 64-bit guest's memory (4-level page tables, an IDT, a kernel stack): gate 14's handler is
 * published once LSTAR is set and only if it can be stepped over, looked at again every 100 ms
 * and published anew when the guest's IDT changes; every vCPU arms the published handler once;
 * a hit with a mis-delivered SYSCALL's frame completes it (RIP = LSTAR, the user RSP, the masked
 * flags, through kvm_run's sync registers); an ordinary fault steps over the handler's ENDBR64 or
 * NOP without an extra ioctl; a handler changed under the breakpoint disarms that vCPU until the
 * next publication; other debug exits are not taken.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/syscall_kvm.h"
#include "guest_mem.h"
#include "log.h"
#include "fake_kvm.h"
#include "test.h"

#define VCPU_FD 960
#define IDT 0xffffffff81000000ull
#define HANDLER 0xffffffff81001230ull
#define HANDLER2 0xffffffff81001300ull
#define STACK 0xffffffff81002f00ull /* RSP at the breakpoint: the frame */
#define LSTAR 0xffffffff81800000ull
#define STAR 0x0023001000000000ull /* kernel CS 0x10; SYSRET user CS 0x23 + 16 = 0x33 */
#define FMASK 0x47700ull
#define USER_FLAGS 0x246ull

static uint8_t *mem;
static struct guest_mem gm;
static struct kvm_run *run;
static int set_debug_calls, msr_calls;
static uint64_t lstar = LSTAR;
static struct kvm_guest_debug last_debug;

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != VCPU_FD)
		return __real_ioctl(fd, req, arg);
	if (req == KVM_SET_GUEST_DEBUG) {
		set_debug_calls++;
		last_debug = *(struct kvm_guest_debug *)arg;
		return 0;
	}
	if (req == KVM_GET_MSRS) {
		struct kvm_msrs *m = arg;

		msr_calls++;
		for (unsigned i = 0; i < m->nmsrs; i++)
			m->entries[i].data = m->entries[i].index == 0xc0000082	 ? lstar
					     : m->entries[i].index == 0xc0000081 ? STAR
					     : m->entries[i].index == 0xc0000084 ? FMASK
										 : 0;
		return (int)m->nmsrs;
	}
	return errno = ENOTTY, -1;
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, 8);
}

static void gate(unsigned vec, uint64_t handler)
{
	uint8_t *g = mem + 0x5000 + vec * 16;

	memset(g, 0, 16);
	g[0] = (uint8_t)handler;
	g[1] = (uint8_t)(handler >> 8);
	g[2] = 0x10;
	g[5] = 0x8e;
	g[6] = (uint8_t)(handler >> 16);
	g[7] = (uint8_t)(handler >> 24);
	for (int i = 0; i < 4; i++)
		g[8 + i] = (uint8_t)(handler >> (32 + 8 * i));
}

/* The guest: kernel VA 0xffffffff81000000 + n * 4 KiB -> 0x5000 + n * 4 KiB (IDT, text, stack). */
static void guest_setup(void)
{
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	struct kvm_sregs *sr = &run->s.regs.sregs;

	memset(mem, 0, 1 << 20);
	put64(0x1000 + 511 * 8, 0x2000 | 3);
	put64(0x2000 + 510 * 8, 0x3000 | 3);
	put64(0x3000 + 8 * 8, 0x4000 | 3);
	for (unsigned n = 0; n < 3; n++)
		put64(0x4000 + n * 8, (0x5000 + n * 0x1000) | 3);
	gate(14, HANDLER);
	memcpy(mem + 0x6230, endbr64, sizeof(endbr64));
	mem[0x6300] = 0x90; /* HANDLER2: a NOP */
	memset(run, 0, sizeof(*run));
	sr->cr0 = 0x80000011;
	sr->cr3 = 0x1000;
	sr->cr4 = 0x20;
	sr->efer = 0x500;
	sr->idt.base = IDT;
	sr->idt.limit = 0xfff;
}

/* A hit on the breakpoint with this frame on the kernel stack. */
static void hit(uint64_t error, uint64_t rip, uint64_t cs, uint64_t rflags, uint64_t cr2)
{
	const uint64_t frame[6] = { error, rip, cs, rflags, 0x7ffe0000, 0x2b };

	memcpy(mem + 0x7f00, frame, sizeof(frame));
	run->exit_reason = KVM_EXIT_DEBUG;
	run->debug.arch.exception = 1;
	run->debug.arch.dr6 = 0xffff0ff1;
	run->debug.arch.pc = HANDLER;
	run->kvm_dirty_regs = 0;
	run->s.regs.regs.rip = HANDLER;
	run->s.regs.regs.rsp = STACK;
	run->s.regs.regs.rflags = 0x10002;
	run->s.regs.regs.rcx = 0x401002;
	run->s.regs.regs.r11 = USER_FLAGS;
	run->s.regs.sregs.cr2 = cr2;
}

static void test_publish_and_arm(void)
{
	const struct kvm_sregs *sr = &run->s.regs.sregs;
	struct syscall_kvm s = { .on = true }, s2 = { .on = true };
	struct syscall_kvm_shared sh = { 0 };

	guest_setup();
	set_debug_calls = 0;
	/* Early boot: LSTAR not set yet (the early #PF handler is never taken). */
	lstar = 0;
	CHECK(!syscall_kvm_poll(&s, &sh, VCPU_FD, sr, &gm, 1000));
	CHECK_EQ(sh.gen, 0);
	lstar = LSTAR;
	CHECK(!syscall_kvm_poll(&s, &sh, VCPU_FD, sr, &gm, 1000 + SYSCALL_KVM_POLL_NS - 1));
	/* Set: published, then each vCPU arms it once before its next KVM_RUN. */
	CHECK(syscall_kvm_poll(&s, &sh, VCPU_FD, sr, &gm, 1000 + SYSCALL_KVM_POLL_NS));
	CHECK_EQ(sh.gen, 1);
	CHECK_EQ(sh.handler, HANDLER);
	CHECK_EQ(set_debug_calls, 0);
	syscall_kvm_sync(&s, &sh, VCPU_FD);
	CHECK_EQ(s.handler, HANDLER);
	CHECK_EQ(last_debug.control, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP);
	CHECK_EQ(last_debug.arch.debugreg[0], HANDLER);
	CHECK_EQ(last_debug.arch.debugreg[7] & 0xf00ff, 1); /* L0, execute, 1 byte */
	syscall_kvm_sync(&s, &sh, VCPU_FD);
	syscall_kvm_sync(&s2, &sh, VCPU_FD); /* another vCPU (an AP) */
	CHECK_EQ(s2.handler, HANDLER);
	CHECK_EQ(set_debug_calls, 2);
	/* The same handler later: nothing new. */
	CHECK(!syscall_kvm_poll(&s2, &sh, VCPU_FD, sr, &gm, 5 * SYSCALL_KVM_POLL_NS));
	CHECK_EQ(sh.gen, 1);
	/* The guest installed another gate 14: published anew, armed by each. */
	gate(14, HANDLER2);
	CHECK(syscall_kvm_poll(&s2, &sh, VCPU_FD, sr, &gm, 6 * SYSCALL_KVM_POLL_NS));
	CHECK_EQ(sh.gen, 2);
	syscall_kvm_sync(&s, &sh, VCPU_FD);
	CHECK_EQ(s.handler, HANDLER2);
	/* A handler that cannot be stepped over (push %rbp) is never published. */
	mem[0x6300] = 0x55;
	CHECK(!syscall_kvm_poll(&s, &sh, VCPU_FD, sr, &gm, 10 * SYSCALL_KVM_POLL_NS));
	mem[0x6300] = 0x90;
	/* No gate 14, or a 32-bit guest: nothing published; the 32-bit one looks again at once. */
	memset(mem + 0x5000 + 14 * 16, 0, 16);
	CHECK(!syscall_kvm_poll(&s, &sh, VCPU_FD, sr, &gm, 20 * SYSCALL_KVM_POLL_NS));
	CHECK_EQ(sh.gen, 2);
	s = (struct syscall_kvm){ .on = true };
	run->s.regs.sregs.efer = 0;
	CHECK(!syscall_kvm_poll(&s, &sh, VCPU_FD, sr, &gm, 1000));
	CHECK_EQ(s.next_poll_ns, 0);
}

static void test_hits(void)
{
	const uint64_t flags = ((USER_FLAGS & ~FMASK) | 2) | (1ull << 16);
	struct syscall_kvm s = { .on = true };
	struct syscall_kvm_shared sh = { 0 };

	guest_setup();
	CHECK(syscall_kvm_poll(&s, &sh, VCPU_FD, &run->s.regs.sregs, &gm, 1000));
	syscall_kvm_sync(&s, &sh, VCPU_FD);
	CHECK_EQ(s.handler, HANDLER);
	/* A mis-delivered SYSCALL: completed through kvm_run's registers. */
	hit(0x15, LSTAR, 0x33, flags, LSTAR);
	CHECK(syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(run->s.regs.regs.rip, LSTAR);
	CHECK_EQ(run->s.regs.regs.rsp, 0x7ffe0000);
	CHECK_EQ(run->s.regs.regs.rflags, flags & ~(1ull << 16));
	CHECK_EQ(run->s.regs.regs.rcx, 0x401002); /* SYSCALL's own, untouched */
	CHECK(run->kvm_dirty_regs & KVM_SYNC_X86_REGS);
	CHECK_EQ(s.completed, 1);
	/* A user jump to LSTAR (IF set in the frame): an ordinary fault, past ENDBR64. */
	hit(0x15, LSTAR, 0x33, flags | 0x200, LSTAR);
	CHECK(syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(run->s.regs.regs.rip, HANDLER + 4);
	CHECK_EQ(run->s.regs.regs.rsp, STACK);
	CHECK_EQ(s.passed, 1);
	/* Ordinary user faults, a data one and an instruction fetch: no ioctl at all. */
	msr_calls = 0;
	hit(0x6, 0x401000, 0x33, 0x246, 0x601000);
	CHECK(syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(run->s.regs.regs.rip, HANDLER + 4);
	hit(0x14, 0x401000, 0x33, 0x246, 0x401000);
	CHECK(syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(msr_calls, 0);
	CHECK_EQ(s.passed, 3);
	/* Not this breakpoint's: another address, or DR0 not the cause (a single step). */
	hit(0x15, LSTAR, 0x33, flags, LSTAR);
	run->debug.arch.pc = run->s.regs.regs.rip = HANDLER + 4;
	CHECK(!syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	hit(0x15, LSTAR, 0x33, flags, LSTAR);
	run->debug.arch.dr6 = 0xffff4ff0;
	CHECK(!syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(s.completed, 1);
	/* LSTAR moved since the last look (an AP's syscall_init): read again at the hit. */
	s.lstar = 0;
	hit(0x15, LSTAR, 0x33, flags, LSTAR);
	CHECK(syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(msr_calls, 1);
	CHECK_EQ(s.completed, 2);
	/* The handler changed under the breakpoint: this vCPU disarms, RIP unchanged... */
	mem[0x6230] = 0x55; /* push %rbp */
	hit(0x6, 0x401000, 0x33, 0x246, 0x601000);
	CHECK(syscall_kvm_debug(&s, VCPU_FD, run, &gm));
	CHECK_EQ(run->s.regs.regs.rip, HANDLER);
	CHECK_EQ(s.handler, 0);
	CHECK_EQ(last_debug.control, 0);
	hit(0x15, LSTAR, 0x33, flags, LSTAR);
	CHECK(!syscall_kvm_debug(&s, VCPU_FD, run, &gm)); /* not armed: nothing taken */
	/* ...until the next publication. */
	mem[0x6230] = 0x90;
	gate(14, HANDLER2);
	CHECK(
	    syscall_kvm_poll(&s, &sh, VCPU_FD, &run->s.regs.sregs, &gm, 10 * SYSCALL_KVM_POLL_NS));
	syscall_kvm_sync(&s, &sh, VCPU_FD);
	CHECK_EQ(s.handler, HANDLER2);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	mem = calloc(1, 1 << 20);
	run = calloc(1, 2 * 4096);
	if (!mem || !run || guest_mem_add(&gm, 0, 1 << 20, mem))
		return 2;
	RUN_TEST(test_publish_and_arm);
	RUN_TEST(test_hits);
	free(run);
	free(mem);
	TEST_EXIT();
}
