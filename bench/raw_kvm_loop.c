/* raw_kvm_loop: the lower limit for a port-I/O exit round trip on this host's KVM. Creates a VM
 * with one vCPU in flat 32-bit protected mode (no paging) running
 *     mov ecx, N; mov dx, PORT; test ecx, ecx; jz 1f; 0: out dx, al; dec ecx; jnz 0b; 1: hlt
 * and answers each KVM_EXIT_IO by simply calling KVM_RUN again. No devices, no irqchip.
 * Usage: raw_kvm_loop N [PORT]   (PORT default 0x80). Prints its own timing of the run loop on
 * stderr; bench/run.sh uses the wall clock of whole runs, as for the VMMs. Exit status 0 on
 * success (N I/O exits, then hlt), 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define CODE_ADDR 0x1000

static void die(const char *what)
{
	fprintf(stderr, "raw_kvm_loop: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s N [PORT]\n", argv[0]);
		return 2;
	}
	uint32_t n = (uint32_t)strtoul(argv[1], NULL, 0);
	uint16_t port = argc > 2 ? (uint16_t)strtoul(argv[2], NULL, 0) : 0x80;

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul); /* needed by VMX for real mode only; harmless */

	uint8_t *mem =
	    mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	const uint8_t code[] = {
		0xb9, 0,    0, 0, 0, /* mov ecx, N */
		0x66, 0xba, 0, 0,    /* mov dx, PORT */
		0x85, 0xc9,	     /* test ecx, ecx */
		0x74, 0x04,	     /* jz hlt */
		0xee,		     /* 0: out dx, al */
		0x49,		     /* dec ecx */
		0x75, 0xfc,	     /* jnz 0b */
		0xf4,		     /* hlt */
	};
	memcpy(mem + CODE_ADDR, code, sizeof(code));
	memcpy(mem + CODE_ADDR + 1, &n, 4);
	memcpy(mem + CODE_ADDR + 7, &port, 2);

	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run =
	    mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	flat_seg(&sregs.cs, 0x08, 11); /* execute/read, accessed */
	flat_seg(&sregs.ds, 0x10, 3);  /* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = CODE_ADDR, .rflags = 2, .rsp = MEM_SIZE };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");

	uint64_t io_exits = 0, other_exits = 0;
	double t0 = now_s();
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason == KVM_EXIT_IO) {
			io_exits++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		other_exits++;
		if (run->exit_reason != KVM_EXIT_INTR) {
			fprintf(stderr, "raw_kvm_loop: unexpected exit reason %u\n",
				run->exit_reason);
			return 1;
		}
	}
	double dt = now_s() - t0;
	fprintf(stderr,
		"raw_kvm_loop: n=%u io-exits=%llu other-exits=%llu loop %.6f s (%.3f us/exit)\n", n,
		(unsigned long long)io_exits, (unsigned long long)other_exits, dt,
		io_exits ? dt * 1e6 / (double)io_exits : 0.0);
	return io_exits == n ? 0 : 1;
}
