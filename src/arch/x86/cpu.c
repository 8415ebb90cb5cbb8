/* Sets up x86 vCPUs through KVM: CPUID, MSRs, LAPIC, and the register state each boot protocol
 * wants. */
#include "arch/x86/cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"
#include "log.h"

#define X86_CR0_PE 0x1ull
#define X86_CR0_ET 0x10ull
#define X86_CR0_PG 0x80000000ull
#define X86_CR4_PAE 0x20ull
#define X86_EFER_LME 0x100ull
#define X86_EFER_LMA 0x400ull

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

/* GDT selectors: the Linux 64-bit boot protocol wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18. */
#define GDT_CODE64 2
#define GDT_DATA 3
#define GDT_CODE32 4
#define GDT_TSS 5
#define GDT_ENTRIES 6
_Static_assert(GDT_ENTRIES * 8 <= LAYOUT_GDT_SIZE, "the GDT fits where layout.h reserves it");

static uint64_t cpu_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

/* flags = G DB L AVL in bits 12-15 (of the high nibble), P DPL S TYPE in bits 0-7. */
static const uint16_t cpu_gdt_flags[GDT_ENTRIES] = {
	[GDT_CODE64] = 0xa09b, /* G, L, present, code exec/read accessed */
	[GDT_DATA] = 0xc093,   /* G, DB, present, data read/write accessed */
	[GDT_CODE32] = 0xc09b, /* G, DB, present, code exec/read accessed */
	[GDT_TSS] = 0x008b,    /* present, 32/64-bit busy TSS, byte granular */
};

static struct kvm_segment cpu_segment(unsigned index)
{
	uint16_t f = cpu_gdt_flags[index];

	return (struct kvm_segment){
		.base = 0,
		.limit = index == GDT_TSS ? 0x67 : 0xffffffff,
		.selector = (uint16_t)(index * 8),
		.type = f & 0xf,
		.present = (f >> 7) & 1,
		.dpl = (f >> 5) & 3,
		.db = (f >> 14) & 1,
		.s = (f >> 4) & 1,
		.l = (f >> 13) & 1,
		.g = index == GDT_TSS ? 0 : (f >> 15) & 1,
	};
}

int cpu_write_boot_tables(const struct guest_mem *gm, enum boot_mode mode)
{
	uint64_t gdt[GDT_ENTRIES] = { 0 };
	uint64_t *pml4 = guest_mem_ptr(gm, LAYOUT_PML4, 4096);
	uint64_t *pdpt = guest_mem_ptr(gm, LAYOUT_PDPT, 4096);
	uint64_t *pd = guest_mem_ptr(gm, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -ENOMEM;
	for (unsigned i = 0; i < GDT_ENTRIES; i++)
		if (cpu_gdt_flags[i])
			gdt[i] = cpu_gdt_entry(cpu_gdt_flags[i], 0, i == GDT_TSS ? 0x67 : 0xfffff);
	/* Written after the kernel: a multiboot kernel may have been loaded at 0x9000-0xefff. */
	if (mode != BOOT_MODE_LINUX64)
		return guest_mem_write(gm, LAYOUT_GDT, gdt, sizeof(gdt));
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | 0x3; /* present, writable */
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	return guest_mem_write(gm, LAYOUT_GDT, gdt, sizeof(gdt));
}

struct kvm_cpuid2 *cpu_supported_cpuid(int kvm_fd)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static int cpu_set_msrs(int vcpu_fd)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 }, /* fast strings */
		/* MTRRs enabled, default write-back: otherwise Linux maps all RAM uncached. */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} m;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		m.e[i].index = boot_msrs[i].index;
		m.e[i].data = boot_msrs[i].data;
	}
	if (ioctl(vcpu_fd, KVM_SET_MSRS, &m) != N)
		return -EIO;
	return 0;
}

static int cpu_set_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	/* Virtual-wire mode as firmware leaves it: LINT0 = ExtINT (the PIC), LINT1 = NMI. */
	memcpy(&v, &lapic.regs[APIC_LVT0], 4);
	v = (v & ~0x700u & ~0x10000u) | (APIC_MODE_EXTINT << 8);
	memcpy(&lapic.regs[APIC_LVT0], &v, 4);
	memcpy(&v, &lapic.regs[APIC_LVT1], 4);
	v = (v & ~0x700u & ~0x10000u) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT1], &v, 4);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

int cpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index, unsigned ncpus,
	     enum cpuid_template t)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int ret;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	cpuid_apply(c, index, ncpus, t);
	ret = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (ret) {
		log_error("KVM_SET_CPUID2 failed: %s", strerror(-ret));
		return ret;
	}
	ret = cpu_set_msrs(vcpu_fd);
	if (ret) {
		log_error("KVM_SET_MSRS failed");
		return ret;
	}
	ret = cpu_set_lapic(vcpu_fd);
	if (ret)
		log_error("setting up the local APIC failed: %s", strerror(-ret));
	return ret;
}

static void cpu_regs_from_kvm(struct x86_regs *out, const struct kvm_regs *r,
			      const struct kvm_sregs *s);

/* The boot state in KVM's structures: sregs keeps what the caller read (LDT, APIC base, CR8). */
static void cpu_boot_fill(const struct boot_entry *entry, struct kvm_sregs *sregs,
			  struct kvm_regs *regs)
{
	struct kvm_segment data = cpu_segment(GDT_DATA);
	bool long_mode = entry->mode == BOOT_MODE_LINUX64;

	sregs->gdt.base = LAYOUT_GDT;
	sregs->gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs->idt.base = LAYOUT_IDT;
	sregs->idt.limit = 0;
	sregs->cs = cpu_segment(long_mode ? GDT_CODE64 : GDT_CODE32);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = cpu_segment(GDT_TSS);
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs->cr4 = 0;
	sregs->efer = 0;
	if (long_mode) {
		sregs->cr3 = LAYOUT_PML4;
		sregs->cr4 |= X86_CR4_PAE;
		sregs->cr0 |= X86_CR0_PG;
		sregs->efer |= X86_EFER_LME | X86_EFER_LMA;
	}
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 2; /* bit 1 is reserved-one; interrupts off */
	regs->rip = entry->rip;
	regs->rsi = entry->rsi;
	regs->rbx = entry->rbx;
	regs->rax = entry->rax;
}

int cpu_set_boot_state(int vcpu_fd, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	cpu_boot_fill(entry, &sregs, &regs);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

void cpu_boot_regs(const struct boot_entry *entry, struct x86_regs *out)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	memset(&s, 0, sizeof(s));
	s.ldt.unusable = 1; /* as after reset: LDTR holds no table */
	cpu_boot_fill(entry, &s, &r);
	cpu_regs_from_kvm(out, &r, &s);
	out->mp_state = X86_MP_RUNNABLE;
	out->dr6 = 0xffff0ff0;
	out->dr7 = 0x400;
	out->fpu.fcw = 0x37f;
	out->fpu.mxcsr = 0x1f80;
}

void cpu_seg_from_kvm(struct emu_seg *d, const struct kvm_segment *s)
{
	*d = (struct emu_seg){
		.base = s->base,
		.limit = s->limit,
		.selector = s->selector,
		.type = s->type,
		.dpl = s->dpl,
		.s = s->s,
		.present = s->present,
		.db = s->db,
		.l = s->l,
		.unusable = s->unusable,
	};
}

void cpu_seg_to_kvm(struct kvm_segment *d, const struct emu_seg *s)
{
	*d = (struct kvm_segment){
		.base = s->base,
		.limit = s->limit,
		.selector = s->selector,
		.type = s->type,
		.present = s->present,
		.dpl = s->dpl,
		.db = s->db,
		.s = s->s,
		.l = s->l,
		/* A limit that needs more than 20 bits came from a page-granular descriptor. */
		.g = s->limit > 0xfffff,
		.unusable = s->unusable,
	};
}

/* The register file from KVM's REGS and SREGS; every other field zero. */
static void cpu_regs_from_kvm(struct x86_regs *out, const struct kvm_regs *r,
			      const struct kvm_sregs *s)
{
	*out = (struct x86_regs){
		.gpr = { r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi, r->r8,
			 r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15 },
		.rip = r->rip,
		.rflags = r->rflags,
		.gdt_base = s->gdt.base,
		.gdt_limit = s->gdt.limit,
		.idt_base = s->idt.base,
		.idt_limit = s->idt.limit,
		.cr0 = s->cr0,
		.cr2 = s->cr2,
		.cr3 = s->cr3,
		.cr4 = s->cr4,
		.cr8 = s->cr8,
		.efer = s->efer,
		.apic_base = s->apic_base,
	};
	cpu_seg_from_kvm(&out->seg[EMU_ES], &s->es);
	cpu_seg_from_kvm(&out->seg[EMU_CS], &s->cs);
	cpu_seg_from_kvm(&out->seg[EMU_SS], &s->ss);
	cpu_seg_from_kvm(&out->seg[EMU_DS], &s->ds);
	cpu_seg_from_kvm(&out->seg[EMU_FS], &s->fs);
	cpu_seg_from_kvm(&out->seg[EMU_GS], &s->gs);
	cpu_seg_from_kvm(&out->tr, &s->tr);
	cpu_seg_from_kvm(&out->ldtr, &s->ldt);
}

int cpu_read_regs(int vcpu_fd, struct x86_regs *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_debugregs d;
	struct kvm_vcpu_events e;
	struct kvm_mp_state mp;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &d) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &e) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_MP_STATE, &mp) < 0)
		return -errno;
	cpu_regs_from_kvm(out, &r, &s);
	for (unsigned i = 0; i < 4; i++)
		out->dr[i] = d.db[i];
	out->dr6 = d.dr6;
	out->dr7 = d.dr7;
	out->mp_state = mp.mp_state;
	out->exception.injected = e.exception.injected;
	out->exception.pending = e.exception.pending;
	out->exception.has_error_code = e.exception.has_error_code;
	out->exception.vector = e.exception.nr;
	out->exception.error_code = e.exception.error_code;
	out->interrupt.injected = e.interrupt.injected;
	out->interrupt.soft = e.interrupt.soft;
	out->interrupt.vector = e.interrupt.nr;
	out->nmi.injected = e.nmi.injected;
	out->nmi.pending = e.nmi.pending;
	out->nmi.masked = e.nmi.masked;
	out->shadow = e.interrupt.shadow;
	struct kvm_fpu f;
	if (ioctl(vcpu_fd, KVM_GET_FPU, &f) < 0)
		return -errno;
	for (unsigned i = 0; i < 8; i++)
		memcpy(out->fpu.st[i], f.fpr[i], 10);
	memcpy(out->fpu.xmm, f.xmm, sizeof(out->fpu.xmm));
	out->fpu.fcw = f.fcw;
	out->fpu.fsw = f.fsw;
	out->fpu.ftw = f.ftwx;
	out->fpu.fop = f.last_opcode;
	out->fpu.fip = f.last_ip;
	out->fpu.fdp = f.last_dp;
	out->fpu.mxcsr = f.mxcsr;
	/* XCR0: the first XCR KVM reports (KVM_CAP_XCRS hosts; left 0 elsewhere). */
	struct kvm_xcrs x = { 0 };
	if (ioctl(vcpu_fd, KVM_GET_XCRS, &x) == 0)
		for (unsigned i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++)
			if (x.xcrs[i].xcr == 0)
				out->xcr0 = x.xcrs[i].value;
	return 0;
}

int cpu_write_regs(int vcpu_fd, const struct x86_regs *in)
{
	const uint64_t *g = in->gpr;
	struct kvm_regs r = {
		.rax = g[EMU_RAX],
		.rbx = g[EMU_RBX],
		.rcx = g[EMU_RCX],
		.rdx = g[EMU_RDX],
		.rsi = g[EMU_RSI],
		.rdi = g[EMU_RDI],
		.rsp = g[EMU_RSP],
		.rbp = g[EMU_RBP],
		.r8 = g[EMU_R8],
		.r9 = g[EMU_R9],
		.r10 = g[EMU_R10],
		.r11 = g[EMU_R11],
		.r12 = g[EMU_R12],
		.r13 = g[EMU_R13],
		.r14 = g[EMU_R14],
		.r15 = g[EMU_R15],
		.rip = in->rip,
		.rflags = in->rflags,
	};
	struct kvm_sregs s;
	struct kvm_fpu f;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0 || ioctl(vcpu_fd, KVM_GET_FPU, &f) < 0)
		return -errno;
	s.fs.base = in->seg[EMU_FS].base;
	s.gs.base = in->seg[EMU_GS].base;
	for (unsigned i = 0; i < 8; i++)
		memcpy(f.fpr[i], in->fpu.st[i], 10);
	memcpy(f.xmm, in->fpu.xmm, sizeof(f.xmm));
	f.fcw = in->fpu.fcw;
	f.fsw = in->fpu.fsw;
	f.ftwx = in->fpu.ftw;
	f.last_opcode = in->fpu.fop;
	f.last_ip = in->fpu.fip;
	f.last_dp = in->fpu.fdp;
	f.mxcsr = in->fpu.mxcsr;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_FPU, &f) < 0)
		return -errno;
	return 0;
}

int cpu_set_guest_debug(int vcpu_fd, const struct x86_guest_debug *d)
{
	struct kvm_guest_debug g = { 0 };

	if (d->enable) {
		g.control = KVM_GUESTDBG_ENABLE;
		if (d->sw_bp)
			g.control |= KVM_GUESTDBG_USE_SW_BP;
		if (d->dr7 & 0xff) {
			g.control |= KVM_GUESTDBG_USE_HW_BP;
			for (unsigned i = 0; i < 4; i++)
				g.arch.debugreg[i] = d->dr[i];
			g.arch.debugreg[7] = d->dr7;
		}
		if (d->single_step)
			g.control |=
			    KVM_GUESTDBG_SINGLESTEP | (d->block_irq ? KVM_GUESTDBG_BLOCKIRQ : 0);
	}
	if (ioctl(vcpu_fd, KVM_SET_GUEST_DEBUG, &g) < 0) {
		/* Kernels before 5.15 know no KVM_GUESTDBG_BLOCKIRQ: step with interrupts then. */
		if (errno != EINVAL || !(g.control & KVM_GUESTDBG_BLOCKIRQ))
			return -errno;
		g.control &= ~KVM_GUESTDBG_BLOCKIRQ;
		if (ioctl(vcpu_fd, KVM_SET_GUEST_DEBUG, &g) < 0)
			return -errno;
	}
	return 0;
}

int cpu_reinject_bp(int vcpu_fd)
{
	struct kvm_vcpu_events e;

	/* RIP stays at the int3: KVM kept the instruction's length from the exit and delivers the
	 * soft exception past it (vmx.c, svm.c), as QEMU's reinjection relies on. */
	if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &e) < 0)
		return -errno;
	e.exception.injected = 1;
	e.exception.nr = 3;
	e.exception.has_error_code = 0;
	e.flags = 0;
	if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &e) < 0)
		return -errno;
	return 0;
}

int cpu_nmi(int vcpu_fd)
{
	return ioctl(vcpu_fd, KVM_NMI) < 0 ? -errno : 0;
}
