/* isa-debug-exit compatible port (0xf4): lets a test guest end kvmbox with a chosen status. */
#ifndef KVMBOX_DEV_DEBUG_EXIT_H
#define KVMBOX_DEV_DEBUG_EXIT_H

#include "bus.h"
#include "dev/power.h"
#include "snapshot/state.h"

/* QEMU's usual "-device isa-debug-exit,iobase=0xf4,iosize=0x04": register 4 ports. */
#define DEBUG_EXIT_NR_PORTS 4

/*
 * A write of v (1, 2, 4 or 8 bytes, at any offset in the range) requests POWER_DEBUG_EXIT with
 * status ((v << 1) | 1) & 0xff: process exit statuses are 8 bits, so only v's low 7 bits count
 * (v = 0x80 exits 1, like v = 0), and the status is always odd, never the 0 of a clean poweroff.
 * Reads return all-ones, as if nothing were there.
 */
struct debug_exit {
	struct power_sink power;
};

void debug_exit_init(struct debug_exit *d, const struct power_sink *power);

extern const struct bus_ops debug_exit_bus_ops;

/*
 * Snapshot section "DBGX", version 1: empty (the port has no state), so that a snapshot still
 * names every device it was taken with.
 */
#define DEBUG_EXIT_STATE_TAG STATE_TAG('D', 'B', 'G', 'X')
#define DEBUG_EXIT_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct debug_exit. */
void debug_exit_save(const void *dev, struct state_writer *w);
int debug_exit_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

#endif
