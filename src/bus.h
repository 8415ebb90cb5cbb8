/* One bus abstraction for port I/O and MMIO: sorted, non-overlapping ranges dispatched by address.
 */
#ifndef KVMBOX_BUS_H
#define KVMBOX_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer;
struct state_reader;

/*
 * A device's register file. off is relative to the registered base; len is 1, 2, 4 or 8.
 * Handlers run on vCPU threads (several at once on SMP): a device with state shared across
 * threads locks it itself. data is little-endian, as the guest sees it.
 */
struct bus_ops {
	void (*read)(void *dev, uint64_t off, void *data, unsigned len);
	void (*write)(void *dev, uint64_t off, const void *data, unsigned len);
	/*
	 * Snapshot hooks (src/snapshot/state.h). save writes the device's state as one section
	 * (a virtio transport: its own, then the virtio core's and the device model's, see
	 * virtio_dev_save); load reads it back into a device initialised the same way and
	 * returns 0, or -EINVAL with the device unchanged when the bytes are not a state this
	 * device can be in. Both run with the VM paused. Every bus_ops has both, or sets
	 * state_shared when another range of the same device carries its state (tests/lint.sh
	 * checks).
	 */
	void (*save)(const void *dev, struct state_writer *w);
	int (*load)(void *dev, struct state_reader *r);
	bool state_shared;
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
	const char *name;
	uint64_t accesses; /* statistics; updated with relaxed atomics */
};

struct bus {
	const char *name;
	struct bus_range *ranges; /* sorted by base */
	unsigned nranges;
	unsigned cap;
	uint8_t
	    unclaimed_fill; /* byte returned for reads nobody claims: 0xff for PIO, 0 for MMIO */
	uint64_t unclaimed_reads;
	uint64_t unclaimed_writes;
};

void bus_init(struct bus *bus, const char *name, uint8_t unclaimed_fill);
void bus_destroy(struct bus *bus);

/* Rejects zero length, wrap-around and any overlap with an existing range (-EINVAL / -EBUSY). */
int bus_add(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
	    const char *name) __attribute__((warn_unused_result));

/* Dispatch one access. Returns false when no device claims addr (reads are then filled). */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned len);

/* The range containing addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/*
 * Snapshot of every device on the bus, in address order: a "BUS " section (the bus's name and how
 * many ranges carry state), then per such range a "RANG" section (base, length) followed by what
 * the device's save hook writes. Ranges marked state_shared are skipped; a range without hooks
 * fails the save (-EOPNOTSUPP) rather than leave a device out. The VM must be paused.
 */
int bus_save(const struct bus *bus, struct state_writer *w) __attribute__((warn_unused_result));

/*
 * The reverse, into a bus built the same way (same devices at the same places): each device's
 * load is all-or-nothing, the bus's is not (a failure midway leaves earlier devices loaded: the
 * VM being restored is then discarded). -EINVAL with a one-line reason naming the device.
 */
int bus_load(struct bus *bus, struct state_reader *r, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
