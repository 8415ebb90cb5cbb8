/* Local APIC (xAPIC) model for vCPUs kvmbox runs itself: registers, timer, IPIs. */
#include "dev/lapic.h"

#include <errno.h>
#include <string.h>

#define LAPIC_VERSION 0x00050014u /* version 0x14, six LVT entries */
#define LAPIC_SVR_ENABLE 0x100u
#define LAPIC_LVT_MASK 0x10000u
#define LAPIC_LVT_PERIODIC 0x20000u
#define LAPIC_LVT_TIMER 0
#define LAPIC_ESR_RECV_ILLEGAL 0x40u
#define LAPIC_ESR_SEND_ILLEGAL 0x20u
/* ICR low: vector, delivery mode, destination mode, level, trigger, shorthand. */
#define LAPIC_ICR_BITS 0x000ccfffu
#define LAPIC_X2APIC_MSR 0x800u

/* Writable bits of each LVT entry (delivery status and remote IRR are the APIC's). */
static const uint32_t lapic_lvt_bits[6] = {
	0x300ff,	  /* timer: vector, mask, periodic (no TSC-deadline) */
	0x107ff, 0x107ff, /* thermal, perf: vector, delivery mode, mask */
	0x1a7ff, 0x1a7ff, /* LINT0/1: vector, mode, polarity, trigger, mask */
	0x100ff,	  /* error: vector, mask */
};

/* Power-up values of every register but the ID (SDM vol. 3, 10.4.7.1); INIT does the same. */
void lapic_reset(struct lapic *l)
{
	l->tpr = l->ldr = l->esr = l->esr_pending = l->icr_lo = l->icr_hi = 0;
	l->timer_initial = l->timer_divide = 0;
	l->timer_start = l->timer_deadline = 0;
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	for (unsigned i = 0; i < 6; i++)
		l->lvt[i] = LAPIC_LVT_MASK;
}

void lapic_init(struct lapic *l, uint32_t id, uint64_t (*now)(void *opaque),
		void (*nmi)(void *opaque), void *opaque)
{
	memset(l, 0, sizeof(*l));
	l->id = id << 24;
	l->x2id = id;
	l->hw_enabled = true;
	l->now = now;
	l->nmi = nmi;
	l->opaque = opaque;
	lapic_reset(l);
}

void lapic_set_hw_enabled(struct lapic *l, bool on)
{
	if (!on) {
		lapic_reset(l);
		l->x2apic = false;
	}
	l->hw_enabled = on;
}

int lapic_set_mode(struct lapic *l, bool enabled, bool x2apic)
{
	/* Invalid (SDM vol. 3, 10.12.5): EXTD without EN, x2APIC back to xAPIC, disabled straight
	 * to x2APIC. */
	if ((x2apic && !enabled) || (l->x2apic && enabled && !x2apic) || (!l->hw_enabled && x2apic))
		return -EINVAL;
	lapic_set_hw_enabled(l, enabled);
	l->x2apic = x2apic;
	return 0;
}

static int lapic_highest(const uint32_t bits[8])
{
	for (int w = 7; w >= 0; w--)
		if (bits[w])
			return w * 32 + 31 - __builtin_clz(bits[w]);
	return -1;
}

static uint32_t lapic_ppr(const struct lapic *l)
{
	int isrv = lapic_highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

/* A fixed interrupt arrives: into the IRR, its trigger mode into the TMR (vectors 0-15 are
 * illegal: the ESR says so). */
void lapic_set_irr(struct lapic *l, uint8_t vector, bool level)
{
	if (vector < 16) {
		l->esr_pending |= LAPIC_ESR_RECV_ILLEGAL;
		return;
	}
	l->irr[vector / 32] |= 1u << (vector % 32);
	if (level)
		l->tmr[vector / 32] |= 1u << (vector % 32);
	else
		l->tmr[vector / 32] &= ~(1u << (vector % 32));
}

static uint64_t lapic_divisor(const struct lapic *l)
{
	uint32_t d = ((l->timer_divide & 8) >> 1) | (l->timer_divide & 3);

	return d == 7 ? 1 : 2ull << d;
}

static uint32_t lapic_current_count(const struct lapic *l, uint64_t now)
{
	uint64_t elapsed;

	if (!l->timer_deadline || !l->timer_initial)
		return 0;
	elapsed = (now - l->timer_start) / lapic_divisor(l);
	if (l->lvt[LAPIC_LVT_TIMER] & LAPIC_LVT_PERIODIC)
		return l->timer_initial - (uint32_t)(elapsed % l->timer_initial);
	return elapsed >= l->timer_initial ? 0 : l->timer_initial - (uint32_t)elapsed;
}

/* Arm the timer for count ticks from now (0: stop). */
static void lapic_timer_arm(struct lapic *l, uint64_t now, uint32_t count)
{
	uint64_t period = (uint64_t)l->timer_initial * lapic_divisor(l);

	if (!count) {
		l->timer_deadline = 0;
		return;
	}
	l->timer_deadline = now + (uint64_t)count * lapic_divisor(l);
	l->timer_start = l->timer_deadline - period;
	if (!l->timer_deadline)
		l->timer_deadline = 1;
}

/* Timer expiries up to now: the LVT's vector into the IRR (one for any number missed, as the IRR
 * holds one bit); periodic timers re-arm, one-shot ones stop. */
void lapic_tick(struct lapic *l, uint64_t now)
{
	uint32_t lvt = l->lvt[LAPIC_LVT_TIMER];

	if (!l->timer_deadline || now < l->timer_deadline)
		return;
	if (!(lvt & LAPIC_LVT_MASK))
		lapic_set_irr(l, (uint8_t)lvt, false);
	if (!(lvt & LAPIC_LVT_PERIODIC)) {
		l->timer_deadline = 0;
		l->timer_start = now - (uint64_t)l->timer_initial * lapic_divisor(l);
		return;
	}
	/* The next period from the deadline just passed, or from now if more than one was missed.
	 */
	lapic_timer_arm(l, l->timer_deadline, l->timer_initial);
	if (l->timer_deadline <= now)
		lapic_timer_arm(l, now, l->timer_initial);
}

int lapic_pending(struct lapic *l, uint64_t now)
{
	int v;

	lapic_tick(l, now);
	if (!l->hw_enabled || !(l->svr & LAPIC_SVR_ENABLE))
		return -1;
	v = lapic_highest(l->irr);
	if (v < 0 || ((uint32_t)v & 0xf0) <= (lapic_ppr(l) & 0xf0))
		return -1;
	return v;
}

void lapic_accept(struct lapic *l, uint8_t vector)
{
	l->irr[vector / 32] &= ~(1u << (vector % 32));
	l->isr[vector / 32] |= 1u << (vector % 32);
}

uint64_t lapic_deadline(const struct lapic *l)
{
	return l->timer_deadline;
}

uint64_t lapic_wake_deadline(const struct lapic *l)
{
	if (!l->hw_enabled || !(l->svr & LAPIC_SVR_ENABLE) ||
	    (l->lvt[LAPIC_LVT_TIMER] & LAPIC_LVT_MASK))
		return 0;
	return l->timer_deadline;
}

uint8_t lapic_cr8(const struct lapic *l)
{
	return (uint8_t)((l->tpr >> 4) & 0xf);
}

void lapic_set_cr8(struct lapic *l, uint8_t cr8)
{
	l->tpr = (uint32_t)(cr8 & 0xf) << 4;
}

/* x2APIC mode's logical ID: the cluster (ID bits 31:4) in 31:16, one bit per member in 15:0. */
static uint32_t lapic_x2apic_ldr(const struct lapic *l)
{
	return (l->x2id >> 4) << 16 | 1u << (l->x2id & 0xf);
}

bool lapic_ipi_match(const struct lapic *l, uint32_t lo, uint32_t hi, bool self)
{
	bool wide = lo & LAPIC_ICR_X2APIC_DEST;
	uint32_t dest = wide ? hi : hi >> 24, logical_id = l->ldr >> 24;

	switch ((lo >> 18) & 3) {
	case 1: /* self */
		return self;
	case 2: /* all including self */
		return true;
	case 3: /* all excluding self */
		return !self;
	default:
		break;
	}
	if (!l->hw_enabled)
		return false;
	if (dest == (wide ? 0xffffffffu : 0xffu)) /* broadcast, physical or logical */
		return true;
	if (l->x2apic) {
		uint32_t ldr = lapic_x2apic_ldr(l);

		if (!(lo & 0x800))
			return dest == l->x2id;
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	}
	if (dest > 0xff)
		return false; /* an x2APIC ID an xAPIC cannot have */
	if (!(lo & 0x800))    /* physical */
		return dest == (l->id >> 24);
	if ((l->dfr >> 28) == 0xf) /* logical, flat model */
		return (dest & logical_id) != 0;
	/* cluster model: the high nibble picks the cluster, the low one the members */
	return (dest >> 4) == (logical_id >> 4) && (dest & logical_id & 0xf);
}

static void lapic_send_ipi(struct lapic *l)
{
	if ((l->icr_lo & 0x700) <= 0x100 && (uint8_t)l->icr_lo < 16) {
		l->esr_pending |= LAPIC_ESR_SEND_ILLEGAL; /* a fixed IPI with vector 0-15 */
		if (lapic_ipi_match(l, l->icr_lo, l->icr_hi, true))
			l->esr_pending |= LAPIC_ESR_RECV_ILLEGAL;
		return;
	}
	if (l->ipi) {
		/* The machine delivers it, to us too; an x2APIC's destination is all of ICR high.
		 */
		l->ipi(l->opaque, l->icr_lo | (l->x2apic ? LAPIC_ICR_X2APIC_DEST : 0), l->icr_hi);
		return;
	}
	if (!lapic_ipi_match(l, l->icr_lo | (l->x2apic ? LAPIC_ICR_X2APIC_DEST : 0), l->icr_hi,
			     true))
		return; /* INIT/SIPI/IPIs to other CPUs: there are none */
	switch ((l->icr_lo >> 8) & 7) {
	case 0: /* fixed */
	case 1: /* lowest priority */
		lapic_set_irr(l, (uint8_t)l->icr_lo, l->icr_lo & 0x8000);
		break;
	case 4:
		if (l->nmi)
			l->nmi(l->opaque);
		break;
	default: /* SMI, INIT, SIPI to itself: nothing a lone CPU does with them */
		break;
	}
}

static uint32_t lapic_reg_read(struct lapic *l, unsigned reg)
{
	if (reg >= 0x100 && reg < 0x280) {
		const uint32_t *bank = reg < 0x180 ? l->isr : reg < 0x200 ? l->tmr : l->irr;

		return bank[(reg & 0x7f) >> 4];
	}
	if (reg >= 0x320 && reg <= 0x370)
		return l->lvt[(reg - 0x320) >> 4];
	switch (reg) {
	case 0x20:
		return l->id;
	case 0x30:
		return LAPIC_VERSION;
	case 0x80:
		return l->tpr;
	case 0xa0:
		return lapic_ppr(l);
	case 0xd0:
		return l->ldr;
	case 0xe0:
		return l->dfr;
	case 0xf0:
		return l->svr;
	case 0x280:
		return l->esr;
	case 0x300:
		return l->icr_lo; /* delivery status 0: sent at once */
	case 0x310:
		return l->icr_hi;
	case 0x380:
		return l->timer_initial;
	case 0x390:
		return lapic_current_count(l, l->now(l->opaque));
	case 0x3e0:
		return l->timer_divide;
	default:
		return 0; /* APR, RRD, EOI and reserved registers read 0 */
	}
}

static void lapic_reg_write(struct lapic *l, unsigned reg, uint32_t v)
{
	uint64_t now;
	int isrv;

	if (reg >= 0x320 && reg <= 0x370) {
		unsigned i = (reg - 0x320) >> 4;

		l->lvt[i] = v & lapic_lvt_bits[i];
		if (!(l->svr & LAPIC_SVR_ENABLE))
			l->lvt[i] |= LAPIC_LVT_MASK;
		return;
	}
	switch (reg) {
	case 0x20:
		l->id = v & 0xff000000u;
		break;
	case 0x80:
		l->tpr = v & 0xff;
		break;
	case 0xb0: /* EOI: the highest in-service interrupt is done */
		isrv = lapic_highest(l->isr);
		if (isrv < 0)
			break;
		l->isr[isrv / 32] &= ~(1u << (isrv % 32));
		/* A level-triggered one: the I/O APICs hear of it (EOI broadcast). */
		if (((l->tmr[isrv / 32] >> (isrv % 32)) & 1) && l->eoi)
			l->eoi(l->opaque, (uint8_t)isrv);
		break;
	case 0xd0:
		l->ldr = v & 0xff000000u;
		break;
	case 0xe0:
		l->dfr = v | 0x0fffffffu;
		break;
	case 0xf0:
		l->svr = v & 0x3ff;
		if (!(l->svr & LAPIC_SVR_ENABLE))
			for (unsigned i = 0; i < 6; i++)
				l->lvt[i] |= LAPIC_LVT_MASK;
		break;
	case 0x280: /* a write latches the errors since the last one */
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		break;
	case 0x300:
		l->icr_lo = v & LAPIC_ICR_BITS;
		lapic_send_ipi(l);
		break;
	case 0x310:
		l->icr_hi = v & 0xff000000u;
		break;
	case 0x380:
		l->timer_initial = v;
		lapic_timer_arm(l, l->now(l->opaque), v);
		break;
	case 0x3e0:
		now = l->now(l->opaque);
		if (l->timer_deadline) {
			uint32_t left = lapic_current_count(l, now);

			l->timer_divide = v & 0xb;
			lapic_timer_arm(l, now, left);
		} else {
			l->timer_divide = v & 0xb;
		}
		break;
	default:
		break; /* read-only and reserved registers */
	}
}

/* Only aligned 32-bit accesses to a register's first dword mean anything; the rest read 0. */
static void lapic_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct lapic *l = dev;
	uint32_t v;

	/* Disabled in IA32_APIC_BASE, or in x2APIC mode, the page is not decoded: nothing answers
	 * (all ones). */
	memset(data, l->hw_enabled && !l->x2apic ? 0 : 0xff, len);
	if (!l->hw_enabled || l->x2apic || len != 4 || (off & 0xf) || off >= LAPIC_SIZE)
		return;
	lapic_tick(l, l->now(l->opaque)); /* an expiry is in the IRR before anyone looks */
	v = lapic_reg_read(l, (unsigned)off);
	memcpy(data, &v, 4);
}

static void lapic_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct lapic *l = dev;
	uint32_t v;

	if (!l->hw_enabled || l->x2apic || len != 4 || (off & 0xf) || off >= LAPIC_SIZE)
		return;
	lapic_tick(l,
		   l->now(l->opaque)); /* before a write re-arms, masks or re-divides the timer */
	memcpy(&v, data, 4);
	lapic_reg_write(l, (unsigned)off, v);
}

/* x2APIC registers: what the MSR at reg (the xAPIC offset) allows. */
enum { X2_RO = 1, X2_WO = 2, X2_RW = 3 };

static int lapic_x2apic_access(unsigned reg)
{
	if (reg >= 0x100 && reg < 0x280)
		return X2_RO; /* ISR, TMR, IRR */
	if (reg >= 0x320 && reg <= 0x370)
		return X2_RW; /* the LVT entries but CMCI */
	switch (reg) {
	case 0x20:  /* ID */
	case 0x30:  /* version */
	case 0xa0:  /* PPR */
	case 0xd0:  /* LDR */
	case 0x390: /* current count */
		return X2_RO;
	case 0xb0:  /* EOI */
	case 0x3f0: /* SELF IPI */
		return X2_WO;
	case 0x80:  /* TPR */
	case 0xf0:  /* SVR */
	case 0x280: /* ESR */
	case 0x300: /* ICR, all 64 bits */
	case 0x380: /* initial count */
	case 0x3e0: /* divide configuration */
		return X2_RW;
	default: /* DFR, ICR high, CMCI and the reserved ones */
		return 0;
	}
}

int lapic_msr_read(struct lapic *l, uint32_t index, uint64_t *value)
{
	unsigned reg = (index - LAPIC_X2APIC_MSR) << 4;

	if (!l->x2apic || index - LAPIC_X2APIC_MSR > 0xff || !(lapic_x2apic_access(reg) & X2_RO))
		return -EINVAL;
	lapic_tick(l, l->now(l->opaque));
	if (reg == 0x20)
		*value = l->x2id;
	else if (reg == 0xd0)
		*value = lapic_x2apic_ldr(l);
	else if (reg == 0x300)
		*value = (uint64_t)l->icr_hi << 32 | l->icr_lo;
	else
		*value = lapic_reg_read(l, reg);
	return 0;
}

int lapic_msr_write(struct lapic *l, uint32_t index, uint64_t value)
{
	unsigned reg = (index - LAPIC_X2APIC_MSR) << 4;

	if (!l->x2apic || index - LAPIC_X2APIC_MSR > 0xff || !(lapic_x2apic_access(reg) & X2_WO))
		return -EINVAL;
	/* Reserved bits: the upper half but ICR's, EOI's and ESR's value, SELF IPI's bits 31:8. */
	if ((reg != 0x300 && (value >> 32)) || ((reg == 0xb0 || reg == 0x280) && value) ||
	    (reg == 0x3f0 && (value & ~0xffull)))
		return -EINVAL;
	lapic_tick(l, l->now(l->opaque));
	if (reg == 0x3f0) {
		lapic_set_irr(l, (uint8_t)value, false); /* SELF IPI: a fixed IPI to itself */
	} else if (reg == 0x300) {
		l->icr_lo = (uint32_t)value & LAPIC_ICR_BITS;
		l->icr_hi = (uint32_t)(value >> 32);
		lapic_send_ipi(l);
	} else {
		lapic_reg_write(l, reg, (uint32_t)value);
	}
	return 0;
}

void lapic_save(const void *dev, struct state_writer *w)
{
	struct lapic *l = (struct lapic *)dev; /* a due expiry goes into the saved IRR */
	uint64_t now = l->now(l->opaque);

	lapic_tick(l, now);
	state_section_begin(w, LAPIC_STATE_TAG, LAPIC_STATE_VERSION);
	state_put_bool(w, l->hw_enabled);
	state_put_u32(w, l->id);
	state_put_u32(w, l->tpr);
	state_put_u32(w, l->ldr);
	state_put_u32(w, l->dfr);
	state_put_u32(w, l->svr);
	state_put_u32(w, l->esr);
	state_put_u32(w, l->esr_pending);
	state_put_u32(w, l->icr_lo);
	state_put_u32(w, l->icr_hi);
	for (unsigned i = 0; i < 6; i++)
		state_put_u32(w, l->lvt[i]);
	state_put_u32(w, l->timer_initial);
	state_put_u32(w, l->timer_divide);
	state_put_u32(w, l->timer_deadline ? lapic_current_count(l, now) : 0);
	for (unsigned i = 0; i < 8; i++) {
		state_put_u32(w, l->irr[i]);
		state_put_u32(w, l->isr[i]);
		state_put_u32(w, l->tmr[i]);
	}
	state_put_bool(w, l->x2apic);
	state_section_end_write(w);
}

int lapic_load(void *dev, struct state_reader *r)
{
	struct lapic *l = dev, n = *l;
	uint32_t version, left;

	state_section_begin_read(r, LAPIC_STATE_TAG, LAPIC_STATE_VERSION, &version);
	n.hw_enabled = state_get_bool(r);
	n.id = state_get_u32(r) & 0xff000000u;
	n.tpr = state_get_u32(r) & 0xff;
	n.ldr = state_get_u32(r) & 0xff000000u;
	n.dfr = state_get_u32(r) | 0x0fffffffu;
	n.svr = state_get_u32(r) & 0x3ff;
	n.esr = state_get_u32(r);
	n.esr_pending = state_get_u32(r);
	n.icr_lo = state_get_u32(r) & LAPIC_ICR_BITS;
	n.icr_hi = state_get_u32(r) & 0xff000000u;
	for (unsigned i = 0; i < 6; i++)
		n.lvt[i] = state_get_u32(r) & lapic_lvt_bits[i];
	n.timer_initial = state_get_u32(r);
	n.timer_divide = state_get_u32(r) & 0xb;
	left = state_get_u32(r);
	for (unsigned i = 0; i < 8; i++) {
		n.irr[i] = state_get_u32(r);
		n.isr[i] = state_get_u32(r);
		n.tmr[i] = state_get_u32(r);
	}
	n.x2apic = version >= 2 && state_get_bool(r);
	if (state_section_end(r))
		return -EINVAL;
	if (left > n.timer_initial) {
		state_reader_fail(r, "lapic: timer count above its initial count");
		return -EINVAL;
	}
	n.timer_deadline = 0;
	lapic_timer_arm(&n, l->now(l->opaque), left);
	/* What the registers could never hold: LVTs unmasked while software-disabled, state in a
	 * hardware-disabled APIC (which reset). */
	if (!(n.svr & LAPIC_SVR_ENABLE))
		for (unsigned i = 0; i < 6; i++)
			n.lvt[i] |= LAPIC_LVT_MASK;
	if (!n.hw_enabled) {
		lapic_reset(&n);
		n.x2apic = false;
	}
	*l = n;
	return 0;
}

const struct bus_ops lapic_bus_ops = {
	.read = lapic_read,
	.write = lapic_write,
	.save = lapic_save,
	.load = lapic_load,
};
