/* Seccomp filters per thread role: each case runs in a forked child that installs a role's filter
 * and makes calls; a forbidden one must kill the child with SIGSYS after one log line naming it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syscall_filter.h"
#include "test.h"

/* Sanitizer builds add the runtime's own calls (openat, clone, execve, mmap...) to every list. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER 1
#endif
#endif
#ifndef SANITIZER
#define SANITIZER 0
#endif

struct child_result {
	int status;
	char err[1024];
};

/* Forks; the child installs role's filter in mode and runs fn; returns how it ended and its
 * stderr. fn returns the child's exit status (0 = every allowed call worked). */
static void run_child(enum syscall_filter_role role, enum syscall_filter_mode mode, int (*fn)(void),
		      struct child_result *r)
{
	int pipefd[2];
	ssize_t n, len = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(pipefd) < 0) {
		r->status = -1;
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		syscall_filter_set_mode(mode);
		if (syscall_filter_install(role))
			_exit(90);
		_exit(fn());
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], r->err + len, sizeof(r->err) - 1 - len)) > 0)
		len += n;
	close(pipefd[0]);
	waitpid(pid, &r->status, 0);
}

static int killed_by_sigsys(const struct child_result *r)
{
	return WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGSYS;
}

static int exited_ok(const struct child_result *r)
{
	if (!(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0))
		fprintf(stderr, "  child status 0x%x, stderr: %s\n", r->status, r->err);
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* ---- what each role may do ---- */

static int vcpu_allowed_calls(void)
{
	struct timespec ts;
	struct tm tm;
	uint64_t one = 1;
	char *p;
	int efd;

	if (getpid() <= 0 || clock_gettime(CLOCK_MONOTONIC, &ts))
		return 1;
	/* The RTC model's time conversion: glibc's first one opens /etc/localtime, which the filter
	 * forbids on this thread; installing the first filter loaded it beforehand. */
	if (!gmtime_r(&ts.tv_sec, &tm))
		return 18;
	p = malloc(4 << 20); /* mmap */
	if (!p)
		return 2;
	memset(p, 1, 4 << 20);
	free(p);
	/* KVM_RUN on a bad descriptor: the filter lets it through, the kernel says EBADF. */
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		return 3;
	/* What the instruction emulator asks of its vCPU (CPUID, TSC MSRs, XCR0). */
	if (ioctl(-1, KVM_GET_CPUID2, 0) != -1 || errno != EBADF)
		return 19;
	if (ioctl(-1, KVM_GET_MSRS, 0) != -1 || errno != EBADF)
		return 20;
	if (ioctl(-1, KVM_SET_XCRS, 0) != -1 || errno != EBADF)
		return 21;
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0 || write(efd, &one, sizeof(one)) != sizeof(one))
		return 4;
	close(efd);
	return 0;
}

static int vcpu_socket(void)
{
	return socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 5;
}

static int vcpu_vm_ioctl(void)
{
	ioctl(-1, KVM_CREATE_VM, 0);
	return 0;
}

static int exec_mapping(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? 6 : 0;
}

static int open_file(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : 7;
}

static int io_unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 8;
	close(fd);
	return 0;
}

static int io_inet_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
	return 0;
}

static void *thread_fn(void *arg)
{
	return arg;
}

static int main_allowed_calls(void)
{
	static int token;
	pthread_t t;
	void *ret;
	int fd;

	if (open_file())
		return 9;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 10;
	close(fd);
	/* clone3 answers ENOSYS, glibc falls back to clone(CLONE_THREAD...), which is allowed. */
	if (pthread_create(&t, NULL, thread_fn, &token) || pthread_join(t, &ret) || ret != &token)
		return 11;
	return 0;
}

static int main_exec(void)
{
	char *argv[] = { "true", NULL };

	execve("/bin/true", argv, NULL);
	return 12;
}

static int main_fork(void)
{
	/* fork() is clone(SIGCHLD) without CLONE_THREAD; the raw call avoids glibc's atfork work.
	 */
	long pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	return 13;
}

static void *vcpu_thread_opens(void *arg)
{
	(void)arg;
	if (syscall_filter_install(SYSCALL_FILTER_VCPU))
		return (void *)1;
	open_file(); /* main's filter allows it, the vCPU's own does not */
	return NULL;
}

static int stacked_filters(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, vcpu_thread_opens, NULL))
		return 14;
	pthread_join(t, NULL);
	return 15;
}

/* ---- tests ---- */

static void test_vcpu_allows_its_calls(void)
{
	struct child_result r;

	run_child(SYSCALL_FILTER_VCPU, SYSCALL_FILTER_KILL, vcpu_allowed_calls, &r);
	CHECK(exited_ok(&r));
	CHECK(r.err[0] == '\0');
}

static void test_vcpu_socket_kills(void)
{
	struct child_result r;

	run_child(SYSCALL_FILTER_VCPU, SYSCALL_FILTER_KILL, vcpu_socket, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err,
		     "seccomp: system call 41 (socket) is not in the allow-list of vcpu threads") !=
	      NULL);
	CHECK(strstr(r.err, "stopping kvmbox") != NULL);
}

static void test_vcpu_vm_ioctl_kills(void)
{
	struct child_result r;

	run_child(SYSCALL_FILTER_VCPU, SYSCALL_FILTER_KILL, vcpu_vm_ioctl, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "(ioctl)") != NULL);
}

static void test_io_limits(void)
{
	struct child_result r;

	run_child(SYSCALL_FILTER_IO, SYSCALL_FILTER_KILL, io_unix_socket, &r);
	CHECK(exited_ok(&r));
	run_child(SYSCALL_FILTER_IO, SYSCALL_FILTER_KILL, io_inet_socket, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "system call 41 (socket) is not in the allow-list of io threads") !=
	      NULL);
	run_child(SYSCALL_FILTER_IO, SYSCALL_FILTER_KILL, vcpu_vm_ioctl, &r);
	CHECK(killed_by_sigsys(&r));
	if (SANITIZER)
		return;
	run_child(SYSCALL_FILTER_IO, SYSCALL_FILTER_KILL, open_file, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "(openat)") != NULL);
	run_child(SYSCALL_FILTER_IO, SYSCALL_FILTER_KILL, exec_mapping, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "(mmap)") != NULL);
}

static void test_main_allows_setup(void)
{
	struct child_result r;

	run_child(SYSCALL_FILTER_MAIN, SYSCALL_FILTER_KILL, main_allowed_calls, &r);
	CHECK(exited_ok(&r));
	run_child(SYSCALL_FILTER_MAIN, SYSCALL_FILTER_KILL, vcpu_allowed_calls, &r);
	CHECK(exited_ok(&r));
}

static void test_main_no_processes(void)
{
	struct child_result r;

	if (SANITIZER)
		return;
	run_child(SYSCALL_FILTER_MAIN, SYSCALL_FILTER_KILL, main_exec, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "system call 59 (execve) is not in the allow-list of main threads") !=
	      NULL);
	run_child(SYSCALL_FILTER_MAIN, SYSCALL_FILTER_KILL, main_fork, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "(clone)") != NULL);
}

static void test_stacked_filters(void)
{
	struct child_result r;

	if (SANITIZER)
		return;
	/* A thread created under main's filter narrows it: its open() kills, main's would not. */
	run_child(SYSCALL_FILTER_MAIN, SYSCALL_FILTER_KILL, stacked_filters, &r);
	CHECK(killed_by_sigsys(&r));
	CHECK(strstr(r.err, "system call 257 (openat) is not in the allow-list of vcpu threads") !=
	      NULL);
}

static void test_vcpu_exec_mapping_kills(void)
{
	struct child_result r;

	if (SANITIZER)
		return;
	run_child(SYSCALL_FILTER_VCPU, SYSCALL_FILTER_KILL, exec_mapping, &r);
	CHECK(killed_by_sigsys(&r));
}

static void test_log_mode_allows(void)
{
	struct child_result r;

	/* The kernel logs the call (dmesg) and lets it through. */
	run_child(SYSCALL_FILTER_VCPU, SYSCALL_FILTER_LOG, vcpu_socket, &r);
	CHECK(exited_ok(&r));
	CHECK(r.err[0] == '\0');
}

static int seccomp_status(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	int v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int off_mode_child(void)
{
	return seccomp_status() == 0 && vcpu_socket() == 0 ? 0 : 16;
}

static int kill_mode_status(void)
{
	return seccomp_status() == 2 ? 0 : 17;
}

static void test_modes(void)
{
	enum syscall_filter_mode m;
	struct child_result r;

	run_child(SYSCALL_FILTER_VCPU, SYSCALL_FILTER_OFF, off_mode_child, &r);
	CHECK(exited_ok(&r));
	run_child(SYSCALL_FILTER_MAIN, SYSCALL_FILTER_KILL, kill_mode_status, &r);
	CHECK(exited_ok(&r));
	CHECK(syscall_filter_parse_mode("kill", &m) == 0 && m == SYSCALL_FILTER_KILL);
	CHECK(syscall_filter_parse_mode("log", &m) == 0 && m == SYSCALL_FILTER_LOG);
	CHECK(syscall_filter_parse_mode("off", &m) == 0 && m == SYSCALL_FILTER_OFF);
	CHECK(syscall_filter_parse_mode("on", &m) == -EINVAL);
	CHECK(syscall_filter_parse_mode("", &m) == -EINVAL);
	/* The library is off until main sets a mode. */
	CHECK(syscall_filter_get_mode() == SYSCALL_FILTER_OFF);
}

int main(void)
{
	RUN_TEST(test_vcpu_allows_its_calls);
	RUN_TEST(test_vcpu_socket_kills);
	RUN_TEST(test_vcpu_vm_ioctl_kills);
	RUN_TEST(test_vcpu_exec_mapping_kills);
	RUN_TEST(test_io_limits);
	RUN_TEST(test_main_allows_setup);
	RUN_TEST(test_main_no_processes);
	RUN_TEST(test_stacked_filters);
	RUN_TEST(test_log_mode_allows);
	RUN_TEST(test_modes);
	TEST_EXIT();
}
