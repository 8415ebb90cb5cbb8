/* Unit tests of the Firecracker API (routing, bodies, state rules, config file) with fake ops, of
 * the HTTP connection parser, and of the unix socket server on a real event loop. No KVM. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/config_file.h"
#include "api/http.h"
#include "api/server.h"
#include "event_loop.h"
#include "log.h"
#include "api_req.h"
#include "test.h"

static char dir[] = "/tmp/kvmbox-test-api-XXXXXX";
static char kernel[128], initrd[128], disk[9][128], outdir[128];

/* ---- Fake VMM ---- */

struct fake {
	struct vm_config cfg;
	enum vmm_state state;
	int starts, pauses, resumes, cads, flushes, stops, stop_status, updates, logs, nmis,
	    nmi_vcpu;
	unsigned update_index;
	char update_path[256], metrics[256];
	bool fail_start, no_stats;
};

static struct vm_config *fake_config(void *o)
{
	return &((struct fake *)o)->cfg;
}

static enum vmm_state fake_state(void *o)
{
	return ((struct fake *)o)->state;
}

static int fake_start(void *o, char *err, size_t len)
{
	struct fake *f = o;

	f->starts++;
	if (f->fail_start) {
		snprintf(err, len, "no /dev/kvm here");
		return -ENODEV;
	}
	f->state = VMM_RUNNING;
	return 0;
}

static int fake_pause(void *o, char *err, size_t len)
{
	struct fake *f = o;

	f->pauses++;
	f->state = VMM_PAUSED;
	return 0;
}

static int fake_resume(void *o, char *err, size_t len)
{
	struct fake *f = o;

	f->resumes++;
	f->state = VMM_RUNNING;
	return 0;
}

static int fake_cad(void *o, char *err, size_t len)
{
	((struct fake *)o)->cads++;
	return 0;
}

static int fake_flush(void *o, char *err, size_t len)
{
	((struct fake *)o)->flushes++;
	return 0;
}

static int fake_set_metrics(void *o, const char *path, char *err, size_t len)
{
	struct fake *f = o;

	snprintf(f->metrics, sizeof(f->metrics), "%s", path);
	f->cfg.metrics_path = config_strdup(&f->cfg, path);
	return 0;
}

static int fake_set_log(void *o, const char *path, char *err, size_t len)
{
	((struct fake *)o)->logs++;
	return 0;
}

static int fake_update_drive(void *o, unsigned index, const char *path, char *err, size_t len)
{
	struct fake *f = o;

	f->updates++;
	f->update_index = index;
	snprintf(f->update_path, sizeof(f->update_path), "%s", path);
	f->cfg.disks[index].path = config_strdup(&f->cfg, path);
	return 0;
}

static int fake_stop(void *o, int status, char *err, size_t len)
{
	struct fake *f = o;

	f->stops++;
	f->stop_status = status;
	return 0;
}

static char *fake_stats(void *o, char *err, size_t len)
{
	if (((struct fake *)o)->no_stats) {
		snprintf(err, len, "the microVM is not started");
		return NULL;
	}
	return strdup("{\"uptime_ms\": 5, \"vcpus\": {\"total\": {}}}");
}

static char *fake_regs(void *o, char *err, size_t len)
{
	return strdup("vCPU 0: runnable, long mode, CPL 0\nRIP=ffffffff81000000 \"quoted\"\n");
}

static int fake_nmi(void *o, int vcpu, char *err, size_t len)
{
	struct fake *f = o;

	if (vcpu > 1) {
		snprintf(err, len, "no vCPU %d (the microVM has 2)", vcpu);
		return -EINVAL;
	}
	f->nmis++;
	f->nmi_vcpu = vcpu;
	return 0;
}

static const char *fake_id(void *o)
{
	return "test-vm";
}

static const char *fake_version(void *o)
{
	return "9.9.9";
}

static const struct api_ops fake_ops = {
	.config = fake_config,
	.state = fake_state,
	.start = fake_start,
	.pause = fake_pause,
	.resume = fake_resume,
	.ctrl_alt_del = fake_cad,
	.flush_metrics = fake_flush,
	.set_metrics = fake_set_metrics,
	.set_log = fake_set_log,
	.update_drive = fake_update_drive,
	.stop = fake_stop,
	.stats_json = fake_stats,
	.regs_text = fake_regs,
	.nmi = fake_nmi,
	.instance_id = fake_id,
	.version = fake_version,
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
	f->state = VMM_NOT_STARTED;
}

/* One request through api_handle (api_req.h): the status; the body is left in last_body. */
#define last_body api_last_body
#define req(f, method, url, body) api_req(&fake_ops, f, method, url, body)
#define EXPECT(f, ...) API_EXPECT(&fake_ops, f, __VA_ARGS__)

static char *export(struct fake *f)
{
	return api_config_export(&f->cfg);
}

static void make_file(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || write(fd, "x", 1) != 1)
		abort();
	close(fd);
}

static void drive_body(char *buf, size_t len, const char *id, const char *path, bool root)
{
	snprintf(buf, len,
		 "{\"drive_id\": \"%s\", \"path_on_host\": \"%s\", \"is_root_device\": %s, "
		 "\"is_read_only\": false}",
		 id, path, root ? "true" : "false");
}

/* ---- API tests ---- */

static void test_info_version(void)
{
	struct fake f;

	fake_init(&f);
	EXPECT(&f, 200, "GET", "/", NULL, "\"state\":\"Not started\"");
	CHECK(strstr(last_body, "\"app_name\":\"kvmbox\""));
	CHECK(strstr(last_body, "\"id\":\"test-vm\""));
	CHECK(strstr(last_body, "\"vmm_version\":\"9.9.9\""));
	EXPECT(&f, 200, "GET", "/version", NULL, "{\"firecracker_version\":\"9.9.9\"}");
	EXPECT(&f, 200, "GET", "//version/", NULL, "firecracker_version");
	config_free(&f.cfg);
}

static void test_routing_errors(void)
{
	struct fake f;
	char big[600];

	fake_init(&f);
	EXPECT(&f, 400, "GET", "/foo", NULL, "Invalid request method and/or path: GET /foo.");
	EXPECT(&f, 400, "DELETE", "/machine-config", NULL, "Invalid request method and/or path");
	EXPECT(&f, 400, "POST", "/actions", "{}", "Invalid request method and/or path: POST");
	EXPECT(&f, 400, "PUT", "/version", "{}", "Invalid request method and/or path");
	EXPECT(&f, 400, "GET", "/machine-config/x", NULL, "Invalid request method");
	EXPECT(&f, 400, "GET", "/vm", NULL, "Invalid request method");
	EXPECT(&f, 400, "GET", "/version?x=1", NULL, "Invalid request method");
	EXPECT(&f, 400, "GET", "*", NULL, "Invalid request method");
	EXPECT(&f, 400, "PUT", "/drives/a/b", "{}", "Invalid request method");
	EXPECT(&f, 400, "PUT", "/drives//a", "{}", "Invalid request method");
	EXPECT(&f, 400, "GET", "/\x01\xff", NULL, "GET /??.");
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	EXPECT(&f, 400, "GET", big, NULL, "...");
	EXPECT(&f, 400, "GET", "/", "{}", "GET request cannot have a body.");
	EXPECT(&f, 400, "PUT", "/boot-source", NULL, "Empty PUT request.");
	EXPECT(&f, 400, "PATCH", "/machine-config", NULL, "Empty PATCH request.");
	EXPECT(&f, 400, "PUT", "/drives", "{}", "The ID cannot be empty.");
	EXPECT(&f, 400, "PUT", "/drives/", "{}", "The ID cannot be empty.");
	EXPECT(&f, 400, "PUT", "/drives/a-b", "{}", "alphanumeric characters and underscores");
	EXPECT(&f, 400, "PUT", "/drives/%41", "{}", "alphanumeric characters and underscores");
	EXPECT(&f, 400, "PUT",
	       "/drives/"
	       "a234567890123456789012345678901234567890123456789012345678901234"
	       "5",
	       "{}", "at most 64 characters");
	EXPECT(&f, 400, "PUT", "/network-interfaces/..", "{}", "alphanumeric");
	config_free(&f.cfg);
}

static void test_json_errors(void)
{
	struct fake f;
	char *deep = malloc(60001);

	fake_init(&f);
	EXPECT(&f, 400, "PUT", "/machine-config", "{", "deserializing the json body");
	EXPECT(&f, 400, "PUT", "/machine-config", "{} x", "deserializing");
	EXPECT(&f, 400, "PUT", "/machine-config", "[]", "expected a map");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 1}",
	       "missing field `mem_size_mib`");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": \"1\", \"mem_size_mib\": 64}",
	       "invalid type for `vcpu_count`: a string, expected an unsigned integer");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 1.5, \"mem_size_mib\": 64}",
	       "floating point");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": -1, \"mem_size_mib\": 64}",
	       "invalid value: integer `-1`");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 256, \"mem_size_mib\": 64}",
	       "expected 0 to 255");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 99999999999999999999999, \"mem_size_mib\": 64}", "deserializing");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"bogus\": 1}",
	       "unknown field `bogus`, expected one of `vcpu_count`, `mem_size_mib`");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 1, \"vcpu_count\": 2, \"mem_size_mib\": 64}", "duplicate");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": null, \"mem_size_mib\": 64}",
	       "missing field `vcpu_count`");
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"kernel_image_path\": \"a\\u0000b\"}",
	       "deserializing");
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"kernel_image_path\": \"\\ud800\"}",
	       "deserializing");
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"Reboot\"}",
	       "unknown variant `Reboot` for `action_type`, expected one of `FlushMetrics`");
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"instancestart\"}",
	       "unknown variant");
	/* Deep nesting: jansson bounds its depth; the request fails, nothing crashes. */
	memset(deep, '[', 60000);
	deep[60000] = '\0';
	EXPECT(&f, 400, "PUT", "/machine-config", deep, "deserializing");
	memset(deep, '{', 60000);
	EXPECT(&f, 400, "PUT", "/machine-config", deep, "deserializing");
	free(deep);
	config_free(&f.cfg);
}

static void test_machine_config(void)
{
	struct fake f;

	fake_init(&f);
	EXPECT(&f, 200, "GET", "/machine-config", NULL,
	       "{\"vcpu_count\":1,\"mem_size_mib\":512,\"smt\":false,\"track_dirty_pages\":false,"
	       "\"huge_pages\":\"None\"}");
	EXPECT(&f, 204, "PUT", "/machine-config",
	       "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true, \"track_dirty_pages\": "
	       "true, \"cpu_template\": \"None\", \"huge_pages\": \"None\"}",
	       NULL);
	CHECK_EQ(f.cfg.cpus, 2);
	CHECK_EQ(f.cfg.memory, 256ull << 20);
	CHECK(f.cfg.smt && f.cfg.track_dirty_pages);
	CHECK(!strcmp(f.cfg.cpu_template, "auto"));
	EXPECT(&f, 200, "GET", "/machine-config", NULL, "\"vcpu_count\":2,\"mem_size_mib\":256");
	/* PUT resets what it does not give; PATCH keeps it. */
	EXPECT(&f, 204, "PUT", "/machine-config", "{\"vcpu_count\": 3, \"mem_size_mib\": 128}",
	       NULL);
	CHECK(!f.cfg.smt && !f.cfg.track_dirty_pages);
	EXPECT(&f, 204, "PATCH", "/machine-config", "{\"mem_size_mib\": 64}", NULL);
	CHECK_EQ(f.cfg.cpus, 3);
	CHECK_EQ(f.cfg.memory, 64ull << 20);
	EXPECT(&f, 400, "PATCH", "/machine-config", "{}", "Empty PATCH request.");
	EXPECT(&f, 400, "PATCH", "/machine-config", "{\"smt\": true}", "1 or an even number");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 64}",
	       "The number of vCPUs must be greater than 0, less than 33");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 64}",
	       "less than 33");
	EXPECT(&f, 204, "PUT", "/machine-config", "{\"vcpu_count\": 32, \"mem_size_mib\": 64}",
	       NULL);
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 0}",
	       "The memory size (MiB) is either 0");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 1}",
	       "Machine config error: memory size 1 MiB out of range");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 9999999999}", "expected 0 to");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"cpu_template\": \"T2\"}",
	       "CPU template T2 is not supported by kvmbox");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"cpu_template\": \"host\"}",
	       "unknown variant `host`");
	EXPECT(&f, 400, "PUT", "/machine-config",
	       "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"huge_pages\": \"2M\"}",
	       "huge_pages 2M is not supported");
	CHECK_EQ(f.cfg.cpus, 32);
	CHECK_EQ(f.cfg.memory, 64ull << 20);
	config_free(&f.cfg);
}

static void test_boot_source(void)
{
	struct fake f;
	char body[512];

	fake_init(&f);
	snprintf(body, sizeof(body),
		 "{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\", \"boot_args\": "
		 "\"console=ttyS0 quiet\"}",
		 kernel, initrd);
	EXPECT(&f, 204, "PUT", "/boot-source", body, NULL);
	CHECK(f.cfg.kernel && !strcmp(f.cfg.kernel, kernel));
	CHECK(f.cfg.initrd && !strcmp(f.cfg.initrd, initrd));
	CHECK(f.cfg.cmdline && !strcmp(f.cfg.cmdline, "console=ttyS0 quiet"));
	/* Replacing: what is not given is gone (kvmbox's default command line again). */
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\"}", kernel);
	EXPECT(&f, 204, "PUT", "/boot-source", body, NULL);
	CHECK(!f.cfg.initrd && !f.cfg.cmdline);
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"kernel_image_path\": \"/nonexistent/k\"}",
	       "Boot source error: cannot open kernel '/nonexistent/k': No such file");
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"kernel_image_path\": \"/dev/null\"}",
	       "is not a regular file");
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"kernel_image_path\": \"/tmp\"}",
	       "is not a regular file");
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"kernel_image_path\": \"\"}", "cannot be empty");
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"initrd_path\": \"/no\"}",
		 kernel);
	EXPECT(&f, 400, "PUT", "/boot-source", body, "cannot open initrd '/no'");
	EXPECT(&f, 400, "PUT", "/boot-source", "{\"boot_args\": \"x\"}",
	       "missing field `kernel_image_path`");
	CHECK(f.cfg.kernel && !strcmp(f.cfg.kernel, kernel));
	/* Repeated PUTs do not grow the config's strings (the old ones are released). */
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"boot_args\": \"a\"}",
		 kernel);
	EXPECT(&f, 204, "PUT", "/boot-source", body, NULL);
	{
		unsigned before = f.cfg.nowned;

		for (int i = 0; i < 100; i++)
			EXPECT(&f, 204, "PUT", "/boot-source", body, NULL);
		CHECK_EQ(f.cfg.nowned, before);
	}
	config_free(&f.cfg);
}

static void test_drives(void)
{
	struct fake f;
	char body[512], id[16];

	fake_init(&f);
	drive_body(body, sizeof(body), "data", disk[1], false);
	EXPECT(&f, 204, "PUT", "/drives/data", body, NULL);
	drive_body(body, sizeof(body), "rootfs", disk[0], true);
	EXPECT(&f, 204, "PUT", "/drives/rootfs", body, NULL);
	/* The root device goes first (the guest's /dev/vda), as Firecracker. */
	CHECK_EQ(f.cfg.ndisks, 2);
	CHECK(!strcmp(f.cfg.disks[0].id, "rootfs") && f.cfg.disks[0].is_root);
	CHECK(!strcmp(f.cfg.disks[1].id, "data") && !f.cfg.disks[1].is_root);
	CHECK_EQ(f.cfg.disks[0].transport, CONFIG_TRANSPORT_MMIO);
	drive_body(body, sizeof(body), "other", disk[2], true);
	EXPECT(&f, 400, "PUT", "/drives/other", body, "A root block device already exists!");
	/* The same id replaces the drive (and may stay root). */
	snprintf(body, sizeof(body),
		 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
		 "\"is_read_only\": true, \"partuuid\": \"0eaa91a0-01\", \"cache_type\": "
		 "\"Writeback\", \"io_engine\": \"Async\", \"rate_limiter\": {\"bandwidth\": "
		 "{\"size\": 1000, \"refill_time\": 100}, \"ops\": {\"size\": 10, "
		 "\"one_time_burst\": 5, \"refill_time\": 10}}}",
		 disk[2]);
	EXPECT(&f, 204, "PUT", "/drives/rootfs", body, NULL);
	CHECK_EQ(f.cfg.ndisks, 2);
	CHECK(!strcmp(f.cfg.disks[0].path, disk[2]) && f.cfg.disks[0].readonly);
	CHECK(!strcmp(f.cfg.disks[0].partuuid, "0eaa91a0-01"));
	/* A non-root drive turned root moves to the front. */
	drive_body(body, sizeof(body), "rootfs", disk[0], false);
	EXPECT(&f, 204, "PUT", "/drives/rootfs", body, NULL);
	drive_body(body, sizeof(body), "data", disk[1], true);
	EXPECT(&f, 204, "PUT", "/drives/data", body, NULL);
	CHECK(!strcmp(f.cfg.disks[0].id, "data") && f.cfg.disks[0].is_root);
	/* Errors. */
	drive_body(body, sizeof(body), "x", disk[3], false);
	EXPECT(&f, 400, "PUT", "/drives/y", body,
	       "The id from the path does not match the id from the body!");
	drive_body(body, sizeof(body), "x", "/nonexistent", false);
	EXPECT(&f, 400, "PUT", "/drives/x", body, "Drive config error: cannot open disk image");
	drive_body(body, sizeof(body), "x", "/dev/null", false);
	EXPECT(&f, 400, "PUT", "/drives/x", body, "not a regular file or a block device");
	EXPECT(&f, 400, "PUT", "/drives/x", "{\"drive_id\": \"x\", \"is_root_device\": false}",
	       "path_on_host is required");
	EXPECT(&f, 400, "PUT", "/drives/x", "{\"drive_id\": \"x\", \"path_on_host\": \"/a\"}",
	       "missing field `is_root_device`");
	EXPECT(&f, 400, "PUT", "/drives/x",
	       "{\"drive_id\": \"x\", \"is_root_device\": false, \"socket\": \"/s\"}",
	       "vhost-user-block");
	snprintf(body, sizeof(body),
		 "{\"drive_id\": \"x\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
		 "\"partuuid\": \"a b\"}",
		 disk[3]);
	EXPECT(&f, 400, "PUT", "/drives/x", body, "not a partition UUID");
	snprintf(body, sizeof(body),
		 "{\"drive_id\": \"x\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
		 "\"cache_type\": \"None\"}",
		 disk[3]);
	EXPECT(&f, 400, "PUT", "/drives/x", body, "unknown variant `None` for `cache_type`");
	snprintf(body, sizeof(body),
		 "{\"drive_id\": \"x\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
		 "\"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}",
		 disk[3]);
	EXPECT(&f, 400, "PUT", "/drives/x", body, "missing field `refill_time`");
	snprintf(body, sizeof(body),
		 "{\"drive_id\": \"x\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
		 "\"rate_limiter\": {\"bw\": {}}}",
		 disk[3]);
	EXPECT(&f, 400, "PUT", "/drives/x", body, "unknown field `bw`");
	drive_body(body, sizeof(body), "bad-id", disk[3], false);
	EXPECT(&f, 400, "PUT", "/drives/bad_id", body, "alphanumeric");
	CHECK_EQ(f.cfg.ndisks, 2);
	/* At most 8. */
	for (int i = 2; i < 8; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		drive_body(body, sizeof(body), id, disk[i], false);
		EXPECT(&f, 204, "PUT",
		       i == 2	? "/drives/d2"
		       : i == 3 ? "/drives/d3"
		       : i == 4 ? "/drives/d4"
		       : i == 5 ? "/drives/d5"
		       : i == 6 ? "/drives/d6"
				: "/drives/d7",
		       body, NULL);
	}
	CHECK_EQ(f.cfg.ndisks, 8);
	drive_body(body, sizeof(body), "d8", disk[8], false);
	EXPECT(&f, 400, "PUT", "/drives/d8", body, "at most 8 drives");
	/* Before start, PATCH replaces the path in the configuration. */
	snprintf(body, sizeof(body), "{\"drive_id\": \"d2\", \"path_on_host\": \"%s\"}", disk[8]);
	EXPECT(&f, 204, "PATCH", "/drives/d2", body, NULL);
	CHECK(!strcmp(f.cfg.disks[2].path, disk[8]));
	CHECK_EQ(f.updates, 0);
	EXPECT(&f, 400, "PATCH", "/drives/nope",
	       "{\"drive_id\": \"nope\", \"path_on_host\": \"/a\"}", "no drive with id 'nope'");
	EXPECT(&f, 400, "PATCH", "/drives/d2", "{\"drive_id\": \"d2\"}", "nothing to update");
	EXPECT(&f, 400, "PATCH", "/drives/d2", "{\"drive_id\": \"d2\", \"is_read_only\": true}",
	       "unknown field `is_read_only`");
	config_free(&f.cfg);
}

static void test_net(void)
{
	struct fake f;

	fake_init(&f);
	EXPECT(&f, 204, "PUT", "/network-interfaces/eth0",
	       "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
	       "\"AA:FC:00:00:00:01\", \"rx_rate_limiter\": {}, \"tx_rate_limiter\": {\"ops\": "
	       "{\"size\": 1, \"refill_time\": 1}}}",
	       NULL);
	CHECK_EQ(f.cfg.nnics, 1);
	CHECK(!strcmp(f.cfg.nics[0].id, "eth0") && !strcmp(f.cfg.nics[0].tap, "tap0"));
	CHECK(f.cfg.nics[0].has_mac && f.cfg.nics[0].mac[0] == 0xaa && f.cfg.nics[0].mac[5] == 1);
	CHECK_EQ(f.cfg.nics[0].transport, CONFIG_TRANSPORT_MMIO);
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap1\"}",
	       "The id from the path [eth1] does not match the id from the body [eth2]!");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"guest_mac\": "
	       "\"aa:fc:00:00:00:01\"}",
	       "The MAC address is already in use");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}",
	       "already used by interface eth0");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"guest_mac\": "
	       "\"01:00:00:00:00:01\"}",
	       "invalid guest_mac");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"guest_mac\": "
	       "\"00:-1:00:00:00:01\"}",
	       "invalid guest_mac");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap/1\"}", "invalid interface name");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"a234567890123456\"}", "too long");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"mtu\": 1500}",
	       "mtu is not supported");
	EXPECT(&f, 400, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"mtu\": 10}",
	       "expected 68 to 65535");
	/* Same id: replaced. */
	EXPECT(&f, 204, "PUT", "/network-interfaces/eth0",
	       "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap9\"}", NULL);
	CHECK(f.cfg.nnics == 1 && !strcmp(f.cfg.nics[0].tap, "tap9") && !f.cfg.nics[0].has_mac);
	EXPECT(&f, 204, "PUT", "/network-interfaces/n1",
	       "{\"iface_id\": \"n1\", \"host_dev_name\": \"t1\"}", NULL);
	EXPECT(&f, 204, "PUT", "/network-interfaces/n2",
	       "{\"iface_id\": \"n2\", \"host_dev_name\": \"t2\"}", NULL);
	EXPECT(&f, 204, "PUT", "/network-interfaces/n3",
	       "{\"iface_id\": \"n3\", \"host_dev_name\": \"t3\"}", NULL);
	EXPECT(&f, 400, "PUT", "/network-interfaces/n4",
	       "{\"iface_id\": \"n4\", \"host_dev_name\": \"t4\"}", "at most 4 network interfaces");
	EXPECT(&f, 400, "PATCH", "/network-interfaces/n1", "{\"iface_id\": \"n1\"}",
	       "not supported before starting the microVM");
	config_free(&f.cfg);
}

static void test_devices_misc(void)
{
	struct fake f;
	char body[512];

	fake_init(&f);
	snprintf(body, sizeof(body), "{\"guest_cid\": 3, \"uds_path\": \"%s/v.sock\"}", outdir);
	EXPECT(&f, 204, "PUT", "/vsock", body, NULL);
	CHECK(f.cfg.vsock.enabled && f.cfg.vsock.guest_cid == 3 && !f.cfg.vsock.id);
	snprintf(body, sizeof(body),
		 "{\"vsock_id\": \"vs0\", \"guest_cid\": 52, \"uds_path\": \"%s/w.sock\"}", outdir);
	EXPECT(&f, 204, "PUT", "/vsock", body, NULL);
	CHECK(f.cfg.vsock.guest_cid == 52 && !strcmp(f.cfg.vsock.id, "vs0"));
	EXPECT(&f, 400, "PUT", "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/tmp/v\"}",
	       "guest_cid must be at least 3");
	EXPECT(&f, 400, "PUT", "/vsock", "{\"guest_cid\": 4294967296, \"uds_path\": \"/tmp/v\"}",
	       "expected 0 to 4294967294");
	EXPECT(&f, 400, "PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/nonexistent/v\"}",
	       "does not exist");
	EXPECT(&f, 400, "PUT", "/vsock",
	       "{\"guest_cid\": 3, \"uds_path\": "
	       "\"/tmp/"
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	       "aaaa"
	       "aaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	       "too long");
	CHECK_EQ(f.cfg.vsock.guest_cid, 52);

	EXPECT(&f, 204, "PUT", "/entropy", "{}", NULL);
	CHECK(f.cfg.rng);
	EXPECT(&f, 400, "PUT", "/entropy", "{\"rate_limiter\": 5}", "invalid type");

	snprintf(body, sizeof(body), "{\"serial_out_path\": \"%s/serial.log\"}", outdir);
	EXPECT(&f, 204, "PUT", "/serial", body, NULL);
	CHECK(f.cfg.serial_out && strstr(f.cfg.serial_out, "serial.log"));
	EXPECT(&f, 400, "PUT", "/serial", "{\"serial_out_path\": \"/tmp\"}", "is a directory");
	EXPECT(&f, 400, "PUT", "/serial", "{\"serial_out_path\": \"/nonexistent/s\"}",
	       "does not exist");
	EXPECT(&f, 400, "PUT", "/serial",
	       "{\"rate_limiter\": {\"size\": 1, \"refill_time\": 1, \"x\": 1}}",
	       "unknown field `x`");
	CHECK(f.cfg.serial_out != NULL);
	EXPECT(&f, 204, "PUT", "/serial", "{}", NULL);
	CHECK(!f.cfg.serial_out);

	snprintf(body, sizeof(body),
		 "{\"log_path\": \"%s/kvmbox.log\", \"level\": \"warning\", \"show_level\": true, "
		 "\"show_log_origin\": false, \"module\": \"api\"}",
		 outdir);
	EXPECT(&f, 204, "PUT", "/logger", body, NULL);
	CHECK(f.cfg.log_path && strstr(f.cfg.log_path, "kvmbox.log"));
	CHECK_EQ(f.logs, 1);
	EXPECT(&f, 400, "PUT", "/logger", "{\"level\": \"Loud\"}", "unknown variant `Loud`");
	EXPECT(&f, 400, "PUT", "/logger", "{\"log_path\": \"/nonexistent/l\"}", "Logger error");
	CHECK_EQ(f.logs, 1);
	log_set_level(LOG_ERROR);

	EXPECT(&f, 400, "PUT", "/metrics", "{}", "missing field `metrics_path`");
	snprintf(
	    body, sizeof(body),
	    "{\"metrics_path\": \"%s/metrics.json\", \"emit_id\": true, \"properties\": {\"a\": "
	    "\"b\"}}",
	    outdir);
	EXPECT(&f, 204, "PUT", "/metrics", body, NULL);
	CHECK(strstr(f.metrics, "metrics.json") && f.cfg.metrics_path);
	EXPECT(&f, 400, "PUT", "/metrics", body, "Reinitialization of metrics not allowed.");
	config_free(&f.cfg);

	fake_init(&f);
	EXPECT(&f, 400, "PUT", "/metrics", "{\"metrics_path\": \"/m\", \"properties\": {\"a\": 1}}",
	       "expected a string");
	config_free(&f.cfg);
}

/* Configure a full VM through the API (boot source, machine, 2 drives, a NIC, vsock...). */
static void configure_all(struct fake *f)
{
	char body[512];

	snprintf(body, sizeof(body),
		 "{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\", \"boot_args\": "
		 "\"console=ttyS0 reboot=k \\\"q\\\"\"}",
		 kernel, initrd);
	EXPECT(f, 204, "PUT", "/boot-source", body, NULL);
	EXPECT(f, 204, "PUT", "/machine-config",
	       "{\"vcpu_count\": 2, \"mem_size_mib\": 128, \"smt\": true}", NULL);
	snprintf(body, sizeof(body),
		 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
		 "\"is_read_only\": true, \"partuuid\": \"abcd-01\"}",
		 disk[0]);
	EXPECT(f, 204, "PUT", "/drives/rootfs", body, NULL);
	drive_body(body, sizeof(body), "scratch", disk[1], false);
	EXPECT(f, 204, "PUT", "/drives/scratch", body, NULL);
	EXPECT(f, 204, "PUT", "/network-interfaces/eth0",
	       "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
	       "\"06:00:ac:10:00:02\"}",
	       NULL);
	snprintf(body, sizeof(body),
		 "{\"guest_cid\": 7, \"uds_path\": \"%s/v.sock\", \"vsock_id\": \"vsock0\"}",
		 outdir);
	EXPECT(f, 204, "PUT", "/vsock", body, NULL);
	EXPECT(f, 204, "PUT", "/entropy", "{}", NULL);
	snprintf(body, sizeof(body), "{\"serial_out_path\": \"%s/serial.out\"}", outdir);
	EXPECT(f, 204, "PUT", "/serial", body, NULL);
	snprintf(body, sizeof(body), "{\"log_path\": \"%s/log\", \"level\": \"Info\"}", outdir);
	EXPECT(f, 204, "PUT", "/logger", body, NULL);
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s/metrics\"}", outdir);
	EXPECT(f, 204, "PUT", "/metrics", body, NULL);
	log_set_level(LOG_ERROR);
}

static void test_state_rules(void)
{
	struct fake f;
	char body[512];

	fake_init(&f);
	/* Post-boot-only requests before InstanceStart. */
	EXPECT(&f, 400, "PATCH", "/vm", "{\"state\": \"Paused\"}",
	       "The requested operation is not supported before starting the microVM.");
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}",
	       "not supported before starting");
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}",
	       "not supported before starting");
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}",
	       "Cannot start microvm without kernel configuration.");
	CHECK_EQ(f.starts, 0);
	configure_all(&f);
	/* A failing start leaves the VM not started. */
	f.fail_start = true;
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}",
	       "Start microvm error: no /dev/kvm here");
	CHECK_EQ(f.state, VMM_NOT_STARTED);
	f.fail_start = false;
	EXPECT(&f, 204, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", NULL);
	CHECK_EQ(f.starts, 2);
	EXPECT(&f, 200, "GET", "/", NULL, "\"state\":\"Running\"");
	/* Pre-boot-only requests after it. */
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\"}", kernel);
	EXPECT(&f, 400, "PUT", "/boot-source", body,
	       "The requested operation is not supported after starting the microVM.");
	EXPECT(&f, 400, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}",
	       "not supported after starting");
	EXPECT(&f, 400, "PATCH", "/machine-config", "{\"vcpu_count\": 1}",
	       "not supported after starting");
	drive_body(body, sizeof(body), "d9", disk[3], false);
	EXPECT(&f, 400, "PUT", "/drives/d9", body, "not supported after starting");
	EXPECT(&f, 400, "PUT", "/network-interfaces/x",
	       "{\"iface_id\": \"x\", \"host_dev_name\": \"t\"}", "not supported after starting");
	EXPECT(&f, 400, "PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/tmp/x\"}",
	       "not supported after starting");
	EXPECT(&f, 400, "PUT", "/entropy", "{}", "not supported after starting");
	EXPECT(&f, 400, "PUT", "/serial", "{}", "not supported after starting");
	EXPECT(&f, 400, "PUT", "/logger", "{}", "not supported after starting");
	EXPECT(&f, 400, "PUT", "/metrics", "{\"metrics_path\": \"/tmp/m\"}",
	       "not supported after starting");
	EXPECT(&f, 400, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}",
	       "not supported after starting");
	CHECK_EQ(f.starts, 2);
	/* A body error still wins over the state rule (the body is parsed first). */
	EXPECT(&f, 400, "PUT", "/boot-source", "{", "deserializing");
	/* Pause, resume, Ctrl-Alt-Del, metrics. */
	EXPECT(&f, 204, "PATCH", "/vm", "{\"state\": \"Paused\"}", NULL);
	EXPECT(&f, 200, "GET", "/", NULL, "\"state\":\"Paused\"");
	EXPECT(&f, 204, "PATCH", "/vm", "{\"state\": \"Paused\"}", NULL);
	CHECK_EQ(f.pauses, 1);
	EXPECT(&f, 204, "PATCH", "/vm", "{\"state\": \"Resumed\"}", NULL);
	EXPECT(&f, 200, "GET", "/", NULL, "\"state\":\"Running\"");
	CHECK_EQ(f.resumes, 1);
	EXPECT(&f, 400, "PATCH", "/vm", "{\"state\": \"Running\"}", "unknown variant `Running`");
	EXPECT(&f, 400, "PATCH", "/vm", "{}", "missing field `state`");
	EXPECT(&f, 204, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", NULL);
	EXPECT(&f, 204, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", NULL);
	CHECK_EQ(f.cads, 1);
	CHECK_EQ(f.flushes, 1);
	/* Post-boot drive and network updates go through the ops. */
	snprintf(body, sizeof(body), "{\"drive_id\": \"scratch\", \"path_on_host\": \"%s\"}",
		 disk[4]);
	EXPECT(&f, 204, "PATCH", "/drives/scratch", body, NULL);
	CHECK_EQ(f.updates, 1);
	CHECK_EQ(f.update_index, 1);
	CHECK(!strcmp(f.update_path, disk[4]) && !strcmp(f.cfg.disks[1].path, disk[4]));
	EXPECT(&f, 400, "PATCH", "/drives/scratch",
	       "{\"drive_id\": \"scratch\", \"path_on_host\": \"/nonexistent\"}",
	       "Unable to patch the block device");
	CHECK_EQ(f.updates, 1);
	EXPECT(&f, 204, "PATCH", "/network-interfaces/eth0",
	       "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": {\"bandwidth\": {\"size\": 5, "
	       "\"refill_time\": 1}}}",
	       NULL);
	EXPECT(&f, 400, "PATCH", "/network-interfaces/eth5", "{\"iface_id\": \"eth5\"}",
	       "no interface with id 'eth5'");
	/* GETs work in every state. */
	EXPECT(&f, 200, "GET", "/machine-config", NULL, "\"vcpu_count\":2");
	EXPECT(&f, 200, "GET", "/vm/config", NULL, "\"boot-source\"");
	f.state = VMM_STOPPED;
	EXPECT(&f, 200, "GET", "/", NULL, "\"state\":\"Stopped\"");
	config_free(&f.cfg);
}

static void test_kvmbox_extensions(void)
{
	struct fake f;

	fake_init(&f);
	EXPECT(&f, 200, "GET", "/kvmbox/stats", NULL, "\"uptime_ms\":5");
	f.no_stats = true;
	EXPECT(&f, 400, "GET", "/kvmbox/stats", NULL, "Cannot read the statistics: the microVM");
	EXPECT(&f, 400, "GET", "/kvmbox", NULL, "Invalid request method");
	EXPECT(&f, 400, "GET", "/kvmbox/stop", NULL, "Invalid request method");
	EXPECT(&f, 400, "PUT", "/kvmbox/stop", "{\"exit_status\": 300}", "expected 0 to 255");
	EXPECT(&f, 400, "PUT", "/kvmbox/stop", "{\"now\": 1}", "unknown field");
	CHECK_EQ(f.stops, 0);
	EXPECT(&f, 204, "PUT", "/kvmbox/stop", NULL, NULL);
	CHECK_EQ(f.stops, 1);
	CHECK_EQ(f.stop_status, 0);
	EXPECT(&f, 204, "PUT", "/kvmbox/stop", "{\"exit_status\": 3}", NULL);
	CHECK_EQ(f.stop_status, 3);
	config_free(&f.cfg);
}

static void test_kvmbox_regs_nmi(void)
{
	struct fake f;

	fake_init(&f);
	/* Before InstanceStart there are no vCPUs to read or interrupt. */
	EXPECT(&f, 400, "GET", "/kvmbox/regs", NULL, "not supported before starting");
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", NULL, "not supported before starting");
	CHECK_EQ(f.nmis, 0);
	f.state = VMM_RUNNING;
	/* The text travels as a JSON string: newlines and quotes escaped. */
	EXPECT(&f, 200, "GET", "/kvmbox/regs", NULL,
	       "\"text\":\"vCPU 0: runnable, long mode, CPL 0\\nRIP=ffffffff81000000 "
	       "\\\"quoted\\\"\\n\"");
	EXPECT(&f, 400, "GET", "/kvmbox/nmi", NULL, "Invalid request method");
	EXPECT(&f, 204, "PUT", "/kvmbox/nmi", NULL, NULL);
	CHECK_EQ(f.nmis, 1);
	CHECK_EQ(f.nmi_vcpu, -1);
	EXPECT(&f, 204, "PUT", "/kvmbox/nmi", "{\"vcpu\": 1}", NULL);
	CHECK_EQ(f.nmi_vcpu, 1);
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", "{\"vcpu\": 7}", "Cannot inject the NMI: no vCPU 7");
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", "{\"vcpu\": 256}", "expected 0 to 255");
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", "{\"vcpu\": -1}", NULL);
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", "{\"vcpu\": \"0\"}", NULL);
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", "{\"cpu\": 0}", "unknown field");
	EXPECT(&f, 400, "PUT", "/kvmbox/nmi", "[0]", NULL);
	CHECK_EQ(f.nmis, 2);
	f.state = VMM_PAUSED;
	EXPECT(&f, 200, "GET", "/kvmbox/regs", NULL, "RIP=ffffffff81000000");
	EXPECT(&f, 204, "PUT", "/kvmbox/nmi", "{\"vcpu\": 0}", NULL);
	CHECK_EQ(f.nmis, 3);
	config_free(&f.cfg);
}

/* Every failing request leaves the configuration exactly as it was. */
static void test_unchanged_on_failure(void)
{
	static const char *const bad[][3] = {
		{ "PUT", "/machine-config", "{\"vcpu_count\": 4, \"mem_size_mib\": 0}" },
		{ "PUT", "/machine-config",
		  "{\"vcpu_count\": 3, \"mem_size_mib\": 64, \"smt\": true}" },
		{ "PUT", "/machine-config",
		  "{\"vcpu_count\": 4, \"mem_size_mib\": 64, \"cpu_template\": \"C3\"}" },
		{ "PATCH", "/machine-config", "{\"vcpu_count\": 4, \"huge_pages\": \"2M\"}" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": \"/nonexistent\"}" },
		{ "PUT", "/drives/rootfs",
		  "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/nonexistent\", "
		  "\"is_root_device\": true}" },
		{ "PUT", "/drives/scratch",
		  "{\"drive_id\": \"scratch\", \"path_on_host\": \"/dev/null\", "
		  "\"is_root_device\": "
		  "true}" },
		{ "PUT", "/network-interfaces/eth0",
		  "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tapX\", \"guest_mac\": \"zz\"}" },
		{ "PUT", "/vsock", "{\"guest_cid\": 1, \"uds_path\": \"/tmp/v\"}" },
		{ "PUT", "/serial", "{\"serial_out_path\": \"/nonexistent/x\"}" },
		{ "PUT", "/logger", "{\"log_path\": \"/tmp\", \"level\": \"Debug\"}" },
		{ "PUT", "/metrics", "{\"metrics_path\": \"/tmp/x\"}" },
		{ "PUT", "/entropy",
		  "{\"rate_limiter\": {\"ops\": {\"size\": -1, \"refill_time\": 1}}}" },
		{ "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"\"}" },
	};
	struct fake f;
	char *before, *after;

	fake_init(&f);
	configure_all(&f);
	before = export(&f);
	CHECK(before != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = req(&f, bad[i][0], bad[i][1], bad[i][2]);

		after = export(&f);
		if (st != 400 || !after || strcmp(before, after)) {
			fprintf(stderr, "  %s %s -> %d %s changed the config\n", bad[i][0],
				bad[i][1], st, last_body);
			test_failed_++;
		}
		free(after);
	}
	free(before);
	config_free(&f.cfg);
}

static int write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

static void test_config_file(void)
{
	struct fake f, g;
	char path[256], err[512], *a, *b, *doc;
	struct vm_config cfg;

	/* GET /vm/config round trip: the document loads back into the same configuration. */
	fake_init(&f);
	configure_all(&f);
	EXPECT(&f, 200, "GET", "/vm/config", NULL, "\"drives\":[{\"drive_id\":\"rootfs\"");
	CHECK(strstr(last_body, "\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":128,"
				"\"smt\":true"));
	CHECK(strstr(last_body, "\"partuuid\":\"abcd-01\""));
	CHECK(strstr(last_body, "\"guest_mac\":\"06:00:ac:10:00:02\""));
	CHECK(strstr(last_body, "\"vsock\":{\"guest_cid\":7"));
	CHECK(strstr(last_body, "\"balloon\":null"));
	snprintf(path, sizeof(path), "%s/vm.json", dir);
	CHECK_EQ(write_file(path, last_body), 0);
	a = export(&f);
	fake_init(&g);
	CHECK_EQ(config_file_load(&g.cfg, path, err, sizeof(err)), 0);
	b = export(&g);
	CHECK(a && b && !strcmp(a, b));
	if (a && b && strcmp(a, b))
		fprintf(stderr, "  round trip:\n  %s\n  %s\n", a, b);
	CHECK_EQ(g.cfg.ndisks, 2);
	CHECK(g.cfg.disks[0].readonly && g.cfg.disks[0].is_root);
	CHECK_EQ(g.cfg.disks[0].transport, CONFIG_TRANSPORT_MMIO);
	CHECK(g.cfg.rng && g.cfg.vsock.enabled && g.cfg.metrics_path && g.cfg.log_path);
	free(a);
	free(b);
	config_free(&f.cfg);
	config_free(&g.cfg);
	log_set_level(LOG_ERROR);

	/* Errors: one line naming the problem. */
	config_init(&cfg);
	CHECK(config_file_load(&cfg, "/nonexistent.json", err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot open it: No such file"));
	CHECK(config_file_load(&cfg, "/tmp", err, sizeof(err)) < 0);
	CHECK(strstr(err, "not a regular file"));
	CHECK_EQ(write_file(path, "{\"boot-source\": {}, \"bogus\": 1}"), 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "unknown key \"bogus\""));
	CHECK_EQ(write_file(path, "{\"machine-config\": {\"vcpu_count\": 1,"), 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "invalid JSON at line 1"));
	CHECK_EQ(write_file(path, "[1]"), 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "expected a JSON object"));
	CHECK_EQ(write_file(path, "{\"drives\": {}}"), 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "drives: expected an array"));
	doc = malloc(1024);
	snprintf(
	    doc, 1024,
	    "{\"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"%s\", \"is_root_device\": "
	    "true}, {\"drive_id\": \"b\", \"path_on_host\": \"%s\", \"is_root_device\": true}]}",
	    disk[0], disk[1]);
	CHECK_EQ(write_file(path, doc), 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "drives[1]: Drive config error: A root block device already exists!"));
	CHECK_EQ(write_file(path, "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64, "
				  "\"x\": 2}}"),
		 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "machine-config: ") && strstr(err, "unknown field `x`"));
	CHECK_EQ(write_file(path, "{\"balloon\": {\"amount_mib\": 1}}"), 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "balloon is not supported by kvmbox"));
	CHECK_EQ(write_file(path, "{\"boot-source\": {\"kernel_image_path\": \"k\"}, "
				  "\"boot-source\": {}}"),
		 0);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "duplicate"));
	free(doc);
	/* Bounded size. */
	make_file(path, CONFIG_FILE_MAX + 1);
	CHECK(config_file_load(&cfg, path, err, sizeof(err)) == -EFBIG);
	CHECK(strstr(err, "too big"));
	config_free(&cfg);
}

/* ---- HTTP connection tests ---- */

static size_t http_take(struct http_conn *c, char *buf, size_t len)
{
	size_t n;
	const void *p = http_conn_out(c, &n);

	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	http_conn_out_done(c, n);
	return n;
}

static void test_http_basic(void)
{
	static const char in[] =
	    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
	    "PUT /actions HTTP/1.1\r\nContent-Length: 13\r\n\r\n{\"a\": \"bcd\"}\n"
	    "PATCH /vm HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\n{\"s\r\n2\r\n\":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n";
	struct http_conn *c;
	struct http_request r;
	char out[2048];

	CHECK_EQ(http_conn_create(&c), 0);
	CHECK_EQ(http_conn_feed(c, in, sizeof(in) - 1), sizeof(in) - 1);
	CHECK_EQ(http_conn_next(c, &r), 1);
	CHECK(!strcmp(r.method, "GET") && !strcmp(r.url, "/") && r.body_len == 0);
	/* One at a time: nothing more until it is answered. */
	CHECK_EQ(http_conn_next(c, &r), 0);
	http_conn_respond(c, 200, "{\"x\":1}", 7);
	CHECK_EQ(http_conn_next(c, &r), 1);
	CHECK(!strcmp(r.method, "PUT") && !strcmp(r.url, "/actions"));
	CHECK(r.body_len == 13 && !strcmp(r.body, "{\"a\": \"bcd\"}\n"));
	http_conn_respond(c, 204, NULL, 0);
	CHECK_EQ(http_conn_next(c, &r), 1);
	CHECK(!strcmp(r.method, "PATCH") && r.body_len == 7 && !strcmp(r.body, "{\"s\":1}"));
	http_conn_respond(c, 400, "{\"fault_message\":\"no\"}", 22);
	CHECK_EQ(http_conn_next(c, &r), 0);
	CHECK(!http_conn_closing(c));
	http_take(c, out, sizeof(out));
	CHECK(!strncmp(out,
		       "HTTP/1.1 200 OK\r\nServer: kvmbox\r\nConnection: keep-alive\r\n"
		       "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"x\":1}"
		       "HTTP/1.1 204 No Content\r\n",
		       strlen("HTTP/1.1 200 OK\r\nServer: kvmbox\r\nConnection: keep-alive\r\n"
			      "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"x\":1}"
			      "HTTP/1.1 204 No Content\r\n")));
	CHECK(strstr(out, "HTTP/1.1 400 Bad Request\r\n"));
	CHECK(strstr(out, "Content-Length: 22\r\n\r\n{\"fault_message\":\"no\"}"));
	CHECK(!http_conn_busy(c));
	/* EOF between requests: a clean close. */
	http_conn_eof(c);
	CHECK_EQ(http_conn_next(c, &r), 0);
	CHECK(http_conn_closing(c));
	http_conn_destroy(c);
}

static void test_http_bytewise(void)
{
	static const char in[] = "PUT /drives/rootfs HTTP/1.1\r\nHost: x\r\nContent-Type: "
				 "application/json\r\nContent-Length: 4\r\n\r\n{ }\n";
	struct http_conn *c;
	struct http_request r;
	int got = 0;

	CHECK_EQ(http_conn_create(&c), 0);
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		CHECK_EQ(http_conn_feed(c, in + i, 1), 1);
		if (http_conn_next(c, &r) == 1) {
			got++;
			CHECK_EQ(i, sizeof(in) - 2);
			CHECK(!strcmp(r.url, "/drives/rootfs") && !strcmp(r.body, "{ }\n"));
			http_conn_respond(c, 204, NULL, 0);
		}
		CHECK(http_conn_busy(c));
	}
	CHECK_EQ(got, 1);
	http_conn_destroy(c);
}

/* Feed text, answer requests until none; the output is appended to out (a string). Returns the
 * last http_conn_next result. */
static int http_run(struct http_conn *c, const char *text, size_t len, char *out, size_t outlen)
{
	struct http_request r;
	size_t used = strlen(out);
	int ret;

	http_conn_feed(c, text, len);
	while ((ret = http_conn_next(c, &r)) == 1)
		http_conn_respond(c, 204, NULL, 0);
	http_take(c, out + used, outlen - used);
	return ret;
}

static void test_http_errors(void)
{
	struct http_conn *c;
	char *big = malloc(20000), out[1024];
	struct http_request r;

	/* Headers over 8 KiB. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'a', 9000);
	strcpy(big + 9024, "\r\n\r\n");
	CHECK_EQ(http_run(c, big, strlen(big), out, sizeof(out)), -EPROTO);
	CHECK(strstr(out, "HTTP/1.1 400 Bad Request") && strstr(out, "headers too large"));
	CHECK(strstr(out, "Connection: close") && http_conn_closing(c));
	CHECK_EQ(http_conn_in_space(c), 0);
	http_conn_destroy(c);
	/* A long URL the same way. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	strcpy(big, "GET /");
	memset(big + 5, 'a', 10000);
	strcpy(big + 10005, " HTTP/1.1\r\n\r\n");
	CHECK_EQ(http_run(c, big, strlen(big), out, sizeof(out)), -EPROTO);
	CHECK(strstr(out, "400 Bad Request"));
	http_conn_destroy(c);
	/* Endless header lines. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_run(c, "GET / HTTP/1.1\r\n", 16, out, sizeof(out));
	for (int i = 0; i < 2000 && !http_conn_closing(c); i++)
		http_run(c, "A: b\r\n", 6, out, sizeof(out));
	CHECK(http_conn_closing(c) && strstr(out, "headers too large"));
	http_conn_destroy(c);
	/* A body over 51200 bytes, announced or chunked. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	CHECK_EQ(
	    http_run(c, "PUT /x HTTP/1.1\r\nContent-Length: 51201\r\n\r\n", 42, out, sizeof(out)),
	    -EPROTO);
	CHECK(strstr(out, "Request payload with size 51201 is larger than the limit of 51200"));
	http_conn_destroy(c);
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_run(c, "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 47, out, sizeof(out));
	for (int i = 0; i < 20 && !http_conn_closing(c); i++) {
		memset(big, 'x', 16384);
		http_run(c, "4000\r\n", 6, out, sizeof(out));
		http_run(c, big, 8192, out, sizeof(out));
		http_run(c, big, 8192, out, sizeof(out));
		http_run(c, "\r\n", 2, out, sizeof(out));
	}
	CHECK(http_conn_closing(c) && strstr(out, "larger than the limit"));
	http_conn_destroy(c);
	/* A body of exactly 51200 is fine. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_conn_feed(c, "PUT /x HTTP/1.1\r\nContent-Length: 51200\r\n\r\n", 42);
	for (int i = 0; i < 4; i++) {
		memset(big, ' ', 12800);
		CHECK_EQ(http_conn_next(c, &r), 0);
		CHECK_EQ(http_conn_feed(c, big, 12800), 12800);
	}
	CHECK_EQ(http_conn_next(c, &r), 1);
	CHECK_EQ(r.body_len, 51200);
	http_conn_destroy(c);
	/* Garbage, bad versions, bad methods. */
	static const char *const garbage[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"GET / HTTP/9.9\r\n\r\n",
		"FOO / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
		"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"CONNECT a:1 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"\r\n\r\n\r\nGET\x00/ HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		CHECK_EQ(http_conn_create(&c), 0);
		out[0] = '\0';
		if (http_run(c, garbage[i], strlen(garbage[i]) + (i == 9 ? 10 : 0), out,
			     sizeof(out)) != -EPROTO ||
		    !strstr(out, "400 Bad Request") || !http_conn_closing(c)) {
			fprintf(stderr, "  garbage %zu: %s\n", i, out);
			test_failed_++;
		}
		http_conn_destroy(c);
	}
	/* Truncated request, then EOF. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	CHECK_EQ(
	    http_run(c, "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n{", 40, out, sizeof(out)), 0);
	CHECK(http_conn_busy(c));
	http_conn_eof(c);
	CHECK_EQ(http_conn_next(c, &r), -EPROTO);
	http_take(c, out, sizeof(out));
	CHECK(strstr(out, "Truncated HTTP request."));
	http_conn_destroy(c);
	free(big);
}

static void test_http_connection(void)
{
	struct http_conn *c;
	struct http_request r;
	char out[2048];

	/* Connection: close and HTTP/1.0 end the connection after the response. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_run(c, "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n", 56, out,
		 sizeof(out));
	CHECK(strstr(out, "Connection: close") && http_conn_closing(c));
	CHECK(!strstr(out + 10, "HTTP/1.1")); /* the pipelined second request is not answered */
	http_conn_destroy(c);
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_run(c, "GET / HTTP/1.0\r\n\r\n", 18, out, sizeof(out));
	CHECK(strstr(out, "Connection: close") && http_conn_closing(c));
	http_conn_destroy(c);
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_run(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 42, out, sizeof(out));
	CHECK(strstr(out, "keep-alive") && !http_conn_closing(c));
	http_conn_destroy(c);
	/* Expect: 100-continue gets its interim response before the body. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_conn_feed(c, "PUT /x HTTP/1.1\r\nExpect: 100-Continue \r\nContent-Length: 2\r\n\r\n",
		       61);
	CHECK_EQ(http_conn_next(c, &r), 0);
	http_take(c, out, sizeof(out));
	CHECK(!strcmp(out, "HTTP/1.1 100 Continue\r\n\r\n"));
	http_conn_feed(c, "{}", 2);
	CHECK_EQ(http_conn_next(c, &r), 1);
	http_conn_respond(c, 204, NULL, 0);
	http_conn_destroy(c);
	/* HEAD: the headers of the response, not its body. */
	CHECK_EQ(http_conn_create(&c), 0);
	out[0] = '\0';
	http_conn_feed(c, "HEAD / HTTP/1.1\r\n\r\n", 19);
	CHECK_EQ(http_conn_next(c, &r), 1);
	CHECK(r.head);
	http_conn_respond(c, 400, "{\"a\":1}", 7);
	http_take(c, out, sizeof(out));
	CHECK(strstr(out, "Content-Length: 7\r\n\r\n") && !strstr(out, "{\"a\""));
	http_conn_destroy(c);
}

/* A client that pipelines without reading: requests wait while output is backed up. */
static void test_http_backpressure(void)
{
	static const char get[] = "GET /vm/config HTTP/1.1\r\n\r\n";
	struct http_conn *c;
	struct http_request r;
	char *body = malloc(30000);
	size_t fed = 0, answered = 0, n;

	memset(body, 'x', 30000);
	CHECK_EQ(http_conn_create(&c), 0);
	for (int i = 0; i < 1000; i++)
		fed += http_conn_feed(c, get, sizeof(get) - 1) == sizeof(get) - 1;
	CHECK(fed < 1000 && fed > 500); /* the input buffer is bounded */
	while (http_conn_next(c, &r) == 1) {
		http_conn_respond(c, 200, body, 30000);
		answered++;
	}
	http_conn_out(c, &n);
	CHECK(answered >= 2 && answered < 5);
	CHECK(n > HTTP_OUT_SOFT && n < HTTP_OUT_SOFT + 40000);
	/* Drain, and the rest is served. */
	while (answered < fed) {
		http_conn_out(c, &n);
		http_conn_out_done(c, n);
		while (http_conn_next(c, &r) == 1) {
			http_conn_respond(c, 200, body, 30000);
			answered++;
		}
	}
	CHECK_EQ(answered, fed);
	http_conn_destroy(c);
	free(body);
}

/* ---- Server tests: a real socket on a threaded event loop ---- */

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until the peer closes or a full response with its body arrived (or timeout_ms). */
static ssize_t sock_read(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *hdr_end, *cl;
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		r = read(fd, buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		hdr_end = strstr(buf, "\r\n\r\n");
		cl = strstr(buf, "Content-Length: ");
		if (hdr_end && (!cl || cl > hdr_end))
			break;
		if (hdr_end && n >= (size_t)(hdr_end + 4 - buf) + strtoul(cl + 16, NULL, 10))
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static bool sock_closed(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, timeout_ms) == 1 && read(fd, &c, 1) <= 0;
}

static void test_server(void)
{
	struct event_loop *loop;
	struct api_server *srv, *srv2;
	struct fake f;
	char path[100], buf[4096];
	int fds[40], fd;
	struct stat st;

	fake_init(&f);
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	CHECK_EQ(event_loop_create(&loop, "api-test"), 0);
	/* A stale socket (bound, nobody listening) is replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		CHECK_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
	}
	CHECK_EQ(api_server_create(&srv, path, loop, &fake_ops, &f), 0);
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	/* A live one is not. */
	CHECK_EQ(api_server_create(&srv2, path, loop, &fake_ops, &f), -EADDRINUSE);
	/* A request, and keep-alive. */
	fd = sock_connect(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "GET / HTTP/1.1\r\n\r\n", 18) == 18);
	sock_read(fd, buf, sizeof(buf), 2000);
	CHECK(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"state\":\"Not started\""));
	CHECK(write(fd, "PUT /kvmbox/stop HTTP/1.1\r\n\r\n", 29) == 29);
	sock_read(fd, buf, sizeof(buf), 2000);
	CHECK(strstr(buf, "HTTP/1.1 204 No Content"));
	close(fd);
	/* At most API_SERVER_MAX_CONNS at once: the extra ones are closed, the others answer. */
	for (int i = 0; i < 40; i++)
		fds[i] = sock_connect(path);
	usleep(200000);
	for (int i = 0; i < 40; i++) {
		bool closed = sock_closed(fds[i], i < API_SERVER_MAX_CONNS ? 0 : 1000);

		CHECK(closed == (i >= API_SERVER_MAX_CONNS));
	}
	for (int i = 0; i < 40; i++)
		close(fds[i]);
	usleep(200000);
	/* A slow client with a partial request is dropped after the timeout. */
	api_server_set_timeout(srv, 300);
	fd = sock_connect(path);
	CHECK(write(fd, "GET / HT", 8) == 8);
	CHECK(sock_closed(fd, 3000));
	close(fd);
	/* A client that hangs up mid-request, and one that sends garbage. */
	fd = sock_connect(path);
	CHECK(write(fd, "PUT /drives/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", 49) == 49);
	close(fd);
	fd = sock_connect(path);
	CHECK(write(fd, "\x01\x02\x03\r\n\r\n", 7) == 7);
	sock_read(fd, buf, sizeof(buf), 2000);
	CHECK(strstr(buf, "400 Bad Request") && strstr(buf, "Connection: close"));
	CHECK(sock_closed(fd, 2000));
	close(fd);
	/* Still serving. */
	fd = sock_connect(path);
	CHECK(write(fd, "GET /version HTTP/1.1\r\n\r\n", 25) == 25);
	sock_read(fd, buf, sizeof(buf), 2000);
	CHECK(strstr(buf, "firecracker_version"));
	close(fd);
	CHECK_EQ(f.stops, 1);
	CHECK_EQ(event_loop_pause(loop), 0);
	api_server_destroy(srv);
	event_loop_resume(loop);
	CHECK(access(path, F_OK) < 0);
	/* A file that is not a socket is never replaced. */
	make_file(path, 10);
	CHECK_EQ(api_server_create(&srv, path, loop, &fake_ops, &f), -EEXIST);
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 10);
	unlink(path);
	event_loop_destroy(loop);
	config_free(&f.cfg);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 2;
	log_set_level(LOG_ERROR);
	snprintf(kernel, sizeof(kernel), "%s/vmlinux", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd", dir);
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	mkdir(outdir, 0700);
	make_file(kernel, 4096);
	make_file(initrd, 4096);
	for (int i = 0; i < 9; i++) {
		snprintf(disk[i], sizeof(disk[i]), "%s/disk%d.img", dir, i);
		make_file(disk[i], 1 << 20);
	}
	RUN_TEST(test_info_version);
	RUN_TEST(test_routing_errors);
	RUN_TEST(test_json_errors);
	RUN_TEST(test_machine_config);
	RUN_TEST(test_boot_source);
	RUN_TEST(test_drives);
	RUN_TEST(test_net);
	RUN_TEST(test_devices_misc);
	RUN_TEST(test_state_rules);
	RUN_TEST(test_kvmbox_extensions);
	RUN_TEST(test_kvmbox_regs_nmi);
	RUN_TEST(test_unchanged_on_failure);
	RUN_TEST(test_config_file);
	RUN_TEST(test_http_basic);
	RUN_TEST(test_http_bytewise);
	RUN_TEST(test_http_errors);
	RUN_TEST(test_http_connection);
	RUN_TEST(test_http_backpressure);
	RUN_TEST(test_server);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	TEST_EXIT();
}
