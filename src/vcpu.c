/* vCPU threads: each loops on KVM_RUN and dispatches exits to the buses, the emulator or the VM. */
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/emu_fallback.h"
#include "log.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

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

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		log_error("KVM_CREATE_VCPU %u failed: %s", index, strerror(errno));
		return -errno;
	}
	vcpu->run = mmap(NULL, (size_t)vm->kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
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

static int vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if (run->io.data_offset + bytes > (uint64_t)vcpu->vm->kvm->vcpu_mmap_size ||
	    (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)) {
		log_error("vCPU %u: malformed port I/O exit from KVM", vcpu->index);
		return -EIO;
	}
	/* A long `rep outs` to a blocked stdout must still notice a stop between bytes. */
	for (uint32_t i = 0; i < run->io.count && !vm_stopping(vcpu->vm);
	     i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&vcpu->vm->pio, run->io.port, data, run->io.size);
		else
			bus_read(&vcpu->vm->pio, run->io.port, data, run->io.size);
	}
	return 0;
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;

	if (run->mmio.is_write)
		bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static void vcpu_fatal(struct vcpu *vcpu, int status, const char *what)
{
	log_error("vCPU %u: %s", vcpu->index, what);
	cpu_dump(vcpu->fd);
	vm_stop(vcpu->vm, status);
}

static void vcpu_handle_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		if (emu_fallback_handle(vcpu->fd, run, &vcpu->vm->mem) == 0)
			return;
		/* emu_fallback_handle has already printed registers and instruction bytes. */
		log_error("vCPU %u: stopping: instruction neither KVM nor kvmbox can emulate",
			  vcpu->index);
		vm_stop(vcpu->vm, VM_EXIT_INTERNAL);
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
		vm_stop(vcpu->vm, VM_EXIT_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_stop(vcpu->vm, VM_EXIT_REBOOT);
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
			vm_stop(vcpu->vm, VM_EXIT_INTERNAL);
			return false;
		}
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
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

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!vm_stopping(vm)) {
		uint64_t t0 = vm_now_ns(), t1;
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);

		t1 = vm_now_ns();
		vcpu->stats.run_ns += t1 - t0;
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->stats.exits[KVM_EXIT_INTR]++;
				continue;
			}
			log_error("vCPU %u: KVM_RUN failed: %s", vcpu->index, strerror(errno));
			vm_stop(vm, VM_EXIT_HOST_ERROR);
			break;
		}
		if (vcpu->run->exit_reason < VCPU_EXIT_REASONS)
			vcpu->stats.exits[vcpu->run->exit_reason]++;
		if (!vcpu_handle_exit(vcpu))
			break;
		vcpu->stats.handler_ns += vm_now_ns() - t1;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

	if (ret) {
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
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
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
		munmap(vcpu->run, (size_t)vcpu->vm->kvm->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
