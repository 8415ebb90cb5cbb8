/* Firecracker's --config-file: one JSON document applied through the API's own handlers. */
#ifndef KVMBOX_API_CONFIG_FILE_H
#define KVMBOX_API_CONFIG_FILE_H

#include <stddef.h>

#include "config.h"

#define CONFIG_FILE_MAX (1u << 20) /* bytes */

/*
 * Read path (a JSON object with "boot-source", "machine-config", "drives", ...; each section's
 * body exactly as the API takes it) into cfg, before InstanceStart. On error err holds one line
 * naming the section and the problem (not the file: the caller prefixes it), and cfg may hold
 * part of the file (the caller exits). Unknown top-level keys are errors.
 */
int config_file_load(struct vm_config *cfg, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The same from a document in memory (len bytes, no terminator needed): a snapshot's config. */
int config_file_parse(struct vm_config *cfg, const char *text, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
