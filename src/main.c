/* kvmbox entry point: parse -> open KVM -> build the VM -> run -> tear down. The only place that
 * exits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/term.h"
#include "config.h"
#include "console.h"
#include "kvm.h"
#include "log.h"
#include "stats.h"
#include "vcpu.h"
#include "vm.h"

static int main_run(const struct vm_config *cfg)
{
	struct kvm kvm;
	struct vm vm;
	char err[512];
	int status, ret;

	if (kvm_open(&kvm, "/dev/kvm", err, sizeof(err))) {
		fprintf(stderr, "kvmbox: error: %s\n", err);
		return VM_EXIT_BAD_INPUT;
	}
	/* Signals are blocked before any thread exists, so every thread inherits the mask. */
	console_signals_block();
	vcpu_signals_init();
	ret = vm_create(&vm, &kvm, cfg);
	if (ret) {
		kvm_close(&kvm);
		return vm.input_error ? VM_EXIT_BAD_INPUT : VM_EXIT_HOST_ERROR;
	}
	if (isatty(STDIN_FILENO) && term_raw_enter(STDIN_FILENO))
		log_warn("cannot put the terminal in raw mode; continuing");
	/* Both stop the VM themselves when they fail, so the join below always returns. */
	if (vm_start(&vm) == 0 && console_run(&vm))
		log_error("the console loop failed; the guest was stopped");
	vm_join(&vm);
	term_restore();
	status = vm.exit_status;
	if (cfg->stats)
		stats_print(&vm, stderr);
	vm_destroy(&vm);
	kvm_close(&kvm);
	return status;
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
		puts("kvmbox " KVMBOX_VERSION);
	} else {
		log_set_level(cfg.verbosity >= 2   ? LOG_DEBUG
			      : cfg.verbosity == 1 ? LOG_INFO
						   : LOG_WARN);
		status = main_run(&cfg);
	}
	config_free(&cfg);
	return status;
}
