/* Firecracker's REST API: routing, JSON bodies, state rules; acts on a struct vm_config and ops. */
#ifndef KVMBOX_API_API_H
#define KVMBOX_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "vmm.h"

/*
 * What the API needs from the VMM. Each int op returns 0 or a negative errno with a one-line
 * message in err (errlen bytes), as in vmm.h. The API checks the state rules before calling:
 * start, set_metrics and set_log only before InstanceStart; pause, resume, ctrl_alt_del,
 * flush_metrics and update_drive only after it; the rest in any state. config and state must
 * be set; another op left NULL makes its request fail with 400, except set_metrics and set_log
 * (the path is then only recorded in the config) and instance_id and version (defaults). All
 * ops run on the thread that calls api_handle (the server's event loop thread).
 */
struct api_ops {
	/* The configuration the handlers edit before InstanceStart (and read after it). */
	struct vm_config *(*config)(void *opaque);
	enum vmm_state (*state)(void *opaque);
	/* InstanceStart: returns as soon as the vCPUs run. */
	int (*start)(void *opaque, char *err, size_t errlen);
	int (*pause)(void *opaque, char *err, size_t errlen);
	int (*resume)(void *opaque, char *err, size_t errlen);
	int (*ctrl_alt_del)(void *opaque, char *err, size_t errlen);
	int (*flush_metrics)(void *opaque, char *err, size_t errlen);
	/* PUT /metrics (before start): open the metrics file and record it in cfg->metrics_path
	 * (path is valid during the call only). */
	int (*set_metrics)(void *opaque, const char *path, char *err, size_t errlen);
	/* PUT /logger with a log_path (before start): kvmbox's log goes there from now on. */
	int (*set_log)(void *opaque, const char *path, char *err, size_t errlen);
	/* PATCH /drives/{id} after start: cfg->disks[index] gets a new backing file; the op
	 * records it in cfg->disks[index].path (path is valid during the call only). */
	int (*update_drive)(void *opaque, unsigned index, const char *path, char *err,
			    size_t errlen);
	/* kvmbox extension (PUT /kvmbox/stop): stop the VM; the process exits with status. */
	int (*stop)(void *opaque, int status, char *err, size_t errlen);
	/* kvmbox extension (GET /kvmbox/stats): a malloc'd JSON object, or NULL + err. */
	char *(*stats_json)(void *opaque, char *err, size_t errlen);
	/* kvmbox extension (GET /kvmbox/regs): every vCPU's registers as malloc'd text, or NULL +
	 * err. */
	char *(*regs_text)(void *opaque, char *err, size_t errlen);
	/* kvmbox extension (PUT /kvmbox/nmi): an NMI to vCPU vcpu, or to all when vcpu < 0. */
	int (*nmi)(void *opaque, int vcpu, char *err, size_t errlen);
	/* kvmbox extension (PUT /kvmbox/gdb): open a gdb stub on address on the running VM. */
	int (*gdb)(void *opaque, const char *address, char *err, size_t errlen);
	/* PUT /snapshot/create (Paused only): the state file and the memory file. */
	int (*snapshot_create)(void *opaque, const char *state_path, const char *mem_path,
			       bool diff, char *err, size_t errlen);
	/* PUT /snapshot/load (before InstanceStart): the VM from a snapshot, paused or running. */
	int (*snapshot_load)(void *opaque, const struct vmm_snapshot_load *req, char *err,
			     size_t errlen);
	const char *(*instance_id)(void *opaque);
	const char *(*version)(void *opaque);
};

/* The real ops: opaque is a struct vmm * (src/api/api_vmm.c). */
extern const struct api_ops api_vmm_ops;

struct api_response {
	int status; /* 200, 204 or 400 (500: out of memory) */
	char *body; /* malloc'd JSON text (NULL for 204) */
	size_t len;
};

/*
 * Handle one request. body is body_len bytes (0: no body). A request that fails leaves the
 * configuration as it was. Free the response with api_response_free.
 */
void api_handle(const struct api_ops *ops, void *opaque, const char *method, const char *url,
		const char *body, size_t body_len, struct api_response *resp);
void api_response_free(struct api_response *resp);

/* For config_file.c: the top-level keys of a Firecracker config file, in the order they apply. */
extern const char *const api_config_keys[];
struct json_t;
/*
 * Apply one top-level section of a config file (before InstanceStart, no VM) through the same
 * handlers as the API. -ENOENT: unknown key. Other errors: one line in err.
 */
int api_config_apply(struct vm_config *cfg, const char *key, struct json_t *value, char *err,
		     size_t errlen) __attribute__((warn_unused_result));
/* GET /vm/config's document: a malloc'd JSON text (NULL on allocation failure). */
char *api_config_export(const struct vm_config *cfg);

#endif
