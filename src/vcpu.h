/* A vCPU: its KVM fd, the shared kvm_run page, and the thread that loops on KVM_RUN. */
#ifndef KVMBOX_VCPU_H
#define KVMBOX_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

struct vm;

#define VCPU_EXIT_REASONS 64

struct vcpu_stats {
	uint64_t exits[VCPU_EXIT_REASONS]; /* by KVM_EXIT_* reason */
	uint64_t run_ns;		   /* inside KVM_RUN */
	uint64_t handler_ns;		   /* in kvmbox handling exits */
};

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int thread_started;
	struct vcpu_stats stats;
};

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index)
    __attribute__((warn_unused_result));
int vcpu_start(struct vcpu *vcpu) __attribute__((warn_unused_result));
/* Make KVM_RUN return soon (immediate_exit + signal); the loop then sees the VM stopping. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Block the kick signal in the calling thread (done before creating threads). */
void vcpu_signals_init(void);

#endif
