/* API bodies checked once: a table of fields per body (type, range, length, id charset, enum;
 * unknown fields refused) and host paths checked without side effects. Every API handler and
 * the config file go through these; on error fault (len bytes) gets Firecracker-style text. */
#ifndef KVMBOX_API_SCHEMA_H
#define KVMBOX_API_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHEMA_PATH_MAX 4096 /* host paths: at most SCHEMA_PATH_MAX - 1 bytes */
#define SCHEMA_MAX_ID 64     /* resource ids: [A-Za-z0-9_]{1,64} */
#define SCHEMA_SERDE "An error occurred when deserializing the json body of a request: "

enum schema_kind { SCHEMA_STR, SCHEMA_BOOL, SCHEMA_UINT, SCHEMA_ENUM, SCHEMA_OBJ, SCHEMA_ARR };

#define SCHEMA_REQ 1u	   /* required (null counts as absent) */
#define SCHEMA_ID 2u	   /* [A-Za-z0-9_]{1,64} */
#define SCHEMA_NONEMPTY 4u /* strings: at least one byte */
#define SCHEMA_NOCASE 8u   /* enums: case-insensitive */

struct schema_field {
	const char *name;
	enum schema_kind kind;
	unsigned flags;
	uint64_t min, max; /* SCHEMA_UINT: range; SCHEMA_STR: max length (0: SCHEMA_PATH_MAX - 1) */
	const char *const *choices;			  /* SCHEMA_ENUM, NULL-terminated */
	int (*check)(json_t *v, char *fault, size_t len); /* SCHEMA_OBJ, SCHEMA_ARR */
};

struct schema_val {
	bool set;
	const char *s;
	bool b;
	uint64_t u;
	unsigned e; /* SCHEMA_ENUM: index in choices */
};

/* Check obj against fields[n] into out[n]: types, ranges, lengths, unknown and missing fields.
 * -EINVAL with fault set on the first problem. */
int schema_fields(json_t *obj, const struct schema_field *fields, size_t n, struct schema_val *out,
		  char *fault, size_t len) __attribute__((warn_unused_result));
#define SCHEMA_CHECK(obj, fields, out, fault, len)                                                 \
	schema_fields(obj, fields, sizeof(fields) / sizeof(fields[0]), out, fault, len)

/* Resource ids, from a path or a body: [A-Za-z0-9_]{1,64} (Firecracker's rule, in ASCII). */
int schema_check_id(const char *id, char *fault, size_t len) __attribute__((warn_unused_result));
/* "a string", "an integer"...: what a JSON value is, for messages. */
const char *schema_json_kind(const json_t *v);
/* SCHEMA_OBJ checkers: Firecracker's TokenBucket and RateLimiter, metrics properties. */
int schema_check_bucket(json_t *v, char *fault, size_t len);
int schema_check_limiter(json_t *v, char *fault, size_t len);
int schema_check_properties(json_t *v, char *fault, size_t len);

/*
 * Host paths. Nothing is opened but regular files (read-only) and nothing is created: stat and
 * access only, since open() of a device node can have effects (a watchdog starts ticking).
 * prefix starts the message ("Boot source error: "); what names the file ("kernel").
 */
/* A regular, non-empty file kvmbox can read (kernel, initrd). */
int schema_check_input(const char *prefix, const char *what, const char *path, char *fault,
		       size_t len) __attribute__((warn_unused_result));
/* A drive's backing file: a regular file or a block device, writable unless ro. */
int schema_check_disk(const char *prefix, const char *path, bool ro, char *fault, size_t len)
    __attribute__((warn_unused_result));
/* A path whose directory exists and takes new files (unix socket paths). */
int schema_check_parent(const char *prefix, const char *what, const char *path, char *fault,
			size_t len) __attribute__((warn_unused_result));
/* An output file (log, metrics, serial): writable, or creatable; a FIFO is fine. */
int schema_check_output(const char *prefix, const char *what, const char *path, char *fault,
			size_t len) __attribute__((warn_unused_result));

#endif
