/* Port-I/O and MMIO bus: overlap-rejecting registration, binary-search dispatch, access counters.
 */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name, uint8_t unclaimed_fill)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	bus->unclaimed_fill = unclaimed_fill;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nranges = bus->cap = 0;
}

int bus_add(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
	    const char *name)
{
	unsigned pos;

	if (!len || base + len - 1 < base || !ops || !ops->read || !ops->write)
		return -EINVAL;
	for (pos = 0; pos < bus->nranges && bus->ranges[pos].base < base; pos++)
		;
	/* Only the neighbours can overlap a sorted, non-overlapping list. */
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];

		if (prev->base + prev->len - 1 >= base)
			return -EBUSY;
	}
	if (pos < bus->nranges && base + len - 1 >= bus->ranges[pos].base)
		return -EBUSY;
	if (bus->nranges == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nranges - pos) * sizeof(*bus->ranges));
	bus->ranges[pos] =
	    (struct bus_range){ .base = base, .len = len, .ops = ops, .dev = dev, .name = name };
	bus->nranges++;
	return 0;
}

static struct bus_range *bus_lookup(const struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nranges;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	return bus_lookup(bus, addr);
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned len)
{
	struct bus_range *r = bus_lookup(bus, addr);

	/* Filled before dispatch, so a handler that ignores part of the access leaks no stale
	 * bytes. */
	memset(data, bus->unclaimed_fill, len);
	if (!r) {
		__atomic_fetch_add(&bus->unclaimed_reads, 1, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_fetch_add(&r->accesses, 1, __ATOMIC_RELAXED);
	r->ops->read(r->dev, addr - r->base, data, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned len)
{
	struct bus_range *r = bus_lookup(bus, addr);

	if (!r) {
		__atomic_fetch_add(&bus->unclaimed_writes, 1, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_fetch_add(&r->accesses, 1, __ATOMIC_RELAXED);
	r->ops->write(r->dev, addr - r->base, data, len);
	return true;
}
