/* Opens /dev/kvm, checks the API version and every capability kvmbox uses, detects the backend. */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const struct {
	int cap;
	const char *name;
} kvm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
};

/* Cached: a jailed kvmbox asks before pivot_root, when /sys is still visible (jail.c). */
const char *kvm_backend(void)
{
	static const char *const mods[] = { "kvm_pvm", "kvm_intel", "kvm_amd" };
	static const char *found;
	char path[64];

	if (found)
		return found;
	found = "unknown";
	for (unsigned i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(path, sizeof(path), "/sys/module/%s", mods[i]);
		if (access(path, F_OK) == 0) {
			found = mods[i];
			break;
		}
	}
	return found;
}

int kvm_open(struct kvm *kvm, const char *path, char *err, unsigned errlen)
{
	int ret, n;

	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		ret = -errno;
		if (errno == ENOENT)
			snprintf(err, errlen,
				 "%s not found: KVM is not available (load kvm_intel or kvm_amd, "
				 "or enable "
				 "nested virtualization)",
				 path);
		else if (errno == EACCES || errno == EPERM)
			snprintf(
			    err, errlen,
			    "permission denied opening %s: add your user to the 'kvm' group or run "
			    "as root",
			    path);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	n = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (n != KVM_API_VERSION) {
		snprintf(err, errlen, "%s has KVM API version %d, kvmbox needs %d", path, n,
			 KVM_API_VERSION);
		goto err_close;
	}
	for (unsigned i = 0; i < sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]); i++) {
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "KVM on this host lacks %s, which kvmbox needs",
				 kvm_required_caps[i].name);
			goto err_close;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		goto err_close;
	}
	n = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	kvm->max_vcpus = n > 0 ? (unsigned)n : 4;
	kvm->backend = kvm_backend();
	kvm->restricted_backend = !strcmp(kvm->backend, "kvm_pvm");
	return 0;

err_close:
	close(kvm->fd);
	kvm->fd = -1;
	return -ENOTSUP;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
