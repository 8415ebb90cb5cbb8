/*
 * The VMM instance itself rather than the guest's configuration: GET / and /version, PUT /logger
 * and /metrics, PUT /actions, PATCH /vm, and kvmbox's GET /kvmbox/stats, PUT /kvmbox/stop,
 * GET /kvmbox/regs and PUT /kvmbox/nmi.
 */
#include <errno.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "log.h"

/* ---- GET /, GET /version ---- */

int api_get_info(struct api_ctx *c, const char *id, json_t *body)
{
	const char *iid = c->ops->instance_id ? c->ops->instance_id(c->opaque) : NULL;
	const char *ver = c->ops->version ? c->ops->version(c->opaque) : NULL;

	return api_reply(c,
			 json_pack("{s:s, s:s, s:s, s:s}", "id", iid ? iid : "anonymous-instance",
				   "state", vmm_state_name(c->state), "vmm_version",
				   ver ? ver : "unknown", "app_name", "kvmbox"));
}

int api_get_version(struct api_ctx *c, const char *id, json_t *body)
{
	const char *ver = c->ops->version ? c->ops->version(c->opaque) : NULL;

	return api_reply(c, json_pack("{s:s}", "firecracker_version", ver ? ver : "unknown"));
}

/* ---- PUT /logger, /metrics ---- */

static const char *const api_levels[] = { "Off",  "Error", "Warning", "Warn",
					  "Info", "Debug", "Trace",   NULL };

static const struct schema_field api_logger_fields[] = {
	{ "log_path", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "level", SCHEMA_ENUM, SCHEMA_NOCASE, 0, 0, api_levels, NULL },
	{ "show_level", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "show_log_origin", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "module", SCHEMA_STR, 0, 0, 256, NULL, NULL },
};

int api_put_logger(struct api_ctx *c, const char *id, json_t *body)
{
	/* Off .. Trace -> kvmbox's levels (it always prints errors) and -v counts. */
	static const enum log_level levels[] = { LOG_ERROR, LOG_ERROR, LOG_WARN, LOG_WARN,
						 LOG_INFO,  LOG_DEBUG, LOG_DEBUG };
	struct schema_val v[5];
	const char *path;
	char err[384];

	if (API_FIELDS(c, body, api_logger_fields, v) ||
	    (v[0].set &&
	     schema_check_output("Logger error: ", "log_path", v[0].s, c->fault, sizeof(c->fault))))
		return -EINVAL;
	if (api_dup(c, &path, v[0].s))
		return -ENOMEM;
	/* The last step that can fail: the log file is switched only when all else is valid. */
	if (path && c->ops && c->ops->set_log && c->ops->set_log(c->opaque, path, err, sizeof(err)))
		return api_fail(c, "Logger error: %s", err);
	if (path)
		api_set(c->cfg, &c->cfg->log_path, path);
	if (v[1].set) {
		enum log_level l = levels[v[1].e];

		c->cfg->verbosity = l >= LOG_DEBUG ? 2 : l == LOG_INFO ? 1 : 0;
		log_set_level(l);
	}
	return 0;
}

static const struct schema_field api_metrics_fields[] = {
	{ "metrics_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "emit_id", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "properties", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_properties },
};

int api_put_metrics(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] =
	    "Metrics error: Cannot initialize the metrics system due to bad user input: ";
	struct schema_val v[3];
	const char *path;
	char err[384];

	if (API_FIELDS(c, body, api_metrics_fields, v))
		return -EINVAL;
	if (c->cfg->metrics_path)
		return api_fail(c, "%sReinitialization of metrics not allowed.", prefix);
	if (schema_check_output(prefix, "metrics_path", v[0].s, c->fault, sizeof(c->fault)))
		return -EINVAL;
	if (c->ops && c->ops->set_metrics &&
	    c->ops->set_metrics(c->opaque, v[0].s, err, sizeof(err)))
		return api_fail(c, "%s%s", prefix, err);
	if (!c->cfg->metrics_path) { /* a config file (no VM yet), or an op that did not */
		if (api_dup(c, &path, v[0].s))
			return -ENOMEM;
		c->cfg->metrics_path = path;
	}
	return 0;
}

/* ---- PUT /actions, PATCH /vm ---- */

static const char *const api_actions[] = { "FlushMetrics", "InstanceStart", "SendCtrlAltDel",
					   NULL };
static const struct schema_field api_action_fields[] = {
	{ "action_type", SCHEMA_ENUM, SCHEMA_REQ, 0, 0, api_actions, NULL },
};

int api_put_actions(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[1];
	char err[384];

	if (API_FIELDS(c, body, api_action_fields, v))
		return -EINVAL;
	switch (v[0].e) {
	case 0: /* FlushMetrics */
		if (!api_started(c))
			return api_fail(c, "%s", api_post_boot_only);
		if (!c->ops->flush_metrics || c->ops->flush_metrics(c->opaque, err, sizeof(err)))
			return api_fail(c, "Metrics error: %s",
					c->ops->flush_metrics ? err : "not supported");
		return 0;
	case 1: /* InstanceStart */
		if (api_started(c))
			return api_fail(c, "%s", api_pre_boot_only);
		if (!c->cfg->kernel)
			return api_fail(c,
					"Start microvm error: Cannot start microvm without kernel "
					"configuration.");
		if (!c->ops->start || c->ops->start(c->opaque, err, sizeof(err)))
			return api_fail(c, "Start microvm error: %s",
					c->ops->start ? err : "not supported");
		return 0;
	default: /* SendCtrlAltDel */
		if (!api_started(c))
			return api_fail(c, "%s", api_post_boot_only);
		if (!c->ops->ctrl_alt_del || c->ops->ctrl_alt_del(c->opaque, err, sizeof(err)))
			return api_fail(c, "Internal VMM error: %s",
					c->ops->ctrl_alt_del ? err : "not supported");
		return 0;
	}
}

static const char *const api_vm_states[] = { "Paused", "Resumed", NULL };
static const struct schema_field api_vm_fields[] = {
	{ "state", SCHEMA_ENUM, SCHEMA_REQ, 0, 0, api_vm_states, NULL },
};

int api_patch_vm(struct api_ctx *c, const char *id, json_t *body)
{
	int (*op)(void *, char *, size_t);
	struct schema_val v[1];
	char err[384];

	if (API_FIELDS(c, body, api_vm_fields, v))
		return -EINVAL;
	/* Already there: nothing to do (Firecracker's pause and resume are idempotent too). */
	if ((!v[0].e && c->state == VMM_PAUSED) || (v[0].e && c->state == VMM_RUNNING))
		return 0;
	op = v[0].e ? c->ops->resume : c->ops->pause;
	if (!op || op(c->opaque, err, sizeof(err)))
		return api_fail(c, "Internal VMM error: %s", op ? err : "not supported");
	return 0;
}

/* ---- kvmbox extensions: GET /kvmbox/stats, PUT /kvmbox/stop, GET /kvmbox/regs, PUT /kvmbox/nmi
 * ---- */

int api_get_stats(struct api_ctx *c, const char *id, json_t *body)
{
	char err[384] = "not supported";
	json_error_t jerr;
	char *text = c->ops->stats_json ? c->ops->stats_json(c->opaque, err, sizeof(err)) : NULL;
	json_t *o;

	if (!text)
		return api_fail(c, "Cannot read the statistics: %s", err);
	o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!json_is_object(o)) {
		json_decref(o);
		return api_fail(c, "Cannot read the statistics: not a JSON object");
	}
	return api_reply(c, o);
}

static const struct schema_field api_stop_fields[] = {
	{ "exit_status", SCHEMA_UINT, 0, 0, 255, NULL, NULL },
};

int api_put_stop(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[1] = { { 0 } };
	char err[384];

	if (body && API_FIELDS(c, body, api_stop_fields, v))
		return -EINVAL;
	if (!c->ops->stop || c->ops->stop(c->opaque, (int)v[0].u, err, sizeof(err)))
		return api_fail(c, "Cannot stop the microVM: %s",
				c->ops->stop ? err : "no stop op");
	return 0;
}

int api_get_regs(struct api_ctx *c, const char *id, json_t *body)
{
	char err[384] = "not supported";
	char *text = c->ops->regs_text ? c->ops->regs_text(c->opaque, err, sizeof(err)) : NULL;
	json_t *o;

	if (!text)
		return api_fail(c, "Cannot read the registers: %s", err);
	o = json_pack("{s:s}", "text", text);
	free(text);
	if (!o)
		return api_fail(c, "Cannot read the registers: not valid text");
	return api_reply(c, o);
}

static const struct schema_field api_gdb_fields[] = {
	{ "address", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 200, NULL, NULL },
};

/* PUT /kvmbox/gdb {"address": "tcp:HOST:PORT" | "unix:PATH"}: a gdb stub on the running VM. */
int api_put_gdb(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[1] = { { 0 } };
	char err[384];

	(void)id;
	if (API_FIELDS(c, body, api_gdb_fields, v))
		return -EINVAL;
	if (!c->ops->gdb || c->ops->gdb(c->opaque, v[0].s, err, sizeof(err)))
		return api_fail(c, "Cannot open the gdb stub: %s", c->ops->gdb ? err : "no gdb op");
	return 0;
}

static const struct schema_field api_nmi_fields[] = {
	{ "vcpu", SCHEMA_UINT, 0, 0, 255, NULL, NULL },
};

int api_put_nmi(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[1] = { { 0 } };
	char err[384];

	if (body && API_FIELDS(c, body, api_nmi_fields, v))
		return -EINVAL;
	if (!c->ops->nmi || c->ops->nmi(c->opaque, v[0].set ? (int)v[0].u : -1, err, sizeof(err)))
		return api_fail(c, "Cannot inject the NMI: %s", c->ops->nmi ? err : "no nmi op");
	return 0;
}
