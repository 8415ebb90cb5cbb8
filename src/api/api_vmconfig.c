/* GET /vm/config: the configuration as Firecracker's FullVmConfiguration document. */
#include <stdio.h>

#include "api/api_internal.h"

static int api_obj_set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *api_drives_json(const struct vm_config *cfg)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < cfg->ndisks; i++) {
		const struct config_disk *d = &cfg->disks[i];
		char id[16];
		json_t *o;

		snprintf(id, sizeof(id), "drive%u", i);
		o = json_pack("{s:s, s:b, s:s, s:b, s:s, s:s}", "drive_id", d->id ? d->id : id,
			      "is_root_device", d->is_root, "cache_type", "Writeback",
			      "is_read_only", d->readonly, "path_on_host", d->path, "io_engine",
			      "Async");
		if (!o || (d->partuuid && api_obj_set(o, "partuuid", json_string(d->partuuid))) ||
		    json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *api_nets_json(const struct vm_config *cfg)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < cfg->nnics; i++) {
		const struct config_net *n = &cfg->nics[i];
		char id[16], mac[18];
		json_t *o;

		snprintf(id, sizeof(id), "net%u", i);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
			 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		o = json_pack("{s:s, s:s}", "iface_id", n->id ? n->id : id, "host_dev_name",
			      n->tap);
		if (!o || (n->has_mac && api_obj_set(o, "guest_mac", json_string(mac))) ||
		    json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *api_config_json(const struct vm_config *cfg)
{
	static const char *const level_names[] = { "Warning", "Info", "Debug" };
	json_t *o = json_object(), *boot = NULL, *vsock = NULL;
	int bad = !o;

	if (cfg->kernel) {
		boot = json_pack("{s:s}", "kernel_image_path", cfg->kernel);
		bad |=
		    !boot ||
		    (cfg->initrd && api_obj_set(boot, "initrd_path", json_string(cfg->initrd))) ||
		    (cfg->cmdline && api_obj_set(boot, "boot_args", json_string(cfg->cmdline)));
	}
	if (cfg->vsock.enabled) {
		vsock = json_pack("{s:I, s:s}", "guest_cid", (json_int_t)cfg->vsock.guest_cid,
				  "uds_path", cfg->vsock.uds_path ? cfg->vsock.uds_path : "");
		bad |= !vsock || (cfg->vsock.id &&
				  api_obj_set(vsock, "vsock_id", json_string(cfg->vsock.id)));
	}
	if (bad) {
		json_decref(o);
		json_decref(boot);
		json_decref(vsock);
		return NULL;
	}
	/* Firecracker's keys (FullVmConfiguration); what kvmbox lacks is null or empty. */
	bad |= api_obj_set(o, "balloon", json_null());
	bad |= api_obj_set(o, "drives", api_drives_json(cfg));
	bad |= api_obj_set(o, "boot-source", boot ? boot : json_null());
	bad |= api_obj_set(o, "cpu-config", json_null());
	bad |= api_obj_set(o, "logger",
			   cfg->log_path
			       ? json_pack("{s:s, s:s}", "log_path", cfg->log_path, "level",
					   level_names[cfg->verbosity > 2   ? 2
						       : cfg->verbosity < 0 ? 0
									    : cfg->verbosity])
			       : json_null());
	bad |= api_obj_set(o, "machine-config", api_machine_json(cfg));
	bad |= api_obj_set(o, "metrics",
			   cfg->metrics_path ? json_pack("{s:s}", "metrics_path", cfg->metrics_path)
					     : json_null());
	bad |= api_obj_set(o, "mmds-config", json_null());
	bad |= api_obj_set(o, "network-interfaces", api_nets_json(cfg));
	bad |= api_obj_set(o, "vsock", vsock ? vsock : json_null());
	bad |= api_obj_set(o, "entropy", cfg->rng ? json_object() : json_null());
	bad |= api_obj_set(o, "pmem", json_array());
	bad |= api_obj_set(o, "memory-hotplug", json_null());
	/* kvmbox's: Firecracker keeps the serial configuration out of this document. */
	bad |= api_obj_set(o, "serial",
			   cfg->serial_out ? json_pack("{s:s}", "serial_out_path", cfg->serial_out)
					   : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *api_config_export(const struct vm_config *cfg)
{
	json_t *o = api_config_json(cfg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

int api_get_vm_config(struct api_ctx *c, const char *id, json_t *body)
{
	return api_reply(c, api_config_json(c->cfg));
}
