/* The guest's devices: /drives/{id}, /network-interfaces/{id}, PUT /vsock, /entropy, /serial. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "api/api_internal.h"

/* <uds_path>_<port> must still fit a sockaddr_un (107 bytes) for any 32-bit port. */
#define API_SUN_PATH_MAX 96
#define API_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

/* ---- /drives/{id} ---- */

static const char *const api_cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const api_io_engines[] = { "Sync", "Async", NULL };

static const struct schema_field api_drive_fields[] = {
	{ "drive_id", SCHEMA_STR, SCHEMA_REQ | SCHEMA_ID, 0, 0, NULL, NULL },
	{ "path_on_host", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "is_root_device", SCHEMA_BOOL, SCHEMA_REQ, 0, 0, NULL, NULL },
	{ "is_read_only", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "partuuid", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 36, NULL, NULL },
	{ "cache_type", SCHEMA_ENUM, 0, 0, 0, api_cache_types, NULL },
	{ "io_engine", SCHEMA_ENUM, 0, 0, 0, api_io_engines, NULL },
	{ "rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
	{ "socket", SCHEMA_STR, 0, 0, 0, NULL, NULL },
};

static int api_find_drive(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].id && !strcmp(cfg->disks[i].id, id))
			return (int)i;
	return -1;
}

/* The id in the path and the one in the body are the same (config files have only the body's). */
static int api_same_id(struct api_ctx *c, const char *path_id, const char *body_id, bool brackets)
{
	if (!path_id || !strcmp(path_id, body_id))
		return 0;
	if (brackets)
		return api_fail(
		    c, "The id from the path [%s] does not match the id from the body [%s]!",
		    path_id, body_id);
	return api_fail(c, "The id from the path does not match the id from the body!");
}

int api_put_drive(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Drive config error: ";
	struct vm_config *cfg = c->cfg;
	struct config_disk d = { .transport = CONFIG_TRANSPORT_MMIO };
	struct schema_val v[9];
	int idx;

	if (API_FIELDS(c, body, api_drive_fields, v) || api_same_id(c, id, v[0].s, false))
		return -EINVAL;
	if (v[8].set)
		return api_fail(c, "%svhost-user-block (socket) is not supported by kvmbox",
				prefix);
	if (!v[1].set)
		return api_fail(c, "%spath_on_host is required", prefix);
	if (v[4].set && strspn(v[4].s, "0123456789abcdefABCDEF-") != strlen(v[4].s))
		return api_fail(c, "%spartuuid '%s' is not a partition UUID (hex digits and '-')",
				prefix, v[4].s);
	idx = api_find_drive(cfg, v[0].s);
	if (v[2].b)
		for (unsigned i = 0; i < cfg->ndisks; i++)
			if (cfg->disks[i].is_root && (int)i != idx)
				return api_fail(c, "%sA root block device already exists!", prefix);
	if (idx < 0 && cfg->ndisks == CONFIG_MAX_DISKS)
		return api_fail(c, "%skvmbox supports at most %d drives", prefix, CONFIG_MAX_DISKS);
	d.readonly = v[3].set && v[3].b;
	d.is_root = v[2].b;
	if (schema_check_disk(prefix, v[1].s, d.readonly, c->fault, sizeof(c->fault)))
		return -EINVAL;
	if (api_dup(c, &d.path, v[1].s) || api_dup(c, &d.id, v[0].s) ||
	    api_dup(c, &d.partuuid, v[4].s))
		return -ENOMEM;

	/* As Firecracker: the root device comes first (the guest's /dev/vda). */
	if (idx < 0 && d.is_root) {
		memmove(&cfg->disks[1], &cfg->disks[0], cfg->ndisks * sizeof(cfg->disks[0]));
		cfg->disks[0] = d;
		cfg->ndisks++;
	} else if (idx < 0) {
		cfg->disks[cfg->ndisks++] = d;
	} else {
		struct config_disk old = cfg->disks[idx];

		cfg->disks[idx] = d;
		config_strfree(cfg, old.path);
		config_strfree(cfg, old.id);
		config_strfree(cfg, old.partuuid);
		if (d.is_root && idx) {
			cfg->disks[idx] = cfg->disks[0];
			cfg->disks[0] = d;
		}
	}
	return 0;
}

static const struct schema_field api_drive_patch_fields[] = {
	{ "drive_id", SCHEMA_STR, SCHEMA_REQ | SCHEMA_ID, 0, 0, NULL, NULL },
	{ "path_on_host", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
};

int api_patch_drive(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Drive config error: Unable to patch the block device: ";
	struct vm_config *cfg = c->cfg;
	struct schema_val v[3];
	const char *path;
	char err[384];
	int idx;

	if (API_FIELDS(c, body, api_drive_patch_fields, v) || api_same_id(c, id, v[0].s, false))
		return -EINVAL;
	idx = api_find_drive(cfg, v[0].s);
	if (idx < 0)
		return api_fail(c, "%sno drive with id '%s'. Please verify the request arguments.",
				prefix, v[0].s);
	if (!v[1].set) {
		if (v[2].set)
			return 0; /* rate limiters: validated only */
		return api_fail(c,
				"%snothing to update (give path_on_host). Please verify the "
				"request arguments.",
				prefix);
	}
	if (schema_check_disk(prefix, v[1].s, cfg->disks[idx].readonly, c->fault, sizeof(c->fault)))
		return -EINVAL;
	if (!api_started(c)) {
		if (api_dup(c, &path, v[1].s))
			return -ENOMEM;
		api_set(cfg, &cfg->disks[idx].path, path);
		return 0;
	}
	/* The op records the new path in the config (the VM may still use the old string). */
	if (!c->ops->update_drive)
		return api_fail(c, "%snot supported. Please verify the request arguments.", prefix);
	if (c->ops->update_drive(c->opaque, (unsigned)idx, v[1].s, err, sizeof(err)))
		return api_fail(c, "%s%s Please verify the request arguments.", prefix, err);
	return 0;
}

/* ---- /network-interfaces/{id} ---- */

static const struct schema_field api_net_fields[] = {
	{ "iface_id", SCHEMA_STR, SCHEMA_REQ | SCHEMA_ID, 0, 0, NULL, NULL },
	{ "host_dev_name", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, API_IFNAME_MAX, NULL,
	  NULL },
	{ "guest_mac", SCHEMA_STR, 0, 0, 17, NULL, NULL },
	{ "mtu", SCHEMA_UINT, 0, 68, 65535, NULL, NULL },
	{ "rx_rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
	{ "tx_rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
};

static bool api_ifname_ok(const char *s)
{
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '/' || *s == ':')
			return false;
	return true;
}

static bool api_mac_ok(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int api_find_net(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nnics; i++)
		if (cfg->nics[i].id && !strcmp(cfg->nics[i].id, id))
			return (int)i;
	return -1;
}

int api_put_net(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Network config error: ";
	struct vm_config *cfg = c->cfg;
	struct config_net n = { .transport = CONFIG_TRANSPORT_MMIO };
	struct schema_val v[6];
	int idx;

	if (API_FIELDS(c, body, api_net_fields, v) || api_same_id(c, id, v[0].s, true))
		return -EINVAL;
	if (v[3].set)
		return api_fail(c, "%smtu is not supported by kvmbox (the guest picks its MTU)",
				prefix);
	if (!api_ifname_ok(v[1].s))
		return api_fail(c,
				"%sCannot open/create the tap device: invalid interface name '%s'",
				prefix, v[1].s);
	if (v[2].set) {
		if (!api_mac_ok(v[2].s) || config_parse_mac(v[2].s, n.mac))
			return api_fail(c,
					"%sinvalid guest_mac '%s' (a unicast address "
					"xx:xx:xx:xx:xx:xx)",
					prefix, v[2].s);
		n.has_mac = true;
	}
	idx = api_find_net(cfg, v[0].s);
	for (unsigned i = 0; i < cfg->nnics; i++) {
		if ((int)i == idx)
			continue;
		if (n.has_mac && cfg->nics[i].has_mac && !memcmp(cfg->nics[i].mac, n.mac, 6))
			return api_fail(c, "%sThe MAC address is already in use: %s", prefix,
					v[2].s);
		if (!strcmp(cfg->nics[i].tap, v[1].s))
			return api_fail(
			    c,
			    "%sCannot open/create the tap device: %s is already used by "
			    "interface %s",
			    prefix, v[1].s, cfg->nics[i].id ? cfg->nics[i].id : "?");
	}
	if (idx < 0 && cfg->nnics == CONFIG_MAX_NICS)
		return api_fail(c, "%skvmbox supports at most %d network interfaces", prefix,
				CONFIG_MAX_NICS);
	if (api_dup(c, &n.tap, v[1].s) || api_dup(c, &n.id, v[0].s))
		return -ENOMEM;
	if (idx < 0) {
		cfg->nics[cfg->nnics++] = n;
	} else {
		struct config_net old = cfg->nics[idx];

		cfg->nics[idx] = n;
		config_strfree(cfg, old.tap);
		config_strfree(cfg, old.id);
	}
	return 0;
}

static const struct schema_field api_net_patch_fields[] = {
	{ "iface_id", SCHEMA_STR, SCHEMA_REQ | SCHEMA_ID, 0, 0, NULL, NULL },
	{ "rx_rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
	{ "tx_rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
};

/* Post-boot: Firecracker updates the rate limiters; kvmbox validates them only. */
int api_patch_net(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[3];

	if (API_FIELDS(c, body, api_net_patch_fields, v) || api_same_id(c, id, v[0].s, true))
		return -EINVAL;
	if (api_find_net(c->cfg, v[0].s) < 0)
		return api_fail(
		    c,
		    "Network config error: Unable to update the net device: no interface "
		    "with id '%s'",
		    v[0].s);
	return 0;
}

/* ---- PUT /vsock, /entropy, /serial ---- */

static const struct schema_field api_vsock_fields[] = {
	{ "guest_cid", SCHEMA_UINT, SCHEMA_REQ, 0, UINT32_MAX - 1, NULL,
	  NULL }, /* not VMADDR_CID_ANY */
	{ "uds_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, API_SUN_PATH_MAX, NULL, NULL },
	{ "vsock_id", SCHEMA_STR, SCHEMA_ID, 0, 0, NULL, NULL },
};

int api_put_vsock(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Vsock config error: ";
	struct config_vsock vs = { .enabled = true };
	struct schema_val v[3];

	if (API_FIELDS(c, body, api_vsock_fields, v))
		return -EINVAL;
	if (v[0].u < 3)
		return api_fail(c, "%sguest_cid must be at least 3 (0-2 are reserved)", prefix);
	if (schema_check_parent(prefix, "uds_path", v[1].s, c->fault, sizeof(c->fault)))
		return -EINVAL;
	vs.guest_cid = v[0].u;
	if (api_dup(c, &vs.uds_path, v[1].s) || api_dup(c, &vs.id, v[2].s))
		return -ENOMEM;
	config_strfree(c->cfg, c->cfg->vsock.uds_path);
	config_strfree(c->cfg, c->cfg->vsock.id);
	c->cfg->vsock = vs;
	return 0;
}

static const struct schema_field api_entropy_fields[] = {
	{ "rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_limiter },
};

int api_put_entropy(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[1];

	if (API_FIELDS(c, body, api_entropy_fields, v))
		return -EINVAL;
	c->cfg->rng = true;
	return 0;
}

static const struct schema_field api_serial_fields[] = {
	{ "serial_out_path", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "rate_limiter", SCHEMA_OBJ, 0, 0, 0, NULL, schema_check_bucket },
};

int api_put_serial(struct api_ctx *c, const char *id, json_t *body)
{
	struct schema_val v[2];
	const char *path;

	if (API_FIELDS(c, body, api_serial_fields, v) ||
	    (v[0].set && schema_check_output("Serial config error: ", "serial_out_path", v[0].s,
					     c->fault, sizeof(c->fault))))
		return -EINVAL;
	if (api_dup(c, &path, v[0].s))
		return -ENOMEM;
	api_set(c->cfg, &c->cfg->serial_out, path); /* none: the guest's COM1 goes to stdout */
	return 0;
}
