/* kvmbox entry point: parse -> (API server | config file | command line) -> the VMM on the main
 * thread's event loop -> tear down. The only place that exits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/config_file.h"
#include "api/server.h"
#include "backend/term.h"
#include "config.h"
#include "console.h"
#include "ctl.h"
#include "event_loop.h"
#include "jail.h"
#include "log.h"
#include "stats.h"
#include "syscall_filter.h"
#include "vcpu.h"
#include "vm.h"
#include "vmm.h"

static void main_console_changed(void *opaque)
{
	console_update(opaque);
}

/* Exit status for a failed start: the user's input (2) or the host (10). */
static int main_start_failed(int ret, const char *err)
{
	/* vm_create already logged what went wrong; other failures have only err. */
	if (!log_last_error()[0])
		fprintf(stderr, "kvmbox: error: %s\n", err);
	return ret == -EINVAL || ret == -ENODEV || ret == -ENOENT || ret == -EACCES
		   ? VM_EXIT_BAD_INPUT
		   : VM_EXIT_HOST_ERROR;
}

/* kvmbox run --restore DIR: the files `kvmbox ctl SOCKET snapshot DIR` writes. */
static int main_restore(struct vmm *vmm, struct vm_config *cfg, char *err, size_t errlen)
{
	struct vmm_snapshot_load req = {
		.resume = !cfg->restore_paused,
		.noverrides = cfg->nnet_overrides,
	};
	char state[4096], mem[4096];

	if ((size_t)snprintf(state, sizeof(state), "%s/vmstate", cfg->restore_dir) >=
		sizeof(state) ||
	    (size_t)snprintf(mem, sizeof(mem), "%s/memory", cfg->restore_dir) >= sizeof(mem)) {
		snprintf(err, errlen, "--restore: the path '%s' is too long", cfg->restore_dir);
		return -EINVAL;
	}
	req.state_path = state;
	req.mem_path = mem;
	memcpy(req.overrides, cfg->net_overrides, sizeof(req.overrides));
	log_clear_last_error();
	return vmm_snapshot_load(vmm, &req, err, errlen);
}

static int main_vmm(struct vm_config *cfg)
{
	struct event_loop *loop = NULL;
	struct console *con = NULL;
	struct api_server *api = NULL;
	struct vmm vmm;
	char err[512];
	int status = VM_EXIT_HOST_ERROR, ret;

	/* Signals are blocked before any thread exists, so every thread inherits the mask. */
	console_signals_block();
	vcpu_signals_init();
	/* Confined from here on: every thread kvmbox creates inherits this and narrows it. */
	syscall_filter_set_mode(cfg->seccomp);
	ret = syscall_filter_install(SYSCALL_FILTER_MAIN);
	if (ret) {
		fprintf(stderr,
			"kvmbox: error: cannot install the seccomp filter: %s "
			"(--no-seccomp runs without it)\n",
			strerror(-ret));
		return VM_EXIT_HOST_ERROR;
	}
	if (event_loop_create_inline(&loop, "main")) {
		fprintf(stderr, "kvmbox: error: cannot create the main event loop\n");
		return VM_EXIT_HOST_ERROR;
	}
	vmm_init(&vmm, cfg, loop);
	/* Driven like Firecracker (API, config file): pci=off guests, devices on the command line.
	 */
	if (cfg->action == CONFIG_ACTION_SERVE)
		cfg->mmio_cmdline = true;
	if (console_create(&con, loop, &vmm))
		goto out;
	vmm.on_change = main_console_changed;
	vmm.on_change_opaque = con;

	if (cfg->config_file && config_file_load(cfg, cfg->config_file, err, sizeof(err))) {
		fprintf(stderr, "kvmbox: error: config file '%s': %s\n", cfg->config_file, err);
		status = VM_EXIT_BAD_INPUT;
		goto out;
	}
	if (cfg->log_path && vmm_redirect(cfg->log_path, STDERR_FILENO, err, sizeof(err))) {
		fprintf(stderr, "kvmbox: error: --log-path: %s\n", err);
		status = VM_EXIT_BAD_INPUT;
		goto out;
	}
	if (cfg->metrics_path && vmm_set_metrics(&vmm, cfg->metrics_path, err, sizeof(err))) {
		fprintf(stderr, "kvmbox: error: %s\n", err);
		status = VM_EXIT_BAD_INPUT;
		goto out;
	}
	if (cfg->api_sock) {
		ret = api_server_create(&api, cfg->api_sock, loop, &api_vmm_ops, &vmm);
		if (ret) {
			fprintf(stderr, "kvmbox: error: cannot serve the API on '%s': %s\n",
				cfg->api_sock, strerror(-ret));
			status = ret == -ENOMEM ? VM_EXIT_HOST_ERROR : VM_EXIT_BAD_INPUT;
			goto out;
		}
	}
	if (cfg->restore_dir) {
		ret = main_restore(&vmm, cfg, err, sizeof(err));
		if (ret && !vmm.vm_ready) {
			status = main_start_failed(ret, err);
			goto out;
		}
	} else if (cfg->action == CONFIG_ACTION_RUN || cfg->config_file) {
		ret = vmm_start(&vmm, err, sizeof(err));
		if (ret && !vmm.vm_ready) {
			status = main_start_failed(ret, err);
			goto out;
		}
	}
	if (isatty(STDIN_FILENO) && term_raw_enter(STDIN_FILENO))
		log_warn("cannot put the terminal in raw mode; continuing");
	/* Until the VM stops (poweroff, reboot, a fatal exit, Ctrl-A x, a signal, the API). */
	if (event_loop_run(loop))
		log_error("the main loop failed");
	term_restore();
	if (vmm.vm_ready) {
		vm_stop(&vmm.vm, VM_EXIT_HOST_ERROR); /* no-op when it stopped on its own */
		vm_join(&vmm.vm);
		status = vmm.vm.exit_status;
		if (cfg->stats)
			stats_print(&vmm.vm, stderr);
	} else {
		status = vmm.exit_status;
	}
out:
	api_server_destroy(api);
	console_destroy(con);
	vmm_destroy(&vmm);
	event_loop_destroy(loop);
	return status;
}

/* With --jail, the VMM runs in a jailed child and this process relays its exit status. */
static int main_jailed(struct vm_config *cfg)
{
	char err[512];
	int status = 0, ret;

	if (!cfg->jail.root)
		return main_vmm(cfg);
	ret = jail_enter(&cfg->jail,
			 cfg->nnics || cfg->restore_dir || cfg->action == CONFIG_ACTION_SERVE,
			 &status, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "kvmbox: error: %s\n", err);
		return ret == -ENOMEM || ret == -EAGAIN ? VM_EXIT_HOST_ERROR : VM_EXIT_BAD_INPUT;
	}
	return ret == 1 ? status : main_vmm(cfg);
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	char err[512];
	int status = 0;

	if (config_parse(&cfg, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "kvmbox: error: %s\n", err);
		status = VM_EXIT_BAD_INPUT;
	} else if (cfg.action == CONFIG_ACTION_HELP) {
		fputs(config_usage_text, stdout);
	} else if (cfg.action == CONFIG_ACTION_VERSION) {
		puts("kvmbox v" KVMBOX_VERSION);
	} else if (cfg.action == CONFIG_ACTION_CTL) {
		status = ctl_main(cfg.api_sock, cfg.ctl_argc, cfg.ctl_argv);
	} else {
		log_set_level(cfg.verbosity >= 2   ? LOG_DEBUG
			      : cfg.verbosity == 1 ? LOG_INFO
						   : LOG_WARN);
		status = main_jailed(&cfg);
	}
	config_free(&cfg);
	return status;
}
