/* Port-I/O and MMIO bus: overlap-rejecting registration, binary-search dispatch, access counters.
 */
#include "bus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/state.h"

#define BUS_STATE_TAG STATE_TAG('B', 'U', 'S', ' ')
#define BUS_RANGE_TAG STATE_TAG('R', 'A', 'N', 'G')
#define BUS_STATE_VERSION 1

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

static bool bus_range_has_state(const struct bus_range *r)
{
	return !r->ops->state_shared;
}

static unsigned bus_state_count(const struct bus *bus)
{
	unsigned n = 0;

	for (unsigned i = 0; i < bus->nranges; i++)
		n += bus_range_has_state(&bus->ranges[i]);
	return n;
}

int bus_save(const struct bus *bus, struct state_writer *w)
{
	for (unsigned i = 0; i < bus->nranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (bus_range_has_state(r) && (!r->ops->save || !r->ops->load))
			return -EOPNOTSUPP; /* a device that cannot be snapshotted */
	}
	state_section_begin(w, BUS_STATE_TAG, BUS_STATE_VERSION);
	state_put_u32(w, bus_state_count(bus));
	state_section_end_write(w);
	for (unsigned i = 0; i < bus->nranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (!bus_range_has_state(r))
			continue;
		state_section_begin(w, BUS_RANGE_TAG, BUS_STATE_VERSION);
		state_put_u64(w, r->base);
		state_put_u64(w, r->len);
		state_section_end_write(w);
		r->ops->save(r->dev, w);
	}
	return state_writer_result(w);
}

int bus_load(struct bus *bus, struct state_reader *r, char *err, size_t errlen)
{
	uint32_t version, n;
	int ret;

	state_section_begin_read(r, BUS_STATE_TAG, BUS_STATE_VERSION, &version);
	n = state_get_u32(r);
	ret = state_section_end(r);
	if (ret) {
		snprintf(err, errlen, "%s bus state: %s", bus->name, r->why ? r->why : "malformed");
		return ret;
	}
	if (n != bus_state_count(bus)) {
		snprintf(err, errlen,
			 "the snapshot has %" PRIu32 " devices on the %s bus, this VM %u", n,
			 bus->name, bus_state_count(bus));
		return -EINVAL;
	}
	for (unsigned i = 0; i < bus->nranges; i++) {
		struct bus_range *range = &bus->ranges[i];
		uint64_t base, len;

		if (!bus_range_has_state(range))
			continue;
		if (!range->ops->load) {
			snprintf(err, errlen, "%s at 0x%" PRIx64 " cannot load a state",
				 range->name, range->base);
			return -EOPNOTSUPP;
		}
		state_section_begin_read(r, BUS_RANGE_TAG, BUS_STATE_VERSION, &version);
		base = state_get_u64(r);
		len = state_get_u64(r);
		ret = state_section_end(r);
		if (!ret && (base != range->base || len != range->len)) {
			snprintf(err, errlen,
				 "the snapshot has a device at 0x%" PRIx64 " (+0x%" PRIx64
				 ") where this VM has %s at 0x%" PRIx64,
				 base, len, range->name, range->base);
			return -EINVAL;
		}
		if (!ret)
			ret = range->ops->load(range->dev, r);
		if (ret) {
			snprintf(err, errlen, "%s at 0x%" PRIx64 ": %s", range->name, range->base,
				 r->why ? r->why : strerror(-ret));
			return ret;
		}
	}
	return 0;
}
