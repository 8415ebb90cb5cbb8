/* A 16550A UART as Linux's 8250 driver probes and drives it (COM1 on x86). */
#ifndef KVMBOX_DEV_SERIAL8250_H
#define KVMBOX_DEV_SERIAL8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"
#include "snapshot/state.h"

#define SERIAL8250_NR_PORTS 8 /* register with bus_add(..., SERIAL8250_NR_PORTS, ...) */
#define SERIAL8250_FIFO_SIZE 16

/*
 * Transmission is instantaneous: THR is always empty, so LSR.THRE/TEMT always read 1 and a THR
 * write re-raises the THRE interrupt at once (a real UART would after the shift register drains).
 * Host input is flow-controlled instead of lost: serial8250_rx() takes only what fits and the
 * caller keeps the rest, so OE is only ever set by loopback writes into a full FIFO.
 */
struct serial8250 {
	pthread_mutex_t lock;
	struct irq_line irq;
	void (*tx)(void *opaque, uint8_t byte);
	void *tx_opaque;
	void (*rx_ready)(void *opaque);
	void *rx_ready_opaque;

	uint8_t rx_fifo[SERIAL8250_FIFO_SIZE];
	unsigned rx_head;  /* index of the oldest byte */
	unsigned rx_count; /* bytes in rx_fifo; at most 1 while FIFOs are disabled */
	bool rx_blocked;   /* the host was refused input: call rx_ready once space appears */

	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr_err;  /* latched LSR error bits (OE); cleared by reading LSR */
	uint8_t msr;	  /* modem status lines (high nibble) and deltas (low nibble) */
	bool thr_pending; /* THRE interrupt latched; qualified by IER.ETBEI */
	bool irq_level;	  /* last level driven on irq, so the line is only set on a change */
};

/*
 * tx receives every byte the guest transmits outside loopback. It is called on the vCPU thread
 * without s->lock held, so it may block or call serial8250_rx(). Bytes from one vCPU keep their
 * order; writers on different vCPUs are ordered only if the guest serialises them (Linux does).
 * Returns 0 or a negative errno.
 */
int serial8250_init(struct serial8250 *s, const struct irq_line *irq,
		    void (*tx)(void *opaque, uint8_t byte), void *tx_opaque)
    __attribute__((warn_unused_result));
void serial8250_destroy(struct serial8250 *s);

/* Offsets 0-7 relative to the base port; wider accesses act on consecutive registers. */
extern const struct bus_ops serial8250_bus_ops;

/* Host input, from any thread. Returns the number of bytes accepted (fewer when full). */
size_t serial8250_rx(struct serial8250 *s, const uint8_t *buf, size_t len);
/* Bytes serial8250_rx() would accept now (0 in loopback mode, where the input line is cut). */
size_t serial8250_rx_space(struct serial8250 *s);

/*
 * Snapshot section "UART", version 1 (little-endian): u8 IER, FCR, LCR, MCR, SCR, DLL, DLM, the
 * latched LSR errors (OE only), MSR (lines, which must match MCR, and deltas); bool THRE pending;
 * u32 RX head (< 16); u32 RX count (<= 16, <= 1 with FIFOs off); the 16 RX FIFO bytes. The IRQ
 * level is not saved: load re-drives the line from the registers. Whether the host was refused
 * input (rx_ready) belongs to the host side, so load keeps the device's own.
 */
#define SERIAL8250_STATE_TAG STATE_TAG('U', 'A', 'R', 'T')
#define SERIAL8250_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct serial8250. */
void serial8250_save(const void *dev, struct state_writer *w);
int serial8250_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

/*
 * Optional: ready(opaque) is called (on a vCPU thread, without s->lock) once space appears after
 * serial8250_rx() or serial8250_rx_space() found none, so an input thread can stop polling.
 */
void serial8250_set_rx_ready(struct serial8250 *s, void (*ready)(void *opaque), void *opaque);

#endif
