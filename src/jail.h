/* --jail: namespaces, pivot_root, device nodes, rlimits and dropped privileges (Firecracker's
 * jailer, in-process). */
#ifndef KVMBOX_JAIL_H
#define KVMBOX_JAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/*
 * Forks into a new PID namespace. Returns 0 in the jailed child, which goes on to run the VMM;
 * 1 in the parent once the child has ended (*status: its exit status, 128+N for signal N); or a
 * negative errno with one line in err (in the parent: nothing started; in the child: the jail
 * could not be completed and the VMM must not run). need_tun: make /dev/net/tun too.
 */
int jail_enter(const struct config_jail *j, bool need_tun, int *status, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
