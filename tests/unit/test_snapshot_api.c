/*
 * Snapshot control plane without KVM: PUT /snapshot/create and /snapshot/load (bodies, state
 * rules) with fake ops, the configuration document a snapshot carries (round trip, hostile
 * documents), and vmm_snapshot_load's refusals, which must leave nothing started and the
 * configuration as it was.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/snapshot_config.h"
#include "arch/x86/snapshot_image.h"
#include "log.h"
#include "api_req.h"
#include "test.h"
#include "vmm.h"

static char dir[] = "/tmp/kvmbox-test-snapapi-XXXXXX";
static char disk0[256], disk1[256], statef[256], memf[256], uds[256];

struct fake {
	struct vm_config cfg;
	enum vmm_state state;
	int creates, loads;
	char state_path[256], mem_path[256];
	bool diff, fail;
	struct vmm_snapshot_load req;
	char ov_id[4][64], ov_tap[4][64];
};

static struct vm_config *fake_config(void *o)
{
	return &((struct fake *)o)->cfg;
}

static enum vmm_state fake_state(void *o)
{
	return ((struct fake *)o)->state;
}

static int fake_create(void *o, const char *state_path, const char *mem_path, bool diff, char *err,
		       size_t len)
{
	struct fake *f = o;

	f->creates++;
	snprintf(f->state_path, sizeof(f->state_path), "%s", state_path);
	snprintf(f->mem_path, sizeof(f->mem_path), "%s", mem_path);
	f->diff = diff;
	if (f->fail) {
		snprintf(err, len, "disk full");
		return -ENOSPC;
	}
	return 0;
}

static int fake_load(void *o, const struct vmm_snapshot_load *req, char *err, size_t len)
{
	struct fake *f = o;

	f->loads++;
	f->req = *req;
	snprintf(f->state_path, sizeof(f->state_path), "%s", req->state_path);
	snprintf(f->mem_path, sizeof(f->mem_path), "%s", req->mem_path);
	for (unsigned i = 0; i < req->noverrides; i++) {
		snprintf(f->ov_id[i], sizeof(f->ov_id[i]), "%s", req->overrides[i].iface_id);
		snprintf(f->ov_tap[i], sizeof(f->ov_tap[i]), "%s", req->overrides[i].tap);
	}
	f->state = req->resume ? VMM_RUNNING : VMM_PAUSED;
	return 0;
}

static const struct api_ops fake_ops = {
	.config = fake_config,
	.state = fake_state,
	.snapshot_create = fake_create,
	.snapshot_load = fake_load,
};

#define last_body api_last_body
#define EXPECT(f, ...) API_EXPECT(&fake_ops, f, __VA_ARGS__)

static void fake_init(struct fake *f, enum vmm_state s)
{
	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
	f->state = s;
}

static void make_file(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || write(fd, "x", 1) != 1)
		abort();
	close(fd);
}

static void test_create_rules(void)
{
	struct fake f;
	char body[1024];

	fake_init(&f, VMM_NOT_STARTED);
	snprintf(body, sizeof(body), "{\"snapshot_path\": \"%s/s\", \"mem_file_path\": \"%s/m\"}",
		 dir, dir);
	EXPECT(&f, 400, "PUT", "/snapshot/create", body, "not supported before starting");
	f.state = VMM_RUNNING;
	EXPECT(&f, 400, "PUT", "/snapshot/create", body, "must be paused");
	f.state = VMM_PAUSED;
	EXPECT(&f, 400, "PUT", "/snapshot/create", "{\"snapshot_path\": \"/tmp/x\"}",
	       "mem_file_path");
	EXPECT(&f, 400, "PUT", "/snapshot/create",
	       "{\"snapshot_path\": \"/tmp/x\", \"mem_file_path\": \"/tmp/y\", "
	       "\"snapshot_type\": \"Incremental\"}",
	       "snapshot_type");
	EXPECT(&f, 400, "PUT", "/snapshot/create",
	       "{\"snapshot_path\": \"/tmp/x\", \"mem_file_path\": \"/tmp/y\", \"extra\": 1}",
	       "extra");
	EXPECT(&f, 400, "PUT", "/snapshot/create",
	       "{\"snapshot_path\": \"/nonexistent-dir/s\", \"mem_file_path\": \"/tmp/y\"}",
	       "Create snapshot error: ");
	CHECK_EQ(f.creates, 0);
	/* A Diff goes into the Full memory file: it must exist. */
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\": \"%s/s\", \"mem_file_path\": \"%s/nomem\", "
		 "\"snapshot_type\": \"Diff\"}",
		 dir, dir);
	EXPECT(&f, 400, "PUT", "/snapshot/create", body, "Create snapshot error: ");
	CHECK_EQ(f.creates, 0);

	EXPECT(&f, 204, "PUT", "/snapshot/create",
	       "{\"snapshot_path\": \"/tmp/s1\", "
	       "\"mem_file_path\": \"/tmp/m1\", \"version\": \"1.0.0\"}",
	       NULL);
	CHECK_EQ(f.creates, 1);
	CHECK(!strcmp(f.state_path, "/tmp/s1") && !strcmp(f.mem_path, "/tmp/m1") && !f.diff);
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\": \"%s/s\", \"mem_file_path\": \"%s\", "
		 "\"snapshot_type\": \"Diff\"}",
		 dir, memf);
	EXPECT(&f, 204, "PUT", "/snapshot/create", body, NULL);
	CHECK(f.diff && !strcmp(f.mem_path, memf));
	f.fail = true;
	EXPECT(&f, 400, "PUT", "/snapshot/create", body, "Create snapshot error: disk full");
	config_free(&f.cfg);
}

static void test_load_rules(void)
{
	struct fake f;
	char body[2048];

	fake_init(&f, VMM_RUNNING);
	snprintf(body, sizeof(body), "{\"snapshot_path\": \"%s\", \"mem_file_path\": \"%s\"}",
		 statef, memf);
	EXPECT(&f, 400, "PUT", "/snapshot/load", body, "not supported after starting");
	f.state = VMM_NOT_STARTED;
	EXPECT(&f, 400, "PUT", "/snapshot/load", "{\"snapshot_path\": \"/tmp/s\"}",
	       "exactly one of mem_file_path and mem_backend");
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\": \"%s\", \"mem_file_path\": \"%s\", \"mem_backend\": "
		 "{\"backend_path\": \"%s\", \"backend_type\": \"File\"}}",
		 statef, memf, memf);
	EXPECT(&f, 400, "PUT", "/snapshot/load", body, "exactly one");
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\": \"%s\", \"mem_backend\": "
		 "{\"backend_path\": \"%s\", \"backend_type\": \"Uffd\"}}",
		 statef, memf);
	EXPECT(&f, 400, "PUT", "/snapshot/load", body, "Uffd is not supported");
	EXPECT(&f, 400, "PUT", "/snapshot/load",
	       "{\"snapshot_path\": \"/tmp/s\", \"mem_backend\": {\"backend_type\": \"File\"}}",
	       "backend_path");
	EXPECT(&f, 400, "PUT", "/snapshot/load",
	       "{\"snapshot_path\": \"/tmp/s\", \"mem_backend\": 7}", "mem_backend");
	EXPECT(&f, 400, "PUT", "/snapshot/load",
	       "{\"snapshot_path\": \"/tmp/s\", \"mem_file_path\": \"/tmp/m\", "
	       "\"network_overrides\": {}}",
	       "network_overrides");
	EXPECT(&f, 400, "PUT", "/snapshot/load",
	       "{\"snapshot_path\": \"/tmp/s\", \"mem_file_path\": \"/tmp/m\", "
	       "\"network_overrides\": [{\"iface_id\": \"a b\", \"host_dev_name\": \"t0\"}]}",
	       "alphanumeric");
	EXPECT(&f, 400, "PUT", "/snapshot/load",
	       "{\"snapshot_path\": \"/tmp/s\", \"mem_file_path\": \"/tmp/m\", "
	       "\"network_overrides\": [{\"iface_id\": \"a\", \"host_dev_name\": "
	       "\"a-name-far-too-long\"}]}",
	       "host_dev_name");
	EXPECT(&f, 400, "PUT", "/snapshot/load",
	       "{\"snapshot_path\": \"/tmp/s\", \"mem_file_path\": \"/tmp/m\", "
	       "\"network_overrides\": [{}, {}, {}, {}, {}]}",
	       "at most 4");
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\": \"%s\", \"mem_file_path\": \"%s\", \"network_overrides\": "
		 "[{\"iface_id\": \"eth0\", \"host_dev_name\": \"t0\"}, "
		 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"t1\"}]}",
		 statef, memf);
	EXPECT(&f, 400, "PUT", "/snapshot/load", body, "given twice");
	snprintf(body, sizeof(body), "{\"snapshot_path\": \"%s/none\", \"mem_file_path\": \"%s\"}",
		 dir, memf);
	EXPECT(&f, 400, "PUT", "/snapshot/load", body, "Load snapshot error: ");
	CHECK_EQ(f.loads, 0);

	snprintf(
	    body, sizeof(body),
	    "{\"snapshot_path\": \"%s\", \"mem_backend\": {\"backend_path\": \"%s\", "
	    "\"backend_type\": \"File\"}, \"enable_diff_snapshots\": true, \"resume_vm\": true, "
	    "\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap7\"}]}",
	    statef, memf);
	EXPECT(&f, 204, "PUT", "/snapshot/load", body, NULL);
	CHECK_EQ(f.loads, 1);
	CHECK(!strcmp(f.state_path, statef) && !strcmp(f.mem_path, memf));
	CHECK(f.req.resume && f.req.track_dirty);
	CHECK_EQ(f.req.noverrides, 1);
	CHECK(!strcmp(f.ov_id[0], "eth0") && !strcmp(f.ov_tap[0], "tap7"));
	CHECK_EQ(f.state, VMM_RUNNING);

	fake_init(&f, VMM_NOT_STARTED);
	snprintf(body, sizeof(body), "{\"snapshot_path\": \"%s\", \"mem_file_path\": \"%s\"}",
		 statef, memf);
	EXPECT(&f, 204, "PUT", "/snapshot/load", body, NULL);
	CHECK(!f.req.resume && !f.req.track_dirty && f.req.noverrides == 0);
	CHECK_EQ(f.state, VMM_PAUSED);
	config_free(&f.cfg);
}

/* A configuration like `kvmbox run` makes (PCI and MMIO devices, kvmbox's own options). */
static void cli_config(struct vm_config *cfg)
{
	config_init(cfg);
	cfg->action = CONFIG_ACTION_RUN;
	cfg->cpus = 3;
	cfg->memory = 768ull << 20;
	cfg->cpu_template = "pvm";
	cfg->debug_exit = true;
	cfg->virtio_console = true;
	cfg->rng = true;
	cfg->kernel = "/boot/vmlinuz-gone";
	cfg->disks[0] = (struct config_disk){ .path = disk0, .transport = CONFIG_TRANSPORT_PCI };
	cfg->disks[1] = (struct config_disk){
		.path = disk1, .readonly = true, .transport = CONFIG_TRANSPORT_MMIO, .id = "data"
	};
	cfg->ndisks = 2;
	cfg->nics[0] = (struct config_net){ .tap = "tap0",
					    .has_mac = true,
					    .mac = { 2, 0, 0, 0, 0, 9 },
					    .transport = CONFIG_TRANSPORT_MMIO,
					    .id = "eth0" };
	cfg->nics[1] = (struct config_net){ .tap = "tap1", .transport = CONFIG_TRANSPORT_PCI };
	cfg->nnics = 2;
	cfg->vsock = (struct config_vsock){ .enabled = true, .guest_cid = 5, .uds_path = uds };
	cfg->track_dirty_pages = true;
}

static void test_config_roundtrip(void)
{
	struct vm_config a, b;
	char *doc, err[512] = "";

	cli_config(&a);
	doc = snapshot_config_export(&a);
	CHECK(doc != NULL);
	config_init(&b);
	CHECK_EQ(snapshot_config_import(&b, doc, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  import: %s\n", err);
	CHECK_EQ(b.cpus, 3);
	CHECK_EQ(b.memory, 768ull << 20);
	CHECK(b.cpu_template && !strcmp(b.cpu_template, "pvm"));
	CHECK(b.debug_exit && b.virtio_console && b.rng && b.track_dirty_pages);
	CHECK(!b.test_devices && !b.no_ioeventfd && !b.mmio_cmdline);
	CHECK(b.kernel == NULL); /* the guest is booted already: the kernel may be gone */
	CHECK_EQ(b.ndisks, 2);
	CHECK(!strcmp(b.disks[0].path, disk0) && b.disks[0].transport == CONFIG_TRANSPORT_PCI &&
	      !b.disks[0].readonly);
	CHECK(!strcmp(b.disks[1].path, disk1) && b.disks[1].transport == CONFIG_TRANSPORT_MMIO &&
	      b.disks[1].readonly && !strcmp(b.disks[1].id, "data"));
	CHECK_EQ(b.nnics, 2);
	CHECK(!strcmp(b.nics[0].tap, "tap0") && b.nics[0].has_mac && b.nics[0].mac[5] == 9 &&
	      b.nics[0].transport == CONFIG_TRANSPORT_MMIO && !strcmp(b.nics[0].id, "eth0"));
	CHECK(!strcmp(b.nics[1].tap, "tap1") && b.nics[1].transport == CONFIG_TRANSPORT_PCI);
	CHECK(b.vsock.enabled && b.vsock.guest_cid == 5 && !strcmp(b.vsock.uds_path, uds));
	/* Exported again, the document is the same: nothing was lost on the way (but the
	 * kernel, which a restore does not take). */
	b.kernel = a.kernel;
	{
		char *again = snapshot_config_export(&b);

		CHECK(again && !strcmp(again, doc));
		if (again && strcmp(again, doc))
			fprintf(stderr, "  %s\n  %s\n", doc, again);
		free(again);
	}
	free(doc);
	config_free(&a);
	config_free(&b);
}

/* doc with the first occurrence of from replaced by to. */
static char *mutate(const char *doc, const char *from, const char *to)
{
	const char *at = strstr(doc, from);
	char *out;

	if (!at)
		return NULL;
	if (asprintf(&out, "%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from)) < 0)
		return NULL;
	return out;
}

static void test_config_hostile(void)
{
	static const char *const cases[][3] = {
		{ "\"vcpus\":3", "\"vcpus\":0", "vcpus" },
		{ "\"vcpus\":3", "\"vcpus\":300", "vcpus" },
		{ "\"vcpus\":3", "\"vcpus\":\"3\"", "vcpus" },
		{ "\"memory_bytes\":805306368", "\"memory_bytes\":805306369", "4 KiB" },
		{ "\"memory_bytes\":805306368", "\"memory_bytes\":1", "memory_bytes" },
		{ "\"drive_transports\":\"pm\"", "\"drive_transports\":\"p\"", "transports" },
		{ "\"drive_transports\":\"pm\"", "\"drive_transports\":\"px\"", "neither" },
		{ "\"net_transports\":\"mp\"", "\"net_transports\":\"mpmpmp\"", "net_transports" },
		{ "\"cpu_template\":\"pvm\"", "\"cpu_template\":\"T2\"", "cpu_template" },
		{ "\"kvmbox\":{", "\"kvmbox2\":{", "unknown section" },
		{ "\"kvmbox\":{", "\"other\":1,\"kvmbox\":{", "unknown section" },
		{ "\"smt\":false,", "", "smt" },
		{ "\"smt\":false", "\"smt\":false,\"more\":1", "more" },
		{ "\"drives\":[", "\"drives\":7,\"x\":[", "" },
		{ "\"guest_cid\":5", "\"guest_cid\":2", "" },
		{ "\"is_read_only\":true", "\"is_read_only\":\"yes\"", "" },
	};
	struct vm_config a, b;
	char *doc, *bad, err[512];

	cli_config(&a);
	doc = snapshot_config_export(&a);
	CHECK(doc != NULL);
	for (size_t i = 0; doc && i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = mutate(doc, cases[i][0], cases[i][1]);
		if (!bad) {
			fprintf(stderr, "  case %zu: '%s' not in the document\n", i, cases[i][0]);
			test_failed_++;
			continue;
		}
		config_init(&b);
		err[0] = '\0';
		if (snapshot_config_import(&b, bad, err, sizeof(err)) != -EINVAL || !err[0] ||
		    !strstr(err, cases[i][2])) {
			fprintf(stderr, "  case %zu: accepted or wrong message: '%s'\n", i, err);
			test_failed_++;
		}
		config_free(&b);
		free(bad);
	}
	/* Not a document at all, or not an object. */
	config_init(&b);
	CHECK_EQ(snapshot_config_import(&b, "[1,2]", err, sizeof(err)), -EINVAL);
	CHECK_EQ(snapshot_config_import(&b, "{\"vsock\":", err, sizeof(err)), -EINVAL);
	CHECK_EQ(snapshot_config_import(&b, "{}", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "kvmbox") != NULL);
	config_free(&b);
	/* A drive whose backing file is gone: named in the message. */
	if (doc) {
		char gone[300];

		snprintf(gone, sizeof(gone), "%s/vanished.img", dir);
		bad = mutate(doc, disk1, gone);
		config_init(&b);
		CHECK_EQ(snapshot_config_import(&b, bad, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "vanished.img") != NULL);
		config_free(&b);
		free(bad);
	}
	free(doc);
	config_free(&a);
}

/* A state file whose configuration is cli_config's, for vmm_snapshot_load. */
static void write_state(const char *path, unsigned ncpus)
{
	struct vm_config a;
	struct snapshot_image im = { 0 };
	struct snapshot_host host = {
		.backend = 3, .vendor = 0x756e6547, .xsave_size = 4096, .id = 42
	};
	char err[256];

	cli_config(&a);
	im.config = snapshot_config_export(&a);
	im.vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	im.vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	im.ncpus = ncpus;
	host.ncpus = ncpus;
	im.cpus = calloc(ncpus, sizeof(*im.cpus));
	if (!im.config || !im.cpus || snapshot_image_write(path, &host, &im, err, sizeof(err)))
		abort();
	snapshot_image_free(&im);
	config_free(&a);
}

/* Every refusal leaves the VMM not started and its configuration untouched. */
static void load_refused(struct vmm *v, const struct vmm_snapshot_load *r, const char *want)
{
	char err[512] = "";
	int ret = vmm_snapshot_load(v, r, err, sizeof(err));

	if (!ret || !err[0] || (want && !strstr(err, want))) {
		fprintf(stderr, "  %s:%d: load -> %d '%s' (wanted '%s')\n", __FILE__, __LINE__, ret,
			err, want ? want : "");
		test_failed_++;
	}
	CHECK_EQ(vmm_get_state(v), VMM_NOT_STARTED);
	CHECK(!v->vm_ready && !v->kvm_ready);
	CHECK(v->cfg->ndisks == 0 && v->cfg->nnics == 0 && !v->cfg->vsock.enabled);
	CHECK(v->cfg->cpus == 1 && v->cfg->memory == CONFIG_DEFAULT_MEMORY && !v->cfg->rng);
}

static void test_vmm_load_refusals(void)
{
	struct vm_config cfg;
	struct vmm v;
	struct vmm_snapshot_load r = { .state_path = statef, .mem_path = memf, .resume = true };
	char bad[300];
	FILE *f;

	config_init(&cfg);
	vmm_init(&v, &cfg, NULL);
	/* Corrupt: one payload byte flipped. */
	snprintf(bad, sizeof(bad), "%s/corrupt", dir);
	write_state(bad, 1);
	f = fopen(bad, "r+");
	CHECK(f && fseek(f, 100, SEEK_SET) == 0 && fputc('!', f) != EOF && fclose(f) == 0);
	r.state_path = bad;
	load_refused(&v, &r, "checksum");
	/* Truncated. */
	CHECK_EQ(truncate(bad, 40), 0);
	load_refused(&v, &r, NULL);
	/* Missing. */
	snprintf(bad, sizeof(bad), "%s/missing", dir);
	load_refused(&v, &r, "missing");
	/* A network override naming no interface of the snapshot. */
	r.state_path = statef;
	r.noverrides = 1;
	r.overrides[0] = (struct config_net_override){ "eth9", "tap9" };
	load_refused(&v, &r, "no interface 'eth9'");
	/* Valid file: stops at /dev/kvm here, at the memory file's size (or this host's facts)
	 * where there is KVM. Either way, nothing is left behind. */
	r.noverrides = 1;
	r.overrides[0] = (struct config_net_override){ "eth0", "tap9" };
	load_refused(&v, &r, NULL);
	/* Only into a process that has configured nothing a snapshot replaces. */
	cfg.kernel = "/boot/vmlinuz";
	{
		char err[256];

		CHECK(vmm_snapshot_load(&v, &r, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "boot-specific") != NULL);
	}
	cfg.kernel = NULL;
	vmm_destroy(&v);
	config_free(&cfg);
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
	snprintf(disk0, sizeof(disk0), "%s/disk0.img", dir);
	snprintf(disk1, sizeof(disk1), "%s/disk1.img", dir);
	snprintf(statef, sizeof(statef), "%s/vmstate", dir);
	snprintf(memf, sizeof(memf), "%s/memory", dir);
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	make_file(disk0, 1 << 20);
	make_file(disk1, 1 << 20);
	make_file(memf, 4096); /* not the snapshot's 768 MiB */
	write_state(statef, 3);
	RUN_TEST(test_create_rules);
	RUN_TEST(test_load_rules);
	RUN_TEST(test_config_roundtrip);
	RUN_TEST(test_config_hostile);
	RUN_TEST(test_vmm_load_refusals);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	TEST_EXIT();
}
