/* --stats: exits per reason and per device, and where vCPU time went, printed at exit. */
#ifndef KVMBOX_STATS_H
#define KVMBOX_STATS_H

#include <stdio.h>

struct vm;

void stats_print(const struct vm *vm, FILE *out);

#endif
