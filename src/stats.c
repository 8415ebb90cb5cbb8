/* Prints the --stats report: exit counts by reason and device, KVM_RUN time vs handler time. */
#include "stats.h"

#include <linux/kvm.h>

#include "arch/x86/emu_accel.h"
#include "arch/x86/emu_fallback.h"
#include "vcpu.h"
#include "vm.h"

const char *stats_exit_name(unsigned reason, char *buf, size_t len)
{
	switch (reason) {
	case KVM_EXIT_IO:
		return "io";
	case KVM_EXIT_MMIO:
		return "mmio";
	case KVM_EXIT_HLT:
		return "hlt";
	case KVM_EXIT_SHUTDOWN:
		return "shutdown";
	case KVM_EXIT_FAIL_ENTRY:
		return "fail-entry";
	case KVM_EXIT_INTR:
		return "intr";
	case KVM_EXIT_INTERNAL_ERROR:
		return "internal-error";
	case KVM_EXIT_SYSTEM_EVENT:
		return "system-event";
	case KVM_EXIT_DEBUG:
		return "debug";
	default:
		snprintf(buf, len, "reason%u", reason);
		return buf;
	}
}

bool stats_exit_named(unsigned reason)
{
	char buf[STATS_EXIT_NAME_MAX];

	return stats_exit_name(reason, buf, sizeof(buf)) != buf;
}

static void stats_print_bus(const struct bus *bus, FILE *out)
{
	fprintf(out, "  %s:", bus->name);
	for (unsigned i = 0; i < bus->nranges; i++)
		fprintf(out, " %s=%llu", bus->ranges[i].name ? bus->ranges[i].name : "?",
			(unsigned long long)bus->ranges[i].accesses);
	fprintf(out, " unclaimed-reads=%llu unclaimed-writes=%llu\n",
		(unsigned long long)bus->unclaimed_reads,
		(unsigned long long)bus->unclaimed_writes);
}

/* --accel emu: no exits, every instruction is the emulator's. */
static void stats_print_emu(const struct vm *vm, double run_s, FILE *out)
{
	struct emu_accel_stats total = { 0 };

	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct emu_accel_stats s;

		if (!vm->vcpus[i].emu)
			continue;
		emu_accel_get_stats(vm->vcpus[i].emu, &s);
		total.instructions += s.instructions;
		total.exceptions += s.exceptions;
		total.user_ud += s.user_ud;
	}
	fprintf(out, "  vCPU time: in the emulator %.3f s\n", run_s);
	fprintf(out,
		"  emulated: %llu instructions (%.1f M/s), %llu exceptions delivered, %llu user "
		"#UD\n",
		(unsigned long long)total.instructions,
		run_s > 0 ? (double)total.instructions / run_s / 1e6 : 0.0,
		(unsigned long long)total.exceptions, (unsigned long long)total.user_ud);
}

void stats_print(const struct vm *vm, FILE *out)
{
	struct vcpu_stats total = { 0 };
	double run_s, handler_s, busy;

	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;

		for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++)
			total.exits[r] += s->exits[r];
		total.run_ns += s->run_ns;
		total.handler_ns += s->handler_ns;
	}
	run_s = (double)total.run_ns / 1e9;
	handler_s = (double)total.handler_ns / 1e9;
	busy = run_s + handler_s > 0 ? run_s + handler_s : 1;
	fprintf(out, "kvmbox stats: %.3f s wall, %u vCPU(s)\n",
		(double)(vm_now_ns() - vm->start_ns) / 1e9, vm->ncpus);
	if (vm->emu) {
		stats_print_emu(vm, run_s, out);
		stats_print_bus(&vm->pio, out);
		stats_print_bus(&vm->mmio, out);
		return;
	}
	fprintf(out,
		"  vCPU time: in KVM_RUN %.3f s (%.1f%%), in kvmbox handlers %.3f s (%.1f%%)\n",
		run_s, 100.0 * run_s / busy, handler_s, 100.0 * handler_s / busy);
	fprintf(out, "  exits:");
	for (unsigned r = 0; r < VCPU_EXIT_REASONS; r++) {
		char buf[STATS_EXIT_NAME_MAX];

		if (total.exits[r])
			fprintf(out, " %s=%llu", stats_exit_name(r, buf, sizeof(buf)),
				(unsigned long long)total.exits[r]);
	}
	fprintf(out, "\n");
	stats_print_bus(&vm->pio, out);
	stats_print_bus(&vm->mmio, out);
	emu_fallback_print_stats(out);
}
