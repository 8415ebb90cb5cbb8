/* Metrics: vCPU exits and time, bus accesses, virtio counters and emulated instructions as JSON. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/emu_fallback.h"
#include "bus.h"
#include "devices.h"
#include "stats.h"
#include "vcpu.h"
#include "virtio/virtio.h"
#include "vm.h"

/* How long a write that got part of a line into a full FIFO may wait to finish the line. */
#define METRICS_FINISH_MS 1000

struct metrics {
	int fd;
	bool fifo;
};

/* Builders note the first allocation failure here instead of checking every call. */
struct metrics_ctx {
	bool failed;
};

static void metrics_set(struct metrics_ctx *c, json_t *obj, const char *key, json_t *value)
{
	/* json_object_set_new takes value's reference even when it fails (or value is NULL). */
	if (!obj || !value || json_object_set_new(obj, key, value))
		c->failed = true;
}

static void metrics_set_u64(struct metrics_ctx *c, json_t *obj, const char *key, uint64_t v)
{
	metrics_set(c, obj, key, json_integer((json_int_t)v));
}

static uint64_t metrics_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void metrics_append(struct metrics_ctx *c, json_t *arr, json_t *value)
{
	if (!arr || !value || json_array_append_new(arr, value))
		c->failed = true;
}

static json_t *metrics_vcpu(struct metrics_ctx *c, const struct vcpu_stats *s)
{
	json_t *o = json_object(), *exits = json_object();

	for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++) {
		char buf[STATS_EXIT_NAME_MAX];

		if (s->exits[r] || stats_exit_named(r))
			metrics_set_u64(c, exits, stats_exit_name(r, buf, sizeof(buf)),
					s->exits[r]);
	}
	metrics_set(c, o, "exits", exits);
	metrics_set_u64(c, o, "run_ns", s->run_ns);
	metrics_set_u64(c, o, "handler_ns", s->handler_ns);
	return o;
}

static json_t *metrics_vcpus(struct metrics_ctx *c, const struct vm *vm)
{
	json_t *o = json_object(), *per = json_array();
	struct vcpu_stats total = { 0 };
	unsigned n = vm->vcpus ? vm->ncpus : 0;

	for (unsigned i = 0; i < n; i++) {
		const struct vcpu_stats *live = &vm->vcpus[i].stats;
		struct vcpu_stats s;
		json_t *one;

		/* The vCPU threads bump these as they go: one untorn load each. */
		for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++) {
			s.exits[r] = metrics_load(&live->exits[r]);
			total.exits[r] += s.exits[r];
		}
		s.run_ns = metrics_load(&live->run_ns);
		s.handler_ns = metrics_load(&live->handler_ns);
		total.run_ns += s.run_ns;
		total.handler_ns += s.handler_ns;
		one = metrics_vcpu(c, &s);
		metrics_set_u64(c, one, "index", i);
		metrics_append(c, per, one);
	}
	metrics_set(c, o, "total", metrics_vcpu(c, &total));
	metrics_set(c, o, "per_vcpu", per);
	return o;
}

static json_t *metrics_bus(struct metrics_ctx *c, const struct bus *bus)
{
	json_t *o = json_object(), *ranges = json_array();

	for (unsigned i = 0; i < bus->nranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		json_t *one = json_object();

		metrics_set(c, one, "name", json_string(r->name ? r->name : "?"));
		metrics_set_u64(c, one, "base", r->base);
		metrics_set_u64(c, one, "accesses", metrics_load(&r->accesses));
		metrics_append(c, ranges, one);
	}
	metrics_set(c, o, "ranges", ranges);
	metrics_set_u64(c, o, "unclaimed_reads", metrics_load(&bus->unclaimed_reads));
	metrics_set_u64(c, o, "unclaimed_writes", metrics_load(&bus->unclaimed_writes));
	return o;
}

static json_t *metrics_device(struct metrics_ctx *c, const struct virtio_dev *vdev)
{
	const struct virtio_dev_stats *s = &vdev->stats;
	json_t *o = json_object();

	metrics_set(c, o, "name", json_string(vdev->name ? vdev->name : "virtio"));
	metrics_set_u64(c, o, "kicks", metrics_load(&s->kicks));
	metrics_set_u64(c, o, "requests", metrics_load(&s->requests));
	metrics_set_u64(c, o, "bytes_in", metrics_load(&s->bytes_in));
	metrics_set_u64(c, o, "bytes_out", metrics_load(&s->bytes_out));
	metrics_set_u64(c, o, "errors", metrics_load(&s->errors));
	metrics_set_u64(c, o, "interrupts", metrics_load(&s->interrupts));
	return o;
}

struct metrics_emu {
	struct metrics_ctx *c;
	json_t *obj;
};

static void metrics_emu_one(void *opaque, const char *mnemonic, uint64_t count)
{
	struct metrics_emu *e = opaque;

	metrics_set_u64(e->c, e->obj, mnemonic, count);
}

static uint64_t metrics_utc_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *metrics_json_devices(const struct vm *vm, uint64_t process_start_ns,
			   struct virtio_dev *const *devs, unsigned ndevs)
{
	struct metrics_ctx c = { false };
	json_t *root = json_object(), *buses = json_object(), *devices = json_array();
	struct metrics_emu emu = { &c, json_object() };
	uint64_t now = vm_now_ns();
	char *text = NULL;

	metrics_set_u64(&c, root, "utc_timestamp_ms", metrics_utc_ms());
	metrics_set_u64(&c, root, "uptime_ms",
			now > process_start_ns ? (now - process_start_ns) / 1000000 : 0);
	metrics_set(&c, root, "vcpus", metrics_vcpus(&c, vm));
	metrics_set(&c, buses, "pio", metrics_bus(&c, &vm->pio));
	metrics_set(&c, buses, "mmio", metrics_bus(&c, &vm->mmio));
	metrics_set(&c, root, "buses", buses);
	for (unsigned i = 0; i < ndevs; i++)
		if (devs[i])
			metrics_append(&c, devices, metrics_device(&c, devs[i]));
	metrics_set(&c, root, "devices", devices);
	emu_fallback_stats(metrics_emu_one, &emu);
	metrics_set(&c, root, "emulated", emu.obj);
	if (!c.failed)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}

char *metrics_json(const struct vm *vm, uint64_t process_start_ns)
{
	unsigned n = devices_count(vm);
	struct virtio_dev **devs = calloc(n ? n : 1, sizeof(*devs));
	char *text;

	if (!devs)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		devs[i] = devices_get(vm, i);
	text = metrics_json_devices(vm, process_start_ns, devs, n);
	free(devs);
	return text;
}

int metrics_open(struct metrics **out, const char *path)
{
	struct metrics *m;
	struct stat st;
	int fd, ret;

	/* The type decides how to open: a FIFO must not block here waiting for its reader, and
	 * nothing else (a device, a socket) is opened at all. */
	if (stat(path, &st) < 0)
		st.st_mode = S_IFREG; /* created below; other stat errors show at open */
	if (S_ISFIFO(st.st_mode))
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	else if (S_ISREG(st.st_mode))
		/* O_NONBLOCK (no effect on a file) in case a FIFO took its place meanwhile. */
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			  0644);
	else
		return -EINVAL;
	if (fd < 0)
		return -errno;
	/* What was opened is what counts (the path may have changed since the stat). */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		ret = -EINVAL;
		goto err;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		goto err;
	}
	m->fd = fd;
	m->fifo = S_ISFIFO(st.st_mode);
	*out = m;
	return 0;
err:
	close(fd);
	return ret;
}

/* The rest of a line whose first part went out: a reader must never see half a line. */
static int metrics_finish(struct metrics *m, const char *buf, size_t len)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (len) {
		struct pollfd p = { .fd = m->fd, .events = POLLOUT };
		ssize_t w = write(m->fd, buf, len);
		long waited;

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= METRICS_FINISH_MS)
			return -EAGAIN;
		if (poll(&p, 1, (int)(METRICS_FINISH_MS - waited)) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

int metrics_write(struct metrics *m, const struct vm *vm, uint64_t process_start_ns)
{
	char *json = metrics_json(vm, process_start_ns);
	size_t len;
	ssize_t w;
	char *line;
	int ret = 0;

	if (!json)
		return -ENOMEM;
	len = strlen(json);
	line = realloc(json, len + 2);
	if (!line) {
		free(json);
		return -ENOMEM;
	}
	line[len++] = '\n';
	line[len] = '\0';
	/* One write: appended atomically to a file, and all-or-nothing up to PIPE_BUF to a FIFO
	 * (EAGAIN while its reader lags: the line is dropped, as Firecracker does). */
	do
		w = write(m->fd, line, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		ret = -errno;
	else if ((size_t)w < len)
		ret = metrics_finish(m, line + w, len - (size_t)w);
	free(line);
	return ret;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	close(m->fd);
	free(m);
}
