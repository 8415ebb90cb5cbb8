/*
 * Snapshot create and load for the VMM controller: the state rules (create only while Paused,
 * load only into a fresh process), the configuration a restore rebuilds the VM from, network
 * overrides, and timing. The VM-level work is vm_snapshot.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/snapshot_config.h"
#include "arch/x86/snapshot_image.h"
#include "gdb/gdb_stub.h"
#include "log.h"
#include "vm_snapshot.h"
#include "vmm.h"

int vmm_snapshot_create(struct vmm *v, const char *config, const char *state_path,
			const char *mem_path, bool diff, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	struct snapshot_mem_stats st;
	uint64_t t0 = vm_now_ns();
	int ret;

	if (s != VMM_PAUSED)
		return vmm_err(err, errlen, -EINVAL,
			       "a snapshot needs a paused microVM (it is %s): PATCH /vm Paused "
			       "first",
			       vmm_state_name(s));
	if (!config)
		return vmm_err(err, errlen, -ENOMEM, "out of memory");
	if (v->vm.emu)
		return vmm_err(err, errlen, -ENOTSUP,
			       "snapshots need KVM (this microVM runs in the emulator)");
	if (gdb_stub_has_sw_breakpoints(v->gdb))
		return vmm_err(err, errlen, -EBUSY,
			       "gdb has software breakpoints in guest memory: delete them first "
			       "(a snapshot would keep their int3 bytes)");
	log_clear_last_error();
	ret = vm_snapshot_save(&v->vm, config, state_path, mem_path, diff, &st, err, errlen);
	if (ret)
		return ret;
	log_info("snapshot (%s) written in %llu ms: %llu pages of RAM written, %llu left as "
		 "holes",
		 diff ? "Diff" : "Full", (unsigned long long)((vm_now_ns() - t0) / 1000000),
		 (unsigned long long)st.written, (unsigned long long)st.holes);
	return 0;
}

/* Only a process with nothing configured that a snapshot would have to replace. */
static bool vmm_snapshot_pristine(const struct vm_config *cfg)
{
	return !cfg->kernel && !cfg->ndisks && !cfg->nnics && !cfg->vsock.enabled && !cfg->rng;
}

/* network_overrides: iface_id names an interface of the snapshot, tap its new host device. */
static int vmm_snapshot_overrides(struct vm_config *cfg, const struct vmm_snapshot_load *req,
				  char *err, size_t errlen)
{
	for (unsigned i = 0; i < req->noverrides; i++) {
		const struct config_net_override *o = &req->overrides[i];
		unsigned n;

		for (n = 0; n < cfg->nnics; n++)
			if (cfg->nics[n].id && !strcmp(cfg->nics[n].id, o->iface_id))
				break;
		if (n == cfg->nnics)
			return vmm_err(err, errlen, -EINVAL,
				       "network override: the snapshot has no interface '%s'",
				       o->iface_id);
		cfg->nics[n].tap = config_strdup(cfg, o->tap);
		if (!cfg->nics[n].tap)
			return vmm_err(err, errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Build the VM from image and mem_path; paused, or running when resume. */
static int vmm_snapshot_restore(struct vmm *v, const struct snapshot_image *image,
				const struct snapshot_host *saved, const char *mem_path,
				bool resume, char *err, size_t errlen)
{
	char verr[512];
	int ret;

	const struct vm_restore restore = { .mem_path = mem_path, .id = saved->id };

	ret = vmm_build(v, saved, &restore, err, errlen);
	if (ret)
		return ret;
	ret = vm_snapshot_restore(&v->vm, saved, image, verr, sizeof(verr));
	if (ret) {
		vmm_unbuild(v);
		return vmm_err(err, errlen, -EINVAL, "cannot restore the snapshot: %s", verr);
	}
	ret = vm_start_paused(&v->vm);
	/* From here the VM exists: a failure stops it, and the main loop sees it stopping. */
	v->state = VMM_PAUSED;
	if (ret) {
		vm_stop(&v->vm, VM_EXIT_HOST_ERROR);
		return vmm_err(err, errlen, ret, "cannot start the vCPUs: %s", strerror(-ret));
	}
	if (resume) {
		ret = vm_resume(&v->vm);
		v->state = VMM_RUNNING;
		if (ret)
			return vmm_err(err, errlen, ret, "the microVM stopped while resuming");
	}
	vmm_running(v);
	return 0;
}

int vmm_snapshot_load(struct vmm *v, const struct vmm_snapshot_load *req, char *err, size_t errlen)
{
	struct snapshot_image image;
	struct snapshot_host saved;
	struct vm_config before = *v->cfg;
	uint64_t t0 = vm_now_ns();
	int ret;

	if (v->state != VMM_NOT_STARTED)
		return vmm_err(err, errlen, -EINVAL,
			       "a snapshot can only be loaded before the microVM starts");
	if (!vmm_snapshot_pristine(v->cfg))
		return vmm_err(err, errlen, -EINVAL,
			       "Loading a microVM snapshot not allowed after configuring "
			       "boot-specific resources.");
	ret = snapshot_image_read(req->state_path, &saved, &image, err, errlen);
	if (ret)
		return ret == -ENOMEM ? ret : -EINVAL;
	log_clear_last_error();
	ret = snapshot_config_import(v->cfg, image.config, err, errlen);
	if (ret) {
		char why[384];

		snprintf(why, sizeof(why), "%s", err);
		vmm_err(err, errlen, ret, "%s: its configuration: %s", req->state_path, why);
	}
	if (!ret)
		ret = vmm_snapshot_overrides(v->cfg, req, err, errlen);
	if (!ret && req->track_dirty)
		v->cfg->track_dirty_pages = true;
	if (!ret)
		ret = vmm_snapshot_restore(v, &image, &saved, req->mem_path, req->resume, err,
					   errlen);
	snapshot_image_free(&image);
	if (ret && !v->vm_ready) {
		/* Nothing started: the configuration is as it was (strings made meanwhile stay
		 * owned by it until config_free). */
		char **owned = v->cfg->owned;
		unsigned nowned = v->cfg->nowned, cap = v->cfg->owned_cap;

		*v->cfg = before;
		v->cfg->owned = owned;
		v->cfg->nowned = nowned;
		v->cfg->owned_cap = cap;
		return ret;
	}
	if (!ret)
		log_info("the microVM is restored from %s in %llu ms (%u vCPUs, %llu MiB), %s",
			 req->state_path, (unsigned long long)((vm_now_ns() - t0) / 1000000),
			 v->cfg->cpus, (unsigned long long)(v->cfg->memory >> 20),
			 req->resume ? "running" : "paused");
	return ret;
}
