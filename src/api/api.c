/*
 * Firecracker's REST API (src/firecracker/swagger/firecracker.yaml) on kvmbox: routing, the
 * responses, the pre-boot/post-boot rules, and the config-file sections that share the handlers.
 * The handlers for the JSON bodies live by subject: api_boot.c (machine-config, boot-source),
 * api_devices.c (drives, network interfaces, vsock, entropy, serial), api_instance.c (GET /,
 * actions, pause/resume, logger, metrics, kvmbox's extensions), api_vmconfig.c (GET /vm/config),
 * api_snapshot.c (PUT /snapshot/create and /snapshot/load).
 *
 * Every body goes through schema_fields (src/api/schema.c), which checks each value once
 * against the handler's table (type, range, length, id charset, enum) and refuses unknown fields
 * like serde's deny_unknown_fields. Handlers then check what depends on other values or on the
 * host (files, with schema's side-effect-free checks), and only when all of it passed do they
 * write the configuration: a failed request changes nothing. Strings are copied
 * (config_strdup) before the first write, so not even an allocation failure leaves half a change.
 *
 * Where kvmbox differs from Firecracker (documented in the fault messages too):
 *  - cpu_template: only "None" (kvmbox picks its own: auto). Firecracker's static templates are
 *    Intel/AMD CPUID masks for AWS instance families: refused with 400. huge_pages: "None" only.
 *  - vcpu_count: 1-32 as Firecracker (kvmbox's command line allows 255).
 *  - rate limiters (drives, network interfaces, entropy, serial) are validated and otherwise
 *    ignored; cache_type and io_engine are validated, and kvmbox always honours flushes
 *    (Writeback) with asynchronous I/O (io_uring or a thread pool): GET /vm/config says so.
 *  - PATCH /drives/{id} is also accepted before InstanceStart (it replaces the path).
 *  - the logger's show_level, show_log_origin and module, and the metrics' emit_id and
 *    properties, are validated and ignored.
 *  - drives and network interfaces use virtio-mmio, as Firecracker's.
 */
#include "api/api.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define API_URL_MAX 256

const char api_pre_boot_only[] =
    "The requested operation is not supported after starting the microVM.";
const char api_post_boot_only[] =
    "The requested operation is not supported before starting the microVM.";

int api_fail(struct api_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fault, sizeof(c->fault), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- Configuration strings, replies ---- */

int api_dup(struct api_ctx *c, const char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = config_strdup(c->cfg, s)))
		return api_fail(c, "Out of memory.");
	return 0;
}

/*
 * Before InstanceStart nothing else holds config strings, so the old one is freed and repeated
 * PUTs do not grow the config. (Strings the config does not own, e.g. from argv, are left alone.)
 */
void api_set(struct vm_config *cfg, const char **field, const char *s)
{
	const char *old = *field;

	*field = s;
	if (old != s)
		config_strfree(cfg, old);
}

int api_reply(struct api_ctx *c, json_t *reply)
{
	if (!reply)
		return api_fail(c, "Out of memory.");
	c->reply = reply;
	return 0;
}

/* ---- Routing ---- */

enum api_when { API_ANY, API_PRE_BOOT, API_POST_BOOT };

struct api_route {
	const char *method;
	const char *res; /* first path segment ("" for /) */
	const char *sub; /* second segment: NULL none, "{id}" an id, else that word */
	enum api_when when;
	bool body_optional;
	int (*fn)(struct api_ctx *c, const char *id, json_t *body);
};

static const struct api_route api_routes[] = {
	{ "GET", "", NULL, API_ANY, false, api_get_info },
	{ "GET", "version", NULL, API_ANY, false, api_get_version },
	{ "GET", "machine-config", NULL, API_ANY, false, api_get_machine },
	{ "PUT", "machine-config", NULL, API_PRE_BOOT, false, api_put_machine },
	{ "PATCH", "machine-config", NULL, API_PRE_BOOT, false, api_patch_machine },
	{ "PUT", "boot-source", NULL, API_PRE_BOOT, false, api_put_boot },
	{ "PUT", "drives", "{id}", API_PRE_BOOT, false, api_put_drive },
	{ "PATCH", "drives", "{id}", API_ANY, false, api_patch_drive },
	{ "PUT", "network-interfaces", "{id}", API_PRE_BOOT, false, api_put_net },
	{ "PATCH", "network-interfaces", "{id}", API_POST_BOOT, false, api_patch_net },
	{ "PUT", "vsock", NULL, API_PRE_BOOT, false, api_put_vsock },
	{ "PUT", "entropy", NULL, API_PRE_BOOT, false, api_put_entropy },
	{ "PUT", "serial", NULL, API_PRE_BOOT, false, api_put_serial },
	{ "PUT", "logger", NULL, API_PRE_BOOT, false, api_put_logger },
	{ "PUT", "metrics", NULL, API_PRE_BOOT, false, api_put_metrics },
	{ "PUT", "actions", NULL, API_ANY, false, api_put_actions },
	{ "PATCH", "vm", NULL, API_POST_BOOT, false, api_patch_vm },
	{ "GET", "vm", "config", API_ANY, false, api_get_vm_config },
	{ "PUT", "snapshot", "create", API_POST_BOOT, false, api_put_snapshot_create },
	{ "PUT", "snapshot", "load", API_PRE_BOOT, false, api_put_snapshot_load },
	{ "GET", "kvmbox", "stats", API_ANY, false, api_get_stats },
	{ "PUT", "kvmbox", "stop", API_ANY, true, api_put_stop },
	{ "GET", "kvmbox", "regs", API_POST_BOOT, false, api_get_regs },
	{ "PUT", "kvmbox", "nmi", API_POST_BOOT, true, api_put_nmi },
	{ "PUT", "kvmbox", "gdb", API_POST_BOOT, false, api_put_gdb },
};

/* Printable ASCII of s (at most max bytes shown), for messages that quote the request. */
static void api_printable(char *dst, size_t len, const char *s, size_t max)
{
	size_t i = 0;

	for (; s[i] && i < max && i + 4 < len; i++)
		dst[i] = (s[i] >= ' ' && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && i + 4 < len) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

/* "/a/b/" -> "a", "b". Returns the segment count, or -1 for a path no route can have. */
static int api_split(const char *url, char *buf, size_t len, const char *seg[2])
{
	char *p;
	size_t n;
	int count = 0;

	if (url[0] != '/' || strpbrk(url, "?#"))
		return -1;
	while (*url == '/')
		url++;
	n = strlen(url);
	if (n >= len)
		return -1;
	memcpy(buf, url, n + 1);
	if (n && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (!n)
		return 0;
	for (p = buf; p; count++) {
		char *slash = strchr(p, '/');

		if (count == 2 || (slash && slash == p))
			return -1;
		if (slash)
			*slash++ = '\0';
		seg[count] = p;
		p = slash;
	}
	return count;
}

static void api_respond(struct api_ctx *c, int ret, struct api_response *resp)
{
	json_t *o;

	memset(resp, 0, sizeof(*resp));
	if (!ret && !c->reply) {
		resp->status = 204;
		return;
	}
	if (ret) {
		json_decref(c->reply);
		c->reply = NULL;
		o = json_pack("{s:s}", "fault_message", c->fault);
		if (!o) { /* not UTF-8 after truncation: ASCII only then */
			char safe[API_FAULT_MAX];

			api_printable(safe, sizeof(safe), c->fault, sizeof(safe));
			o = json_pack("{s:s}", "fault_message", safe);
		}
		resp->status = 400;
	} else {
		o = c->reply;
		resp->status = 200;
	}
	resp->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!resp->body) {
		static const char oom[] = "{\"fault_message\":\"Out of memory.\"}";

		resp->status = 500;
		resp->body = strdup(oom);
	}
	resp->len = resp->body ? strlen(resp->body) : 0;
}

void api_handle(const struct api_ops *ops, void *opaque, const char *method, const char *url,
		const char *body, size_t body_len, struct api_response *resp)
{
	struct api_ctx c = { .ops = ops, .opaque = opaque };
	const struct api_route *r = NULL;
	char buf[API_URL_MAX], shown[160], mshown[24];
	const char *seg[2] = { NULL, NULL }, *id = NULL;
	json_t *json = NULL;
	json_error_t jerr;
	int nseg, ret;

	c.cfg = ops->config(opaque);
	c.state = ops->state(opaque);
	nseg = api_split(url, buf, sizeof(buf), seg);
	for (size_t i = 0; nseg >= 0 && i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route *t = &api_routes[i];

		if (strcmp(t->method, method) || strcmp(t->res, nseg ? seg[0] : ""))
			continue;
		if (t->sub && strcmp(t->sub, "{id}") && (nseg != 2 || strcmp(t->sub, seg[1])))
			continue;
		if (!t->sub && nseg > 1)
			continue;
		r = t;
		break;
	}
	/* Firecracker's order: body presence first, then the path, then the body's contents. */
	if (!strcmp(method, "GET") && body_len) {
		ret = api_fail(&c, "GET request cannot have a body.");
	} else if ((!strcmp(method, "PUT") || !strcmp(method, "PATCH")) && !body_len &&
		   !(r && r->body_optional)) {
		ret = api_fail(&c, "Empty %s request.", method);
	} else if (!r) {
		api_printable(shown, sizeof(shown), url, 128);
		api_printable(mshown, sizeof(mshown), method, 16);
		ret = api_fail(&c, "Invalid request method and/or path: %s %s.", mshown, shown);
	} else if (r->sub && !strcmp(r->sub, "{id}") &&
		   schema_check_id((id = nseg == 2 ? seg[1] : ""), c.fault, sizeof(c.fault))) {
		ret = -EINVAL;
	} else if (body_len &&
		   !(json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr))) {
		ret = api_fail(&c, SCHEMA_SERDE "%s at line %d column %d.", jerr.text, jerr.line,
			       jerr.column);
	} else if (r->when == API_PRE_BOOT && api_started(&c)) {
		ret = api_fail(&c, "%s", api_pre_boot_only);
	} else if (r->when == API_POST_BOOT && !api_started(&c)) {
		ret = api_fail(&c, "%s", api_post_boot_only);
	} else {
		ret = r->fn(&c, id, json);
	}
	json_decref(json);
	api_respond(&c, ret, resp);
}

void api_response_free(struct api_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

/* ---- Config file sections ---- */

const char *const api_config_keys[] = {
	"logger",      "metrics",	 "machine-config",
	"boot-source", "drives",	 "network-interfaces",
	"vsock",       "entropy",	 "serial",
	"balloon",     "mmds-config",	 "cpu-config",
	"pmem",	       "memory-hotplug", NULL,
};

static int api_config_array(struct api_ctx *c, const char *key, json_t *value, size_t max,
			    int (*fn)(struct api_ctx *, const char *, json_t *))
{
	size_t i;
	json_t *e;

	if (!json_is_array(value))
		return api_fail(c, "%s: expected an array, got %s", key, schema_json_kind(value));
	if (json_array_size(value) > max)
		return api_fail(c, "%s: at most %zu entries", key, max);
	json_array_foreach(value, i, e)
	{
		if (fn(c, NULL, e)) {
			char inner[API_FAULT_MAX];

			snprintf(inner, sizeof(inner), "%s", c->fault);
			return api_fail(c, "%s[%zu]: %s", key, i, inner);
		}
	}
	return 0;
}

int api_config_apply(struct vm_config *cfg, const char *key, struct json_t *value, char *err,
		     size_t errlen)
{
	struct api_ctx c = { .cfg = cfg, .state = VMM_NOT_STARTED };
	static const struct {
		const char *key;
		int (*fn)(struct api_ctx *, const char *, json_t *);
	} sections[] = {
		{ "logger", api_put_logger },
		{ "metrics", api_put_metrics },
		{ "machine-config", api_put_machine },
		{ "boot-source", api_put_boot },
		{ "vsock", api_put_vsock },
		{ "entropy", api_put_entropy },
		{ "serial", api_put_serial },
	};
	int ret = -ENOENT;

	if (json_is_null(value))
		return 0; /* as Firecracker writes absent sections in GET /vm/config */
	if (!strcmp(key, "drives")) {
		ret = api_config_array(&c, key, value, CONFIG_MAX_DISKS, api_put_drive);
	} else if (!strcmp(key, "network-interfaces")) {
		ret = api_config_array(&c, key, value, CONFIG_MAX_NICS, api_put_net);
	} else if (!strcmp(key, "pmem")) {
		ret = json_is_array(value) && !json_array_size(value)
			  ? 0
			  : api_fail(&c, "pmem devices are not supported by kvmbox");
	} else if (!strcmp(key, "balloon") || !strcmp(key, "mmds-config") ||
		   !strcmp(key, "cpu-config") || !strcmp(key, "memory-hotplug")) {
		ret = api_fail(&c, "%s is not supported by kvmbox", key);
	} else {
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			if (!strcmp(key, sections[i].key)) {
				ret = sections[i].fn(&c, NULL, value);
				if (ret) {
					char inner[API_FAULT_MAX];

					snprintf(inner, sizeof(inner), "%s", c.fault);
					api_fail(&c, "%s: %s", key, inner);
				}
				break;
			}
	}
	if (ret && ret != -ENOENT)
		snprintf(err, errlen, "%s", c.fault);
	return ret;
}