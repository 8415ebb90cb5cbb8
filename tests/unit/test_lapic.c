/*
 * The local APIC model (src/dev/lapic.c) on a fake clock: registers and their writable bits, PPR
 * from TPR and ISR, EOI order, the timer (one-shot, periodic, divider, current count, masking,
 * coalescing), self-IPIs by shorthand and destination, NMI IPIs, the software and hardware
 * enables, and snapshot save/load.
 */
#include <errno.h>
#include <string.h>

#include "dev/lapic.h"
#include "test.h"

static uint64_t clock_ns;
static unsigned nmis;

static uint64_t fake_now(void *opaque)
{
	(void)opaque;
	return clock_ns;
}

static void fake_nmi(void *opaque)
{
	(void)opaque;
	nmis++;
}

static uint32_t rd(struct lapic *l, unsigned reg)
{
	uint32_t v;

	lapic_bus_ops.read(l, reg, &v, 4);
	return v;
}

static void wr(struct lapic *l, unsigned reg, uint32_t v)
{
	lapic_bus_ops.write(l, reg, &v, 4);
}

static void setup(struct lapic *l)
{
	clock_ns = 1000000;
	nmis = 0;
	lapic_init(l, 0, fake_now, fake_nmi, NULL);
	wr(l, 0xf0, 0x1ff); /* software enable, spurious vector 0xff */
}

static void test_registers(void)
{
	struct lapic l;
	uint32_t v;

	setup(&l);
	CHECK_EQ(rd(&l, 0x30), 0x50014);
	CHECK_EQ(rd(&l, 0xe0), 0xffffffff);
	CHECK_EQ(rd(&l, 0x320), 0x10000); /* LVTs masked at power-up */
	wr(&l, 0x20, 0x05123456);
	CHECK_EQ(rd(&l, 0x20), 0x05000000);
	wr(&l, 0x80, 0x1234);
	CHECK_EQ(rd(&l, 0x80), 0x34);
	CHECK_EQ(lapic_cr8(&l), 3);
	lapic_set_cr8(&l, 9);
	CHECK_EQ(rd(&l, 0x80), 0x90);
	wr(&l, 0x320, 0xffffffff); /* no TSC-deadline mode, delivery status read-only */
	CHECK_EQ(rd(&l, 0x320), 0x300ff);
	/* Unaligned or narrow accesses do nothing and read 0. */
	v = 0x77;
	lapic_bus_ops.write(&l, 0x82, &v, 2);
	CHECK_EQ(rd(&l, 0x80), 0x90);
	v = 0x1234;
	lapic_bus_ops.read(&l, 0x80, &v, 2);
	CHECK_EQ(v & 0xffff, 0);
	/* Software disable masks every LVT and keeps them masked. */
	wr(&l, 0xf0, 0xff);
	wr(&l, 0x350, 0x30);
	CHECK_EQ(rd(&l, 0x350), 0x10030);
	/* Hardware disable: the page reads all ones, state back to power-up when re-enabled. */
	lapic_set_hw_enabled(&l, false);
	CHECK_EQ(rd(&l, 0x30), 0xffffffff);
	lapic_set_hw_enabled(&l, true);
	CHECK_EQ(rd(&l, 0x80), 0);
	CHECK_EQ(rd(&l, 0xf0), 0xff);
	CHECK_EQ(rd(&l, 0x20), 0x05000000); /* the ID survives */
}

static void test_priorities_and_eoi(void)
{
	struct lapic l;

	setup(&l);
	wr(&l, 0x300, 0x40000 | 0x30); /* self IPI, vector 0x30 */
	wr(&l, 0x300, 0x40000 | 0x51);
	CHECK_EQ(rd(&l, 0x210), 1u << (0x30 - 32)); /* IRR bits 32-63 */
	CHECK_EQ(rd(&l, 0x220), 1u << (0x51 - 64));
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x51);
	lapic_accept(&l, 0x51);
	CHECK_EQ(rd(&l, 0xa0), 0x50);		   /* PPR: the ISR's class */
	CHECK_EQ(lapic_pending(&l, clock_ns), -1); /* 0x30 is below it */
	wr(&l, 0xb0, 0);			   /* EOI */
	CHECK_EQ(rd(&l, 0xa0), 0);
	wr(&l, 0x80, 0x40); /* TPR above 0x30's class */
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	wr(&l, 0x80, 0x20);
	CHECK_EQ(rd(&l, 0xa0), 0x20);
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x30);
	/* A software-disabled APIC delivers nothing. */
	wr(&l, 0xf0, 0xff);
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	/* Vectors 0-15 are illegal: nothing is raised, the ESR says why. */
	setup(&l);
	wr(&l, 0x300, 0x40000 | 0x05);
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	CHECK_EQ(rd(&l, 0x280), 0); /* latched by the next ESR write only */
	wr(&l, 0x280, 0);
	CHECK_EQ(rd(&l, 0x280), 0x60); /* send and receive illegal vector */
	wr(&l, 0x280, 0);
	CHECK_EQ(rd(&l, 0x280), 0);
}

static void test_ipi_destinations(void)
{
	struct lapic l;

	setup(&l);
	wr(&l, 0x20, 0x03000000);
	wr(&l, 0x310, 0x03000000);
	wr(&l, 0x300, 0x41); /* physical, to APIC 3: us */
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x41);
	setup(&l);
	wr(&l, 0x310, 0x04000000);
	wr(&l, 0x300, 0x41); /* to APIC 4: nobody */
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	wr(&l, 0x300, 0xc0041); /* all excluding self */
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	wr(&l, 0x310, 0xff000000);
	wr(&l, 0x300, 0x42); /* physical broadcast */
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x42);
	setup(&l);
	wr(&l, 0xd0, 0x02000000); /* logical ID 2, flat model */
	wr(&l, 0x310, 0x06000000);
	wr(&l, 0x300, 0x843);
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x43);
	/* NMI to self; INIT and SIPI to self are dropped. */
	wr(&l, 0x300, 0x40400);
	CHECK_EQ(nmis, 1);
	wr(&l, 0x300, 0x40500);
	wr(&l, 0x300, 0x40600 | 0x10);
	CHECK_EQ(nmis, 1);
	CHECK_EQ(rd(&l, 0x300) & 0x1000, 0); /* delivery status: idle */
}

static void test_timer(void)
{
	struct lapic l;

	setup(&l);
	wr(&l, 0x3e0, 0xb);  /* divide by 1 */
	wr(&l, 0x320, 0x40); /* one-shot, vector 0x40 */
	wr(&l, 0x380, 1000); /* 1000 ns */
	CHECK_EQ(lapic_deadline(&l), clock_ns + 1000);
	clock_ns += 400;
	CHECK_EQ(rd(&l, 0x390), 600);
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	clock_ns += 600;
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x40);
	CHECK_EQ(lapic_deadline(&l), 0); /* one-shot: done */
	CHECK_EQ(rd(&l, 0x390), 0);
	lapic_accept(&l, 0x40);
	wr(&l, 0xb0, 0);

	/* Periodic, divide by 2: every 2000 ns; missed periods coalesce into one interrupt. */
	wr(&l, 0x3e0, 0x0);
	wr(&l, 0x320, 0x20041);
	wr(&l, 0x380, 1000);
	CHECK_EQ(lapic_deadline(&l), clock_ns + 2000);
	clock_ns += 2000;
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x41);
	lapic_accept(&l, 0x41);
	wr(&l, 0xb0, 0);
	CHECK_EQ(lapic_deadline(&l), clock_ns + 2000);
	clock_ns += 10000;
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x41);
	CHECK(lapic_deadline(&l) > clock_ns);
	lapic_accept(&l, 0x41);
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	wr(&l, 0xb0, 0);
	/* Masked: the timer runs, nothing is raised. Initial count 0 stops it. */
	wr(&l, 0x320, 0x30041);
	clock_ns += 4000;
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
	wr(&l, 0x380, 0);
	CHECK_EQ(lapic_deadline(&l), 0);
	/* Changing the divider mid-count keeps the count left. */
	wr(&l, 0x320, 0x42);
	wr(&l, 0x3e0, 0xb);
	wr(&l, 0x380, 1000);
	clock_ns += 500;
	wr(&l, 0x3e0, 0x1); /* divide by 4 */
	CHECK_EQ(rd(&l, 0x390), 500);
	CHECK_EQ(lapic_deadline(&l), clock_ns + 2000);
}

/* An expiry while the CPU cannot take it is in the IRR all the same; a later write to the timer
 * registers does not lose it. */
static void test_expiry_recorded(void)
{
	struct lapic l;

	setup(&l);
	wr(&l, 0x3e0, 0xb);
	wr(&l, 0x320, 0x46);
	wr(&l, 0x380, 100);
	clock_ns += 500;
	CHECK_EQ(rd(&l, 0x200 + 0x20), 1u << (0x46 - 64)); /* visible in the IRR */
	wr(&l, 0x3e0, 0x0);				   /* re-dividing after the expiry */
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x46);
	/* A masked timer expiring records nothing, and unmasking later raises nothing. */
	setup(&l);
	wr(&l, 0x3e0, 0xb);
	wr(&l, 0x320, 0x10046);
	wr(&l, 0x380, 100);
	CHECK_EQ(lapic_wake_deadline(&l), 0); /* cannot interrupt: no reason to wake */
	clock_ns += 500;
	wr(&l, 0x320, 0x46);
	CHECK_EQ(lapic_pending(&l, clock_ns), -1);
}

static void test_save_load(void)
{
	struct lapic l, m;
	struct state_writer w;
	struct state_reader r;

	setup(&l);
	wr(&l, 0x20, 0x02000000);
	wr(&l, 0x80, 0x10);
	wr(&l, 0x3e0, 0xb);
	wr(&l, 0x320, 0x45);
	wr(&l, 0x380, 5000);
	wr(&l, 0x300, 0x40050);
	clock_ns += 1000;
	state_writer_init(&w);
	lapic_save(&l, &w);
	CHECK_EQ(state_writer_result(&w), 0);
	lapic_init(&m, 0, fake_now, fake_nmi, NULL);
	clock_ns += 7777; /* restored later: the count continues from where it was */
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(lapic_load(&m, &r), 0);
	CHECK_EQ(rd(&m, 0x20), 0x02000000);
	CHECK_EQ(rd(&m, 0x80), 0x10);
	CHECK_EQ(rd(&m, 0x390), 4000);
	CHECK_EQ(lapic_pending(&m, clock_ns), 0x50);
	/* Truncated: refused, the APIC unchanged. */
	for (size_t n = 0; n < w.len; n++) {
		struct lapic t;

		lapic_init(&t, 0, fake_now, fake_nmi, NULL);
		state_reader_init(&r, w.buf, n);
		CHECK(lapic_load(&t, &r) != 0);
		CHECK_EQ(rd(&t, 0x80), 0);
	}
	state_writer_free(&w);
}

/* A fixed or NMI IPI and the EOI of a level-triggered interrupt, as the machine sees them. */
static unsigned ipis, eois;
static uint32_t ipi_lo, ipi_hi;

static void fake_ipi(void *opaque, uint32_t lo, uint32_t hi)
{
	(void)opaque;
	ipis++;
	ipi_lo = lo;
	ipi_hi = hi;
}

static void fake_eoi(void *opaque, uint8_t vector)
{
	(void)opaque;
	eois += vector;
}

/* x2APIC mode: the IA32_APIC_BASE transitions, the MSRs and which of them fault, the ID and
 * LDR it derives, 64-bit ICR writes, SELF IPI, the MMIO page going dark, x2APIC destinations. */
static void test_x2apic(void)
{
	struct lapic l;
	uint64_t v;

	setup(&l);
	CHECK_EQ(lapic_msr_read(&l, 0x802, &v), -EINVAL);   /* not in x2APIC mode yet */
	CHECK_EQ(lapic_set_mode(&l, false, true), -EINVAL); /* EXTD without EN */
	CHECK_EQ(lapic_set_mode(&l, true, true), 0);
	CHECK_EQ(lapic_set_mode(&l, true, false), -EINVAL); /* back to xAPIC */
	CHECK_EQ(rd(&l, 0x30), 0xffffffffu);		    /* the page is off */
	lapic_init(&l, 0x25, fake_now, fake_nmi, NULL);
	CHECK_EQ(lapic_set_mode(&l, false, false), 0);
	CHECK_EQ(lapic_set_mode(&l, true, true), -EINVAL); /* disabled straight to x2APIC */
	CHECK_EQ(lapic_set_mode(&l, true, false), 0);
	CHECK_EQ(lapic_set_mode(&l, true, true), 0);
	CHECK_EQ(lapic_msr_read(&l, 0x802, &v), 0);
	CHECK_EQ(v, 0x25);
	CHECK_EQ(lapic_msr_read(&l, 0x80d, &v), 0);
	CHECK_EQ(v, 0x20020); /* cluster 2, member 5 */
	CHECK_EQ(lapic_msr_read(&l, 0x803, &v), 0);
	CHECK_EQ(v, 0x50014);
	/* #GP: DFR, ICR high, reserved, read-only written, write-only read, bad reserved bits. */
	CHECK_EQ(lapic_msr_read(&l, 0x80e, &v), -EINVAL);
	CHECK_EQ(lapic_msr_read(&l, 0x831, &v), -EINVAL);
	CHECK_EQ(lapic_msr_read(&l, 0x801, &v), -EINVAL);
	CHECK_EQ(lapic_msr_write(&l, 0x802, 1), -EINVAL);
	CHECK_EQ(lapic_msr_write(&l, 0x80d, 1), -EINVAL);
	CHECK_EQ(lapic_msr_read(&l, 0x80b, &v), -EINVAL);
	CHECK_EQ(lapic_msr_read(&l, 0x83f, &v), -EINVAL);
	CHECK_EQ(lapic_msr_write(&l, 0x80b, 1), -EINVAL);
	CHECK_EQ(lapic_msr_write(&l, 0x83f, 0x100), -EINVAL);
	CHECK_EQ(lapic_msr_write(&l, 0x808, 1ull << 32), -EINVAL);
	CHECK_EQ(lapic_msr_write(&l, 0x900, 0), -EINVAL);
	/* Registers through MSRs: TPR, SVR, then a SELF IPI taken and its EOI. */
	CHECK_EQ(lapic_msr_write(&l, 0x80f, 0x1ff), 0);
	CHECK_EQ(lapic_msr_write(&l, 0x808, 0x20), 0);
	CHECK_EQ(lapic_msr_read(&l, 0x808, &v), 0);
	CHECK_EQ(v, 0x20);
	CHECK_EQ(lapic_msr_write(&l, 0x83f, 0x61), 0);
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x61);
	lapic_accept(&l, 0x61);
	CHECK_EQ(lapic_msr_read(&l, 0x816, &v), 0); /* ISR bits 223:192 */
	CHECK_EQ(v, 0);
	CHECK_EQ(lapic_msr_read(&l, 0x813, &v), 0); /* ISR bits 127:96 */
	CHECK_EQ(v, 2);
	CHECK_EQ(lapic_msr_write(&l, 0x80b, 0), 0);
	CHECK_EQ(lapic_msr_read(&l, 0x813, &v), 0);
	CHECK_EQ(v, 0);
	/* A 64-bit ICR write: the machine gets the whole destination, marked as such. */
	l.ipi = fake_ipi;
	ipis = 0;
	CHECK_EQ(lapic_msr_write(&l, 0x830, 0x0000012300000070ull), 0);
	CHECK_EQ(ipis, 1);
	CHECK_EQ(ipi_lo, 0x70 | LAPIC_ICR_X2APIC_DEST);
	CHECK_EQ(ipi_hi, 0x123);
	CHECK_EQ(lapic_msr_read(&l, 0x830, &v), 0);
	CHECK_EQ(v, 0x0000012300000070ull);
	/* Who an x2APIC destination names: this APIC is ID 0x25, logical cluster 2 member 5. */
	CHECK(lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST, 0x25, false));
	CHECK(!lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST, 0x26, false));
	CHECK(lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST, 0xffffffffu, false));
	CHECK(lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST | 0x800, 0x20030, false));
	CHECK(!lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST | 0x800, 0x10020, false));
	CHECK(lapic_ipi_match(&l, 0, 0x25000000u, false));	/* an 8-bit (I/O APIC) one */
	CHECK(lapic_ipi_match(&l, 0, 0xff000000u, false));	/* its broadcast */
	CHECK(!lapic_ipi_match(&l, 0x800, 0x0d000000u, false)); /* cluster 0 */
	/* An xAPIC cannot be named by an x2APIC ID past 0xff. */
	setup(&l);
	CHECK(!lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST, 0x100, false));
	CHECK(lapic_ipi_match(&l, LAPIC_ICR_X2APIC_DEST, 0, false));
}

/* The EOI of a level-triggered interrupt (TMR set) goes to the machine; an edge one's does not. */
static void test_level_eoi(void)
{
	struct lapic l;

	setup(&l);
	l.eoi = fake_eoi;
	eois = 0;
	lapic_set_irr(&l, 0x71, true);
	lapic_set_irr(&l, 0x72, false);
	CHECK_EQ(rd(&l, 0x180 + 0x30), 1u << 0x11); /* TMR bits 127:96: 0x71 only */
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x72);
	lapic_accept(&l, 0x72);
	wr(&l, 0xb0, 0);
	CHECK_EQ(eois, 0);
	CHECK_EQ(lapic_pending(&l, clock_ns), 0x71);
	lapic_accept(&l, 0x71);
	wr(&l, 0xb0, 0);
	CHECK_EQ(eois, 0x71);
	lapic_set_irr(&l, 0x71, false); /* an edge delivery clears its TMR bit */
	CHECK_EQ(rd(&l, 0x180 + 0x30), 0);
}

int main(void)
{
	RUN_TEST(test_registers);
	RUN_TEST(test_priorities_and_eoi);
	RUN_TEST(test_ipi_destinations);
	RUN_TEST(test_timer);
	RUN_TEST(test_expiry_recorded);
	RUN_TEST(test_save_load);
	RUN_TEST(test_x2apic);
	RUN_TEST(test_level_eoi);
	TEST_EXIT();
}
