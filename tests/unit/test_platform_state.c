/*
 * The PC platform's devices on a port bus as platform.c lays them out, saved through bus_save and
 * loaded into a second identical platform with bus_load: every device's hooks, through the one
 * orchestration a snapshot uses. The restored platform must save back to the same bytes and answer
 * the same register reads.
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "dev/acpi_pm.h"
#include "dev/debug_exit.h"
#include "dev/fw_cfg.h"
#include "dev/i8042.h"
#include "dev/pc_testdev.h"
#include "dev/rtc.h"
#include "dev/serial8250.h"
#include "snapshot/state.h"
#include "test.h"

struct platform_fake {
	struct bus pio;
	struct serial8250 com1;
	struct rtc rtc;
	struct i8042 kbd;
	struct acpi_pm pm;
	struct debug_exit dx;
	struct fw_cfg fw;
	struct pc_testdev td;
};

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
}

static void tx(void *opaque, uint8_t byte)
{
	(void)opaque;
	(void)byte;
}

/* Fixed clocks: the RTC and the PM timer are derived from the host's time. */
static uint64_t fixed_ns(void *opaque)
{
	(void)opaque;
	return 123456789ull;
}

static void fixed_time(void *opaque, struct timespec *ts)
{
	(void)opaque;
	ts->tv_sec = 1764800000;
	ts->tv_nsec = 0;
}

static void build(struct platform_fake *p)
{
	struct irq_line irq = { irq_set, p, 4 };

	memset(p, 0, sizeof(*p));
	bus_init(&p->pio, "pio", 0xff);
	CHECK_EQ(serial8250_init(&p->com1, &irq, tx, p), 0);
	rtc_init(&p->rtc);
	rtc_set_clock(&p->rtc, fixed_time, NULL);
	i8042_init(&p->kbd, NULL);
	i8042_set_irqs(&p->kbd, &irq, &irq);
	acpi_pm_init(&p->pm, &irq, NULL);
	acpi_pm_set_clock(&p->pm, fixed_ns, NULL);
	debug_exit_init(&p->dx, NULL);
	fw_cfg_init(&p->fw, 512ull << 20, 2);
	pc_testdev_init(&p->td, NULL, &irq);
	CHECK_EQ(bus_add(&p->pio, LAYOUT_PORT_COM1, SERIAL8250_NR_PORTS, &serial8250_bus_ops,
			 &p->com1, "com1"),
		 0);
	CHECK_EQ(bus_add(&p->pio, LAYOUT_PORT_RTC, 2, &rtc_bus_ops, &p->rtc, "rtc"), 0);
	CHECK_EQ(bus_add(&p->pio, I8042_PORT_DATA, 1, &i8042_data_ops, &p->kbd, "i8042-data"), 0);
	CHECK_EQ(bus_add(&p->pio, I8042_PORT_CMD, 1, &i8042_cmd_ops, &p->kbd, "i8042-cmd"), 0);
	CHECK_EQ(
	    bus_add(&p->pio, LAYOUT_PORT_ACPI_PM, ACPI_PM_LEN, &acpi_pm_bus_ops, &p->pm, "acpi-pm"),
	    0);
	CHECK_EQ(bus_add(&p->pio, LAYOUT_PORT_DEBUG_EXIT, DEBUG_EXIT_NR_PORTS, &debug_exit_bus_ops,
			 &p->dx, "debug-exit"),
		 0);
	CHECK_EQ(bus_add(&p->pio, FW_CFG_PORT, FW_CFG_NR_PORTS, &fw_cfg_bus_ops, &p->fw, "fw-cfg"),
		 0);
	CHECK_EQ(bus_add(&p->pio, PC_TESTDEV_PORT_SCRATCH, 4, &pc_testdev_scratch_ops, &p->td,
			 "pc-testdev"),
		 0);
	CHECK_EQ(bus_add(&p->pio, PC_TESTDEV_PORT_FLUSH, 4, &pc_testdev_flush_ops, &p->td,
			 "pc-testdev-flush"),
		 0);
	CHECK_EQ(bus_add(&p->pio, PC_TESTDEV_PORT_IRQ, PC_TESTDEV_NR_IRQS, &pc_testdev_irq_ops,
			 &p->td, "pc-testdev-irq"),
		 0);
}

static void destroy(struct platform_fake *p)
{
	serial8250_destroy(&p->com1);
	rtc_destroy(&p->rtc);
	i8042_destroy(&p->kbd);
	acpi_pm_destroy(&p->pm);
	fw_cfg_destroy(&p->fw);
	pc_testdev_destroy(&p->td);
	bus_destroy(&p->pio);
}

static void out8(struct bus *b, uint64_t port, uint8_t v)
{
	bus_write(b, port, &v, 1);
}

static uint8_t in8(struct bus *b, uint64_t port)
{
	uint8_t v = 0;

	bus_read(b, port, &v, 1);
	return v;
}

static void test_platform_round_trip(void)
{
	struct platform_fake *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct state_writer w1, w2;
	struct state_reader r;
	uint32_t scratch = 0xdeadbeef;
	uint16_t sel = 0x05; /* fw_cfg NB_CPUS */
	char err[256];

	build(a);
	build(b);
	/* Drive every device somewhere away from its reset state. */
	out8(&a->pio, LAYOUT_PORT_COM1 + 3, 0x03); /* LCR: 8N1 */
	out8(&a->pio, LAYOUT_PORT_COM1 + 7, 0x5a); /* scratch register */
	out8(&a->pio, LAYOUT_PORT_COM1 + 1, 0x01); /* IER: received data */
	out8(&a->pio, LAYOUT_PORT_RTC, 0x0e);	   /* CMOS byte 0x0e */
	out8(&a->pio, LAYOUT_PORT_RTC + 1, 0x42);
	out8(&a->pio, I8042_PORT_CMD, 0x60); /* write the command byte */
	out8(&a->pio, I8042_PORT_DATA, 0x47);
	bus_write(&a->pio, PC_TESTDEV_PORT_SCRATCH, &scratch, 4);
	bus_write(&a->pio, FW_CFG_PORT, &sel, 2);
	(void)in8(&a->pio, FW_CFG_PORT + 1); /* one byte into the item */

	state_writer_init(&w1);
	CHECK_EQ(bus_save(&a->pio, &w1), 0);
	state_reader_init(&r, w1.buf, w1.len);
	CHECK_EQ(bus_load(&b->pio, &r, err, sizeof(err)), 0);
	CHECK_EQ(r.pos, w1.len);

	/* The restored platform saves to the same bytes and reads back the same. */
	state_writer_init(&w2);
	CHECK_EQ(bus_save(&b->pio, &w2), 0);
	CHECK_EQ(w2.len, w1.len);
	CHECK(w1.len == w2.len && !memcmp(w1.buf, w2.buf, w1.len));
	CHECK_EQ(in8(&b->pio, LAYOUT_PORT_COM1 + 7), 0x5a);
	CHECK_EQ(in8(&b->pio, LAYOUT_PORT_COM1 + 3), 0x03);
	out8(&b->pio, LAYOUT_PORT_RTC, 0x0e);
	CHECK_EQ(in8(&b->pio, LAYOUT_PORT_RTC + 1), 0x42);
	{
		uint32_t v = 0;

		bus_read(&b->pio, PC_TESTDEV_PORT_SCRATCH, &v, 4);
		CHECK_EQ(v, 0xdeadbeef);
	}
	CHECK_EQ(in8(&b->pio, FW_CFG_PORT + 1), 0); /* NB_CPUS = 2: the second byte */
	state_writer_free(&w1);
	state_writer_free(&w2);
	destroy(a);
	destroy(b);
	free(a);
	free(b);
}

int main(void)
{
	RUN_TEST(test_platform_round_trip);
	TEST_EXIT();
}
