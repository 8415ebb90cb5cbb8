/* Unit tests for the 8042 controller: Linux's probe sequence, reset paths, IRQs, hostile input. */
#include "dev/i8042.h"
#include "test.h"
#include "state_check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

struct fake_power {
	unsigned resets, other;
};

static void fake_power_event(void *opaque, enum power_event event, int status)
{
	struct fake_power *p = opaque;

	(void)status;
	if (event == POWER_RESET)
		p->resets++;
	else
		p->other++;
}

struct fake_irq {
	int level;
	unsigned redundant;
	unsigned rises; /* edges: what an edge-triggered IOAPIC pin turns into interrupts */
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	(void)gsi;
	if (level == f->level)
		f->redundant++;
	if (level && !f->level)
		f->rises++;
	f->level = level;
}

static struct i8042 kbc;
static struct fake_power pw;
static struct fake_irq irq1, irq12;

static void setup(void)
{
	struct power_sink sink = { .event = fake_power_event, .opaque = &pw };
	struct irq_line l1 = { .set = fake_irq_set, .opaque = &irq1, .gsi = 1 };
	struct irq_line l12 = { .set = fake_irq_set, .opaque = &irq12, .gsi = 12 };

	memset(&pw, 0, sizeof(pw));
	memset(&irq1, 0, sizeof(irq1));
	memset(&irq12, 0, sizeof(irq12));
	i8042_init(&kbc, &sink);
	i8042_set_irqs(&kbc, &l1, &l12);
}

static void teardown(void)
{
	CHECK_EQ(irq1.redundant, 0);
	CHECK_EQ(irq12.redundant, 0);
	i8042_destroy(&kbc);
}

static uint8_t status(void)
{
	uint8_t v = 0xff;

	i8042_cmd_ops.read(&kbc, 0, &v, 1);
	return v;
}

static uint8_t data_rd(void)
{
	uint8_t v = 0xff;

	i8042_data_ops.read(&kbc, 0, &v, 1);
	return v;
}

static void data_wr(uint8_t v)
{
	i8042_data_ops.write(&kbc, 0, &v, 1);
}

static void cmd_wr(uint8_t v)
{
	i8042_cmd_ops.write(&kbc, 0, &v, 1);
}

/* __i8042_command() from drivers/input/serio/i8042.c, polling bounded like I8042_CTL_TIMEOUT. */
static int i8042_command(uint8_t *param, unsigned command)
{
	unsigned i, n;

	for (i = 0; i < ((command >> 12) & 0xf) + 1; i++) {
		for (n = 0; n < 100 && (status() & 0x02); n++)
			;
		if (n == 100)
			return -ETIMEDOUT;
		if (i == 0)
			cmd_wr(command & 0xff);
		else
			data_wr(param[i - 1]);
	}
	for (i = 0; i < ((command >> 8) & 0xf); i++) {
		for (n = 0; n < 100 && !(status() & 0x01); n++)
			;
		if (n == 100)
			return -ETIMEDOUT;
		if ((command & 0xff) == 0xd3 && !(status() & 0x20))
			return -1;
		param[i] = data_rd();
	}
	return 0;
}

static int i8042_flush(void)
{
	unsigned count = 0;

	while (status() & 0x01) {
		if (count++ >= 16)
			return -EIO;
		data_rd();
	}
	return 0;
}

static void test_linux_probe(void)
{
	uint8_t param, ctr[2];

	setup();
	CHECK_EQ(status() & 0x03, 0);
	CHECK_EQ(i8042_flush(), 0);
	CHECK_EQ(i8042_command(&param, 0x01aa), 0); /* CTL_TEST */
	CHECK_EQ(param, 0x55);
	CHECK_EQ(i8042_command(&ctr[0], 0x0120), 0); /* CTL_RCTR */
	CHECK_EQ(i8042_command(&ctr[1], 0x0120), 0);
	CHECK_EQ(ctr[0], ctr[1]);
	CHECK_EQ(ctr[0], 0x45);
	/* i8042_controller_init: disable both ports, interrupts off. */
	ctr[0] = (uint8_t)((ctr[0] | 0x30) & ~0x03);
	CHECK_EQ(i8042_command(&ctr[0], 0x1060), 0); /* CTL_WCTR */
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param, 0x74);
	CHECK_EQ(i8042_flush(), 0);

	/* i8042_check_aux: internal loopback, then bit assignment. */
	param = 0x5a;
	CHECK_EQ(i8042_command(&param, 0x11d3), 0); /* AUX_LOOP */
	CHECK_EQ(param, 0x5a);
	CHECK_EQ(i8042_command(&param, 0x01a9), 0); /* AUX_TEST */
	CHECK_EQ(param, 0x00);
	CHECK_EQ(i8042_command(&param, 0x00a7), 0);
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param & 0x20, 0x20);
	CHECK_EQ(i8042_command(&param, 0x00a8), 0);
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param & 0x20, 0);
	/* The AUX IRQ delivery test: enable AUXINT, loop 0xa5 without reading it back. */
	param = 0x47;
	CHECK_EQ(i8042_command(&param, 0x1060), 0);
	param = 0xa5;
	CHECK_EQ(i8042_command(&param, 0x10d3), 0);
	CHECK_EQ(irq12.level, 1);
	CHECK_EQ(irq1.level, 0);
	CHECK_EQ(status() & 0x21, 0x21);
	CHECK_EQ(data_rd(), 0xa5);
	CHECK_EQ(irq12.level, 0);

	/* i8042_set_mux_mode: the third loop byte comes back unchanged, so no MUX. */
	static const uint8_t mux[3] = { 0xf0, 0x56, 0xa4 };
	for (unsigned i = 0; i < 3; i++) {
		param = mux[i];
		CHECK_EQ(i8042_command(&param, 0x11d3), 0);
		CHECK_EQ(param, mux[i]);
	}
	CHECK_EQ(i8042_command(&param, 0x01ab), 0); /* KBD_TEST */
	CHECK_EQ(param, 0x00);
	CHECK_EQ(i8042_command(&param, 0x00ad), 0);
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param & 0x10, 0x10);
	CHECK_EQ(i8042_command(&param, 0x00ae), 0);
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param & 0x10, 0);
	/* KBD_LOOP comes back as keyboard data on IRQ 1. */
	param = 0x33;
	CHECK_EQ(i8042_command(&param, 0x11d2), 0);
	CHECK_EQ(param, 0x33);
	CHECK_EQ(irq1.level, 0);
	CHECK_EQ(pw.resets + pw.other, 0);
	teardown();
}

/*
 * What i8042_interrupt() does once per keyboard interrupt: read the status, then one byte. Takes
 * bytes only while IRQ 1 is up, and counts one rising edge per byte, as an edge-triggered IOAPIC
 * pin delivers them.
 */
static unsigned kbd_irq_drain(uint8_t *buf, unsigned max)
{
	unsigned n = 0, rises = irq1.rises;

	while (irq1.level && n < max + 1) {
		uint8_t st = status();

		CHECK_EQ(st & 0x21, 0x01); /* keyboard data, not aux */
		if (n < max)
			buf[n] = data_rd();
		else
			data_rd();
		n++;
	}
	CHECK_EQ(irq1.rises - rises, n > 0 ? n - 1 : 0); /* the first edge was before the call */
	return n;
}

/* ps2_command() for the keyboard: send the byte, take the reply bytes from interrupts. */
static unsigned kbd_cmd(uint8_t byte, uint8_t *reply, unsigned max)
{
	CHECK_EQ(status() & 0x02, 0);
	data_wr(byte);
	return kbd_irq_drain(reply, max);
}

/* The controller part of Linux's probe, as i8042_controller_init() and i8042_setup_kbd() leave it.
 */
static void linux_controller_init(uint8_t ctr)
{
	uint8_t param;

	CHECK_EQ(i8042_flush(), 0);
	CHECK_EQ(i8042_command(&param, 0x01aa), 0);
	CHECK_EQ(param, 0x55);
	param = (uint8_t)((ctr | 0x30) & ~0x03);
	CHECK_EQ(i8042_command(&param, 0x1060), 0);
	CHECK_EQ(i8042_command(&param, 0x01ab), 0);
	CHECK_EQ(param, 0x00);
	/* i8042_enable_kbd_port() */
	param = (uint8_t)((ctr & ~0x10) | 0x01);
	CHECK_EQ(i8042_command(&param, 0x1060), 0);
}

/* atkbd_probe(), atkbd_select_set(), atkbd_reset_state(), atkbd_activate() on x86 defaults. */
static void test_atkbd_probe(void)
{
	uint8_t r[8];

	setup();
	linux_controller_init(0x45);
	CHECK_EQ(irq1.level, 0);
	/* GETID: translated controller, so the second ID byte reads 0x41. */
	CHECK_EQ(kbd_cmd(0xf2, r, 8), 3);
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(r[1], 0xab);
	CHECK_EQ(r[2], 0x41);
	CHECK_EQ(kbd_cmd(0xf5, r, 8), 1); /* RESET_DIS */
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(kbd_cmd(0xed, r, 8), 1); /* SETLEDS */
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(kbd_cmd(0x00, r, 8), 1);
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(kbd_cmd(0xf3, r, 8), 1); /* SETREP */
	CHECK_EQ(kbd_cmd(0x00, r, 8), 1);
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(kbc.kbd_typematic, 0);
	CHECK_EQ(kbd_cmd(0xf4, r, 8), 1); /* ENABLE */
	CHECK_EQ(r[0], 0xfa);
	CHECK(kbc.kbd_scanning);
	/* A LED change later on. */
	CHECK_EQ(kbd_cmd(0xed, r, 8), 1);
	CHECK_EQ(kbd_cmd(0x07, r, 8), 1);
	CHECK_EQ(kbc.kbd_leds, 7);
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(pw.resets + pw.other, 0);
	teardown();
}

/* atkbd.reset=1, i8042.direct=1 and an untranslated set query, ECHO, unknown commands. */
static void test_kbd_commands(void)
{
	uint8_t r[8];

	setup();
	linux_controller_init(0x05);	  /* no XLATE: Linux goes direct */
	CHECK_EQ(kbd_cmd(0xff, r, 8), 2); /* RESET_BAT */
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(r[1], 0xaa);
	CHECK_EQ(kbd_cmd(0xf2, r, 8), 3);
	CHECK_EQ(r[1], 0xab);
	CHECK_EQ(r[2], 0x83);
	CHECK_EQ(kbd_cmd(0xf0, r, 8), 1); /* GSCANSET */
	CHECK_EQ(kbd_cmd(0x00, r, 8), 2);
	CHECK_EQ(r[0], 0xfa);
	CHECK_EQ(r[1], 0x02);
	CHECK_EQ(kbd_cmd(0xf0, r, 8), 1); /* SSCANSET 3: acknowledged, stays in set 2 */
	CHECK_EQ(kbd_cmd(0x03, r, 8), 1);
	CHECK_EQ(kbd_cmd(0xf0, r, 8), 1);
	CHECK_EQ(kbd_cmd(0x00, r, 8), 2);
	CHECK_EQ(r[1], 0x02);
	CHECK_EQ(kbd_cmd(0xee, r, 8), 1);
	CHECK_EQ(r[0], 0xee);
	CHECK_EQ(kbd_cmd(0xe8, r, 8), 1); /* OK_GETID / EX_ENABLE: not a keyboard command */
	CHECK_EQ(r[0], 0xfe);
	CHECK_EQ(kbd_cmd(0xea, r, 8), 1);
	CHECK_EQ(r[0], 0xfe);
	CHECK_EQ(kbd_cmd(0xfe, r, 8), 1); /* RESEND: the last byte again */
	CHECK_EQ(r[0], 0xfe);
	CHECK_EQ(kbd_cmd(0xf8, r, 8), 1); /* SETALL_MB (set 3 only) */
	CHECK_EQ(r[0], 0xfa);
	/* A command instead of the LED parameter starts that command. */
	CHECK_EQ(kbd_cmd(0xed, r, 8), 1);
	CHECK_EQ(kbd_cmd(0xf2, r, 8), 3);
	CHECK_EQ(r[1], 0xab);
	CHECK_EQ(kbd_cmd(0x00, r, 8), 1); /* now a plain command byte again */
	CHECK_EQ(r[0], 0xfe);
	CHECK_EQ(pw.resets + pw.other, 0);
	teardown();
}

static void test_no_mouse(void)
{
	uint8_t param;

	setup();
	CHECK_EQ(data_rd(), 0);
	CHECK_EQ(status() & 0x01, 0);
	param = 0xf2;
	CHECK_EQ(i8042_command(&param, 0x10d4), 0); /* AUX_SEND: nobody answers */
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(i8042_command(&param, 0x11d4), -ETIMEDOUT);
	cmd_wr(0xa7);
	CHECK_EQ(status() & 0x0c, 0x0c); /* SYS and "last write was a command" */
	/* The keyboard is there: a plain data byte reaches it (0xff: reset, ACK + BAT). */
	data_wr(0xff);
	CHECK_EQ(status() & 0x08, 0);
	CHECK_EQ(status() & 0x21, 0x01);
	CHECK_EQ(data_rd(), 0xfa);
	CHECK_EQ(data_rd(), 0xaa);
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(irq12.level, 0);
	CHECK_EQ(irq12.rises, 0);
	teardown();
}

static const uint8_t cad_set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
static const uint8_t cad_set2[] = {
	0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14
};

static void test_ctrl_alt_del(void)
{
	uint8_t r[16];
	unsigned n;

	/* Linux's default: translation on, so set 1, one interrupt per byte. */
	setup();
	linux_controller_init(0x45);
	CHECK_EQ(kbd_cmd(0xf4, r, 16), 1);
	CHECK_EQ(irq1.level, 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), 0);
	CHECK_EQ(irq1.level, 1);
	n = kbd_irq_drain(r, 16);
	CHECK_EQ(n, sizeof(cad_set1));
	CHECK(memcmp(r, cad_set1, sizeof(cad_set1)) == 0);
	CHECK_EQ(irq1.level, 0);
	CHECK_EQ(irq12.rises, 0);
	teardown();

	/* i8042.direct: set 2 as the keyboard sends it. */
	setup();
	linux_controller_init(0x05);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), 0);
	n = kbd_irq_drain(r, 16);
	CHECK_EQ(n, sizeof(cad_set2));
	CHECK(memcmp(r, cad_set2, sizeof(cad_set2)) == 0);
	teardown();

	/* A disabled keyboard drops keys; a full one refuses the whole sequence. */
	setup();
	CHECK_EQ(kbd_cmd(0xf5, r, 16), 1);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), -EAGAIN);
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(kbd_cmd(0xf4, r, 16), 1);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), -ENOSPC);
	/* Linux's i8042_flush() must still find the controller: at most 16 bytes waiting. */
	CHECK_EQ(i8042_flush(), 0);
	CHECK_EQ(status() & 0x01, 0);
	teardown();
}

/* Keyboard bytes wait behind a disabled interface and behind controller replies. */
static void test_kbd_ordering(void)
{
	uint8_t param, r[16];

	setup();
	cmd_wr(0xad); /* KBD_DISABLE */
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), 0);
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(irq1.level, 0);
	/* A controller command while keys are queued answers first. */
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param, 0x55);
	cmd_wr(0xae); /* KBD_ENABLE: the keys flow */
	CHECK_EQ(irq1.level, 1);
	CHECK_EQ(status() & 0x01, 0x01);
	CHECK_EQ(data_rd(), cad_set1[0]);
	/* A reply that arrives while a key byte sits in the output buffer goes first; the key
	 * byte is not lost. */
	CHECK_EQ(status() & 0x01, 0x01);
	CHECK_EQ(i8042_command(&param, 0x0120), 0);
	CHECK_EQ(param, 0x45);
	CHECK_EQ(kbd_irq_drain(r, 16), sizeof(cad_set1) - 1);
	CHECK(memcmp(r, cad_set1 + 1, sizeof(cad_set1) - 1) == 0);
	/* Without KBDINT the bytes are there for polling, with no interrupt. */
	param = 0x44;
	CHECK_EQ(i8042_command(&param, 0x1060), 0);
	CHECK_EQ(i8042_send_ctrl_alt_del(&kbc), 0);
	CHECK_EQ(irq1.level, 0);
	for (unsigned i = 0; i < sizeof(cad_set1); i++) {
		CHECK_EQ(status() & 0x01, 0x01);
		CHECK_EQ(data_rd(), cad_set1[i]);
	}
	CHECK_EQ(status() & 0x01, 0);
	teardown();
}

struct cad_reader {
	atomic_int stop;
	uint8_t bytes[4096];
	unsigned n;
};

static void *cad_read_thread(void *arg)
{
	struct cad_reader *r = arg;

	while (!atomic_load(&r->stop) || (status() & 0x01))
		if ((status() & 0x01) && r->n < sizeof(r->bytes))
			r->bytes[r->n++] = data_rd();
	return NULL;
}

/* The host's thread presses keys while a vCPU thread reads: whole sequences, nothing torn. */
static void test_ctrl_alt_del_threads(void)
{
	static struct cad_reader r;
	unsigned sent = 0;
	pthread_t t;

	setup();
	memset(&r, 0, sizeof(r));
	CHECK_EQ(pthread_create(&t, NULL, cad_read_thread, &r), 0);
	for (unsigned i = 0; i < 20000 && sent < sizeof(r.bytes) / sizeof(cad_set1); i++) {
		int ret = i8042_send_ctrl_alt_del(&kbc);

		CHECK(ret == 0 || ret == -ENOSPC);
		sent += ret == 0;
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	CHECK(sent > 0);
	CHECK_EQ(r.n, sent * sizeof(cad_set1));
	for (unsigned i = 0; i < r.n; i++)
		if (r.bytes[i] != cad_set1[i % sizeof(cad_set1)]) {
			CHECK_EQ(i, r.n);
			break;
		}
	teardown();
}

static void test_irq_kbd(void)
{
	setup();
	cmd_wr(0xaa); /* CTR has KBDINT by default */
	CHECK_EQ(irq1.level, 1);
	CHECK_EQ(data_rd(), 0x55);
	CHECK_EQ(irq1.level, 0);
	cmd_wr(0xaa);
	CHECK_EQ(irq1.level, 1);
	cmd_wr(0x60);
	data_wr(0x44); /* clearing KBDINT drops the line with OBF still set */
	CHECK_EQ(irq1.level, 0);
	CHECK_EQ(status() & 0x01, 0x01);
	teardown();
}

static void test_reset(void)
{
	uint8_t param;

	setup();
	cmd_wr(0xfe);
	CHECK_EQ(pw.resets, 1);
	cmd_wr(0xff); /* pulses nothing (Linux's A20 code sends it) */
	cmd_wr(0xf1);
	CHECK_EQ(pw.resets, 1);
	cmd_wr(0xf0);
	CHECK_EQ(pw.resets, 2);
	CHECK_EQ(i8042_command(&param, 0x01d0), 0);
	CHECK_EQ(param, 0x03);
	cmd_wr(0xd1);
	data_wr(0xdf); /* A20 on, reset high */
	CHECK_EQ(pw.resets, 2);
	cmd_wr(0xd1);
	data_wr(0x02);
	CHECK_EQ(pw.resets, 3);
	cmd_wr(0xdd);
	CHECK_EQ(i8042_command(&param, 0x01d0), 0);
	CHECK_EQ(param & 0x02, 0);
	CHECK_EQ(pw.other, 0);
	teardown();
}

static void test_hostile(void)
{
	static const uint64_t offs[] = { 1, 4, 0xffff, UINT64_MAX };
	static const unsigned lens[] = { 0, 1, 2, 4, 8 };
	uint8_t buf[8];

	setup();
	/* Every command followed by every parameter byte. */
	for (unsigned c = 0; c < 256; c++)
		for (unsigned v = 0; v < 256; v += 17) {
			cmd_wr((uint8_t)c);
			data_wr((uint8_t)v);
			status();
			data_rd();
		}
	CHECK(pw.resets > 0);
	CHECK_EQ(pw.other, 0);
	/* Offsets outside a 1-port range are ignored; wide accesses use byte 0 only. */
	for (unsigned o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
		for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			memset(buf, 0xfe, sizeof(buf));
			pw.resets = 0;
			i8042_cmd_ops.write(&kbc, offs[o], buf, lens[l]);
			i8042_data_ops.write(&kbc, offs[o], buf, lens[l]);
			i8042_cmd_ops.read(&kbc, offs[o], buf, lens[l]);
			i8042_data_ops.read(&kbc, offs[o], buf, lens[l]);
			CHECK_EQ(pw.resets, 0);
			for (unsigned i = 0; i < 8; i++)
				CHECK_EQ(buf[i], 0xfe);
		}
	memset(buf, 0xff, sizeof(buf));
	i8042_cmd_ops.read(&kbc, 0, buf, 8);
	for (unsigned i = 1; i < 8; i++)
		CHECK_EQ(buf[i], 0xff);
	/* Still answers the self-test. */
	uint8_t param;
	i8042_flush();
	CHECK_EQ(i8042_command(&param, 0x01aa), 0);
	CHECK_EQ(param, 0x55);
	teardown();

	/* Nothing wired at all. */
	i8042_init(&kbc, NULL);
	i8042_set_irqs(&kbc, NULL, NULL);
	cmd_wr(0xfe);
	cmd_wr(0xaa);
	CHECK_EQ(data_rd(), 0x55);
	i8042_destroy(&kbc);
}

/* ---- snapshot ---- */

static struct i8042 kbc2;
static struct fake_power pw2;
static struct fake_irq irq1b, irq12b;

static void setup2(void)
{
	struct power_sink sink = { .event = fake_power_event, .opaque = &pw2 };
	struct irq_line l1 = { .set = fake_irq_set, .opaque = &irq1b, .gsi = 1 };
	struct irq_line l12 = { .set = fake_irq_set, .opaque = &irq12b, .gsi = 12 };

	memset(&pw2, 0, sizeof(pw2));
	memset(&irq1b, 0, sizeof(irq1b));
	memset(&irq12b, 0, sizeof(irq12b));
	i8042_init(&kbc2, &sink);
	i8042_set_irqs(&kbc2, &l1, &l12);
}

/*
 * Keyboard replies queued behind an aux loopback byte (so the line up is IRQ 12), the LEDs set,
 * a typematic command waiting for its parameter, A20 off, a RAM byte written, and a controller
 * command (write output port) waiting for its parameter.
 */
static void i8042_busy_state(void)
{
	cmd_wr(0x60);
	data_wr(0x47); /* KBDINT | AUXINT | SYS | XLATE */
	data_wr(0xed);
	data_wr(0x02);
	data_wr(0xf2); /* ACK, 0xab, 0x41 */
	CHECK_EQ(data_rd(), 0xfa);
	CHECK_EQ(data_rd(), 0xfa);
	data_wr(0xf3);
	cmd_wr(0xdd);
	cmd_wr(0x65);
	data_wr(0x5a);
	cmd_wr(0xd3);
	data_wr(0x99);
	cmd_wr(0xd1);
	CHECK_EQ(status(), 0x3d); /* OBF, SYS, CMD, KEYLOCK, AUX */
	CHECK_EQ(irq1.level, 0);
	CHECK_EQ(irq12.level, 1);
	CHECK_EQ(kbc.kbd_count, 4);
}

static uint8_t st_on(struct i8042 *k)
{
	uint8_t v = 0xff;

	i8042_cmd_ops.read(k, 0, &v, 1);
	return v;
}

static void cmd_on(struct i8042 *k, uint8_t v)
{
	i8042_cmd_ops.write(k, 0, &v, 1);
}

static void data_on(struct i8042 *k, uint8_t v)
{
	i8042_data_ops.write(k, 0, &v, 1);
}

/* Status, byte and both lines while OBF, then once more: what the guest's handler would see. */
static unsigned i8042_drain(struct i8042 *k, const struct fake_irq *i1, const struct fake_irq *i12,
			    uint8_t *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 20; i++) {
		out[n++] = st_on(k);
		out[n++] = (uint8_t)(i1->level | i12->level << 1);
		if (!(out[n - 2] & 1))
			break;
		i8042_data_ops.read(k, 0, &out[n++], 1);
	}
	return n;
}

static unsigned i8042_probe(struct i8042 *k, const struct fake_irq *i1, const struct fake_irq *i12,
			    const struct fake_power *p, uint8_t *out)
{
	unsigned n = 0;

	out[n++] = st_on(k);
	out[n++] = (uint8_t)(i1->level | i12->level << 1);
	data_on(k, 0x03); /* the pending write-output-port command's parameter */
	out[n++] = st_on(k);
	n += i8042_drain(k, i1, i12, out + n);
	data_on(k, 0x05); /* the pending typematic command's parameter: ACK */
	data_on(k, 0xfe); /* resend: the ACK again */
	n += i8042_drain(k, i1, i12, out + n);
	cmd_on(k, 0xd0);
	n += i8042_drain(k, i1, i12, out + n);
	cmd_on(k, 0x20);
	n += i8042_drain(k, i1, i12, out + n);
	cmd_on(k, 0x25);
	n += i8042_drain(k, i1, i12, out + n);
	data_on(k, 0xf0);
	data_on(k, 0x00);
	n += i8042_drain(k, i1, i12, out + n);
	out[n++] = (uint8_t)i8042_send_ctrl_alt_del(k);
	n += i8042_drain(k, i1, i12, out + n);
	out[n++] = (uint8_t)p->resets;
	return n;
}

static void test_snapshot_round_trip(void)
{
	const struct state_target st = state_target_bus(&i8042_data_ops, &kbc),
				  st2 = state_target_bus(&i8042_data_ops, &kbc2);
	struct state_blob saved;
	uint8_t want[256], got[256];
	unsigned n;

	CHECK(i8042_data_ops.save == i8042_save);
	CHECK(i8042_data_ops.load == i8042_load);
	CHECK(!i8042_data_ops.state_shared);
	CHECK(i8042_cmd_ops.state_shared);
	CHECK(!i8042_cmd_ops.save && !i8042_cmd_ops.load);

	setup();
	i8042_busy_state();
	state_check_save(&st, &saved);
	state_check_header(&saved, STATE_TAG('8', '0', '4', '2'), 68);
	setup2();
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	CHECK_EQ(irq1b.level, 0);
	CHECK_EQ(irq12b.level, 1); /* re-driven from the restored output buffer */
	CHECK_EQ(irq12b.rises, 1);
	CHECK(state_check_same(&st2, &saved));

	n = i8042_probe(&kbc, &irq1, &irq12, &pw, want);
	CHECK_EQ(i8042_probe(&kbc2, &irq1b, &irq12b, &pw2, got), n);
	CHECK(!memcmp(want, got, n));
	/* Some of what was compared: the aux byte first, then the keyboard's queue in order. */
	CHECK_EQ(want[2], 0x35); /* the parameter went to the output port: CMD cleared */
	CHECK_EQ(want[5], 0x99);
	CHECK_EQ(want[8], 0xfa);
	CHECK_EQ(want[11], 0xab);
	CHECK_EQ(want[14], 0x41);
	CHECK_EQ(pw2.resets, 0);
	CHECK_EQ(irq1b.redundant, 0);
	CHECK_EQ(irq12b.redundant, 0);
	state_blob_free(&saved);
	i8042_destroy(&kbc2);
	teardown();
}

/* Offsets in a save of the version 1 layout (i8042.h): the body follows the section header. */
enum {
	KBC_RAM = STATE_CHECK_HDR + 0,
	KBC_OBF = STATE_CHECK_HDR + 34,
	KBC_OBF_AUX = STATE_CHECK_HDR + 35,
	KBC_OBF_KBD = STATE_CHECK_HDR + 36,
	KBC_LAST_CMD = STATE_CHECK_HDR + 37,
	KBC_PENDING = STATE_CHECK_HDR + 38,
	KBC_HEAD = STATE_CHECK_HDR + 55,
	KBC_COUNT = STATE_CHECK_HDR + 59,
	KBC_KBD_PENDING = STATE_CHECK_HDR + 63,
	KBC_LEDS = STATE_CHECK_HDR + 65,
	KBC_TYPEMATIC = STATE_CHECK_HDR + 66,
	KBC_SCANNING = STATE_CHECK_HDR + 67,
};

static void test_snapshot_hostile(void)
{
	static const struct {
		unsigned off, width;
		uint64_t v;
		const char *what;
	} bad[] = {
		{ KBC_OBF, 1, 2, "OBF 2" },
		{ KBC_OBF_AUX, 1, 0x80, "aux flag 0x80" },
		{ KBC_OBF_KBD, 1, 0xff, "keyboard flag 0xff" },
		{ KBC_LAST_CMD, 1, 3, "A2 3" },
		{ KBC_SCANNING, 1, 2, "scanning 2" },
		{ KBC_OBF_KBD, 1, 1, "keyboard byte that is aux data" },
		{ KBC_PENDING, 1, 0x20, "pending read-RAM" },
		{ KBC_PENDING, 1, 0xd5, "pending 0xd5" },
		{ KBC_PENDING, 1, 0xff, "pending pulse" },
		{ KBC_HEAD, 4, 16, "head 16" },
		{ KBC_COUNT, 4, 17, "count 17" },
		{ KBC_COUNT, 4, UINT32_MAX, "count 2^32-1" },
		{ KBC_KBD_PENDING, 1, 0xee, "keyboard waits after echo" },
		{ KBC_KBD_PENDING, 1, 0x01, "keyboard waits on 0x01" },
		{ KBC_LEDS, 1, 8, "LEDs 8" },
		{ KBC_TYPEMATIC, 1, 0x80, "typematic 0x80" },
		{ KBC_OBF, 1, 0, "bytes queued behind an empty, enabled buffer" },
	};
	static const struct {
		unsigned off, width;
		uint64_t v;
		const char *what;
	} good_values[] = {
		{ KBC_COUNT, 4, 16, "count 16 with OBF" },
		{ KBC_PENDING, 1, 0x7f, "pending write-RAM 0x1f" },
		{ KBC_PENDING, 1, 0xd4, "pending aux send" },
		{ KBC_PENDING, 1, 0, "nothing pending" },
		{ KBC_KBD_PENDING, 1, 0xf0, "keyboard waits for a scan set" },
		{ KBC_HEAD, 4, 15, "head 15" },
	};
	const struct state_target st = state_target_bus(&i8042_data_ops, &kbc),
				  st2 = state_target_bus(&i8042_data_ops, &kbc2);
	struct state_blob good, quiet;

	setup();
	i8042_busy_state();
	state_check_save(&st, &good);
	teardown();

	setup();
	cmd_wr(0xaa);
	CHECK_EQ(irq1.level, 1);
	state_check_hostile(&st, &good);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		state_check_rejects_field(&st, &good, bad[i].off, bad[i].v, bad[i].width,
					  bad[i].what);
	for (unsigned i = 0; i < sizeof(good_values) / sizeof(good_values[0]); i++) {
		setup2();
		state_check_accepts_field(&st2, &good, good_values[i].off, good_values[i].v,
					  good_values[i].width, good_values[i].what);
		i8042_destroy(&kbc2);
	}

	/* With the keyboard interface disabled, bytes may wait behind an empty buffer. */
	quiet = state_blob_copy(&good);
	state_blob_put(&quiet, KBC_OBF, 0, 1);
	state_blob_put(&quiet, KBC_RAM, 0x57, 1);
	setup2();
	state_check_accepts_field(&st2, &quiet, KBC_OBF, 0, 1, "KBDDIS");
	CHECK_EQ(irq1b.level | irq12b.level, 0);
	CHECK_EQ(st_on(&kbc2) & 1, 0);
	cmd_on(&kbc2, 0xae); /* enabling the interface delivers the first queued byte */
	CHECK_EQ(irq1b.level, 1);
	CHECK_EQ(st_on(&kbc2) & 0x21, 0x01);
	i8042_destroy(&kbc2);

	/* The refused loads touched nothing. */
	CHECK_EQ(irq1.level, 1);
	CHECK_EQ(irq12.level, 0);
	CHECK_EQ(data_rd(), 0x55);
	CHECK_EQ(pw.resets, 0);
	state_blob_free(&quiet);
	state_blob_free(&good);
	teardown();
}

int main(void)
{
	RUN_TEST(test_linux_probe);
	RUN_TEST(test_atkbd_probe);
	RUN_TEST(test_kbd_commands);
	RUN_TEST(test_no_mouse);
	RUN_TEST(test_ctrl_alt_del);
	RUN_TEST(test_kbd_ordering);
	RUN_TEST(test_ctrl_alt_del_threads);
	RUN_TEST(test_irq_kbd);
	RUN_TEST(test_reset);
	RUN_TEST(test_hostile);
	RUN_TEST(test_snapshot_round_trip);
	RUN_TEST(test_snapshot_hostile);
	TEST_EXIT();
}
