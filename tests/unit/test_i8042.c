/* Unit tests for the 8042 controller: Linux's probe sequence, reset paths, IRQs, hostile input. */
#include "dev/i8042.h"
#include "test.h"

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
	TEST_EXIT();
}
