/*
 * libFuzzer target: the local APIC model under any sequence of register accesses (any offset and
 * width in its page, x2APIC MSRs), clock steps, interrupt acceptance and IA32_APIC_BASE changes
 * (EN, EXTD), with its invariants checked after each: a pending vector is legal and in the IRR,
 * ISR bits only come from accepted vectors, writes outside the page change nothing, a save/load
 * round trip keeps every register and the mode.
 */
#include <stdlib.h>
#include <string.h>

#include "dev/lapic.h"
#include "log.h"

static uint64_t fuzz_clock;

static uint64_t fuzz_now(void *opaque)
{
	(void)opaque;
	return fuzz_clock;
}

static void fuzz_nmi(void *opaque)
{
	(void)opaque;
}

static bool fuzz_irr(const struct lapic *l, int v)
{
	return (l->irr[v / 32] >> (v % 32)) & 1;
}

/* Each op is 6 bytes: kind, offset (2), value (3, repeated). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct lapic l;
	uint8_t buf[8];

	log_set_level(LOG_ERROR);
	fuzz_clock = 1u << 20;
	lapic_init(&l, 0, fuzz_now, fuzz_nmi, NULL);
	for (size_t i = 0; i + 6 <= size; i += 6) {
		uint8_t op = data[i];
		unsigned off = (data[i + 1] | (unsigned)data[i + 2] << 8) & 0x1fff;
		unsigned len = lens[(op >> 3) & 3];
		uint32_t v = data[i + 3] | (uint32_t)data[i + 4] << 8 |
			     (uint32_t)data[i + 5] << 16 | (uint32_t)data[i + 5] << 24;
		int pending;

		switch (op & 7) {
		case 0:
			memset(buf, 0, sizeof(buf));
			lapic_bus_ops.read(&l, off, buf, len);
			break;
		case 1: { /* an x2APIC MSR */
			uint64_t m;

			(void)lapic_msr_read(&l, 0x800 + (off & 0x1ff), &m);
			break;
		}
		case 2:
			for (unsigned k = 0; k < sizeof(buf); k++)
				buf[k] = (uint8_t)(v >> (8 * (k & 3)));
			lapic_bus_ops.write(&l, off, buf, len);
			break;
		case 3:
			(void)lapic_msr_write(&l, 0x800 + (off & 0x1ff),
					      (op & 0x80) ? (uint64_t)v << 32 | v : v);
			break;
		case 4:
			fuzz_clock += (uint64_t)v * ((op & 0x80) ? 1000 : 1);
			break;
		case 5:
			pending = lapic_pending(&l, fuzz_clock);
			if (pending >= 0) {
				if (pending < 16 || pending > 255 || !fuzz_irr(&l, pending))
					abort();
				lapic_accept(&l, (uint8_t)pending);
				if (fuzz_irr(&l, pending))
					abort();
			}
			break;
		case 6:
			if (op & 0x40)
				(void)lapic_set_mode(&l, op & 0x80, op & 0x20);
			else
				lapic_set_hw_enabled(&l, op & 0x80);
			break;
		default: {
			struct state_writer w;
			struct state_reader r;
			struct lapic m;

			state_writer_init(&w);
			lapic_save(&l, &w);
			lapic_init(&m, 0, fuzz_now, fuzz_nmi, NULL);
			state_reader_init(&r, w.buf, w.len);
			if (state_writer_result(&w) == 0 &&
			    (lapic_load(&m, &r) || m.tpr != l.tpr || m.svr != l.svr ||
			     m.x2apic != l.x2apic || memcmp(m.irr, l.irr, sizeof(l.irr)) ||
			     memcmp(m.isr, l.isr, sizeof(l.isr)) ||
			     memcmp(m.lvt, l.lvt, sizeof(l.lvt)) ||
			     m.timer_initial != l.timer_initial))
				abort();
			state_writer_free(&w);
			break;
		}
		}
		/* Vectors 0-15 never enter the IRR. */
		if (l.irr[0] & 0xffff)
			abort();
	}
	return 0;
}
