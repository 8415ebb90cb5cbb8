/* A snapshot's configuration document: GET /vm/config's plus kvmbox's machine section. */
#include "api/snapshot_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define SNAPSHOT_CONFIG_KEY "kvmbox"

static const char *const snapshot_config_templates[] = { "auto", "host", "pvm", NULL };

/* Each device's transport as one letter, in the document's order: 'p' PCI, 'm' MMIO. */
static char snapshot_config_letter(enum config_transport t)
{
	return t == CONFIG_TRANSPORT_PCI ? 'p' : 'm';
}

static enum config_transport snapshot_config_transport(char c)
{
	return c == 'p' ? CONFIG_TRANSPORT_PCI : CONFIG_TRANSPORT_MMIO;
}

char *snapshot_config_export(const struct vm_config *cfg)
{
	char disks[CONFIG_MAX_DISKS + 1] = "", nics[CONFIG_MAX_NICS + 1] = "", *out = NULL;
	json_t *o = api_config_json(cfg), *k;

	if (!o)
		return NULL;
	for (unsigned i = 0; i < cfg->ndisks && i < CONFIG_MAX_DISKS; i++)
		disks[i] = snapshot_config_letter(cfg->disks[i].transport);
	for (unsigned i = 0; i < cfg->nnics && i < CONFIG_MAX_NICS; i++)
		nics[i] = snapshot_config_letter(cfg->nics[i].transport);
	k = json_pack("{s:I, s:I, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:s, s:s}", "vcpus",
		      (json_int_t)cfg->cpus, "memory_bytes", (json_int_t)cfg->memory,
		      "cpu_template", cfg->cpu_template ? cfg->cpu_template : "auto", "smt",
		      cfg->smt, "track_dirty_pages", cfg->track_dirty_pages, "mmio_cmdline",
		      cfg->mmio_cmdline, "debug_exit", cfg->debug_exit, "test_devices",
		      cfg->test_devices, "virtio_console", cfg->virtio_console, "no_ioeventfd",
		      cfg->no_ioeventfd, "drive_transports", disks, "net_transports", nics);
	if (k && !json_object_set_new(o, SNAPSHOT_CONFIG_KEY, k))
		out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return out;
}

static const struct schema_field snapshot_config_fields[] = {
	{ "vcpus", SCHEMA_UINT, SCHEMA_REQ, 1, CONFIG_MAX_CPUS, NULL, NULL },
	{ "memory_bytes", SCHEMA_UINT, SCHEMA_REQ, CONFIG_MIN_MEMORY, CONFIG_MAX_MEMORY, NULL,
	  NULL },
	{ "cpu_template", SCHEMA_ENUM, SCHEMA_REQ, 0, 0, snapshot_config_templates, NULL },
	{ "smt", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "track_dirty_pages", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "mmio_cmdline", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "debug_exit", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "test_devices", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "virtio_console", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "no_ioeventfd", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "drive_transports", SCHEMA_STR, SCHEMA_REQ, 0, CONFIG_MAX_DISKS, NULL, NULL },
	{ "net_transports", SCHEMA_STR, SCHEMA_REQ, 0, CONFIG_MAX_NICS, NULL, NULL },
};

/* One letter per device already configured, each p or m. */
static int snapshot_config_letters(const char *s, unsigned count, const char *what, char *err,
				   size_t errlen)
{
	if (strlen(s) != count) {
		snprintf(err, errlen, "%s: %zu transports for %u devices", what, strlen(s), count);
		return -EINVAL;
	}
	for (unsigned i = 0; i < count; i++)
		if (s[i] != 'p' && s[i] != 'm') {
			snprintf(err, errlen, "%s: transport '%c' is neither p nor m", what, s[i]);
			return -EINVAL;
		}
	return 0;
}

static int snapshot_config_machine(struct vm_config *cfg, json_t *k, char *err, size_t errlen)
{
	struct schema_val v[sizeof(snapshot_config_fields) / sizeof(snapshot_config_fields[0])];
	int ret;

	if (!json_is_object(k)) {
		snprintf(err, errlen, "no \"%s\" section", SNAPSHOT_CONFIG_KEY);
		return -EINVAL;
	}
	if (SCHEMA_CHECK(k, snapshot_config_fields, v, err, errlen))
		return -EINVAL;
	if (v[1].u & 0xfff) {
		snprintf(err, errlen, "memory_bytes is not a multiple of 4 KiB");
		return -EINVAL;
	}
	ret = config_check_memory(v[1].u, err, (unsigned)errlen);
	if (!ret)
		ret = snapshot_config_letters(v[10].s, cfg->ndisks, "drives", err, errlen);
	if (!ret)
		ret =
		    snapshot_config_letters(v[11].s, cfg->nnics, "network interfaces", err, errlen);
	if (ret)
		return ret;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		cfg->disks[i].transport = snapshot_config_transport(v[10].s[i]);
	for (unsigned i = 0; i < cfg->nnics; i++)
		cfg->nics[i].transport = snapshot_config_transport(v[11].s[i]);
	cfg->cpus = (unsigned)v[0].u;
	cfg->memory = v[1].u;
	cfg->cpu_template = snapshot_config_templates[v[2].e];
	cfg->smt = v[3].b;
	cfg->track_dirty_pages = v[4].b;
	cfg->mmio_cmdline = v[5].b;
	cfg->debug_exit = v[6].b;
	cfg->test_devices = v[7].b;
	cfg->virtio_console = v[8].b;
	cfg->no_ioeventfd = v[9].b;
	return 0;
}

int snapshot_config_import(struct vm_config *cfg, const char *text, char *err, size_t errlen)
{
	/* The devices, in the order the VM built them; then what only configured the boot. */
	static const char *const devices[] = { "drives", "network-interfaces", "vsock", "entropy" };
	static const char *const ignored[] = { "boot-source",	 "logger",	"metrics",
					       "machine-config", "serial",	"balloon",
					       "cpu-config",	 "mmds-config", "pmem",
					       "memory-hotplug" };
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *val;
	const char *key;
	char inner[384];
	int ret = 0;

	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(err, errlen, "the configuration is not a JSON object");
		return -EINVAL;
	}
	json_object_foreach(o, key, val)
	{
		bool known = !strcmp(key, SNAPSHOT_CONFIG_KEY);

		for (size_t i = 0; !known && i < sizeof(devices) / sizeof(devices[0]); i++)
			known = !strcmp(key, devices[i]);
		for (size_t i = 0; !known && i < sizeof(ignored) / sizeof(ignored[0]); i++)
			known = !strcmp(key, ignored[i]);
		if (!known) {
			snprintf(err, errlen, "the configuration has an unknown section");
			json_decref(o);
			return -EINVAL;
		}
	}
	for (size_t i = 0; !ret && i < sizeof(devices) / sizeof(devices[0]); i++) {
		val = json_object_get(o, devices[i]);
		if (!val)
			continue;
		ret = api_config_apply(cfg, devices[i], val, inner, sizeof(inner));
		if (ret)
			snprintf(err, errlen, "%s", inner);
	}
	if (!ret)
		ret = snapshot_config_machine(cfg, json_object_get(o, SNAPSHOT_CONFIG_KEY), err,
					      errlen);
	json_decref(o);
	return ret ? -EINVAL : 0;
}
