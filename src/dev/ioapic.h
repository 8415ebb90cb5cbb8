/*
 * An I/O APIC (82093AA-style, version 0x11, 24 pins) for machines kvmbox runs itself (--accel
 * emu; under KVM the in-kernel one is used). Registers through IOREGSEL (0x00) and IOWIN (0x10):
 * the ID (bits 27:24 writable), the version, the arbitration ID (the ID, read-only) and the 24
 * redirection entries. A pin's line (ioapic_set_irq: asserted or not, whatever the entry's
 * polarity, as under KVM) becomes an interrupt message, edge-triggered
 * on its rising edge, level-triggered while it is active and the entry's remote IRR is clear; the
 * local APIC's EOI of that vector (ioapic_eoi) clears remote IRR and re-sends a line still active.
 * Messages leave as (low, high) words in the local APIC's ICR format, which the machine delivers.
 * No KVM inside.
 */
#ifndef KVMBOX_DEV_IOAPIC_H
#define KVMBOX_DEV_IOAPIC_H

#include <stdint.h>

#include "bus.h"
#include "snapshot/state.h"

#define IOAPIC_SIZE 0x1000
#define IOAPIC_PINS 24

struct ioapic {
	uint32_t id; /* bits 27:24 */
	uint32_t sel;
	uint64_t redir[IOAPIC_PINS];
	uint32_t lines; /* bit n: pin n's input is high */
	/* An interrupt message: low = vector | delivery mode << 8 | destination mode << 11 |
	 * level-triggered << 15, high = destination << 24. */
	void (*send)(void *opaque, uint32_t lo, uint32_t hi);
	void *opaque;
};

/* Reset state: ID 0, every entry masked. */
void ioapic_init(struct ioapic *io, void (*send)(void *opaque, uint32_t lo, uint32_t hi),
		 void *opaque);
/* Pin pin's input line (pins past the last are ignored). */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* A local APIC's EOI of a level-triggered vector. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

extern const struct bus_ops ioapic_bus_ops;

/* Snapshot section "IOAP", version 1: ID, IOREGSEL, the entries and the line levels. */
#define IOAPIC_STATE_TAG STATE_TAG('I', 'O', 'A', 'P')
#define IOAPIC_STATE_VERSION 1

#endif
