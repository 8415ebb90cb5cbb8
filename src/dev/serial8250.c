/* 16550A UART model: registers, RX FIFO, loopback, interrupt priority, as Linux's 8250 expects. */
#include "dev/serial8250.h"

#include <errno.h>
#include <string.h>

/* Register offsets. With LCR.DLAB set, offsets 0 and 1 are the divisor latch instead. */
#define UART_RX 0  /* read: receive buffer */
#define UART_TX 0  /* write: transmit holding */
#define UART_DLL 0 /* DLAB: divisor latch low */
#define UART_IER 1
#define UART_DLM 1 /* DLAB: divisor latch high */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI 0x08  /* modem status */
#define UART_IER_MASK 0x0f /* no upper bits on a 16550A: Linux's probe checks */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_RX_TIMEOUT 0x0c
#define UART_IIR_FIFO_ENABLED 0xc0 /* both bits: what tells Linux this is a 16550A */

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_TRIGGER_MASK 0xc0
#define UART_FCR_STORED 0xc9 /* enable, DMA mode select and trigger level persist */

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_ERRORS 0x1e /* OE, PE, FE, BI: the receiver line status interrupt sources */
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_DELTAS 0x0f
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

/* What the work done under the lock leaves for the caller to do after unlocking. */
struct serial8250_deferred {
	int tx; /* byte to transmit, or -1 */
	void (*rx_ready)(void *opaque);
	void *rx_ready_opaque;
};

static unsigned serial8250_rx_capacity(const struct serial8250 *s)
{
	/* Without FIFOs the 16550A is a 16450: a single receive buffer register. */
	return (s->fcr & UART_FCR_ENABLE_FIFO) ? SERIAL8250_FIFO_SIZE : 1;
}

static unsigned serial8250_rx_trigger(const struct serial8250 *s)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };

	return levels[(s->fcr & UART_FCR_TRIGGER_MASK) >> 6];
}

static bool serial8250_loopback(const struct serial8250 *s)
{
	return s->mcr & UART_MCR_LOOP;
}

static uint8_t serial8250_iir(const struct serial8250 *s)
{
	uint8_t fifo = (s->fcr & UART_FCR_ENABLE_FIFO) ? UART_IIR_FIFO_ENABLED : 0;

	/* Highest priority first, as a 16550 resolves simultaneous sources. */
	if ((s->ier & UART_IER_RLSI) && (s->lsr_err & UART_LSR_ERRORS))
		return fifo | UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count) {
		/*
		 * Below the trigger level a real UART waits four character times before raising the
		 * timeout interrupt; we have no timer and no reason to delay, so it fires at once.
		 */
		if (fifo && s->rx_count < serial8250_rx_trigger(s))
			return fifo | UART_IIR_RX_TIMEOUT;
		return fifo | UART_IIR_RDI;
	}
	if ((s->ier & UART_IER_THRI) && s->thr_pending)
		return fifo | UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTAS))
		return fifo | UART_IIR_MSI;
	return fifo | UART_IIR_NO_INT;
}

/*
 * Called with the lock held so that set() calls reach the interrupt controller in state order.
 * OUT2 does not gate the line (as in QEMU): guests written against QEMU often leave it clear.
 */
static void serial8250_update_irq(struct serial8250 *s)
{
	bool level = !(serial8250_iir(s) & UART_IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

/* Modem status inputs: fixed "cable connected, peer ready" unless looped back to MCR. */
static uint8_t serial8250_msr_lines(uint8_t mcr)
{
	uint8_t lines = 0;

	if (!(mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (mcr & UART_MCR_RTS)
		lines |= UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		lines |= UART_MSR_DSR;
	if (mcr & UART_MCR_OUT1)
		lines |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		lines |= UART_MSR_DCD;
	return lines;
}

static void serial8250_update_msr(struct serial8250 *s)
{
	uint8_t old = s->msr & 0xf0, now = serial8250_msr_lines(s->mcr), changed = old ^ now;
	uint8_t deltas = 0;

	if (changed & UART_MSR_CTS)
		deltas |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		deltas |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		deltas |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI)) /* trailing edge only */
		deltas |= UART_MSR_TERI;
	s->msr = now | (s->msr & UART_MSR_DELTAS) | deltas;
}

static size_t serial8250_space_locked(struct serial8250 *s)
{
	if (serial8250_loopback(s))
		return 0; /* the receiver input is disconnected in loopback: hold host input back */
	return serial8250_rx_capacity(s) - s->rx_count;
}

static void serial8250_rx_push(struct serial8250 *s, uint8_t byte)
{
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL8250_FIFO_SIZE] = byte;
	s->rx_count++;
}

static void serial8250_rx_clear(struct serial8250 *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

static uint8_t serial8250_read_reg(struct serial8250 *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RX:
		if (s->lcr & UART_LCR_DLAB)
			return s->dll;
		if (!s->rx_count)
			return 0;
		v = s->rx_fifo[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SERIAL8250_FIFO_SIZE;
		s->rx_count--;
		return v;
	case UART_IER:
		return (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		v = serial8250_iir(s);
		/* Reading IIR acknowledges THRE, but only when it is the source being reported. */
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thr_pending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = UART_LSR_THRE | UART_LSR_TEMT | s->lsr_err | (s->rx_count ? UART_LSR_DR : 0);
		s->lsr_err = 0;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~UART_MSR_DELTAS;
		return v;
	default: /* UART_SCR */
		return s->scr;
	}
}

static void serial8250_write_fcr(struct serial8250 *s, uint8_t val)
{
	bool was = s->fcr & UART_FCR_ENABLE_FIFO, now = val & UART_FCR_ENABLE_FIFO;

	/* Changing the FIFO mode resets both FIFOs; the other bits only take with FIFOs enabled. */
	if (was != now)
		serial8250_rx_clear(s);
	if (!now) {
		s->fcr = 0;
		return;
	}
	if (val & UART_FCR_CLEAR_RCVR)
		serial8250_rx_clear(s);
	/* UART_FCR_CLEAR_XMIT: the transmit FIFO is always empty already. */
	s->fcr = val & UART_FCR_STORED;
}

static void serial8250_write_reg(struct serial8250 *s, unsigned reg, uint8_t val,
				 struct serial8250_deferred *later)
{
	uint8_t changed;

	switch (reg) {
	case UART_TX:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = val;
			break;
		}
		if (serial8250_loopback(s)) {
			/* Nothing holds this sender back: a full FIFO overruns. */
			if (s->rx_count < serial8250_rx_capacity(s))
				serial8250_rx_push(s, val);
			else
				s->lsr_err |= UART_LSR_OE;
		} else {
			later->tx = val;
		}
		/* The write clears THRE; the instant transmitter empties THR again at once. */
		s->thr_pending = true;
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = val;
			break;
		}
		changed = (s->ier ^ val) & UART_IER_MASK;
		s->ier = val & UART_IER_MASK;
		/*
		 * Enabling ETBEI while THR is empty raises THRE, and Linux's startup checks that it
		 * is raised again after disable+enable (UART_BUG_THRE), so re-arm on every 0->1.
		 */
		if (changed & UART_IER_THRI)
			s->thr_pending = s->ier & UART_IER_THRI;
		break;
	case UART_FCR:
		serial8250_write_fcr(s, val);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & UART_MCR_MASK;
		serial8250_update_msr(s);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only: writes are factory-test only on real parts */
	default:       /* UART_SCR */
		s->scr = val;
		break;
	}
}

/* Every access ends here: refresh the line and note whether a refused host can now be served. */
static void serial8250_finish_locked(struct serial8250 *s, struct serial8250_deferred *later)
{
	serial8250_update_irq(s);
	if (s->rx_blocked && serial8250_space_locked(s)) {
		s->rx_blocked = false;
		later->rx_ready = s->rx_ready;
		later->rx_ready_opaque = s->rx_ready_opaque;
	}
}

static void serial8250_run_deferred(struct serial8250 *s, const struct serial8250_deferred *later)
{
	/* tx is fixed at init; rx_ready was captured under the lock. */
	if (later->tx >= 0 && s->tx)
		s->tx(s->tx_opaque, (uint8_t)later->tx);
	if (later->rx_ready)
		later->rx_ready(later->rx_ready_opaque);
}

/*
 * On ISA a wide access is split into byte cycles at consecutive ports (as QEMU's .impl = 1 does):
 * byte i goes to register off + i, and bytes past the last port are left to the bus's fill.
 */
static void serial8250_bus_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct serial8250 *s = dev;
	struct serial8250_deferred later = { .tx = -1 };
	uint8_t *bytes = data;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < len && off < SERIAL8250_NR_PORTS - i; i++)
		bytes[i] = serial8250_read_reg(s, (unsigned)off + i);
	serial8250_finish_locked(s, &later);
	pthread_mutex_unlock(&s->lock);
	serial8250_run_deferred(s, &later);
}

static void serial8250_bus_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct serial8250 *s = dev;
	struct serial8250_deferred later = { .tx = -1 };
	const uint8_t *bytes = data;

	pthread_mutex_lock(&s->lock);
	/* Only offset 0 transmits, so one access yields at most one byte for later->tx. */
	for (unsigned i = 0; i < len && off < SERIAL8250_NR_PORTS - i; i++)
		serial8250_write_reg(s, (unsigned)off + i, bytes[i], &later);
	serial8250_finish_locked(s, &later);
	pthread_mutex_unlock(&s->lock);
	serial8250_run_deferred(s, &later);
}

const struct bus_ops serial8250_bus_ops = {
	.read = serial8250_bus_read,
	.write = serial8250_bus_write,
	.save = serial8250_save,
	.load = serial8250_load,
};

size_t serial8250_rx(struct serial8250 *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = serial8250_space_locked(s);
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		serial8250_rx_push(s, buf[i]);
	if (n < len)
		s->rx_blocked = true;
	serial8250_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial8250_rx_space(struct serial8250 *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = serial8250_space_locked(s);
	if (!n)
		s->rx_blocked = true;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial8250_set_rx_ready(struct serial8250 *s, void (*ready)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->rx_ready = ready;
	s->rx_ready_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

/* What a snapshot carries: read and checked whole before any of it reaches the device. */
struct serial8250_state {
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm, lsr_err, msr;
	bool thr_pending;
	uint32_t rx_head, rx_count;
	uint8_t rx_fifo[SERIAL8250_FIFO_SIZE];
};

void serial8250_save(const void *dev, struct state_writer *w)
{
	/* Locked: host input (serial8250_rx) does not stop when the VM pauses. */
	struct serial8250 *s = (struct serial8250 *)dev;

	pthread_mutex_lock(&s->lock);
	state_section_begin(w, SERIAL8250_STATE_TAG, SERIAL8250_STATE_VERSION);
	state_put_u8(w, s->ier);
	state_put_u8(w, s->fcr);
	state_put_u8(w, s->lcr);
	state_put_u8(w, s->mcr);
	state_put_u8(w, s->scr);
	state_put_u8(w, s->dll);
	state_put_u8(w, s->dlm);
	state_put_u8(w, s->lsr_err);
	state_put_u8(w, s->msr);
	state_put_bool(w, s->thr_pending);
	state_put_u32(w, s->rx_head);
	state_put_u32(w, s->rx_count);
	state_put_bytes(w, s->rx_fifo, sizeof(s->rx_fifo));
	state_section_end_write(w);
	pthread_mutex_unlock(&s->lock);
}

/* Registers that only ever hold what the write paths above can leave in them. */
static void serial8250_check_regs(struct state_reader *r, const struct serial8250_state *st)
{
	if (st->ier & ~UART_IER_MASK)
		state_reader_fail(r, "serial8250: IER bits a 16550A does not have");
	/* Either FIFOs off (all of FCR reads 0 then) or on, with only the stored bits. */
	if (st->fcr && (!(st->fcr & UART_FCR_ENABLE_FIFO) || (st->fcr & ~UART_FCR_STORED)))
		state_reader_fail(r, "serial8250: FCR value the UART cannot hold");
	if (st->mcr & ~UART_MCR_MASK)
		state_reader_fail(r, "serial8250: MCR bits a 16550A does not have");
	if (st->lsr_err & ~UART_LSR_OE)
		state_reader_fail(r, "serial8250: LSR error other than overrun");
	if ((st->msr & ~UART_MSR_DELTAS) != serial8250_msr_lines(st->mcr))
		state_reader_fail(r, "serial8250: MSR lines disagree with MCR");
}

int serial8250_load(void *dev, struct state_reader *r)
{
	struct serial8250 *s = dev;
	struct serial8250_state st;
	uint32_t version, capacity;

	state_section_begin_read(r, SERIAL8250_STATE_TAG, SERIAL8250_STATE_VERSION, &version);
	st.ier = state_get_u8(r);
	st.fcr = state_get_u8(r);
	st.lcr = state_get_u8(r);
	st.mcr = state_get_u8(r);
	st.scr = state_get_u8(r);
	st.dll = state_get_u8(r);
	st.dlm = state_get_u8(r);
	st.lsr_err = state_get_u8(r);
	st.msr = state_get_u8(r);
	serial8250_check_regs(r, &st);
	st.thr_pending = state_get_bool(r);
	st.rx_head = state_get_u32_below(r, SERIAL8250_FIFO_SIZE, "serial8250: RX FIFO head");
	/* With FIFOs off the receiver is the 16450's single holding register. */
	capacity = (st.fcr & UART_FCR_ENABLE_FIFO) ? SERIAL8250_FIFO_SIZE : 1;
	st.rx_count = state_get_u32_below(r, capacity + 1, "serial8250: RX FIFO count");
	state_get_bytes(r, st.rx_fifo, sizeof(st.rx_fifo));
	if (state_section_end(r))
		return -EINVAL;

	pthread_mutex_lock(&s->lock);
	s->ier = st.ier;
	s->fcr = st.fcr;
	s->lcr = st.lcr;
	s->mcr = st.mcr;
	s->scr = st.scr;
	s->dll = st.dll;
	s->dlm = st.dlm;
	s->lsr_err = st.lsr_err;
	s->msr = st.msr;
	s->thr_pending = st.thr_pending;
	s->rx_head = st.rx_head;
	s->rx_count = st.rx_count;
	memcpy(s->rx_fifo, st.rx_fifo, sizeof(s->rx_fifo));
	/* The line follows the restored registers (irq_level is what this line was last given). */
	serial8250_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int serial8250_init(struct serial8250 *s, const struct irq_line *irq,
		    void (*tx)(void *opaque, uint8_t byte), void *tx_opaque)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		return -err;
	if (irq)
		s->irq = *irq;
	s->tx = tx;
	s->tx_opaque = tx_opaque;
	s->dll = 0x0c; /* 9600 baud from the 1.8432 MHz clock, a typical firmware leftover */
	s->msr = serial8250_msr_lines(s->mcr);
	return 0;
}

void serial8250_destroy(struct serial8250 *s)
{
	pthread_mutex_destroy(&s->lock);
}
