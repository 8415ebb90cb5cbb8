/* Unit tests of the metrics: the JSON object from a fake VM, and the file / FIFO writer. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "devices.h"
#include "metrics.h"
#include "stats.h"
#include "test.h"
#include "vcpu.h"
#include "virtio/virtio.h"
#include "vm.h"

static void fake_read(void *dev, uint64_t off, void *data, unsigned len)
{
	memset(data, 0, len);
}

static void fake_write(void *dev, uint64_t off, const void *data, unsigned len)
{
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };

/* A VM as far as the metrics see it: two vCPUs with counts, both buses, no KVM. */
static struct vm *fake_vm(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	uint8_t b = 0;

	vm->ncpus = 2;
	vm->vcpus = calloc(2, sizeof(*vm->vcpus));
	vm->vcpus[0].stats.exits[KVM_EXIT_IO] = 5;
	vm->vcpus[1].stats.exits[KVM_EXIT_IO] = 7;
	vm->vcpus[1].stats.exits[KVM_EXIT_HLT] = 2;
	vm->vcpus[0].stats.exits[40] = 3; /* a reason without a name */
	vm->vcpus[0].stats.run_ns = 1000;
	vm->vcpus[1].stats.run_ns = 2000;
	vm->vcpus[0].stats.handler_ns = 10;
	vm->vcpus[1].stats.handler_ns = 20;
	bus_init(&vm->pio, "pio", 0xff);
	bus_init(&vm->mmio, "mmio", 0);
	CHECK_EQ(bus_add(&vm->pio, 0x3f8, 8, &fake_ops, NULL, "serial"), 0);
	CHECK_EQ(bus_add(&vm->pio, 0x70, 2, &fake_ops, NULL, "rtc"), 0);
	CHECK_EQ(bus_add(&vm->mmio, 0xd0000000, 0x1000, &fake_ops, NULL, "virtio-blk0"), 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK(bus_write(&vm->pio, 0x3f8 + i, &b, 1));
	CHECK(bus_read(&vm->pio, 0x71, &b, 1));
	CHECK(!bus_read(&vm->pio, 0x80, &b, 1));
	CHECK(!bus_write(&vm->pio, 0x80, &b, 1));
	CHECK(!bus_write(&vm->pio, 0x81, &b, 1));
	CHECK(bus_read(&vm->mmio, 0xd0000010, &b, 1));
	return vm;
}

static void fake_vm_free(struct vm *vm)
{
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	free(vm->vcpus);
	free(vm);
}

static json_int_t jint(const json_t *root, const char *path)
{
	char buf[256], *save = NULL;
	const json_t *v = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10))
				     : json_object_get(v, k);
	if (!json_is_integer(v)) {
		fprintf(stderr, "  %s: not an integer\n", path);
		return -1;
	}
	return json_integer_value(v);
}

static const char *jstr(const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));

	return s ? s : "";
}

static void test_exit_names(void)
{
	char buf[STATS_EXIT_NAME_MAX];

	CHECK(!strcmp(stats_exit_name(KVM_EXIT_IO, buf, sizeof(buf)), "io"));
	CHECK(!strcmp(stats_exit_name(KVM_EXIT_MMIO, buf, sizeof(buf)), "mmio"));
	CHECK(
	    !strcmp(stats_exit_name(KVM_EXIT_INTERNAL_ERROR, buf, sizeof(buf)), "internal-error"));
	CHECK(!strcmp(stats_exit_name(40, buf, sizeof(buf)), "reason40"));
	CHECK(stats_exit_named(KVM_EXIT_HLT));
	CHECK(!stats_exit_named(40));
}

static void test_json(void)
{
	struct vm *vm = fake_vm();
	struct virtio_dev d0 = { .name = "virtio-blk0" }, d1 = { .name = "virtio-net0" };
	struct virtio_dev *devs[] = { &d0, &d1 };
	uint64_t start = vm_now_ns() - 1500000000ull;
	json_t *root, *v, *ranges;
	json_error_t e;
	char *text;
	uint64_t now_ms = (uint64_t)time(NULL) * 1000;

	d0.stats = (struct virtio_dev_stats){ 11, 10, 4096, 512, 1, 9 };
	d1.stats.kicks = 3;
	text = metrics_json_devices(vm, start, devs, 2);
	CHECK(text);
	if (!text)
		goto out;
	CHECK(!strchr(text, '\n'));
	CHECK(!strstr(text, ": ")); /* compact */
	root = json_loads(text, 0, &e);
	CHECK(json_is_object(root));
	if (!root) {
		fprintf(stderr, "  %s: %s\n", text, e.text);
		free(text);
		goto out;
	}
	CHECK(jint(root, "utc_timestamp_ms") >= (json_int_t)now_ms - 5000);
	CHECK(jint(root, "utc_timestamp_ms") <= (json_int_t)now_ms + 5000);
	CHECK(jint(root, "uptime_ms") >= 1500 && jint(root, "uptime_ms") < 60000);

	/* vCPUs: the total sums both; names as --stats has them; named reasons even at zero. */
	CHECK_EQ(jint(root, "vcpus.total.exits.io"), 12);
	CHECK_EQ(jint(root, "vcpus.total.exits.hlt"), 2);
	CHECK_EQ(jint(root, "vcpus.total.exits.reason40"), 3);
	CHECK_EQ(jint(root, "vcpus.total.exits.mmio"), 0);
	CHECK(!json_object_get(
	    json_object_get(json_object_get(json_object_get(root, "vcpus"), "total"), "exits"),
	    "reason41"));
	CHECK_EQ(jint(root, "vcpus.total.run_ns"), 3000);
	CHECK_EQ(jint(root, "vcpus.total.handler_ns"), 30);
	CHECK_EQ(json_array_size(json_object_get(json_object_get(root, "vcpus"), "per_vcpu")), 2);
	CHECK_EQ(jint(root, "vcpus.per_vcpu.0.exits.io"), 5);
	CHECK_EQ(jint(root, "vcpus.per_vcpu.1.exits.io"), 7);
	CHECK_EQ(jint(root, "vcpus.per_vcpu.1.index"), 1);
	CHECK_EQ(jint(root, "vcpus.per_vcpu.1.run_ns"), 2000);

	/* Buses: ranges in address order with their accesses; unclaimed counts. */
	ranges = json_object_get(json_object_get(json_object_get(root, "buses"), "pio"), "ranges");
	CHECK_EQ(json_array_size(ranges), 2);
	CHECK(!strcmp(jstr(json_array_get(ranges, 0), "name"), "rtc"));
	CHECK(!strcmp(jstr(json_array_get(ranges, 1), "name"), "serial"));
	CHECK_EQ(jint(root, "buses.pio.ranges.0.accesses"), 1);
	CHECK_EQ(jint(root, "buses.pio.ranges.1.accesses"), 4);
	CHECK_EQ(jint(root, "buses.pio.ranges.1.base"), 0x3f8);
	CHECK_EQ(jint(root, "buses.pio.unclaimed_reads"), 1);
	CHECK_EQ(jint(root, "buses.pio.unclaimed_writes"), 2);
	CHECK_EQ(jint(root, "buses.mmio.ranges.0.accesses"), 1);
	CHECK_EQ(jint(root, "buses.mmio.unclaimed_reads"), 0);

	/* Devices, in the order given. */
	v = json_object_get(root, "devices");
	CHECK_EQ(json_array_size(v), 2);
	CHECK(!strcmp(jstr(json_array_get(v, 0), "name"), "virtio-blk0"));
	CHECK(!strcmp(jstr(json_array_get(v, 1), "name"), "virtio-net0"));
	CHECK_EQ(jint(root, "devices.0.kicks"), 11);
	CHECK_EQ(jint(root, "devices.0.requests"), 10);
	CHECK_EQ(jint(root, "devices.0.bytes_in"), 4096);
	CHECK_EQ(jint(root, "devices.0.bytes_out"), 512);
	CHECK_EQ(jint(root, "devices.0.errors"), 1);
	CHECK_EQ(jint(root, "devices.0.interrupts"), 9);
	CHECK_EQ(jint(root, "devices.1.kicks"), 3);
	CHECK_EQ(jint(root, "devices.1.requests"), 0);

	/* Emulated instructions: the process's counts; "unsupported" is always there. */
	CHECK(jint(root, "emulated.unsupported") >= 0);
	json_decref(root);
	free(text);

	/* Without a device manager: no devices, everything else the same. */
	text = metrics_json(vm, start);
	root = text ? json_loads(text, 0, NULL) : NULL;
	CHECK(root);
	CHECK(json_is_array(json_object_get(root, "devices")));
	CHECK_EQ(json_array_size(json_object_get(root, "devices")), 0);
	CHECK_EQ(jint(root, "vcpus.total.exits.io"), 12);
	json_decref(root);
	free(text);

	/* Before the vCPUs exist. */
	free(vm->vcpus);
	vm->vcpus = NULL;
	text = metrics_json(vm, start);
	root = text ? json_loads(text, 0, NULL) : NULL;
	CHECK(root);
	CHECK_EQ(json_array_size(json_object_get(json_object_get(root, "vcpus"), "per_vcpu")), 0);
	CHECK_EQ(jint(root, "vcpus.total.exits.io"), 0);
	json_decref(root);
	free(text);
out:
	fake_vm_free(vm);
}

static void test_devices_enumeration(void)
{
	struct vm vm = { 0 };

	CHECK_EQ(devices_count(&vm), 0);
	CHECK(!devices_get(&vm, 0));
}

/* Read the file back: every line one JSON object. */
static unsigned count_lines(const char *path)
{
	char line[65536];
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);

		CHECK(strchr(line, '\n'));
		CHECK(json_is_object(j));
		json_decref(j);
		n++;
	}
	fclose(f);
	return n;
}

static void test_file(void)
{
	char dir[] = "/tmp/kvmbox-metrics.XXXXXX", path[128];
	struct vm *vm = fake_vm();
	struct metrics *m = NULL;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/metrics.json", dir);
	/* Created when missing, appended to afterwards. */
	CHECK_EQ(metrics_open(&m, path), 0);
	CHECK_EQ(metrics_write(m, vm, vm_now_ns()), 0);
	CHECK_EQ(metrics_write(m, vm, vm_now_ns()), 0);
	metrics_close(m);
	CHECK_EQ(count_lines(path), 2);
	CHECK_EQ(metrics_open(&m, path), 0);
	CHECK_EQ(metrics_write(m, vm, vm_now_ns()), 0);
	metrics_close(m);
	CHECK_EQ(count_lines(path), 3);
	metrics_close(NULL);

	/* Neither a file nor a FIFO: refused, and nothing opened. */
	CHECK_EQ(metrics_open(&m, dir), -EINVAL);
	CHECK_EQ(metrics_open(&m, "/dev/null"), -EINVAL);
	snprintf(path, sizeof(path), "%s/missing/metrics.json", dir);
	CHECK_EQ(metrics_open(&m, path), -ENOENT);

	/* Read-only file: the open fails with the errno. */
	snprintf(path, sizeof(path), "%s/ro.json", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0444);
	close(fd);
	if (geteuid() != 0)
		CHECK_EQ(metrics_open(&m, path), -EACCES);
	unlink(path);
	snprintf(path, sizeof(path), "%s/metrics.json", dir);
	unlink(path);
	rmdir(dir);
	fake_vm_free(vm);
}

static void test_fifo(void)
{
	char dir[] = "/tmp/kvmbox-metrics.XXXXXX", path[128], buf[65536];
	struct vm *vm = fake_vm();
	struct metrics *m = NULL;
	ssize_t n;
	int rd, ret = 0;
	unsigned i;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/metrics.fifo", dir);
	CHECK_EQ(mkfifo(path, 0600), 0);
	/* No reader yet: the open must not wait for one. */
	CHECK_EQ(metrics_open(&m, path), 0);
	if (!m)
		goto out;
	rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(rd >= 0);
	CHECK_EQ(metrics_write(m, vm, vm_now_ns()), 0);
	n = read(rd, buf, sizeof(buf) - 1);
	CHECK(n > 2);
	if (n > 0) {
		json_t *j;

		buf[n] = '\0';
		CHECK_EQ(buf[n - 1], '\n');
		CHECK_EQ(strchr(buf, '\n') - buf, n - 1);
		j = json_loads(buf, 0, NULL);
		CHECK(json_is_object(j));
		json_decref(j);
	}
	/* A reader that does not drain: lines are dropped with -EAGAIN, never blocking. */
	for (i = 0; i < 10000 && !ret; i++)
		ret = metrics_write(m, vm, vm_now_ns());
	CHECK_EQ(ret, -EAGAIN);
	/* Whatever got through is whole lines. */
	{
		size_t total = 0;
		unsigned lines = 0;

		while ((n = read(rd, buf, sizeof(buf))) > 0) {
			for (ssize_t k = 0; k < n; k++)
				lines += buf[k] == '\n';
			total += (size_t)n;
		}
		CHECK(lines > 0);
		CHECK(total > 0);
		CHECK_EQ(lines, i - 1);
	}
	/* The reader gone: writes still do not block or kill us (we hold a read end). */
	close(rd);
	CHECK_EQ(metrics_write(m, vm, vm_now_ns()), 0);
	metrics_close(m);
out:
	unlink(path);
	rmdir(dir);
	fake_vm_free(vm);
}

int main(void)
{
	RUN_TEST(test_exit_names);
	RUN_TEST(test_json);
	RUN_TEST(test_devices_enumeration);
	RUN_TEST(test_file);
	RUN_TEST(test_fifo);
	TEST_EXIT();
}
