/* The /dev/kvm handle: open, API version and capability checks with errors that name what is
 * missing. */
#ifndef KVMBOX_KVM_H
#define KVMBOX_KVM_H

#include <stdbool.h>

struct kvm {
	int fd;
	int vcpu_mmap_size;
	unsigned max_vcpus;
	bool restricted_backend; /* a software backend such as kvm_pvm (see docs/kvm-host-notes.md)
				  */
	const char *backend;	 /* "kvm_pvm", "kvm_intel", "kvm_amd" or "unknown" */
};

/* Opens path (normally /dev/kvm); on failure writes a one-line message with a hint to err. */
int kvm_open(struct kvm *kvm, const char *path, char *err, unsigned errlen)
    __attribute__((warn_unused_result));
void kvm_close(struct kvm *kvm);
/* The host's KVM module: "kvm_pvm", "kvm_intel", "kvm_amd" or "unknown" (from /sys/module). */
const char *kvm_backend(void);

#endif
