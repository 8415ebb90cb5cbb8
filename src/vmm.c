/* The VMM controller: configuration until InstanceStart, then the VM's lifecycle (pause, resume,
 * stop), metrics and drive updates. Runs on the main thread, driven by the API and the CLI. */
#include "vmm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/platform.h"
#include "devices.h"
#include "event_loop.h"
#include "gdb/gdb_stub.h"
#include "log.h"
#include "metrics.h"
#include "vcpu.h"
#include "vm_snapshot.h"

#define VMM_METRICS_PERIOD_S 60

int vmm_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

void vmm_init(struct vmm *v, struct vm_config *cfg, struct event_loop *loop)
{
	memset(v, 0, sizeof(*v));
	v->cfg = cfg;
	v->loop = loop;
	v->state = VMM_NOT_STARTED;
	v->process_start_ns = vm_now_ns();
	v->metrics_timer = -1;
}

enum vmm_state vmm_get_state(struct vmm *v)
{
	if (v->state != VMM_NOT_STARTED && vm_stopping(&v->vm))
		return VMM_STOPPED;
	return v->state;
}

const char *vmm_state_name(enum vmm_state s)
{
	switch (s) {
	case VMM_NOT_STARTED:
		return "Not started";
	case VMM_RUNNING:
		return "Running";
	case VMM_PAUSED:
		return "Paused";
	default:
		return "Stopped";
	}
}

static void vmm_metrics_tick(void *opaque, int fd, uint32_t events)
{
	struct vmm *v = opaque;
	uint64_t expirations;

	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return;
	if (v->metrics && v->vm_ready && metrics_write(v->metrics, &v->vm, v->process_start_ns))
		log_warn("writing metrics failed");
}

/* Firecracker writes metrics every 60 s once the VM runs; FlushMetrics writes one more. */
static int vmm_metrics_timer_start(struct vmm *v)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = VMM_METRICS_PERIOD_S },
		.it_value = { .tv_sec = VMM_METRICS_PERIOD_S },
	};
	int ret;

	if (!v->metrics || v->metrics_timer >= 0 || !v->loop)
		return 0;
	v->metrics_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (v->metrics_timer < 0)
		return -errno;
	if (timerfd_settime(v->metrics_timer, 0, &its, NULL) < 0)
		return -errno;
	ret = event_loop_add(v->loop, v->metrics_timer, EPOLLIN, vmm_metrics_tick, v);
	return ret;
}

static void vmm_changed(struct vmm *v)
{
	if (v->on_change)
		v->on_change(v->on_change_opaque);
}

/* The VM stopped (poweroff, reboot, fatal exit, vm_stop from anywhere): end the main loop. */
static void vmm_stopped_cb(void *opaque, int fd, uint32_t events)
{
	struct vmm *v = opaque;

	(void)fd;
	(void)events;
	event_loop_quit(v->loop);
}

/*
 * PUT /serial and PUT /logger (or --log-path): the guest's console output, or kvmbox's log, goes
 * to a file or FIFO instead of stdout/stderr. A FIFO is opened read-write so that opening never
 * waits for a reader (as Firecracker's users pass named pipes).
 */
int vmm_redirect(const char *path, int target_fd, char *err, size_t errlen)
{
	struct stat st;
	int fd, flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK;

	if (stat(path, &st) == 0) {
		if (S_ISFIFO(st.st_mode))
			flags = O_RDWR | O_CLOEXEC | O_NONBLOCK;
		else if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
			return vmm_err(err, errlen, -EINVAL, "'%s' is not a file or a FIFO", path);
	}
	fd = open(path, flags, 0600);
	if (fd < 0)
		return vmm_err(err, errlen, -errno, "cannot open '%s': %s", path, strerror(errno));
	/* Writes to the console must never block a vCPU on a full pipe: keep O_NONBLOCK. */
	if (dup2(fd, target_fd) < 0) {
		int ret = -errno;

		close(fd);
		return vmm_err(err, errlen, ret, "cannot redirect to '%s': %s", path,
			       strerror(-ret));
	}
	close(fd);
	return 0;
}

int vmm_build(struct vmm *v, const struct snapshot_host *saved, const struct vm_restore *restore,
	      char *err, size_t errlen)
{
	char kerr[512];
	int ret;

	if (v->cfg->serial_out) {
		ret = vmm_redirect(v->cfg->serial_out, STDOUT_FILENO, err, errlen);
		if (ret)
			return ret;
	}
	if (v->cfg->accel_emu && saved)
		return vmm_err(err, errlen, -EINVAL,
			       "--accel emu cannot restore a snapshot (it holds KVM's vCPU state)");
	if (!v->cfg->accel_emu) {
		if (kvm_open(&v->kvm, "/dev/kvm", kerr, sizeof(kerr)))
			return vmm_err(err, errlen, -ENODEV, "%s", kerr);
		v->kvm_ready = true;
	}
	if (saved) {
		struct kvm_cpuid2 *cpuid = cpu_supported_cpuid(v->kvm.fd);
		struct snapshot_host here;

		ret = cpuid ? vm_snapshot_host(&v->kvm, cpuid, saved->ncpus, &here) : -EIO;
		free(cpuid);
		if (!ret)
			ret = snapshot_host_check(saved, &here, kerr, sizeof(kerr));
		if (ret) {
			kvm_close(&v->kvm);
			v->kvm_ready = false;
			return vmm_err(err, errlen, -EINVAL, "cannot restore on this host: %s",
				       ret == -EINVAL ? kerr : strerror(-ret));
		}
	}
	log_clear_last_error();
	ret = vm_create(&v->vm, v->kvm_ready ? &v->kvm : NULL, v->cfg, restore);
	if (ret) {
		bool input = v->vm.input_error;

		vmm_err(err, errlen, ret, "cannot build the VM: %s",
			log_last_error()[0] ? log_last_error() : strerror(-ret));
		if (v->kvm_ready)
			kvm_close(&v->kvm);
		v->kvm_ready = false;
		return input ? -EINVAL : ret;
	}
	v->vm_ready = true;
	if (v->loop && event_loop_add(v->loop, v->vm.stop_fd, EPOLLIN, vmm_stopped_cb, v))
		log_warn("cannot watch the VM's stop event");
	if (v->cfg->gdb) {
		ret = gdb_stub_create(&v->gdb, v->cfg->gdb, v->cfg->gdb_wait, v->loop, &v->vm, err,
				      errlen);
		if (ret) {
			vmm_unbuild(v);
			return ret == -ENOMEM ? ret : -EINVAL;
		}
	}
	return 0;
}

void vmm_unbuild(struct vmm *v)
{
	gdb_stub_destroy(v->gdb, 0);
	v->gdb = NULL;
	if (v->vm_ready) {
		if (v->loop)
			event_loop_del(v->loop, v->vm.stop_fd);
		vm_destroy(&v->vm);
		v->vm_ready = false;
	}
	if (v->kvm_ready)
		kvm_close(&v->kvm);
	v->kvm_ready = false;
}

void vmm_running(struct vmm *v)
{
	if (vmm_metrics_timer_start(v))
		log_warn(
		    "cannot start the metrics timer; metrics are written on FlushMetrics only");
	vmm_changed(v);
}

int vmm_start(struct vmm *v, char *err, size_t errlen)
{
	int ret;

	if (v->state != VMM_NOT_STARTED)
		return vmm_err(err, errlen, -EINVAL, "the microVM is already running");
	log_clear_last_error();
	ret = config_check_memory(v->cfg->memory, err, (unsigned)errlen);
	if (!ret)
		ret = config_check_files(v->cfg, err, (unsigned)errlen);
	if (ret)
		return ret;
	if (v->cfg->cpus > CONFIG_MAX_CPUS)
		return vmm_err(err, errlen, -EINVAL, "too many vCPUs");
	/* Firecracker's rule: the root drive is the first virtio-blk device, /dev/vda. */
	for (unsigned i = 1; i < v->cfg->ndisks; i++) {
		if (v->cfg->disks[i].is_root) {
			struct config_disk root = v->cfg->disks[i];

			memmove(&v->cfg->disks[1], &v->cfg->disks[0], i * sizeof(root));
			v->cfg->disks[0] = root;
			break;
		}
	}
	ret = vmm_build(v, NULL, NULL, err, errlen);
	if (ret)
		return ret;
	ret = vm_start(&v->vm);
	/* From here the VM exists: a failure stops it, and the main loop sees it stopping. */
	v->state = VMM_RUNNING;
	if (ret)
		return vmm_err(err, errlen, ret, "cannot start the vCPUs: %s", strerror(-ret));
	log_info("the microVM is running (%u vCPUs, %llu MiB)", v->cfg->cpus,
		 (unsigned long long)(v->cfg->memory >> 20));
	vmm_running(v);
	return 0;
}

int vmm_pause(struct vmm *v, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s == VMM_PAUSED)
		return 0; /* idempotent, as Firecracker */
	if (s != VMM_RUNNING)
		return vmm_err(err, errlen, -EINVAL, "cannot pause a microVM that is %s",
			       s == VMM_NOT_STARTED ? "not started" : "stopped");
	ret = vm_pause(&v->vm);
	if (ret)
		return vmm_err(err, errlen, -EINVAL, "pausing failed: %s",
			       ret == -ESHUTDOWN ? "the microVM stopped" : strerror(-ret));
	v->state = VMM_PAUSED;
	log_info("the microVM is paused");
	vmm_changed(v);
	return 0;
}

int vmm_resume(struct vmm *v, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s == VMM_RUNNING)
		return 0;
	if (s != VMM_PAUSED)
		return vmm_err(err, errlen, -EINVAL, "cannot resume a microVM that is %s",
			       s == VMM_NOT_STARTED ? "not started" : "stopped");
	ret = vm_resume(&v->vm);
	v->state = VMM_RUNNING;
	vmm_changed(v);
	if (ret)
		return vmm_err(err, errlen, -EINVAL, "the microVM stopped while resuming");
	log_info("the microVM is running again");
	return 0;
}

int vmm_ctrl_alt_del(struct vmm *v, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s != VMM_RUNNING && s != VMM_PAUSED)
		return vmm_err(err, errlen, -EINVAL,
			       "SendCtrlAltDel needs a running microVM (it is %s)",
			       vmm_state_name(s));
	ret = platform_ctrl_alt_del(v->vm.platform);
	if (ret)
		return vmm_err(err, errlen, ret, "the keyboard controller is busy: %s",
			       strerror(-ret));
	return 0;
}

/* Text of every vCPU's registers, appended one after the other (vmm_regs_text). */
struct vmm_regs_buf {
	char *text;
	size_t len, cap;
};

static int vmm_regs_one(struct vcpu *vcpu, void *arg)
{
	struct vmm_regs_buf *b = arg;
	struct x86_regs r;
	size_t need;
	int ret = vcpu_read_regs(vcpu, &r);

	if (ret)
		return ret;
	need = regs_format(&r, vcpu->index, NULL, 0) + 1;
	if (b->len + need > b->cap) {
		size_t cap = (b->len + need) * 2;
		char *t = realloc(b->text, cap);

		if (!t)
			return -ENOMEM;
		b->text = t;
		b->cap = cap;
	}
	b->len += regs_format(&r, vcpu->index, b->text + b->len, b->cap - b->len);
	return 0;
}

char *vmm_regs_text(struct vmm *v, char *err, size_t errlen)
{
	struct vmm_regs_buf b = { 0 };
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s != VMM_RUNNING && s != VMM_PAUSED) {
		vmm_err(err, errlen, -EINVAL, "the microVM is %s", vmm_state_name(s));
		return NULL;
	}
	ret = vm_with_vcpus_parked(&v->vm, vmm_regs_one, &b);
	if (ret) {
		free(b.text);
		vmm_err(err, errlen, ret, "cannot read the registers: %s", strerror(-ret));
		return NULL;
	}
	return b.text;
}

int vmm_gdb(struct vmm *v, const char *address, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s != VMM_RUNNING && s != VMM_PAUSED)
		return vmm_err(err, errlen, -EINVAL,
			       "a gdb stub needs a running microVM (it is %s)", vmm_state_name(s));
	if (v->gdb)
		return vmm_err(err, errlen, -EBUSY, "a gdb stub is already listening");
	if (v->vm.emu)
		return vmm_err(err, errlen, -ENOTSUP,
			       "a gdb stub needs KVM (this microVM runs in the emulator)");
	if (v->vm.vcpu_ctx.syscall)
		return vmm_err(err, errlen, -EBUSY,
			       "the debug registers serve --syscall-completion: no gdb stub");
	/* The vCPU threads read the debug hook: install it while none of them runs. */
	ret = vm_park_vcpus(&v->vm, VCPU_PARK_PEEK);
	if (ret)
		return vmm_err(err, errlen, ret, "the microVM is stopping");
	ret = gdb_stub_create(&v->gdb, address, false, v->loop, &v->vm, err, errlen);
	vm_unpark_vcpus(&v->vm, VCPU_PARK_PEEK);
	if (!ret)
		log_info("gdb: stub opened on %s through the API", address);
	return ret;
}

static int vmm_nmi_one(struct vcpu *vcpu, void *arg)
{
	const int *which = arg;

	if (*which >= 0 && (unsigned)*which != vcpu->index)
		return 0;
	return vcpu_nmi(vcpu);
}

int vmm_nmi(struct vmm *v, int vcpu, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s != VMM_RUNNING && s != VMM_PAUSED)
		return vmm_err(err, errlen, -EINVAL, "an NMI needs a running microVM (it is %s)",
			       vmm_state_name(s));
	if (vcpu >= 0 && (unsigned)vcpu >= v->vm.ncpus)
		return vmm_err(err, errlen, -EINVAL, "no vCPU %d (the microVM has %u)", vcpu,
			       v->vm.ncpus);
	ret = vm_with_vcpus_parked(&v->vm, vmm_nmi_one, &vcpu);
	if (ret)
		return vmm_err(err, errlen, ret, "cannot inject the NMI: %s", strerror(-ret));
	return 0;
}

int vmm_stop(struct vmm *v, int status)
{
	if (v->state == VMM_NOT_STARTED) {
		v->exit_status = status;
		if (v->loop)
			event_loop_quit(v->loop);
		return 0;
	}
	vm_stop(&v->vm, status);
	return 0;
}

int vmm_update_drive(struct vmm *v, unsigned index, const char *path, char *err, size_t errlen)
{
	enum vmm_state s = vmm_get_state(v);
	int ret;

	if (s != VMM_RUNNING && s != VMM_PAUSED)
		return vmm_err(err, errlen, -EINVAL, "the microVM is %s", vmm_state_name(s));
	if (index >= v->cfg->ndisks)
		return vmm_err(err, errlen, -ENOENT, "no such drive");
	ret = devices_update_disk(&v->vm, index, path);
	if (ret)
		return vmm_err(err, errlen, ret, "cannot use '%s' as the new backing file: %s",
			       path, log_last_error()[0] ? log_last_error() : strerror(-ret));
	v->cfg->disks[index].path = config_strdup(v->cfg, path);
	return 0;
}

int vmm_set_metrics(struct vmm *v, const char *path, char *err, size_t errlen)
{
	struct metrics *m;
	int ret;

	if (v->metrics)
		return vmm_err(err, errlen, -EINVAL, "metrics are already configured");
	ret = metrics_open(&m, path);
	if (ret)
		return vmm_err(err, errlen, ret, "cannot open the metrics file '%s': %s", path,
			       strerror(-ret));
	v->metrics = m;
	v->cfg->metrics_path = config_strdup(v->cfg, path);
	if (v->state != VMM_NOT_STARTED && vmm_metrics_timer_start(v))
		log_warn("cannot start the metrics timer");
	return 0;
}

int vmm_flush_metrics(struct vmm *v, char *err, size_t errlen)
{
	int ret;

	if (!v->metrics)
		return vmm_err(err, errlen, -EINVAL, "metrics are not configured (PUT /metrics)");
	if (!v->vm_ready)
		return vmm_err(err, errlen, -EINVAL, "the microVM is not started");
	ret = metrics_write(v->metrics, &v->vm, v->process_start_ns);
	if (ret)
		return vmm_err(err, errlen, ret, "writing metrics failed: %s", strerror(-ret));
	return 0;
}

char *vmm_stats_json(struct vmm *v)
{
	if (!v->vm_ready)
		return NULL;
	return metrics_json(&v->vm, v->process_start_ns);
}

void vmm_destroy(struct vmm *v)
{
	if (v->metrics_timer >= 0) {
		if (v->loop)
			event_loop_del(v->loop, v->metrics_timer);
		close(v->metrics_timer);
		v->metrics_timer = -1;
	}
	if (v->vm_ready) {
		if (v->loop)
			event_loop_del(v->loop, v->vm.stop_fd);
		/* A last metrics line, as Firecracker flushes on exit. */
		if (v->metrics && metrics_write(v->metrics, &v->vm, v->process_start_ns))
			log_debug("final metrics write failed");
		vm_stop(&v->vm, v->vm.exit_status);
		vm_join(&v->vm);
		v->exit_status = v->vm.exit_status;
		gdb_stub_destroy(v->gdb, v->exit_status);
		v->gdb = NULL;
		vm_destroy(&v->vm);
		v->vm_ready = false;
	}
	if (v->metrics)
		metrics_close(v->metrics);
	v->metrics = NULL;
	if (v->kvm_ready)
		kvm_close(&v->kvm);
	v->kvm_ready = false;
}
