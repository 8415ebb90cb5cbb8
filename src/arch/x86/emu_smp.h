/*
 * The CPUs of one --accel emu machine and its interrupt fabric. One CPU runs at a time: each vCPU
 * thread holds the machine's lock for a slice of instructions (emu_smp_lock/unlock, first come,
 * first served, so no CPU starves), which makes the guest's locked instructions atomic and lets
 * the local APICs, the I/O APIC and devices be used without more locking. IPIs go from the
 * sender's local APIC to every APIC its ICR names (emu_smp_ipi), I/O APIC messages likewise
 * (emu_smp_message), and EOIs of level-triggered interrupts back to the I/O APIC; the target's
 * thread is woken through the wake callback. No KVM inside.
 */
#ifndef KVMBOX_X86_EMU_SMP_H
#define KVMBOX_X86_EMU_SMP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define EMU_SMP_MAX_CPUS 255 /* xAPIC IDs; 0xff is the broadcast */

struct emu_accel;
struct ioapic;

struct emu_smp {
	pthread_mutex_t m;
	pthread_cond_t turn;
	uint64_t next, serving; /* tickets: the holder is serving, the next caller gets next */
	pthread_t owner;	/* the holder, while owned (atomic) */
	int owned;
	unsigned ncpus;
	struct emu_accel *cpu[EMU_SMP_MAX_CPUS];
	/* Wake CPU index's thread (it may be halted, or waiting for a SIPI): any thread. */
	void (*wake)(void *opaque, unsigned index);
	void *opaque;
	struct ioapic *ioapic; /* NULL: none */
	/*
	 * Line changes from threads that do not hold the lock (device I/O threads, which may
	 * hold a device's own lock that a running vCPU wants: taking the machine's lock there
	 * could deadlock): the levels asked for and the rising edges since, per pin, applied
	 * by the next holder of the lock. Atomic.
	 */
	uint64_t irq_lines; /* bits 31:0 the levels asked for, 63:32 rises since the last drain */
};

void emu_smp_init(struct emu_smp *s, void (*wake)(void *opaque, unsigned index), void *opaque);
void emu_smp_destroy(struct emu_smp *s);

/* CPU n (its APIC ID is n): join the machine, its IPIs routed through it. -ENOSPC when full. */
int emu_smp_add(struct emu_smp *s, struct emu_accel *a) __attribute__((warn_unused_result));

void emu_smp_lock(struct emu_smp *s);
void emu_smp_unlock(struct emu_smp *s);
/* Whether the calling thread holds the lock (a device raising an interrupt from a vCPU's access
 * does; one from an I/O thread does not). */
bool emu_smp_owned(const struct emu_smp *s);

/* An IPI from CPU from (its ICR, low and high words) to every CPU it names. Lock held. */
void emu_smp_ipi(void *smp, unsigned from, uint32_t icr_lo, uint32_t icr_hi);
/* An I/O APIC's message, in the same format (no shorthand, no sender). Lock held. */
void emu_smp_message(void *smp, uint32_t lo, uint32_t hi);
/* Interrupt line gsi of the I/O APIC, from any thread: at once when the caller holds the lock,
 * else by the next holder (CPU 0's thread is woken for it). */
void emu_smp_irq(struct emu_smp *s, unsigned gsi, int level);

#endif
