/* struct vm_config: what the user asked for, parsed and validated from the command line. */
#ifndef KVMBOX_CONFIG_H
#define KVMBOX_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_CPUS 255 /* xAPIC IDs in the MADT; x2APIC is future work */
#define CONFIG_MIN_MEMORY (2ull << 20)
#define CONFIG_MAX_MEMORY (1ull << 40)
#define CONFIG_DEFAULT_MEMORY (512ull << 20)
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 panic=-1"

#define CONFIG_MAX_DISKS 8
#define CONFIG_MAX_NICS 4

enum config_action { CONFIG_ACTION_RUN, CONFIG_ACTION_HELP, CONFIG_ACTION_VERSION };

enum config_transport { CONFIG_TRANSPORT_PCI, CONFIG_TRANSPORT_MMIO };

struct config_disk {
	const char *path;
	bool readonly;
	const char *serial; /* NULL: derived from the path */
	enum config_transport transport;
};

struct config_net {
	const char *tap;
	bool has_mac;
	uint8_t mac[6];
	enum config_transport transport;
};

struct vm_config {
	enum config_action action;
	const char *kernel;
	const char *initrd;
	const char *cmdline; /* NULL: CONFIG_DEFAULT_CMDLINE */
	uint64_t memory;
	unsigned cpus;
	const char *cpu_template; /* "auto", "host" or "pvm" */
	bool stats;
	bool no_ioeventfd; /* notifications by exit, interrupts by KVM_SIGNAL_MSI (for bench/) */
	bool debug_exit;   /* the isa-debug-exit style port 0xf4, for test guests */
	int verbosity;	   /* -v count */
	struct config_disk disks[CONFIG_MAX_DISKS];
	unsigned ndisks;
	struct config_net nics[CONFIG_MAX_NICS];
	unsigned nnics;
	bool rng;
	bool virtio_console; /* stdin goes to hvc0 (virtio-console) instead of COM1 */
	char *owned[CONFIG_MAX_DISKS + CONFIG_MAX_NICS]; /* strdup'd option strings */
	unsigned nowned;
};

void config_free(struct vm_config *cfg);

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
