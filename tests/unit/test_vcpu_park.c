/*
 * The vCPU lifecycle's park against a fake KVM_RUN (ioctl wrapped at link time, unit.mk): parking
 * right after a port-I/O exit re-enters KVM_RUN with immediate_exit to finish the instruction, and
 * when finishing it needs further exits (the next chunks of a REP OUTS, say) each is handled, not
 * dropped: the device receives every byte, in order. A guest with an endless REP count cannot hold
 * the park off: after the bound the vCPU parks with exit_pending set (a snapshot refuses that),
 * and after the unpark the rest of the instruction still arrives, nothing lost. A restored VM's
 * vCPUs (vm_start_paused) park before their first KVM_RUN, and run once resumed.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "fake_kvm.h"
#include "test.h"
#include "vcpu.h"
#include "vm.h"

#define VCPU_FD 950
#define PORT 0x510
#define RUN_SIZE 8192
#define MAX_BYTES 80000

static struct kvm_run *run;
static unsigned kvm_runs; /* KVM_RUN calls */
/* The instruction in progress: bytes it still has to write, one exit each. */
static unsigned chain_left, chain_next;
static unsigned exits_in_park; /* exits returned while immediate_exit was set */

/* The device: every byte written to PORT, in order. */
static uint8_t got[MAX_BYTES];
static unsigned ngot;
static struct vcpu vcpu;
static int park_at = -1; /* park the vCPU from its own thread after this many bytes */

static void io_exit(unsigned n)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = PORT;
	run->io.count = 1;
	run->io.data_offset = 4096;
	((uint8_t *)run)[4096] = (uint8_t)n;
}

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != VCPU_FD)
		return __real_ioctl(fd, req, arg);
	if (req == KVM_KVMCLOCK_CTRL)
		return errno = EINVAL, -1;
	if (req != KVM_RUN)
		return errno = ENOTTY, -1;
	__atomic_add_fetch(&kvm_runs, 1, __ATOMIC_SEQ_CST);
	/* KVM_RUN: first finish what the last exit left (the next chunk is one more exit). */
	if (chain_left) {
		if (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST))
			exits_in_park++;
		chain_left--;
		io_exit(chain_next++);
		return 0;
	}
	if (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST))
		return errno = EINTR, -1;
	usleep(200); /* the guest runs and nothing happens */
	return errno = EINTR, -1;
}

static void dev_read(void *d, uint64_t off, void *data, unsigned len)
{
	memset(data, 0, len);
}

static void dev_write(void *d, uint64_t off, const void *data, unsigned len)
{
	if (ngot < MAX_BYTES)
		got[ngot++] = *(const uint8_t *)data;
	if ((int)ngot == park_at) /* the vCPU's own thread: park at the end of this exit */
		vcpu_park_self(&vcpu, VCPU_PARK_PEEK);
}

static void dev_save(const void *d, struct state_writer *w)
{
}

static int dev_load(void *d, struct state_reader *r)
{
	return 0;
}

static const struct bus_ops dev_ops = {
	.read = dev_read, .write = dev_write, .save = dev_save, .load = dev_load
};

static int stopping;
static struct bus pio, mmio;

static void stop_cb(void *opaque, int status)
{
	__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
}

static const struct vcpu_ctx ctx = {
	.pio = &pio, .mmio = &mmio, .run_size = RUN_SIZE, .stopping = &stopping, .stop = stop_cb
};

static bool wait_until(bool (*cond)(void), int ms)
{
	for (int i = 0; i < ms; i++) {
		if (cond())
			return true;
		usleep(1000);
	}
	return cond();
}

static bool is_parked(void)
{
	return vcpu_get_state(&vcpu) == VCPU_PARKED;
}

static unsigned want;
static bool all_arrived(void)
{
	return __atomic_load_n(&ngot, __ATOMIC_SEQ_CST) >= want;
}

/* A REP OUTS of n bytes starts; the vCPU parks after its first byte. */
static void run_case(unsigned n)
{
	memset(&vcpu, 0, sizeof(vcpu));
	vcpu.ctx = &ctx;
	pthread_mutex_init(&vcpu.lock, NULL);
	pthread_cond_init(&vcpu.cond, NULL);
	vcpu.state = VCPU_CREATED;
	vcpu.fd = VCPU_FD;
	vcpu.run = run;
	ngot = 0;
	exits_in_park = 0;
	chain_next = 0;
	chain_left = n; /* the first KVM_RUN returns its first byte */
	park_at = 1;
	__atomic_store_n(&stopping, 0, __ATOMIC_SEQ_CST);
	CHECK_EQ(vcpu_start(&vcpu), 0);
	CHECK(wait_until(is_parked, 5000));
}

static void test_park_finishes_chained_exits(void)
{
	run_case(40);
	/* Parked only once the instruction was done: every byte arrived, in order. */
	CHECK_EQ(ngot, 40);
	for (unsigned i = 0; i < ngot && i < 40; i++)
		CHECK_EQ(got[i], i);
	CHECK_EQ(exits_in_park, 39);
	CHECK(!vcpu.exit_pending);
	vcpu_unpark(&vcpu, VCPU_PARK_PEEK);
	usleep(20000);
	CHECK_EQ(ngot, 40); /* nothing repeated after the unpark */
	__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
	vcpu_kick(&vcpu);
	vcpu_join(&vcpu);
	CHECK_EQ(vcpu_get_state(&vcpu), VCPU_STOPPED);
}

static void test_park_bounded(void)
{
	run_case(70000);
	/* The bound: 65536 exits while parking, then it parks mid-instruction, and says so. */
	CHECK_EQ(ngot, 1 + 65536);
	CHECK(vcpu.exit_pending);
	vcpu_unpark(&vcpu, VCPU_PARK_PEEK);
	want = 70000;
	CHECK(wait_until(all_arrived, 10000));
	CHECK_EQ(ngot, 70000);
	for (unsigned i = 0; i < ngot; i++)
		if (got[i] != (uint8_t)i) {
			CHECK_EQ(got[i], (uint8_t)i);
			break;
		}
	__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
	vcpu_kick(&vcpu);
	vcpu_join(&vcpu);
}

static struct vm vm;
static bool vm_parked(void)
{
	return vcpu_get_state(&vm.vcpus[0]) == VCPU_PARKED;
}

static bool vm_ran(void)
{
	return __atomic_load_n(&kvm_runs, __ATOMIC_SEQ_CST) > 0;
}

static void test_start_paused(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.ncpus = 1;
	vm.vcpus = calloc(1, sizeof(*vm.vcpus));
	vm.vcpus[0].ctx = &ctx;
	pthread_mutex_init(&vm.vcpus[0].lock, NULL);
	pthread_cond_init(&vm.vcpus[0].cond, NULL);
	vm.vcpus[0].fd = VCPU_FD;
	vm.vcpus[0].run = run;
	chain_left = 0;
	kvm_runs = 0;
	__atomic_store_n(&stopping, 0, __ATOMIC_SEQ_CST);
	CHECK_EQ(vm_start_paused(&vm), 0);
	CHECK(vm.paused && vm_parked());
	usleep(20000);
	CHECK_EQ(kvm_runs, 0); /* not one guest instruction before the resume */
	CHECK_EQ(vm_resume(&vm), 0);
	CHECK(wait_until(vm_ran, 5000));
	CHECK(!vm.paused);
	__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
	vcpu_kick(&vm.vcpus[0]);
	vcpu_join(&vm.vcpus[0]);
	free(vm.vcpus);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	vcpu_signals_init();
	run = aligned_alloc(4096, RUN_SIZE);
	memset(run, 0, RUN_SIZE);
	bus_init(&pio, "pio", 0xff);
	bus_init(&mmio, "mmio", 0);
	if (bus_add(&pio, PORT, 1, &dev_ops, NULL, "dev"))
		return 2;
	RUN_TEST(test_park_finishes_chained_exits);
	RUN_TEST(test_park_bounded);
	RUN_TEST(test_start_paused);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	free(run);
	TEST_EXIT();
}
