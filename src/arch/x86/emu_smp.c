/* The CPUs of one --accel emu machine: the lock that runs one at a time, and IPI delivery. */
#include "arch/x86/emu_smp.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/emu_accel.h"
#include "dev/ioapic.h"

#define EMU_SMP_NO_CPU (~0u) /* the sender of an I/O APIC message */

void emu_smp_init(struct emu_smp *s, void (*wake)(void *opaque, unsigned index), void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->turn, NULL);
	s->wake = wake;
	s->opaque = opaque;
}

void emu_smp_destroy(struct emu_smp *s)
{
	pthread_cond_destroy(&s->turn);
	pthread_mutex_destroy(&s->m);
}

static void emu_smp_eoi(void *smp, uint8_t vector)
{
	struct emu_smp *s = smp;

	if (s->ioapic)
		ioapic_eoi(s->ioapic, vector);
}

int emu_smp_add(struct emu_smp *s, struct emu_accel *a)
{
	if (s->ncpus == EMU_SMP_MAX_CPUS)
		return -ENOSPC;
	s->cpu[s->ncpus++] = a;
	emu_accel_connect(a, emu_smp_ipi, emu_smp_eoi, s);
	return 0;
}

/* A ticket lock: a thread that unlocks and locks again queues behind the ones waiting. */
/* Line changes other threads asked for, into the I/O APIC: a pin that rose meanwhile gets its
 * edge (several coalesce, as on a wire sampled late), then every pin its last level. Lock held. */
static void emu_smp_drain(struct emu_smp *s)
{
	/* One word: a level and the rise that came with it are never seen apart. */
	uint64_t w = __atomic_fetch_and(&s->irq_lines, 0xffffffffull, __ATOMIC_ACQ_REL);
	uint32_t rises = (uint32_t)(w >> 32), levels = (uint32_t)w;

	if (!s->ioapic)
		return;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint32_t bit = 1u << pin;

		if (rises & bit) {
			ioapic_set_irq(s->ioapic, pin, 0);
			ioapic_set_irq(s->ioapic, pin, 1);
		}
		if ((s->ioapic->lines ^ levels) & bit)
			ioapic_set_irq(s->ioapic, pin, !!(levels & bit));
	}
}

void emu_smp_lock(struct emu_smp *s)
{
	uint64_t ticket;

	pthread_mutex_lock(&s->m);
	ticket = s->next++;
	while (ticket != s->serving)
		pthread_cond_wait(&s->turn, &s->m);
	__atomic_store_n(&s->owner, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&s->owned, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->m);
	emu_smp_drain(s);
}

bool emu_smp_owned(const struct emu_smp *s)
{
	return __atomic_load_n(&s->owned, __ATOMIC_ACQUIRE) &&
	       pthread_equal(__atomic_load_n(&s->owner, __ATOMIC_RELAXED), pthread_self());
}

void emu_smp_unlock(struct emu_smp *s)
{
	pthread_mutex_lock(&s->m);
	__atomic_store_n(&s->owned, 0, __ATOMIC_RELEASE);
	s->serving++;
	pthread_cond_broadcast(&s->turn);
	pthread_mutex_unlock(&s->m);
}

void emu_smp_ipi(void *smp, unsigned from, uint32_t icr_lo, uint32_t icr_hi)
{
	struct emu_smp *s = smp;
	unsigned mode = (icr_lo >> 8) & 7;

	for (unsigned i = 0; i < s->ncpus; i++) {
		if (!emu_accel_ipi_match(s->cpu[i], from, icr_lo, icr_hi))
			continue;
		emu_accel_ipi_receive(s->cpu[i], icr_lo);
		if (i != from && s->wake)
			s->wake(s->opaque, i);
		/* Lowest priority: one CPU of those named (the first; all have the same priority
		 * class as far as this machine arbitrates). */
		if (mode == 1)
			break;
	}
}

void emu_smp_message(void *smp, uint32_t lo, uint32_t hi)
{
	emu_smp_ipi(smp, EMU_SMP_NO_CPU, lo, hi);
}

void emu_smp_irq(struct emu_smp *s, unsigned gsi, int level)
{
	uint64_t bit = 1ull << gsi, old, new;

	if (!s->ioapic || gsi >= IOAPIC_PINS)
		return;
	old = __atomic_load_n(&s->irq_lines, __ATOMIC_ACQUIRE);
	do {
		if (level) /* a rise only from low; the drain clears the rise bits */
			new = old | bit | ((old & bit) ? 0 : bit << 32);
		else
			new = old & ~bit;
	} while (!__atomic_compare_exchange_n(&s->irq_lines, &old, new, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	if (emu_smp_owned(s))
		emu_smp_drain(s);
	else if (s->wake)
		s->wake(s->opaque, 0);
}
