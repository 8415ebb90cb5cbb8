/* Command-line parsing and validation into struct vm_config; no KVM calls here. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

const char config_usage_text[] =
    "Usage: kvmbox run --kernel FILE [options]\n"
    "       kvmbox run --restore DIR [--paused] [--net-override IFACE_ID=TAP] [--api-sock PATH]\n"
    "       kvmbox --api-sock PATH [--config-file FILE] [--id ID] [--metrics-path FILE]\n"
    "              [--seccomp kill|log|off] [--jail DIR --uid N --gid N ...]\n"
    "       kvmbox --config-file FILE [--no-api]\n"
    "       kvmbox ctl SOCKET status|pause|resume|stop|stats|top|ctrl-alt-del|flush-metrics\n"
    "       kvmbox --help | --version\n"
    "\n"
    "Run a guest on Linux KVM. The guest's serial console (COM1) is on stdin/stdout.\n"
    "With --api-sock, kvmbox serves Firecracker's REST API on a unix socket (and waits for\n"
    "InstanceStart unless --config-file boots the VM); `kvmbox ctl` is its client.\n"
    "\n"
    "Options for run:\n"
    "  --kernel FILE        bzImage, ELF vmlinux with a PVH note, or a Multiboot v1 kernel\n"
    "  --initrd FILE        initial ramdisk (Linux) or first module (Multiboot)\n"
    "  --cmdline STR        kernel command line (default for Linux: \"" CONFIG_DEFAULT_CMDLINE
    "\";\n"
    "                       a Multiboot kernel gets its path, then STR if given)\n"
    "  --memory SIZE        guest RAM, e.g. 512M or 2G; a plain number is MiB (default 512M)\n"
    "  --cpus N             number of vCPUs, 1-255 (default 1)\n"
    "  --cpu-template NAME  auto (default), host (pass the host CPU through), or pvm\n"
    "                       (profile for restricted software KVM backends such as kvm_pvm)\n"
    "  --disk path=FILE[,ro=on][,id=S][,transport=pci|mmio]   virtio-blk (up to 8)\n"
    "  --net tap=NAME[,mac=MAC][,transport=pci|mmio]         virtio-net (up to 4)\n"
    "  --vsock cid=N,uds=PATH  virtio-vsock, Firecracker's hybrid unix-socket model\n"
    "  --rng                virtio-rng;  --console serial|virtio: where stdin goes\n"
    "  --api-sock PATH      also serve the API (pause/resume, stats) for this VM\n"
    "  --gdb tcp:HOST:PORT|unix:PATH  serve the gdb remote protocol (all-stop, a thread\n"
    "                       per vCPU); --gdb-wait: the guest waits for gdb before its first\n"
    "                       instruction\n"
    "  --stats              print exit and timing statistics at exit\n"
    "  --debug-exit         port 0xf4 ends kvmbox with a status (QEMU's isa-debug-exit)\n"
    "  --test-devices       --debug-exit plus QEMU's fw_cfg and pc-testdev, for test\n"
    "                       guests such as kvm-unit-tests\n"
    "  --jail DIR --uid N --gid N [--netns PATH] [--rlimit nofile=N,fsize=B,as=B]\n"
    "                       run confined: new mount/PID/IPC/UTS/network namespaces (or join\n"
    "                       PATH), DIR as /, /dev/kvm and /dev/net/tun made there, no\n"
    "                       capabilities, uid/gid N; file paths are then inside DIR\n"
    "  --seccomp kill|log|off  system-call filters per thread (default kill: a call outside\n"
    "                       the lists stops kvmbox; log: allowed, logged by the kernel);\n"
    "                       --no-seccomp = --seccomp off\n"
    "  --restore DIR        start from the snapshot in DIR (DIR/vmstate, DIR/memory, as\n"
    "                       `kvmbox ctl SOCKET snapshot DIR` writes them) instead of\n"
    "                       booting; --paused keeps it paused (resume through the API);\n"
    "                       --net-override IFACE_ID=TAP puts a NIC on another tap\n"
    "  --syscall-completion on|off  on kvm_pvm, complete the guest's SYSCALLs in kvmbox (an\n"
    "                       unmodified Linux's user space; default off, not yet verified there)\n"
    "  --accel kvm|emu      kvm (default), or emu: no /dev/kvm, every instruction in kvmbox's\n"
    "                       x86 emulator (multiboot guests, SMP, APICs; no virtio)\n"
    "  -v, --verbose        more log output (repeat for debug)\n"
    "\n"
    "Console keys: Ctrl-A x quits, Ctrl-A h lists the keys, Ctrl-A a sends Ctrl-A.\n"
    "Exit status: 0 guest powered off (or Ctrl-A x), 2 bad input, 4 guest reboot,\n"
    "6 triple fault, 8 unhandled guest exit or emulation failure, 10 host/KVM failure,\n"
    "128+N killed by signal N, (v<<1)|1 when a test guest writes v to debug-exit port 0xf4.\n";

static int config_err(char *err, unsigned errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_err(char *err, unsigned errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 20;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' || *end == 'b' || *end == 'B')
		end += (*end == 'i' && (end[1] == 'B' || end[1] == 'b')) ? 2 : 1;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int config_check_file(const char *what, const char *path, char *err, unsigned errlen)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO with no writer must not hang kvmbox here; it is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return config_err(err, errlen, "cannot open %s '%s': %s", what, path,
				  strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return config_err(err, errlen, "%s '%s' is not a regular file", what, path);
	}
	close(fd);
	if (st.st_size == 0)
		return config_err(err, errlen, "%s '%s' is empty", what, path);
	return 0;
}

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_TEMPLATE,
	OPT_STATS,
	OPT_DISK,
	OPT_NET,
	OPT_RNG,
	OPT_CONSOLE,
	OPT_DEBUG_EXIT,
	OPT_TEST_DEVICES,
	OPT_NO_IOEVENTFD,
	OPT_VSOCK,
	OPT_API_SOCK,
	OPT_GDB,
	OPT_GDB_WAIT,
	OPT_SECCOMP,
	OPT_NO_SECCOMP,
	OPT_JAIL,
	OPT_UID,
	OPT_GID,
	OPT_NETNS,
	OPT_RLIMIT,
	OPT_RESTORE,
	OPT_PAUSED,
	OPT_NET_OVERRIDE,
	OPT_SYSCALL_COMPLETION,
	OPT_ACCEL,
};

#define CONFIG_JAIL_OPTS                                                                           \
	{ "jail", required_argument, NULL, OPT_JAIL },                                             \
	    { "uid", required_argument, NULL, OPT_UID },                                           \
	    { "gid", required_argument, NULL, OPT_GID },                                           \
	    { "netns", required_argument, NULL, OPT_NETNS },                                       \
	{                                                                                          \
		"rlimit", required_argument, NULL, OPT_RLIMIT                                      \
	}

static int config_id(const char *opt, const char *v, uint32_t *out, char *err, unsigned errlen)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n >= 0xffffffffUL)
		return config_err(err, errlen, "invalid %s '%s' (a numeric id)", opt, v);
	if (n == 0)
		return config_err(err, errlen, "%s 0 would keep root's privileges in the jail",
				  opt);
	*out = (uint32_t)n;
	return 0;
}

/* --rlimit nofile=N[,fsize=BYTES][,as=BYTES] */
static int config_rlimit(struct config_jail *j, const char *v, char *err, unsigned errlen)
{
	char buf[128], *save = NULL, *tok;

	j->have_rlimit = true;
	if (strlen(v) >= sizeof(buf))
		return config_err(err, errlen, "--rlimit value too long");
	strcpy(buf, v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long long n;

		if (!eq)
			return config_err(err, errlen,
					  "--rlimit '%s': want nofile=N,fsize=BYTES,as=BYTES", v);
		*eq = '\0';
		errno = 0;
		n = strtoull(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || eq[1] == '-' || n == 0)
			return config_err(err, errlen, "--rlimit %s: invalid value '%s'", tok,
					  eq + 1);
		if (!strcmp(tok, "nofile")) {
			if (n < 64 || n > (1u << 20))
				return config_err(
				    err, errlen,
				    "--rlimit nofile=%llu out of range (64 to 1048576)", n);
			j->nofile = n;
		} else if (!strcmp(tok, "fsize")) {
			j->fsize = n;
		} else if (!strcmp(tok, "as")) {
			j->as = n;
		} else {
			return config_err(err, errlen,
					  "--rlimit: unknown limit '%s' (nofile, fsize, as)", tok);
		}
	}
	return 0;
}

/* The jail options, shared by run and serve; 1 if c is not one of them. */
static int config_jail_opt(struct vm_config *cfg, int c, const char *v, char *err, unsigned errlen)
{
	struct config_jail *j = &cfg->jail;

	switch (c) {
	case OPT_JAIL:
		if (!*v)
			return config_err(err, errlen, "--jail needs a directory");
		j->root = v;
		return 0;
	case OPT_UID:
		j->have_uid = true;
		return config_id("--uid", v, &j->uid, err, errlen);
	case OPT_GID:
		j->have_gid = true;
		return config_id("--gid", v, &j->gid, err, errlen);
	case OPT_NETNS:
		j->netns = v;
		return 0;
	case OPT_RLIMIT:
		return config_rlimit(j, v, err, errlen);
	default:
		return 1;
	}
}

static int config_jail_check(const struct vm_config *cfg, char *err, unsigned errlen)
{
	const struct config_jail *j = &cfg->jail;

	if (!j->root) {
		if (j->have_uid || j->have_gid || j->netns || j->have_rlimit)
			return config_err(err, errlen,
					  "--uid, --gid, --netns and --rlimit need --jail DIR");
		return 0;
	}
	if (!j->have_uid || !j->have_gid)
		return config_err(err, errlen, "--jail needs --uid N and --gid N to run as");
	return 0;
}

void config_free(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nowned; i++)
		free(cfg->owned[i]);
	free(cfg->owned);
	cfg->owned = NULL;
	cfg->nowned = cfg->owned_cap = 0;
}

void config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->memory = CONFIG_DEFAULT_MEMORY;
	cfg->cpus = 1;
	cfg->cpu_template = "auto";
	cfg->seccomp = SYSCALL_FILTER_KILL;
	cfg->jail.nofile = 2048; /* Firecracker's jailer default */
}

/* --seccomp MODE and --no-seccomp, shared by run and serve. */
static int config_seccomp(struct vm_config *cfg, const char *mode, char *err, unsigned errlen)
{
	if (!mode) {
		cfg->seccomp = SYSCALL_FILTER_OFF;
		return 0;
	}
	if (syscall_filter_parse_mode(mode, &cfg->seccomp))
		return config_err(err, errlen, "unknown --seccomp '%s' (kill, log, off)", mode);
	return 0;
}

/* Takes ownership of p (freed on failure too). */
static char *config_own(struct vm_config *cfg, char *p)
{
	if (!p)
		return NULL;
	if (cfg->nowned == cfg->owned_cap) {
		unsigned cap = cfg->owned_cap ? cfg->owned_cap * 2 : 16;
		char **o = realloc(cfg->owned, cap * sizeof(*o));

		if (!o) {
			free(p);
			return NULL;
		}
		cfg->owned = o;
		cfg->owned_cap = cap;
	}
	cfg->owned[cfg->nowned++] = p;
	return p;
}

const char *config_strdup(struct vm_config *cfg, const char *s)
{
	return s ? config_own(cfg, strdup(s)) : NULL;
}

void config_strfree(struct vm_config *cfg, const char *s)
{
	if (!s)
		return;
	/* From the end: the string replaced is most often a recent one. */
	for (unsigned i = cfg->nowned; i-- > 0;)
		if (cfg->owned[i] == s) {
			free(cfg->owned[i]);
			cfg->owned[i] = cfg->owned[--cfg->nowned];
			return;
		}
}

/*
 * Guest RAM is mapped lazily, so an oversized guest would start and then take the host's memory
 * page by page until the OOM killer picks someone. Refuse, up front, RAM this host could never
 * commit: more than its RAM and swap together.
 */
static int config_check_host_memory(uint64_t bytes, char *err, unsigned errlen)
{
	struct sysinfo si;
	uint64_t unit, ram, swap;

	if (sysinfo(&si) < 0)
		return 0; /* nothing to compare with: the mapping's own accounting still applies */
	unit = si.mem_unit ? si.mem_unit : 1;
	ram = (uint64_t)si.totalram * unit;
	swap = (uint64_t)si.totalswap * unit;
	if (bytes > ram + swap)
		return config_err(
		    err, errlen,
		    "guest memory %llu MiB is more than this host can commit (%llu MiB "
		    "of RAM, %llu MiB of swap)",
		    (unsigned long long)(bytes >> 20), (unsigned long long)(ram >> 20),
		    (unsigned long long)(swap >> 20));
	return 0;
}

int config_check_memory(uint64_t bytes, char *err, unsigned errlen)
{
	if (bytes & 0xfff)
		return config_err(err, errlen, "memory size %llu is not a multiple of 4 KiB",
				  (unsigned long long)bytes);
	if (bytes < CONFIG_MIN_MEMORY || bytes > CONFIG_MAX_MEMORY)
		return config_err(err, errlen, "memory size %llu MiB out of range (2 MiB to 1 TiB)",
				  (unsigned long long)(bytes >> 20));
	return config_check_host_memory(bytes, err, errlen);
}

static int config_transport(const char *v, enum config_transport *t)
{
	if (!strcmp(v, "pci"))
		*t = CONFIG_TRANSPORT_PCI;
	else if (!strcmp(v, "mmio"))
		*t = CONFIG_TRANSPORT_MMIO;
	else
		return -EINVAL;
	return 0;
}

static int config_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int config_parse_mac(const char *v, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 ||
	    strlen(v) != 17)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1) /* multicast bit: not a station address */
		return -EINVAL;
	return 0;
}

/*
 * Split a "key=value,key=value" option (a private copy, kept in cfg->owned) and hand each pair
 * to fn. Errors name the option and the offending part.
 */
static int config_kv(struct vm_config *cfg, const char *opt, const char *arg,
		     int (*fn)(struct vm_config *cfg, const char *k, const char *v, char *err,
			       unsigned errlen),
		     char *err, unsigned errlen)
{
	char *copy = config_own(cfg, strdup(arg)), *save = NULL;
	int ret = 0;

	if (!copy)
		return config_err(err, errlen, "out of memory parsing %s", opt);
	for (char *kv = strtok_r(copy, ",", &save); kv && !ret; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		if (!eq || eq == kv || !eq[1])
			return config_err(err, errlen, "%s: '%s' is not key=value", opt, kv);
		*eq = '\0';
		ret = fn(cfg, kv, eq + 1, err, errlen);
	}
	return ret;
}

static int config_disk_kv(struct vm_config *cfg, const char *k, const char *v, char *err,
			  unsigned errlen)
{
	struct config_disk *d = &cfg->disks[cfg->ndisks];

	if (!strcmp(k, "path"))
		d->path = v;
	else if (!strcmp(k, "ro")) {
		if (config_bool(v, &d->readonly))
			return config_err(err, errlen, "--disk: ro=%s is not on or off", v);
	} else if (!strcmp(k, "id")) {
		if (strlen(v) > 20)
			return config_err(err, errlen, "--disk: id '%s' is longer than 20 bytes",
					  v);
		d->serial = v;
	} else if (!strcmp(k, "transport")) {
		if (config_transport(v, &d->transport))
			return config_err(err, errlen, "--disk: unknown transport '%s' (pci, mmio)",
					  v);
	} else
		return config_err(err, errlen, "--disk: unknown key '%s' (path, ro, id, transport)",
				  k);
	return 0;
}

static int config_net_kv(struct vm_config *cfg, const char *k, const char *v, char *err,
			 unsigned errlen)
{
	struct config_net *n = &cfg->nics[cfg->nnics];

	if (!strcmp(k, "tap")) {
		if (strlen(v) >= 16)
			return config_err(err, errlen, "--net: tap name '%s' is too long (max 15)",
					  v);
		n->tap = v;
	} else if (!strcmp(k, "mac")) {
		if (config_parse_mac(v, n->mac))
			return config_err(err, errlen,
					  "--net: invalid mac '%s' (unicast xx:xx:xx:xx:xx:xx)", v);
		n->has_mac = true;
	} else if (!strcmp(k, "transport")) {
		if (config_transport(v, &n->transport))
			return config_err(err, errlen, "--net: unknown transport '%s' (pci, mmio)",
					  v);
	} else
		return config_err(err, errlen, "--net: unknown key '%s' (tap, mac, transport)", k);
	return 0;
}

static int config_vsock_kv(struct vm_config *cfg, const char *k, const char *v, char *err,
			   unsigned errlen)
{
	char *end;
	unsigned long long n;

	if (!strcmp(k, "cid")) {
		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno || end == v || *end || *v == '-' || n < 3 || n >= UINT32_MAX)
			return config_err(err, errlen, "--vsock: invalid cid '%s' (3 to 2^32-2)",
					  v);
		cfg->vsock.guest_cid = n;
	} else if (!strcmp(k, "uds")) {
		/* <uds>_<port> must fit a sockaddr_un (107 bytes) for any 32-bit port. */
		if (strlen(v) > 96)
			return config_err(err, errlen,
					  "--vsock: uds path '%s' is too long (96 bytes at most)",
					  v);
		cfg->vsock.uds_path = v;
	} else
		return config_err(err, errlen, "--vsock: unknown key '%s' (cid, uds)", k);
	return 0;
}

int config_check_files(const struct vm_config *cfg, char *err, unsigned errlen)
{
	int ret = 0;

	if (!cfg->kernel)
		return config_err(err, errlen, "no kernel configured");
	ret = config_check_file("kernel", cfg->kernel, err, errlen);
	if (!ret && cfg->initrd)
		ret = config_check_file("initrd", cfg->initrd, err, errlen);
	for (unsigned i = 0; !ret && i < cfg->ndisks; i++) {
		const struct config_disk *d = &cfg->disks[i];

		if (access(d->path, R_OK) < 0)
			ret = config_err(err, errlen, "cannot open disk image '%s': %s", d->path,
					 strerror(errno));
		else if (!d->readonly && access(d->path, W_OK) < 0)
			ret = config_err(
			    err, errlen,
			    "disk image '%s' is not writable: %s (use ro=on for read-only)",
			    d->path, strerror(errno));
	}
	return ret;
}

/* kvmbox [--api-sock PATH] [--config-file FILE] [--id ID] [-v]: Firecracker's command line. */
static int config_parse_serve(struct vm_config *cfg, int argc, char **argv, char *err,
			      unsigned errlen)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 'a' },
		{ "config-file", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'i' },
		{ "no-api", no_argument, NULL, 'n' },
		{ "log-path", required_argument, NULL, 'l' },
		{ "metrics-path", required_argument, NULL, 'm' },
		{ "level", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		CONFIG_JAIL_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	bool no_api = false;
	int r;
	int c;

	cfg->action = CONFIG_ACTION_SERVE;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (strlen(optarg) >= 108)
				return config_err(err, errlen, "--api-sock path '%s' is too long",
						  optarg);
			cfg->api_sock = optarg;
			break;
		case 'c':
			cfg->config_file = optarg;
			break;
		case 'i':
			cfg->instance_id = optarg;
			break;
		case 'n':
			no_api = true;
			break;
		case 'l':
			cfg->log_path = optarg;
			break;
		case 'm':
			cfg->metrics_path = optarg;
			break;
		case 'L':
			if (!strcasecmp(optarg, "debug") || !strcasecmp(optarg, "trace"))
				cfg->verbosity = 2;
			else if (!strcasecmp(optarg, "info"))
				cfg->verbosity = 1;
			else if (strcasecmp(optarg, "warn") && strcasecmp(optarg, "warning") &&
				 strcasecmp(optarg, "error") && strcasecmp(optarg, "off"))
				return config_err(
				    err, errlen,
				    "unknown --level '%s' (Error, Warning, Info, Debug)", optarg);
			break;
		case 'v':
			cfg->verbosity++;
			break;
		case OPT_SECCOMP:
		case OPT_NO_SECCOMP:
			if (config_seccomp(cfg, c == OPT_SECCOMP ? optarg : NULL, err, errlen))
				return -EINVAL;
			break;
		case ':':
			return config_err(err, errlen, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			r = config_jail_opt(cfg, c, optarg, err, errlen);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			return config_err(err, errlen, "unknown option '%s' (try 'kvmbox --help')",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return config_err(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (no_api)
		cfg->api_sock = NULL;
	if (!cfg->api_sock && !cfg->config_file)
		return config_err(err, errlen, "%s",
				  no_api ? "--no-api needs --config-file FILE"
					 : "give --api-sock PATH or --config-file FILE");
	return config_jail_check(cfg, err, errlen);
}

/* --accel emu: what the emulated machine does not have yet, refused by name. */
static int config_check_accel(const struct vm_config *cfg, char *err, unsigned errlen)
{
	const char *virtio = cfg->ndisks	   ? "--disk"
			     : cfg->nnics	   ? "--net"
			     : cfg->vsock.enabled  ? "--vsock"
			     : cfg->rng		   ? "--rng"
			     : cfg->virtio_console ? "--console virtio"
						   : NULL;

	if (!cfg->accel_emu)
		return 0;
	if (virtio)
		return config_err(err, errlen,
				  "--accel emu has no virtio devices yet (%s needs KVM's ioeventfd "
				  "and irqfd)",
				  virtio);
	if (cfg->gdb)
		return config_err(err, errlen,
				  "--gdb needs KVM (the stub works through KVM's guest debugging)");
	if (cfg->syscall_completion)
		return config_err(err, errlen,
				  "--syscall-completion on is for KVM's kvm_pvm backend");
	if (strcmp(cfg->cpu_template, "auto"))
		return config_err(
		    err, errlen,
		    "--cpu-template %s is a KVM template: under --accel emu the CPU is "
		    "the emulator's",
		    cfg->cpu_template);
	return 0;
}

int config_parse(struct vm_config *cfg, int argc, char **argv, char *err, unsigned errlen)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "cpu-template", required_argument, NULL, OPT_TEMPLATE },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
		{ "test-devices", no_argument, NULL, OPT_TEST_DEVICES },
		{ "no-ioeventfd", no_argument, NULL, OPT_NO_IOEVENTFD },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "api-sock", required_argument, NULL, OPT_API_SOCK },
		{ "gdb", required_argument, NULL, OPT_GDB },
		{ "gdb-wait", no_argument, NULL, OPT_GDB_WAIT },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "paused", no_argument, NULL, OPT_PAUSED },
		{ "net-override", required_argument, NULL, OPT_NET_OVERRIDE },
		{ "syscall-completion", required_argument, NULL, OPT_SYSCALL_COMPLETION },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		CONFIG_JAIL_OPTS,
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *shaping = NULL; /* the first option that shapes the VM (not with --restore) */
	char *end;
	unsigned long n;
	int c, ret;

	config_init(cfg);
	if (argc < 2)
		return config_err(err, errlen, "no command given (try 'kvmbox --help')");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cfg->action = CONFIG_ACTION_HELP;
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		cfg->action = CONFIG_ACTION_VERSION;
		return 0;
	}
	if (!strncmp(argv[1], "--api-sock", 10) || !strncmp(argv[1], "--config-file", 13) ||
	    !strncmp(argv[1], "--id", 4) || !strcmp(argv[1], "--no-api") ||
	    !strncmp(argv[1], "--level", 7) || !strncmp(argv[1], "--log-path", 10) ||
	    !strncmp(argv[1], "--metrics-path", 14) || !strcmp(argv[1], "-v") ||
	    !strncmp(argv[1], "--seccomp", 9) || !strcmp(argv[1], "--no-seccomp") ||
	    !strncmp(argv[1], "--jail", 6))
		return config_parse_serve(cfg, argc, argv, err, errlen);
	if (!strcmp(argv[1], "ctl")) {
		if (argc < 4)
			return config_err(
			    err, errlen,
			    "usage: kvmbox ctl SOCKET "
			    "status|pause|resume|stop|stats|top|ctrl-alt-del|flush-metrics");
		cfg->action = CONFIG_ACTION_CTL;
		cfg->api_sock = argv[2];
		cfg->ctl_argv = argv + 3;
		cfg->ctl_argc = argc - 3;
		return 0;
	}
	if (strcmp(argv[1], "run"))
		return config_err(err, errlen, "unknown command '%s' (try 'kvmbox --help')",
				  argv[1]);
	cfg->action = CONFIG_ACTION_RUN;

	char **av = argv + 1; /* getopt sees "run" as its program name */
	int ac = argc - 1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(ac, av, ":vh", opts, NULL)) != -1) {
		if (!shaping &&
		    ((c >= OPT_KERNEL && c <= OPT_VSOCK && c != OPT_STATS) || c == OPT_GDB_WAIT))
			for (const struct option *o = opts; o->name && !shaping; o++)
				if (o->val == c)
					shaping = o->name;
		switch (c) {
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_RESTORE:
			cfg->restore_dir = optarg;
			break;
		case OPT_PAUSED:
			cfg->restore_paused = true;
			break;
		case OPT_SYSCALL_COMPLETION:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return config_err(err, errlen,
						  "invalid --syscall-completion '%s' (on, off)",
						  optarg);
			cfg->syscall_completion = !strcmp(optarg, "on");
			break;
		case OPT_ACCEL:
			if (strcmp(optarg, "kvm") && strcmp(optarg, "emu"))
				return config_err(err, errlen, "unknown --accel '%s' (kvm, emu)",
						  optarg);
			cfg->accel_emu = !strcmp(optarg, "emu");
			break;
		case OPT_NET_OVERRIDE: {
			const char *eq = strchr(optarg, '=');
			struct config_net_override *o = &cfg->net_overrides[cfg->nnet_overrides];

			if (cfg->nnet_overrides == CONFIG_MAX_NICS)
				return config_err(err, errlen,
						  "too many --net-override options (max %d)",
						  CONFIG_MAX_NICS);
			if (!eq || eq == optarg || !eq[1] || strlen(eq + 1) > 15)
				return config_err(err, errlen,
						  "invalid --net-override '%s' (want IFACE_ID=TAP)",
						  optarg);
			o->tap = eq + 1;
			o->iface_id = config_own(cfg, strndup(optarg, (size_t)(eq - optarg)));
			if (!o->iface_id)
				return config_err(err, errlen, "out of memory");
			cfg->nnet_overrides++;
			break;
		}
		case OPT_INITRD:
			cfg->initrd = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_STATS:
			cfg->stats = true;
			break;
		case OPT_NO_IOEVENTFD:
			cfg->no_ioeventfd = true;
			break;
		case OPT_DEBUG_EXIT:
			cfg->debug_exit = true;
			break;
		case OPT_TEST_DEVICES:
			cfg->test_devices = true;
			cfg->debug_exit = true;
			break;
		case OPT_RNG:
			cfg->rng = true;
			break;
		case OPT_CONSOLE:
			if (strcmp(optarg, "serial") && strcmp(optarg, "virtio"))
				return config_err(
				    err, errlen, "unknown --console '%s' (serial, virtio)", optarg);
			cfg->virtio_console = !strcmp(optarg, "virtio");
			break;
		case OPT_DISK:
			if (cfg->ndisks == CONFIG_MAX_DISKS)
				return config_err(err, errlen, "too many --disk options (max %d)",
						  CONFIG_MAX_DISKS);
			ret = config_kv(cfg, "--disk", optarg, config_disk_kv, err, errlen);
			if (ret)
				return ret;
			if (!cfg->disks[cfg->ndisks].path)
				return config_err(err, errlen, "--disk needs path=FILE");
			cfg->ndisks++;
			break;
		case OPT_NET:
			if (cfg->nnics == CONFIG_MAX_NICS)
				return config_err(err, errlen, "too many --net options (max %d)",
						  CONFIG_MAX_NICS);
			ret = config_kv(cfg, "--net", optarg, config_net_kv, err, errlen);
			if (ret)
				return ret;
			if (!cfg->nics[cfg->nnics].tap)
				return config_err(err, errlen, "--net needs tap=NAME");
			cfg->nnics++;
			break;
		case OPT_VSOCK:
			if (cfg->vsock.enabled)
				return config_err(err, errlen, "only one --vsock");
			ret = config_kv(cfg, "--vsock", optarg, config_vsock_kv, err, errlen);
			if (ret)
				return ret;
			if (!cfg->vsock.guest_cid || !cfg->vsock.uds_path)
				return config_err(err, errlen, "--vsock needs cid=N,uds=PATH");
			cfg->vsock.enabled = true;
			break;
		case OPT_API_SOCK:
			if (strlen(optarg) >= 108)
				return config_err(err, errlen, "--api-sock path '%s' is too long",
						  optarg);
			cfg->api_sock = optarg;
			break;
		case OPT_GDB:
			if (strncmp(optarg, "tcp:", 4) && strncmp(optarg, "unix:", 5))
				return config_err(err, errlen,
						  "--gdb '%s': want tcp:HOST:PORT or unix:PATH",
						  optarg);
			cfg->gdb = optarg;
			break;
		case OPT_GDB_WAIT:
			cfg->gdb_wait = true;
			break;
		case OPT_SECCOMP:
		case OPT_NO_SECCOMP:
			if (config_seccomp(cfg, c == OPT_SECCOMP ? optarg : NULL, err, errlen))
				return -EINVAL;
			break;
		case 'v':
			cfg->verbosity++;
			break;
		case 'h':
			cfg->action = CONFIG_ACTION_HELP;
			return 0;
		case OPT_MEMORY:
			if (config_parse_size(optarg, &cfg->memory))
				return config_err(err, errlen,
						  "invalid --memory '%s' (e.g. 512M, 2G)", optarg);
			if (cfg->memory & 0xfff)
				return config_err(err, errlen,
						  "--memory %s is not a multiple of 4 KiB", optarg);
			if (cfg->memory < CONFIG_MIN_MEMORY || cfg->memory > CONFIG_MAX_MEMORY)
				return config_err(err, errlen,
						  "--memory %s out of range (2M to 1T)", optarg);
			break;
		case OPT_CPUS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || n < 1 ||
			    n > CONFIG_MAX_CPUS)
				return config_err(err, errlen, "invalid --cpus '%s' (1-%u)", optarg,
						  CONFIG_MAX_CPUS);
			cfg->cpus = (unsigned)n;
			break;
		case OPT_TEMPLATE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "host") &&
			    strcmp(optarg, "pvm"))
				return config_err(err, errlen,
						  "unknown --cpu-template '%s' (auto, host, pvm)",
						  optarg);
			cfg->cpu_template = optarg;
			break;
		case ':':
			return config_err(err, errlen, "option '%s' needs a value", av[optind - 1]);
		default:
			ret = config_jail_opt(cfg, c, optarg, err, errlen);
			if (ret < 0)
				return ret;
			if (ret == 0)
				break;
			return config_err(err, errlen, "unknown option '%s' (try 'kvmbox --help')",
					  av[optind - 1]);
		}
	}
	if (optind < ac)
		return config_err(err, errlen, "unexpected argument '%s'", av[optind]);
	if (cfg->accel_emu && cfg->restore_dir)
		return config_err(
		    err, errlen,
		    "--accel emu cannot restore a snapshot (it holds KVM's vCPU state)");
	if (cfg->restore_dir) {
		if (shaping)
			return config_err(
			    err, errlen,
			    "--%s cannot be combined with --restore: the machine and its "
			    "devices come from the snapshot",
			    shaping);
		return config_jail_check(cfg, err, errlen);
	}
	if (cfg->restore_paused || cfg->nnet_overrides)
		return config_err(err, errlen, "%s needs --restore DIR",
				  cfg->restore_paused ? "--paused" : "--net-override");
	if (!cfg->kernel)
		return config_err(err, errlen, "run needs --kernel FILE (or --restore DIR)");
	if (cfg->gdb_wait && !cfg->gdb)
		return config_err(err, errlen, "--gdb-wait needs --gdb ADDRESS");
	if (cfg->gdb && cfg->syscall_completion)
		return config_err(
		    err, errlen, "--gdb and --syscall-completion on both need the debug registers");
	ret = config_check_accel(cfg, err, errlen);
	if (ret)
		return ret;
	ret = config_jail_check(cfg, err, errlen);
	if (!ret)
		ret = config_check_host_memory(cfg->memory, err, errlen);
	/* Jailed, the paths name files inside the jail: vmm_start checks them there. */
	if (!ret && !cfg->jail.root)
		ret = config_check_files(cfg, err, errlen);
	return ret;
}
