/*
 * Snapshot and restore of a whole VM: what KVM keeps (the VM-wide irqchip, PIT and clock; every
 * vCPU's state), what kvmbox's device models keep (through their save/load hooks on the buses),
 * and guest RAM. The VM is paused throughout a save (vm_pause: vCPUs out of KVM_RUN with their
 * last exit completed, device queues drained and I/O threads parked), so nothing changes under it.
 *
 * A restore builds the VM from the snapshot's configuration with its memory file mapped as RAM
 * (vm_create), then puts the state back in this order, before any vCPU runs:
 *  1. checks that need no change: every saved MSR is one this host's KVM has, every CPU feature
 *     the guest was shown is this CPU's; then the TSC frequency (KVM_SET_TSC_KHZ where it differs);
 *  2. the irqchip (both PICs and the IOAPIC);
 *  3. the devices, PIO bus then MMIO bus (the PCI bus's configuration space comes before the
 *     BARs it maps); a device whose line was high raises it again, into the restored irqchip;
 *  4. each vCPU (cpu_state_set): CPUID first, since KVM checks MSRs, XSAVE and XCRs against it;
 *     the TSC before the TSC-deadline MSR and the LAPIC before it too (a deadline armed against
 *     the wrong TSC or into a LAPIC not yet in TSC-deadline mode never fires); VCPU_EVENTS last,
 *     since setting other state can clear a pending exception or NMI. An edge interrupt that
 *     step 3 raised again was delivered into a LAPIC this overwrites: no extra interrupt;
 *  5. the PIT and the clock (vm_state_set_timers): the PIT re-arms at once and must tick into
 *     restored LAPICs; the guest's kvmclock goes on from where it stopped.
 */
#include "vm_snapshot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/snapshot_image.h"
#include "arch/x86/vm_state.h"
#include "bus.h"
#include "log.h"
#include "snapshot/state.h"
#include "vm.h"

static int vm_snapshot_err(char *err, size_t errlen, int ret, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-ret));
	return ret;
}

uint32_t vm_snapshot_backend_id(const char *backend)
{
	static const char *const names[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };

	for (uint32_t i = 0; backend && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(backend, names[i]))
			return i + 1;
	return 0;
}

int vm_snapshot_host(const struct kvm *kvm, const struct kvm_cpuid2 *supported, unsigned ncpus,
		     struct snapshot_host *h)
{
	int xsave2;

	memset(h, 0, sizeof(*h));
	h->backend = vm_snapshot_backend_id(kvm->backend);
	for (uint32_t i = 0; supported && i < supported->nent; i++)
		if (supported->entries[i].function == 0)
			h->vendor = supported->entries[i].ebx;
	/* KVM_CAP_XSAVE2 gives the size KVM_GET_XSAVE2 needs; without it, struct kvm_xsave's. */
	xsave2 = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	h->xsave_size = xsave2 > 0 ? (uint32_t)xsave2 : (uint32_t)sizeof(struct kvm_xsave);
	h->ncpus = ncpus;
	return 0;
}

/*
 * The pages written since the last snapshot, one bit per page in the memory file's order: KVM's
 * dirty log of each memslot (reading it starts the next interval) and the pages kvmbox's own
 * devices wrote (guest_mem). out holds ram_size / 4 KiB bits.
 */
static int vm_snapshot_dirty(struct vm *vm, uint64_t *out)
{
	uint64_t base = 0;
	int ret = 0;

	for (unsigned i = 0; i < vm->mem.nregions && !ret; i++) {
		const struct guest_mem_region *r = &vm->mem.regions[i];
		uint64_t pages = r->size / GUEST_MEM_PAGE;
		uint64_t *slot = calloc((size_t)(pages + 63) / 64, sizeof(uint64_t));
		struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = slot };

		if (!slot)
			return -ENOMEM;
		if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log) < 0)
			ret = -errno;
		for (uint64_t p = 0; !ret && p < pages; p++) {
			uint64_t at = base + p;

			if (slot[p / 64] & (1ull << (p % 64)))
				out[at / 64] |= 1ull << (at % 64);
		}
		free(slot);
		base += pages;
	}
	guest_mem_take_dirty(&vm->mem, out);
	return ret;
}

/* A failed save gives the pages back, so the next Diff still writes them. */
static void vm_snapshot_dirty_undo(struct vm *vm, const uint64_t *bits)
{
	for (uint64_t i = 0; vm->mem.dirty && i < vm->mem.dirty_words; i++)
		__atomic_fetch_or(&vm->mem.dirty[i], bits[i], __ATOMIC_RELAXED);
}

/*
 * Keep the MSRs of list a vCPU lets the host read: KVM_GET_MSR_INDEX_LIST names every MSR KVM
 * knows on this host, but one the guest's CPUID does not enable can refuse a read, and
 * KVM_GET_MSRS stops at the first refusal. An MSR that cannot be read holds no state to save.
 */
static unsigned vm_snapshot_msr_filter(int vcpu_fd, uint32_t *list, unsigned n)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < n; i++) {
		struct {
			struct kvm_msrs m;
			struct kvm_msr_entry e[1];
		} one = { .m.nmsrs = 1, .e[0].index = list[i] };

		if (ioctl(vcpu_fd, KVM_GET_MSRS, &one.m) == 1)
			list[kept++] = list[i];
		else
			log_debug("snapshot: MSR 0x%x cannot be read on this vCPU: not saved",
				  list[i]);
	}
	return kept;
}

/* Everything but RAM, read from the paused VM into image. */
static int vm_snapshot_collect(struct vm *vm, struct snapshot_image *image, char *err,
			       size_t errlen)
{
	uint32_t *msrs = calloc(CPU_STATE_MAX_MSRS, sizeof(*msrs));
	struct state_writer w;
	int n, ret;

	if (!msrs)
		return -ENOMEM;
	n = cpu_state_msr_list(vm->kvm->fd, msrs, CPU_STATE_MAX_MSRS);
	if (n < 0) {
		free(msrs);
		return vm_snapshot_err(err, errlen, n, "KVM_GET_MSR_INDEX_LIST failed");
	}
	n = (int)vm_snapshot_msr_filter(vm->vcpus[0].fd, msrs, (unsigned)n);
	ret = vm_state_get(vm->fd, &image->vm);
	if (ret) {
		free(msrs);
		return vm_snapshot_err(err, errlen, ret,
				       "reading the irqchip, PIT and clock failed");
	}
	image->ncpus = vm->ncpus;
	image->cpus = calloc(vm->ncpus, sizeof(*image->cpus));
	if (!image->cpus) {
		free(msrs);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (__atomic_load_n(&vm->vcpus[i].exit_pending, __ATOMIC_SEQ_CST)) {
			free(msrs);
			snprintf(
			    err, errlen,
			    "vCPU %u was paused in the middle of a long string I/O instruction: "
			    "resume and pause again",
			    i);
			return -EBUSY;
		}
		ret = cpu_state_get(vm->vcpus[i].fd, msrs, (unsigned)n, &image->cpus[i]);
		if (ret) {
			free(msrs);
			snprintf(err, errlen, "reading vCPU %u's state failed: %s", i,
				 ret == -EIO ? "KVM could not read one of its MSRs"
					     : strerror(-ret));
			return ret;
		}
	}
	free(msrs);
	state_writer_init(&w);
	ret = bus_save(&vm->pio, &w);
	if (!ret)
		ret = bus_save(&vm->mmio, &w);
	if (ret) {
		state_writer_free(&w);
		snprintf(err, errlen, "saving the devices failed: %s",
			 ret == -EBUSY ? "requests still in flight"
			 : ret == -EOPNOTSUPP
			     ? "a device without snapshot support"
			     : (log_last_error()[0] ? log_last_error() : strerror(-ret)));
		return ret;
	}
	image->devices = w.buf; /* the image owns it now */
	image->devices_len = w.len;
	return 0;
}

int vm_snapshot_save(struct vm *vm, const char *config, const char *state_path,
		     const char *mem_path, bool diff, struct snapshot_mem_stats *stats, char *err,
		     size_t errlen)
{
	struct snapshot_image image = { 0 };
	struct snapshot_mem_stats st = { 0 };
	struct snapshot_host host;
	uint64_t *dirty = NULL, id = 0;
	int ret;

	if (!vm->paused) {
		snprintf(err, errlen, "the microVM must be paused");
		return -EINVAL;
	}
	if (diff && !vm->mem.dirty) {
		snprintf(err, errlen,
			 "Diff snapshots need dirty-page tracking (machine-config "
			 "track_dirty_pages, or enable_diff_snapshots on snapshot load)");
		return -EINVAL;
	}
	if (diff && !vm->snapshot_id) {
		snprintf(err, errlen,
			 "a Diff snapshot needs a Full one first (it holds what changed since)");
		return -EINVAL;
	}
	/* The id ties the memory file to this state file (never 0: "no snapshot"). */
	while (!id)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			return vm_snapshot_err(err, errlen, -errno, "getrandom failed");
	if (vm->mem.dirty) {
		dirty = calloc((size_t)vm->mem.dirty_words + 1, sizeof(uint64_t));
		if (!dirty)
			return -ENOMEM;
		/* A Full snapshot reads it too: the next Diff holds what changed after this one. */
		ret = vm_snapshot_dirty(vm, dirty);
		if (ret) {
			vm_snapshot_dirty_undo(vm, dirty);
			free(dirty);
			return vm_snapshot_err(err, errlen, ret, "KVM_GET_DIRTY_LOG failed");
		}
	}
	image.config = (char *)config; /* borrowed: not freed below */
	ret = vm_snapshot_collect(vm, &image, err, errlen);
	if (!ret)
		ret = vm_snapshot_host(vm->kvm, vm->cpuid, vm->ncpus, &host);
	if (!ret) {
		int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);

		host.tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	}
	host.id = id;
	/*
	 * Memory first (Full: a temporary file; Diff: in place, its id 0 until the pages are
	 * down), then the state file (atomic), then the Full memory file into place. Whatever
	 * step fails or is cut short, the two files at these paths either are one snapshot (the
	 * same id) or are refused as a pair by a restore.
	 */
	if (!ret)
		ret = snapshot_mem_save(mem_path, &vm->mem, diff ? dirty : NULL, vm->snapshot_id,
					id, &st, err, errlen);
	if (!ret) {
		ret = snapshot_image_write(state_path, &host, &image, err, errlen);
		if (ret && !diff)
			snapshot_mem_abort(mem_path);
	}
	if (!ret && !diff)
		ret = snapshot_mem_commit(mem_path, err, errlen);
	if (!ret)
		vm->snapshot_id = id;
	if (ret && dirty)
		vm_snapshot_dirty_undo(vm, dirty);
	free(dirty);
	image.config = NULL;
	snapshot_image_free(&image);
	if (!ret && stats)
		*stats = st;
	return ret;
}

/* Only MSRs this host's KVM knows go back (fail closed, naming the first that does not). */
static int vm_snapshot_msrs_known(struct vm *vm, const struct snapshot_image *image, char *err,
				  size_t errlen)
{
	uint32_t *known = calloc(CPU_STATE_MAX_MSRS, sizeof(*known));
	int n = known ? cpu_state_msr_list(vm->kvm->fd, known, CPU_STATE_MAX_MSRS) : -ENOMEM;
	int ret = 0;

	if (n < 0) {
		free(known);
		return vm_snapshot_err(err, errlen, n, "KVM_GET_MSR_INDEX_LIST failed");
	}
	for (unsigned c = 0; !ret && c < image->ncpus; c++) {
		const struct cpu_state *s = &image->cpus[c];

		for (uint32_t i = 0; !ret && i < s->nmsrs && i < CPU_STATE_MAX_MSRS; i++) {
			int k;

			for (k = 0; k < n && known[k] != s->msrs[i].index; k++)
				;
			if (k == n) {
				snprintf(err, errlen,
					 "the snapshot holds MSR 0x%x, which this host's KVM does "
					 "not have",
					 s->msrs[i].index);
				ret = -EINVAL;
			}
		}
	}
	free(known);
	return ret;
}

/*
 * The guest calibrated its clocks against the snapshot host's TSC rate: keep it. KVM scales the
 * TSC (VMX/SVM TSC scaling) or, within its tolerance of 250 ppm, takes the host's rate as it is.
 * Before the TSC MSR is written: its value is in guest ticks.
 */
static int vm_snapshot_tsc(struct vm *vm, uint32_t khz, char *err, size_t errlen)
{
	/* Without TSC scaling KVM still says yes to a faster rate ("catch-up" mode), but the
	 * guest's TSC runs at the host's: refuse a rate it cannot keep. */
	bool scaling = ioctl(vm->kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) > 0;

	for (unsigned i = 0; khz && i < vm->ncpus; i++) {
		int here = ioctl(vm->vcpus[i].fd, KVM_GET_TSC_KHZ, 0);
		uint64_t diff;

		if (here <= 0 || (uint32_t)here == khz)
			continue;
		diff = (uint32_t)here > khz ? (uint32_t)here - khz : khz - (uint32_t)here;
		if (diff * 1000000 <= (uint64_t)khz * 250)
			continue; /* within KVM's own tolerance: it would not scale either */
		if (!scaling || ioctl(vm->vcpus[i].fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0) {
			snprintf(err, errlen,
				 "this host's TSC runs at %d kHz and KVM cannot run the snapshot's "
				 "vCPUs at %u kHz (no TSC scaling)",
				 here, khz);
			return -EINVAL;
		}
	}
	return 0;
}

int vm_snapshot_restore(struct vm *vm, const struct snapshot_host *saved,
			const struct snapshot_image *image, char *err, size_t errlen)
{
	struct state_reader r;
	int ret = 0;

	/* The configuration built the VM; the CPUS section must agree before it is indexed. */
	if (image->ncpus != vm->ncpus) {
		snprintf(err, errlen, "the snapshot holds %u vCPUs, its configuration %u",
			 image->ncpus, vm->ncpus);
		return -EINVAL;
	}
	/* The same template on this host's KVM: what a new vCPU here would get. */
	{
		size_t size = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
		struct kvm_cpuid2 *here = malloc(size);

		if (!here)
			return -ENOMEM;
		memcpy(here, vm->cpuid, size);
		cpuid_apply(here, 0, vm->ncpus, vm->cpu_template);
		for (unsigned i = 0; !ret && i < image->ncpus; i++)
			ret = cpu_state_cpuid_check(&image->cpus[i], here, err, errlen);
		free(here);
		if (ret)
			return ret;
	}
	ret = vm_snapshot_msrs_known(vm, image, err, errlen);
	if (ret)
		return ret;
	ret = vm_snapshot_tsc(vm, saved->tsc_khz, err, errlen);
	if (ret)
		return ret;
	ret = vm_state_set_irqchip(vm->fd, &image->vm);
	if (ret)
		return vm_snapshot_err(err, errlen, ret, "KVM refused the snapshot's irqchip");
	state_reader_init(&r, image->devices, image->devices_len);
	ret = bus_load(&vm->pio, &r, err, errlen);
	if (!ret)
		ret = bus_load(&vm->mmio, &r, err, errlen);
	if (ret)
		return ret;
	if (r.pos != r.len) {
		snprintf(err, errlen, "the snapshot has state for devices this microVM lacks");
		return -EINVAL;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		uint32_t bad = 0;

		ret = cpu_state_set(vm->vcpus[i].fd, &image->cpus[i], &bad);
		if (ret == -EINVAL && bad) {
			snprintf(err, errlen,
				 "KVM refused vCPU %u's MSR 0x%x: this host cannot hold "
				 "the snapshot",
				 i, bad);
			return ret;
		}
		if (ret) {
			snprintf(err, errlen, "KVM refused vCPU %u's saved state: %s", i,
				 strerror(-ret));
			return ret;
		}
	}
	ret = vm_state_set_timers(vm->fd, &image->vm);
	if (ret)
		return vm_snapshot_err(err, errlen, ret, "KVM refused the snapshot's PIT or clock");
	return 0;
}
