/* The API's ops on the real VMM: thin wrappers of the vmm_* functions (opaque is a struct vmm). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/snapshot_config.h"
#include "api/api.h"
#include "vmm.h"

static struct vm_config *api_vmm_config(void *opaque)
{
	return ((struct vmm *)opaque)->cfg;
}

static enum vmm_state api_vmm_state(void *opaque)
{
	return vmm_get_state(opaque);
}

static int api_vmm_start(void *opaque, char *err, size_t errlen)
{
	return vmm_start(opaque, err, errlen);
}

static int api_vmm_pause(void *opaque, char *err, size_t errlen)
{
	return vmm_pause(opaque, err, errlen);
}

static int api_vmm_resume(void *opaque, char *err, size_t errlen)
{
	return vmm_resume(opaque, err, errlen);
}

static int api_vmm_ctrl_alt_del(void *opaque, char *err, size_t errlen)
{
	return vmm_ctrl_alt_del(opaque, err, errlen);
}

static int api_vmm_flush_metrics(void *opaque, char *err, size_t errlen)
{
	return vmm_flush_metrics(opaque, err, errlen);
}

static int api_vmm_set_metrics(void *opaque, const char *path, char *err, size_t errlen)
{
	return vmm_set_metrics(opaque, path, err, errlen);
}

static int api_vmm_set_log(void *opaque, const char *path, char *err, size_t errlen)
{
	return vmm_redirect(path, STDERR_FILENO, err, errlen);
}

static int api_vmm_update_drive(void *opaque, unsigned index, const char *path, char *err,
				size_t errlen)
{
	return vmm_update_drive(opaque, index, path, err, errlen);
}

static int api_vmm_stop(void *opaque, int status, char *err, size_t errlen)
{
	return vmm_stop(opaque, status);
}

static char *api_vmm_stats_json(void *opaque, char *err, size_t errlen)
{
	struct vmm *v = opaque;
	char *s;

	if (!v->vm_ready) {
		snprintf(err, errlen, "the microVM is not started");
		return NULL;
	}
	s = vmm_stats_json(v);
	if (!s)
		snprintf(err, errlen, "out of memory");
	return s;
}

static char *api_vmm_regs_text(void *opaque, char *err, size_t errlen)
{
	return vmm_regs_text(opaque, err, errlen);
}

static int api_vmm_nmi(void *opaque, int vcpu, char *err, size_t errlen)
{
	return vmm_nmi(opaque, vcpu, err, errlen);
}

static int api_vmm_gdb(void *opaque, const char *address, char *err, size_t errlen)
{
	return vmm_gdb(opaque, address, err, errlen);
}

static int api_vmm_snapshot_create(void *opaque, const char *state_path, const char *mem_path,
				   bool diff, char *err, size_t errlen)
{
	struct vmm *v = opaque;
	char *config = snapshot_config_export(v->cfg);
	int ret = vmm_snapshot_create(v, config, state_path, mem_path, diff, err, errlen);

	free(config);
	return ret;
}

static int api_vmm_snapshot_load(void *opaque, const struct vmm_snapshot_load *req, char *err,
				 size_t errlen)
{
	return vmm_snapshot_load(opaque, req, err, errlen);
}

static const char *api_vmm_instance_id(void *opaque)
{
	const char *id = ((struct vmm *)opaque)->cfg->instance_id;

	return id ? id : "anonymous-instance"; /* Firecracker's default */
}

static const char *api_vmm_version(void *opaque)
{
	return KVMBOX_VERSION;
}

const struct api_ops api_vmm_ops = {
	.config = api_vmm_config,
	.state = api_vmm_state,
	.start = api_vmm_start,
	.pause = api_vmm_pause,
	.resume = api_vmm_resume,
	.ctrl_alt_del = api_vmm_ctrl_alt_del,
	.flush_metrics = api_vmm_flush_metrics,
	.set_metrics = api_vmm_set_metrics,
	.set_log = api_vmm_set_log,
	.update_drive = api_vmm_update_drive,
	.stop = api_vmm_stop,
	.stats_json = api_vmm_stats_json,
	.regs_text = api_vmm_regs_text,
	.nmi = api_vmm_nmi,
	.gdb = api_vmm_gdb,
	.snapshot_create = api_vmm_snapshot_create,
	.snapshot_load = api_vmm_snapshot_load,
	.instance_id = api_vmm_instance_id,
	.version = api_vmm_version,
};
