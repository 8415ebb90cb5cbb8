/* API bodies checked once: the field-table checker and the side-effect-free host path checks. */
#include "api/schema.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static int schema_fail(char *fault, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int schema_fail(char *fault, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fault, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *schema_json_kind(const json_t *v)
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
static void schema_list(char *buf, size_t len, const char *const *names, size_t n, size_t stride)
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
int schema_check_id(const char *id, char *fault, size_t len)
{
	size_t n = strlen(id);

	if (!n)
		return schema_fail(fault, len, "The ID cannot be empty.");
	if (n > SCHEMA_MAX_ID)
		return schema_fail(fault, len,
				   "API Resource IDs can be at most %d characters long.",
				   SCHEMA_MAX_ID);
	for (size_t i = 0; i < n; i++)
		if (!(isascii((unsigned char)id[i]) && isalnum((unsigned char)id[i])) &&
		    id[i] != '_')
			return schema_fail(
			    fault, len,
			    "API Resource IDs can only contain alphanumeric characters "
			    "and underscores.");
	return 0;
}

static int schema_value(const struct schema_field *f, json_t *v, struct schema_val *out,
			char *fault, size_t len)
{
	char names[256];
	size_t n;

	switch (f->kind) {
	case SCHEMA_STR:
		if (!json_is_string(v))
			break;
		n = json_string_length(v);
		if (n > (f->max ? f->max : SCHEMA_PATH_MAX - 1))
			return schema_fail(
			    fault, len, SCHEMA_SERDE "`%s` is too long (%zu bytes, at most %llu)",
			    f->name, n,
			    (unsigned long long)(f->max ? f->max : SCHEMA_PATH_MAX - 1));
		if (!n && (f->flags & SCHEMA_NONEMPTY))
			return schema_fail(fault, len, SCHEMA_SERDE "`%s` cannot be empty",
					   f->name);
		out->s = json_string_value(v);
		if ((f->flags & SCHEMA_ID) && schema_check_id(out->s, fault, len))
			return -EINVAL;
		out->set = true;
		return 0;
	case SCHEMA_BOOL:
		if (!json_is_boolean(v))
			break;
		out->b = json_is_true(v);
		out->set = true;
		return 0;
	case SCHEMA_UINT:
		if (!json_is_integer(v))
			break;
		if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < f->min ||
		    (uint64_t)json_integer_value(v) > f->max)
			return schema_fail(fault, len,
					   SCHEMA_SERDE
					   "invalid value: integer `%lld` for `%s`, expected "
					   "%llu to %llu",
					   (long long)json_integer_value(v), f->name,
					   (unsigned long long)f->min, (unsigned long long)f->max);
		out->u = (uint64_t)json_integer_value(v);
		out->set = true;
		return 0;
	case SCHEMA_ENUM:
		if (!json_is_string(v))
			break;
		for (unsigned i = 0; f->choices[i]; i++)
			if ((f->flags & SCHEMA_NOCASE)
				? !strcasecmp(json_string_value(v), f->choices[i])
				: !strcmp(json_string_value(v), f->choices[i])) {
				out->e = i;
				out->s = f->choices[i];
				out->set = true;
				return 0;
			}
		for (n = 0; f->choices[n]; n++)
			;
		schema_list(names, sizeof(names), f->choices, n, sizeof(f->choices[0]));
		return schema_fail(fault, len,
				   SCHEMA_SERDE "unknown variant `%s` for `%s`, expected one of %s",
				   json_string_value(v), f->name, names);
	case SCHEMA_OBJ:
	case SCHEMA_ARR:
		if (f->kind == SCHEMA_OBJ ? !json_is_object(v) : !json_is_array(v))
			break;
		if (f->check(v, fault, len))
			return -EINVAL;
		out->set = true;
		return 0;
	}
	return schema_fail(fault, len, SCHEMA_SERDE "invalid type for `%s`: %s, expected %s",
			   f->name, schema_json_kind(v),
			   f->kind == SCHEMA_BOOL   ? "a boolean"
			   : f->kind == SCHEMA_UINT ? "an unsigned integer"
			   : f->kind == SCHEMA_OBJ  ? "a map"
			   : f->kind == SCHEMA_ARR  ? "a sequence"
						    : "a string");
}

/* Check obj against fields (n of them) into out[n]: types, ranges, unknown and missing fields. */
int schema_fields(json_t *obj, const struct schema_field *fields, size_t n, struct schema_val *out,
		  char *fault, size_t len)
{
	const char *key;
	json_t *v;

	memset(out, 0, n * sizeof(*out));
	if (!json_is_object(obj))
		return schema_fail(fault, len, SCHEMA_SERDE "invalid type: %s, expected a map",
				   schema_json_kind(obj));
	json_object_foreach(obj, key, v)
	{
		size_t i = 0;

		while (i < n && strcmp(key, fields[i].name))
			i++;
		if (i == n) {
			char names[256];

			schema_list(names, sizeof(names), &fields[0].name, n, sizeof(fields[0]));
			if (n)
				return schema_fail(fault, len,
						   SCHEMA_SERDE
						   "unknown field `%s`, expected one of %s",
						   key, names);
			return schema_fail(fault, len,
					   SCHEMA_SERDE "unknown field `%s`, there are no fields",
					   key);
		}
	}
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(obj, fields[i].name);
		if (!v || json_is_null(v)) {
			if (fields[i].flags & SCHEMA_REQ)
				return schema_fail(fault, len, SCHEMA_SERDE "missing field `%s`",
						   fields[i].name);
			continue;
		}
		if (schema_value(&fields[i], v, &out[i], fault, len))
			return -EINVAL;
	}
	return 0;
}

/* TokenBucket and RateLimiter: validated, not enforced by kvmbox. */
static const struct schema_field schema_bucket_fields[] = {
	{ "size", SCHEMA_UINT, SCHEMA_REQ, 0, INT64_MAX, NULL, NULL },
	{ "one_time_burst", SCHEMA_UINT, 0, 0, INT64_MAX, NULL, NULL },
	{ "refill_time", SCHEMA_UINT, SCHEMA_REQ, 0, INT64_MAX, NULL, NULL },
};

int schema_check_bucket(json_t *v, char *fault, size_t len)
{
	struct schema_val val[3];

	return SCHEMA_CHECK(v, schema_bucket_fields, val, fault, len);
}

static const struct schema_field schema_limiter_fields[] = {
	{ "bandwidth", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_bucket },
	{ "ops", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_bucket },
};

int schema_check_limiter(json_t *v, char *fault, size_t len)
{
	struct schema_val val[2];

	return SCHEMA_CHECK(v, schema_limiter_fields, val, fault, len);
}

/* Metrics properties: a map of strings. */
int schema_check_properties(json_t *v, char *fault, size_t len)
{
	const char *key;
	json_t *s;

	if (json_object_size(v) > 64)
		return schema_fail(fault, len,
				   SCHEMA_SERDE "`properties` has more than 64 entries");
	json_object_foreach(v, key, s)
	{
		if (!json_is_string(s))
			return schema_fail(fault, len,
					   SCHEMA_SERDE
					   "invalid type for `properties.%s`: %s, expected "
					   "a string",
					   key, schema_json_kind(s));
		if (strlen(key) > 256 || json_string_length(s) > 256)
			return schema_fail(
			    fault, len, SCHEMA_SERDE "`properties` entries are at most 256 bytes");
	}
	return 0;
}

/* An input file (kernel, initrd): a regular file kvmbox can read. */
int schema_check_input(const char *prefix, const char *what, const char *path, char *fault,
		       size_t len)
{
	char err[384];
	struct stat st;

	/* stat first: open() of a device node can have effects (a watchdog starts ticking). */
	if (stat(path, &st) < 0)
		return schema_fail(fault, len, "%scannot open %s '%s': %s", prefix, what, path,
				   strerror(errno));
	if (!S_ISREG(st.st_mode))
		return schema_fail(fault, len, "%s%s '%s' is not a regular file", prefix, what,
				   path);
	if (config_check_file(what, path, err, sizeof(err)))
		return schema_fail(fault, len, "%s%s", prefix, err);
	return 0;
}

/* A drive's backing file: a regular file or a block device, writable unless read-only. */
int schema_check_disk(const char *prefix, const char *path, bool ro, char *fault, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return schema_fail(fault, len, "%scannot open disk image '%s': %s", prefix, path,
				   strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return schema_fail(fault, len,
				   "%sdisk image '%s' is not a regular file or a block device",
				   prefix, path);
	if (access(path, R_OK) < 0)
		return schema_fail(fault, len, "%scannot open disk image '%s': %s", prefix, path,
				   strerror(errno));
	if (!ro && access(path, W_OK) < 0)
		return schema_fail(fault, len,
				   "%sdisk image '%s' is not writable: %s (set is_read_only)",
				   prefix, path, strerror(errno));
	return 0;
}

/* A directory a file can be created in (for paths that do not exist yet). */
int schema_check_parent(const char *prefix, const char *what, const char *path, char *fault,
			size_t len)
{
	char dir[SCHEMA_PATH_MAX];
	struct stat st;
	const char *d;

	snprintf(dir, sizeof(dir), "%s", path);
	d = dirname(dir);
	if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode))
		return schema_fail(fault, len, "%s%s '%s': directory '%s' does not exist", prefix,
				   what, path, d);
	if (access(d, W_OK | X_OK) < 0)
		return schema_fail(fault, len, "%s%s '%s': cannot create files in '%s': %s", prefix,
				   what, path, d, strerror(errno));
	return 0;
}

/* An output file (log, metrics, serial): writable, or creatable; a FIFO is fine. */
int schema_check_output(const char *prefix, const char *what, const char *path, char *fault,
			size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return schema_fail(fault, len, "%scannot open %s '%s': %s", prefix, what,
					   path, strerror(errno));
		return schema_check_parent(prefix, what, path, fault, len);
	}
	if (S_ISDIR(st.st_mode))
		return schema_fail(fault, len, "%s%s '%s' is a directory", prefix, what, path);
	if (access(path, W_OK) < 0)
		return schema_fail(fault, len, "%scannot write %s '%s': %s", prefix, what, path,
				   strerror(errno));
	return 0;
}
