/*
 * The configuration a snapshot carries: GET /vm/config's document plus a "kvmbox" section with
 * what shapes the VM beyond Firecracker's keys (exact memory size, vCPU count and template,
 * each device's transport, the test devices), so that a restore rebuilds the same machine with
 * the same devices at the same addresses. The import is hostile input (a state file): every value
 * goes through the API's own handlers and schema tables.
 */
#ifndef KVMBOX_API_SNAPSHOT_CONFIG_H
#define KVMBOX_API_SNAPSHOT_CONFIG_H

#include <stddef.h>

#include "config.h"

/* A malloc'd JSON text, or NULL when out of memory. */
char *snapshot_config_export(const struct vm_config *cfg);

/*
 * Fill cfg (as config_init left it, plus the process's own settings: API socket, seccomp, jail,
 * log) from text: the devices through the API's handlers (their files are checked: a drive whose
 * backing file is gone is refused), then the machine from the "kvmbox" section. The kernel, boot
 * arguments, logger, metrics and serial output of the snapshotted process are not taken: the
 * guest is already booted, and where this process logs is its own business. -EINVAL with one
 * line in err.
 */
int snapshot_config_import(struct vm_config *cfg, const char *text, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
