/* struct vm_config: what the user asked for, parsed and validated from the command line. */
#ifndef KVMBOX_CONFIG_H
#define KVMBOX_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "syscall_filter.h"

#define CONFIG_MAX_CPUS 255 /* xAPIC IDs in the MADT; x2APIC is future work */
#define CONFIG_MIN_MEMORY (2ull << 20)
#define CONFIG_MAX_MEMORY (1ull << 40)
#define CONFIG_DEFAULT_MEMORY (512ull << 20)
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 panic=-1"

#define CONFIG_MAX_DISKS 8
#define CONFIG_MAX_NICS 4

enum config_action {
	CONFIG_ACTION_RUN, /* kvmbox run ...: boot from the command line */
	CONFIG_ACTION_HELP,
	CONFIG_ACTION_VERSION,
	CONFIG_ACTION_SERVE, /* kvmbox --api-sock PATH [--config-file FILE]: Firecracker-style */
	CONFIG_ACTION_CTL,   /* kvmbox ctl SOCKET COMMAND [ARGS]: the API client */
};

enum config_transport { CONFIG_TRANSPORT_PCI, CONFIG_TRANSPORT_MMIO };

struct config_disk {
	const char *path;
	bool readonly;
	const char *serial; /* NULL: derived from the path */
	enum config_transport transport;
	const char *id;	      /* API drive_id ([A-Za-z0-9_]+); NULL from the command line */
	bool is_root;	      /* API is_root_device: the kernel gets root=/dev/vdX */
	const char *partuuid; /* API partuuid: root=PARTUUID=... instead */
};

struct config_net {
	const char *tap;
	bool has_mac;
	uint8_t mac[6];
	enum config_transport transport;
	const char *id; /* API iface_id; NULL from the command line */
};

/* Firecracker's hybrid vsock: the guest's streams end at unix sockets on the host. */
struct config_vsock {
	bool enabled;
	uint64_t guest_cid; /* >= 3 */
	const char *uds_path;
	const char *id; /* API vsock_id (optional, kept for GET /vm/config) */
};

/* A restored NIC put on another tap (snapshot load's network_overrides, --net-override). */
struct config_net_override {
	const char *iface_id;
	const char *tap;
};

/* --jail: confine kvmbox before the VM exists (src/jail.c). */
struct config_jail {
	const char *root;  /* the directory that becomes / */
	uint32_t uid, gid; /* unprivileged ids to run as (not 0) */
	bool have_uid, have_gid, have_rlimit;
	/* Join this network namespace (a /run/netns/NAME file); NULL: a new, empty one. */
	const char *netns;
	uint64_t nofile; /* RLIMIT_NOFILE (default 2048) */
	uint64_t fsize;	 /* RLIMIT_FSIZE in bytes, 0 = unchanged */
	/* RLIMIT_AS in bytes (all of kvmbox's memory, guest RAM included), 0 = unchanged. */
	uint64_t as;
};

struct vm_config {
	enum config_action action;
	const char *kernel;
	const char *initrd;
	const char *cmdline; /* NULL: CONFIG_DEFAULT_CMDLINE for Linux, nothing for Multiboot */
	uint64_t memory;
	unsigned cpus;
	const char *cpu_template; /* "auto", "host" or "pvm" */
	bool stats;
	bool no_ioeventfd; /* notifications by exit, interrupts by KVM_SIGNAL_MSI (for bench/) */
	bool debug_exit;   /* the isa-debug-exit style port 0xf4, for test guests */
	bool test_devices; /* QEMU's fw_cfg and pc-testdev (kvm-unit-tests); implies debug_exit */
	bool syscall_completion; /* --syscall-completion on: complete SYSCALLs kvm_pvm mis-delivers
				  */
	bool accel_emu;		 /* --accel emu: no KVM, every instruction in the x86 emulator */
	const char *gdb;	 /* --gdb tcp:HOST:PORT or unix:PATH */
	bool gdb_wait;		 /* --gdb-wait: the vCPUs start stopped */
	int verbosity;		 /* -v count */
	enum syscall_filter_mode seccomp; /* --seccomp kill|log|off, --no-seccomp */
	struct config_disk disks[CONFIG_MAX_DISKS];
	unsigned ndisks;
	struct config_net nics[CONFIG_MAX_NICS];
	unsigned nnics;
	bool rng;
	bool virtio_console; /* stdin goes to hvc0 (virtio-console) instead of COM1 */
	struct config_vsock vsock;
	struct config_jail jail;

	/* Firecracker-style boot (API or --config-file): virtio-mmio devices announced on the
	 * kernel command line (virtio_mmio.device=...), an MP table for acpi=off guests. */
	bool mmio_cmdline;
	bool smt;		/* machine-config smt (reported back; one thread per core) */
	bool track_dirty_pages; /* machine-config track_dirty_pages (for Diff snapshots) */
	const char *serial_out; /* PUT /serial: guest COM1 output to this file, not stdout */
	const char *metrics_path;
	const char *log_path;

	/* kvmbox run --restore DIR: the VM from DIR/vmstate and DIR/memory, not booted */
	const char *restore_dir;
	bool restore_paused; /* --paused: stay paused after the restore */
	struct config_net_override net_overrides[CONFIG_MAX_NICS];
	unsigned nnet_overrides;

	/* kvmbox --api-sock / --config-file, and kvmbox ctl */
	const char *api_sock;
	const char *config_file;
	const char *instance_id; /* --id (Firecracker's), reported by GET / */
	char **ctl_argv;	 /* kvmbox ctl SOCKET COMMAND ARGS...: argv from SOCKET on */
	int ctl_argc;

	char **owned; /* strings this config owns (config_strdup) */
	unsigned nowned, owned_cap;
};

void config_free(struct vm_config *cfg);
/* Defaults for a VM with nothing configured yet (what `kvmbox --api-sock` starts from). */
void config_init(struct vm_config *cfg);
/* A copy of s owned by cfg (freed by config_free); NULL on allocation failure. */
const char *config_strdup(struct vm_config *cfg, const char *s);
/*
 * Frees s if cfg owns it (a config_strdup copy), which cfg then no longer does. A string cfg does
 * not own (argv, a literal) and NULL are left alone.
 */
void config_strfree(struct vm_config *cfg, const char *s);
/* Checks that the kernel/initrd/disk files named in cfg can be used (one line in err). */
int config_check_files(const struct vm_config *cfg, char *err, unsigned errlen)
    __attribute__((warn_unused_result));
/* For API and config-file values: the same checks the command line applies (range, 4 KiB
 * multiple, no more than the host's RAM plus swap). */
int config_check_memory(uint64_t bytes, char *err, unsigned errlen)
    __attribute__((warn_unused_result));
int config_check_file(const char *what, const char *path, char *err, unsigned errlen)
    __attribute__((warn_unused_result));
int config_parse_mac(const char *v, uint8_t mac[6]) __attribute__((warn_unused_result));

/*
 * Parse argv (argv[0] is the program). On error writes a one-line message naming the problem to
 * err (size errlen) and returns -EINVAL. Checks option syntax and ranges, and that the kernel and
 * initrd files can be opened for reading.
 */
int config_parse(struct vm_config *cfg, int argc, char **argv, char *err, unsigned errlen)
    __attribute__((warn_unused_result));

/* "512M", "2G", "1048576K", plain number = MiB (QEMU's convention). -EINVAL on junk or overflow. */
int config_parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));

/* The --help text. */
extern const char config_usage_text[];

#endif
