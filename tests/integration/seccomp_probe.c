/*
 * LD_PRELOAD probe for test_seccomp.sh: with KVMBOX_SECCOMP_PROBE set, one kvmbox thread of the
 * named role attempts a call its seccomp filter forbids, once kvmbox runs under the filters:
 *   vcpu        a vCPU thread, before KVM_RUN: socket(AF_INET)
 *   vcpu-ioctl  a vCPU thread, before KVM_RUN: ioctl(KVM_CREATE_VM), a main-thread-only request
 *   io          a device I/O thread, in its event loop: open("/etc/hostname")
 *   main        the main thread, in its event loop: execve("/bin/true")
 * Only the test uses it: it stands for a thread an attacker took over.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static const char *probe;

__attribute__((constructor)) static void probe_init(void)
{
	real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	real_epoll_wait =
	    (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT, "epoll_wait");
	probe = getenv("KVMBOX_SECCOMP_PROBE");
	if (!probe)
		probe = "";
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KVM_RUN && !strcmp(probe, "vcpu"))
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	if (req == KVM_RUN && !strcmp(probe, "vcpu-ioctl"))
		real_ioctl(fd, KVM_CREATE_VM, 0);
	return real_ioctl(fd, req, arg);
}

int epoll_wait(int epfd, struct epoll_event *evs, int n, int timeout)
{
	int main_thread = syscall(SYS_gettid) == getpid();

	if (!main_thread && !strcmp(probe, "io"))
		syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
	if (main_thread && !strcmp(probe, "main")) {
		char *argv[] = { "true", NULL };

		execve("/bin/true", argv, NULL);
	}
	return real_epoll_wait(epfd, evs, n, timeout);
}
