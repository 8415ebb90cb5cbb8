/* kvmbox ctl top: samples /kvmbox/stats, turns counters into rates, redraws the terminal. */
#include "ctl_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

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

int ctl_top(struct ctl *c, int argc, char **argv)
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
