/*
 * SYSCALL, SYSRET and SWAPGS (syscall.c) as Intel defines them: the MSRs through the callback,
 * RCX/R11, FMASK, the flat CS/SS they load, every #UD/#GP; and without an MSR callback (the KVM
 * glue) they are not emulated. Also INVLPG, CLTS, INVD, VMX/SVM instructions (#UD here) and RDPMC
 * (#GP: no counters).
 */
#include "emu_fake.h"

#define STAR 0x0023001000000000ull /* SYSCALL CS 0x10 (SS 0x18); SYSRET base 0x23 */
#define LSTAR 0xffffffff81000000ull
#define FMASK 0x47700ull /* TF DF IF IOPL NT AC */

static uint64_t msrs[4]; /* STAR, LSTAR, FMASK, KERNEL_GS_BASE */

static int syscall_msr(void *opaque, uint32_t index, uint64_t *value, bool write)
{
	int i = index == 0xc0000081   ? 0
		: index == 0xc0000082 ? 1
		: index == 0xc0000084 ? 2
		: index == 0xc0000102 ? 3
				      : -1;

	(void)opaque;
	if (i < 0)
		return -ENOENT;
	if (write)
		msrs[i] = *value;
	else
		*value = msrs[i];
	return 0;
}

static int run_msr(struct emu_cpu *c, const uint8_t *bytes, unsigned n, struct emu_exception *exc)
{
	struct emu_ops ops = fake_ops;

	ops.msr = syscall_msr;
	memcpy(fake.mem + c->rip, bytes, n);
	return emu_step(c, bytes, n, &ops, NULL, NULL, exc);
}

#define RUNM(c, exc, ...)                                                                          \
	({                                                                                         \
		static const uint8_t b_[] = { __VA_ARGS__ };                                       \
		run_msr((c), b_, sizeof(b_), (exc));                                               \
	})

static struct emu_cpu user64(void)
{
	struct emu_cpu c = cpu64();

	c.efer |= 1; /* SCE */
	c.cpl = 3;
	c.seg[EMU_CS].dpl = 3;
	c.seg[EMU_CS].selector = 0x33;
	c.seg[EMU_SS].dpl = 3;
	c.seg[EMU_SS].selector = 0x2b;
	c.rflags = 0x10246; /* RF IF ZF PF */
	return c;
}

static void test_syscall_sysret(void)
{
	struct emu_cpu c, k;
	struct emu_exception exc;

	fake_reset();
	msrs[0] = STAR, msrs[1] = LSTAR, msrs[2] = FMASK;
	c = user64();
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x05), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, LSTAR);
	CHECK_EQ(c.gpr[EMU_RCX], CODE + 2);
	CHECK_EQ(c.gpr[EMU_R11], 0x246); /* RF dropped */
	CHECK_EQ(c.rflags, 0x46);	 /* IF masked by FMASK */
	k = c;
	/* With TF set and masked by FMASK: no trap after SYSCALL (it ends with TF clear). */
	c = user64();
	c.rflags |= 0x100;
	msrs[2] = FMASK;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x05), 0);
	CHECK(!exc.valid);
	c = k;
	CHECK_EQ(c.cpl, 0);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x10);
	CHECK(c.seg[EMU_CS].l && !c.seg[EMU_CS].db && c.seg[EMU_CS].dpl == 0);
	CHECK_EQ(c.seg[EMU_SS].selector, 0x18);
	CHECK(c.seg[EMU_SS].db && c.seg[EMU_SS].type == 3);
	CHECK(c.dirty & EMU_DIRTY_SREGS);
	k = c;

	/* SYSRET with REX.W: back to 64-bit user code at RCX with R11's flags. */
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0x401000;
	c.gpr[EMU_R11] = 0x30202 | 0x100; /* VM and RF are not taken; TF is */
	CHECK_EQ(RUNM(&c, &exc, 0x48, 0x0f, 0x07), 0);
	/* The single-step trap follows the TF SYSRET ends with, at the user's first instruction. */
	CHECK_EXC(exc, EMU_X_DB, -1);
	CHECK_EQ(c.rip, 0x401000);
	CHECK_EQ(c.rflags, 0x302);
	CHECK_EQ(c.cpl, 3);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x33);
	CHECK(c.seg[EMU_CS].l && c.seg[EMU_CS].dpl == 3);
	CHECK_EQ(c.seg[EMU_SS].selector, 0x2b);
	CHECK_EQ(c.seg[EMU_SS].dpl, 3);

	/* Without REX.W: to 32-bit compatibility code at ECX. */
	c = k;
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0xffffffff00402000ull;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x07), 0);
	CHECK_EQ(c.rip, 0x402000);
	CHECK_EQ(c.seg[EMU_CS].selector, 0x23);
	CHECK(!c.seg[EMU_CS].l && c.seg[EMU_CS].db);

	/* A non-canonical RCX: #GP(0) at CPL 0, nothing changed. */
	c = k;
	c.rip = CODE;
	c.gpr[EMU_RCX] = 0x0000800000000000ull;
	CHECK_EQ(RUNM(&c, &exc, 0x48, 0x0f, 0x07), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.cpl, 0);
	CHECK_EQ(c.rip, CODE);
	/* SYSRET at CPL 3: #GP(0). */
	c = user64();
	CHECK_EQ(RUNM(&c, &exc, 0x48, 0x0f, 0x07), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

static void test_syscall_faults(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	/* EFER.SCE clear: #UD for both. */
	c = user64();
	c.efer &= ~1ull;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x05), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* Outside 64-bit mode (compatibility code, or 32-bit protected mode): #UD on Intel. */
	c = user64();
	c.seg[EMU_CS].l = 0;
	c.seg[EMU_CS].db = 1;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x05), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = cpu32();
	c.efer |= 1;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x05), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* No MSR callback (the KVM glue): not emulated, nothing changed. */
	c = user64();
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x05), -ENOTSUP);
	CHECK_EQ(c.rip, CODE);
	CHECK_EQ(c.cpl, 3);
}

static void test_swapgs(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.seg[EMU_GS].base = 0x1111;
	msrs[3] = 0x2222;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x01, 0xf8), 0);
	CHECK(!exc.valid);
	CHECK_EQ(c.seg[EMU_GS].base, 0x2222);
	CHECK_EQ(msrs[3], 0x1111);
	CHECK_EQ(c.rip, CODE + 3);
	c.rip = CODE;
	c.cpl = 3;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x01, 0xf8), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c = cpu32();
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x01, 0xf8), 0); /* 0f 01 f8 outside 64-bit mode: #UD */
	CHECK_EXC(exc, EMU_X_UD, -1);
}

static void test_system_misc(void)
{
	struct emu_cpu c;
	struct emu_exception exc;

	fake_reset();
	c = cpu64();
	c.gpr[EMU_RAX] = 0x123456789000ull;	      /* any address: no fault, a flush */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x38), 0); /* invlpg (%rax) */
	CHECK(!exc.valid);
	CHECK(c.dirty & EMU_DIRTY_TLB);
	CHECK_EQ(c.rip, CODE + 3);
	c.rip = CODE;
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x06), 0); /* clts */
	CHECK(!(c.cr0 & EMU_CR0_TS));
	c.rip = CODE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x08), 0); /* invd */
	CHECK(!exc.valid);
	CHECK_EQ(c.rip, CODE + 2);
	c.rip = CODE;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x01, 0xc1), 0); /* vmcall: no VMX */
	CHECK_EXC(exc, EMU_X_UD, -1);
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x01, 0xd9), 0); /* vmmcall: no SVM */
	CHECK_EXC(exc, EMU_X_UD, -1);
	/* RDPMC: no performance counters, so #GP(0) for any counter. */
	c.gpr[EMU_RCX] = 0;
	CHECK_EQ(RUNM(&c, &exc, 0x0f, 0x33), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(c.rip, CODE);
	/* Under KVM (no MSR callback) they are KVM's: hypercalls, its PMU. */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0xc1), -ENOTSUP);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x33), -ENOTSUP);
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x01, 0x38), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0x06), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
}

int main(void)
{
	RUN_TEST(test_syscall_sysret);
	RUN_TEST(test_syscall_faults);
	RUN_TEST(test_swapgs);
	RUN_TEST(test_system_misc);
	TEST_EXIT();
}
