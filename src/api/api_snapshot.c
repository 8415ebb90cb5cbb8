/*
 * PUT /snapshot/create and PUT /snapshot/load (Firecracker's SnapshotCreateParams and
 * SnapshotLoadParams). The bodies are checked here, through the schema tables; the snapshot
 * files themselves are checked where they are read (src/snapshot/, src/arch/x86/).
 */
#include <errno.h>
#include <string.h>

#include "api/api_internal.h"

#define API_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

static const char api_snap_create_prefix[] = "Create snapshot error: ";
static const char api_snap_load_prefix[] = "Load snapshot error: ";

/* ---- PUT /snapshot/create ---- */

static const char *const api_snapshot_types[] = { "Full", "Diff", NULL };
static const struct schema_field api_snap_create_fields[] = {
	{ "snapshot_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "mem_file_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "snapshot_type", SCHEMA_ENUM, 0, 0, 0, api_snapshot_types, NULL },
	{ "version", SCHEMA_STR, 0, 0, 32, NULL, NULL }, /* deprecated in Firecracker: ignored */
};

int api_put_snapshot_create(struct api_ctx *c, const char *id, json_t *body)
{
	const char *prefix = api_snap_create_prefix;
	struct schema_val v[4];
	bool diff;
	char err[384];

	if (API_FIELDS(c, body, api_snap_create_fields, v))
		return -EINVAL;
	diff = v[2].set && v[2].e == 1;
	if (c->state != VMM_PAUSED)
		return api_fail(
		    c, "%sthe microVM must be paused (PATCH /vm {\"state\": \"Paused\"})", prefix);
	if (schema_check_parent(prefix, "snapshot_path", v[0].s, c->fault, sizeof(c->fault)))
		return -EINVAL;
	/* A Diff updates the Full memory file it follows: that one must be there. */
	if (diff ? schema_check_disk(prefix, v[1].s, false, c->fault, sizeof(c->fault))
		 : schema_check_parent(prefix, "mem_file_path", v[1].s, c->fault, sizeof(c->fault)))
		return -EINVAL;
	if (!c->ops->snapshot_create ||
	    c->ops->snapshot_create(c->opaque, v[0].s, v[1].s, diff, err, sizeof(err)))
		return api_fail(c, "%s%s", prefix, c->ops->snapshot_create ? err : "not supported");
	return 0;
}

/* ---- PUT /snapshot/load ---- */

static const char *const api_backend_types[] = { "File", "Uffd", NULL };
static const struct schema_field api_mem_backend_fields[] = {
	{ "backend_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "backend_type", SCHEMA_ENUM, SCHEMA_REQ, 0, 0, api_backend_types, NULL },
};

static int api_check_mem_backend(json_t *o, char *fault, size_t len)
{
	struct schema_val v[2];

	return SCHEMA_CHECK(o, api_mem_backend_fields, v, fault, len);
}

static const struct schema_field api_override_fields[] = {
	{ "iface_id", SCHEMA_STR, SCHEMA_REQ | SCHEMA_ID, 0, 0, NULL, NULL },
	{ "host_dev_name", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, API_IFNAME_MAX, NULL,
	  NULL },
};

static int api_check_overrides(json_t *a, char *fault, size_t len)
{
	struct schema_val v[2];
	size_t i;
	json_t *e;

	if (json_array_size(a) > CONFIG_MAX_NICS)
		return snprintf(fault, len, "network_overrides: at most %d entries",
				CONFIG_MAX_NICS),
		       -EINVAL;
	json_array_foreach(a, i, e)
	{
		if (SCHEMA_CHECK(e, api_override_fields, v, fault, len))
			return -EINVAL;
	}
	return 0;
}

static const struct schema_field api_snap_load_fields[] = {
	{ "snapshot_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "mem_file_path", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "mem_backend", SCHEMA_OBJ, 0, 0, 0, NULL, api_check_mem_backend },
	{ "enable_diff_snapshots", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "track_dirty_pages", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "resume_vm", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "network_overrides", SCHEMA_ARR, 0, 0, 0, NULL, api_check_overrides },
};

int api_put_snapshot_load(struct api_ctx *c, const char *id, json_t *body)
{
	const char *prefix = api_snap_load_prefix;
	struct vmm_snapshot_load req = { 0 };
	struct schema_val v[7];
	json_t *backend, *overrides, *e;
	size_t i;
	char err[384];

	if (API_FIELDS(c, body, api_snap_load_fields, v))
		return -EINVAL;
	backend = json_object_get(body, "mem_backend");
	if (v[1].set == v[2].set)
		return api_fail(c, "%sgive exactly one of mem_file_path and mem_backend", prefix);
	req.state_path = v[0].s;
	req.mem_path = v[1].s;
	if (v[2].set) {
		if (strcmp(json_string_value(json_object_get(backend, "backend_type")), "File"))
			return api_fail(c,
					"%smem_backend Uffd is not supported by kvmbox: the memory "
					"file is mapped copy-on-write (backend_type File)",
					prefix);
		req.mem_path = json_string_value(json_object_get(backend, "backend_path"));
	}
	req.track_dirty = (v[3].set && v[3].b) || (v[4].set && v[4].b);
	req.resume = v[5].set && v[5].b;
	overrides = json_object_get(body, "network_overrides");
	json_array_foreach(overrides, i, e)
	{
		req.overrides[i].iface_id = json_string_value(json_object_get(e, "iface_id"));
		req.overrides[i].tap = json_string_value(json_object_get(e, "host_dev_name"));
		for (size_t j = 0; j < i; j++)
			if (!strcmp(req.overrides[j].iface_id, req.overrides[i].iface_id))
				return api_fail(c, "%snetwork_overrides: '%s' is given twice",
						prefix, req.overrides[i].iface_id);
		req.noverrides++;
	}
	if (schema_check_input(prefix, "snapshot_path", req.state_path, c->fault,
			       sizeof(c->fault)) ||
	    schema_check_input(prefix, "memory file", req.mem_path, c->fault, sizeof(c->fault)))
		return -EINVAL;
	if (!c->ops->snapshot_load || c->ops->snapshot_load(c->opaque, &req, err, sizeof(err)))
		return api_fail(c, "%s%s", prefix, c->ops->snapshot_load ? err : "not supported");
	return 0;
}
