/* What the API's files share: the request context, its helpers, and the handlers the routes name.
 */
#ifndef KVMBOX_API_API_INTERNAL_H
#define KVMBOX_API_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"
#include "api/schema.h"
#include "config.h"
#include "vmm.h"

#define API_FAULT_MAX 512
#define API_FIELDS(c, obj, fields, out)                                                            \
	SCHEMA_CHECK(obj, fields, out, (c)->fault, sizeof((c)->fault))

/* The faults for a request made in the wrong state (Firecracker's words). */
extern const char api_pre_boot_only[];
extern const char api_post_boot_only[];

/* One request (or one config-file section) being handled. */
struct api_ctx {
	struct vm_config *cfg;
	const struct api_ops *ops; /* NULL: a config file (no VM yet) */
	void *opaque;
	enum vmm_state state;
	json_t *reply; /* the 200 body; NULL: 204 */
	char fault[API_FAULT_MAX];
};

/* Sets the 400's fault message; returns -EINVAL. */
int api_fail(struct api_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool api_started(const struct api_ctx *c)
{
	return c->state != VMM_NOT_STARTED;
}

/* A copy of s owned by the config, made before anything is changed (NULL stays NULL). */
int api_dup(struct api_ctx *c, const char **out, const char *s) __attribute__((warn_unused_result));
/* *field = s; the old string is freed if the config owns it. */
void api_set(struct vm_config *cfg, const char **field, const char *s);
/* The 200 body (takes reply; NULL: out of memory, a 400). */
int api_reply(struct api_ctx *c, json_t *reply) __attribute__((warn_unused_result));

/*
 * The handlers: id is the path's {id} (NULL from a config file), body the parsed JSON (NULL when
 * the route allows none). 0, or a negative errno with the fault in c->fault.
 */

/* api_boot.c */
int api_get_machine(struct api_ctx *c, const char *id, json_t *body);
int api_put_machine(struct api_ctx *c, const char *id, json_t *body);
int api_patch_machine(struct api_ctx *c, const char *id, json_t *body);
int api_put_boot(struct api_ctx *c, const char *id, json_t *body);
/* machine-config as GET /machine-config and GET /vm/config show it (NULL: out of memory). */
json_t *api_machine_json(const struct vm_config *cfg);

/* api_devices.c */
int api_put_drive(struct api_ctx *c, const char *id, json_t *body);
int api_patch_drive(struct api_ctx *c, const char *id, json_t *body);
int api_put_net(struct api_ctx *c, const char *id, json_t *body);
int api_patch_net(struct api_ctx *c, const char *id, json_t *body);
int api_put_vsock(struct api_ctx *c, const char *id, json_t *body);
int api_put_entropy(struct api_ctx *c, const char *id, json_t *body);
int api_put_serial(struct api_ctx *c, const char *id, json_t *body);

/* api_instance.c */
int api_get_info(struct api_ctx *c, const char *id, json_t *body);
int api_get_version(struct api_ctx *c, const char *id, json_t *body);
int api_put_logger(struct api_ctx *c, const char *id, json_t *body);
int api_put_metrics(struct api_ctx *c, const char *id, json_t *body);
int api_put_actions(struct api_ctx *c, const char *id, json_t *body);
int api_patch_vm(struct api_ctx *c, const char *id, json_t *body);
int api_get_stats(struct api_ctx *c, const char *id, json_t *body);
int api_put_stop(struct api_ctx *c, const char *id, json_t *body);
int api_get_regs(struct api_ctx *c, const char *id, json_t *body);
int api_put_nmi(struct api_ctx *c, const char *id, json_t *body);
int api_put_gdb(struct api_ctx *c, const char *id, json_t *body);

/* api_snapshot.c */
int api_put_snapshot_create(struct api_ctx *c, const char *id, json_t *body);
int api_put_snapshot_load(struct api_ctx *c, const char *id, json_t *body);

/* api_vmconfig.c */
int api_get_vm_config(struct api_ctx *c, const char *id, json_t *body);
/* GET /vm/config's document (NULL: out of memory); snapshots add their own section to it. */
json_t *api_config_json(const struct vm_config *cfg);

#endif
