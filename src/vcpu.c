/* vCPU threads: each loops on KVM_RUN and dispatches exits to the buses, the emulator or the VM. */
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/emu_accel.h"
#include "arch/x86/emu_fallback.h"
#include "arch/x86/emu_smp.h"
#include "bus.h"
#include "log.h"
#include "syscall_filter.h"
#include "vm.h" /* exit statuses and vm_now_ns only: vCPUs reach their VM through ctx */

#define VCPU_KICK_SIGNAL SIGUSR1
/* --accel emu: instructions between looks at stop and park requests (well under a millisecond). */
#define VCPU_EMU_SLICE 4096

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only here to interrupt KVM_RUN with EINTR */
}

void vcpu_signals_init(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler; /* no SA_RESTART: KVM_RUN must return */
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static bool vcpu_stopping(const struct vcpu *vcpu)
{
	return __atomic_load_n(vcpu->ctx->stopping, __ATOMIC_SEQ_CST);
}

static void vcpu_stop_vm(struct vcpu *vcpu, int status)
{
	vcpu->ctx->stop(vcpu->ctx->opaque, status);
}

int vcpu_create(struct vcpu *vcpu, const struct vcpu_ctx *ctx, int vm_fd, unsigned index)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->ctx = ctx;
	vcpu->index = index;
	pthread_mutex_init(&vcpu->lock, NULL);
	pthread_cond_init(&vcpu->cond, NULL);
	vcpu->state = VCPU_CREATED;
	vcpu->fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		log_error("KVM_CREATE_VCPU %u failed: %s", index, strerror(errno));
		return -errno;
	}
	vcpu->run = mmap(NULL, ctx->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int ret = -errno;

		log_error("mapping kvm_run of vCPU %u failed: %s", index, strerror(errno));
		close(vcpu->fd);
		vcpu->fd = -1;
		vcpu->run = NULL;
		return ret;
	}
	return 0;
}

int vcpu_create_emu(struct vcpu *vcpu, const struct vcpu_ctx *ctx, unsigned index,
		    const struct x86_regs *regs)
{
	pthread_condattr_t attr;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->ctx = ctx;
	vcpu->index = index;
	vcpu->fd = -1;
	pthread_mutex_init(&vcpu->lock, NULL);
	/* On the monotonic clock: a halted vCPU waits for its APIC timer's deadline. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vcpu->cond, &attr);
	pthread_condattr_destroy(&attr);
	vcpu->state = VCPU_CREATED;
	vcpu->emu = emu_accel_create(ctx->mem, ctx->pio, ctx->mmio, ctx->stopping, index);
	if (!vcpu->emu)
		return -ENOMEM;
	if (regs)
		emu_accel_set_regs(vcpu->emu, regs);
	else
		emu_accel_init(vcpu->emu); /* an AP at power-up */
	return emu_smp_add(ctx->smp, vcpu->emu);
}

void vcpu_wake(struct vcpu *vcpu)
{
	pthread_mutex_lock(&vcpu->lock);
	__atomic_store_n(&vcpu->emu_wake, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

int vcpu_nmi(struct vcpu *vcpu)
{
	if (vcpu->emu) {
		emu_accel_nmi(vcpu->emu);
		return 0;
	}
	return cpu_nmi(vcpu->fd);
}

int vcpu_read_regs(struct vcpu *vcpu, struct x86_regs *r)
{
	if (vcpu->emu) {
		emu_accel_get_regs(vcpu->emu, r);
		return 0;
	}
	return cpu_read_regs(vcpu->fd, r);
}

static int vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if (run->io.data_offset + bytes > (uint64_t)vcpu->ctx->run_size ||
	    (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)) {
		log_error("vCPU %u: malformed port I/O exit from KVM", vcpu->index);
		return -EIO;
	}
	/* A long `rep outs` to a blocked stdout must still notice a stop between bytes. */
	for (uint32_t i = 0; i < run->io.count && !vcpu_stopping(vcpu); i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(vcpu->ctx->pio, run->io.port, data, run->io.size);
		else
			bus_read(vcpu->ctx->pio, run->io.port, data, run->io.size);
	}
	return 0;
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;

	if (run->mmio.is_write)
		bus_write(vcpu->ctx->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(vcpu->ctx->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static void vcpu_fatal(struct vcpu *vcpu, int status, const char *what)
{
	struct x86_regs r;
	int ret = vcpu_read_regs(vcpu, &r);

	log_error("vCPU %u: %s", vcpu->index, what);
	if (ret)
		log_error("cannot read vCPU %u's registers: %s", vcpu->index, strerror(-ret));
	else
		regs_log(&r, vcpu->index);
	vcpu_stop_vm(vcpu, status);
}

static void vcpu_handle_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		if (vcpu->ctx->debug && vcpu->ctx->debug(vcpu->ctx->debug_opaque, vcpu, true))
			return;
		if (emu_fallback_handle(vcpu->fd, run, vcpu->ctx->mem, vcpu->ctx->mmio,
					vcpu->ctx->pio) == 0)
			return;
		/* emu_fallback_handle has already printed the instruction bytes. */
		vcpu_fatal(vcpu, VM_EXIT_INTERNAL,
			   "stopping: instruction neither KVM nor kvmbox can emulate");
		return;
	}
	log_error("vCPU %u: KVM internal error, suberror %u, %u data words", vcpu->index,
		  run->internal.suberror, run->internal.ndata);
	for (unsigned i = 0; i < run->internal.ndata && i < 16; i++)
		log_error("  data[%u] = 0x%llx", i, (unsigned long long)run->internal.data[i]);
	vcpu_fatal(vcpu, VM_EXIT_INTERNAL, "unhandled internal error");
}

static void vcpu_handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vcpu_stop_vm(vcpu, VM_EXIT_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vcpu_stop_vm(vcpu, VM_EXIT_REBOOT);
		break;
	default:
		vcpu_fatal(vcpu, VM_EXIT_INTERNAL, "guest crash system event");
		break;
	}
}

/* One exit; returns false when the loop must end. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (vcpu_handle_io(vcpu)) {
			vcpu_stop_vm(vcpu, VM_EXIT_INTERNAL);
			return false;
		}
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_DEBUG:
		/* The SYSCALL-completion breakpoint (never with a debugger: one owner of DR0-3). */
		if (vcpu->syscall.on &&
		    syscall_kvm_debug(&vcpu->syscall, vcpu->fd, run, vcpu->ctx->mem))
			return true;
		/* Only a debugger enables debug exits; one that left meanwhile missed this one. */
		if (!vcpu->ctx->debug || !vcpu->ctx->debug(vcpu->ctx->debug_opaque, vcpu, false))
			log_debug("vCPU %u: debug exit nobody claimed (exception %u)", vcpu->index,
				  run->debug.arch.exception);
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_handle_internal_error(vcpu);
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fatal(vcpu, VM_EXIT_TRIPLE_FAULT, "triple fault (shutdown)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_handle_system_event(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_error("vCPU %u: VM entry failed, hardware reason 0x%llx", vcpu->index,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fatal(vcpu, VM_EXIT_INTERNAL, "entry failure");
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; kvmbox always has one. */
		vcpu_fatal(vcpu, VM_EXIT_INTERNAL, "unexpected HLT exit");
		return false;
	default:
		log_error("vCPU %u: unhandled KVM exit reason %u", vcpu->index, run->exit_reason);
		vcpu_fatal(vcpu, VM_EXIT_INTERNAL, "unhandled exit");
		return false;
	}
}

/* SYSCALL completion: look for the guest's #PF handler in sregs (NULL: ask KVM, before the first
 * KVM_RUN); a newly published one goes to every vCPU (the others are kicked to arm it). */
static void vcpu_syscall_poll(struct vcpu *vcpu, const struct kvm_sregs *sregs, uint64_t now)
{
	struct kvm_sregs own;

	if (!sregs) {
		if (ioctl(vcpu->fd, KVM_GET_SREGS, &own) < 0)
			return;
		sregs = &own;
	}
	if (syscall_kvm_poll(&vcpu->syscall, vcpu->ctx->syscall, vcpu->fd, sregs, vcpu->ctx->mem,
			     now) &&
	    vcpu->ctx->kick_others)
		vcpu->ctx->kick_others(vcpu->ctx->opaque, vcpu->index);
}

static void vcpu_set_state(struct vcpu *vcpu, enum vcpu_state st)
{
	pthread_mutex_lock(&vcpu->lock);
	vcpu->state = st;
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

/*
 * Park on the vCPU's own thread. KVM completes a port-I/O or MMIO read only when KVM_RUN is
 * entered again (api.rst, KVM_RUN, "immediate_exit"), so first re-enter with immediate_exit set:
 * it finishes the instruction and returns -EINTR without running the guest. Finishing it can need
 * another exit first (the next chunk of a REP INS/OUTS, the next fragment of a split MMIO access,
 * a second MMIO operand): KVM_RUN then returns 0 with that exit, which is handled like any other
 * before entering again. The state a parked vCPU shows (to a snapshot or a debugger) is then
 * architecturally complete. A guest cannot hold a pause off with a huge REP count: after
 * VCPU_PARK_MAX_EXITS the vCPU parks with the instruction unfinished (exit_pending), which a
 * snapshot refuses and the next KVM_RUN after the park completes.
 */
#define VCPU_PARK_MAX_EXITS 65536

/* Parked: wait until no park request is left (or the VM stops). */
static void vcpu_park_wait(struct vcpu *vcpu)
{
	pthread_mutex_lock(&vcpu->lock);
	vcpu->state = VCPU_PARKED;
	pthread_cond_broadcast(&vcpu->cond);
	while (__atomic_load_n(&vcpu->park_req, __ATOMIC_SEQ_CST) && !vcpu_stopping(vcpu))
		pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	vcpu->state = VCPU_RUNNING;
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

static void vcpu_park(struct vcpu *vcpu, bool io_pending)
{
	unsigned n = 0;

	if (vcpu->emu) {
		/* The emulator returns between instructions: the state is complete already. */
		vcpu_park_wait(vcpu);
		return;
	}

	while (io_pending) {
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (ioctl(vcpu->fd, KVM_RUN, 0) != 0) {
			io_pending = false; /* -EINTR: the instruction is finished */
			break;
		}
		if (vcpu->run->exit_reason < VCPU_EXIT_REASONS)
			vcpu->stats.exits[vcpu->run->exit_reason]++;
		io_pending = vcpu->run->exit_reason == KVM_EXIT_IO ||
			     vcpu->run->exit_reason == KVM_EXIT_MMIO;
		/* With a debugger's single step armed, finishing the instruction is a step: hand
		 * that to the debugger (vcpu_handle_exit does), or a `stepi` would never end. */
		if (!vcpu_handle_exit(vcpu) || vcpu_stopping(vcpu))
			break;
		if (io_pending && ++n == VCPU_PARK_MAX_EXITS) {
			log_debug("vCPU %u: parking in the middle of a string I/O instruction",
				  vcpu->index);
			break;
		}
	}
	__atomic_store_n(&vcpu->exit_pending, io_pending, __ATOMIC_SEQ_CST);
	/* Registers changed through kvm_run (SYSCALL completion, perhaps by an exit handled just
	 * above) go into KVM now, so a parked vCPU shows them to a snapshot, and a SET_REGS while
	 * parked is not undone by the next KVM_RUN. */
	if (vcpu->run->kvm_dirty_regs & KVM_SYNC_X86_REGS) {
		if (ioctl(vcpu->fd, KVM_SET_REGS, &vcpu->run->s.regs.regs) < 0)
			log_error("vCPU %u: KVM_SET_REGS failed: %s", vcpu->index, strerror(errno));
		vcpu->run->kvm_dirty_regs &= ~(uint64_t)KVM_SYNC_X86_REGS;
	}
	/* Tell a kvmclock guest it was stopped, so its watchdogs ignore the gap (EINVAL: the
	 * guest does not use kvmclock). */
	if (ioctl(vcpu->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		log_debug("vCPU %u: KVM_KVMCLOCK_CTRL: %s", vcpu->index, strerror(errno));
	vcpu_park_wait(vcpu);
}

/* --accel emu, halted: wait for the APIC timer's deadline wake (0: none), an IPI, a stop or a
 * park request (an NMI arrives with one). vcpu_kick and vcpu_wake broadcast under the lock:
 * nothing is lost. */
static void vcpu_emu_halt(struct vcpu *vcpu, uint64_t wake)
{
	struct timespec at = { (time_t)(wake / 1000000000u), (long)(wake % 1000000000u) };

	pthread_mutex_lock(&vcpu->lock);
	while (!vcpu_stopping(vcpu) && !__atomic_load_n(&vcpu->park_req, __ATOMIC_SEQ_CST) &&
	       !__atomic_exchange_n(&vcpu->emu_wake, 0, __ATOMIC_SEQ_CST)) {
		if (!wake)
			pthread_cond_wait(&vcpu->cond, &vcpu->lock);
		else if (pthread_cond_timedwait(&vcpu->cond, &vcpu->lock, &at) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&vcpu->lock);
}

/* --accel emu: the emulator in slices instead of KVM_RUN, with the same lifecycle; one vCPU of
 * the machine runs at a time (emu_smp). */
static void vcpu_emu_loop(struct vcpu *vcpu)
{
	struct emu_smp *smp = vcpu->ctx->smp;

	for (;;) {
		enum emu_accel_exit why;
		uint64_t t0, wake = 0;

		if (vcpu_stopping(vcpu))
			break;
		if (__atomic_load_n(&vcpu->park_req, __ATOMIC_SEQ_CST)) {
			vcpu_park(vcpu, false);
			continue;
		}
		t0 = vm_now_ns();
		emu_smp_lock(smp);
		why = emu_accel_run(vcpu->emu, VCPU_EMU_SLICE);
		if (why == EMU_ACCEL_HALT)
			wake = emu_accel_wake_at(vcpu->emu);
		emu_smp_unlock(smp);
		vcpu->stats.run_ns += vm_now_ns() - t0;
		if (why == EMU_ACCEL_HALT) {
			vcpu_emu_halt(vcpu, wake);
		} else if (why == EMU_ACCEL_RESET) {
			log_info("vCPU %u: INIT on the boot CPU: reset", vcpu->index);
			vcpu_stop_vm(vcpu, VM_EXIT_REBOOT);
			break;
		} else if (why == EMU_ACCEL_SHUTDOWN) {
			vcpu_fatal(vcpu, VM_EXIT_TRIPLE_FAULT, "triple fault (shutdown)");
			break;
		} else if (why == EMU_ACCEL_FAIL) {
			vcpu_fatal(vcpu, VM_EXIT_INTERNAL,
				   "stopping: an instruction the emulator cannot execute");
			break;
		}
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	bool io_pending = false;
	char name[16];
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* Named by itself (prctl): a jailed kvmbox has no /proc for pthread_setname_np. */
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	if (vcpu->ctx->syscall) {
		vcpu->syscall.on = true;
		vcpu->run->kvm_valid_regs |= SYSCALL_KVM_SYNC;
		/* A restored vCPU can be in user code at its first instruction: look now. */
		vcpu_syscall_poll(vcpu, NULL, 0);
	}
	/* Before the guest's first instruction on this thread. */
	if (syscall_filter_install(SYSCALL_FILTER_VCPU)) {
		log_error("vCPU %u: cannot install its seccomp filter", vcpu->index);
		vcpu_stop_vm(vcpu, VM_EXIT_HOST_ERROR);
		vcpu_set_state(vcpu, VCPU_STOPPED);
		return NULL;
	}
	if (vcpu->emu) {
		vcpu_emu_loop(vcpu);
		vcpu_set_state(vcpu, VCPU_STOPPED);
		return NULL;
	}

	for (;;) {
		uint64_t t0, t1;
		int ret;

		/*
		 * Requests are stored before immediate_exit is set (vcpu_kick): a kick that
		 * lands after we cleared immediate_exit below is seen here, and one that lands
		 * before leaves immediate_exit set, so KVM_RUN returns at once. No kick is lost.
		 */
		if (vcpu_stopping(vcpu))
			break;
		if (__atomic_load_n(&vcpu->park_req, __ATOMIC_SEQ_CST)) {
			vcpu_park(vcpu, io_pending);
			io_pending = false;
			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			continue;
		}
		if (vcpu->syscall.on)
			syscall_kvm_sync(&vcpu->syscall, vcpu->ctx->syscall, vcpu->fd);
		t0 = vm_now_ns();
		ret = ioctl(vcpu->fd, KVM_RUN, 0);
		t1 = vm_now_ns();
		vcpu->stats.run_ns += t1 - t0;
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->stats.exits[KVM_EXIT_INTR]++;
				io_pending = false; /* entering KVM_RUN completed it */
				__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				/* An AP can reach user code with no other exit than these. */
				if (vcpu->syscall.on)
					vcpu_syscall_poll(vcpu, &vcpu->run->s.regs.sregs, t1);
				continue;
			}
			log_error("vCPU %u: KVM_RUN failed: %s", vcpu->index, strerror(errno));
			vcpu_stop_vm(vcpu, VM_EXIT_HOST_ERROR);
			break;
		}
		if (vcpu->run->exit_reason < VCPU_EXIT_REASONS)
			vcpu->stats.exits[vcpu->run->exit_reason]++;
		if (!vcpu_handle_exit(vcpu))
			break;
		io_pending = vcpu->run->exit_reason == KVM_EXIT_IO ||
			     vcpu->run->exit_reason == KVM_EXIT_MMIO;
		/* Not after an emulation failure: kvmbox may have changed CR3 since the exit. */
		if (vcpu->syscall.on && vcpu->run->exit_reason != KVM_EXIT_INTERNAL_ERROR)
			vcpu_syscall_poll(vcpu, &vcpu->run->s.regs.sregs, t1);
		vcpu->stats.handler_ns += vm_now_ns() - t1;
	}
	vcpu_set_state(vcpu, VCPU_STOPPED);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret;

	vcpu->state = VCPU_RUNNING;
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret) {
		vcpu->state = VCPU_CREATED;
		log_error("cannot start vCPU %u thread: %s", vcpu->index, strerror(ret));
		return -ret;
	}
	vcpu->thread_started = 1;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->thread_started)
		return;
	if (vcpu->run)
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
	/* A parked thread waits on the condition, not in KVM_RUN. */
	pthread_mutex_lock(&vcpu->lock);
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

void vcpu_request_park(struct vcpu *vcpu, unsigned reason)
{
	__atomic_fetch_or(&vcpu->park_req, reason, __ATOMIC_SEQ_CST);
	vcpu_kick(vcpu);
}

void vcpu_park_self(struct vcpu *vcpu, unsigned reason)
{
	__atomic_fetch_or(&vcpu->park_req, reason, __ATOMIC_SEQ_CST);
}

int vcpu_wait_parked(struct vcpu *vcpu)
{
	int ret = 0;

	pthread_mutex_lock(&vcpu->lock);
	while (vcpu->state == VCPU_RUNNING || vcpu->state == VCPU_CREATED) {
		if (!vcpu->thread_started || vcpu_stopping(vcpu))
			break;
		pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	}
	if (vcpu->state != VCPU_PARKED)
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

void vcpu_unpark(struct vcpu *vcpu, unsigned reason)
{
	pthread_mutex_lock(&vcpu->lock);
	__atomic_fetch_and(&vcpu->park_req, ~reason, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

enum vcpu_state vcpu_get_state(struct vcpu *vcpu)
{
	enum vcpu_state st;

	pthread_mutex_lock(&vcpu->lock);
	st = vcpu->state;
	pthread_mutex_unlock(&vcpu->lock);
	return st;
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->thread_started)
		pthread_join(vcpu->thread, NULL);
	vcpu->thread_started = 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->ctx->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	emu_accel_destroy(vcpu->emu);
	vcpu->emu = NULL;
	if (vcpu->ctx) {
		pthread_cond_destroy(&vcpu->cond);
		pthread_mutex_destroy(&vcpu->lock);
	}
	vcpu->run = NULL;
	vcpu->fd = -1;
	vcpu->ctx = NULL;
}
