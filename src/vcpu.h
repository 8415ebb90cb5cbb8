/* A vCPU: its KVM fd, the shared kvm_run page, the thread that loops on KVM_RUN, and its
 * lifecycle (running -> parked -> running, -> stopped) that pause, snapshot and gdb share. */
#ifndef KVMBOX_VCPU_H
#define KVMBOX_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/syscall_kvm.h"

struct emu_smp;

struct bus;
struct emu_accel;
struct guest_mem;
struct vcpu;
struct x86_regs;

#define VCPU_EXIT_REASONS 64

struct vcpu_stats {
	uint64_t exits[VCPU_EXIT_REASONS]; /* by KVM_EXIT_* reason */
	uint64_t run_ns;		   /* inside KVM_RUN */
	uint64_t handler_ns;		   /* in kvmbox handling exits */
};

/* What a vCPU may touch of its VM: the buses, guest memory and the stop latch. Shared by all. */
struct vcpu_ctx {
	struct bus *pio;
	struct bus *mmio;
	const struct guest_mem *mem;
	size_t run_size;			/* KVM_GET_VCPU_MMAP_SIZE */
	const int *stopping;			/* atomic: the VM is stopping */
	void (*stop)(void *opaque, int status); /* stop the whole VM with this exit status */
	void *opaque;
	/*
	 * A debugger's look at a debug event on the vCPU's thread: KVM_EXIT_DEBUG, or (int3) an
	 * instruction KVM could not emulate, which is how an int3 arrives on some backends. True
	 * when the event was the debugger's: it has then called vcpu_park_self, or dealt with it.
	 * NULL without a debugger. Changed only while no vCPU runs.
	 */
	bool (*debug)(void *debug_opaque, struct vcpu *vcpu, bool int3);
	void *debug_opaque;
	/* Complete the guest's mis-delivered SYSCALLs (kvm_pvm; --syscall-completion on): the
	 * handler every vCPU arms, or NULL. Never together with debug (one owner of DR0-3). */
	struct syscall_kvm_shared *syscall;
	/* Kick every started vCPU but index out of KVM_RUN (a new handler was published). */
	void (*kick_others)(void *opaque, unsigned index);
	/* --accel emu: the machine the emulated vCPUs share (one runs at a time, IPIs). */
	struct emu_smp *smp;
};

enum vcpu_state {
	VCPU_CREATED, /* thread not started */
	VCPU_RUNNING,
	VCPU_PARKED,  /* outside KVM_RUN, I/O of the last exit completed, waiting for unpark */
	VCPU_STOPPED, /* thread finished */
};

struct vcpu {
	const struct vcpu_ctx *ctx;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int thread_started;
	struct vcpu_stats stats;
	struct emu_accel *emu; /* --accel emu: the emulator runs this vCPU (fd -1, run NULL) */
	int emu_wake;	       /* atomic: an IPI arrived for it (vcpu_wake): end a HLT wait */

	pthread_mutex_t lock; /* state and park_req changes; cond signals both */
	pthread_cond_t cond;
	enum vcpu_state state;
	unsigned park_req; /* atomic: VCPU_PARK_* reasons; parked while any is set */
	/* atomic: parked with an exit KVM still has to complete (a REP string instruction cut
	 * short): its state is not architecturally complete, so no snapshot now. */
	bool exit_pending;
	struct syscall_kvm syscall; /* vCPU thread only */
};

/* Why a vCPU is parked. Each client of the lifecycle holds its own reason, so a gdb stop and an
 * API pause (or a register peek) overlap without one lifting the other. */
enum vcpu_park_reason {
	VCPU_PARK_PAUSE = 1u << 0, /* vm_pause (PATCH /vm Paused) */
	VCPU_PARK_PEEK = 1u << 1,  /* vm_with_vcpus_parked: registers, NMIs, memory */
	VCPU_PARK_DEBUG = 1u << 2, /* the gdb stub's all-stop */
};

int vcpu_create(struct vcpu *vcpu, const struct vcpu_ctx *ctx, int vm_fd, unsigned index)
    __attribute__((warn_unused_result));
/* A vCPU the emulator runs (--accel emu), on ctx->smp: starting from regs, or (NULL) an AP
 * waiting for INIT and SIPI. */
int vcpu_create_emu(struct vcpu *vcpu, const struct vcpu_ctx *ctx, unsigned index,
		    const struct x86_regs *regs) __attribute__((warn_unused_result));
/* --accel emu: something arrived for the vCPU (an IPI): a halted one looks again. Any thread. */
void vcpu_wake(struct vcpu *vcpu);
/* Queue an NMI on a parked vCPU (delivered when it runs again). -errno on failure. */
int vcpu_nmi(struct vcpu *vcpu) __attribute__((warn_unused_result));
/* Every register of a vCPU that is parked (or of the calling vCPU thread). -errno on failure. */
int vcpu_read_regs(struct vcpu *vcpu, struct x86_regs *r) __attribute__((warn_unused_result));
int vcpu_start(struct vcpu *vcpu) __attribute__((warn_unused_result));
/* Make KVM_RUN return soon (immediate_exit + signal) and wake a parked thread, so it sees a
 * stop or a park request. Any thread. */
void vcpu_kick(struct vcpu *vcpu);
/* Ask the vCPU to park for reason (VCPU_PARK_*) and wait until it has (or has stopped). The wait
 * returns -ESHUTDOWN when the vCPU stopped instead. Not from the vCPU's own thread. */
void vcpu_request_park(struct vcpu *vcpu, unsigned reason);
int vcpu_wait_parked(struct vcpu *vcpu) __attribute__((warn_unused_result));
/* From the vCPU's own thread (a debug event): park at the end of this exit. */
void vcpu_park_self(struct vcpu *vcpu, unsigned reason);
/* Lift reason; the vCPU runs again when no reason is left. */
void vcpu_unpark(struct vcpu *vcpu, unsigned reason);
enum vcpu_state vcpu_get_state(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Block the kick signal in the calling thread (done before creating threads). */
void vcpu_signals_init(void);

#endif
