/*
 * A local APIC in xAPIC mode (the 4 KiB register page at 0xfee00000) for a vCPU kvmbox runs itself
 * (--accel emu; under KVM the in-kernel LAPIC is used). No KVM inside: the vCPU asks it which
 * interrupt to take (lapic_pending, lapic_accept) and when its timer next fires (lapic_deadline).
 * Implemented: ID, version, TPR/PPR, EOI, LDR/DFR, the spurious-vector register (software enable),
 * ISR/TMR/IRR, ESR, the six LVT entries, the timer (one-shot and periodic, divide configuration,
 * current count), and the ICR: with an ipi callback the machine delivers IPIs (lapic_ipi_match
 * says which APICs one reaches); without, this is the only CPU: fixed and NMI IPIs to itself (by
 * shorthand, physical or logical destination), INIT and SIPI accepted and dropped. Not:
 * the TSC-deadline mode (not in CPUID), x2APIC, LINT0/LINT1 inputs (no PIC), error interrupts.
 */
#ifndef KVMBOX_DEV_LAPIC_H
#define KVMBOX_DEV_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "snapshot/state.h"

#define LAPIC_SIZE 0x1000

struct lapic {
	uint32_t id, tpr, ldr, dfr, svr, esr, icr_lo, icr_hi;
	uint32_t esr_pending; /* errors since the last ESR write, which latches them into esr */
	uint32_t lvt[6];      /* timer, thermal, perf, LINT0, LINT1, error (0x320 + 0x10 * i) */
	uint32_t timer_initial, timer_divide;
	uint64_t timer_start, timer_deadline; /* ns on the clock; deadline 0: not armed */
	uint32_t irr[8], isr[8], tmr[8];
	bool hw_enabled; /* IA32_APIC_BASE.EN */
	bool x2apic;	 /* IA32_APIC_BASE.EXTD: registers are MSRs, the MMIO page is off */
	uint32_t x2id;	 /* the x2APIC ID (the initial APIC ID) */
	/* The clock (ns) the timer counts, at 1 GHz before the divider; an NMI request (ICR). */
	uint64_t (*now)(void *opaque);
	void (*nmi)(void *opaque);
	void *opaque;
	/* Set after lapic_init on a machine with several CPUs: send the IPI an ICR write asks
	 * for (legal vector checked), to this APIC too if it matches. */
	void (*ipi)(void *opaque, uint32_t icr_lo, uint32_t icr_hi);
	/* Optional: the EOI of a level-triggered interrupt (TMR set), for the I/O APICs. */
	void (*eoi)(void *opaque, uint8_t vector);
};

/* Power-up state (enabled in IA32_APIC_BASE, software-disabled, every LVT masked). */
void lapic_init(struct lapic *l, uint32_t id, uint64_t (*now)(void *opaque),
		void (*nmi)(void *opaque), void *opaque);

/* Power-up state but the ID and IA32_APIC_BASE (an INIT signal). */
void lapic_reset(struct lapic *l);

/* Whether an IPI with this ICR (low, high) reaches l; self: l is the sender's APIC. */
bool lapic_ipi_match(const struct lapic *l, uint32_t icr_lo, uint32_t icr_hi, bool self);
/* A fixed interrupt arrives (an IPI, an I/O APIC): into the IRR, level-triggered or not into the
 * TMR; vectors 0-15 set ESR instead. */
void lapic_set_irr(struct lapic *l, uint8_t vector, bool level);

/* IA32_APIC_BASE.EN: clearing it resets the APIC to power-up state and hides it. */
void lapic_set_hw_enabled(struct lapic *l, bool on);
/* IA32_APIC_BASE.EN and EXTD together: -EINVAL for the transitions the SDM forbids (#GP). */
int lapic_set_mode(struct lapic *l, bool enabled, bool x2apic);

/*
 * x2APIC mode's MSRs 0x800-0x8ff (RDMSR, WRMSR): 0, or -EINVAL where the CPU raises #GP (not in
 * x2APIC mode, a reserved register, a write to a read-only one or a read of a write-only one,
 * non-zero reserved bits in EOI, ESR and SELF IPI writes).
 */
int lapic_msr_read(struct lapic *l, uint32_t index, uint64_t *value);
int lapic_msr_write(struct lapic *l, uint32_t index, uint64_t value);

/* An internal ICR-low bit (reserved in the register): the destination is ICR high's 32 bits (an
 * x2APIC sent it), not bits 31:24. */
#define LAPIC_ICR_X2APIC_DEST 0x80000000u

/* Record timer expiries up to now in the IRR (whatever the CPU's IF: the IRR holds them). */
void lapic_tick(struct lapic *l, uint64_t now);
/* The highest vector the CPU should take now (timer expiries at now folded in first), or -1. */
int lapic_pending(struct lapic *l, uint64_t now);
/* The CPU took vector (from lapic_pending): IRR -> ISR. */
void lapic_accept(struct lapic *l, uint8_t vector);
/* When the timer fires next (ns on the clock), or 0 when it is not armed. */
uint64_t lapic_deadline(const struct lapic *l);
/* The same, but 0 too when its expiry could not interrupt (masked, APIC disabled). */
uint64_t lapic_wake_deadline(const struct lapic *l);

/* CR8 in 64-bit mode is TPR[7:4]. */
uint8_t lapic_cr8(const struct lapic *l);
void lapic_set_cr8(struct lapic *l, uint8_t cr8);

extern const struct bus_ops lapic_bus_ops;

/* Snapshot section "LAPC", version 2: every register and the timer's remaining count, then
 * (new in 2) the x2APIC mode bit. Version 1 loads as xAPIC. */
#define LAPIC_STATE_TAG STATE_TAG('L', 'A', 'P', 'C')
#define LAPIC_STATE_VERSION 2
void lapic_save(const void *dev, struct state_writer *w);
int lapic_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

#endif
