/* Seccomp system-call filters (libseccomp), one allow-list per thread role. */
#ifndef KVMBOX_SYSCALL_FILTER_H
#define KVMBOX_SYSCALL_FILTER_H

/*
 * Roles. Filters stack: a thread created after its creator installed a filter runs under both,
 * so the main thread's list is the union of every role's (it creates all other threads), and
 * each other thread narrows it to its own at its first instruction.
 */
enum syscall_filter_role {
	SYSCALL_FILTER_MAIN, /* API, VM assembly and control, console, gdb stub */
	SYSCALL_FILTER_VCPU, /* KVM_RUN and the device models it calls on exits */
	SYSCALL_FILTER_IO,   /* device I/O threads: virtio event loops, disk workers */
};

enum syscall_filter_mode {
	SYSCALL_FILTER_KILL, /* default: a call outside the list logs one line and kills kvmbox */
	SYSCALL_FILTER_LOG, /* the call is allowed and the kernel logs it (dmesg): to audit lists */
	SYSCALL_FILTER_OFF, /* --no-seccomp */
};

/* Parses "kill", "log" or "off"; -EINVAL otherwise. */
int syscall_filter_parse_mode(const char *s, enum syscall_filter_mode *mode);

/* Set once by main before any thread exists; install() then follows it. Until then OFF. */
void syscall_filter_set_mode(enum syscall_filter_mode mode);
enum syscall_filter_mode syscall_filter_get_mode(void);

/* Installs the role's filter on the calling thread (and the SIGSYS reporter on first use).
 * 0 or a negative errno; a no-op in mode OFF. */
int syscall_filter_install(enum syscall_filter_role role);

const char *syscall_filter_role_name(enum syscall_filter_role role);

#endif
