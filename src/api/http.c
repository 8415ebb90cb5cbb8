/* One HTTP/1.1 server connection on top of http-parser: bounded buffers, pipelining, errors. */
#include "api/http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_conn {
	http_parser parser;
	char in[HTTP_IN_CAP];
	size_t in_off, in_len; /* unparsed input is in[in_off, in_len) */

	/* The request being parsed (http-parser hands out pieces; they are copied here). */
	char url[HTTP_MAX_HEADER + 1];
	size_t url_len;
	char *body; /* HTTP_MAX_BODY + 1 bytes, allocated on the first body byte */
	size_t body_len;
	char hname[16]; /* current header name, lower case, truncated (only "expect" matters) */
	size_t hname_len;
	bool hname_long;
	char hval[32];
	size_t hval_len;
	bool last_was_value;
	bool expect_continue;

	size_t hdr_bytes;    /* bytes parsed while the request line + headers are not complete */
	bool headers_done;   /* of the current request */
	bool in_message;     /* a request has begun and is not complete */
	bool answer_pending; /* http_conn_next returned a request; http_conn_respond not called */
	bool keep_alive;     /* of the last complete request */
	bool head;
	bool eof;
	bool closing; /* take no more requests; close once the output is written */

	int err_status; /* set by a callback that refuses the request */
	char err_msg[160];

	char *out;
	size_t out_off, out_len, out_cap; /* pending output is out[out_off, out_len) */
};

static struct http_conn *http_conn_of(http_parser *p)
{
	return p->data;
}

static int http_refuse(struct http_conn *c, int status, const char *msg)
{
	c->err_status = status;
	snprintf(c->err_msg, sizeof(c->err_msg), "%s", msg);
	return -1;
}

static int http_on_message_begin(http_parser *p)
{
	struct http_conn *c = http_conn_of(p);

	c->in_message = true;
	c->url_len = 0;
	c->url[0] = '\0';
	c->body_len = 0;
	c->hname_len = c->hval_len = 0;
	c->hname_long = c->last_was_value = c->expect_continue = false;
	return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = http_conn_of(p);

	if (len > HTTP_MAX_HEADER - c->url_len)
		return http_refuse(c, 400, "Request line too long.");
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

/* A header (name + value) is complete: the only one acted on is Expect: 100-continue. */
static void http_header_end(struct http_conn *c)
{
	if (!c->hname_long && c->hname_len == 6 && !memcmp(c->hname, "expect", 6)) {
		size_t n = c->hval_len;

		while (n && (c->hval[n - 1] == ' ' || c->hval[n - 1] == '\t'))
			n--;
		if (n == 12 && !strncasecmp(c->hval, "100-continue", 12))
			c->expect_continue = true;
	}
	c->hname_len = c->hval_len = 0;
	c->hname_long = false;
}

static int http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = http_conn_of(p);

	if (c->last_was_value)
		http_header_end(c);
	c->last_was_value = false;
	for (size_t i = 0; i < len; i++) {
		if (c->hname_len == sizeof(c->hname)) {
			c->hname_long = true;
			break;
		}
		c->hname[c->hname_len++] =
		    (char)((at[i] >= 'A' && at[i] <= 'Z') ? at[i] + 32 : at[i]);
	}
	return 0;
}

static int http_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = http_conn_of(p);
	size_t n = sizeof(c->hval) - c->hval_len;

	c->last_was_value = true;
	if (len < n)
		n = len;
	memcpy(c->hval + c->hval_len, at, n);
	c->hval_len += n;
	return 0;
}

static bool http_out_append(struct http_conn *c, const char *data, size_t len)
{
	if (c->out_off && len > c->out_cap - c->out_len) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (len > c->out_cap - c->out_len) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		if (len > HTTP_OUT_HARD - c->out_len)
			return false;
		while (cap - c->out_len < len)
			cap *= 2;
		if (cap > HTTP_OUT_HARD)
			cap = HTTP_OUT_HARD;
		p = realloc(c->out, cap);
		if (!p)
			return false;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return true;
}

static int http_on_headers_complete(http_parser *p)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct http_conn *c = http_conn_of(p);
	char msg[160];

	if (c->last_was_value)
		http_header_end(c);
	c->headers_done = true;
	if (p->http_major != 1)
		return http_refuse(c, 400, "Unsupported HTTP version.");
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTP_MAX_BODY) {
		snprintf(msg, sizeof(msg),
			 "Request payload with size %llu is larger than the limit of %u "
			 "allowed by server.",
			 (unsigned long long)p->content_length, HTTP_MAX_BODY);
		return http_refuse(c, 400, msg);
	}
	/* curl waits up to a second for this before it sends a body it announced. */
	if (c->expect_continue && ((p->flags & F_CHUNKED) || p->content_length > 0) &&
	    !http_out_append(c, cont, sizeof(cont) - 1))
		return http_refuse(c, 500, "Output buffer full.");
	return 0;
}

static int http_on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = http_conn_of(p);

	if (len > HTTP_MAX_BODY - c->body_len)
		return http_refuse(c, 400,
				   "Request payload is larger than the limit of 51200 bytes "
				   "allowed by server.");
	if (!c->body) {
		c->body = malloc(HTTP_MAX_BODY + 1);
		if (!c->body)
			return http_refuse(c, 500, "Out of memory.");
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int http_on_message_complete(http_parser *p)
{
	struct http_conn *c = http_conn_of(p);

	c->in_message = false;
	c->keep_alive = http_should_keep_alive(p);
	c->head = p->method == HTTP_HEAD;
	if (c->body)
		c->body[c->body_len] = '\0';
	/* One request at a time: the caller answers it before the next one is parsed. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_message_begin = http_on_message_begin,
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_value = http_on_header_value,
	.on_headers_complete = http_on_headers_complete,
	.on_body = http_on_body,
	.on_message_complete = http_on_message_complete,
};

int http_conn_create(struct http_conn **out)
{
	struct http_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	*out = c;
	return 0;
}

void http_conn_destroy(struct http_conn *c)
{
	if (!c)
		return;
	free(c->body);
	free(c->out);
	free(c);
}

size_t http_conn_in_space(const struct http_conn *c)
{
	if (c->closing || c->eof)
		return 0;
	return HTTP_IN_CAP - (c->in_len - c->in_off);
}

size_t http_conn_feed(struct http_conn *c, const void *data, size_t len)
{
	size_t space = http_conn_in_space(c);

	if (len > space)
		len = space;
	if (!len)
		return 0;
	if (len > HTTP_IN_CAP - c->in_len) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	return len;
}

void http_conn_eof(struct http_conn *c)
{
	c->eof = true;
}

static void http_queue(struct http_conn *c, int status, const char *body, size_t len, bool head)
{
	const char *reason = http_status_str((enum http_status)status);
	char hdr[256];
	int n;

	if (status == 204 || status < 200)
		n = snprintf(hdr, sizeof(hdr),
			     "HTTP/1.1 %d %s\r\nServer: kvmbox\r\nConnection: %s\r\n\r\n", status,
			     reason, c->closing ? "close" : "keep-alive");
	else
		n = snprintf(hdr, sizeof(hdr),
			     "HTTP/1.1 %d %s\r\nServer: kvmbox\r\nConnection: %s\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			     status, reason, c->closing ? "close" : "keep-alive", len);
	if (status == 204 || status < 200 || head)
		len = 0;
	/* Both parts or neither: a truncated response would desynchronise the client. */
	if (len > HTTP_OUT_HARD - (size_t)n ||
	    (size_t)n + len > HTTP_OUT_HARD - (c->out_len - c->out_off) ||
	    !http_out_append(c, hdr, (size_t)n) || !http_out_append(c, body, len))
		c->closing = true; /* cannot answer: drop the connection */
}

/* Malformed input: answer 400 (or the callback's status) and close after it is sent. */
static int http_fail(struct http_conn *c, int status, const char *msg)
{
	char body[256];
	int n;

	c->closing = true;
	c->in_off = c->in_len = 0;
	/* msg is kvmbox's or http-parser's own text: no quote or backslash to escape. */
	n = snprintf(body, sizeof(body), "{\"fault_message\": \"%s\"}", msg);
	http_queue(c, status, body, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1, false);
	return -EPROTO;
}

int http_conn_next(struct http_conn *c, struct http_request *req)
{
	char msg[128];

	if (c->closing || c->answer_pending || c->out_len - c->out_off > HTTP_OUT_SOFT)
		return 0;
	while (c->in_off < c->in_len) {
		size_t n = c->in_len - c->in_off, done;
		enum http_errno e;

		if (!c->headers_done) {
			if (c->hdr_bytes >= HTTP_MAX_HEADER)
				return http_fail(c, 400,
						 "Request headers too large (limit 8192 bytes).");
			if (n > HTTP_MAX_HEADER - c->hdr_bytes)
				n = HTTP_MAX_HEADER - c->hdr_bytes;
		}
		if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED)
			http_parser_pause(&c->parser, 0);
		done = http_parser_execute(&c->parser, &http_settings, c->in + c->in_off, n);
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (!c->headers_done)
			c->hdr_bytes += done;
		c->in_off += done;
		if (c->parser.upgrade)
			return http_fail(c, 400,
					 "Protocol upgrades and CONNECT are not supported.");
		if (e == HPE_PAUSED) {
			req->method = http_method_str((enum http_method)c->parser.method);
			req->url = c->url;
			req->body = c->body_len ? c->body : "";
			req->body_len = c->body_len;
			req->head = c->head;
			c->answer_pending = true;
			return 1;
		}
		if (e != HPE_OK) {
			if (c->err_status)
				return http_fail(c, c->err_status, c->err_msg);
			snprintf(msg, sizeof(msg), "Invalid HTTP request: %s.",
				 http_errno_description(e));
			return http_fail(c, 400, msg);
		}
		if (done < n)
			return http_fail(c, 400, "Invalid HTTP request.");
	}
	c->in_off = c->in_len = 0;
	if (c->eof) {
		if (c->in_message)
			return http_fail(c, 400, "Truncated HTTP request.");
		c->closing = true;
	}
	return 0;
}

void http_conn_respond(struct http_conn *c, int status, const char *body, size_t len)
{
	if (!c->answer_pending)
		return;
	c->answer_pending = false;
	c->headers_done = false;
	c->hdr_bytes = 0;
	if (!c->keep_alive)
		c->closing = true;
	http_queue(c, status, body ? body : "", body ? len : 0, c->head);
}

const void *http_conn_out(const struct http_conn *c, size_t *len)
{
	*len = c->out_len - c->out_off;
	return c->out ? c->out + c->out_off : "";
}

void http_conn_out_done(struct http_conn *c, size_t n)
{
	if (n > c->out_len - c->out_off)
		n = c->out_len - c->out_off;
	c->out_off += n;
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		/* A big response (GET /vm/config) should not pin its buffer for good. */
		if (c->out_cap > HTTP_OUT_SOFT) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
}

bool http_conn_closing(const struct http_conn *c)
{
	return c->closing;
}

bool http_conn_busy(const struct http_conn *c)
{
	return c->in_message || c->answer_pending || c->in_len > c->in_off ||
	       c->out_len > c->out_off;
}
