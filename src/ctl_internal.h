/* kvmbox ctl: what ctl.c (requests, commands) and ctl_top.c (the top command) share. */
#ifndef KVMBOX_CTL_INTERNAL_H
#define KVMBOX_CTL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

struct ctl {
	const char *sock;
	FILE *out;
	FILE *err;
	int timeout_ms;
	char msg[512]; /* why the last request failed, one line */
};

struct ctl_response {
	unsigned status;
	char reason[64];
	char *body;
	size_t len, cap;
	bool head; /* the request was HEAD: no body follows the headers */
	bool complete;
	bool too_big;
};

/* One line "kvmbox ctl: error: ..." on c->err; returns status, so callers can return it. */
int ctl_error(struct ctl *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t ctl_now_ms(void);
/*
 * One request on a fresh connection. Returns CTL_OK with the response in r (any HTTP status), or
 * CTL_USAGE (cannot connect) / CTL_FAILED (the exchange failed) with c->msg saying why; on failure
 * r holds nothing to free.
 */
int ctl_request(struct ctl *c, const char *method, const char *path, const char *body,
		struct ctl_response *r) __attribute__((warn_unused_result));
void ctl_response_free(struct ctl_response *r);

/* ctl_request, then an HTTP error (not 2xx) becomes the fault message on c->err. */
int ctl_call(struct ctl *c, const char *method, const char *path, const char *body,
	     struct ctl_response *r) __attribute__((warn_unused_result));
/* The same for commands whose success prints nothing. */
int ctl_simple(struct ctl *c, const char *method, const char *path, const char *body)
    __attribute__((warn_unused_result));
struct json_t;
/* r's body as a JSON object, or NULL (the error said on c->err). */
struct json_t *ctl_json_body(struct ctl *c, const struct ctl_response *r, const char *what);
/* GET path and its JSON object body; NULL with *status set (the error said on c->err). */
struct json_t *ctl_get_object(struct ctl *c, const char *path, const char *what, int *status);

/* `snapshot DIR [--diff]` and `restore DIR [--paused]` (ctl_snapshot.c). */
int ctl_snapshot(struct ctl *c, int argc, char **argv) __attribute__((warn_unused_result));
int ctl_restore(struct ctl *c, int argc, char **argv) __attribute__((warn_unused_result));

/* `top [-d SECONDS] [-n COUNT]`: argv[0] is "top". Returns an enum ctl_status. */
int ctl_top(struct ctl *c, int argc, char **argv) __attribute__((warn_unused_result));

#endif
