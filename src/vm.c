/* VM assembly in one explicit order, the stop protocol, and teardown in reverse. */
#include "vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "arch/x86/platform.h"
#include "devices.h"
#include "virtio/mmio_cmdline.h"
#include "log.h"
#include "snapshot/mem.h"
#include "vcpu.h"

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vm_irq_line(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (vm->emu) {
		emu_smp_irq(&vm->smp, gsi, level); /* GSI n is I/O APIC pin n */
		return;
	}
	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		log_guest("KVM_IRQ_LINE gsi %u failed: %s", gsi, strerror(errno));
}

/* --accel emu: an IPI for vCPU index (emu_smp's wake). */
static void vm_emu_wake(void *opaque, unsigned index)
{
	struct vm *vm = opaque;

	vcpu_wake(&vm->vcpus[index]);
}

static void vm_kick_others(void *opaque, unsigned index)
{
	struct vm *vm = opaque;
	unsigned n = __atomic_load_n(&vm->started, __ATOMIC_SEQ_CST);

	for (unsigned i = 0; i < n; i++)
		if (i != index)
			vcpu_kick(&vm->vcpus[i]);
}

/* The KVM side of the VM: the checks against this host's KVM, then the VM, irqchip and PIT. */
static int vm_create_kvm_vm(struct vm *vm)
{
	struct kvm *kvm = vm->kvm;
	int ret;

	if (vm->cfg->syscall_completion) {
		int sync = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);

		if (!kvm->restricted_backend)
			log_warn(
			    "--syscall-completion: only for restricted backends such as kvm_pvm "
			    "(this is %s); off",
			    kvm->backend);
		else if (sync <= 0 || (sync & SYSCALL_KVM_SYNC) != SYSCALL_KVM_SYNC)
			log_warn("--syscall-completion: this KVM has no KVM_CAP_SYNC_REGS; off");
		else {
			vm->vcpu_ctx.syscall = &vm->syscall;
			vm->vcpu_ctx.kick_others = vm_kick_others;
			log_info("SYSCALL completion on: a breakpoint on the guest's #PF handler");
		}
	}
	if (vm->ncpus > kvm->max_vcpus) {
		log_error("--cpus %u exceeds this host's KVM limit of %u vCPUs", vm->ncpus,
			  kvm->max_vcpus);
		vm->input_error = true;
		return -EINVAL;
	}
	ret =
	    cpuid_template_parse(vm->cfg->cpu_template, kvm->restricted_backend, &vm->cpu_template);
	if (ret) {
		log_error("unknown cpu template '%s'", vm->cfg->cpu_template);
		return ret;
	}
	log_info("KVM backend %s, cpu template %s", kvm->backend,
		 cpuid_template_name(vm->cpu_template));
	do
		vm->fd = ioctl(vm->kvm->fd, KVM_CREATE_VM, 0);
	while (vm->fd < 0 && errno == EINTR);
	if (vm->fd < 0) {
		log_error("KVM_CREATE_VM failed: %s", strerror(errno));
		return -errno;
	}
	/* Both must precede vCPU creation; they live in the top of the MMIO hole. */
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0) {
		log_error("KVM_SET_TSS_ADDR failed: %s", strerror(errno));
		return -errno;
	}
	uint64_t idmap = LAYOUT_KVM_IDENTITY_MAP;
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		log_error("KVM_SET_IDENTITY_MAP_ADDR failed: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
		return -errno;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("KVM_CREATE_PIT2 failed: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_create_memory(struct vm *vm, const struct vm_restore *restore)
{
	int ret = guest_mem_alloc(&vm->mem, vm->cfg->memory, LAYOUT_MMIO_HOLE);

	if (ret) {
		vm->input_error = true; /* --memory larger than the host allows */
		log_error("cannot allocate %llu MiB of guest RAM: %s",
			  (unsigned long long)(vm->cfg->memory >> 20), strerror(-ret));
		return ret;
	}
	if (restore) {
		char err[512];

		/* Before the memslots: KVM never sees the anonymous pages it replaces. */
		ret = snapshot_mem_map(restore->mem_path, &vm->mem, restore->id, err, sizeof(err));
		if (ret) {
			vm->input_error = true;
			log_error("%s", err);
			return ret;
		}
		vm->snapshot_id = restore->id;
	}
	/* Diff snapshots: KVM logs the guest's writes per memslot, kvmbox its own (guest_mem). */
	if (vm->cfg->track_dirty_pages) {
		ret = guest_mem_track_dirty(&vm->mem);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < vm->mem.nregions && !vm->emu; i++) {
		const struct guest_mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region kr = {
			.slot = i,
			.flags = vm->cfg->track_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};

		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
			log_error("KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/*
 * What a Firecracker-style boot adds to the guest's command line (user keys still win): the root
 * drive (root=/dev/vdX or PARTUUID=..., ro/rw) and, for pci=off guests, every virtio-mmio device
 * as virtio_mmio.device=SIZE@BASE:IRQ. Then the CPU template's extras. NULL when none.
 */
static char *vm_cmdline_extra(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	const char *tmpl = cpuid_linux_cmdline_extra(vm->cpu_template);
	struct mmio_cmdline_dev mmio[32];
	char root[160] = "";
	char *extra = NULL, *out = NULL;
	int n = 0, ret;

	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct config_disk *d = &cfg->disks[i];

		if (!d->is_root)
			continue;
		if (d->partuuid)
			snprintf(root, sizeof(root), "root=PARTUUID=%s %s", d->partuuid,
				 d->readonly ? "ro" : "rw");
		else if (i < 26)
			snprintf(root, sizeof(root), "root=/dev/vd%c %s", 'a' + i,
				 d->readonly ? "ro" : "rw");
		break;
	}
	if (cfg->mmio_cmdline)
		n = devices_mmio_list(vm, mmio, sizeof(mmio) / sizeof(mmio[0]));
	ret = mmio_cmdline_append(root, mmio, (unsigned)n, MMIO_CMDLINE_LINUX_MAX, &extra);
	if (ret) {
		log_error("the kernel command line is too long with %d virtio-mmio devices", n);
		return NULL;
	}
	if (asprintf(&out, "%s%s%s", extra ? extra : "", extra && *extra && tmpl ? " " : "",
		     tmpl ? tmpl : "") < 0)
		out = NULL;
	free(extra);
	return out;
}

static int vm_load_guest(struct vm *vm)
{
	struct acpi_config acpi = { .ncpus = vm->ncpus };
	struct mptable_config mp;
	struct mmio_cmdline_dev mmio[32];
	int n;
	struct boot_config boot;
	const char *user = vm->cfg->cmdline ? vm->cfg->cmdline : CONFIG_DEFAULT_CMDLINE;
	char *extra = vm_cmdline_extra(vm);
	bool has_extra;
	uint64_t rsdp = 0;
	int ret;

	devices_acpi(vm, &acpi);
	ret = acpi_build(&vm->mem, &acpi, &rsdp);
	if (ret) {
		log_error("building ACPI tables failed: %s", strerror(-ret));
		return ret;
	}
	/*
	 * For guests booted with acpi=off (Firecracker's way): SMP through the MP table. Its pins
	 * below 16 are edge-triggered unless marked: virtio-mmio lines there are level (the device
	 * holds the line while InterruptStatus is non-zero).
	 */
	mp = (struct mptable_config){ .ncpus = vm->ncpus };
	n = devices_mmio_list(vm, mmio, sizeof(mmio) / sizeof(mmio[0]));
	for (int i = 0; i < n; i++)
		if (mmio[i].gsi < 16)
			mp.level_pins |= 1u << mmio[i].gsi;
	if (vm->ncpus > MPTABLE_MAX_CPUS) {
		log_info("no MP table for %u vCPUs (at most %u): ACPI's MADT describes them",
			 vm->ncpus, MPTABLE_MAX_CPUS);
	} else {
		ret = mptable_write(&vm->mem, MPTABLE_GPA, MPTABLE_MAX_LEN, &mp);
		if (ret) {
			log_error("building the MP table failed: %s", strerror(-ret));
			return ret;
		}
	}
	if (!extra)
		return -ENOMEM;
	has_extra = *extra;
	vm->cmdline = cpuid_cmdline_merge(user, has_extra ? extra : NULL);
	free(extra);
	if (!vm->cmdline)
		return -ENOMEM;
	boot = (struct boot_config){
		.kernel_path = vm->cfg->kernel,
		.initrd_path = vm->cfg->initrd,
		/* A Multiboot kernel gets only what was asked for, as from GRUB or QEMU: the
		 * default is Linux's (console=ttyS0 ...), meaningless to it. */
		.cmdline = vm->cfg->cmdline ? vm->cfg->cmdline : "",
		.linux_cmdline = vm->cmdline,
		.rsdp_gpa = rsdp,
	};
	ret = boot_load(&vm->mem, &boot, &vm->entry);
	if (ret) {
		vm->input_error =
		    true; /* the kernel/initrd files, or --memory too small for them */
		return ret;
	}
	if (has_extra && vm->entry.mode != BOOT_MODE_MULTIBOOT)
		log_info("Linux command line is now \"%s\"", vm->cmdline);
	ret = cpu_write_boot_tables(&vm->mem, vm->entry.mode);
	if (ret)
		log_error("guest RAM too small for the boot page tables");
	return ret;
}

/* --accel emu: the vCPUs in the emulator, the BSP in the state kvmbox's boot gives a KVM vCPU,
 * the APs waiting for INIT and SIPI. */
static int vm_create_emu_vcpus(struct vm *vm)
{
	struct x86_regs regs;
	int ret;

	if (vm->entry.mode != BOOT_MODE_MULTIBOOT) {
		vm->input_error = true;
		log_error("--accel emu boots multiboot guests only, not a %s (Linux needs "
			  "interrupts and timers, which it does not emulate yet)",
			  vm->entry.format);
		return -EINVAL;
	}
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	cpu_boot_regs(&vm->entry, &regs);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		ret = vcpu_create_emu(&vm->vcpus[i], &vm->vcpu_ctx, i, i ? NULL : &regs);
		if (ret) {
			log_error("cannot create emulated vCPU %u: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int vm_create_vcpus(struct vm *vm)
{
	int ret;

	if (vm->emu)
		return vm_create_emu_vcpus(vm);

	vm->cpuid = cpu_supported_cpuid(vm->kvm->fd);
	if (!vm->cpuid) {
		log_error("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
		return -EIO;
	}
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		ret = vcpu_create(&vm->vcpus[i], &vm->vcpu_ctx, vm->fd, i);
		if (ret)
			return ret;
		if (vm->restored)
			continue; /* CPUID, MSRs, LAPIC, registers: all from the snapshot */
		ret = cpu_init(vm->vcpus[i].fd, vm->cpuid, i, vm->ncpus, vm->cpu_template);
		if (ret)
			return ret;
	}
	if (vm->restored)
		return 0;
	/* Application processors wait in the in-kernel LAPIC for INIT/SIPI from the guest. */
	ret = cpu_set_boot_state(vm->vcpus[0].fd, &vm->entry);
	if (ret)
		log_error("setting the boot vCPU's registers failed: %s", strerror(-ret));
	return ret;
}

static void vm_stop_cb(void *opaque, int status)
{
	vm_stop(opaque, status);
}

int vm_create(struct vm *vm, struct kvm *kvm, const struct vm_config *cfg,
	      const struct vm_restore *restore)
{
	int ret = 0;

	memset(vm, 0, sizeof(*vm));
	vm->kvm = kvm;
	vm->emu = !kvm;
	vm->cfg = cfg;
	vm->restored = restore != NULL;
	vm->fd = -1;
	vm->ncpus = cfg->cpus;
	vm->start_ns = vm_now_ns();
	bus_init(&vm->pio, "pio", 0xff);
	bus_init(&vm->mmio, "mmio", 0x00);
	vm->vcpu_ctx = (struct vcpu_ctx){
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.mem = &vm->mem,
		.run_size = kvm ? (size_t)kvm->vcpu_mmap_size : 0,
		.stopping = &vm->stopping,
		.stop = vm_stop_cb,
		.opaque = vm,
	};
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return -errno;
	if (vm->emu) {
		log_info("no KVM: the x86 emulator runs the guest (--accel emu)");
		emu_smp_init(&vm->smp, vm_emu_wake, vm);
		vm->vcpu_ctx.smp = &vm->smp;
		ioapic_init(&vm->ioapic, emu_smp_message, &vm->smp);
		vm->smp.ioapic = &vm->ioapic;
		ret = bus_add(&vm->mmio, LAYOUT_IOAPIC, IOAPIC_SIZE, &ioapic_bus_ops, &vm->ioapic,
			      "ioapic");
	} else
		ret = vm_create_kvm_vm(vm);
	if (ret)
		goto err;
	ret = vm_create_memory(vm, restore);
	if (ret)
		goto err;
	ret = platform_create(vm);
	if (ret)
		goto err;
	ret = devices_create(vm);
	if (ret) {
		/* Images and taps named on the command line; KVM failures are host errors. */
		vm->input_error = ret == -ENOENT || ret == -EACCES || ret == -EPERM ||
				  ret == -EROFS || ret == -ENODEV || ret == -EINVAL ||
				  ret == -E2BIG || ret == -EISDIR || ret == -ENOTDIR ||
				  ret == -EBUSY;
		goto err;
	}
	/* A restored guest is in its RAM already, its tables and command line with it. */
	ret = vm->restored ? 0 : vm_load_guest(vm);
	if (ret)
		goto err;
	ret = vm_create_vcpus(vm);
	if (ret)
		goto err;
	return 0;

err:
	vm_destroy(vm);
	return ret;
}

int vm_start(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);

		if (ret) {
			vm_stop(vm, VM_EXIT_HOST_ERROR);
			return ret;
		}
		/*
		 * Publish, then look: a vm_stop that ran before this store did not kick vCPU i
		 * (an AP blocked in KVM_RUN waiting for a SIPI would never return), so kick it
		 * here. Both sides are seq_cst, so at least one of them sees the other.
		 */
		__atomic_store_n(&vm->started, i + 1, __ATOMIC_SEQ_CST);
		if (vm_stopping(vm))
			vcpu_kick(&vm->vcpus[i]);
	}
	return 0;
}

int vm_start_paused(struct vm *vm)
{
	int ret;

	if (vm->paused)
		return -EALREADY;
	/* Requested before the threads exist: each parks before its first KVM_RUN. */
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_request_park(&vm->vcpus[i], VCPU_PARK_PAUSE);
	ret = devices_quiesce(vm);
	if (ret)
		return ret;
	vm->paused = true;
	ret = vm_start(vm);
	for (unsigned i = 0; !ret && i < vm->ncpus; i++)
		if (vcpu_wait_parked(&vm->vcpus[i]))
			ret = -ESHUTDOWN;
	return ret;
}

bool vm_stopping(const struct vm *vm)
{
	return __atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST);
}

void vm_stop(struct vm *vm, int status)
{
	int expected = 0;
	uint64_t one = 1;

	if (!__atomic_compare_exchange_n(&vm->stopping, &expected, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return;
	vm->exit_status = status;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < __atomic_load_n(&vm->started, __ATOMIC_SEQ_CST); i++)
		vcpu_kick(&vm->vcpus[i]);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		log_debug("stop eventfd write failed");
}

int vm_park_vcpus(struct vm *vm, unsigned reason)
{
	unsigned n = __atomic_load_n(&vm->started, __ATOMIC_SEQ_CST);
	int ret = 0;

	for (unsigned i = 0; i < n; i++)
		vcpu_request_park(&vm->vcpus[i], reason);
	for (unsigned i = 0; i < n; i++)
		if (vcpu_wait_parked(&vm->vcpus[i]))
			ret = -ESHUTDOWN;
	if (ret)
		vm_unpark_vcpus(vm, reason);
	return ret;
}

void vm_unpark_vcpus(struct vm *vm, unsigned reason)
{
	unsigned n = __atomic_load_n(&vm->started, __ATOMIC_SEQ_CST);

	for (unsigned i = 0; i < n; i++)
		vcpu_unpark(&vm->vcpus[i], reason);
}

int vm_pause(struct vm *vm)
{
	int ret;

	if (vm->paused)
		return -EALREADY;
	if (vm_stopping(vm))
		return -ESHUTDOWN;
	ret = vm_park_vcpus(vm, VCPU_PARK_PAUSE);
	if (!ret) {
		ret = devices_quiesce(vm);
		if (ret)
			vm_unpark_vcpus(vm, VCPU_PARK_PAUSE);
	}
	if (ret)
		return vm_stopping(vm) ? -ESHUTDOWN : ret;
	vm->paused = true;
	return 0;
}

int vm_with_vcpus_parked(struct vm *vm, int (*fn)(struct vcpu *vcpu, void *arg), void *arg)
{
	unsigned n = __atomic_load_n(&vm->started, __ATOMIC_SEQ_CST);
	int ret = 0;

	if (vm_stopping(vm))
		return -ESHUTDOWN;
	/* Its own reason: returns at once for vCPUs already parked (a pause, a gdb stop), and
	 * lifting it leaves those parked. */
	ret = vm_park_vcpus(vm, VCPU_PARK_PEEK);
	if (ret)
		return ret;
	for (unsigned i = 0; i < n && !ret; i++)
		ret = fn(&vm->vcpus[i], arg);
	vm_unpark_vcpus(vm, VCPU_PARK_PEEK);
	return ret;
}

int vm_resume(struct vm *vm)
{
	if (!vm->paused)
		return -EALREADY;
	devices_resume(vm);
	vm->paused = false;
	vm_unpark_vcpus(vm, VCPU_PARK_PAUSE);
	return vm_stopping(vm) ? -ESHUTDOWN : 0;
}

void vm_join(struct vm *vm)
{
	for (unsigned i = 0; i < vm->started; i++)
		vcpu_join(&vm->vcpus[i]);
	vm->started = 0;
}

void vm_destroy(struct vm *vm)
{
	vm_join(vm);
	if (vm->paused && vm->devices)
		devices_resume(vm); /* the I/O threads must run to be stopped */
	vm->paused = false;
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	devices_destroy(vm);
	platform_destroy(vm);
	free(vm->cpuid);
	vm->cpuid = NULL;
	free(vm->cmdline);
	vm->cmdline = NULL;
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	guest_mem_free(&vm->mem);
	if (vm->vcpu_ctx.smp)
		emu_smp_destroy(vm->vcpu_ctx.smp);
	vm->vcpu_ctx.smp = NULL;
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	vm->stop_fd = -1;
}
