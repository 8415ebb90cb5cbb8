/*
 * src/arch/x86/emu_fallback.c against a fake KVM (ioctl wrapped at link time, unit.mk): what an
 * emulated x87, MMX or SSE instruction reads from KVM_GET_XSAVE and writes back with
 * KVM_SET_XSAVE. The image KVM hands out marks the x87 component unused (XSTATE_BV bit 0) while
 * the guest has not touched it; an instruction that changes x87 state must mark it in use, or
 * KVM_SET_XSAVE would load the init state instead. Exceptions go in through KVM_SET_VCPU_EVENTS.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emu_fallback.h"
#include "guest_mem.h"
#include "fake_kvm.h"
#include "test.h"

#define VCPU_FD 952
#define MEM (1u << 20)
#define CODE 0x1000u
#define DATA 0x3000u
#define ST(i) (32 + 16 * (i))

static struct kvm_regs regs;
static struct kvm_sregs sregs;
static struct kvm_xsave xsave;
static struct kvm_vcpu_events events;
static struct kvm_debugregs dregs;
static unsigned set_xsaves;
static uint8_t *ram;
static struct guest_mem gm;

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != VCPU_FD)
		return __real_ioctl(fd, req, arg);
	switch (req) {
	case KVM_SET_XSAVE:
		memcpy(&xsave, arg, sizeof(xsave));
		set_xsaves++;
		return 0;
		FAKE_KVM_GET(KVM_GET_XSAVE, xsave)
		FAKE_KVM_GETSET(KVM_GET_REGS, KVM_SET_REGS, regs)
		FAKE_KVM_GETSET(KVM_GET_SREGS, KVM_SET_SREGS, sregs)
		FAKE_KVM_GETSET(KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, events)
		FAKE_KVM_GETSET(KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, dregs)
	default:
		return errno = ENOTTY, -1;
	}
}

static struct kvm_segment flat(uint8_t type, uint16_t sel)
{
	return (struct kvm_segment){ .limit = 0xffffffff,
				     .selector = sel,
				     .type = type,
				     .present = 1,
				     .s = 1,
				     .db = 1,
				     .g = 1 };
}

/* A vCPU in flat 32-bit protected mode (no paging) at CODE, with KVM's image of an untouched FPU:
 * FCW 0x37f, MXCSR 0x1f80, XSTATE_BV 0. */
static void reset(const uint8_t *code, unsigned len)
{
	uint8_t *x = (uint8_t *)xsave.region;

	memset(ram, 0, MEM);
	memcpy(ram + CODE, code, len);
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE;
	regs.rflags = 2;
	regs.rbx = DATA;
	memset(&sregs, 0, sizeof(sregs));
	sregs.cs = flat(0xb, 8);
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = flat(3, 16);
	sregs.cr0 = 0x33;  /* PE MP ET NE */
	sregs.cr4 = 0x600; /* OSFXSR OSXMMEXCPT */
	memset(&xsave, 0, sizeof(xsave));
	x[0] = 0x7f, x[1] = 0x03;
	x[24] = 0x80, x[25] = 0x1f;
	memset(&events, 0, sizeof(events));
	memset(&dregs, 0, sizeof(dregs));
	set_xsaves = 0;
}

static int handle(void)
{
	struct kvm_run run;

	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run.emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
	return emu_fallback_handle(VCPU_FD, &run, &gm, NULL, NULL);
}

static uint64_t image64(unsigned off)
{
	uint64_t v;

	memcpy(&v, (uint8_t *)xsave.region + off, 8);
	return v;
}

static void test_mmx_load(void)
{
	static const uint8_t code[] = { 0x0f, 0x6f, 0x03 }; /* movq (%ebx),%mm0 */
	uint8_t *x = (uint8_t *)xsave.region;
	uint64_t v = 0x1122334455667788ull;

	reset(code, sizeof(code));
	memcpy(ram + DATA, &v, 8);
	x[3] = 0x18;	     /* FSW: TOP 3 */
	x[ST(0) + 0] = 0xab; /* R3 while TOP is 3: ST(0) */
	CHECK_EQ(handle(), 0);
	CHECK_EQ(regs.rip, CODE + 3);
	CHECK_EQ(set_xsaves, 1);
	CHECK_EQ(image64(ST(0)), v);
	CHECK_EQ(x[ST(0) + 8], 0xff);
	CHECK_EQ(x[ST(0) + 9], 0xff);
	CHECK_EQ(x[ST(3) + 0], 0xab);  /* R3 is ST(3) once TOP is 0 */
	CHECK_EQ(x[2] | x[3] << 8, 0); /* TOP 0 */
	CHECK_EQ(x[4], 0xff);	       /* every register valid */
	CHECK_EQ(x[512] & 1, 1);       /* x87 in use */
	CHECK_EQ(x[0] | x[1] << 8, 0x37f);
	CHECK(!events.exception.injected);
}

static void test_mmx_store_and_faults(void)
{
	static const uint8_t store[] = { 0x0f, 0x7f, 0x4b, 0x08 }; /* movq %mm1,8(%ebx) */
	static const uint8_t paddb[] = { 0x0f, 0xfc, 0xc1 };	   /* paddb %mm1,%mm0 */
	uint8_t *x = (uint8_t *)xsave.region;
	uint64_t v;

	reset(store, sizeof(store));
	memcpy(x + ST(1), "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	x[512] = 1;
	CHECK_EQ(handle(), 0);
	memcpy(&v, ram + DATA + 8, 8);
	CHECK_EQ(v, 0x0807060504030201ull);
	CHECK_EQ(x[4], 0xff); /* a store tags the registers too */

	/* CR0.TS: #NM injected, nothing written back. */
	reset(paddb, sizeof(paddb));
	sregs.cr0 |= 8;
	CHECK_EQ(handle(), 0);
	CHECK(events.exception.injected);
	CHECK_EQ(events.exception.nr, 7);
	CHECK_EQ(set_xsaves, 0);
	CHECK_EQ(regs.rip, CODE);
	/* A pending x87 exception (FSW.ES): #MF. */
	reset(paddb, sizeof(paddb));
	x[0] = 0x40; /* FCW: every exception unmasked */
	x[2] = 0x81; /* FSW: IE, ES */
	CHECK_EQ(handle(), 0);
	CHECK_EQ(events.exception.nr, 16);
	CHECK_EQ(set_xsaves, 0);
}

/* FLDCW on an untouched FPU: the new control word must survive KVM_SET_XSAVE. */
static void test_x87_control(void)
{
	static const uint8_t fldcw[] = { 0xd9, 0x2b }; /* fldcw (%ebx) */
	static const uint8_t fninit[] = { 0xdb, 0xe3 };
	uint8_t *x = (uint8_t *)xsave.region;

	reset(fldcw, sizeof(fldcw));
	ram[DATA] = 0x7f, ram[DATA + 1] = 0x02;
	CHECK_EQ(handle(), 0);
	CHECK_EQ(set_xsaves, 1);
	CHECK_EQ(x[0] | x[1] << 8, 0x27f);
	CHECK_EQ(x[512] & 1, 1);
	CHECK_EQ(regs.rip, CODE + 2);

	reset(fninit, sizeof(fninit));
	x[0] = 0x7f, x[1] = 0x02, x[4] = 0x0f, x[512] = 1;
	CHECK_EQ(handle(), 0);
	CHECK_EQ(x[0] | x[1] << 8, 0x37f);
	CHECK_EQ(x[4], 0);
}

/* The SSE form of the same opcode: XMM registers, SSE marked in use, x87 left alone. */
static void test_sse(void)
{
	static const uint8_t paddb[] = { 0x66, 0x0f, 0xfc, 0xc1 }; /* paddb %xmm1,%xmm0 */
	uint8_t *x = (uint8_t *)xsave.region;

	reset(paddb, sizeof(paddb));
	memset(x + 160, 1, 16);
	memset(x + 176, 2, 16);
	CHECK_EQ(handle(), 0);
	CHECK_EQ(set_xsaves, 1);
	CHECK_EQ(image64(160), 0x0303030303030303ull);
	CHECK_EQ(x[512], 2);
	CHECK_EQ(x[4], 0);
}

int main(void)
{
	ram = aligned_alloc(4096, MEM);
	if (!ram || guest_mem_add(&gm, 0, MEM, ram))
		return 1;
	RUN_TEST(test_mmx_load);
	RUN_TEST(test_mmx_store_and_faults);
	RUN_TEST(test_x87_control);
	RUN_TEST(test_sse);
	free(ram);
	TEST_EXIT();
}
