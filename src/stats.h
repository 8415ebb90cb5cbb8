/* --stats: exits per reason and per device, and where vCPU time went, printed at exit. */
#ifndef KVMBOX_STATS_H
#define KVMBOX_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct vm;

/* Room for any name stats_exit_name returns ("reason4294967295"). */
#define STATS_EXIT_NAME_MAX 24

/*
 * The name of a KVM_EXIT_* reason, shared by --stats and the metrics: "io", "mmio", "hlt"...; a
 * reason without a name is formatted into buf as "reasonN" (buf returned).
 */
const char *stats_exit_name(unsigned reason, char *buf, size_t len);
/* The reason has a name of its own (metrics report those even at zero). */
bool stats_exit_named(unsigned reason);

void stats_print(const struct vm *vm, FILE *out);

#endif
