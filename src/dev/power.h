/* How platform devices ask the VM to stop: poweroff, reset, or a test guest's debug-exit status. */
#ifndef KVMBOX_DEV_POWER_H
#define KVMBOX_DEV_POWER_H

enum power_event {
	POWER_OFF,	  /* ACPI S5: kvmbox exits 0 */
	POWER_RESET,	  /* i8042 reset / ACPI reset: kvmbox exits with its reboot status */
	POWER_DEBUG_EXIT, /* isa-debug-exit style port: kvmbox exits with the given status */
};

/* Implemented by the VM; device models only hold this pair. Safe to call from any thread. */
struct power_sink {
	void (*event)(void *opaque, enum power_event event, int status);
	void *opaque;
};

static inline void power_request(const struct power_sink *sink, enum power_event event, int status)
{
	if (sink->event)
		sink->event(sink->opaque, event, status);
}

#endif
