/*
 * ioctl(2) replaced at link time (-Wl,--wrap=ioctl, tests/unit/unit.mk) by a fake KVM. The test
 * defines fake_kvm_ioctl(fd, req, arg): it answers the fds it fakes and hands the others to
 * __real_ioctl. FAKE_KVM_GET and FAKE_KVM_GETSET answer requests from one object each.
 */
#ifndef KVMBOX_TESTS_FAKE_KVM_H
#define KVMBOX_TESTS_FAKE_KVM_H

#include <errno.h>
#include <stdarg.h>
#include <string.h>

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);
static int fake_kvm_ioctl(int fd, unsigned long req, void *arg);

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fake_kvm_ioctl(fd, req, arg);
}

/* Switch cases: GET copies obj out to arg, SET copies arg into obj. */
#define FAKE_KVM_GET(get, obj)                                                                     \
	case get:                                                                                  \
		memcpy(arg, &(obj), sizeof(obj));                                                  \
		return 0;
#define FAKE_KVM_GETSET(get, set, obj)                                                             \
	FAKE_KVM_GET(get, obj)                                                                     \
	case set:                                                                                  \
		memcpy(&(obj), arg, sizeof(obj));                                                  \
		return 0;

#endif
