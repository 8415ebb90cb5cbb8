/*
 * Firecracker's REST API (src/firecracker/swagger/firecracker.yaml) on kvmbox: routing, the JSON
 * bodies, the pre-boot/post-boot rules, and the config-file sections that share the handlers.
 *
 * Every body goes through api_fields, which checks each value once against a table (type,
 * range, length, id charset, enum) and refuses unknown fields like serde's deny_unknown_fields.
 * Handlers then check what depends on other values or on the host (files), and only when all of
 * it passed do they write the configuration: a failed request changes nothing.
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

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define API_FAULT_MAX 512
#define API_PATH_MAX 4096 /* host paths: at most API_PATH_MAX - 1 bytes */
#define API_URL_MAX 256
#define API_MAX_VCPUS 32 /* Firecracker's MAX_SUPPORTED_VCPUS */
#define API_SUN_PATH_MAX 107
#define API_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define API_BOOT_ARGS_MAX 4096
#define API_SERDE "An error occurred when deserializing the json body of a request: "

static const char api_pre_boot_only[] =
    "The requested operation is not supported after starting the microVM.";
static const char api_post_boot_only[] =
    "The requested operation is not supported before starting the microVM.";

struct api_ctx {
	struct vm_config *cfg;
	const struct api_ops *ops; /* NULL: a config file (no VM yet) */
	void *opaque;
	enum vmm_state state;
	json_t *reply; /* the 200 body; NULL: 204 */
	char fault[API_FAULT_MAX];
};

static int api_fail(struct api_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int api_fail(struct api_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fault, sizeof(c->fault), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool api_started(const struct api_ctx *c)
{
	return c->state != VMM_NOT_STARTED;
}

/* ---- One value checker for every body ---- */

enum api_kind { API_STR, API_BOOL, API_UINT, API_ENUM, API_OBJ };

#define API_REQ 1u	/* required (null counts as absent) */
#define API_ID 2u	/* [A-Za-z0-9_]{1,64} */
#define API_NONEMPTY 4u /* strings: at least one byte */
#define API_NOCASE 8u	/* enums: case-insensitive */

struct api_field {
	const char *name;
	enum api_kind kind;
	unsigned flags;
	uint64_t min, max;	    /* API_UINT: range; API_STR: max length (0: API_PATH_MAX - 1) */
	const char *const *choices; /* API_ENUM, NULL-terminated */
	int (*check)(struct api_ctx *c, json_t *v); /* API_OBJ */
};

struct api_val {
	bool set;
	const char *s;
	bool b;
	uint64_t u;
	unsigned e; /* API_ENUM: index in choices */
};

static const char *api_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a map";
	case JSON_ARRAY:
		return "a sequence";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a floating point number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* "`a`, `b`, `c`" into buf. */
static void api_list(char *buf, size_t len, const char *const *names, size_t n, size_t stride)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		const char *s = *(const char *const *)((const char *)names + i * stride);
		int w = snprintf(buf + off, len - off, "%s`%s`", i ? ", " : "", s);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* Resource ids, from a path or a body: [A-Za-z0-9_]{1,64} (Firecracker's, in ASCII). */
static int api_check_id(struct api_ctx *c, const char *id)
{
	size_t n = strlen(id);

	if (!n)
		return api_fail(c, "The ID cannot be empty.");
	if (n > API_MAX_ID)
		return api_fail(c, "API Resource IDs can be at most %d characters long.",
				API_MAX_ID);
	for (size_t i = 0; i < n; i++)
		if (!(isascii((unsigned char)id[i]) && isalnum((unsigned char)id[i])) &&
		    id[i] != '_')
			return api_fail(c,
					"API Resource IDs can only contain alphanumeric characters "
					"and underscores.");
	return 0;
}

static int api_value(struct api_ctx *c, const struct api_field *f, json_t *v, struct api_val *out)
{
	char names[256];
	size_t n;

	switch (f->kind) {
	case API_STR:
		if (!json_is_string(v))
			break;
		n = json_string_length(v);
		if (n > (f->max ? f->max : API_PATH_MAX - 1))
			return api_fail(c, API_SERDE "`%s` is too long (%zu bytes, at most %llu)",
					f->name, n,
					(unsigned long long)(f->max ? f->max : API_PATH_MAX - 1));
		if (!n && (f->flags & API_NONEMPTY))
			return api_fail(c, API_SERDE "`%s` cannot be empty", f->name);
		out->s = json_string_value(v);
		if ((f->flags & API_ID) && api_check_id(c, out->s))
			return -EINVAL;
		out->set = true;
		return 0;
	case API_BOOL:
		if (!json_is_boolean(v))
			break;
		out->b = json_is_true(v);
		out->set = true;
		return 0;
	case API_UINT:
		if (!json_is_integer(v))
			break;
		if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < f->min ||
		    (uint64_t)json_integer_value(v) > f->max)
			return api_fail(c,
					API_SERDE
					"invalid value: integer `%lld` for `%s`, expected "
					"%llu to %llu",
					(long long)json_integer_value(v), f->name,
					(unsigned long long)f->min, (unsigned long long)f->max);
		out->u = (uint64_t)json_integer_value(v);
		out->set = true;
		return 0;
	case API_ENUM:
		if (!json_is_string(v))
			break;
		for (unsigned i = 0; f->choices[i]; i++)
			if ((f->flags & API_NOCASE)
				? !strcasecmp(json_string_value(v), f->choices[i])
				: !strcmp(json_string_value(v), f->choices[i])) {
				out->e = i;
				out->s = f->choices[i];
				out->set = true;
				return 0;
			}
		for (n = 0; f->choices[n]; n++)
			;
		api_list(names, sizeof(names), f->choices, n, sizeof(f->choices[0]));
		return api_fail(c, API_SERDE "unknown variant `%s` for `%s`, expected one of %s",
				json_string_value(v), f->name, names);
	case API_OBJ:
		if (!json_is_object(v))
			break;
		if (f->check(c, v))
			return -EINVAL;
		out->set = true;
		return 0;
	}
	return api_fail(c, API_SERDE "invalid type for `%s`: %s, expected %s", f->name,
			api_json_kind(v),
			f->kind == API_BOOL   ? "a boolean"
			: f->kind == API_UINT ? "an unsigned integer"
			: f->kind == API_OBJ  ? "a map"
					      : "a string");
}

/* Check obj against fields (n of them) into out[n]: types, ranges, unknown and missing fields. */
static int api_fields(struct api_ctx *c, json_t *obj, const struct api_field *fields, size_t n,
		      struct api_val *out)
{
	const char *key;
	json_t *v;

	memset(out, 0, n * sizeof(*out));
	if (!json_is_object(obj))
		return api_fail(c, API_SERDE "invalid type: %s, expected a map",
				api_json_kind(obj));
	json_object_foreach(obj, key, v)
	{
		size_t i = 0;

		while (i < n && strcmp(key, fields[i].name))
			i++;
		if (i == n) {
			char names[256];

			api_list(names, sizeof(names), &fields[0].name, n, sizeof(fields[0]));
			if (n)
				return api_fail(c,
						API_SERDE "unknown field `%s`, expected one of %s",
						key, names);
			return api_fail(c, API_SERDE "unknown field `%s`, there are no fields",
					key);
		}
	}
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(obj, fields[i].name);
		if (!v || json_is_null(v)) {
			if (fields[i].flags & API_REQ)
				return api_fail(c, API_SERDE "missing field `%s`", fields[i].name);
			continue;
		}
		if (api_value(c, &fields[i], v, &out[i]))
			return -EINVAL;
	}
	return 0;
}

#define API_FIELDS(c, obj, fields, out)                                                            \
	api_fields(c, obj, fields, sizeof(fields) / sizeof(fields[0]), out)

/* TokenBucket and RateLimiter: validated, not enforced by kvmbox. */
static const struct api_field api_bucket_fields[] = {
	{ "size", API_UINT, API_REQ, 0, INT64_MAX, NULL, NULL },
	{ "one_time_burst", API_UINT, 0, 0, INT64_MAX, NULL, NULL },
	{ "refill_time", API_UINT, API_REQ, 0, INT64_MAX, NULL, NULL },
};

static int api_check_bucket(struct api_ctx *c, json_t *v)
{
	struct api_val val[3];

	return API_FIELDS(c, v, api_bucket_fields, val);
}

static const struct api_field api_limiter_fields[] = {
	{ "bandwidth", API_OBJ, 0, 0, 0, NULL, api_check_bucket },
	{ "ops", API_OBJ, 0, 0, 0, NULL, api_check_bucket },
};

static int api_check_limiter(struct api_ctx *c, json_t *v)
{
	struct api_val val[2];

	return API_FIELDS(c, v, api_limiter_fields, val);
}

/* Metrics properties: a map of strings. */
static int api_check_properties(struct api_ctx *c, json_t *v)
{
	const char *key;
	json_t *s;

	if (json_object_size(v) > 64)
		return api_fail(c, API_SERDE "`properties` has more than 64 entries");
	json_object_foreach(v, key, s)
	{
		if (!json_is_string(s))
			return api_fail(c,
					API_SERDE "invalid type for `properties.%s`: %s, expected "
						  "a string",
					key, api_json_kind(s));
		if (strlen(key) > 256 || json_string_length(s) > 256)
			return api_fail(c, API_SERDE "`properties` entries are at most 256 bytes");
	}
	return 0;
}

/* ---- Host files: checked without side effects (no open of devices, no file created) ---- */

/* An input file (kernel, initrd): a regular file kvmbox can read. */
static int api_check_input(struct api_ctx *c, const char *prefix, const char *what,
			   const char *path)
{
	char err[384];
	struct stat st;

	/* stat first: open() of a device node can have effects (a watchdog starts ticking). */
	if (stat(path, &st) < 0)
		return api_fail(c, "%scannot open %s '%s': %s", prefix, what, path,
				strerror(errno));
	if (!S_ISREG(st.st_mode))
		return api_fail(c, "%s%s '%s' is not a regular file", prefix, what, path);
	if (config_check_file(what, path, err, sizeof(err)))
		return api_fail(c, "%s%s", prefix, err);
	return 0;
}

/* A drive's backing file: a regular file or a block device, writable unless read-only. */
static int api_check_disk(struct api_ctx *c, const char *prefix, const char *path, bool ro)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return api_fail(c, "%scannot open disk image '%s': %s", prefix, path,
				strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return api_fail(c, "%sdisk image '%s' is not a regular file or a block device",
				prefix, path);
	if (access(path, R_OK) < 0)
		return api_fail(c, "%scannot open disk image '%s': %s", prefix, path,
				strerror(errno));
	if (!ro && access(path, W_OK) < 0)
		return api_fail(c, "%sdisk image '%s' is not writable: %s (set is_read_only)",
				prefix, path, strerror(errno));
	return 0;
}

/* A directory a file can be created in (for paths that do not exist yet). */
static int api_check_parent(struct api_ctx *c, const char *prefix, const char *what,
			    const char *path)
{
	char dir[API_PATH_MAX];
	struct stat st;
	const char *d;

	snprintf(dir, sizeof(dir), "%s", path);
	d = dirname(dir);
	if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode))
		return api_fail(c, "%s%s '%s': directory '%s' does not exist", prefix, what, path,
				d);
	if (access(d, W_OK | X_OK) < 0)
		return api_fail(c, "%s%s '%s': cannot create files in '%s': %s", prefix, what, path,
				d, strerror(errno));
	return 0;
}

/* An output file (log, metrics, serial): writable, or creatable; a FIFO is fine. */
static int api_check_output(struct api_ctx *c, const char *prefix, const char *what,
			    const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return api_fail(c, "%scannot open %s '%s': %s", prefix, what, path,
					strerror(errno));
		return api_check_parent(c, prefix, what, path);
	}
	if (S_ISDIR(st.st_mode))
		return api_fail(c, "%s%s '%s' is a directory", prefix, what, path);
	if (access(path, W_OK) < 0)
		return api_fail(c, "%scannot write %s '%s': %s", prefix, what, path,
				strerror(errno));
	return 0;
}

/* ---- Configuration strings ---- */

/*
 * Replace a string the config owns: before InstanceStart nothing else holds config strings, so
 * the old one is freed and repeated PUTs do not grow the config. (Strings the config does not
 * own, e.g. from argv, are left alone.)
 */
static void api_release(struct vm_config *cfg, const char *s)
{
	if (!s)
		return;
	for (unsigned i = cfg->nowned; i-- > 0;)
		if (cfg->owned[i] == s) {
			free(cfg->owned[i]);
			cfg->owned[i] = cfg->owned[--cfg->nowned];
			return;
		}
}

/* Copies of the new strings, all made before anything is changed. NULL stays NULL. */
static int api_dup(struct api_ctx *c, const char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = config_strdup(c->cfg, s)))
		return api_fail(c, "Out of memory.");
	return 0;
}

static void api_set(struct vm_config *cfg, const char **field, const char *s)
{
	const char *old = *field;

	*field = s;
	if (old != s)
		api_release(cfg, old);
}

/* ---- GET /, GET /version ---- */

static const char *api_state_name(enum vmm_state s)
{
	switch (s) {
	case VMM_NOT_STARTED:
		return "Not started";
	case VMM_RUNNING:
		return "Running";
	case VMM_PAUSED:
		return "Paused";
	default:
		return "Stopped"; /* kvmbox's: the guest ended, the process is exiting */
	}
}

static int api_reply(struct api_ctx *c, json_t *reply)
{
	if (!reply)
		return api_fail(c, "Out of memory.");
	c->reply = reply;
	return 0;
}

static int api_get_info(struct api_ctx *c, const char *id, json_t *body)
{
	const char *iid = c->ops->instance_id ? c->ops->instance_id(c->opaque) : NULL;
	const char *ver = c->ops->version ? c->ops->version(c->opaque) : NULL;

	return api_reply(c,
			 json_pack("{s:s, s:s, s:s, s:s}", "id", iid ? iid : "anonymous-instance",
				   "state", api_state_name(c->state), "vmm_version",
				   ver ? ver : "unknown", "app_name", "kvmbox"));
}

static int api_get_version(struct api_ctx *c, const char *id, json_t *body)
{
	const char *ver = c->ops->version ? c->ops->version(c->opaque) : NULL;

	return api_reply(c, json_pack("{s:s}", "firecracker_version", ver ? ver : "unknown"));
}

/* ---- /machine-config ---- */

static const char *const api_cpu_templates[] = { "None", "C3",	"T2",	"T2S",
						 "T2CL", "T2A", "V1N1", NULL };
static const char *const api_huge_pages[] = { "None", "Transparent", "2M", NULL };

static const struct api_field api_machine_fields[] = {
	{ "vcpu_count", API_UINT, 0, 0, UINT8_MAX, NULL, NULL }, /* Firecracker's u8 */
	{ "mem_size_mib", API_UINT, 0, 0, CONFIG_MAX_MEMORY >> 19, NULL, NULL },
	{ "smt", API_BOOL, 0, 0, 0, NULL, NULL },
	{ "track_dirty_pages", API_BOOL, 0, 0, 0, NULL, NULL },
	{ "cpu_template", API_ENUM, 0, 0, 0, api_cpu_templates, NULL },
	{ "huge_pages", API_ENUM, 0, 0, 0, api_huge_pages, NULL },
};

static json_t *api_machine_json(const struct vm_config *cfg)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:s}", "vcpu_count", (json_int_t)cfg->cpus,
			 "mem_size_mib", (json_int_t)(cfg->memory >> 20), "smt", cfg->smt,
			 "track_dirty_pages", cfg->track_dirty_pages, "huge_pages", "None");
}

static int api_get_machine(struct api_ctx *c, const char *id, json_t *body)
{
	return api_reply(c, api_machine_json(c->cfg));
}

static int api_machine(struct api_ctx *c, json_t *body, bool patch)
{
	struct api_val v[6];
	unsigned cpus = c->cfg->cpus;
	uint64_t mib = c->cfg->memory >> 20;
	bool smt = patch ? c->cfg->smt : false, dirty = patch ? c->cfg->track_dirty_pages : false;
	char err[256];

	if (API_FIELDS(c, body, api_machine_fields, v))
		return -EINVAL;
	if (patch && !v[0].set && !v[1].set && !v[2].set && !v[3].set && !v[4].set && !v[5].set)
		return api_fail(c, "Empty PATCH request.");
	if (!patch && !v[0].set)
		return api_fail(c, API_SERDE "missing field `vcpu_count`");
	if (!patch && !v[1].set)
		return api_fail(c, API_SERDE "missing field `mem_size_mib`");
	if (v[0].set)
		cpus = (unsigned)v[0].u;
	if (v[1].set)
		mib = v[1].u;
	if (v[2].set)
		smt = v[2].b;
	if (v[3].set)
		dirty = v[3].b;
	if (cpus < 1 || cpus > API_MAX_VCPUS || (smt && cpus > 1 && (cpus & 1)))
		return api_fail(c,
				"Machine config error: The number of vCPUs must be greater than 0, "
				"less than %d and must be 1 or an even number if SMT is enabled.",
				API_MAX_VCPUS + 1);
	if (!mib)
		return api_fail(c,
				"Machine config error: The memory size (MiB) is either 0, or not a "
				"multiple of the configured page size.");
	if (config_check_memory(mib << 20, err, sizeof(err)))
		return api_fail(c, "Machine config error: %s", err);
	if (v[4].set && v[4].e)
		return api_fail(c,
				"Machine config error: CPU template %s is not supported by kvmbox "
				"(Firecracker's static templates are CPUID masks for AWS instance "
				"types); use \"None\": kvmbox picks its own template",
				v[4].s);
	if (v[5].set && v[5].e)
		return api_fail(c,
				"Machine config error: huge_pages %s is not supported by kvmbox "
				"(guest memory uses 4 KiB pages); use \"None\"",
				v[5].s);
	c->cfg->cpus = cpus;
	c->cfg->memory = mib << 20;
	c->cfg->smt = smt;
	c->cfg->track_dirty_pages = dirty;
	if (!patch || v[4].set)
		c->cfg->cpu_template = "auto";
	return 0;
}

static int api_put_machine(struct api_ctx *c, const char *id, json_t *body)
{
	return api_machine(c, body, false);
}

static int api_patch_machine(struct api_ctx *c, const char *id, json_t *body)
{
	return api_machine(c, body, true);
}

/* ---- PUT /boot-source ---- */

static const struct api_field api_boot_fields[] = {
	{ "kernel_image_path", API_STR, API_REQ | API_NONEMPTY, 0, 0, NULL, NULL },
	{ "initrd_path", API_STR, API_NONEMPTY, 0, 0, NULL, NULL },
	{ "boot_args", API_STR, 0, 0, API_BOOT_ARGS_MAX, NULL, NULL },
};

static int api_put_boot(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Boot source error: ";
	const char *kernel, *initrd, *args;
	struct api_val v[3];

	if (API_FIELDS(c, body, api_boot_fields, v))
		return -EINVAL;
	if (api_check_input(c, prefix, "kernel", v[0].s) ||
	    (v[1].set && api_check_input(c, prefix, "initrd", v[1].s)))
		return -EINVAL;
	if (api_dup(c, &kernel, v[0].s) || api_dup(c, &initrd, v[1].s) || api_dup(c, &args, v[2].s))
		return -ENOMEM;
	api_set(c->cfg, &c->cfg->kernel, kernel);
	api_set(c->cfg, &c->cfg->initrd, initrd);
	api_set(c->cfg, &c->cfg->cmdline, args);
	return 0;
}

/* ---- /drives/{id} ---- */

static const char *const api_cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const api_io_engines[] = { "Sync", "Async", NULL };

static const struct api_field api_drive_fields[] = {
	{ "drive_id", API_STR, API_REQ | API_ID, 0, 0, NULL, NULL },
	{ "path_on_host", API_STR, API_NONEMPTY, 0, 0, NULL, NULL },
	{ "is_root_device", API_BOOL, API_REQ, 0, 0, NULL, NULL },
	{ "is_read_only", API_BOOL, 0, 0, 0, NULL, NULL },
	{ "partuuid", API_STR, API_NONEMPTY, 0, 36, NULL, NULL },
	{ "cache_type", API_ENUM, 0, 0, 0, api_cache_types, NULL },
	{ "io_engine", API_ENUM, 0, 0, 0, api_io_engines, NULL },
	{ "rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
	{ "socket", API_STR, 0, 0, 0, NULL, NULL },
};

static int api_find_drive(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].id && !strcmp(cfg->disks[i].id, id))
			return (int)i;
	return -1;
}

/* The id in the path and the one in the body are the same (config files have only the body's). */
static int api_same_id(struct api_ctx *c, const char *path_id, const char *body_id, bool brackets)
{
	if (!path_id || !strcmp(path_id, body_id))
		return 0;
	if (brackets)
		return api_fail(
		    c, "The id from the path [%s] does not match the id from the body [%s]!",
		    path_id, body_id);
	return api_fail(c, "The id from the path does not match the id from the body!");
}

static int api_put_drive(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Drive config error: ";
	struct vm_config *cfg = c->cfg;
	struct config_disk d = { .transport = CONFIG_TRANSPORT_MMIO };
	struct api_val v[9];
	int idx;

	if (API_FIELDS(c, body, api_drive_fields, v) || api_same_id(c, id, v[0].s, false))
		return -EINVAL;
	if (v[8].set)
		return api_fail(c, "%svhost-user-block (socket) is not supported by kvmbox",
				prefix);
	if (!v[1].set)
		return api_fail(c, "%spath_on_host is required", prefix);
	if (v[4].set && strspn(v[4].s, "0123456789abcdefABCDEF-") != strlen(v[4].s))
		return api_fail(c, "%spartuuid '%s' is not a partition UUID (hex digits and '-')",
				prefix, v[4].s);
	idx = api_find_drive(cfg, v[0].s);
	if (v[2].b)
		for (unsigned i = 0; i < cfg->ndisks; i++)
			if (cfg->disks[i].is_root && (int)i != idx)
				return api_fail(c, "%sA root block device already exists!", prefix);
	if (idx < 0 && cfg->ndisks == CONFIG_MAX_DISKS)
		return api_fail(c, "%skvmbox supports at most %d drives", prefix, CONFIG_MAX_DISKS);
	d.readonly = v[3].set && v[3].b;
	d.is_root = v[2].b;
	if (api_check_disk(c, prefix, v[1].s, d.readonly))
		return -EINVAL;
	if (api_dup(c, &d.path, v[1].s) || api_dup(c, &d.id, v[0].s) ||
	    api_dup(c, &d.partuuid, v[4].s))
		return -ENOMEM;

	/* As Firecracker: the root device comes first (the guest's /dev/vda). */
	if (idx < 0 && d.is_root) {
		memmove(&cfg->disks[1], &cfg->disks[0], cfg->ndisks * sizeof(cfg->disks[0]));
		cfg->disks[0] = d;
		cfg->ndisks++;
	} else if (idx < 0) {
		cfg->disks[cfg->ndisks++] = d;
	} else {
		struct config_disk old = cfg->disks[idx];

		cfg->disks[idx] = d;
		api_release(cfg, old.path);
		api_release(cfg, old.id);
		api_release(cfg, old.partuuid);
		if (d.is_root && idx) {
			cfg->disks[idx] = cfg->disks[0];
			cfg->disks[0] = d;
		}
	}
	return 0;
}

static const struct api_field api_drive_patch_fields[] = {
	{ "drive_id", API_STR, API_REQ | API_ID, 0, 0, NULL, NULL },
	{ "path_on_host", API_STR, API_NONEMPTY, 0, 0, NULL, NULL },
	{ "rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
};

static int api_patch_drive(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Drive config error: Unable to patch the block device: ";
	struct vm_config *cfg = c->cfg;
	struct api_val v[3];
	const char *path;
	char err[384];
	int idx;

	if (API_FIELDS(c, body, api_drive_patch_fields, v) || api_same_id(c, id, v[0].s, false))
		return -EINVAL;
	idx = api_find_drive(cfg, v[0].s);
	if (idx < 0)
		return api_fail(c, "%sno drive with id '%s'. Please verify the request arguments.",
				prefix, v[0].s);
	if (!v[1].set) {
		if (v[2].set)
			return 0; /* rate limiters: validated only */
		return api_fail(c,
				"%snothing to update (give path_on_host). Please verify the "
				"request arguments.",
				prefix);
	}
	if (api_check_disk(c, prefix, v[1].s, cfg->disks[idx].readonly))
		return -EINVAL;
	if (!api_started(c)) {
		if (api_dup(c, &path, v[1].s))
			return -ENOMEM;
		api_set(cfg, &cfg->disks[idx].path, path);
		return 0;
	}
	/* The op records the new path in the config (the VM may still use the old string). */
	if (!c->ops->update_drive)
		return api_fail(c, "%snot supported. Please verify the request arguments.", prefix);
	if (c->ops->update_drive(c->opaque, (unsigned)idx, v[1].s, err, sizeof(err)))
		return api_fail(c, "%s%s Please verify the request arguments.", prefix, err);
	return 0;
}

/* ---- /network-interfaces/{id} ---- */

static const struct api_field api_net_fields[] = {
	{ "iface_id", API_STR, API_REQ | API_ID, 0, 0, NULL, NULL },
	{ "host_dev_name", API_STR, API_REQ | API_NONEMPTY, 0, API_IFNAME_MAX, NULL, NULL },
	{ "guest_mac", API_STR, 0, 0, 17, NULL, NULL },
	{ "mtu", API_UINT, 0, 68, 65535, NULL, NULL },
	{ "rx_rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
	{ "tx_rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
};

static bool api_ifname_ok(const char *s)
{
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '/' || *s == ':')
			return false;
	return true;
}

static bool api_mac_ok(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int api_find_net(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nnics; i++)
		if (cfg->nics[i].id && !strcmp(cfg->nics[i].id, id))
			return (int)i;
	return -1;
}

static int api_put_net(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Network config error: ";
	struct vm_config *cfg = c->cfg;
	struct config_net n = { .transport = CONFIG_TRANSPORT_MMIO };
	struct api_val v[6];
	int idx;

	if (API_FIELDS(c, body, api_net_fields, v) || api_same_id(c, id, v[0].s, true))
		return -EINVAL;
	if (v[3].set)
		return api_fail(c, "%smtu is not supported by kvmbox (the guest picks its MTU)",
				prefix);
	if (!api_ifname_ok(v[1].s))
		return api_fail(c,
				"%sCannot open/create the tap device: invalid interface name '%s'",
				prefix, v[1].s);
	if (v[2].set) {
		if (!api_mac_ok(v[2].s) || config_parse_mac(v[2].s, n.mac))
			return api_fail(c,
					"%sinvalid guest_mac '%s' (a unicast address "
					"xx:xx:xx:xx:xx:xx)",
					prefix, v[2].s);
		n.has_mac = true;
	}
	idx = api_find_net(cfg, v[0].s);
	for (unsigned i = 0; i < cfg->nnics; i++) {
		if ((int)i == idx)
			continue;
		if (n.has_mac && cfg->nics[i].has_mac && !memcmp(cfg->nics[i].mac, n.mac, 6))
			return api_fail(c, "%sThe MAC address is already in use: %s", prefix,
					v[2].s);
		if (!strcmp(cfg->nics[i].tap, v[1].s))
			return api_fail(
			    c,
			    "%sCannot open/create the tap device: %s is already used by "
			    "interface %s",
			    prefix, v[1].s, cfg->nics[i].id ? cfg->nics[i].id : "?");
	}
	if (idx < 0 && cfg->nnics == CONFIG_MAX_NICS)
		return api_fail(c, "%skvmbox supports at most %d network interfaces", prefix,
				CONFIG_MAX_NICS);
	if (api_dup(c, &n.tap, v[1].s) || api_dup(c, &n.id, v[0].s))
		return -ENOMEM;
	if (idx < 0) {
		cfg->nics[cfg->nnics++] = n;
	} else {
		struct config_net old = cfg->nics[idx];

		cfg->nics[idx] = n;
		api_release(cfg, old.tap);
		api_release(cfg, old.id);
	}
	return 0;
}

static const struct api_field api_net_patch_fields[] = {
	{ "iface_id", API_STR, API_REQ | API_ID, 0, 0, NULL, NULL },
	{ "rx_rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
	{ "tx_rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
};

/* Post-boot: Firecracker updates the rate limiters; kvmbox validates them only. */
static int api_patch_net(struct api_ctx *c, const char *id, json_t *body)
{
	struct api_val v[3];

	if (API_FIELDS(c, body, api_net_patch_fields, v) || api_same_id(c, id, v[0].s, true))
		return -EINVAL;
	if (api_find_net(c->cfg, v[0].s) < 0)
		return api_fail(
		    c,
		    "Network config error: Unable to update the net device: no interface "
		    "with id '%s'",
		    v[0].s);
	return 0;
}

/* ---- PUT /vsock, /entropy, /serial, /logger, /metrics ---- */

static const struct api_field api_vsock_fields[] = {
	{ "guest_cid", API_UINT, API_REQ, 0, UINT32_MAX - 1, NULL, NULL }, /* not VMADDR_CID_ANY */
	{ "uds_path", API_STR, API_REQ | API_NONEMPTY, 0, API_SUN_PATH_MAX, NULL, NULL },
	{ "vsock_id", API_STR, API_ID, 0, 0, NULL, NULL },
};

static int api_put_vsock(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Vsock config error: ";
	struct config_vsock vs = { .enabled = true };
	struct api_val v[3];

	if (API_FIELDS(c, body, api_vsock_fields, v))
		return -EINVAL;
	if (v[0].u < 3)
		return api_fail(c, "%sguest_cid must be at least 3 (0-2 are reserved)", prefix);
	if (api_check_parent(c, prefix, "uds_path", v[1].s))
		return -EINVAL;
	vs.guest_cid = v[0].u;
	if (api_dup(c, &vs.uds_path, v[1].s) || api_dup(c, &vs.id, v[2].s))
		return -ENOMEM;
	api_release(c->cfg, c->cfg->vsock.uds_path);
	api_release(c->cfg, c->cfg->vsock.id);
	c->cfg->vsock = vs;
	return 0;
}

static const struct api_field api_entropy_fields[] = {
	{ "rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_limiter },
};

static int api_put_entropy(struct api_ctx *c, const char *id, json_t *body)
{
	struct api_val v[1];

	if (API_FIELDS(c, body, api_entropy_fields, v))
		return -EINVAL;
	c->cfg->rng = true;
	return 0;
}

static const struct api_field api_serial_fields[] = {
	{ "serial_out_path", API_STR, API_NONEMPTY, 0, 0, NULL, NULL },
	{ "rate_limiter", API_OBJ, 0, 0, 0, NULL, api_check_bucket },
};

static int api_put_serial(struct api_ctx *c, const char *id, json_t *body)
{
	struct api_val v[2];
	const char *path;

	if (API_FIELDS(c, body, api_serial_fields, v) ||
	    (v[0].set && api_check_output(c, "Serial config error: ", "serial_out_path", v[0].s)))
		return -EINVAL;
	if (api_dup(c, &path, v[0].s))
		return -ENOMEM;
	api_set(c->cfg, &c->cfg->serial_out, path); /* none: the guest's COM1 goes to stdout */
	return 0;
}

static const char *const api_levels[] = { "Off",  "Error", "Warning", "Warn",
					  "Info", "Debug", "Trace",   NULL };

static const struct api_field api_logger_fields[] = {
	{ "log_path", API_STR, API_NONEMPTY, 0, 0, NULL, NULL },
	{ "level", API_ENUM, API_NOCASE, 0, 0, api_levels, NULL },
	{ "show_level", API_BOOL, 0, 0, 0, NULL, NULL },
	{ "show_log_origin", API_BOOL, 0, 0, 0, NULL, NULL },
	{ "module", API_STR, 0, 0, 256, NULL, NULL },
};

static int api_put_logger(struct api_ctx *c, const char *id, json_t *body)
{
	/* Off .. Trace -> kvmbox's levels (it always prints errors) and -v counts. */
	static const enum log_level levels[] = { LOG_ERROR, LOG_ERROR, LOG_WARN, LOG_WARN,
						 LOG_INFO,  LOG_DEBUG, LOG_DEBUG };
	struct api_val v[5];
	const char *path;

	char err[384];

	if (API_FIELDS(c, body, api_logger_fields, v) ||
	    (v[0].set && api_check_output(c, "Logger error: ", "log_path", v[0].s)))
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

static const struct api_field api_metrics_fields[] = {
	{ "metrics_path", API_STR, API_REQ | API_NONEMPTY, 0, 0, NULL, NULL },
	{ "emit_id", API_BOOL, 0, 0, 0, NULL, NULL },
	{ "properties", API_OBJ, 0, 0, 0, NULL, api_check_properties },
};

static int api_put_metrics(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] =
	    "Metrics error: Cannot initialize the metrics system due to bad user input: ";
	struct api_val v[3];
	const char *path;
	char err[384];

	if (API_FIELDS(c, body, api_metrics_fields, v))
		return -EINVAL;
	if (c->cfg->metrics_path)
		return api_fail(c, "%sReinitialization of metrics not allowed.", prefix);
	if (api_check_output(c, prefix, "metrics_path", v[0].s))
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
static const struct api_field api_action_fields[] = {
	{ "action_type", API_ENUM, API_REQ, 0, 0, api_actions, NULL },
};

static int api_put_actions(struct api_ctx *c, const char *id, json_t *body)
{
	struct api_val v[1];
	char err[384];

	if (API_FIELDS(c, body, api_action_fields, v))
		return -EINVAL;
	switch (v[0].e) {
	case 0: /* FlushMetrics */
		if (!api_started(c))
			return api_fail(c, "%s", api_post_boot_only);
		if (c->ops->flush_metrics && c->ops->flush_metrics(c->opaque, err, sizeof(err)))
			return api_fail(c, "Metrics error: %s", err);
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
static const struct api_field api_vm_fields[] = {
	{ "state", API_ENUM, API_REQ, 0, 0, api_vm_states, NULL },
};

static int api_patch_vm(struct api_ctx *c, const char *id, json_t *body)
{
	int (*op)(void *, char *, size_t);
	struct api_val v[1];
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

/* ---- GET /vm/config ---- */

static int api_obj_set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *api_drives_json(const struct vm_config *cfg)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < cfg->ndisks; i++) {
		const struct config_disk *d = &cfg->disks[i];
		char id[16];
		json_t *o;

		snprintf(id, sizeof(id), "drive%u", i);
		o = json_pack("{s:s, s:b, s:s, s:b, s:s, s:s}", "drive_id", d->id ? d->id : id,
			      "is_root_device", d->is_root, "cache_type", "Writeback",
			      "is_read_only", d->readonly, "path_on_host", d->path, "io_engine",
			      "Async");
		if (!o || (d->partuuid && api_obj_set(o, "partuuid", json_string(d->partuuid))) ||
		    json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *api_nets_json(const struct vm_config *cfg)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < cfg->nnics; i++) {
		const struct config_net *n = &cfg->nics[i];
		char id[16], mac[18];
		json_t *o;

		snprintf(id, sizeof(id), "net%u", i);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
			 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		o = json_pack("{s:s, s:s}", "iface_id", n->id ? n->id : id, "host_dev_name",
			      n->tap);
		if (!o || (n->has_mac && api_obj_set(o, "guest_mac", json_string(mac))) ||
		    json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *api_config_json(const struct vm_config *cfg)
{
	static const char *const level_names[] = { "Warning", "Info", "Debug" };
	json_t *o = json_object(), *boot = NULL, *vsock = NULL;
	int bad = !o;

	if (cfg->kernel) {
		boot = json_pack("{s:s}", "kernel_image_path", cfg->kernel);
		bad |=
		    !boot ||
		    (cfg->initrd && api_obj_set(boot, "initrd_path", json_string(cfg->initrd))) ||
		    (cfg->cmdline && api_obj_set(boot, "boot_args", json_string(cfg->cmdline)));
	}
	if (cfg->vsock.enabled) {
		vsock = json_pack("{s:I, s:s}", "guest_cid", (json_int_t)cfg->vsock.guest_cid,
				  "uds_path", cfg->vsock.uds_path ? cfg->vsock.uds_path : "");
		bad |= !vsock || (cfg->vsock.id &&
				  api_obj_set(vsock, "vsock_id", json_string(cfg->vsock.id)));
	}
	if (bad) {
		json_decref(o);
		json_decref(boot);
		json_decref(vsock);
		return NULL;
	}
	/* Firecracker's keys (FullVmConfiguration); what kvmbox lacks is null or empty. */
	bad |= api_obj_set(o, "balloon", json_null());
	bad |= api_obj_set(o, "drives", api_drives_json(cfg));
	bad |= api_obj_set(o, "boot-source", boot ? boot : json_null());
	bad |= api_obj_set(o, "cpu-config", json_null());
	bad |= api_obj_set(o, "logger",
			   cfg->log_path
			       ? json_pack("{s:s, s:s}", "log_path", cfg->log_path, "level",
					   level_names[cfg->verbosity > 2   ? 2
						       : cfg->verbosity < 0 ? 0
									    : cfg->verbosity])
			       : json_null());
	bad |= api_obj_set(o, "machine-config", api_machine_json(cfg));
	bad |= api_obj_set(o, "metrics",
			   cfg->metrics_path ? json_pack("{s:s}", "metrics_path", cfg->metrics_path)
					     : json_null());
	bad |= api_obj_set(o, "mmds-config", json_null());
	bad |= api_obj_set(o, "network-interfaces", api_nets_json(cfg));
	bad |= api_obj_set(o, "vsock", vsock ? vsock : json_null());
	bad |= api_obj_set(o, "entropy", cfg->rng ? json_object() : json_null());
	bad |= api_obj_set(o, "pmem", json_array());
	bad |= api_obj_set(o, "memory-hotplug", json_null());
	/* kvmbox's: Firecracker keeps the serial configuration out of this document. */
	bad |= api_obj_set(o, "serial",
			   cfg->serial_out ? json_pack("{s:s}", "serial_out_path", cfg->serial_out)
					   : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *api_config_export(const struct vm_config *cfg)
{
	json_t *o = api_config_json(cfg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static int api_get_vm_config(struct api_ctx *c, const char *id, json_t *body)
{
	return api_reply(c, api_config_json(c->cfg));
}

/* ---- kvmbox extensions: GET /kvmbox/stats, PUT /kvmbox/stop ---- */

static int api_get_stats(struct api_ctx *c, const char *id, json_t *body)
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

static const struct api_field api_stop_fields[] = {
	{ "exit_status", API_UINT, 0, 0, 255, NULL, NULL },
};

static int api_put_stop(struct api_ctx *c, const char *id, json_t *body)
{
	struct api_val v[1] = { { 0 } };
	char err[384];

	if (body && API_FIELDS(c, body, api_stop_fields, v))
		return -EINVAL;
	if (!c->ops->stop || c->ops->stop(c->opaque, (int)v[0].u, err, sizeof(err)))
		return api_fail(c, "Cannot stop the microVM: %s",
				c->ops->stop ? err : "no stop op");
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
	{ "GET", "kvmbox", "stats", API_ANY, false, api_get_stats },
	{ "PUT", "kvmbox", "stop", API_ANY, true, api_put_stop },
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
		   api_check_id(&c, (id = nseg == 2 ? seg[1] : ""))) {
		ret = -EINVAL;
	} else if (body_len &&
		   !(json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr))) {
		ret = api_fail(&c, API_SERDE "%s at line %d column %d.", jerr.text, jerr.line,
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
		return api_fail(c, "%s: expected an array, got %s", key, api_json_kind(value));
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
