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
	expect_error("unknown --cpu-template 'fast'", "run", "--kernel", kernel_path,
		     "--cpu-template", "fast");
	expect_error("unknown option '--frobnicate'", "run", "--frobnicate", NULL, NULL, NULL);
	expect_error("needs a value", "run", "--kernel", NULL, NULL, NULL);
	expect_error("unexpected argument 'extra'", "run", "--kernel", kernel_path, "extra", NULL);
	expect_error("cannot open initrd", "run", "--kernel", kernel_path, "--initrd", "/nope");
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
	unlink(kernel_path);
	TEST_EXIT();
}
