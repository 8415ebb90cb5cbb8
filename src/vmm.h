/* The VMM controller: one VM's configuration before InstanceStart and its lifecycle after. The
 * API server, the config file and `kvmbox run` all drive the VM through it. Main thread only. */
#ifndef KVMBOX_VMM_H
#define KVMBOX_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kvm.h"
#include "vm.h"

enum vmm_state {
	VMM_NOT_STARTED,
	VMM_RUNNING,
	VMM_PAUSED,
	VMM_STOPPED, /* the guest powered off / rebooted / was stopped: the process is ending */
};

struct event_loop;
struct metrics;
struct gdb_stub;

struct vmm {
	struct vm_config *cfg; /* mutable until vmm_start; then read-only */
	struct kvm kvm;
	bool kvm_ready;
	struct vm vm;
	bool vm_ready;
	enum vmm_state state;	 /* NOT_STARTED/RUNNING/PAUSED; STOPPED derives from vm_stopping */
	struct event_loop *loop; /* the main thread's loop (console, signals, API, timers) */
	struct metrics *metrics;
	struct gdb_stub *gdb; /* --gdb, or opened later through the API */
	int metrics_timer;    /* timerfd: a metrics line every 60 s */
	uint64_t process_start_ns;
	int exit_status;
	/* Called on the main thread after start, pause and resume (the console's input gate). */
	void (*on_change)(void *opaque);
	void *on_change_opaque;
};

/* cfg stays the caller's, but the vmm may add owned strings to it (config_strdup). */
void vmm_init(struct vmm *v, struct vm_config *cfg, struct event_loop *loop);
void vmm_destroy(struct vmm *v);

enum vmm_state vmm_get_state(struct vmm *v);
/* Firecracker's names: "Not started", "Running", "Paused"; and "Stopped". */
const char *vmm_state_name(enum vmm_state s);

/*
 * InstanceStart: validate the configuration, open /dev/kvm, build the VM and start its vCPUs.
 * Returns when the vCPUs run (never after the guest boots). On failure nothing is left
 * half-built, err names the problem, and -EINVAL/-ENOENT/... say whether it was the user's input
 * (vmm->vm.input_error) or the host.
 */
int vmm_start(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));
/* PATCH /vm: park every vCPU and quiesce the devices; resume undoes it. -EINVAL when not in
 * the right state (message in err). */
int vmm_pause(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));
int vmm_resume(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));
/* SendCtrlAltDel: the keyboard chord through the i8042. */
int vmm_ctrl_alt_del(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));
/* A kvmbox extension: stop the VM (the process then exits with status). */
int vmm_stop(struct vmm *v, int status);
/* PATCH /drives/{id} after start: new backing file, the guest is told the new capacity. */
int vmm_update_drive(struct vmm *v, unsigned index, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Metrics: PUT /metrics before start opens the file; FlushMetrics writes one line now. */
int vmm_set_metrics(struct vmm *v, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int vmm_flush_metrics(struct vmm *v, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Send target_fd (stdout: the guest console; stderr: the log) to a file or FIFO at path. */
int vmm_redirect(const char *path, int target_fd, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The metrics object as JSON text (malloc'd), or NULL before start. */
char *vmm_stats_json(struct vmm *v);
/* Every vCPU's registers as text (malloc'd; NULL with err filled in). Running or paused VMs;
 * a running VM's vCPUs are parked for the read only (microseconds), its devices keep going. */
char *vmm_regs_text(struct vmm *v, char *err, size_t errlen);
/* Inject an NMI into vCPU vcpu, or into every vCPU when vcpu < 0. */
int vmm_nmi(struct vmm *v, int vcpu, char *err, size_t errlen) __attribute__((warn_unused_result));
/* A gdb stub on address (tcp:HOST:PORT, unix:PATH) for the running VM; one per VM. */
int vmm_gdb(struct vmm *v, const char *address, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Snapshots (vmm_snapshot.c). Create: the VM must be paused; config is the document a restore
 * rebuilds it from (snapshot_config_export). Load: into a process whose VM is not started and
 * has no devices or kernel configured; on failure nothing is started and cfg is as it was.
 */
struct vmm_snapshot_load {
	const char *state_path, *mem_path;
	bool resume;	  /* resume_vm: run at once, else Paused */
	bool track_dirty; /* enable_diff_snapshots / track_dirty_pages */
	unsigned noverrides;
	struct config_net_override overrides[CONFIG_MAX_NICS];
};
int vmm_snapshot_create(struct vmm *v, const char *config, const char *state_path,
			const char *mem_path, bool diff, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int vmm_snapshot_load(struct vmm *v, const struct vmm_snapshot_load *req, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* For vmm.c and vmm_snapshot.c only. */
struct snapshot_host;
/* err gets the message; returns ret. */
int vmm_err(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Open KVM (checking a snapshot's host facts when saved is set) and build the VM (from
 * a snapshot's memory file when restore is set); vmm_unbuild undoes it before the vCPUs start. */
int vmm_build(struct vmm *v, const struct snapshot_host *saved, const struct vm_restore *restore,
	      char *err, size_t errlen) __attribute__((warn_unused_result));
void vmm_unbuild(struct vmm *v);
/* The VM runs or is paused from now on: metrics timer, console gate. */
void vmm_running(struct vmm *v);

#endif
