/* Unit tests of command-line parsing: sizes, ranges, files, and the error messages users see. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char kernel_path[] = "/tmp/kvmbox-test-kernel-XXXXXX";

static int parse(struct vm_config *cfg, char *err, const char *a1, const char *a2, const char *a3,
		 const char *a4, const char *a5)
{
	char *argv[8] = { "kvmbox" };
	const char *in[] = { a1, a2, a3, a4, a5 };
	int argc = 1;

	for (unsigned i = 0; i < 5 && in[i]; i++)
		argv[argc++] = (char *)in[i];
	return config_parse(cfg, argc, argv, err, 256);
}

static void test_sizes(void)
{
	uint64_t v;

	CHECK_EQ(config_parse_size("512M", &v), 0);
	CHECK_EQ(v, 512ull << 20);
	CHECK_EQ(config_parse_size("2G", &v), 0);
	CHECK_EQ(v, 2ull << 30);
	CHECK_EQ(config_parse_size("64", &v), 0);
	CHECK_EQ(v, 64ull << 20);
	CHECK_EQ(config_parse_size("1024k", &v), 0);
	CHECK_EQ(v, 1ull << 20);
	CHECK_EQ(config_parse_size("1GiB", &v), 0);
	CHECK_EQ(v, 1ull << 30);
	CHECK_EQ(config_parse_size("", &v), -EINVAL);
	CHECK_EQ(config_parse_size("-1G", &v), -EINVAL);
	CHECK_EQ(config_parse_size("12X", &v), -EINVAL);
	CHECK_EQ(config_parse_size("99999999999999999999", &v), -EINVAL);
	CHECK_EQ(config_parse_size("20000000000000T", &v), -EINVAL);
}

static void test_run_ok(void)
{
	struct vm_config cfg;
	char err[256];

	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, "--cpus", "4"), 0);
	CHECK_EQ(cfg.action, CONFIG_ACTION_RUN);
	CHECK_EQ(cfg.cpus, 4);
	CHECK_EQ(cfg.memory, CONFIG_DEFAULT_MEMORY);
	CHECK(!strcmp(cfg.cpu_template, "auto"));
	CHECK(cfg.cmdline == NULL);
	CHECK_EQ(parse(&cfg, err, "--help", NULL, NULL, NULL, NULL), 0);
	CHECK_EQ(cfg.action, CONFIG_ACTION_HELP);
	CHECK_EQ(parse(&cfg, err, "--version", NULL, NULL, NULL, NULL), 0);
	CHECK_EQ(cfg.action, CONFIG_ACTION_VERSION);
}

static void expect_error(const char *msg_part, const char *a1, const char *a2, const char *a3,
			 const char *a4, const char *a5)
{
	struct vm_config cfg;
	char err[256] = "";

	CHECK_EQ(parse(&cfg, err, a1, a2, a3, a4, a5), -EINVAL);
	config_free(&cfg);
	if (!strstr(err, msg_part)) {
		fprintf(stderr, "  message '%s' lacks '%s'\n", err, msg_part);
		test_failed_++;
	}
}

static void test_errors(void)
{
	expect_error("no command", NULL, NULL, NULL, NULL, NULL);
	expect_error("unknown command 'fly'", "fly", NULL, NULL, NULL, NULL);
	expect_error("needs --kernel", "run", NULL, NULL, NULL, NULL);
	expect_error("cannot open kernel '/nonexistent/k'", "run", "--kernel", "/nonexistent/k",
		     NULL, NULL);
	expect_error("not a regular file", "run", "--kernel", "/tmp", NULL, NULL);
	expect_error("invalid --cpus '0'", "run", "--kernel", kernel_path, "--cpus", "0");
	expect_error("invalid --cpus '256'", "run", "--kernel", kernel_path, "--cpus", "256");
	expect_error("invalid --cpus 'two'", "run", "--kernel", kernel_path, "--cpus", "two");
	expect_error("invalid --memory 'lots'", "run", "--kernel", kernel_path, "--memory", "lots");
	expect_error("out of range", "run", "--kernel", kernel_path, "--memory", "1");
	expect_error("out of range", "run", "--kernel", kernel_path, "--memory", "4096T");
	expect_error("not a multiple of 4 KiB", "run", "--kernel", kernel_path, "--memory",
		     "2049K");
	expect_error("unknown --cpu-template 'fast'", "run", "--kernel", kernel_path,
		     "--cpu-template", "fast");
	expect_error("unknown option '--frobnicate'", "run", "--frobnicate", NULL, NULL, NULL);
	expect_error("needs a value", "run", "--kernel", NULL, NULL, NULL);
	expect_error("unexpected argument 'extra'", "run", "--kernel", kernel_path, "extra", NULL);
	expect_error("cannot open initrd", "run", "--kernel", kernel_path, "--initrd", "/nope");
	expect_error("cannot open disk image '/nope'", "run", "--kernel", kernel_path, "--disk",
		     "path=/nope");
	expect_error("--disk needs path=FILE", "run", "--kernel", kernel_path, "--disk", "ro=on");
	expect_error("--disk: ro=maybe is not on or off", "run", "--kernel", kernel_path, "--disk",
		     "path=/x,ro=maybe");
	expect_error("--disk: unknown key 'size'", "run", "--kernel", kernel_path, "--disk",
		     "path=/x,size=1");
	expect_error("is not key=value", "run", "--kernel", kernel_path, "--disk", "path");
	expect_error("unknown transport 'isa'", "run", "--kernel", kernel_path, "--disk",
		     "path=/x,transport=isa");
	expect_error("--net needs tap=NAME", "run", "--kernel", kernel_path, "--net",
		     "mac=52:54:00:00:00:01");
	expect_error("invalid mac '01:00:00:00:00:01'", "run", "--kernel", kernel_path, "--net",
		     "tap=t0,mac=01:00:00:00:00:01");
	expect_error("invalid mac '52:54:00:00:00'", "run", "--kernel", kernel_path, "--net",
		     "tap=t0,mac=52:54:00:00:00");
	expect_error("too long", "run", "--kernel", kernel_path, "--net",
		     "tap=averyveryverylongname0");
	expect_error("unknown --console 'vga'", "run", "--kernel", kernel_path, "--console", "vga");
}

static void test_devices(void)
{
	struct vm_config cfg;
	char err[256];
	char *argv[] = { "kvmbox",   "run",
			 "--kernel", kernel_path,
			 "--disk",   "path=/dev/null,ro=on,id=disk0,transport=mmio",
			 "--disk",   NULL,
			 "--net",    "tap=tap0,mac=52:54:00:12:34:56",
			 "--rng",    "--console",
			 "virtio",   NULL };
	char disk2[64];

	snprintf(disk2, sizeof(disk2), "path=%s", kernel_path);
	argv[7] = disk2;
	CHECK_EQ(config_parse(&cfg, 13, argv, err, sizeof(err)), 0);
	CHECK_EQ(cfg.ndisks, 2);
	CHECK(!strcmp(cfg.disks[0].path, "/dev/null"));
	CHECK(cfg.disks[0].readonly);
	CHECK(!strcmp(cfg.disks[0].serial, "disk0"));
	CHECK_EQ(cfg.disks[0].transport, CONFIG_TRANSPORT_MMIO);
	CHECK(!cfg.disks[1].readonly);
	CHECK_EQ(cfg.disks[1].transport, CONFIG_TRANSPORT_PCI);
	CHECK_EQ(cfg.nnics, 1);
	CHECK(!strcmp(cfg.nics[0].tap, "tap0"));
	CHECK(cfg.nics[0].has_mac);
	CHECK_EQ(cfg.nics[0].mac[5], 0x56);
	CHECK(cfg.rng);
	CHECK(cfg.virtio_console);
	config_free(&cfg);
}

/* --test-devices brings fw_cfg and pc-testdev, and debug-exit with them; --debug-exit alone does
 * not. */
static void test_test_devices(void)
{
	struct vm_config cfg;
	char err[256];

	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, NULL, NULL), 0);
	CHECK(!cfg.test_devices);
	CHECK(!cfg.debug_exit);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, "--test-devices", NULL), 0);
	CHECK(cfg.test_devices);
	CHECK(cfg.debug_exit);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--test-devices", "--debug-exit", "--kernel", kernel_path),
		 0);
	CHECK(cfg.test_devices);
	CHECK(cfg.debug_exit);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, "--debug-exit", NULL), 0);
	CHECK(!cfg.test_devices);
	CHECK(cfg.debug_exit);
	config_free(&cfg);
}

static void test_restore(void)
{
	struct vm_config cfg;
	char err[256];

	CHECK_EQ(parse(&cfg, err, "run", "--restore", "/snap", NULL, NULL), 0);
	CHECK(cfg.restore_dir && !strcmp(cfg.restore_dir, "/snap") && !cfg.restore_paused);
	CHECK(!cfg.kernel && cfg.nnet_overrides == 0);
	config_free(&cfg);
	CHECK_EQ(
	    parse(&cfg, err, "run", "--restore", "/snap", "--paused", "--net-override=eth0=tap3"),
	    0);
	CHECK(cfg.restore_paused);
	CHECK_EQ(cfg.nnet_overrides, 1);
	CHECK(!strcmp(cfg.net_overrides[0].iface_id, "eth0") &&
	      !strcmp(cfg.net_overrides[0].tap, "tap3"));
	config_free(&cfg);
	/* What shapes the machine comes from the snapshot: refused, naming the option. */
	CHECK(parse(&cfg, err, "run", "--restore", "/snap", "--memory", "1G") != 0);
	CHECK(strstr(err, "--memory") && strstr(err, "--restore"));
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--kernel", kernel_path, "--restore", "/snap") != 0);
	CHECK(strstr(err, "--kernel") != NULL);
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--restore", "/snap", "--disk", "path=/x") != 0);
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--kernel", kernel_path, "--paused", NULL) != 0);
	CHECK(strstr(err, "--paused needs --restore") != NULL);
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--restore", "/snap", "--net-override", "eth0") != 0);
	CHECK(strstr(err, "IFACE_ID=TAP") != NULL);
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--restore", "/snap", "--net-override", "=tap0") != 0);
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--restore", "/snap", "--net-override",
		    "eth0=a-tap-name-too-long") != 0);
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--restore", NULL, NULL, NULL) != 0);
	CHECK(strstr(err, "needs a value") != NULL);
	config_free(&cfg);
	/* --stats, the API socket and SYSCALL completion are the process's, not the machine's. */
	CHECK_EQ(parse(&cfg, err, "run", "--restore", "/snap", "--stats", NULL), 0);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--restore", "/snap", "--syscall-completion", "on"), 0);
	CHECK(cfg.syscall_completion);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, NULL, NULL), 0);
	CHECK(!cfg.syscall_completion); /* off unless asked for */
	config_free(&cfg);
	CHECK(parse(&cfg, err, "run", "--kernel", kernel_path, "--syscall-completion", "yes") != 0);
	CHECK(strstr(err, "--syscall-completion") != NULL);
	config_free(&cfg);
	/* One owner of the debug registers. */
	{
		char *argv[] = { "kvmbox",
				 "run",
				 "--kernel",
				 kernel_path,
				 "--gdb",
				 "tcp::1234",
				 "--syscall-completion",
				 "on" };

		CHECK(config_parse(&cfg, 8, argv, err, 256) != 0);
		CHECK(strstr(err, "debug registers") != NULL);
		config_free(&cfg);
	}
}

static void test_jail_and_seccomp(void)
{
	struct vm_config cfg;
	char err[256];
	char *argv[] = { "kvmbox",    "run",
			 "--kernel",  "/inside/the/jail",
			 "--jail",    "/srv/j",
			 "--uid",     "1000",
			 "--gid",     "1001",
			 "--netns",   "/run/netns/x",
			 "--rlimit",  "nofile=512,fsize=4096,as=1073741824",
			 "--seccomp", "log",
			 NULL };

	/* Jailed, the kernel path names a file inside the jail: not checked on the host. */
	CHECK_EQ(config_parse(&cfg, 16, argv, err, sizeof(err)), 0);
	CHECK(!strcmp(cfg.jail.root, "/srv/j"));
	CHECK_EQ(cfg.jail.uid, 1000);
	CHECK_EQ(cfg.jail.gid, 1001);
	CHECK(!strcmp(cfg.jail.netns, "/run/netns/x"));
	CHECK_EQ(cfg.jail.nofile, 512);
	CHECK_EQ(cfg.jail.fsize, 4096);
	CHECK_EQ(cfg.jail.as, 1073741824);
	CHECK_EQ(cfg.seccomp, SYSCALL_FILTER_LOG);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, NULL, NULL), 0);
	CHECK_EQ(cfg.seccomp, SYSCALL_FILTER_KILL);
	CHECK(cfg.jail.root == NULL);
	CHECK_EQ(cfg.jail.nofile, 2048);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "run", "--kernel", kernel_path, "--no-seccomp", NULL), 0);
	CHECK_EQ(cfg.seccomp, SYSCALL_FILTER_OFF);
	config_free(&cfg);
	CHECK_EQ(parse(&cfg, err, "--api-sock", "/tmp/a.sock", "--seccomp", "off", NULL), 0);
	CHECK_EQ(cfg.seccomp, SYSCALL_FILTER_OFF);
	config_free(&cfg);
	expect_error("unknown --seccomp 'on'", "run", "--kernel", kernel_path, "--seccomp", "on");
	expect_error("--jail needs --uid N and --gid N", "run", "--kernel", "/k", "--jail", "/j");
	expect_error("need --jail DIR", "run", "--kernel", kernel_path, "--uid", "5");
	expect_error("need --jail DIR", "--api-sock", "/tmp/a.sock", "--netns", "/x", NULL);
	expect_error("--uid 0 would keep root", "run", "--jail", "/j", "--uid", "0");
	expect_error("invalid --gid '-1'", "run", "--jail", "/j", "--gid", "-1");
	expect_error("invalid --uid 'bob'", "run", "--jail", "/j", "--uid", "bob");
	expect_error("unknown limit 'core'", "run", "--jail", "/j", "--rlimit", "core=1");
	expect_error("nofile=8 out of range", "run", "--jail", "/j", "--rlimit", "nofile=8");
	expect_error("invalid value 'x'", "run", "--jail", "/j", "--rlimit", "fsize=x");
	expect_error("want nofile=N", "run", "--jail", "/j", "--rlimit", "nofile");
	expect_error("more than this host can commit", "run", "--kernel", kernel_path, "--memory",
		     "1T");
}

int main(void)
{
	int fd = mkstemp(kernel_path);

	if (fd < 0 || write(fd, "x", 1) != 1)
		return 1;
	close(fd);
	RUN_TEST(test_sizes);
	RUN_TEST(test_run_ok);
	RUN_TEST(test_errors);
	RUN_TEST(test_jail_and_seccomp);
	RUN_TEST(test_devices);
	RUN_TEST(test_test_devices);
	RUN_TEST(test_restore);
	unlink(kernel_path);
	TEST_EXIT();
}
