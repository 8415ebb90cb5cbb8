/* Unit tests of `kvmbox ctl`: a fake API server on a unix socket answers canned responses. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "test.h"

#define MAX_CONN 8
#define HANG "<hang>"	 /* read the request, answer nothing, wait for the client to leave */
#define SILENT "<close>" /* read the request and close without a word */

struct server {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t thread;
	const char *responses[MAX_CONN];
	unsigned n;
	char requests[MAX_CONN][8192];
	unsigned served;
};

/* Headers, then Content-Length bytes of body (or until the client stops sending). */
static void server_read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *end = NULL, *cl;
		ssize_t n;

		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			cl = strcasestr(buf, "Content-Length:");
			if (!cl || cl > end || strlen(end + 4) >= strtoul(cl + 15, NULL, 10))
				return;
		}
		if (poll(&p, 1, 2000) <= 0 || len + 1 >= cap)
			return;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
	}
}

static void *server_main(void *opaque)
{
	struct server *s = opaque;

	for (unsigned i = 0; i < s->n; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		const char *r = s->responses[i];

		if (fd < 0)
			break;
		server_read_request(fd, s->requests[i], sizeof(s->requests[i]));
		s->served++;
		if (!strcmp(r, HANG)) {
			char c;

			while (read(fd, &c, 1) > 0)
				;
		} else if (strcmp(r, SILENT)) {
			if (write(fd, r, strlen(r)) < 0)
				perror("fake server write");
		}
		close(fd);
	}
	return NULL;
}

static void server_start(struct server *s, const char *const *responses, unsigned n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	memset(s, 0, sizeof(*s));
	strcpy(s->dir, "/tmp/kvmbox-ctl.XXXXXX");
	CHECK(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/api.sock", s->dir);
	strcpy(a.sun_path, s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s->lfd >= 0);
	CHECK_EQ(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(listen(s->lfd, 8), 0);
	for (unsigned i = 0; i < n; i++)
		s->responses[i] = responses[i];
	s->n = n;
	CHECK_EQ(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	/* A server still waiting in accept is woken by a connection that says nothing. */
	while (s->served < s->n) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		strcpy(a.sun_path, s->path);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			shutdown(fd, SHUT_WR);
		close(fd);
		usleep(1000);
	}
	pthread_join(s->thread, NULL);
	close(s->lfd);
	unlink(s->path);
	rmdir(s->dir);
}

struct run {
	int status;
	char *out, *err;
	size_t out_len, err_len;
};

static void run_ctl(struct run *r, const char *sock, int timeout_ms, int argc, const char **argv)
{
	FILE *out = open_memstream(&r->out, &r->out_len);
	FILE *err = open_memstream(&r->err, &r->err_len);
	struct ctl_io io = { out, err, timeout_ms };

	r->status = ctl_run(sock, argc, (char **)argv, &io);
	fclose(out);
	fclose(err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* One command against one canned response; the request the server saw is in s->requests[0]. */
static void one(struct server *s, struct run *r, const char *response, int argc, const char **argv)
{
	server_start(s, &response, 1);
	run_ctl(r, s->path, 2000, argc, argv);
	server_stop(s);
}

static const char *body_of(const char *req)
{
	const char *b = strstr(req, "\r\n\r\n");

	return b ? b + 4 : "";
}

#define NO_CONTENT "HTTP/1.1 204 No Content\r\n\r\n"

/* A response with a JSON body and its length (malloc'd). */
static char *mkresp(const char *status_line, const char *body)
{
	char *resp = NULL;

	if (asprintf(
		&resp,
		"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		status_line, strlen(body), body) < 0)
		abort();
	return resp;
}

static void test_status(void)
{
	static const char *argv[] = { "status" };
	char *resp = mkresp("200 OK", "{\"id\":\"vm-1\",\"state\":\"Running\",\"vmm_version\":"
				      "\"0.2.0\",\"app_name\":\"kvmbox\"}");
	struct server s;
	struct run r;

	one(&s, &r, resp, 1, argv);
	free(resp);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(!strncmp(s.requests[0], "GET / HTTP/1.1\r\n", 16));
	CHECK(strstr(s.requests[0], "\r\nHost: "));
	CHECK(!strstr(s.requests[0], "Content-Length"));
	CHECK(!strcmp(r.out, "state: Running\nid: vm-1\nversion: 0.2.0\napp: kvmbox\n"));
	CHECK_EQ(r.err_len, 0);
	run_free(&r);
}

static void test_actions(void)
{
	static const struct {
		const char *cmd, *line, *body;
	} cases[] = {
		{ "pause", "PATCH /vm HTTP/1.1", "{\"state\":\"Paused\"}" },
		{ "resume", "PATCH /vm HTTP/1.1", "{\"state\":\"Resumed\"}" },
		{ "stop", "PUT /kvmbox/stop HTTP/1.1", "" },
		{ "ctrl-alt-del", "PUT /actions HTTP/1.1", "{\"action_type\":\"SendCtrlAltDel\"}" },
		{ "flush-metrics", "PUT /actions HTTP/1.1", "{\"action_type\":\"FlushMetrics\"}" },
		{ "nmi", "PUT /kvmbox/nmi HTTP/1.1", "" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { cases[i].cmd };
		char clen[64];
		struct server s;
		struct run r;

		one(&s, &r, NO_CONTENT, 1, argv);
		CHECK_EQ(r.status, CTL_OK);
		CHECK(!strncmp(s.requests[0], cases[i].line, strlen(cases[i].line)));
		CHECK(!strcmp(body_of(s.requests[0]), cases[i].body));
		snprintf(clen, sizeof(clen), "\r\nContent-Length: %zu\r\n", strlen(cases[i].body));
		CHECK(strstr(s.requests[0], clen));
		if (*cases[i].body)
			CHECK(strstr(s.requests[0], "\r\nContent-Type: application/json\r\n"));
		CHECK_EQ(r.out_len, 0);
		CHECK_EQ(r.err_len, 0);
		if (test_failed_)
			fprintf(stderr, "  case %s: request %s\n", cases[i].cmd, s.requests[0]);
		run_free(&r);
	}
}

static void test_stats(void)
{
	static const char *argv[] = { "stats" };
	struct server s;
	struct run r;
	json_t *j;

	/* Chunked, to exercise the parser's decoding. */
	one(&s, &r,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "10\r\n{\"uptime_ms\":12,\r\n"
	    "12\r\n\"devices\":[{\"a\":1}\r\n"
	    "2\r\n]}\r\n0\r\n\r\n",
	    1, argv);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(!strncmp(s.requests[0], "GET /kvmbox/stats HTTP/1.1\r\n", 28));
	CHECK(strstr(r.out, "\n  \"uptime_ms\": 12,\n"));
	CHECK(r.out_len && r.out[r.out_len - 1] == '\n');
	j = json_loads(r.out, 0, NULL);
	CHECK(json_is_object(j));
	CHECK_EQ(json_integer_value(
		     json_object_get(json_array_get(json_object_get(j, "devices"), 0), "a")),
		 1);
	json_decref(j);
	run_free(&r);

	/* A 200 whose body is not JSON is a failure, not garbage on stdout. */
	one(&s, &r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 1, argv);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK_EQ(r.out_len, 0);
	CHECK(r.err && !strncmp(r.err, "kvmbox ctl: error: stats: ", 26));
	run_free(&r);
}

static void test_regs_nmi(void)
{
	static const char *regs[] = { "regs" };
	static const char *nmi1[] = { "nmi", "1" };
	static const char *bad[][2] = {
		{ "nmi", "x" }, { "nmi", "-1" }, { "nmi", "256" }, { "nmi", "" }
	};
	static const char *three[] = { "nmi", "1", "2" };
	char *resp = mkresp("200 OK", "{\"text\":\"vCPU 0: runnable\\nRIP=0000000000100af6\\n\"}");
	struct server s;
	struct run r;

	one(&s, &r, resp, 1, regs);
	free(resp);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(!strncmp(s.requests[0], "GET /kvmbox/regs HTTP/1.1\r\n", 27));
	CHECK(r.out && !strcmp(r.out, "vCPU 0: runnable\nRIP=0000000000100af6\n"));
	run_free(&r);

	/* An answer without the text is a failure. */
	resp = mkresp("200 OK", "{\"regs\":1}");
	one(&s, &r, resp, 1, regs);
	free(resp);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK_EQ(r.out_len, 0);
	run_free(&r);

	one(&s, &r, NO_CONTENT, 2, nmi1);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(!strncmp(s.requests[0], "PUT /kvmbox/nmi HTTP/1.1\r\n", 26));
	CHECK(!strcmp(body_of(s.requests[0]), "{\"vcpu\":1}"));
	run_free(&r);

	/* Bad vCPU numbers never reach the server. */
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_ctl(&r, "/nonexistent/kvmbox.sock", 500, 2, bad[i]);
		CHECK_EQ(r.status, CTL_USAGE);
		CHECK(r.err && strstr(r.err, "is not a vCPU number"));
		run_free(&r);
	}
	run_ctl(&r, "/nonexistent/kvmbox.sock", 500, 3, three);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
}

static void test_raw(void)
{
	static const char *argv[] = { "raw", "PUT", "/machine-config", "{\"vcpu_count\":2}" };
	static const char *get[] = { "raw", "GET", "/machine-config" };
	static const char *bad[] = { "raw", "GET", "no-slash" };
	static const char *inject[] = { "raw", "GET", "/x HTTP/1.1\r\nEvil: 1" };
	struct server s;
	struct run r;

	one(&s, &r, NO_CONTENT, 4, argv);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(!strncmp(s.requests[0], "PUT /machine-config HTTP/1.1\r\n", 30));
	CHECK(!strcmp(body_of(s.requests[0]), "{\"vcpu_count\":2}"));
	CHECK_EQ(r.out_len, 0);
	run_free(&r);

	/* The body printed as it came, with a newline added; EOF ends a body without a length. */
	one(&s, &r, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"vcpu_count\":2}", 3, get);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(r.out && !strcmp(r.out, "{\"vcpu_count\":2}\n"));
	run_free(&r);

	run_ctl(&r, "/nonexistent/api.sock", 1000, 3, bad);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
	run_ctl(&r, "/nonexistent/api.sock", 1000, 3, inject);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
	run_ctl(&r, "/nonexistent/api.sock", 1000, 2, get);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
}

static void test_fault_message(void)
{
	static const char *argv[] = { "pause" };
	static const char *raw[] = { "raw", "GET", "/nope" };
	char *resp =
	    mkresp("400 Bad Request", "{\"fault_message\":\"The VM is not running.\\nTry later\"}");
	struct server s;
	struct run r;

	one(&s, &r, resp, 1, argv);
	free(resp);
	CHECK_EQ(r.status, CTL_FAILED);
	/* One line, whatever the server put in it. */
	CHECK(r.err && !strcmp(r.err, "kvmbox ctl: error: The VM is not running. Try later\n"));
	CHECK_EQ(r.out_len, 0);
	run_free(&r);

	/* No fault_message: the status line says it. */
	one(&s, &r, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 3, raw);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK(r.err && !strcmp(r.err, "kvmbox ctl: error: HTTP 404 Not Found\n"));
	run_free(&r);
}

static void test_broken_server(void)
{
	static const char *argv[] = { "status" };
	struct server s;
	struct run r;

	one(&s, &r, SILENT, 1, argv);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK(r.err && strstr(r.err, "closed the connection without responding"));
	CHECK(r.err && !strchr(r.err, '\n')[1]);
	run_free(&r);

	one(&s, &r, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"state\":", 1, argv);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK(r.err && strstr(r.err, "in the middle of the response"));
	run_free(&r);

	one(&s, &r, "SSH-2.0-OpenSSH_9.2\r\n\r\n", 1, argv);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK(r.err && strstr(r.err, "malformed response"));
	run_free(&r);

	/* Nobody answers: the timeout ends it. */
	server_start(&s, (const char *[]){ HANG }, 1);
	run_ctl(&r, s.path, 200, 1, argv);
	server_stop(&s);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK(r.err && strstr(r.err, "no response from"));
	run_free(&r);

	/* Nothing listening. */
	run_ctl(&r, "/nonexistent/api.sock", 1000, 1, argv);
	CHECK_EQ(r.status, CTL_USAGE);
	CHECK(r.err && strstr(r.err, "cannot connect to /nonexistent/api.sock"));
	run_free(&r);
}

/* snapshot DIR: a running VM is paused, snapshotted and resumed, even when the snapshot fails. */
static void test_snapshot(void)
{
	char tmp[] = "/tmp/kvmbox-test-ctlsnap-XXXXXX", snapdir[128], real[256];
	char *running = mkresp("200 OK", "{\"state\":\"Running\"}");
	char *paused = mkresp("200 OK", "{\"state\":\"Paused\"}");
	char *fault =
	    mkresp("400 Bad Request", "{\"fault_message\":\"Create snapshot error: full\"}");
	const char *resp4[] = { running, NO_CONTENT, NO_CONTENT, NO_CONTENT };
	const char *fail4[] = { running, NO_CONTENT, fault, NO_CONTENT };
	const char *resp2[] = { paused, NO_CONTENT };
	const char *argv[] = { "snapshot", snapdir, NULL };
	struct server s;
	struct run r;

	CHECK(mkdtemp(tmp) != NULL);
	snprintf(snapdir, sizeof(snapdir), "%s/snap", tmp);
	server_start(&s, resp4, 4);
	run_ctl(&r, s.path, 2000, 2, argv);
	server_stop(&s);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(realpath(snapdir, real) != NULL); /* made by the command */
	CHECK(!strncmp(s.requests[0], "GET / ", 6));
	CHECK(!strcmp(body_of(s.requests[1]), "{\"state\":\"Paused\"}"));
	CHECK(!strncmp(s.requests[2], "PUT /snapshot/create ", 21));
	CHECK(strstr(body_of(s.requests[2]), "\"snapshot_type\":\"Full\""));
	CHECK(strstr(body_of(s.requests[2]), "/snap/vmstate\""));
	CHECK(strstr(body_of(s.requests[2]), "/snap/memory\""));
	CHECK(!strcmp(body_of(s.requests[3]), "{\"state\":\"Resumed\"}"));
	CHECK(strstr(r.out, "snapshot: ") != NULL);
	run_free(&r);

	/* Failed: the fault is shown, and the VM still runs again. */
	server_start(&s, fail4, 4);
	run_ctl(&r, s.path, 2000, 2, argv);
	server_stop(&s);
	CHECK_EQ(r.status, CTL_FAILED);
	CHECK(strstr(r.err, "Create snapshot error: full") != NULL);
	CHECK(!strcmp(body_of(s.requests[3]), "{\"state\":\"Resumed\"}"));
	run_free(&r);

	/* Already paused: left paused; --diff asks for a Diff. */
	argv[2] = "--diff";
	server_start(&s, resp2, 2);
	run_ctl(&r, s.path, 2000, 3, argv);
	server_stop(&s);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(!strncmp(s.requests[1], "PUT /snapshot/create ", 21));
	CHECK(strstr(body_of(s.requests[1]), "\"snapshot_type\":\"Diff\""));
	run_free(&r);

	/* restore DIR [--paused]: PUT /snapshot/load with the files' absolute paths. */
	{
		const char *rargv[] = { "restore", snapdir, "--paused" };

		one(&s, &r, NO_CONTENT, 3, rargv);
		CHECK_EQ(r.status, CTL_OK);
		CHECK(!strncmp(s.requests[0], "PUT /snapshot/load ", 19));
		CHECK(strstr(body_of(s.requests[0]), "\"resume_vm\":false"));
		CHECK(strstr(body_of(s.requests[0]), "\"backend_type\":\"File\""));
		CHECK(strstr(body_of(s.requests[0]), "/snap/memory\""));
		run_free(&r);
	}
	free(running);
	free(paused);
	free(fault);
	rmdir(snapdir);
	rmdir(tmp);
}

static void test_usage(void)
{
	static const char *unknown[] = { "frobnicate" };
	static const char *extra[] = { "pause", "now" };
	static const char *help[] = { "help" };
	static const char *top_bad[] = { "top", "-d", "0" };
	static const char *top_bad2[] = { "top", "-x" };
	static const char *top_bad3[] = { "top", "-n" };
	struct run r;

	run_ctl(&r, "/nonexistent", 1000, 0, NULL);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
	run_ctl(&r, "/nonexistent", 1000, 1, unknown);
	CHECK_EQ(r.status, CTL_USAGE);
	CHECK(r.err && strstr(r.err, "unknown command 'frobnicate'"));
	run_free(&r);
	run_ctl(&r, "/nonexistent", 1000, 2, extra);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
	run_ctl(&r, "/nonexistent", 1000, 1, help);
	CHECK_EQ(r.status, CTL_OK);
	CHECK(r.out && strstr(r.out, "usage: kvmbox ctl SOCKET COMMAND"));
	run_free(&r);
	run_ctl(&r, "/nonexistent", 1000, 3, top_bad);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
	run_ctl(&r, "/nonexistent", 1000, 2, top_bad2);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
	run_ctl(&r, "/nonexistent", 1000, 2, top_bad3);
	CHECK_EQ(r.status, CTL_USAGE);
	run_free(&r);
}

static char *stats_response(unsigned uptime, unsigned io, unsigned kicks, unsigned serial)
{
	char body[1024], *resp = NULL;

	snprintf(body, sizeof(body),
		 "{\"utc_timestamp_ms\":1,\"uptime_ms\":%u,"
		 "\"vcpus\":{\"total\":{\"exits\":{\"io\":%u,\"mmio\":0,\"hlt\":5},"
		 "\"run_ns\":%u,\"handler_ns\":0},\"per_vcpu\":[{},{}]},"
		 "\"buses\":{\"pio\":{\"ranges\":[{\"name\":\"serial\",\"base\":1016,"
		 "\"accesses\":%u}],\"unclaimed_reads\":0,\"unclaimed_writes\":0},"
		 "\"mmio\":{\"ranges\":[],\"unclaimed_reads\":0,\"unclaimed_writes\":0}},"
		 "\"devices\":[{\"name\":\"virtio-blk0\",\"kicks\":%u,\"requests\":0,"
		 "\"bytes_in\":0,\"bytes_out\":0,\"errors\":0,\"interrupts\":0}],"
		 "\"emulated\":{\"unsupported\":0}}",
		 uptime, io, uptime * 1000000u, serial, kicks);
	if (asprintf(&resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
		     body) < 0)
		return NULL;
	return resp;
}

/* The row called name in one refresh of top's table: its total and rate columns. */
static int row(const char *block, const char *name, unsigned long long *total, double *rate)
{
	char pat[128];
	const char *line;

	snprintf(pat, sizeof(pat), "\n%s ", name);
	line = block ? strstr(block, pat) : NULL;
	*total = 0;
	*rate = -1;
	if (!line)
		return 0;
	return sscanf(line + 1 + 44, "%llu %lf", total, rate);
}

/* Where name's row is in the block (for the order), or NULL. */
static const char *row_at(const char *block, const char *name)
{
	char pat[128];

	snprintf(pat, sizeof(pat), "\n%s ", name);
	return block ? strstr(block, pat) : NULL;
}

static void test_top(void)
{
	static const char *argv[] = { "top", "-d", "0.01", "-n", "2" };
	char *resp[3] = { stats_response(1000, 100, 10, 7), stats_response(2000, 300, 15, 7),
			  stats_response(2500, 300, 16, 9) };
	struct server s;
	struct run r;
	char *first, *second;
	unsigned long long total;
	double rate;

	server_start(&s, (const char *const *)resp, 3);
	run_ctl(&r, s.path, 2000, 5, argv);
	server_stop(&s);
	CHECK_EQ(r.status, CTL_OK);
	CHECK_EQ(r.err_len, 0);
	CHECK_EQ(s.served, 3);
	CHECK(!strncmp(s.requests[2], "GET /kvmbox/stats HTTP/1.1\r\n", 28));
	first = r.out ? r.out : "";
	/* No terminal: plain refreshes, no escape sequences. */
	CHECK(!strchr(first, '\033'));
	CHECK(!strncmp(first, "kvmbox top", 10));
	second = strstr(first, "\n\nkvmbox top");
	CHECK(second);
	if (second)
		*second++ = '\0';

	/* First refresh: 1 s apart by the VM's clock; busiest first, then by total. */
	CHECK_EQ(row(first, "exit io", &total, &rate), 2);
	CHECK_EQ(total, 300);
	CHECK(rate == 200.0);
	CHECK_EQ(row(first, "virtio-blk0 kicks", &total, &rate), 2);
	CHECK(rate == 5.0);
	CHECK_EQ(row(first, "pio serial", &total, &rate), 2);
	CHECK(rate == 0.0);
	CHECK(row_at(first, "exit io") < row_at(first, "virtio-blk0 kicks"));
	CHECK(row_at(first, "virtio-blk0 kicks") < row_at(first, "pio serial"));
	CHECK(row_at(first, "pio serial") < row_at(first, "exit hlt"));
	CHECK(!row_at(first, "exit mmio")); /* never happened: not shown */
	CHECK(strstr(first, "vCPUs 2: 50.0% in KVM_RUN, 0.0% in kvmbox"));

	/* Second refresh: 0.5 s; the serial port is now the busiest. */
	CHECK_EQ(row(second, "pio serial", &total, &rate), 2);
	CHECK_EQ(total, 9);
	CHECK(rate == 4.0);
	CHECK_EQ(row(second, "virtio-blk0 kicks", &total, &rate), 2);
	CHECK(rate == 2.0);
	CHECK_EQ(row(second, "exit io", &total, &rate), 2);
	CHECK(rate == 0.0);
	CHECK(row_at(second, "pio serial") < row_at(second, "virtio-blk0 kicks"));
	CHECK(row_at(second, "virtio-blk0 kicks") < row_at(second, "exit io"));
	if (test_failed_)
		fprintf(stderr, "%s\n--\n%s", first, second ? second : "(no second refresh)\n");
	run_free(&r);
	for (unsigned i = 0; i < 3; i++)
		free(resp[i]);

	/* The VM going away mid-way: an error after the refreshes so far. */
	{
		static const char *forever[] = { "top", "-d", "0.01" };
		char *ok = stats_response(1000, 1, 1, 1);
		const char *rs[] = { ok, SILENT };

		server_start(&s, rs, 2);
		run_ctl(&r, s.path, 2000, 3, forever);
		server_stop(&s);
		CHECK_EQ(r.status, CTL_FAILED);
		CHECK(r.err && strstr(r.err, "closed the connection"));
		run_free(&r);
		free(ok);
	}
}

int main(void)
{
	RUN_TEST(test_status);
	RUN_TEST(test_actions);
	RUN_TEST(test_stats);
	RUN_TEST(test_regs_nmi);
	RUN_TEST(test_raw);
	RUN_TEST(test_fault_message);
	RUN_TEST(test_broken_server);
	RUN_TEST(test_snapshot);
	RUN_TEST(test_usage);
	RUN_TEST(test_top);
	TEST_EXIT();
}
