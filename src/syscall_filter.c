/*
 * Seccomp filters with libseccomp: each thread role gets an allow-list of system calls, and for
 * ioctl(2) of request numbers. Anything else is a bug in kvmbox or an attacker who took over a
 * thread: SIGSYS, one log line naming the thread role and the call, and kvmbox dies of SIGSYS
 * (status 159). The lists are documented in the README; `--seccomp log` audits them.
 *
 * What no role may do: execve, fork (clone without CLONE_THREAD), ptrace, mount, pivot_root,
 * unshare/setns, kexec, module loading, bpf, perf, keyctl, process_vm_*, personality. The vCPU and
 * I/O threads cannot open files or map executable memory; vCPU threads cannot create sockets;
 * I/O threads only unix sockets (vsock's host side).
 */
#include "syscall_filter.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/prctl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backend/term.h"

#if defined(__SANITIZE_ADDRESS__)
#define SF_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SF_SANITIZER 1
#endif
#endif

#define SF_NAMES 512 /* x86-64 system call numbers are below this */

/* Off until main sets the mode (unit tests and fuzzers run threads without filters). */
static enum syscall_filter_mode sf_mode = SYSCALL_FILTER_OFF;
static char *sf_names[SF_NAMES];
static __thread int sf_role = -1;

/* Every role: memory, time, synchronisation, signals, I/O on descriptors it already holds. */
static const int sf_common[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(preadv2),
	SCMP_SYS(pwritev2),
	SCMP_SYS(close),
	SCMP_SYS(lseek),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(fcntl),
	SCMP_SYS(fsync),
	SCMP_SYS(fdatasync),
	SCMP_SYS(fallocate),
	SCMP_SYS(futex),
	SCMP_SYS(sched_yield),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(gettid),
	SCMP_SYS(getpid),
	SCMP_SYS(tgkill),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(munmap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(mremap),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(eventfd2),
	SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime),
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendto),
	SCMP_SYS(recvfrom),
	SCMP_SYS(shutdown),
	SCMP_SYS(getsockopt),
	SCMP_SYS(getrandom),
	SCMP_SYS(seccomp),
};

/* vCPU threads: the vCPU's own state, interrupts, and the device models' reactions to the guest
 * (virtio activation wires ioeventfds and irqfds, virtio-net negotiates tap offloads). The
 * instruction emulator reads the vCPU's CPUID, TSC and TSC_AUX, and writes XCR0 (XSETBV). */
static const unsigned long sf_vcpu_ioctls[] = {
	KVM_RUN,
	KVM_GET_REGS,
	KVM_SET_REGS,
	KVM_GET_SREGS,
	KVM_SET_SREGS,
	KVM_GET_SREGS2,
	KVM_SET_SREGS2,
	KVM_GET_FPU,
	KVM_SET_FPU,
	KVM_GET_XCRS,
	KVM_SET_XCRS,
	KVM_GET_CPUID2,
	KVM_GET_MSRS,
	KVM_GET_DEBUGREGS,
	KVM_SET_DEBUGREGS,
	KVM_GET_VCPU_EVENTS,
	KVM_SET_VCPU_EVENTS,
	KVM_GET_LAPIC,
	KVM_SET_LAPIC,
	KVM_GET_MP_STATE,
	KVM_GET_XSAVE,
	KVM_SET_XSAVE,
	KVM_SET_MSRS,
	KVM_SET_GUEST_DEBUG,
	KVM_NMI,
	KVM_KVMCLOCK_CTRL,
	KVM_IRQ_LINE,
	KVM_SIGNAL_MSI,
	KVM_SET_GSI_ROUTING,
	KVM_IRQFD,
	KVM_IOEVENTFD,
	KVM_CHECK_EXTENSION,
	TUNSETOFFLOAD,
	TUNSETVNETHDRSZ,
};

/* I/O threads: vsock's host side connects to and accepts on unix sockets. */
static const int sf_io_calls[] = {
	SCMP_SYS(connect),    SCMP_SYS(accept4),     SCMP_SYS(accept),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
};

/* The main thread builds the VM, serves the API and the gdb stub, and creates every thread. */
static const int sf_main_calls[] = {
	SCMP_SYS(openat),
	SCMP_SYS(open),
	SCMP_SYS(unlink),
	SCMP_SYS(unlinkat),
	SCMP_SYS(rename),
	SCMP_SYS(ftruncate),
	SCMP_SYS(statx),
	SCMP_SYS(stat),
	SCMP_SYS(lstat),
	SCMP_SYS(access),
	SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2),
	SCMP_SYS(readlink),
	SCMP_SYS(getdents64),
	SCMP_SYS(dup),
	SCMP_SYS(dup2),
	SCMP_SYS(dup3),
	SCMP_SYS(pipe2),
	SCMP_SYS(mmap),
	SCMP_SYS(mprotect),
	SCMP_SYS(bind),
	SCMP_SYS(listen),
	SCMP_SYS(epoll_create1),
	SCMP_SYS(timerfd_create),
	SCMP_SYS(io_uring_setup),
	SCMP_SYS(io_uring_register),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(uname),
	SCMP_SYS(sysinfo),
	SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit),
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(memfd_create),
	SCMP_SYS(fchmod),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(kill),
	SCMP_SYS(signalfd4),
	SCMP_SYS(umask),
	SCMP_SYS(chmod),
	SCMP_SYS(mkdir),
	SCMP_SYS(getcwd),
	SCMP_SYS(socketpair),
};

/* The main thread's ioctls beyond the vCPU's: KVM system and VM ioctls, tap set-up, the terminal,
 * block-device sizes. */
static const unsigned long sf_main_ioctls[] = {
	KVM_GET_API_VERSION,
	KVM_CREATE_VM,
	KVM_GET_VCPU_MMAP_SIZE,
	KVM_GET_SUPPORTED_CPUID,
	KVM_CREATE_VCPU,
	KVM_CREATE_IRQCHIP,
	KVM_CREATE_PIT2,
	KVM_SET_TSS_ADDR,
	KVM_SET_IDENTITY_MAP_ADDR,
	KVM_SET_USER_MEMORY_REGION,
	KVM_SET_CPUID2,
	/* Snapshot and restore (vm_snapshot.c): the VM-wide state, the MSR list, dirty pages. */
	KVM_GET_MSR_INDEX_LIST,
	KVM_GET_IRQCHIP,
	KVM_SET_IRQCHIP,
	KVM_GET_PIT2,
	KVM_SET_PIT2,
	KVM_GET_CLOCK,
	KVM_SET_CLOCK,
	KVM_GET_DIRTY_LOG,
	KVM_SET_MP_STATE,
	KVM_GET_TSC_KHZ,
	KVM_SET_TSC_KHZ,
	TUNSETIFF,
	TCGETS,
	TCSETS,
	TCSETSW,
	TCSETSF,
	TIOCGWINSZ,
	BLKGETSIZE64,
	FIONBIO,
};

#ifdef SF_SANITIZER
/* ASan/UBSan/LSan builds only: the runtime's own needs (the leak checker stops the world with
 * a ptrace()ing clone at exit; reports read /proc/self/maps and may start a symbolizer). */
static const int sf_sanitizer_calls[] = {
	SCMP_SYS(clone),
	SCMP_SYS(ptrace),
	SCMP_SYS(wait4),
	SCMP_SYS(prctl),
	SCMP_SYS(openat),
	SCMP_SYS(open),
	SCMP_SYS(readlink),
	SCMP_SYS(getdents64),
	SCMP_SYS(getdents), /* the leak checker's thread lister on x86-64 */
	SCMP_SYS(mmap),
	SCMP_SYS(mprotect),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(execve),
	SCMP_SYS(pipe2),
	SCMP_SYS(pipe),
	SCMP_SYS(dup2),
	SCMP_SYS(getppid),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit),
	SCMP_SYS(uname),
	SCMP_SYS(kill),
	SCMP_SYS(setrlimit),
	SCMP_SYS(process_vm_readv),
};
#endif

#define SF_COUNT(a) (sizeof(a) / sizeof((a)[0]))

int syscall_filter_parse_mode(const char *s, enum syscall_filter_mode *mode)
{
	if (!strcmp(s, "kill"))
		*mode = SYSCALL_FILTER_KILL;
	else if (!strcmp(s, "log"))
		*mode = SYSCALL_FILTER_LOG;
	else if (!strcmp(s, "off"))
		*mode = SYSCALL_FILTER_OFF;
	else
		return -EINVAL;
	return 0;
}

void syscall_filter_set_mode(enum syscall_filter_mode mode)
{
	sf_mode = mode;
}

enum syscall_filter_mode syscall_filter_get_mode(void)
{
	return sf_mode;
}

const char *syscall_filter_role_name(enum syscall_filter_role role)
{
	switch (role) {
	case SYSCALL_FILTER_MAIN:
		return "main";
	case SYSCALL_FILTER_VCPU:
		return "vcpu";
	default:
		return "io";
	}
}

/* Async-signal-safe appends for the SIGSYS report. */
static size_t sf_append(char *buf, size_t len, size_t size, const char *s)
{
	while (*s && len + 1 < size)
		buf[len++] = *s++;
	buf[len] = '\0';
	return len;
}

static size_t sf_append_num(char *buf, size_t len, size_t size, long v)
{
	char digits[24];
	int n = 0;

	if (v < 0) {
		len = sf_append(buf, len, size, "-");
		v = -v;
	}
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(digits));
	while (n && len + 1 < size)
		buf[len++] = digits[--n];
	buf[len] = '\0';
	return len;
}

static void sf_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	struct sigaction dfl;
	sigset_t set;
	char msg[256];
	size_t len = 0;
	int nr = si->si_syscall;

	(void)ucontext;
	len = sf_append(msg, len, sizeof(msg), "kvmbox: error: seccomp: system call ");
	len = sf_append_num(msg, len, sizeof(msg), nr);
	if (nr >= 0 && nr < SF_NAMES && sf_names[nr]) {
		len = sf_append(msg, len, sizeof(msg), " (");
		len = sf_append(msg, len, sizeof(msg), sf_names[nr]);
		len = sf_append(msg, len, sizeof(msg), ")");
	}
	len = sf_append(msg, len, sizeof(msg), " is not in the allow-list of ");
	len = sf_append(msg, len, sizeof(msg),
			sf_role >= 0 ? syscall_filter_role_name(sf_role) : "unfiltered");
	len = sf_append(msg, len, sizeof(msg),
			" threads; stopping kvmbox (--seccomp log audits the lists)\n");
	if (write(STDERR_FILENO, msg, len) < 0) {
		/* nothing better to do */
	}
	/* Die of SIGSYS with the default action; the terminal first (where the role may). */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	term_restore();
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* Still here: kvmbox is PID 1 of a jail's PID namespace, which ignores its own default-
	 * action signals. End with the status a death by SIGSYS gives. */
	syscall(SYS_exit_group, 128 + sig);
}

static int sf_reporter_init(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return 0;
	/* glibc reads /etc/localtime on the first time conversion in the process (the RTC's
	 * gmtime_r, on a vCPU thread, which may not open files): load it now. */
	tzset();
	for (int nr = 0; nr < SF_NAMES; nr++)
		sf_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sf_sigsys;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	done = true;
	return 0;
}

/* libseccomp's SCMP_A* macros leave fields to implicit zeroes (clang warns): all of them here. */
static struct scmp_arg_cmp sf_arg(unsigned arg, enum scmp_compare op, uint64_t a, uint64_t b)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = op, .datum_a = a, .datum_b = b };

	return c;
}

static int sf_allow(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);

		/* __NR_SCMP_ERROR (a name this architecture lacks) is skipped, not fatal. */
		if (ret && calls[i] >= 0)
			return ret;
	}
	return 0;
}

static int sf_allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* The kernel takes the request as an unsigned int: compare the low 32 bits. */
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					   sf_arg(1, SCMP_CMP_MASKED_EQ, 0xffffffffUL, reqs[i]));
		if (ret)
			return ret;
	}
	return 0;
}

static int sf_build(scmp_filter_ctx ctx, enum syscall_filter_role role)
{
	int ret;

	ret = sf_allow(ctx, sf_common, SF_COUNT(sf_common));
	if (!ret)
		ret = sf_allow_ioctls(ctx, sf_vcpu_ioctls, SF_COUNT(sf_vcpu_ioctls));
	/* glibc falls back to clone(2), whose flags a filter can see, when clone3 says ENOSYS. */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Threads naming themselves, then narrowing their filter: no_new_privs, seccomp(2). */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       sf_arg(0, SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS, 0));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       sf_arg(0, SCMP_CMP_EQ, PR_SET_NAME, 0));
	if (ret)
		return ret;
	if (role == SYSCALL_FILTER_VCPU || role == SYSCALL_FILTER_IO) {
		/* Anonymous memory for malloc, never executable. */
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       sf_arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
					       sf_arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	}
	if (!ret && role == SYSCALL_FILTER_IO)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       sf_arg(0, SCMP_CMP_EQ, AF_UNIX, 0));
	if (!ret && role != SYSCALL_FILTER_VCPU)
		ret = sf_allow(ctx, sf_io_calls, SF_COUNT(sf_io_calls));
	if (!ret && role == SYSCALL_FILTER_MAIN) {
		ret = sf_allow(ctx, sf_main_calls, SF_COUNT(sf_main_calls));
		if (!ret)
			ret = sf_allow_ioctls(ctx, sf_main_ioctls, SF_COUNT(sf_main_ioctls));
		/* The gdb stub listens on TCP too. */
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 0);
		/* Threads, never processes. */
		if (!ret)
			ret = seccomp_rule_add(
			    ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			    sf_arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	}
#ifdef SF_SANITIZER
	if (!ret)
		ret = sf_allow(ctx, sf_sanitizer_calls, SF_COUNT(sf_sanitizer_calls));
#endif
	return ret;
}

int syscall_filter_install(enum syscall_filter_role role)
{
	scmp_filter_ctx ctx;
	sigset_t sys;
	int ret;

	if (sf_mode == SYSCALL_FILTER_OFF)
		return 0;
	ret = sf_reporter_init();
	if (ret)
		return ret;
	/* A blocked SIGSYS from seccomp kills without running the reporter (the I/O threads block
	 * every signal): this one stays deliverable. Only seccomp raises it, and synchronously. */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	ctx = seccomp_init(sf_mode == SYSCALL_FILTER_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	ret = sf_build(ctx, role);
	/* Not SCMP_FLTATR_CTL_LOG: the kernel would then log every clone3 answered ENOSYS, one
	 * record per thread created. Denials are the reporter's line; `--seccomp log` audits. */
	if (!ret)
		ret = seccomp_load(ctx); /* sets no_new_privs first */
	seccomp_release(ctx);
	if (!ret)
		sf_role = (int)role;
	return ret;
}
