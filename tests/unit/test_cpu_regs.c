/*
 * src/arch/x86/cpu.c's boot state and register reads against a fake KVM (ioctl wrapped at link
 * time, unit.mk): cpu_set_boot_state writes what kvmbox's boot promises for each entry convention,
 * cpu_boot_regs (--accel emu) is the same state as a register file, and cpu_read_regs puts every
 * KVM structure's fields where the register file says.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>

#include "arch/x86/cpu.h"
#include "fake_kvm.h"
#include "test.h"

#define VCPU_FD 951

/* What the fake vCPU holds: GET returns it, SET replaces it. */
static struct kvm_regs regs;
static struct kvm_sregs sregs;
static struct kvm_debugregs dregs;
static struct kvm_vcpu_events events;
static struct kvm_mp_state mp;
static struct kvm_fpu fpu;
static struct kvm_xcrs xcrs;
static unsigned sets;

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != VCPU_FD)
		return __real_ioctl(fd, req, arg);
	switch (req) {
	case KVM_SET_REGS:
	case KVM_SET_SREGS:
		sets++;
		if (req == KVM_SET_REGS)
			memcpy(&regs, arg, sizeof(regs));
		else
			memcpy(&sregs, arg, sizeof(sregs));
		return 0;
		FAKE_KVM_GET(KVM_GET_REGS, regs)
		FAKE_KVM_GET(KVM_GET_SREGS, sregs)
		FAKE_KVM_GET(KVM_GET_DEBUGREGS, dregs)
		FAKE_KVM_GET(KVM_GET_VCPU_EVENTS, events)
		FAKE_KVM_GET(KVM_GET_MP_STATE, mp)
		FAKE_KVM_GET(KVM_GET_FPU, fpu)
		FAKE_KVM_GET(KVM_GET_XCRS, xcrs)
	default:
		return errno = ENOTTY, -1;
	}
}

/* A vCPU as KVM creates it: what the boot must keep (APIC base, CR8, the LDT). */
static void reset_vcpu(void)
{
	memset(&regs, 0x5a, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	sregs.apic_base = 0xfee00900;
	sregs.cr8 = 3;
	sregs.ldt.unusable = 1;
	sets = 0;
}

static void check_seg(const struct kvm_segment *k, const struct emu_seg *e)
{
	struct emu_seg from;

	cpu_seg_from_kvm(&from, k);
	CHECK_EQ(from.base, e->base);
	CHECK_EQ(from.limit, e->limit);
	CHECK_EQ(from.selector, e->selector);
	CHECK_EQ(from.type, e->type);
	CHECK_EQ(from.dpl, e->dpl);
	CHECK(from.s == e->s && from.present == e->present && from.db == e->db && from.l == e->l &&
	      from.unusable == e->unusable);
}

static void check_boot(enum boot_mode mode)
{
	struct boot_entry entry = {
		.mode = mode, .rip = 0x1000000, .rsi = 0x7000, .rbx = 0x9500, .rax = 0x2badb002
	};
	struct x86_regs r;
	bool lm = mode == BOOT_MODE_LINUX64;

	reset_vcpu();
	CHECK_EQ(cpu_set_boot_state(VCPU_FD, &entry), 0);
	CHECK_EQ(sets, 2);
	CHECK_EQ(regs.rip, entry.rip);
	CHECK_EQ(regs.rsi, entry.rsi);
	CHECK_EQ(regs.rbx, entry.rbx);
	CHECK_EQ(regs.rax, entry.rax);
	CHECK_EQ(regs.rcx | regs.rdx | regs.rsp | regs.r15, 0);
	CHECK_EQ(regs.rflags, 2);
	CHECK_EQ(sregs.cs.l, lm);
	CHECK_EQ(sregs.cs.db, !lm);
	CHECK_EQ(sregs.cs.type, 0xb);
	CHECK_EQ(sregs.ds.type, 0x3);
	CHECK_EQ(sregs.ss.selector, sregs.ds.selector);
	CHECK_EQ(sregs.tr.type, 0xb);
	CHECK_EQ(sregs.tr.limit, 0x67);
	CHECK_EQ(sregs.gdt.base, 0x500);
	CHECK_EQ(sregs.cr0, lm ? 0x80000011u : 0x11u);
	CHECK_EQ(sregs.cr4, lm ? 0x20u : 0u);
	CHECK_EQ(sregs.efer, lm ? 0x500u : 0u);
	CHECK_EQ(sregs.cr3, lm ? 0x9000u : 0u);
	CHECK_EQ(sregs.apic_base, 0xfee00900); /* kept */
	CHECK_EQ(sregs.cr8, 3);

	/* --accel emu's vCPU starts in the same state. */
	cpu_boot_regs(&entry, &r);
	CHECK_EQ(r.rip, regs.rip);
	CHECK_EQ(r.gpr[EMU_RSI], regs.rsi);
	CHECK_EQ(r.gpr[EMU_RBX], regs.rbx);
	CHECK_EQ(r.gpr[EMU_RAX], regs.rax);
	CHECK_EQ(r.rflags, regs.rflags);
	CHECK_EQ(r.cr0, sregs.cr0);
	CHECK_EQ(r.cr3, sregs.cr3);
	CHECK_EQ(r.cr4, sregs.cr4);
	CHECK_EQ(r.efer, sregs.efer);
	CHECK_EQ(r.gdt_base, sregs.gdt.base);
	CHECK_EQ(r.gdt_limit, sregs.gdt.limit);
	CHECK_EQ(r.idt_limit, sregs.idt.limit);
	check_seg(&sregs.cs, &r.seg[EMU_CS]);
	check_seg(&sregs.ss, &r.seg[EMU_SS]);
	check_seg(&sregs.gs, &r.seg[EMU_GS]);
	check_seg(&sregs.tr, &r.tr);
	CHECK(r.ldtr.unusable);
	CHECK_EQ(r.dr6, 0xffff0ff0);
	CHECK_EQ(r.dr7, 0x400);
	CHECK_EQ(r.fpu.fcw, 0x37f);
	CHECK_EQ(r.fpu.mxcsr, 0x1f80);
}

static void test_boot_multiboot(void)
{
	check_boot(BOOT_MODE_MULTIBOOT);
}

static void test_boot_linux64(void)
{
	check_boot(BOOT_MODE_LINUX64);
}

static void test_read_regs(void)
{
	struct x86_regs r;

	reset_vcpu();
	regs = (struct kvm_regs){ .rax = 1,
				  .rcx = 2,
				  .rdx = 3,
				  .rbx = 4,
				  .rsp = 5,
				  .rbp = 6,
				  .rsi = 7,
				  .rdi = 8,
				  .r8 = 9,
				  .r15 = 16,
				  .rip = 0x1234,
				  .rflags = 0x246 };
	sregs.cr0 = 0x80050033;
	sregs.cr2 = 0xdead000;
	sregs.cr3 = 0x1000;
	sregs.cr4 = 0x3606f0;
	sregs.efer = 0xd01;
	sregs.gdt.base = 0xfffffe0000001000ull;
	sregs.gdt.limit = 0x7f;
	sregs.idt.base = 0xfffffe0000000000ull;
	sregs.idt.limit = 0xfff;
	sregs.cs = (struct kvm_segment){
		.selector = 0x10, .type = 0xb, .present = 1, .s = 1, .l = 1, .limit = 0xffffffff
	};
	sregs.fs.base = 0x7f0000001000ull;
	sregs.tr = (struct kvm_segment){ .selector = 0x40,
					 .type = 0xb,
					 .present = 1,
					 .base = 0xfffffe0000003000ull,
					 .limit = 0x4087 };
	dregs = (struct kvm_debugregs){ .db = { 10, 11, 12, 13 }, .dr6 = 0xffff4ff0, .dr7 = 0x401 };
	events = (struct kvm_vcpu_events){ 0 };
	events.exception.injected = 1;
	events.exception.has_error_code = 1;
	events.exception.nr = 14;
	events.exception.error_code = 6;
	events.interrupt.injected = 1;
	events.interrupt.nr = 0xec;
	events.interrupt.shadow = 2;
	events.nmi.masked = 1;
	mp.mp_state = KVM_MP_STATE_HALTED;
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.fsw = 0x3800;
	fpu.mxcsr = 0x1fa0;
	fpu.fpr[2][0] = 0x42;
	fpu.xmm[15][15] = 0x99;
	xcrs = (struct kvm_xcrs){ .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = 7 } } };

	CHECK_EQ(cpu_read_regs(VCPU_FD, &r), 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(r.gpr[i], i + 1);
	CHECK_EQ(r.gpr[EMU_R8], 9);
	CHECK_EQ(r.gpr[EMU_R15], 16);
	CHECK_EQ(r.rip, 0x1234);
	CHECK_EQ(r.rflags, 0x246);
	CHECK_EQ(r.cr0, sregs.cr0);
	CHECK_EQ(r.cr2, sregs.cr2);
	CHECK_EQ(r.cr3, sregs.cr3);
	CHECK_EQ(r.cr4, sregs.cr4);
	CHECK_EQ(r.cr8, 3);
	CHECK_EQ(r.efer, 0xd01);
	CHECK_EQ(r.apic_base, 0xfee00900);
	CHECK_EQ(r.gdt_base, sregs.gdt.base);
	CHECK_EQ(r.gdt_limit, 0x7f);
	CHECK_EQ(r.idt_base, sregs.idt.base);
	CHECK_EQ(r.idt_limit, 0xfff);
	check_seg(&sregs.cs, &r.seg[EMU_CS]);
	CHECK_EQ(r.seg[EMU_FS].base, 0x7f0000001000ull);
	check_seg(&sregs.tr, &r.tr);
	CHECK(r.ldtr.unusable);
	CHECK_EQ(r.dr[0], 10);
	CHECK_EQ(r.dr[3], 13);
	CHECK_EQ(r.dr6, 0xffff4ff0);
	CHECK_EQ(r.dr7, 0x401);
	CHECK_EQ(r.mp_state, X86_MP_HALTED);
	CHECK(r.exception.injected && !r.exception.pending && r.exception.has_error_code);
	CHECK_EQ(r.exception.vector, 14);
	CHECK_EQ(r.exception.error_code, 6);
	CHECK(r.interrupt.injected && !r.interrupt.soft);
	CHECK_EQ(r.interrupt.vector, 0xec);
	CHECK(!r.nmi.injected && !r.nmi.pending && r.nmi.masked);
	CHECK_EQ(r.shadow, 2);
	CHECK_EQ(r.fpu.fcw, 0x37f);
	CHECK_EQ(r.fpu.fsw, 0x3800);
	CHECK_EQ(r.fpu.mxcsr, 0x1fa0);
	CHECK_EQ(r.fpu.st[2][0], 0x42);
	CHECK_EQ(r.fpu.xmm[15][15], 0x99);
	CHECK_EQ(r.xcr0, 7);
}

int main(void)
{
	RUN_TEST(test_boot_multiboot);
	RUN_TEST(test_boot_linux64);
	RUN_TEST(test_read_regs);
	TEST_EXIT();
}
