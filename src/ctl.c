/* kvmbox ctl: one HTTP/1.1 request per command over the API socket; `top` polls the stats. */
#include "ctl.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* No legitimate answer comes near this (the stats object is a few KiB). */
#define CTL_MAX_BODY (16u << 20)
#define CTL_USAGE_TEXT                                                                             \
	"usage: kvmbox ctl SOCKET COMMAND\n"                                                       \
	"commands:\n"                                                                              \
	"  status                      state, id and version of the VM\n"                          \
	"  pause | resume              pause or resume the vCPUs and devices\n"                    \
	"  stop                        stop the VM (kvmbox exits)\n"                               \
	"  ctrl-alt-del                send Ctrl-Alt-Del to the guest's keyboard\n"                \
	"  flush-metrics               write a metrics line now\n"                                 \
	"  stats                       every counter, as JSON\n"                                   \
	"  top [-d SECONDS] [-n COUNT] exits, device and bus events per second (q quits)\n"        \
	"  raw METHOD PATH [BODY]      any API request; prints the response body\n"

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

static int ctl_error(struct ctl *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line on stderr: control characters from the server become spaces. */
static int ctl_error(struct ctl *c, int status, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	fprintf(c->err, "kvmbox ctl: error: %s\n", line);
	fflush(c->err);
	return status;
}

static uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- HTTP ---- */

static int ctl_on_status(http_parser *p, const char *at, size_t len)
{
	struct ctl_response *r = p->data;
	size_t have = strlen(r->reason);

	if (len > sizeof(r->reason) - 1 - have)
		len = sizeof(r->reason) - 1 - have;
	memcpy(r->reason + have, at, len);
	r->reason[have + len] = '\0';
	return 0;
}

static int ctl_on_body(http_parser *p, const char *at, size_t len)
{
	struct ctl_response *r = p->data;

	if (len > CTL_MAX_BODY - r->len) {
		r->too_big = true;
		return 1;
	}
	if (r->len + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *b;

		while (cap < r->len + len + 1)
			cap *= 2;
		b = realloc(r->body, cap);
		if (!b) {
			r->too_big = true;
			return 1;
		}
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, at, len);
	r->len += len;
	r->body[r->len] = '\0';
	return 0;
}

static int ctl_on_headers(http_parser *p)
{
	return ((struct ctl_response *)p->data)->head; /* 1: no body to expect */
}

static int ctl_on_complete(http_parser *p)
{
	struct ctl_response *r = p->data;

	r->complete = true;
	r->status = p->status_code;
	/* Whatever follows (a keep-alive server's next bytes) is not ours to parse. */
	http_parser_pause(p, 1);
	return 0;
}

static void ctl_response_free(struct ctl_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int ctl_connect(struct ctl *c)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };
	int fd;

	if (strlen(c->sock) >= sizeof(addr.sun_path)) {
		snprintf(c->msg, sizeof(c->msg), "socket path '%s' is too long", c->sock);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, c->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;

		snprintf(c->msg, sizeof(c->msg), "socket: %s", strerror(err));
		return -err;
	}
	/* A unix connect waits for room in the listen backlog this long; sends too. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		snprintf(c->msg, sizeof(c->msg), "cannot connect to %s: %s", c->sock,
			 err == EAGAIN || err == EINPROGRESS ? "timed out" : strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

static int ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read until the response is complete, the server closes, or the deadline passes. */
static int ctl_receive(struct ctl *c, int fd, struct ctl_response *r)
{
	http_parser_settings settings;
	uint64_t deadline = ctl_now_ms() + (uint64_t)c->timeout_ms;
	size_t received = 0;
	http_parser parser;
	char buf[16384];

	http_parser_settings_init(&settings);
	settings.on_status = ctl_on_status;
	settings.on_headers_complete = ctl_on_headers;
	settings.on_body = ctl_on_body;
	settings.on_message_complete = ctl_on_complete;
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = r;
	while (!r->complete) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = ctl_now_ms();
		ssize_t n;
		int pr;

		if (now >= deadline)
			goto timeout;
		pr = poll(&p, 1, (int)(deadline - now));
		n = pr > 0 ? recv(fd, buf, sizeof(buf), 0) : pr;
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			int err = errno;

			snprintf(c->msg, sizeof(c->msg), "reading the response from %s: %s",
				 c->sock, strerror(err));
			return -err;
		}
		if (pr == 0)
			goto timeout;
		received += (size_t)n;
		/* n == 0 tells the parser about the end of the stream: it ends a body that runs
		 * to the close, and is an error anywhere else. */
		http_parser_execute(&parser, &settings, buf, (size_t)n);
		if (r->too_big) {
			snprintf(c->msg, sizeof(c->msg), "the response from %s is too large",
				 c->sock);
			return -EMSGSIZE;
		}
		if (r->complete)
			break;
		if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) {
			if (n == 0)
				break;
			snprintf(c->msg, sizeof(c->msg), "malformed response from %s (%s)", c->sock,
				 http_errno_description(HTTP_PARSER_ERRNO(&parser)));
			return -EPROTO;
		}
		if (n == 0)
			break;
	}
	if (r->complete)
		return 0;
	snprintf(c->msg, sizeof(c->msg), "%s closed the connection %s", c->sock,
		 received ? "in the middle of the response" : "without responding");
	return -ECONNRESET;
timeout:
	snprintf(c->msg, sizeof(c->msg), "no response from %s within %d.%03d s", c->sock,
		 c->timeout_ms / 1000, c->timeout_ms % 1000);
	return -ETIMEDOUT;
}

/*
 * One request on a fresh connection. Returns CTL_OK with the response in r (any HTTP status), or
 * CTL_USAGE (cannot connect) / CTL_FAILED (the exchange failed) with c->msg saying why.
 */
static int ctl_request(struct ctl *c, const char *method, const char *path, const char *body,
		       struct ctl_response *r)
{
	size_t blen = body ? strlen(body) : 0;
	/* A request that may carry a body says how long it is, even when it has none. */
	bool bodyless = !body && (!strcmp(method, "GET") || !strcmp(method, "HEAD"));
	char clen[48] = "";
	char *req;
	int fd, len, ret;

	memset(r, 0, sizeof(*r));
	fd = ctl_connect(c);
	if (fd < 0)
		return CTL_USAGE;
	if (!bodyless)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", blen);
	len = asprintf(&req,
		       "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: kvmbox-ctl\r\n"
		       "Accept: application/json\r\n%s%sConnection: close\r\n\r\n",
		       method, path, body ? "Content-Type: application/json\r\n" : "", clen);
	if (len < 0) {
		close(fd);
		snprintf(c->msg, sizeof(c->msg), "out of memory");
		return CTL_FAILED;
	}
	r->head = !strcmp(method, "HEAD");
	ret = ctl_send_all(fd, req, (size_t)len);
	if (!ret && blen)
		ret = ctl_send_all(fd, body, blen);
	free(req);
	/* A server that refused the request half-way may still have said why: read that first. */
	if ((ret && ret != -EPIPE && ret != -ECONNRESET) || ctl_receive(c, fd, r)) {
		if (ret)
			snprintf(c->msg, sizeof(c->msg), "sending the request to %s: %s", c->sock,
				 strerror(-ret));
		ctl_response_free(r);
		close(fd);
		return CTL_FAILED;
	}
	close(fd);
	return CTL_OK;
}

/* A non-2xx answer: the API's fault_message, else the status line. */
static int ctl_http_error(struct ctl *c, const struct ctl_response *r)
{
	json_t *root = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *fault = json_string_value(json_object_get(root, "fault_message"));
	int ret;

	if (fault)
		ret = ctl_error(c, CTL_FAILED, "%s", fault);
	else
		ret = ctl_error(c, CTL_FAILED, "HTTP %u %s%s%.200s", r->status, r->reason,
				r->len ? ": " : "", r->len ? r->body : "");
	json_decref(root);
	return ret;
}

/* Send a request; on success (2xx) leave the response in r for the caller. */
static int ctl_call(struct ctl *c, const char *method, const char *path, const char *body,
		    struct ctl_response *r)
{
	int ret = ctl_request(c, method, path, body, r);

	if (ret)
		return ctl_error(c, ret, "%s", c->msg);
	if (r->status < 200 || r->status > 299) {
		ret = ctl_http_error(c, r);
		ctl_response_free(r);
	}
	return ret;
}

/* For the commands whose success has nothing to print. */
static int ctl_simple(struct ctl *c, const char *method, const char *path, const char *body)
{
	struct ctl_response r;
	int ret = ctl_call(c, method, path, body, &r);

	if (!ret)
		ctl_response_free(&r);
	return ret;
}

static json_t *ctl_json_body(struct ctl *c, const struct ctl_response *r, const char *what)
{
	json_error_t e;
	json_t *root = json_loadb(r->body ? r->body : "", r->len, 0, &e);

	if (!root)
		ctl_error(c, CTL_FAILED, "%s: the response is not JSON (%s)", what, e.text);
	else if (!json_is_object(root)) {
		ctl_error(c, CTL_FAILED, "%s: the response is not a JSON object", what);
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* ---- commands ---- */

static int ctl_status(struct ctl *c)
{
	static const char *const keys[][2] = {
		{ "state", "state" },
		{ "id", "id" },
		{ "vmm_version", "version" },
		{ "app_name", "app" },
	};
	struct ctl_response r;
	json_t *root;
	int ret = ctl_call(c, "GET", "/", NULL, &r);

	if (ret)
		return ret;
	root = ctl_json_body(c, &r, "status");
	ctl_response_free(&r);
	if (!root)
		return CTL_FAILED;
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(root, keys[i][0]));

		if (v)
			fprintf(c->out, "%s: %s\n", keys[i][1], v);
	}
	json_decref(root);
	return CTL_OK;
}

static int ctl_stats(struct ctl *c)
{
	struct ctl_response r;
	json_t *root;
	int ret = ctl_call(c, "GET", "/kvmbox/stats", NULL, &r);

	if (ret)
		return ret;
	root = ctl_json_body(c, &r, "stats");
	ctl_response_free(&r);
	if (!root)
		return CTL_FAILED;
	json_dumpf(root, c->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', c->out);
	json_decref(root);
	return CTL_OK;
}

/* A method is an HTTP token; a path starts with '/' and holds no space or control character. */
static bool ctl_raw_ok(const char *method, const char *path)
{
	if (!*method || path[0] != '/')
		return false;
	for (const char *p = method; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return false;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int ctl_raw(struct ctl *c, int argc, char **argv)
{
	struct ctl_response r;
	int ret;

	if (argc < 3 || argc > 4)
		return ctl_error(c, CTL_USAGE, "usage: raw METHOD PATH [BODY]");
	if (!ctl_raw_ok(argv[1], argv[2]))
		return ctl_error(c, CTL_USAGE, "raw: bad method '%s' or path '%s'", argv[1],
				 argv[2]);
	ret = ctl_call(c, argv[1], argv[2], argc == 4 ? argv[3] : NULL, &r);
	if (ret)
		return ret;
	if (r.len) {
		fwrite(r.body, 1, r.len, c->out);
		if (r.body[r.len - 1] != '\n')
			fputc('\n', c->out);
	}
	ctl_response_free(&r);
	return CTL_OK;
}

/* ---- top ---- */

struct ctl_counter {
	char name[96];
	uint64_t value;
	double rate; /* per second; < 0 before there are two samples */
};

struct ctl_sample {
	struct ctl_counter *v;
	unsigned n, cap;
	uint64_t uptime_ms;
	uint64_t run_ns, handler_ns;
	unsigned ncpus;
	uint64_t taken_ms; /* local clock, when uptime_ms is missing */
	bool oom;	   /* a counter could not be added */
};

static int ctl_counter_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctl_counter *)a)->name, ((const struct ctl_counter *)b)->name);
}

static uint64_t ctl_u64(const json_t *v)
{
	json_int_t i = json_integer_value(v);

	return i > 0 ? (uint64_t)i : 0;
}

/* Add v to the counter called "a b" (equal names, e.g. a device's several BARs, are summed). */
static void ctl_sample_add(struct ctl_sample *s, const char *a, const char *b, uint64_t v)
{
	char name[sizeof(s->v[0].name)];

	snprintf(name, sizeof(name), "%s %s", a, b);
	for (unsigned i = 0; i < s->n; i++) {
		if (!strcmp(s->v[i].name, name)) {
			s->v[i].value += v;
			return;
		}
	}
	if (s->n == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 64;
		struct ctl_counter *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv) {
			s->oom = true;
			return;
		}
		s->v = nv;
		s->cap = cap;
	}
	memcpy(s->v[s->n].name, name, sizeof(name));
	s->v[s->n].value = v;
	s->v[s->n].rate = -1;
	s->n++;
}

static void ctl_sample_bus(struct ctl_sample *s, const json_t *bus, const char *busname)
{
	const json_t *ranges = json_object_get(bus, "ranges"), *r;
	size_t i;

	json_array_foreach(ranges, i, r)
	{
		const char *name = json_string_value(json_object_get(r, "name"));

		ctl_sample_add(s, busname, name ? name : "?",
			       ctl_u64(json_object_get(r, "accesses")));
	}
	ctl_sample_add(s, busname, "unclaimed reads",
		       ctl_u64(json_object_get(bus, "unclaimed_reads")));
	ctl_sample_add(s, busname, "unclaimed writes",
		       ctl_u64(json_object_get(bus, "unclaimed_writes")));
}

/* Every integer member of obj as "prefix key". */
static void ctl_sample_object(struct ctl_sample *s, const json_t *obj, const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		ctl_sample_add(s, prefix, key, ctl_u64(v));
	}
}

/* The metrics object (see metrics.h) -> named counters, sorted by name. */
static int ctl_sample_parse(struct ctl_sample *s, const json_t *root)
{
	static const char *const dev_keys[][2] = {
		{ "kicks", "kicks" },	    { "requests", "requests" },
		{ "bytes_in", "bytes in" }, { "bytes_out", "bytes out" },
		{ "errors", "errors" },	    { "interrupts", "interrupts" },
	};
	const json_t *vcpus = json_object_get(root, "vcpus");
	const json_t *total = json_object_get(vcpus, "total");
	const json_t *buses = json_object_get(root, "buses");
	const json_t *devices = json_object_get(root, "devices"), *d;
	size_t i;

	s->uptime_ms = ctl_u64(json_object_get(root, "uptime_ms"));
	s->run_ns = ctl_u64(json_object_get(total, "run_ns"));
	s->handler_ns = ctl_u64(json_object_get(total, "handler_ns"));
	s->ncpus = (unsigned)json_array_size(json_object_get(vcpus, "per_vcpu"));
	ctl_sample_object(s, json_object_get(total, "exits"), "exit");
	ctl_sample_bus(s, json_object_get(buses, "pio"), "pio");
	ctl_sample_bus(s, json_object_get(buses, "mmio"), "mmio");
	json_array_foreach(devices, i, d)
	{
		const char *name = json_string_value(json_object_get(d, "name"));

		for (unsigned k = 0; k < sizeof(dev_keys) / sizeof(dev_keys[0]); k++)
			ctl_sample_add(s, name ? name : "virtio", dev_keys[k][1],
				       ctl_u64(json_object_get(d, dev_keys[k][0])));
	}
	ctl_sample_object(s, json_object_get(root, "emulated"), "emulated");
	if (s->oom)
		return -ENOMEM;
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), ctl_counter_cmp);
	return 0;
}

static int ctl_sample_take(struct ctl *c, struct ctl_sample *s)
{
	struct ctl_response r;
	json_t *root;
	json_error_t e;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = ctl_request(c, "GET", "/kvmbox/stats", NULL, &r);
	if (ret)
		return ret;
	s->taken_ms = ctl_now_ms();
	if (r.status < 200 || r.status > 299) {
		root = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
		snprintf(c->msg, sizeof(c->msg), "%s",
			 json_string_value(json_object_get(root, "fault_message"))
			     ?: "GET /kvmbox/stats failed");
		json_decref(root);
		ctl_response_free(&r);
		return CTL_FAILED;
	}
	root = json_loadb(r.body ? r.body : "", r.len, 0, &e);
	ctl_response_free(&r);
	if (!json_is_object(root)) {
		snprintf(c->msg, sizeof(c->msg), "stats: the response is not a JSON object");
		json_decref(root);
		return CTL_FAILED;
	}
	ret = ctl_sample_parse(s, root);
	json_decref(root);
	if (ret) {
		snprintf(c->msg, sizeof(c->msg), "out of memory");
		return CTL_FAILED;
	}
	return CTL_OK;
}

static void ctl_sample_free(struct ctl_sample *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Seconds between two samples: the VM's own clock when it moved, else ours. */
static double ctl_interval(const struct ctl_sample *prev, const struct ctl_sample *cur)
{
	if (cur->uptime_ms > prev->uptime_ms)
		return (double)(cur->uptime_ms - prev->uptime_ms) / 1e3;
	if (cur->taken_ms > prev->taken_ms)
		return (double)(cur->taken_ms - prev->taken_ms) / 1e3;
	return 0;
}

static void ctl_rates(struct ctl_sample *cur, const struct ctl_sample *prev, double dt)
{
	for (unsigned i = 0; i < cur->n; i++) {
		struct ctl_counter *k = &cur->v[i];
		const struct ctl_counter *p =
		    prev->n ? bsearch(k, prev->v, prev->n, sizeof(*k), ctl_counter_cmp) : NULL;
		uint64_t before = p ? p->value : 0;

		k->rate = dt > 0 && k->value >= before ? (double)(k->value - before) / dt : -1;
	}
}

static int ctl_by_rate(const void *a, const void *b)
{
	const struct ctl_counter *x = a, *y = b;

	if (x->rate != y->rate)
		return x->rate < y->rate ? 1 : -1;
	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* The table, busiest first; rows that never counted are left out. max_rows 0: all. */
static void ctl_top_print(struct ctl *c, const struct ctl_sample *prev, struct ctl_sample *cur,
			  double dt, unsigned max_rows)
{
	struct ctl_counter *rows = malloc((cur->n ? cur->n : 1) * sizeof(*rows));
	unsigned n = 0;

	fprintf(c->out, "kvmbox top  %s  uptime %.1f s", c->sock, (double)cur->uptime_ms / 1e3);
	if (dt > 0 && cur->ncpus) {
		double wall = dt * 1e9 * cur->ncpus;
		double run = cur->run_ns >= prev->run_ns ? (double)(cur->run_ns - prev->run_ns) : 0;
		double hnd = cur->handler_ns >= prev->handler_ns
				 ? (double)(cur->handler_ns - prev->handler_ns)
				 : 0;

		fprintf(c->out, "  vCPUs %u: %.1f%% in KVM_RUN, %.1f%% in kvmbox", cur->ncpus,
			100.0 * run / wall, 100.0 * hnd / wall);
	}
	fprintf(c->out, "\n\n%-44s %16s %14s\n", "Event", "Total", dt > 0 ? "Rate/s" : "");
	if (!rows) {
		fprintf(c->out, "(out of memory)\n");
		return;
	}
	for (unsigned i = 0; i < cur->n; i++)
		if (cur->v[i].value)
			rows[n++] = cur->v[i];
	qsort(rows, n, sizeof(*rows), ctl_by_rate);
	if (max_rows && n > max_rows)
		n = max_rows;
	for (unsigned i = 0; i < n; i++) {
		fprintf(c->out, "%-44.44s %16llu ", rows[i].name,
			(unsigned long long)rows[i].value);
		if (rows[i].rate >= 0)
			fprintf(c->out, "%14.1f", rows[i].rate);
		fputc('\n', c->out);
	}
	free(rows);
}

static volatile sig_atomic_t ctl_quit;

static void ctl_on_signal(int sig)
{
	(void)sig;
	ctl_quit = 1;
}

struct ctl_term {
	bool screen; /* the terminal is ours to redraw, without a cursor */
	bool alt;    /* on the alternate screen (left as it was on exit) */
	bool keys;   /* stdin is a terminal in non-canonical mode: q quits */
	struct termios saved;
	struct sigaction old[3];
};

static const int ctl_signals[3] = { SIGINT, SIGTERM, SIGHUP };

/* alt: run until q on the alternate screen; without it (-n) the last table stays visible. */
static void ctl_term_enter(struct ctl *c, struct ctl_term *t, bool alt)
{
	struct sigaction sa = { .sa_handler = ctl_on_signal }; /* no SA_RESTART: poll wakes */

	memset(t, 0, sizeof(*t));
	ctl_quit = 0;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < 3; i++)
		sigaction(ctl_signals[i], &sa, &t->old[i]);
	t->screen = isatty(fileno(c->out));
	if (!t->screen)
		return;
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;

		/* Ctrl-C arrives as a key (ISIG off), so it quits like q and nothing is left
		 * half-restored by a signal. */
		raw.c_lflag &= ~(ICANON | ECHO | ISIG);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		t->keys = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
	}
	t->alt = alt;
	fputs(alt ? "\033[?1049h\033[?25l" : "\033[?25l", c->out);
	fflush(c->out);
}

static void ctl_term_leave(struct ctl *c, struct ctl_term *t)
{
	if (t->screen) {
		fputs(t->alt ? "\033[?25h\033[?1049l" : "\033[?25h", c->out);
		fflush(c->out);
	}
	if (t->keys)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
	for (unsigned i = 0; i < 3; i++)
		sigaction(ctl_signals[i], &t->old[i], NULL);
}

/* Wait until deadline (monotonic ms); false when the user asked to quit. */
static bool ctl_top_wait(const struct ctl_term *t, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		uint64_t now = ctl_now_ms();
		char key[16];
		ssize_t n;

		if (ctl_quit)
			return false;
		if (now >= deadline)
			return true;
		if (poll(&p, t->keys ? 1 : 0, (int)(deadline - now)) <= 0)
			continue; /* timeout, or a signal (ctl_quit is checked above) */
		n = read(STDIN_FILENO, key, sizeof(key));

		for (ssize_t i = 0; i < n; i++)
			if (key[i] == 'q' || key[i] == 'Q' || key[i] == 3 /* Ctrl-C */)
				return false;
	}
}

static unsigned ctl_term_rows(const struct ctl *c)
{
	struct winsize ws;

	if (ioctl(fileno(c->out), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4)
		return ws.ws_row - 4; /* the header lines and a last empty one */
	return 20;
}

static int ctl_top_args(struct ctl *c, int argc, char **argv, double *delay, long *count)
{
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val;
		char *end;

		if (strcmp(opt, "-d") && strcmp(opt, "-n") && strncmp(opt, "-d", 2) &&
		    strncmp(opt, "-n", 2))
			return ctl_error(c, CTL_USAGE,
					 "top: unknown option '%s' (top [-d SECONDS] [-n COUNT])",
					 opt);
		val = opt[2] ? opt + 2 : i + 1 < argc ? argv[++i] : NULL;
		if (!val)
			return ctl_error(c, CTL_USAGE, "top: %s needs a value", opt);
		errno = 0;
		if (opt[1] == 'd') {
			*delay = strtod(val, &end);
			if (errno || end == val || *end || !isfinite(*delay) || *delay < 0.001 ||
			    *delay > 86400)
				return ctl_error(c, CTL_USAGE,
						 "top: -d wants seconds between 0.001 and 86400, "
						 "not '%s'",
						 val);
		} else {
			*count = strtol(val, &end, 10);
			if (errno || end == val || *end || *count < 1)
				return ctl_error(c, CTL_USAGE,
						 "top: -n wants a positive count, not '%s'", val);
		}
	}
	return CTL_OK;
}

static int ctl_top(struct ctl *c, int argc, char **argv)
{
	struct ctl_sample prev, cur;
	struct ctl_term term;
	double delay = 1.0;
	long count = 0, shown = 0;
	uint64_t next;
	int ret = ctl_top_args(c, argc, argv, &delay, &count);

	if (ret)
		return ret;
	ret = ctl_sample_take(c, &prev);
	if (ret)
		return ctl_error(c, ret, "%s", c->msg);
	ctl_term_enter(c, &term, !count);
	next = ctl_now_ms();
	if (term.screen) {
		/* Something to look at during the first interval: the totals. */
		fputs("\033[H\033[2J", c->out);
		ctl_top_print(c, &prev, &prev, 0, ctl_term_rows(c));
		fflush(c->out);
	}
	while (!count || shown < count) {
		double dt;

		next += (uint64_t)(delay * 1000);
		if (!ctl_top_wait(&term, next))
			break;
		ret = ctl_sample_take(c, &cur);
		if (ret) {
			ctl_sample_free(&cur);
			break;
		}
		dt = ctl_interval(&prev, &cur);
		ctl_rates(&cur, &prev, dt);
		if (term.screen) {
			fputs("\033[H\033[2J", c->out);
			ctl_top_print(c, &prev, &cur, dt, ctl_term_rows(c));
		} else {
			ctl_top_print(c, &prev, &cur, dt, 0);
			fputc('\n', c->out);
		}
		fflush(c->out);
		ctl_sample_free(&prev);
		prev = cur;
		shown++;
	}
	ctl_term_leave(c, &term);
	ctl_sample_free(&prev);
	/* After the terminal is back, so the message is not lost with the alternate screen. */
	return ret ? ctl_error(c, ret, "%s", c->msg) : CTL_OK;
}

/* ---- dispatch ---- */

int ctl_run(const char *socket_path, int argc, char **argv, const struct ctl_io *io)
{
	struct ctl c = {
		.sock = socket_path,
		.out = io->out,
		.err = io->err,
		.timeout_ms = io->timeout_ms > 0 ? io->timeout_ms : CTL_TIMEOUT_MS,
	};
	const char *cmd = argc > 0 ? argv[0] : NULL;
	int ret;

	if (!cmd)
		return ctl_error(&c, CTL_USAGE, "no command (try 'kvmbox ctl SOCKET help')");
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(CTL_USAGE_TEXT, c.out);
		return CTL_OK;
	}
	if (!socket_path || !*socket_path)
		return ctl_error(&c, CTL_USAGE, "no socket path");
	if (!strcmp(cmd, "top"))
		ret = ctl_top(&c, argc, argv);
	else if (!strcmp(cmd, "raw"))
		ret = ctl_raw(&c, argc, argv);
	else if (argc > 1)
		ret = ctl_error(&c, CTL_USAGE, "%s takes no arguments", cmd);
	else if (!strcmp(cmd, "status"))
		ret = ctl_status(&c);
	else if (!strcmp(cmd, "pause"))
		ret = ctl_simple(&c, "PATCH", "/vm", "{\"state\":\"Paused\"}");
	else if (!strcmp(cmd, "resume"))
		ret = ctl_simple(&c, "PATCH", "/vm", "{\"state\":\"Resumed\"}");
	else if (!strcmp(cmd, "stop"))
		ret = ctl_simple(&c, "PUT", "/kvmbox/stop", NULL);
	else if (!strcmp(cmd, "ctrl-alt-del"))
		ret = ctl_simple(&c, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}");
	else if (!strcmp(cmd, "flush-metrics"))
		ret = ctl_simple(&c, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}");
	else if (!strcmp(cmd, "stats"))
		ret = ctl_stats(&c);
	else
		ret = ctl_error(&c, CTL_USAGE,
				"unknown command '%s' (status, pause, resume, stop, ctrl-alt-del, "
				"flush-metrics, stats, top, raw; try 'help')",
				cmd);
	fflush(c.out);
	return ret;
}

int ctl_main(const char *socket_path, int argc, char **argv)
{
	struct ctl_io io = { stdout, stderr, CTL_TIMEOUT_MS };

	return ctl_run(socket_path, argc, argv, &io);
}
