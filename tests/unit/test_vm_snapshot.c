/*
 * vm_snapshot.c without /dev/kvm: ioctl(2) is wrapped (-Wl,--wrap=ioctl, tests/unit/unit.mk) by a
 * small fake of KVM that keeps each fake vCPU's and VM's state and logs every call. A VM with two
 * vCPUs, two RAM regions and a device is saved (Full, then a Diff, then a Full at the same moment)
 * and restored into a second fake VM; the test checks that every piece of state arrives unchanged,
 * the order of the SET ioctls that KVM needs, the MSR list (PAT and MTRRs added, an unreadable MSR
 * left out), the TSC scaling, and each refusal (a CPU feature or an MSR this host lacks, a TSC
 * rate it cannot scale to, a vCPU parked mid-instruction, a Diff without a Full, a VM not paused).
 */

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/snapshot_image.h"
#include "bus.h"
#include "log.h"
#include "snapshot/state.h"
#include "fake_kvm.h"
#include "test.h"
#include "vm.h"
#include "vm_snapshot.h"

#define KVM_FD 900
#define VM_A 901
#define VM_B 902
#define VCPU_A 910 /* + index */
#define VCPU_B 920
#define NMSR 48

struct fake_vcpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t pdptrs[4];
	uint64_t sregs2_flags;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	unsigned ncpuid;
	struct kvm_cpuid_entry2 cpuid[8];
	unsigned nmsr;
	uint32_t msr_idx[NMSR];
	uint64_t msr_val[NMSR];
	int tsc_khz;
};

struct fake_vm {
	struct kvm_irqchip chip[3];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	uint64_t dirty[2]; /* per slot, first 64 pages */
};

static struct fake_vcpu fv[2][2]; /* [vm][vcpu] */
static struct fake_vm fm[2];
static uint32_t index_list[NMSR];
static unsigned nindex;
static uint32_t unreadable = 0x3b; /* IA32_TSC_ADJUST: read refused in this fake */
static int tsc_control = 1;
static struct {
	int fd;
	unsigned long req;
	uint32_t msr0; /* KVM_SET_MSRS: the first index */
} calls[512];
static unsigned ncalls;

static struct fake_vcpu *vcpu_of(int fd)
{
	if (fd >= VCPU_A && fd < VCPU_A + 2)
		return &fv[0][fd - VCPU_A];
	if (fd >= VCPU_B && fd < VCPU_B + 2)
		return &fv[1][fd - VCPU_B];
	return NULL;
}

static int msr_slot(struct fake_vcpu *v, uint32_t idx, bool create)
{
	for (unsigned i = 0; i < v->nmsr; i++)
		if (v->msr_idx[i] == idx)
			return (int)i;
	if (!create || v->nmsr == NMSR)
		return -1;
	v->msr_idx[v->nmsr] = idx;
	return (int)v->nmsr++;
}

static void log_call(int fd, unsigned long req, uint32_t msr0)
{
	if (ncalls < sizeof(calls) / sizeof(calls[0]))
		calls[ncalls++] = (typeof(calls[0])){ fd, req, msr0 };
}

static int fake_vcpu_ioctl(struct fake_vcpu *v, unsigned long req, void *arg)
{
	switch (req) {
		FAKE_KVM_GETSET(KVM_GET_REGS, KVM_SET_REGS, v->regs)
		FAKE_KVM_GETSET(KVM_GET_SREGS, KVM_SET_SREGS, v->sregs)
		FAKE_KVM_GETSET(KVM_GET_XSAVE, KVM_SET_XSAVE, v->xsave)
		FAKE_KVM_GETSET(KVM_GET_XCRS, KVM_SET_XCRS, v->xcrs)
		FAKE_KVM_GETSET(KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, v->dregs)
		FAKE_KVM_GETSET(KVM_GET_LAPIC, KVM_SET_LAPIC, v->lapic)
		FAKE_KVM_GETSET(KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, v->events)
		FAKE_KVM_GETSET(KVM_GET_MP_STATE, KVM_SET_MP_STATE, v->mp)
#undef GETSET
	case KVM_GET_SREGS2: {
		struct kvm_sregs2 *s2 = arg;

		memset(s2, 0, sizeof(*s2));
		s2->cr3 = v->sregs.cr3;
		s2->flags = v->sregs2_flags;
		memcpy(s2->pdptrs, v->pdptrs, sizeof(v->pdptrs));
		return 0;
	}
	case KVM_SET_SREGS2: {
		const struct kvm_sregs2 *s2 = arg;

		v->sregs2_flags = s2->flags;
		memcpy(v->pdptrs, s2->pdptrs, sizeof(v->pdptrs));
		return 0;
	}
	case KVM_GET_CPUID2: {
		struct kvm_cpuid2 *c = arg;

		if (c->nent < v->ncpuid)
			return errno = E2BIG, -1;
		c->nent = v->ncpuid;
		memcpy(c->entries, v->cpuid, v->ncpuid * sizeof(v->cpuid[0]));
		return 0;
	}
	case KVM_SET_CPUID2: {
		const struct kvm_cpuid2 *c = arg;

		if (c->nent > 8)
			return errno = E2BIG, -1;
		v->ncpuid = c->nent;
		memcpy(v->cpuid, c->entries, c->nent * sizeof(v->cpuid[0]));
		return 0;
	}
	case KVM_GET_MSRS:
	case KVM_SET_MSRS: {
		struct kvm_msrs *m = arg;
		unsigned i;

		for (i = 0; i < m->nmsrs; i++) {
			int s;

			if (req == KVM_GET_MSRS) {
				s = msr_slot(v, m->entries[i].index, false);
				if (s < 0 || m->entries[i].index == unreadable)
					break; /* KVM stops at the first it cannot read */
				m->entries[i].data = v->msr_val[s];
			} else {
				s = msr_slot(v, m->entries[i].index, true);
				if (s < 0)
					break;
				v->msr_val[s] = m->entries[i].data;
			}
		}
		return (int)i;
	}
	case KVM_GET_TSC_KHZ:
		return v->tsc_khz;
	case KVM_SET_TSC_KHZ:
		v->tsc_khz = (int)(uintptr_t)arg;
		return 0;
	}
	return errno = ENOTTY, -1;
}

static int fake_vm_ioctl(struct fake_vm *m, unsigned long req, void *arg)
{
	struct kvm_irqchip *c = arg;

	switch (req) {
	case KVM_GET_IRQCHIP:
		if (c->chip_id > 2)
			return errno = EINVAL, -1;
		memcpy(&c->chip, &m->chip[c->chip_id].chip, sizeof(c->chip));
		return 0;
	case KVM_SET_IRQCHIP:
		if (c->chip_id > 2)
			return errno = EINVAL, -1;
		m->chip[c->chip_id] = *c;
		return 0;
	case KVM_GET_PIT2:
		memcpy(arg, &m->pit, sizeof(m->pit));
		return 0;
	case KVM_SET_PIT2:
		memcpy(&m->pit, arg, sizeof(m->pit));
		return 0;
	case KVM_GET_CLOCK:
		memcpy(arg, &m->clock, sizeof(m->clock));
		return 0;
	case KVM_SET_CLOCK:
		memcpy(&m->clock, arg, sizeof(m->clock));
		return 0;
	case KVM_GET_DIRTY_LOG: {
		struct kvm_dirty_log *d = arg;

		if (d->slot > 1)
			return errno = ENOENT, -1;
		memcpy(d->dirty_bitmap, &m->dirty[d->slot], 8); /* both slots have >= 64 pages */
		m->dirty[d->slot] = 0;
		return 0;
	}
	}
	return errno = ENOTTY, -1;
}

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	struct fake_vcpu *v = vcpu_of(fd);

	log_call(fd, req, req == KVM_SET_MSRS ? ((struct kvm_msrs *)arg)->entries[0].index : 0);
	if (v)
		return fake_vcpu_ioctl(v, req, arg);
	if (fd == VM_A || fd == VM_B)
		return fake_vm_ioctl(&fm[fd - VM_A], req, arg);
	if (fd == KVM_FD) {
		if (req == KVM_GET_MSR_INDEX_LIST) {
			struct kvm_msr_list *l = arg;

			if (l->nmsrs < nindex)
				return errno = E2BIG, -1;
			l->nmsrs = nindex;
			memcpy(l->indices, index_list, nindex * sizeof(index_list[0]));
			return 0;
		}
		if (req == KVM_CHECK_EXTENSION)
			return (uintptr_t)arg == KVM_CAP_TSC_CONTROL ? tsc_control : 0;
		return errno = ENOTTY, -1;
	}
	return __real_ioctl(fd, req, arg);
}

/* ---- A device with state on the PIO bus ---- */

struct fake_dev {
	uint32_t reg;
	unsigned loaded_at; /* ncalls when its load ran */
};

static void fdev_read(void *d, uint64_t off, void *data, unsigned len)
{
	memset(data, 0, len);
}

static void fdev_write(void *d, uint64_t off, const void *data, unsigned len)
{
}

static void fdev_save(const void *opaque, struct state_writer *w)
{
	const struct fake_dev *d = opaque;

	state_section_begin(w, STATE_TAG('F', 'D', 'E', 'V'), 1);
	state_put_u32(w, d->reg);
	state_section_end_write(w);
}

static int fdev_load(void *opaque, struct state_reader *r)
{
	struct fake_dev *d = opaque;
	uint32_t version, reg;
	int ret;

	state_section_begin_read(r, STATE_TAG('F', 'D', 'E', 'V'), 1, &version);
	reg = state_get_u32(r);
	ret = state_section_end(r);
	if (!ret) {
		d->reg = reg;
		d->loaded_at = ncalls;
	}
	return ret;
}

static const struct bus_ops fdev_ops = {
	.read = fdev_read, .write = fdev_write, .save = fdev_save, .load = fdev_load
};

/* ---- The two fake VMs ---- */

#define RAM (8ull << 20)
#define HOLE (6ull << 20)

static struct kvm kvm = { .fd = KVM_FD, .backend = "kvm_intel", .max_vcpus = 8 };
static struct fake_dev dev[2];
static struct kvm_cpuid2 *supported;
static char dir[] = "/tmp/kvmbox-test-vmsnap-XXXXXX";

static struct kvm_cpuid2 *cpuid_new(void)
{
	static const struct kvm_cpuid_entry2 e[] = {
		{ .function = 0, .eax = 0xd, .ebx = 0x756e6547 },
		{ .function = 1, .eax = 0x906ea, .ecx = 0x7ffafbbf, .edx = 0xbfebfbff },
		{ .function = 7,
		  .index = 0,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ebx = 0x029c67af },
		{ .function = 0x80000001, .ecx = 0x121, .edx = 0x2c100800 },
	};
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(e));

	c->nent = sizeof(e) / sizeof(e[0]);
	memcpy(c->entries, e, sizeof(e));
	return c;
}

static void fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 13 + i * 7);
}

static void vm_setup(struct vm *vm, int which)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm = &kvm;
	vm->fd = which ? VM_B : VM_A;
	vm->ncpus = 2;
	vm->cpuid = supported;
	vm->cpu_template = CPUID_TEMPLATE_HOST;
	bus_init(&vm->pio, "pio", 0xff);
	bus_init(&vm->mmio, "mmio", 0);
	if (bus_add(&vm->pio, 0x510, 2, &fdev_ops, &dev[which], "fake"))
		abort();
	if (guest_mem_alloc(&vm->mem, RAM, HOLE) || guest_mem_track_dirty(&vm->mem))
		abort();
	vm->vcpus = calloc(2, sizeof(*vm->vcpus));
	for (unsigned i = 0; i < 2; i++) {
		vm->vcpus[i].fd = (which ? VCPU_B : VCPU_A) + (int)i;
		vm->vcpus[i].index = i;
	}
}

static void vm_teardown(struct vm *vm)
{
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	guest_mem_free(&vm->mem);
	free(vm->vcpus);
	vm->vcpus = NULL;
}

/* VM A's vCPUs and irqchip hold distinct patterns; VM B's garbage. */
static void fake_state(void)
{
	struct kvm_cpuid2 *applied = cpuid_new();

	cpuid_apply(applied, 0, 2, CPUID_TEMPLATE_HOST);
	memset(fv, 0xee, sizeof(fv));
	memset(fm, 0xee, sizeof(fm));
	for (unsigned i = 0; i < 2; i++) {
		struct fake_vcpu *v = &fv[0][i];

		memset(v, 0, sizeof(*v));
		fill(&v->regs, sizeof(v->regs), 1 + i);
		fill(&v->sregs, sizeof(v->sregs), 2 + i);
		fill(&v->xsave, sizeof(v->xsave), 3 + i);
		v->xcrs.nr_xcrs = 1;
		v->xcrs.xcrs[0].value = 7;
		fill(&v->dregs, sizeof(v->dregs), 5 + i);
		fill(&v->lapic, sizeof(v->lapic), 6 + i);
		fill(&v->events, sizeof(v->events), 7 + i);
		v->mp.mp_state = i ? KVM_MP_STATE_HALTED : KVM_MP_STATE_RUNNABLE;
		v->sregs2_flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
		v->pdptrs[2] = 0xabc000 + i;
		v->ncpuid = applied->nent;
		memcpy(v->cpuid, applied->entries, applied->nent * sizeof(v->cpuid[0]));
		v->tsc_khz = 2100000;
		for (unsigned k = 0; k < nindex; k++)
			v->msr_val[msr_slot(v, index_list[k], true)] = 0x1000 * (i + 1) + k;
		v->msr_val[msr_slot(v, 0x2ff, true)] = 0xc06; /* MTRRdefType */
		v->msr_val[msr_slot(v, 0x277, true)] = 0x0007040600070406ull;
		for (uint32_t m = 0x200; m < 0x210; m++)
			v->msr_val[msr_slot(v, m, true)] = m;
		for (uint32_t m = 0x268; m < 0x270; m++)
			v->msr_val[msr_slot(v, m, true)] = m << 8;
		v->msr_val[msr_slot(v, 0x250, true)] = 0x0606060606060606ull;
		v->msr_val[msr_slot(v, 0x258, true)] = 0x0606060606060606ull;
		v->msr_val[msr_slot(v, 0x259, true)] = 0;
		/* VM B: another host's fresh vCPUs, its TSC a little slower. */
		memset(&fv[1][i], 0, sizeof(fv[1][i]));
		fv[1][i].tsc_khz = 2000000;
		fv[1][i].xcrs.nr_xcrs = 0;
	}
	memset(fm, 0, sizeof(fm));
	for (unsigned c = 0; c < 3; c++) {
		fm[0].chip[c].chip_id = c;
		fill(&fm[0].chip[c].chip, sizeof(fm[0].chip[c].chip), 20 + c);
	}
	fill(&fm[0].pit, sizeof(fm[0].pit), 30);
	fm[0].clock.clock = 123456789;
	fm[0].clock.flags = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME;
	free(applied);
}

/* The position in the call log of the first (or last) call on fd with request req; -1 if none. */
static int call_at(int fd, unsigned long req, bool last)
{
	int at = -1;

	for (unsigned i = 0; i < ncalls; i++)
		if (calls[i].fd == fd && calls[i].req == req) {
			at = (int)i;
			if (!last)
				break;
		}
	return at;
}

static int first_on(int fd, bool set_only)
{
	for (unsigned i = 0; i < ncalls; i++)
		if (calls[i].fd == fd && (!set_only || (calls[i].req & _IOC(_IOC_WRITE, 0, 0, 0)) ==
							   _IOC(_IOC_WRITE, 0, 0, 0)))
			return (int)i;
	return -1;
}

static int last_on(int fd)
{
	int at = -1;

	for (unsigned i = 0; i < ncalls; i++)
		if (calls[i].fd == fd)
			at = (int)i;
	return at;
}

static void page_fill(struct guest_mem *gm, uint64_t gpa, int c)
{
	memset(guest_mem_ptr(gm, gpa, 4096), c, 4096);
}

static bool ram_equal(const char *a, const char *b)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "cmp -s -n %llu %s %s", (unsigned long long)RAM, a, b);
	return system(cmd) == 0;
}

static char path_full[256], path_diff[256], path_full2[256], st_full[256], st_diff[256],
    st_full2[256];

static void test_save_restore(void)
{
	static const char config[] = "{\"kvmbox\": \"the configuration\"}";
	struct snapshot_mem_stats st;
	struct snapshot_image image;
	struct snapshot_host saved;
	struct vm a, b;
	char err[512] = "", cmd[600];
	int at;

	fake_state();
	vm_setup(&a, 0);
	dev[0].reg = 0xfeedbeef;
	page_fill(&a.mem, 0x1000, 0x11);
	page_fill(&a.mem, (4ull << 30) + 0x3000, 0x22);
	/* Not paused: refused. */
	CHECK_EQ(vm_snapshot_save(&a, config, st_full, path_full, false, &st, err, sizeof(err)),
		 -EINVAL);
	a.paused = true;
	/* A Diff needs a Full first. */
	CHECK_EQ(vm_snapshot_save(&a, config, st_diff, path_diff, true, &st, err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "Full one first") != NULL);
	/* A vCPU parked in the middle of a long REP string instruction: not now. */
	a.vcpus[1].exit_pending = true;
	CHECK_EQ(vm_snapshot_save(&a, config, st_full, path_full, false, &st, err, sizeof(err)),
		 -EBUSY);
	a.vcpus[1].exit_pending = false;
	err[0] = '\0';
	CHECK_EQ(vm_snapshot_save(&a, config, st_full, path_full, false, &st, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  save: %s\n", err);
	CHECK(a.snapshot_id != 0);
	CHECK_EQ(st.written, 2);
	CHECK(call_at(VM_A, KVM_GET_DIRTY_LOG, false) >= 0); /* a Full starts the next Diff */

	/* Then the guest writes (KVM's log: slot 1 page 3; kvmbox's own write: slot 0 page 5). */
	page_fill(&a.mem, (4ull << 30) + 3 * 4096, 0x33);
	fm[0].dirty[1] = 1ull << 3;
	{
		uint8_t b5[4096];

		memset(b5, 0x55, sizeof(b5));
		CHECK_EQ(guest_mem_write(&a.mem, 5 * 4096, b5, sizeof(b5)), 0);
	}
	page_fill(&a.mem, 0x1000, 0); /* written without either knowing: not in the Diff */
	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", path_full, path_diff);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(vm_snapshot_save(&a, config, st_diff, path_diff, true, &st, err, sizeof(err)), 0);
	CHECK_EQ(st.written, 2);
	CHECK_EQ(st.holes, 0);
	page_fill(&a.mem, 0x1000, 0x11); /* as it was: the Full at this moment must match */
	CHECK_EQ(vm_snapshot_save(&a, config, st_full2, path_full2, false, &st, err, sizeof(err)),
		 0);
	CHECK(ram_equal(path_diff, path_full2));
	CHECK(!ram_equal(path_full, path_full2));

	/* Restore the Diff into VM B, "another host" whose TSC runs slower. */
	CHECK_EQ(snapshot_image_read(st_diff, &saved, &image, err, sizeof(err)), 0);
	CHECK(!strcmp(image.config, config));
	CHECK_EQ(saved.tsc_khz, 2100000);
	vm_setup(&b, 1);
	CHECK_EQ(snapshot_mem_map(path_diff, &b.mem, saved.id, err, sizeof(err)), 0);
	ncalls = 0;
	err[0] = '\0';
	CHECK_EQ(vm_snapshot_restore(&b, &saved, &image, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  restore: %s\n", err);
	for (unsigned i = 0; i < 2; i++) {
		struct fake_vcpu *x = &fv[0][i], *y = &fv[1][i];

		CHECK(!memcmp(&x->regs, &y->regs, sizeof(x->regs)));
		CHECK(!memcmp(&x->sregs, &y->sregs, sizeof(x->sregs)));
		CHECK(!memcmp(x->pdptrs, y->pdptrs, sizeof(x->pdptrs)));
		CHECK(y->sregs2_flags & KVM_SREGS2_FLAGS_PDPTRS_VALID);
		CHECK(!memcmp(&x->xsave, &y->xsave, sizeof(x->xsave)));
		CHECK(!memcmp(&x->xcrs, &y->xcrs, sizeof(x->xcrs)));
		CHECK(!memcmp(&x->dregs, &y->dregs, sizeof(x->dregs)));
		CHECK(!memcmp(&x->lapic, &y->lapic, sizeof(x->lapic)));
		CHECK(!memcmp(&x->events, &y->events, sizeof(x->events)));
		CHECK_EQ(x->mp.mp_state, y->mp.mp_state);
		CHECK_EQ(x->ncpuid, y->ncpuid);
		CHECK(!memcmp(x->cpuid, y->cpuid, x->ncpuid * sizeof(x->cpuid[0])));
		CHECK_EQ(y->tsc_khz, 2100000); /* scaled to the snapshot's rate */
		/* Every MSR A could read arrived; the unreadable one was not sent. */
		for (unsigned k = 0; k < x->nmsr; k++) {
			int s = msr_slot(y, x->msr_idx[k], false);

			if (x->msr_idx[k] == unreadable) {
				CHECK(s < 0);
				continue;
			}
			CHECK(s >= 0);
			if (s >= 0 && y->msr_val[s] != x->msr_val[k])
				fprintf(stderr, "  MSR 0x%x: 0x%llx, want 0x%llx\n", x->msr_idx[k],
					(unsigned long long)y->msr_val[s],
					(unsigned long long)x->msr_val[k]);
			CHECK(s >= 0 && y->msr_val[s] == x->msr_val[k]);
		}
		CHECK(msr_slot(y, 0x2ff, false) >= 0 && msr_slot(y, 0x277, false) >= 0);
	}
	for (unsigned c = 0; c < 3; c++)
		CHECK(!memcmp(&fm[0].chip[c], &fm[1].chip[c], sizeof(fm[0].chip[c])));
	CHECK(!memcmp(&fm[0].pit, &fm[1].pit, sizeof(fm[0].pit)));
	CHECK_EQ(fm[1].clock.clock, 123456789);
	CHECK_EQ(fm[1].clock.flags, 0); /* no KVM_CLOCK_REALTIME: no jump by the time on disk */
	CHECK_EQ(dev[1].reg, 0xfeedbeef);
	CHECK(!memcmp(guest_mem_ptr(&b.mem, 5 * 4096, 4096), guest_mem_ptr(&a.mem, 5 * 4096, 4096),
		      4096));

	/* The order KVM needs. */
	at = call_at(VM_B, KVM_SET_IRQCHIP, true);
	CHECK(at >= 0 && (unsigned)at < dev[1].loaded_at); /* irqchip, then the devices */
	for (unsigned i = 0; i < 2; i++) {
		int fd = VCPU_B + (int)i, deadline = -1, bulk = -1;

		CHECK((unsigned)first_on(fd, true) >= dev[1].loaded_at); /* devices, then vCPUs */
		/* The TSC rate before any TSC value; then CPUID before any other state. */
		CHECK(call_at(fd, KVM_SET_TSC_KHZ, false) >= 0);
		CHECK(call_at(fd, KVM_SET_TSC_KHZ, false) < call_at(fd, KVM_SET_MSRS, false));
		CHECK_EQ(calls[first_on(fd, true)].req, KVM_SET_CPUID2);
		CHECK(call_at(fd, KVM_SET_CPUID2, false) < call_at(fd, KVM_SET_SREGS, false));
		for (unsigned k = 0; k < ncalls; k++)
			if (calls[k].fd == fd && calls[k].req == KVM_SET_MSRS) {
				if (calls[k].msr0 == 0x6e0)
					deadline = (int)k;
				else if (bulk < 0)
					bulk = (int)k;
			}
		CHECK(bulk > call_at(fd, KVM_SET_SREGS, false));
		CHECK(calls[bulk].msr0 == 0x10); /* IA32_TSC first */
		CHECK(deadline > call_at(fd, KVM_SET_LAPIC, false) && deadline > bulk);
		CHECK_EQ(calls[last_on(fd)].req, KVM_SET_VCPU_EVENTS);
		CHECK(call_at(VM_B, KVM_SET_PIT2, false) > last_on(fd)); /* PIT and clock last */
	}
	CHECK(call_at(VM_B, KVM_SET_CLOCK, false) > call_at(VM_B, KVM_SET_PIT2, false));
	vm_teardown(&b);

	/* Refusals on restore, each before KVM's state is touched. */
	supported->entries[2].ebx &= ~1u; /* this host's CPU lacks a leaf-7 feature the guest saw */
	vm_setup(&b, 1);
	CHECK_EQ(vm_snapshot_restore(&b, &saved, &image, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "CPUID.0x7.0:EBX bits 0x00000001") != NULL);
	supported->entries[2].ebx |= 1u;
	vm_teardown(&b);
	nindex--; /* this host's KVM does not know the last listed MSR */
	vm_setup(&b, 1);
	CHECK_EQ(vm_snapshot_restore(&b, &saved, &image, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "which this host's KVM does not have") != NULL);
	nindex++;
	vm_teardown(&b);
	tsc_control = 0; /* no TSC scaling on this host */
	fv[1][0].tsc_khz = 2000000;
	vm_setup(&b, 1);
	CHECK_EQ(vm_snapshot_restore(&b, &saved, &image, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no TSC scaling") != NULL);
	fv[1][0].tsc_khz = fv[1][1].tsc_khz = 2100100; /* within 250 ppm: fine without scaling */
	CHECK_EQ(vm_snapshot_restore(&b, &saved, &image, err, sizeof(err)), 0);
	tsc_control = 1;
	b.ncpus = 1; /* a configuration that disagrees with the CPUS section */
	CHECK_EQ(vm_snapshot_restore(&b, &saved, &image, err, sizeof(err)), -EINVAL);
	b.ncpus = 2;
	vm_teardown(&b);
	snapshot_image_free(&image);
	vm_teardown(&a);
}

int main(void)
{
	static const uint32_t list[] = { 0x174, 0x10, 0x3b, 0x6e0, 0xc0000081, 0x4b564d01 };

	if (!mkdtemp(dir))
		return 2;
	log_set_level(LOG_ERROR);
	memcpy(index_list, list, sizeof(list));
	nindex = sizeof(list) / sizeof(list[0]);
	supported = cpuid_new();
	snprintf(path_full, sizeof(path_full), "%s/full.mem", dir);
	snprintf(path_diff, sizeof(path_diff), "%s/diff.mem", dir);
	snprintf(path_full2, sizeof(path_full2), "%s/full2.mem", dir);
	snprintf(st_full, sizeof(st_full), "%s/full.state", dir);
	snprintf(st_diff, sizeof(st_diff), "%s/diff.state", dir);
	snprintf(st_full2, sizeof(st_full2), "%s/full2.state", dir);
	RUN_TEST(test_save_restore);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	free(supported);
	TEST_EXIT();
}
