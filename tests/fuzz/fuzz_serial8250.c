/* libFuzzer target: random register accesses and host input against the 16550A model. */
#include "dev/serial8250.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static int fuzz_level;

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	if (level == fuzz_level)
		abort(); /* the model promises to drive the line only on a change */
	fuzz_level = level;
}

static void fuzz_tx(void *opaque, uint8_t byte)
{
	(void)opaque;
	(void)byte;
}

static void fuzz_ready(void *opaque)
{
	(void)opaque;
}

/* Each op is 3 bytes: kind/len selector, offset or count, value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct irq_line line = { .set = fuzz_irq_set };
	struct serial8250 s;
	uint8_t buf[32];

	log_set_level(LOG_ERROR);
	fuzz_level = 0;
	if (serial8250_init(&s, &line, fuzz_tx, NULL))
		return 0;
	serial8250_set_rx_ready(&s, fuzz_ready, NULL);
	for (size_t i = 0; i + 3 <= size; i += 3) {
		uint8_t op = data[i], arg = data[i + 1], val = data[i + 2];
		unsigned len = lens[(op >> 2) & 3];

		switch (op & 3) {
		case 0:
			memset(buf, 0xff, sizeof(buf));
			serial8250_bus_ops.read(&s, arg & 15, buf, len);
			for (unsigned j = 8 - (arg & 7); (arg & 15) < 8 && j < len; j++)
				if (buf[j] != 0xff)
					abort(); /* wrote past its 8 ports */
			break;
		case 1:
			memset(buf, val, sizeof(buf));
			serial8250_bus_ops.write(&s, arg & 15, buf, len);
			break;
		case 2:
			memset(buf, val, sizeof(buf));
			if (serial8250_rx(&s, buf, arg & 31) > (arg & 31u))
				abort();
			break;
		default:
			if (serial8250_rx_space(&s) > SERIAL8250_FIFO_SIZE)
				abort();
			break;
		}
		if (s.rx_count > SERIAL8250_FIFO_SIZE || s.rx_head >= SERIAL8250_FIFO_SIZE ||
		    s.irq_level != fuzz_level)
			abort();
	}
	serial8250_destroy(&s);
	return 0;
}
