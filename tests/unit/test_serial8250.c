/* Unit tests for the 16550A model: Linux's probe, TX/RX, FIFO, interrupts, DLAB, hostile input. */
#include "dev/serial8250.h"
#include "test.h"
#include "state_check.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

struct fake_irq {
	int level;
	unsigned sets;
	unsigned redundant; /* set() with the level the line already had: must stay 0 */
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	(void)gsi;
	if (level == f->level)
		f->redundant++;
	f->level = level;
	f->sets++;
}

struct fake_tx {
	uint8_t buf[256];
	unsigned n;
};

static void fake_tx_byte(void *opaque, uint8_t byte)
{
	struct fake_tx *t = opaque;

	if (t->n < sizeof(t->buf))
		t->buf[t->n++] = byte;
}

static struct serial8250 uart;
static struct fake_irq irq;
static struct fake_tx txd;

static void setup(void)
{
	struct irq_line line = { .set = fake_irq_set, .opaque = &irq, .gsi = 4 };

	memset(&irq, 0, sizeof(irq));
	memset(&txd, 0, sizeof(txd));
	CHECK_EQ(serial8250_init(&uart, &line, fake_tx_byte, &txd), 0);
}

static void teardown(void)
{
	CHECK_EQ(irq.redundant, 0);
	serial8250_destroy(&uart);
}

static uint8_t rd(unsigned off)
{
	uint8_t v = 0xff;

	serial8250_bus_ops.read(&uart, off, &v, 1);
	return v;
}

static void wr(unsigned off, uint8_t v)
{
	serial8250_bus_ops.write(&uart, off, &v, 1);
}

enum { RX = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* The register dance of autoconfig() and autoconfig_16550a() in drivers/tty/serial/8250. */
static void test_linux_probe(void)
{
	uint8_t scratch, scratch2, scratch3, save_mcr, save_lcr, status1, status2;

	setup();
	scratch = rd(IER);
	wr(IER, 0);
	scratch2 = rd(IER) & 0x0f;
	wr(IER, 0x0f);
	scratch3 = rd(IER) & 0x0f;
	wr(IER, scratch);
	CHECK_EQ(scratch2, 0);
	CHECK_EQ(scratch3, 0x0f);

	save_mcr = rd(MCR);
	save_lcr = rd(LCR);
	wr(MCR, 0x10 | 0x0a); /* LOOP | OUT2 | RTS */
	status1 = rd(MSR) & 0xf0;
	wr(MCR, save_mcr);
	CHECK_EQ(status1, 0x90); /* DCD | CTS */

	wr(LCR, 0xbf);
	wr(2, 0); /* "EFR" on a 16650; FCR here */
	wr(LCR, 0);
	wr(FCR, 0x01);
	CHECK_EQ(rd(IIR) >> 6, 3);

	/* autoconfig_16550a: no EFR at offset 2 in either config mode. */
	wr(LCR, 0x80);
	CHECK(rd(2) != 0);
	wr(LCR, 0xbf);
	CHECK(rd(2) != 0);
	/* Not a TI16750: IIR bit 5 never set, with or without DLAB. */
	wr(LCR, 0);
	wr(FCR, 0x01 | 0x20);
	status1 = rd(IIR) >> 5;
	wr(FCR, 0x01);
	wr(LCR, 0x80);
	wr(FCR, 0x01 | 0x20);
	status2 = rd(IIR) >> 5;
	wr(FCR, 0x01);
	wr(LCR, 0);
	CHECK(!(status1 == 6 && status2 == 7));
	CHECK_EQ(status1 & 1, 0);
	/* Not an XScale: IER bit 6 (UUE) does not stick. */
	wr(IER, 0x40);
	CHECK_EQ(rd(IER) & 0x40, 0);
	wr(IER, 0);
	wr(LCR, save_lcr);

	/* serial8250_do_startup's safety check. */
	CHECK(rd(LSR) != 0xff);
	CHECK_EQ(rd(LSR), 0x60);
	CHECK_EQ(rd(MSR) & 0xf0, 0xb0);
	teardown();
}

static void test_scratch(void)
{
	setup();
	for (unsigned v = 0; v < 256; v += 0x55) {
		wr(SCR, (uint8_t)v);
		CHECK_EQ(rd(SCR), v);
	}
	teardown();
}

static void test_tx(void)
{
	setup();
	wr(RX, 'h');
	wr(RX, 'i');
	CHECK_EQ(txd.n, 2);
	CHECK(!memcmp(txd.buf, "hi", 2));
	CHECK_EQ(rd(LSR) & 0x61, 0x60); /* THRE | TEMT, nothing received */

	/* Loopback: THR feeds RBR, nothing leaves. */
	wr(MCR, 0x10);
	wr(RX, 'x');
	CHECK_EQ(txd.n, 2);
	CHECK_EQ(rd(LSR) & 0x01, 0x01);
	CHECK_EQ(rd(RX), 'x');
	CHECK_EQ(rd(LSR) & 0x01, 0);
	teardown();
}

static void test_rx_fifo(void)
{
	uint8_t in[20];

	setup();
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('a' + i);
	/* FIFOs off: a single holding register. */
	CHECK_EQ(serial8250_rx_space(&uart), 1);
	CHECK_EQ(serial8250_rx(&uart, in, 2), 1);
	CHECK_EQ(rd(RX), 'a');
	CHECK_EQ(rd(RX), 0); /* empty reads are harmless */

	wr(FCR, 0x01);
	CHECK_EQ(serial8250_rx_space(&uart), 16);
	CHECK_EQ(serial8250_rx(&uart, in, sizeof(in)), 16);
	CHECK_EQ(serial8250_rx_space(&uart), 0);
	CHECK_EQ(serial8250_rx(&uart, in + 16, 4), 0);
	CHECK_EQ(rd(LSR) & 0x03, 0x01); /* host input is held back, never overrun */
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(rd(RX), 'a' + i);
	CHECK_EQ(rd(LSR) & 0x01, 0);

	/* FCR clear-receiver empties the FIFO; toggling FIFO mode does too. */
	CHECK_EQ(serial8250_rx(&uart, in, 5), 5);
	wr(FCR, 0x03);
	CHECK_EQ(rd(LSR) & 0x01, 0);
	CHECK_EQ(serial8250_rx(&uart, in, 5), 5);
	wr(FCR, 0x00);
	CHECK_EQ(rd(LSR) & 0x01, 0);
	CHECK_EQ(serial8250_rx_space(&uart), 1);
	teardown();
}

static void test_overrun(void)
{
	setup();
	wr(FCR, 0x01);
	wr(MCR, 0x10);
	CHECK_EQ(serial8250_rx_space(&uart), 0); /* input line cut in loopback */
	for (unsigned i = 0; i < 17; i++)
		wr(RX, (uint8_t)i);
	wr(IER, 0x05); /* RLSI | RDI */
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(IIR), 0xc6); /* line status outranks data */
	CHECK_EQ(rd(LSR) & 0x03, 0x03);
	CHECK_EQ(rd(IIR), 0xc4);     /* 16 >= trigger 1 */
	CHECK_EQ(rd(LSR) & 0x02, 0); /* OE cleared by the read */
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(rd(RX), i); /* the 17th byte was the one lost */
	CHECK_EQ(rd(IIR), 0xc1);
	CHECK_EQ(irq.level, 0);

	/* Without FIFOs the second loopback byte overruns. */
	wr(FCR, 0);
	wr(RX, 1);
	wr(RX, 2);
	CHECK_EQ(rd(LSR) & 0x03, 0x03);
	CHECK_EQ(rd(RX), 1);
	teardown();
}

static void test_irq_rx(void)
{
	uint8_t b = 'k';

	setup();
	wr(FCR, 0xc1); /* trigger level 14 */
	CHECK_EQ(serial8250_rx(&uart, &b, 1), 1);
	CHECK_EQ(irq.level, 0); /* IER not enabled */
	CHECK_EQ(rd(IIR), 0xc1);
	wr(IER, 0x01);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(IIR), 0xcc); /* below trigger: character timeout */
	CHECK_EQ(rd(RX), 'k');
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(IIR), 0xc1);
	for (unsigned i = 0; i < 14; i++)
		CHECK_EQ(serial8250_rx(&uart, &b, 1), 1);
	CHECK_EQ(rd(IIR), 0xc4);
	wr(IER, 0);
	CHECK_EQ(irq.level, 0);
	teardown();
}

static void test_irq_thre(void)
{
	uint8_t iir1, iir;

	setup();
	wr(FCR, 0x01);
	/* Enabling ETBEI with THR empty raises THRE at once. */
	wr(IER, 0x02);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(IIR), 0xc2);
	/* Reading IIR while THRE is the source acknowledged it. */
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(IIR), 0xc1);
	/* The transmitter drains instantly, so a THR write re-raises it. */
	wr(RX, 'a');
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(IIR), 0xc2);
	CHECK_EQ(irq.level, 0);
	/* Rewriting IER with ETBEI still set is not an edge. */
	wr(IER, 0x02);
	CHECK_EQ(irq.level, 0);
	wr(IER, 0);
	wr(RX, 'b');
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(IIR), 0xc1);

	/* serial8250_do_startup's UART_BUG_THRE test. */
	wr(IER, 0x02);
	iir1 = rd(IIR);
	wr(IER, 0);
	wr(IER, 0x02);
	iir = rd(IIR);
	wr(IER, 0);
	CHECK_EQ(iir1 & 1, 0);
	CHECK_EQ(iir & 1, 0);
	/* ... and its UART_BUG_TXEN test. */
	wr(IER, 0x02);
	CHECK_EQ(rd(LSR) & 0x40, 0x40);
	CHECK_EQ(rd(IIR) & 1, 0);
	wr(IER, 0);
	CHECK_EQ(irq.level, 0);

	/* Data outranks THRE; THRE is not acknowledged by an IIR read that reported data. */
	uint8_t b = 'z';
	wr(IER, 0x03);
	CHECK_EQ(serial8250_rx(&uart, &b, 1), 1);
	CHECK_EQ(rd(IIR), 0xc4);
	CHECK_EQ(rd(RX), 'z');
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(IIR), 0xc2);
	CHECK_EQ(irq.level, 0);
	teardown();
}

static void test_irq_msi(void)
{
	setup();
	CHECK_EQ(rd(MSR), 0xb0);
	wr(IER, 0x08);
	CHECK_EQ(irq.level, 0);
	wr(MCR, 0x10); /* loopback with all outputs low: DCD, DSR, CTS drop */
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(IIR), 0x00);
	CHECK_EQ(rd(MSR), 0x0b);
	CHECK_EQ(irq.level, 0);
	wr(MCR, 0x10 | 0x04); /* OUT1 -> RI */
	CHECK_EQ(rd(MSR), 0x40);
	wr(MCR, 0x10); /* RI trailing edge */
	CHECK_EQ(rd(MSR), 0x04);
	wr(MCR, 0x1f);
	CHECK_EQ(rd(MSR), 0xf0 | 0x0b);
	CHECK_EQ(irq.level, 0);
	wr(IER, 0);
	teardown();
}

static void test_irq_priority(void)
{
	uint8_t b = 1;

	setup();
	wr(FCR, 0x01);
	wr(MCR, 0x10);
	CHECK_EQ(serial8250_rx(&uart, &b, 1), 0);
	for (unsigned i = 0; i < 17; i++)
		wr(RX, 0x55);
	wr(MCR, 0x12); /* CTS change: a modem status delta */
	wr(IER, 0x0f);
	CHECK_EQ(rd(IIR), 0xc6);
	rd(LSR);
	CHECK_EQ(rd(IIR), 0xc4);
	for (unsigned i = 0; i < 16; i++)
		rd(RX);
	CHECK_EQ(rd(IIR), 0xc2);
	CHECK_EQ(rd(IIR), 0xc0);
	rd(MSR);
	CHECK_EQ(rd(IIR), 0xc1);
	CHECK_EQ(irq.level, 0);
	teardown();
}

static void test_dlab(void)
{
	uint8_t b = 'q';
	uint16_t w = 0x0201;

	setup();
	CHECK_EQ(serial8250_rx(&uart, &b, 1), 1);
	wr(IER, 0x01);
	wr(LCR, 0x83);
	wr(0, 0x01);
	wr(1, 0x00);
	CHECK_EQ(rd(0), 0x01);
	CHECK_EQ(rd(1), 0x00);
	serial8250_bus_ops.write(&uart, 0, &w, 2); /* outw: DLL then DLM */
	CHECK_EQ(rd(0), 0x01);
	CHECK_EQ(rd(1), 0x02);
	CHECK_EQ(txd.n, 0);
	wr(LCR, 0x03);
	CHECK_EQ(rd(IER), 0x01);
	CHECK_EQ(rd(LCR), 0x03);
	CHECK_EQ(rd(RX), 'q'); /* divisor accesses neither consumed nor sent data */
	teardown();
}

static void test_wide_access(void)
{
	uint8_t buf[8];

	setup();
	wr(SCR, 0x5a);
	/* A 4-byte read at offset 6 sees MSR and SCR; the bytes past port 7 keep the bus fill. */
	memset(buf, 0xff, sizeof(buf));
	serial8250_bus_ops.read(&uart, 6, buf, 4);
	CHECK_EQ(buf[0], 0xb0);
	CHECK_EQ(buf[1], 0x5a);
	CHECK_EQ(buf[2], 0xff);
	CHECK_EQ(buf[3], 0xff);
	memset(buf, 0xff, sizeof(buf));
	serial8250_bus_ops.read(&uart, 0, buf, 8);
	CHECK_EQ(buf[5], 0x60);
	CHECK_EQ(buf[7], 0x5a);
	teardown();
}

static void test_hostile(void)
{
	static const unsigned lens[] = { 0, 1, 2, 4, 8 };
	static const uint64_t offs[] = { 8, 9, 100, 0x7fffffff, UINT64_MAX - 3, UINT64_MAX };
	uint8_t buf[8];

	setup();
	for (unsigned round = 0; round < 4; round++)
		for (unsigned off = 0; off < 8; off++)
			for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				memset(buf, (int)(round * 0x55 + off), sizeof(buf));
				serial8250_bus_ops.write(&uart, off, buf, lens[l]);
				memset(buf, 0xff, sizeof(buf));
				serial8250_bus_ops.read(&uart, off, buf, lens[l]);
				for (unsigned i = 8 - off; i < lens[l]; i++)
					CHECK_EQ(buf[i], 0xff);
			}
	/* Offsets outside the device touch nothing. */
	wr(LCR, 0);
	wr(SCR, 0x42);
	for (unsigned o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
		for (unsigned l = 1; l < sizeof(lens) / sizeof(lens[0]); l++) {
			memset(buf, 0xa5, sizeof(buf));
			serial8250_bus_ops.write(&uart, offs[o], buf, lens[l]);
			serial8250_bus_ops.read(&uart, offs[o], buf, lens[l]);
			for (unsigned i = 0; i < lens[l]; i++)
				CHECK_EQ(buf[i], 0xa5);
		}
	CHECK_EQ(rd(SCR), 0x42);
	/* Whatever state the guest left, the device still works. */
	wr(MCR, 0);
	wr(FCR, 0x07);
	wr(IER, 0);
	txd.n = 0;
	wr(RX, '!');
	CHECK_EQ(txd.n, 1);
	CHECK_EQ(irq.level, 0);
	teardown();
}

static unsigned ready_calls;

static void on_ready(void *opaque)
{
	(void)opaque;
	ready_calls++;
}

static void test_rx_ready(void)
{
	uint8_t in[32] = { 0 };

	setup();
	ready_calls = 0;
	serial8250_set_rx_ready(&uart, on_ready, NULL);
	wr(FCR, 0x01);
	CHECK_EQ(serial8250_rx(&uart, in, 16), 16);
	rd(RX);
	CHECK_EQ(ready_calls, 0); /* nobody was refused */
	CHECK_EQ(serial8250_rx(&uart, in, 4), 1);
	rd(LSR);
	CHECK_EQ(ready_calls, 0);
	rd(RX);
	CHECK_EQ(ready_calls, 1);
	rd(RX);
	CHECK_EQ(ready_calls, 1); /* once per refusal */

	/* Loopback refuses input; leaving it calls back. */
	wr(MCR, 0x10);
	CHECK_EQ(serial8250_rx_space(&uart), 0);
	wr(SCR, 1);
	CHECK_EQ(ready_calls, 1);
	wr(MCR, 0);
	CHECK_EQ(ready_calls, 2);
	teardown();
}

/* The tx callback runs unlocked, so it may feed input straight back (an echoing backend). */
static void echo_tx(void *opaque, uint8_t byte)
{
	serial8250_rx(opaque, &byte, 1);
}

static void test_tx_unlocked(void)
{
	struct irq_line line = { 0 };

	CHECK_EQ(serial8250_init(&uart, &line, echo_tx, &uart), 0);
	wr(FCR, 0x01);
	wr(RX, 'e');
	CHECK_EQ(rd(RX), 'e');
	serial8250_destroy(&uart);
	CHECK_EQ(serial8250_init(&uart, NULL, NULL, NULL), 0);
	wr(RX, 'e');
	serial8250_destroy(&uart);
}

static void *input_thread(void *arg)
{
	uint8_t b = 'r';
	unsigned *sent = arg;

	while (*sent < 20000)
		*sent += (unsigned)serial8250_rx(&uart, &b, 1);
	return NULL;
}

static void test_threads(void)
{
	pthread_t t;
	unsigned sent = 0, got = 0;

	setup();
	wr(FCR, 0x01);
	wr(IER, 0x0f);
	CHECK_EQ(pthread_create(&t, NULL, input_thread, &sent), 0);
	while (got < 20000) {
		if (rd(LSR) & 1) {
			CHECK_EQ(rd(RX), 'r');
			got++;
		}
		rd(IIR);
	}
	pthread_join(t, NULL);
	CHECK_EQ(sent, 20000);
	CHECK_EQ(rd(LSR) & 1, 0);
	teardown();
}

/* ---- snapshot ---- */

static struct serial8250 uart2;
static struct fake_irq irq2;
static struct fake_tx txd2;

static void setup2(void)
{
	struct irq_line line = { .set = fake_irq_set, .opaque = &irq2, .gsi = 4 };

	memset(&irq2, 0, sizeof(irq2));
	memset(&txd2, 0, sizeof(txd2));
	CHECK_EQ(serial8250_init(&uart2, &line, fake_tx_byte, &txd2), 0);
}

static uint8_t rd_on(struct serial8250 *s, unsigned off)
{
	uint8_t v = 0xff;

	serial8250_bus_ops.read(s, off, &v, 1);
	return v;
}

static void wr_on(struct serial8250 *s, unsigned off, uint8_t v)
{
	serial8250_bus_ops.write(s, off, &v, 1);
}

/*
 * Loopback FIFO wrapped round its end and overrun, trigger level 8, DLAB latch programmed,
 * modem deltas unread, THRE latched: IIR reports the overrun and the line is up.
 */
static void serial_busy_state(void)
{
	wr(LCR, 0x80);
	wr(0, 0x01); /* DLL: 115200 baud */
	wr(1, 0x00);
	wr(LCR, 0x1b); /* 8E1 */
	wr(FCR, 0x87); /* FIFOs on, both cleared, trigger 8 */
	wr(MCR, 0x1a); /* LOOP | OUT2 | RTS: DSR drops, a delta left unread */
	for (unsigned i = 0; i < 18; i++)
		wr(RX, (uint8_t)(0x40 + i)); /* two overrun */
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(rd(RX), 0x40 + i);
	for (unsigned i = 0; i < 3; i++)
		wr(RX, (uint8_t)(0x60 + i)); /* 14 queued from index 5: wraps */
	wr(SCR, 0x5a);
	wr(IER, 0x0f);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(uart.rx_head, 5);
	CHECK_EQ(uart.rx_count, 14);
}

/* Every read a driver could make next, and the line after each: what a restore must preserve. */
static unsigned serial_probe(struct serial8250 *s, const struct fake_irq *f, uint8_t *out)
{
	unsigned n = 0;
	uint8_t lcr;

	out[n++] = rd_on(s, IIR);
	out[n++] = (uint8_t)f->level;
	out[n++] = rd_on(s, LSR);
	out[n++] = rd_on(s, IIR);
	out[n++] = rd_on(s, MSR);
	out[n++] = rd_on(s, MSR);
	out[n++] = (uint8_t)f->level;
	lcr = rd_on(s, LCR);
	out[n++] = lcr;
	out[n++] = rd_on(s, MCR);
	out[n++] = rd_on(s, SCR);
	out[n++] = rd_on(s, IER);
	wr_on(s, LCR, lcr | 0x80);
	out[n++] = rd_on(s, 0);
	out[n++] = rd_on(s, 1);
	wr_on(s, LCR, lcr);
	for (unsigned i = 0; i < 18; i++) {
		out[n++] = rd_on(s, RX);
		out[n++] = rd_on(s, LSR);
		out[n++] = rd_on(s, IIR);
		out[n++] = (uint8_t)f->level;
	}
	wr_on(s, RX, 0x99);
	out[n++] = rd_on(s, IIR);
	out[n++] = rd_on(s, RX);
	wr_on(s, MCR, 0);
	out[n++] = rd_on(s, MSR);
	out[n++] = (uint8_t)f->level;
	return n;
}

static void test_snapshot_round_trip(void)
{
	const struct state_target st = state_target_bus(&serial8250_bus_ops, &uart),
				  st2 = state_target_bus(&serial8250_bus_ops, &uart2);
	struct state_blob saved;
	uint8_t want[128], got[128];
	unsigned n, n2;

	CHECK(serial8250_bus_ops.save == serial8250_save);
	CHECK(serial8250_bus_ops.load == serial8250_load);
	CHECK(!serial8250_bus_ops.state_shared);
	setup();
	serial_busy_state();
	state_check_save(&st, &saved);
	state_check_header(&saved, STATE_TAG('U', 'A', 'R', 'T'), 34);

	setup2();
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	/* The restored registers imply a pending interrupt: the fresh line is raised once. */
	CHECK_EQ(irq2.level, 1);
	CHECK_EQ(irq2.sets, 1);
	CHECK(state_check_same(&st2, &saved));

	n = serial_probe(&uart, &irq, want);
	n2 = serial_probe(&uart2, &irq2, got);
	CHECK_EQ(n, n2);
	CHECK(!memcmp(want, got, n));
	CHECK_EQ(txd.n, txd2.n);
	/* Some of what was compared: the overrun, then the 14 bytes in order across the wrap. */
	CHECK_EQ(want[0], 0xc6);
	CHECK_EQ(want[2] & 0x03, 0x03);
	CHECK_EQ(want[13], 0x45);
	CHECK_EQ(want[13 + 4 * 13], 0x62);
	CHECK_EQ(want[13 + 4 * 14], 0); /* then empty */
	CHECK_EQ(irq2.redundant, 0);
	state_blob_free(&saved);
	serial8250_destroy(&uart2);
	teardown();

	/* A quiet state loaded over a busy device lowers its line. */
	setup2();
	setup();
	serial_busy_state();
	state_check_save(&st2, &saved);
	CHECK_EQ(state_check_load(&st, &saved), 0);
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(IIR), 0x01);
	CHECK_EQ(rd(LSR), 0x60);
	state_blob_free(&saved);
	serial8250_destroy(&uart2);
	teardown();
}

/* Offsets in a save of the version 1 layout (serial8250.h): the body follows the section header.
 */
enum {
	SER_IER = STATE_CHECK_HDR + 0,
	SER_FCR = STATE_CHECK_HDR + 1,
	SER_MCR = STATE_CHECK_HDR + 3,
	SER_LSR_ERR = STATE_CHECK_HDR + 7,
	SER_MSR = STATE_CHECK_HDR + 8,
	SER_THR = STATE_CHECK_HDR + 9,
	SER_HEAD = STATE_CHECK_HDR + 10,
	SER_COUNT = STATE_CHECK_HDR + 14,
};

static void test_snapshot_hostile(void)
{
	const struct state_target st = state_target_bus(&serial8250_bus_ops, &uart),
				  st2 = state_target_bus(&serial8250_bus_ops, &uart2);
	struct state_blob good, before;
	unsigned sets;

	setup();
	serial_busy_state();
	state_check_save(&st, &good);
	teardown();

	/* A device in another state, which every refused load must leave as it is. */
	setup();
	wr(SCR, 0x11);
	wr(IER, 0x02);
	CHECK_EQ(irq.level, 1);
	sets = irq.sets;
	state_check_save(&st, &before);
	state_check_hostile(&st, &good);

	state_check_rejects_field(&st, &good, SER_IER, 0x1f, 1, "IER");
	state_check_rejects_field(&st, &good, SER_FCR, 0x02, 1, "FCR bits with FIFOs off");
	state_check_rejects_field(&st, &good, SER_FCR, 0x87, 1, "FCR clear bits stored");
	state_check_rejects_field(&st, &good, SER_MCR, 0x3a, 1, "MCR");
	state_check_rejects_field(&st, &good, SER_LSR_ERR, 0x08, 1, "LSR framing error");
	state_check_rejects_field(&st, &good, SER_MSR, 0xb0, 1, "MSR lines not looped back");
	state_check_rejects_field(&st, &good, SER_THR, 2, 1, "boolean 2");
	state_check_rejects_field(&st, &good, SER_THR, 0xff, 1, "boolean 0xff");
	state_check_rejects_field(&st, &good, SER_HEAD, 16, 4, "head 16");
	state_check_rejects_field(&st, &good, SER_HEAD, UINT32_MAX, 4, "head 2^32-1");
	state_check_rejects_field(&st, &good, SER_COUNT, 17, 4, "count 17");
	state_check_rejects_field(&st, &good, SER_COUNT, 0x80000000u, 4, "count 2^31");
	{
		/* FIFOs off: the receiver holds one byte at most. */
		struct state_blob off = state_blob_copy(&good);

		state_blob_put(&off, SER_FCR, 0, 1);
		state_blob_put(&off, SER_COUNT, 1, 4);
		setup2();
		state_check_accepts_field(&st2, &off, SER_COUNT, 1, 4, "one byte with FIFOs off");
		serial8250_destroy(&uart2);
		state_check_rejects_field(&st, &off, SER_COUNT, 2, 4, "two bytes with FIFOs off");
		state_blob_free(&off);
	}
	setup2();
	state_check_accepts_field(&st2, &good, SER_COUNT, 16, 4, "a full FIFO");
	serial8250_destroy(&uart2);

	/* Nothing reached the device or its line. */
	CHECK_EQ(irq.sets, sets);
	CHECK_EQ(rd(SCR), 0x11);
	CHECK_EQ(rd(IIR), 0x02); /* THRE, FIFOs off */
	state_blob_free(&before);
	state_blob_free(&good);
	teardown();
}

int main(void)
{
	RUN_TEST(test_linux_probe);
	RUN_TEST(test_scratch);
	RUN_TEST(test_tx);
	RUN_TEST(test_rx_fifo);
	RUN_TEST(test_overrun);
	RUN_TEST(test_irq_rx);
	RUN_TEST(test_irq_thre);
	RUN_TEST(test_irq_msi);
	RUN_TEST(test_irq_priority);
	RUN_TEST(test_dlab);
	RUN_TEST(test_wide_access);
	RUN_TEST(test_hostile);
	RUN_TEST(test_rx_ready);
	RUN_TEST(test_tx_unlocked);
	RUN_TEST(test_threads);
	RUN_TEST(test_snapshot_round_trip);
	RUN_TEST(test_snapshot_hostile);
	TEST_EXIT();
}
