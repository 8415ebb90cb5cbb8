/* libFuzzer target: random port accesses and Ctrl+Alt+Del presses against the 8042 + keyboard. */
#include "dev/i8042.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_line {
	int level;
};

static struct fuzz_line fuzz_kbd, fuzz_aux;

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fuzz_line *l = opaque;

	(void)gsi;
	if (level == l->level)
		abort(); /* the model promises to drive a line only on a change */
	l->level = level;
}

static void fuzz_power(void *opaque, enum power_event event, int status)
{
	(void)opaque;
	(void)status;
	if (event != POWER_RESET)
		abort(); /* the 8042 can only reset the machine */
}

/* Each op is 3 bytes: kind/len selector, offset, value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct power_sink sink = { .event = fuzz_power };
	struct irq_line kbd = { .set = fuzz_irq_set, .opaque = &fuzz_kbd, .gsi = 1 };
	struct irq_line aux = { .set = fuzz_irq_set, .opaque = &fuzz_aux, .gsi = 12 };
	struct i8042 k;
	uint8_t buf[8];

	log_set_level(LOG_ERROR);
	fuzz_kbd.level = fuzz_aux.level = 0;
	i8042_init(&k, &sink);
	i8042_set_irqs(&k, &kbd, &aux);
	for (size_t i = 0; i + 3 <= size; i += 3) {
		uint8_t op = data[i], arg = data[i + 1], val = data[i + 2];
		unsigned len = lens[(op >> 2) & 3];
		/* Mostly offset 0 (the port itself), sometimes past the 1-port range. */
		uint64_t off = (arg & 0x80) ? arg : 0;
		const struct bus_ops *ops = (op & 0x10) ? &i8042_cmd_ops : &i8042_data_ops;
		int ret;

		switch (op & 3) {
		case 0:
			memset(buf, 0xa5, sizeof(buf));
			ops->read(&k, off, buf, len);
			for (unsigned j = off ? 0 : 1; j < len; j++)
				if (buf[j] != 0xa5)
					abort(); /* wrote past its one port */
			break;
		case 1:
			memset(buf, val, sizeof(buf));
			ops->write(&k, off, buf, len);
			break;
		case 2:
			ret = i8042_send_ctrl_alt_del(&k);
			if (ret && ret != -EAGAIN && ret != -ENOSPC)
				abort();
			break;
		default:
			/* Drain like Linux's interrupt handler: status, then data, while OBF. */
			for (unsigned n = 0; n < (arg & 31u); n++) {
				uint8_t st = 0;

				i8042_cmd_ops.read(&k, 0, &st, 1);
				if (!(st & 1))
					break;
				i8042_data_ops.read(&k, 0, buf, 1);
			}
			break;
		}
		if (k.kbd_count > I8042_KBD_QUEUE_SIZE || k.kbd_head >= I8042_KBD_QUEUE_SIZE)
			abort();
		if (k.kbd_level != fuzz_kbd.level || k.aux_level != fuzz_aux.level)
			abort();
		/* A line is up only for a byte of its own side waiting, with its interrupt on. */
		if (fuzz_kbd.level && (!k.obf || k.obf_aux || !(k.ram[0] & 1)))
			abort();
		if (fuzz_aux.level && (!k.obf || !k.obf_aux || !(k.ram[0] & 2)))
			abort();
	}
	i8042_destroy(&k);
	return 0;
}
