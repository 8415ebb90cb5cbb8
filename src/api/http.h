/* One HTTP/1.1 server connection (no I/O): bytes in, complete requests out, responses queued. */
#ifndef KVMBOX_API_HTTP_H
#define KVMBOX_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER 8192 /* request line + headers */
#define HTTP_MAX_BODY 51200  /* Firecracker's default API payload limit */
#define HTTP_IN_CAP 16384    /* unparsed input kept (pipelined requests waiting) */
#define HTTP_OUT_SOFT 65536  /* no new request is taken while more output than this waits */
#define HTTP_OUT_HARD (1u << 20)

struct http_conn;

/* A complete request. Valid until http_conn_respond; strings are NUL-terminated. */
struct http_request {
	const char *method; /* "GET", "PUT", ... (http_parser's names) */
	const char *url;    /* as sent: "/drives/rootfs" */
	const char *body;   /* "" when there is none (chunked bodies are decoded) */
	size_t body_len;
	bool head; /* HEAD: the response carries headers only */
};

int http_conn_create(struct http_conn **out) __attribute__((warn_unused_result));
void http_conn_destroy(struct http_conn *c);

/* Free input space: how much the owner may read from the socket now (0: stop reading). */
size_t http_conn_in_space(const struct http_conn *c);
/* Copies up to http_conn_in_space bytes of input; returns how many were taken. */
size_t http_conn_feed(struct http_conn *c, const void *data, size_t len);
/* The peer will send nothing more (read returned 0). */
void http_conn_eof(struct http_conn *c);

/*
 * Parse buffered input. 1: *req is the next complete request; answer it with http_conn_respond
 * before calling again. 0: nothing to do now (more input needed, output backed up, or closing).
 * -EPROTO: malformed input; a 400 response is queued and the connection closes once it is sent.
 */
int http_conn_next(struct http_conn *c, struct http_request *req)
    __attribute__((warn_unused_result));
/* Queue the response to the request http_conn_next returned: status, optional JSON body. */
void http_conn_respond(struct http_conn *c, int status, const char *body, size_t len);

/* Output waiting to be written, and how much of it was written. */
const void *http_conn_out(const struct http_conn *c, size_t *len);
void http_conn_out_done(struct http_conn *c, size_t n);

/* No more requests will be taken: close once the output is written. */
bool http_conn_closing(const struct http_conn *c);
/* A request is partly received, or input or output is waiting (for the idle timeout). */
bool http_conn_busy(const struct http_conn *c);

#endif
