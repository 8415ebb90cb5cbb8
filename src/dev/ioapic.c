/* I/O APIC model: redirection table, edge and level pins, remote IRR and EOI. */
#include "dev/ioapic.h"

#include <errno.h>
#include <string.h>

#define IOAPIC_VERSION 0x00170011u /* 24 entries (max index 23), version 0x11 */
#define IOAPIC_ID_BITS 0x0f000000u

/* Redirection entry bits. */
#define RE_VECTOR 0xffull
#define RE_DELIVERY_STATUS (1ull << 12)
#define RE_POLARITY (1ull << 13) /* active low */
#define RE_REMOTE_IRR (1ull << 14)
#define RE_LEVEL (1ull << 15)
#define RE_MASK (1ull << 16)
/* What software may write: vector, delivery and destination mode, polarity, trigger, mask,
 * destination. */
#define RE_WRITABLE (0xff00000000000000ull | 0xfffull | RE_POLARITY | RE_LEVEL | RE_MASK)

void ioapic_init(struct ioapic *io, void (*send)(void *opaque, uint32_t lo, uint32_t hi),
		 void *opaque)
{
	memset(io, 0, sizeof(*io));
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->redir[i] = RE_MASK;
	io->send = send;
	io->opaque = opaque;
}

/* The callers' level is the line's assertion (as KVM_IRQ_LINE's): the entry's polarity says how
 * the wire is driven, which the interrupt source has already accounted for (KVM and QEMU do the
 * same). An active-low level pin would otherwise storm while idle. */
static bool ioapic_active(const struct ioapic *io, unsigned pin)
{
	return (io->lines >> pin) & 1;
}

static void ioapic_send(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];

	if (e & RE_LEVEL)
		io->redir[pin] |= RE_REMOTE_IRR; /* until the EOI */
	if (io->send)
		io->send(io->opaque, (uint32_t)(e & (RE_VECTOR | 0x700 | 0x800 | RE_LEVEL)),
			 (uint32_t)(e >> 32) & 0xff000000u);
}

/* A level-triggered pin that is active, unmasked and not waiting for an EOI sends. */
static void ioapic_service_level(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];

	if ((e & RE_LEVEL) && !(e & (RE_MASK | RE_REMOTE_IRR)) && ioapic_active(io, pin))
		ioapic_send(io, pin);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	bool was;

	if (pin >= IOAPIC_PINS)
		return;
	was = ioapic_active(io, pin);
	if (level)
		io->lines |= 1u << pin;
	else
		io->lines &= ~(1u << pin);
	if (io->redir[pin] & RE_LEVEL)
		ioapic_service_level(io, pin);
	else if (!was && ioapic_active(io, pin) && !(io->redir[pin] & RE_MASK))
		ioapic_send(io, pin); /* an edge while masked is lost, as on the chip */
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->redir[pin];

		if (!(e & RE_LEVEL) || !(e & RE_REMOTE_IRR) || (e & RE_VECTOR) != vector)
			continue;
		io->redir[pin] &= ~RE_REMOTE_IRR;
		ioapic_service_level(io, pin);
	}
}

static uint32_t ioapic_reg_read(const struct ioapic *io)
{
	unsigned pin = (io->sel - 0x10) / 2;

	switch (io->sel) {
	case 0x00:
		return io->id;
	case 0x01:
		return IOAPIC_VERSION;
	case 0x02:
		return io->id; /* arbitration ID */
	default:
		if (io->sel >= 0x10 && pin < IOAPIC_PINS)
			return (uint32_t)(io->redir[pin] >> (io->sel & 1 ? 32 : 0));
		return 0;
	}
}

static void ioapic_reg_write(struct ioapic *io, uint32_t v)
{
	unsigned pin = (io->sel - 0x10) / 2;
	uint64_t e, keep;

	if (io->sel == 0x00) {
		io->id = v & IOAPIC_ID_BITS;
		return;
	}
	if (io->sel < 0x10 || pin >= IOAPIC_PINS)
		return; /* version, arbitration: read-only */
	e = io->redir[pin];
	if (io->sel & 1)
		e = (e & 0xffffffffull) | (uint64_t)v << 32;
	else
		e = (e & ~0xffffffffull) | v;
	keep = io->redir[pin] & RE_REMOTE_IRR;
	io->redir[pin] = (e & RE_WRITABLE) | keep;
	if (!(io->redir[pin] & RE_LEVEL))
		io->redir[pin] &= ~RE_REMOTE_IRR; /* edge entries have no remote IRR */
	/* Unmasked (or made level-triggered) with its line active: it sends now. */
	ioapic_service_level(io, pin);
}

static void ioapic_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct ioapic *io = dev;
	uint32_t v = 0;

	memset(data, 0, len);
	if (len != 4)
		return;
	if (off == 0x00)
		v = io->sel;
	else if (off == 0x10)
		v = ioapic_reg_read(io);
	memcpy(data, &v, 4);
}

static void ioapic_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct ioapic *io = dev;
	uint32_t v;

	if (len != 4)
		return;
	memcpy(&v, data, 4);
	if (off == 0x00)
		io->sel = v & 0xff;
	else if (off == 0x10)
		ioapic_reg_write(io, v);
}

static void ioapic_save(const void *dev, struct state_writer *w)
{
	const struct ioapic *io = dev;

	state_section_begin(w, IOAPIC_STATE_TAG, IOAPIC_STATE_VERSION);
	state_put_u32(w, io->id);
	state_put_u32(w, io->sel);
	state_put_u32(w, io->lines);
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		state_put_u64(w, io->redir[i]);
	state_section_end_write(w);
}

static int ioapic_load(void *dev, struct state_reader *r)
{
	struct ioapic *io = dev, n = *io;
	uint32_t version;

	state_section_begin_read(r, IOAPIC_STATE_TAG, IOAPIC_STATE_VERSION, &version);
	n.id = state_get_u32(r) & IOAPIC_ID_BITS;
	n.sel = state_get_u32(r) & 0xff;
	n.lines = state_get_u32(r) & ((1u << IOAPIC_PINS) - 1);
	for (unsigned i = 0; i < IOAPIC_PINS; i++) {
		n.redir[i] = state_get_u64(r) & (RE_WRITABLE | RE_REMOTE_IRR);
		if (!(n.redir[i] & RE_LEVEL))
			n.redir[i] &= ~RE_REMOTE_IRR;
	}
	if (state_section_end(r))
		return -EINVAL;
	*io = n;
	return 0;
}

const struct bus_ops ioapic_bus_ops = {
	.read = ioapic_read,
	.write = ioapic_write,
	.save = ioapic_save,
	.load = ioapic_load,
};
