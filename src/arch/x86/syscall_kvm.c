/* SYSCALL completion on kvm_pvm: finding, publishing and arming the #PF-handler breakpoint, and
 * handling its hits. */
#include "arch/x86/syscall_kvm.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu.h"
#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/mmu.h"
#include "arch/x86/emu/phys.h"
#include "arch/x86/syscall_complete.h"
#include "guest_mem.h"
#include "log.h"

#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u
#define DR6_B0 1ull
#define DR7_L0 1ull
#define PF_SYSCALL 0x15u /* P | U | fetch: the fault a mis-delivered SYSCALL raises */
#define RFLAGS_IF (1ull << 9)

static void syscall_kvm_mmu(struct emu_mmu *mmu, const struct kvm_sregs *sr,
			    const struct guest_mem *gm)
{
	*mmu = (struct emu_mmu){ .cr0 = sr->cr0,
				 .cr3 = sr->cr3,
				 .cr4 = sr->cr4,
				 .efer = sr->efer,
				 .pt = emu_phys_pt,
				 .opaque = (void *)(uintptr_t)gm };
}

/* len bytes at linear address la (supervisor, a debugger's look: no A/D bits). */
static int syscall_kvm_read(const struct emu_mmu *mmu, const struct guest_mem *gm, uint64_t la,
			    void *out, unsigned len, unsigned access)
{
	uint8_t *o = out;

	while (len) {
		unsigned chunk = 4096 - (unsigned)(la & 4095);
		struct emu_pf pf;
		uint64_t gpa;

		if (chunk > len)
			chunk = len;
		if (emu_mmu_translate(mmu, la, access | EMU_ACC_PEEK, &gpa, &pf) ||
		    guest_mem_read(gm, gpa, o, chunk))
			return -EFAULT;
		la += chunk;
		o += chunk;
		len -= chunk;
	}
	return 0;
}

/* How many bytes at the handler can be stepped over (0: none), reading no further than its page
 * (the next one need not be mapped). */
static unsigned syscall_kvm_skip(const struct emu_mmu *mmu, const struct guest_mem *gm,
				 uint64_t handler)
{
	uint8_t insn[16];
	unsigned n = 4096 - (unsigned)(handler & 4095);

	if (n > sizeof(insn))
		n = sizeof(insn);
	if (syscall_kvm_read(mmu, gm, handler, insn, n, EMU_ACC_FETCH))
		return 0;
	return syscall_complete_skip_len(insn, n);
}

static int syscall_kvm_msrs(struct syscall_kvm *s, int vcpu_fd)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e[3];
	} m = { .m.nmsrs = 3,
		.e = { { .index = MSR_LSTAR }, { .index = MSR_STAR }, { .index = MSR_FMASK } } };

	if (ioctl(vcpu_fd, KVM_GET_MSRS, &m.m) != 3)
		return -EIO;
	s->lstar = m.e[0].data;
	s->star = m.e[1].data;
	s->sfmask = m.e[2].data;
	return 0;
}

/* DR0 on handler (0: disarm). On failure nothing changes (KVM keeps what it had). */
static void syscall_kvm_arm(struct syscall_kvm *s, int vcpu_fd, uint64_t handler)
{
	struct x86_guest_debug d = { .enable = handler != 0, .dr = { handler }, .dr7 = DR7_L0 };

	if (cpu_set_guest_debug(vcpu_fd, &d)) {
		if (!s->warned)
			log_warn("SYSCALL completion: KVM_SET_GUEST_DEBUG failed");
		s->warned = true;
		return;
	}
	s->handler = handler;
}

bool syscall_kvm_poll(struct syscall_kvm *s, struct syscall_kvm_shared *sh, int vcpu_fd,
		      const struct kvm_sregs *sr, const struct guest_mem *gm, uint64_t now_ns)
{
	struct emu_mmu mmu;
	uint64_t handler = 0;

	if (!(sr->efer & EMU_EFER_LMA) || !(sr->cr0 & EMU_CR0_PG))
		return false; /* a 64-bit kernel's SYSCALL only; look again at the next exit */
	if (now_ns < s->next_poll_ns)
		return false;
	s->next_poll_ns = now_ns + SYSCALL_KVM_POLL_NS;
	syscall_kvm_mmu(&mmu, sr, gm);
	if (syscall_kvm_msrs(s, vcpu_fd) || !syscall_complete_kernel_address(s->lstar) ||
	    syscall_complete_handler(&mmu, sr->idt.base, sr->idt.limit, &handler) ||
	    !syscall_complete_kernel_address(handler) || !syscall_kvm_skip(&mmu, gm, handler))
		return false;
	if (handler == __atomic_load_n(&sh->handler, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&sh->handler, handler, __ATOMIC_RELEASE);
	__atomic_add_fetch(&sh->gen, 1, __ATOMIC_ACQ_REL);
	return true;
}

void syscall_kvm_sync(struct syscall_kvm *s, struct syscall_kvm_shared *sh, int vcpu_fd)
{
	unsigned gen = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE);

	if (gen == s->gen)
		return;
	s->gen = gen;
	syscall_kvm_arm(s, vcpu_fd, __atomic_load_n(&sh->handler, __ATOMIC_ACQUIRE));
}

bool syscall_kvm_debug(struct syscall_kvm *s, int vcpu_fd, struct kvm_run *run,
		       const struct guest_mem *gm)
{
	struct kvm_regs *r = &run->s.regs.regs;
	const struct kvm_sregs *sr = &run->s.regs.sregs;
	struct syscall_complete_state st;
	struct syscall_complete_entry e;
	uint64_t frame[6];
	struct emu_mmu mmu;
	unsigned len;

	if (!s->handler || run->debug.arch.exception != 1 || !(run->debug.arch.dr6 & DR6_B0) ||
	    run->debug.arch.pc != s->handler || r->rip != s->handler)
		return false;
	syscall_kvm_mmu(&mmu, sr, gm);
	/* The hardware's frame on the kernel stack: error code, RIP, CS, RFLAGS, RSP, SS. */
	if (!syscall_kvm_read(&mmu, gm, r->rsp, frame, sizeof(frame), 0)) {
		/* What only a SYSCALL leaves (IF clear at CPL 3): the MSRs may have changed since
		 * the last look (an AP's syscall_init), read them again. */
		if (frame[0] == PF_SYSCALL && (frame[2] & 3) == 3 && !(frame[3] & RFLAGS_IF) &&
		    frame[1] == sr->cr2 && sr->cr2 != s->lstar &&
		    syscall_complete_kernel_address(sr->cr2))
			(void)syscall_kvm_msrs(s, vcpu_fd);
		st = (struct syscall_complete_state){
			.frame = { frame[0], frame[1], frame[2], frame[3], frame[4], frame[5] },
			.cr2 = sr->cr2,
			.rcx = r->rcx,
			.r11 = r->r11,
			.lstar = s->lstar,
			.star = s->star,
			.sfmask = s->sfmask,
		};
		if (syscall_complete_check(&st, &e)) {
			/* SS stays the null selector the #PF delivery loaded and CR2 keeps LSTAR:
			 * Linux's entry code uses neither. */
			r->rip = e.rip;
			r->rsp = e.rsp;
			r->rflags = e.rflags;
			run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
			s->completed++;
			return true;
		}
	}
	/* An ordinary fault: the handler runs, from past the instruction the breakpoint is on. */
	len = syscall_kvm_skip(&mmu, gm, s->handler);
	if (!len) {
		/* The handler changed under the breakpoint (checked when published): give it back
		 * to the guest until a handler that can be stepped over is published. */
		if (!s->warned)
			log_warn("SYSCALL completion: the #PF handler at 0x%llx cannot be stepped "
				 "over: disarmed",
				 (unsigned long long)s->handler);
		s->warned = true;
		syscall_kvm_arm(s, vcpu_fd, 0);
		return true; /* RIP unchanged: the handler runs, no breakpoint on it now */
	}
	r->rip += len;
	run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	s->passed++;
	return true;
}
