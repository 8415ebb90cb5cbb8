/*
 * libFuzzer target: SYSCALL completion (src/arch/x86/syscall_kvm.c) on a hostile guest. The input
 * is a vCPU's control registers, IDTR, registers and debug exit, then guest memory (page tables,
 * IDT, handler bytes, the kernel stack's "fault frame"): one poll (find, publish, arm) and one
 * debug exit, with ioctl(2) wrapped at link time (tests/fuzz/fuzz.mk) by a fake KVM whose MSRs
 * come from the input too. Checked: nothing outside guest memory is read (ASan), a completion
 * only ever sets RIP to the kernel's LSTAR with IF clear, and a step only moves RIP forward by
 * one instruction of at most 15 bytes.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/syscall_complete.h"
#include "arch/x86/syscall_kvm.h"
#include "guest_mem.h"
#include "log.h"
#include "../unit/fake_kvm.h"

#define FUZZ_FD 970
#define MEM (64u << 10)

static uint64_t msr[3]; /* LSTAR, STAR, FMASK */

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != FUZZ_FD)
		return __real_ioctl(fd, req, arg);
	if (req == KVM_SET_GUEST_DEBUG)
		return 0;
	if (req == KVM_GET_MSRS) {
		struct kvm_msrs *m = arg;

		for (unsigned i = 0; i < m->nmsrs; i++)
			m->entries[i].data = m->entries[i].index == 0xc0000082	 ? msr[0]
					     : m->entries[i].index == 0xc0000081 ? msr[1]
										 : msr[2];
		return (int)m->nmsrs;
	}
	return errno = ENOTTY, -1;
}

static uint64_t take(const uint8_t **p, size_t *n)
{
	uint64_t v = 0;

	for (int i = 0; i < 8 && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t) * *p << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	static bool trace;
	static struct kvm_run *run;
	struct syscall_kvm s = { .on = true };
	struct syscall_kvm_shared sh = { 0 };
	struct guest_mem gm = { 0 };
	struct kvm_sregs *sr;
	struct kvm_regs *r;
	uint64_t rip0, handler;

	if (!mem) {
		mem = malloc(MEM);
		run = malloc(2 * 4096);
		log_set_level(LOG_ERROR);
		trace = getenv("FUZZ_TRACE") != NULL;
	}
	memset(run, 0, 2 * 4096);
	sr = &run->s.regs.sregs;
	r = &run->s.regs.regs;
	sr->cr0 = take(&data, &size) | 0x80000001; /* paging on: the interesting case */
	sr->cr3 = take(&data, &size) % MEM;
	sr->cr4 = take(&data, &size);
	sr->efer = take(&data, &size) | 0x500;
	sr->idt.base = take(&data, &size);
	sr->idt.limit = (uint16_t)take(&data, &size);
	sr->cr2 = take(&data, &size);
	r->rsp = take(&data, &size);
	r->rcx = take(&data, &size);
	r->r11 = take(&data, &size);
	msr[0] = take(&data, &size);
	msr[1] = take(&data, &size);
	msr[2] = take(&data, &size);
	run->debug.arch.dr6 = take(&data, &size) | 1; /* B0: the case that matters */
	memset(mem, 0, MEM);
	memcpy(mem, data, size < MEM ? size : MEM);
	if (guest_mem_add(&gm, 0, MEM, mem))
		abort();
	(void)syscall_kvm_poll(&s, &sh, FUZZ_FD, sr, &gm, 0);
	syscall_kvm_sync(&s, &sh, FUZZ_FD);
	handler = s.handler;
	if (handler &&
	    (!syscall_complete_kernel_address(handler) || !syscall_complete_kernel_address(msr[0])))
		abort(); /* published only with LSTAR set and a kernel handler */
	run->exit_reason = KVM_EXIT_DEBUG;
	run->debug.arch.exception = 1;
	run->debug.arch.pc = r->rip = rip0 = handler;
	if (syscall_kvm_debug(&s, FUZZ_FD, run, &gm)) {
		if (s.completed) {
			if (r->rip != msr[0] || (r->rflags & (1ull << 9)) ||
			    !(run->kvm_dirty_regs & KVM_SYNC_X86_REGS))
				abort();
		} else if (s.passed) {
			if (r->rip <= rip0 || r->rip - rip0 > 15)
				abort();
		} else if (r->rip != rip0 || s.handler) {
			abort(); /* disarmed: the handler runs untouched */
		}
	} else if (handler) {
		abort(); /* the armed breakpoint's hit is always taken */
	}
	if (trace) /* FUZZ_TRACE=1: what the kept inputs reach */
		fprintf(stderr, "handler %llx completed %llu passed %llu armed %d\n",
			(unsigned long long)handler, (unsigned long long)s.completed,
			(unsigned long long)s.passed, s.handler != 0);
	return 0;
}
