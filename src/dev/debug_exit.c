/* isa-debug-exit model: a guest write becomes a POWER_DEBUG_EXIT request with an odd status. */
#include "dev/debug_exit.h"

#include <errno.h>
#include <string.h>

static void debug_exit_read(void *dev, uint64_t off, void *data, unsigned len)
{
	(void)dev;
	(void)off;
	memset(data, 0xff, len);
}

static void debug_exit_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct debug_exit *d = dev;
	const uint8_t *bytes = data;
	uint64_t v = 0;

	(void)off; /* QEMU ignores the offset too */
	if (!len)
		return;
	if (len > sizeof(v))
		len = sizeof(v);
	for (unsigned i = 0; i < len; i++) /* little-endian, independent of the host's order */
		v |= (uint64_t)bytes[i] << (8 * i);
	/* Masked here rather than by exit(): the status the VM logs is the one the shell sees. */
	power_request(&d->power, POWER_DEBUG_EXIT, (int)(((v << 1) | 1) & 0xff));
}

void debug_exit_save(const void *dev, struct state_writer *w)
{
	(void)dev;
	state_section_begin(w, DEBUG_EXIT_STATE_TAG, DEBUG_EXIT_STATE_VERSION);
	state_section_end_write(w);
}

int debug_exit_load(void *dev, struct state_reader *r)
{
	uint32_t version;

	(void)dev;
	state_section_begin_read(r, DEBUG_EXIT_STATE_TAG, DEBUG_EXIT_STATE_VERSION, &version);
	return state_section_end(r) ? -EINVAL : 0;
}

const struct bus_ops debug_exit_bus_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
	.save = debug_exit_save,
	.load = debug_exit_load,
};

void debug_exit_init(struct debug_exit *d, const struct power_sink *power)
{
	memset(d, 0, sizeof(*d));
	if (power)
		d->power = *power;
}
