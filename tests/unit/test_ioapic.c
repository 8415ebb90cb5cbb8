/*
 * The I/O APIC model (src/dev/ioapic.c): its registers and their writable bits, edge pins (rising
 * edges only, lost while masked), level pins (remote IRR until the EOI, re-sent while the line
 * stays active, coalesced otherwise, sent on unmasking), polarity (not applied to the input), the
 * message format the machine
 * delivers, and snapshot save/load.
 */
#include <string.h>

#include "dev/ioapic.h"
#include "test.h"

static unsigned nsent;
static uint32_t last_lo, last_hi;

static void fake_send(void *opaque, uint32_t lo, uint32_t hi)
{
	(void)opaque;
	nsent++;
	last_lo = lo;
	last_hi = hi;
}

static uint32_t rd(struct ioapic *io, unsigned reg)
{
	uint32_t v = reg;

	ioapic_bus_ops.write(io, 0x00, &v, 4);
	ioapic_bus_ops.read(io, 0x10, &v, 4);
	return v;
}

static void wr(struct ioapic *io, unsigned reg, uint32_t v)
{
	uint32_t sel = reg;

	ioapic_bus_ops.write(io, 0x00, &sel, 4);
	ioapic_bus_ops.write(io, 0x10, &v, 4);
}

static void setup(struct ioapic *io)
{
	ioapic_init(io, fake_send, NULL);
	nsent = 0;
}

static void test_registers(void)
{
	struct ioapic io;
	uint32_t v;

	setup(&io);
	CHECK_EQ(rd(&io, 1), 0x00170011u); /* 24 entries, version 0x11 */
	wr(&io, 1, 0);
	CHECK_EQ(rd(&io, 1), 0x00170011u); /* read-only */
	wr(&io, 0, 0xffffffffu);
	CHECK_EQ(rd(&io, 0), 0x0f000000u); /* only bits 27:24 */
	CHECK_EQ(rd(&io, 2), 0x0f000000u); /* arbitration ID follows the ID */
	wr(&io, 2, 0);
	CHECK_EQ(rd(&io, 2), 0x0f000000u);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		CHECK_EQ(rd(&io, 0x10 + 2 * pin), 0x10000u); /* masked at reset */
	/* Delivery status and remote IRR are not writable; the destination is bits 63:56. */
	wr(&io, 0x10, 0xffffffffu);
	CHECK_EQ(rd(&io, 0x10), 0x1afffu);
	wr(&io, 0x11, 0xffffffffu);
	CHECK_EQ(rd(&io, 0x11), 0xff000000u);
	/* Past the last entry and other widths: nothing. */
	CHECK_EQ(rd(&io, 0x10 + 2 * IOAPIC_PINS), 0);
	v = 0x12345678;
	ioapic_bus_ops.read(&io, 0x10, &v, 2);
	CHECK_EQ(v, 0x12340000u);
	v = 0x3;
	ioapic_bus_ops.write(&io, 0x00, &v, 4);
	ioapic_bus_ops.read(&io, 0x00, &v, 4);
	CHECK_EQ(v, 3); /* IOREGSEL reads back */
	CHECK_EQ(nsent, 0);
}

static void test_edge(void)
{
	struct ioapic io;

	setup(&io);
	wr(&io, 0x10 + 2 * 4, 0x40);	    /* pin 4: vector 0x40, edge, fixed, physical */
	wr(&io, 0x11 + 2 * 4, 0x01000000u); /* to APIC 1 */
	ioapic_set_irq(&io, 4, 1);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(last_lo, 0x40);
	CHECK_EQ(last_hi, 0x01000000u);
	ioapic_set_irq(&io, 4, 1); /* still high: no new edge */
	CHECK_EQ(nsent, 1);
	ioapic_set_irq(&io, 4, 0);
	ioapic_set_irq(&io, 4, 1);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(rd(&io, 0x10 + 2 * 4) & 0x4000, 0); /* no remote IRR for edges */
	ioapic_eoi(&io, 0x40);
	CHECK_EQ(nsent, 2);
	/* Masked: the edge is lost, unmasking sends nothing. */
	ioapic_set_irq(&io, 4, 0);
	wr(&io, 0x10 + 2 * 4, 0x10040);
	ioapic_set_irq(&io, 4, 1);
	wr(&io, 0x10 + 2 * 4, 0x40);
	CHECK_EQ(nsent, 2);
	/* Logical destination, lowest priority: the message says so. */
	wr(&io, 0x10 + 2 * 5, 0x941);
	ioapic_set_irq(&io, 5, 1);
	CHECK_EQ(last_lo, 0x941);
	/* Active low: the caller's level is the assertion, so an assertion sends; a level pin
	 * idle at 0 sends nothing (no storm). */
	wr(&io, 0x10 + 2 * 6, 0x2042);
	ioapic_set_irq(&io, 6, 1);
	CHECK_EQ(nsent, 4);
	CHECK_EQ(last_lo, 0x42);
	ioapic_set_irq(&io, 6, 0);
	CHECK_EQ(nsent, 4);
	wr(&io, 0x10 + 2 * 7, 0xa043); /* level, active low, unmasked, line idle */
	ioapic_eoi(&io, 0x43);
	CHECK_EQ(nsent, 4);
	ioapic_set_irq(&io, IOAPIC_PINS, 1); /* no such pin */
	CHECK_EQ(nsent, 4);
}

static void test_level(void)
{
	struct ioapic io;

	setup(&io);
	wr(&io, 0x10 + 2 * 9, 0x8050); /* pin 9: vector 0x50, level */
	ioapic_set_irq(&io, 9, 1);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(last_lo, 0x8050);
	CHECK(rd(&io, 0x10 + 2 * 9) & 0x4000); /* remote IRR */
	ioapic_set_irq(&io, 9, 0);
	ioapic_set_irq(&io, 9, 1); /* coalesced: remote IRR still set */
	CHECK_EQ(nsent, 1);
	ioapic_eoi(&io, 0x51); /* another vector's EOI */
	CHECK_EQ(nsent, 1);
	ioapic_eoi(&io, 0x50); /* still active: sent again */
	CHECK_EQ(nsent, 2);
	CHECK(rd(&io, 0x10 + 2 * 9) & 0x4000);
	ioapic_set_irq(&io, 9, 0);
	ioapic_eoi(&io, 0x50);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(rd(&io, 0x10 + 2 * 9) & 0x4000, 0);
	/* Masked while active: nothing until unmasked, then at once. */
	wr(&io, 0x10 + 2 * 9, 0x18050);
	ioapic_set_irq(&io, 9, 1);
	CHECK_EQ(nsent, 2);
	wr(&io, 0x10 + 2 * 9, 0x8050);
	CHECK_EQ(nsent, 3);
	/* Rewriting the entry (its destination) keeps remote IRR: no second message. */
	wr(&io, 0x11 + 2 * 9, 0x02000000u);
	CHECK_EQ(nsent, 3);
	CHECK(rd(&io, 0x10 + 2 * 9) & 0x4000);
	/* Made edge-triggered: remote IRR goes. */
	wr(&io, 0x10 + 2 * 9, 0x50);
	CHECK_EQ(rd(&io, 0x10 + 2 * 9) & 0x4000, 0);
}

static void test_save_load(void)
{
	struct ioapic a, b;
	struct state_writer w;
	struct state_reader r;

	setup(&a);
	wr(&a, 0, 0x05000000u);
	wr(&a, 0x10 + 2 * 3, 0x8061);
	wr(&a, 0x11 + 2 * 3, 0x03000000u);
	ioapic_set_irq(&a, 3, 1);
	state_writer_init(&w);
	ioapic_bus_ops.save(&a, &w);
	CHECK_EQ(state_writer_result(&w), 0);
	setup(&b);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(ioapic_bus_ops.load(&b, &r), 0);
	CHECK(!memcmp(a.redir, b.redir, sizeof(a.redir)));
	CHECK_EQ(b.id, 0x05000000u);
	CHECK_EQ(b.lines, 1u << 3);
	/* Truncated: refused, the target unchanged. */
	setup(&b);
	state_reader_init(&r, w.buf, w.len - 3);
	CHECK(ioapic_bus_ops.load(&b, &r) != 0);
	CHECK_EQ(b.redir[3], 0x10000u);
	state_writer_free(&w);
}

int main(void)
{
	RUN_TEST(test_registers);
	RUN_TEST(test_edge);
	RUN_TEST(test_level);
	RUN_TEST(test_save_load);
	TEST_EXIT();
}
