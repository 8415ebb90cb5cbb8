/*
 * libFuzzer target: the I/O APIC model under any sequence of register accesses (any offset and
 * width in its window), line changes and EOIs, with its invariants checked after each: a message
 * comes only from an unmasked entry and carries its vector, delivery and destination mode and
 * trigger; a level-triggered entry that sent has remote IRR set, an edge-triggered one never has;
 * no line past the last pin; a save/load round trip keeps every register.
 */
#include <stdlib.h>
#include <string.h>

#include "dev/ioapic.h"
#include "log.h"

static struct ioapic *fuzz_io;
static int fuzz_pin; /* the pin being changed, or -1 */

static void fuzz_send(void *opaque, uint32_t lo, uint32_t hi)
{
	uint64_t e;

	(void)opaque;
	if (fuzz_pin < 0)
		return; /* an EOI or register write: checked by the sweep below */
	e = fuzz_io->redir[fuzz_pin];
	if ((e & 0x10000) || lo != (uint32_t)(e & 0x8fff) ||
	    hi != ((uint32_t)(e >> 32) & 0xff000000u))
		abort();
}

/* Each op is 6 bytes: kind, offset or pin, value (4). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct ioapic io;
	uint8_t buf[8];

	log_set_level(LOG_ERROR);
	ioapic_init(&io, fuzz_send, NULL);
	fuzz_io = &io;
	for (size_t i = 0; i + 6 <= size; i += 6) {
		uint8_t op = data[i];
		unsigned off = data[i + 1] & 0x1f ? data[i + 1] : 0x10;
		unsigned len = lens[(op >> 3) & 3];
		uint32_t v = data[i + 2] | (uint32_t)data[i + 3] << 8 |
			     (uint32_t)data[i + 4] << 16 | (uint32_t)data[i + 5] << 24;

		fuzz_pin = -1;
		switch (op & 7) {
		case 0:
			memset(buf, 0, sizeof(buf));
			ioapic_bus_ops.read(&io, off, buf, len);
			break;
		case 1:
		case 2:
			for (unsigned k = 0; k < sizeof(buf); k++)
				buf[k] = (uint8_t)(v >> (8 * (k & 3)));
			ioapic_bus_ops.write(&io, off & 0x10, buf, len);
			break;
		case 3:
		case 4:
			fuzz_pin = data[i + 1] % (IOAPIC_PINS + 2);
			if (fuzz_pin >= IOAPIC_PINS)
				fuzz_pin = -1;
			ioapic_set_irq(&io, data[i + 1] % (IOAPIC_PINS + 2), op & 0x80);
			if (fuzz_pin >= 0 && (io.redir[fuzz_pin] & 0x8000) &&
			    !(io.redir[fuzz_pin] & 0x10000) && ((io.lines >> fuzz_pin) & 1) &&
			    !(io.redir[fuzz_pin] & 0x4000))
				abort(); /* an active, unmasked level pin must be waiting for its
					    EOI */
			break;
		case 5:
			ioapic_eoi(&io, (uint8_t)v);
			break;
		default: {
			struct state_writer w;
			struct state_reader r;
			struct ioapic m;

			state_writer_init(&w);
			ioapic_bus_ops.save(&io, &w);
			ioapic_init(&m, NULL, NULL);
			state_reader_init(&r, w.buf, w.len);
			if (state_writer_result(&w) == 0 &&
			    (ioapic_bus_ops.load(&m, &r) || m.id != io.id || m.lines != io.lines ||
			     memcmp(m.redir, io.redir, sizeof(io.redir))))
				abort();
			state_writer_free(&w);
			break;
		}
		}
		if (io.lines >> IOAPIC_PINS)
			abort();
		for (unsigned p = 0; p < IOAPIC_PINS; p++)
			if (!(io.redir[p] & 0x8000) && (io.redir[p] & 0x4000))
				abort(); /* remote IRR on an edge entry */
	}
	return 0;
}
