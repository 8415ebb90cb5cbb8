/* kvmbox ctl: one HTTP/1.1 request per command over the API socket (`top` is in ctl_top.c). */
#include "ctl.h"
#include "ctl_internal.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
	"  regs                        every vCPU's registers (the vCPUs stop for microseconds)\n" \
	"  nmi [VCPU]                  an NMI to one vCPU, or to all of them\n"                    \
	"  gdb ADDRESS                 open a gdb stub on tcp:HOST:PORT or unix:PATH\n"            \
	"  snapshot DIR [--diff]       DIR/vmstate and DIR/memory (a running VM is paused for\n"   \
	"                              it, then resumed); --diff: only what changed since the\n"   \
	"                              last snapshot, into the memory file DIR holds already\n"    \
	"  restore DIR [--paused]      load DIR's snapshot into a kvmbox that has no VM yet\n"     \
	"  top [-d SECONDS] [-n COUNT] exits, device and bus events per second (q quits)\n"        \
	"  raw METHOD PATH [BODY]      any API request; prints the response body\n"

/* One line on stderr: control characters from the server become spaces. */
int ctl_error(struct ctl *c, int status, const char *fmt, ...)
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

uint64_t ctl_now_ms(void)
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

void ctl_response_free(struct ctl_response *r)
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
int ctl_request(struct ctl *c, const char *method, const char *path, const char *body,
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
int ctl_call(struct ctl *c, const char *method, const char *path, const char *body,
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
int ctl_simple(struct ctl *c, const char *method, const char *path, const char *body)
{
	struct ctl_response r;
	int ret = ctl_call(c, method, path, body, &r);

	if (!ret)
		ctl_response_free(&r);
	return ret;
}

json_t *ctl_json_body(struct ctl *c, const struct ctl_response *r, const char *what)
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

/* GET path and its JSON object body; NULL with *status set (the error said on c->err). */
json_t *ctl_get_object(struct ctl *c, const char *path, const char *what, int *status)
{
	struct ctl_response r;
	json_t *root;

	*status = ctl_call(c, "GET", path, NULL, &r);
	if (*status)
		return NULL;
	root = ctl_json_body(c, &r, what);
	ctl_response_free(&r);
	*status = root ? CTL_OK : CTL_FAILED;
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
	int ret;
	json_t *root = ctl_get_object(c, "/", "status", &ret);

	if (!root)
		return ret;
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
	int ret;
	json_t *root = ctl_get_object(c, "/kvmbox/stats", "stats", &ret);

	if (!root)
		return ret;
	json_dumpf(root, c->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', c->out);
	json_decref(root);
	return CTL_OK;
}

static int ctl_regs(struct ctl *c)
{
	const char *text;
	int ret;
	json_t *root = ctl_get_object(c, "/kvmbox/regs", "regs", &ret);

	if (!root)
		return ret;
	text = json_string_value(json_object_get(root, "text"));
	if (!text) {
		json_decref(root);
		return ctl_error(c, CTL_FAILED, "regs: the answer has no \"text\"");
	}
	fputs(text, c->out);
	json_decref(root);
	return CTL_OK;
}

static int ctl_gdb(struct ctl *c, int argc, char **argv)
{
	json_t *o;
	char *body;
	int ret;

	if (argc != 2)
		return ctl_error(c, CTL_USAGE, "usage: gdb tcp:HOST:PORT|unix:PATH");
	o = json_pack("{s:s}", "address", argv[1]);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body)
		return ctl_error(c, CTL_USAGE, "gdb: '%s' is not a valid address", argv[1]);
	ret = ctl_simple(c, "PUT", "/kvmbox/gdb", body);
	free(body);
	return ret;
}

static int ctl_nmi(struct ctl *c, int argc, char **argv)
{
	char body[32], *end;
	unsigned long n;

	if (argc > 2)
		return ctl_error(c, CTL_USAGE, "usage: nmi [VCPU]");
	if (argc == 1)
		return ctl_simple(c, "PUT", "/kvmbox/nmi", NULL);
	errno = 0;
	n = strtoul(argv[1], &end, 10);
	if (!*argv[1] || *end || errno || n > 255 || argv[1][0] == '-')
		return ctl_error(c, CTL_USAGE, "nmi: '%s' is not a vCPU number", argv[1]);
	snprintf(body, sizeof(body), "{\"vcpu\":%lu}", n);
	return ctl_simple(c, "PUT", "/kvmbox/nmi", body);
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
	else if (!strcmp(cmd, "nmi"))
		ret = ctl_nmi(&c, argc, argv);
	else if (!strcmp(cmd, "gdb"))
		ret = ctl_gdb(&c, argc, argv);
	else if (!strcmp(cmd, "snapshot"))
		ret = ctl_snapshot(&c, argc, argv);
	else if (!strcmp(cmd, "restore"))
		ret = ctl_restore(&c, argc, argv);
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
	else if (!strcmp(cmd, "regs"))
		ret = ctl_regs(&c);
	else
		ret = ctl_error(
		    &c, CTL_USAGE,
		    "unknown command '%s' (status, pause, resume, stop, ctrl-alt-del, "
		    "flush-metrics, stats, regs, nmi, gdb, snapshot, restore, top, raw; try "
		    "'help')",
		    cmd);
	fflush(c.out);
	return ret;
}

int ctl_main(const char *socket_path, int argc, char **argv)
{
	struct ctl_io io = { stdout, stderr, CTL_TIMEOUT_MS };

	return ctl_run(socket_path, argc, argv, &io);
}