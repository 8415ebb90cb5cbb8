/* The guest machine and what it boots: /machine-config and PUT /boot-source. */
#include <errno.h>
#include <stdint.h>

#include "api/api_internal.h"

#define API_MAX_VCPUS 32 /* Firecracker's MAX_SUPPORTED_VCPUS */
#define API_BOOT_ARGS_MAX 4096

/* ---- /machine-config ---- */

static const char *const api_cpu_templates[] = { "None", "C3",	"T2",	"T2S",
						 "T2CL", "T2A", "V1N1", NULL };
static const char *const api_huge_pages[] = { "None", "Transparent", "2M", NULL };

static const struct schema_field api_machine_fields[] = {
	{ "vcpu_count", SCHEMA_UINT, 0, 0, UINT8_MAX, NULL, NULL }, /* Firecracker's u8 */
	{ "mem_size_mib", SCHEMA_UINT, 0, 0, CONFIG_MAX_MEMORY >> 19, NULL, NULL },
	{ "smt", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "track_dirty_pages", SCHEMA_BOOL, 0, 0, 0, NULL, NULL },
	{ "cpu_template", SCHEMA_ENUM, 0, 0, 0, api_cpu_templates, NULL },
	{ "huge_pages", SCHEMA_ENUM, 0, 0, 0, api_huge_pages, NULL },
};

json_t *api_machine_json(const struct vm_config *cfg)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:s}", "vcpu_count", (json_int_t)cfg->cpus,
			 "mem_size_mib", (json_int_t)(cfg->memory >> 20), "smt", cfg->smt,
			 "track_dirty_pages", cfg->track_dirty_pages, "huge_pages", "None");
}

int api_get_machine(struct api_ctx *c, const char *id, json_t *body)
{
	return api_reply(c, api_machine_json(c->cfg));
}

static int api_machine(struct api_ctx *c, json_t *body, bool patch)
{
	struct schema_val v[6];
	unsigned cpus = c->cfg->cpus;
	uint64_t mib = c->cfg->memory >> 20;
	bool smt = patch ? c->cfg->smt : false, dirty = patch ? c->cfg->track_dirty_pages : false;
	char err[256];

	if (API_FIELDS(c, body, api_machine_fields, v))
		return -EINVAL;
	if (patch && !v[0].set && !v[1].set && !v[2].set && !v[3].set && !v[4].set && !v[5].set)
		return api_fail(c, "Empty PATCH request.");
	if (!patch && !v[0].set)
		return api_fail(c, SCHEMA_SERDE "missing field `vcpu_count`");
	if (!patch && !v[1].set)
		return api_fail(c, SCHEMA_SERDE "missing field `mem_size_mib`");
	if (v[0].set)
		cpus = (unsigned)v[0].u;
	if (v[1].set)
		mib = v[1].u;
	if (v[2].set)
		smt = v[2].b;
	if (v[3].set)
		dirty = v[3].b;
	if (cpus < 1 || cpus > API_MAX_VCPUS || (smt && cpus > 1 && (cpus & 1)))
		return api_fail(c,
				"Machine config error: The number of vCPUs must be greater than 0, "
				"less than %d and must be 1 or an even number if SMT is enabled.",
				API_MAX_VCPUS + 1);
	if (!mib)
		return api_fail(c,
				"Machine config error: The memory size (MiB) is either 0, or not a "
				"multiple of the configured page size.");
	if (config_check_memory(mib << 20, err, sizeof(err)))
		return api_fail(c, "Machine config error: %s", err);
	if (v[4].set && v[4].e)
		return api_fail(c,
				"Machine config error: CPU template %s is not supported by kvmbox "
				"(Firecracker's static templates are CPUID masks for AWS instance "
				"types); use \"None\": kvmbox picks its own template",
				v[4].s);
	if (v[5].set && v[5].e)
		return api_fail(c,
				"Machine config error: huge_pages %s is not supported by kvmbox "
				"(guest memory uses 4 KiB pages); use \"None\"",
				v[5].s);
	c->cfg->cpus = cpus;
	c->cfg->memory = mib << 20;
	c->cfg->smt = smt;
	c->cfg->track_dirty_pages = dirty;
	if (!patch || v[4].set)
		c->cfg->cpu_template = "auto";
	return 0;
}

int api_put_machine(struct api_ctx *c, const char *id, json_t *body)
{
	return api_machine(c, body, false);
}

int api_patch_machine(struct api_ctx *c, const char *id, json_t *body)
{
	return api_machine(c, body, true);
}

/* ---- PUT /boot-source ---- */

static const struct schema_field api_boot_fields[] = {
	{ "kernel_image_path", SCHEMA_STR, SCHEMA_REQ | SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "initrd_path", SCHEMA_STR, SCHEMA_NONEMPTY, 0, 0, NULL, NULL },
	{ "boot_args", SCHEMA_STR, 0, 0, API_BOOT_ARGS_MAX, NULL, NULL },
};

int api_put_boot(struct api_ctx *c, const char *id, json_t *body)
{
	static const char prefix[] = "Boot source error: ";
	const char *kernel, *initrd, *args;
	struct schema_val v[3];

	if (API_FIELDS(c, body, api_boot_fields, v))
		return -EINVAL;
	if (schema_check_input(prefix, "kernel", v[0].s, c->fault, sizeof(c->fault)) ||
	    (v[1].set && schema_check_input(prefix, "initrd", v[1].s, c->fault, sizeof(c->fault))))
		return -EINVAL;
	if (api_dup(c, &kernel, v[0].s) || api_dup(c, &initrd, v[1].s) || api_dup(c, &args, v[2].s))
		return -ENOMEM;
	api_set(c->cfg, &c->cfg->kernel, kernel);
	api_set(c->cfg, &c->cfg->initrd, initrd);
	api_set(c->cfg, &c->cfg->cmdline, args);
	return 0;
}
