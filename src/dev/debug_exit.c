/* isa-debug-exit model: a guest write becomes a POWER_DEBUG_EXIT request with an odd status. */
#include "dev/debug_exit.h"

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

const struct bus_ops debug_exit_bus_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

void debug_exit_init(struct debug_exit *d, const struct power_sink *power)
{
	memset(d, 0, sizeof(*d));
	if (power)
		d->power = *power;
}
