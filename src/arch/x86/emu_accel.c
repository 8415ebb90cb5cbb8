/* A vCPU that runs in the x86 emulator (--accel emu): the CPU model, its MSRs and the run loop. */
#include "arch/x86/emu_accel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/phys.h"
#include "arch/x86/layout.h"
#include "dev/lapic.h"
#include "log.h"

#define EMU_ACCEL_MAXPHYADDR 39	 /* CPUID 0x80000008: what emu_mmu checks reserved bits against */
#define EMU_ACCEL_XSAVE_SIZE 576 /* legacy area + header: x87 and SSE are all XCR0 offers */
#define EMU_ACCEL_XCR0 3ull	 /* x87 | SSE */
/* CR4 bits the CPU has (CPUID below): TSD DE PSE PAE PGE PCE OSFXSR OSXMMEXCPT OSXSAVE SMEP SMAP;
 * not VME PVI MCE LA57 PCIDE FSGSBASE UMIP PKE or the VMX/SMX ones. */
#define EMU_ACCEL_CR4_VALID 0x3407bcull
#define EMU_ACCEL_EFER_VALID 0xd01ull /* SCE LME LMA NXE */

/* The FXSAVE/XSAVE legacy area, which the XSAVE family reads and writes (architectural). */
#define XS_FCW 0
#define XS_FSW 2
#define XS_MXCSR 24
#define XS_MXCSR_MASK 28
#define XS_XMM 160
#define XS_XSTATE_BV 512

/* MSRs the emulated CPU has beyond EFER (which the emulator keeps in emu_cpu). */
#define MSR_TSC 0x10u
#define MSR_APIC_BASE 0x1bu
#define MSR_MCG_CAP 0x179u
#define MSR_MCG_STATUS 0x17au
#define APIC_BASE_BSP 0x100u
#define APIC_BASE_EN 0x800u
#define APIC_BASE_EXTD 0x400u
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_MISC_ENABLE 0x1a0u
#define MISC_ENABLE_FIXED 0x1880ull /* perfmon (0), BTS and PEBS unavailable (1): read-only */
#define MSR_PAT 0x277u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_FMASK 0xc0000084u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_TSC_AUX 0xc0000103u

/* The MSRs kept as plain values: index and reset value. */
static const struct {
	uint32_t index;
	uint64_t reset;
} emu_accel_plain_msrs[] = {
	{ MSR_SYSENTER_CS, 0 },
	{ MSR_SYSENTER_ESP, 0 },
	{ MSR_SYSENTER_EIP, 0 },
	{ MSR_PAT, 0x0007040600070406ull },
	{ MSR_STAR, 0 },
	{ MSR_LSTAR, 0 },
	{ MSR_CSTAR, 0 },
	{ MSR_FMASK, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	{ MSR_MISC_ENABLE, 0x1801ull }, /* fast strings; BTS and PEBS unavailable */
};
#define EMU_ACCEL_NPLAIN (sizeof(emu_accel_plain_msrs) / sizeof(emu_accel_plain_msrs[0]))

struct emu_accel {
	struct emu_phys phys; /* first: the opaque of every callback is the emu_accel too */
	struct emu_cpu cpu;
	struct emu_xlayout xlayout;
	uint8_t *xstate; /* x87 state and the XSAVE header; XMM and MXCSR live in cpu */
	uint64_t msr[EMU_ACCEL_NPLAIN];
	int64_t tsc_offset; /* guest TSC = host monotonic ns + tsc_offset (a 1 GHz TSC) */
	bool halted;
	int nmi_pending;  /* atomic: emu_accel_nmi, from any thread */
	bool nmi_blocked; /* from an NMI's delivery to the next IRET */
	uint8_t shadow;	  /* as x86_regs: 1 after STI (setting IF), 2 after a load of SS */
	bool watch;	  /* an instruction runs: its data accesses are checked against DR0-3 */
	uint8_t db_hits;  /* the data breakpoints it hit (DR6 B0-3) */
	uint8_t db_held;  /* hits a load of SS holds back until after the next instruction */
	const int *stopping;
	struct emu_ops ops; /* emu_phys's memory and port callbacks, this CPU's CPUID, MSRs, HLT */
	struct lapic lapic; /* its local APIC at LAYOUT_LAPIC (emu_phys's local device) */
	struct emu_tlb tlb; /* its translations (emu_mmu), flushed as the CPU would */
	unsigned index;	    /* the APIC ID; 0 is the BSP */
	bool wait_sipi;	    /* INIT received (or an AP at power-up): waiting for a SIPI */
	/* INIT and SIPI arrive during some CPU's instruction (this one's too, a self-INIT) and
	 * take effect at this CPU's next instruction boundary: the SIPI vector + 1, or 0. */
	bool init_pending;
	unsigned sipi_pending;
	/* Several CPUs: end the slice after this instruction, so that another CPU runs soon (it
	 * sent an IPI, or PAUSE says it spins on a lock or a flag another CPU will set). */
	bool yield;
	/* Several CPUs: IPIs go to the machine (emu_smp), which delivers them; EOIs of
	 * level-triggered interrupts go to its I/O APIC. */
	void (*ipi)(void *opaque, unsigned from, uint32_t icr_lo, uint32_t icr_hi);
	void (*eoi)(void *opaque, uint8_t vector);
	void *ipi_opaque;
	struct emu_accel_stats stats; /* atomic: read by other threads */
};

/*
 * The CPU the guest sees. Vendor GenuineIntel because the emulator follows Intel where vendors
 * differ (66-prefixed near branches, say). Features: an x86-64 CPU (x87, MMX, SSE and SSE2 are
 * part of the architecture; what of them is not emulated stops the VM with a register dump, as
 * for any valid instruction not implemented) plus what the emulator implements: CMPXCHG16B,
 * POPCNT, LZCNT, PCLMULQDQ, XSAVE/XSAVEOPT/XSAVEC for x87 and SSE, CLFLUSH(OPT), CLWB, RDTSCP,
 * RDPID, SMEP, SMAP, NX, LAHF in 64-bit mode; a local APIC (xAPIC and x2APIC, src/dev/lapic.c).
 */
void emu_accel_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	static const char vendor[12] = "GenuineIntel";
	static const char brand[48] = "kvmbox x86 emulator";

	memset(out, 0, 4 * sizeof(out[0]));
	switch (leaf) {
	case 0:
	case 0x80000000:
		out[0] = leaf ? 0x80000008u : 0xdu;
		memcpy(&out[1], vendor, 4);
		memcpy(&out[3], vendor + 4, 4);
		memcpy(&out[2], vendor + 8, 4);
		break;
	case 1:
		out[0] = 0x600;			 /* family 6, model 0, stepping 0 */
		out[1] = (8u << 8) | (1u << 16); /* CLFLUSH line 64 bytes, 1 logical CPU */
		/* PCLMUL CX16 x2APIC POPCNT XSAVE */
		out[2] = (1u << 1) | (1u << 13) | (1u << 21) | (1u << 23) | (1u << 26);
		out[3] = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) |
			 (1u << 8) | (1u << 9) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 19) |
			 (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
		/* FPU DE PSE TSC MSR PAE CX8 APIC PGE CMOV PAT CLFSH MMX FXSR SSE SSE2 */
		break;
	case 7:
		if (subleaf == 0) {
			out[1] = (1u << 7) | (1u << 20) | (1u << 23) |
				 (1u << 24); /* SMEP SMAP CLFLUSHOPT CLWB */
			out[2] = 1u << 22;   /* RDPID */
		}
		break;
	case 0xd:
		if (subleaf == 0) {
			out[0] = (uint32_t)EMU_ACCEL_XCR0;
			out[1] = out[2] = EMU_ACCEL_XSAVE_SIZE;
		} else if (subleaf == 1) {
			out[0] = (1u << 0) | (1u << 1) | (1u << 2); /* XSAVEOPT XSAVEC XGETBV1 */
			out[1] = EMU_ACCEL_XSAVE_SIZE;
		}
		break;
	case 0x80000001:
		out[2] = (1u << 0) | (1u << 5);				    /* LAHF64 ABM (LZCNT) */
		out[3] = (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29); /* SCE NX RDTSCP LM */
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
		memcpy(out, brand + 16 * (leaf - 0x80000002), 16);
		break;
	case 0x80000008:
		out[0] = EMU_ACCEL_MAXPHYADDR | (48u << 8);
		break;
	default:
		break;
	}
}

static void emu_accel_cpuid_op(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	struct emu_accel *a = opaque;

	emu_accel_cpuid(leaf, subleaf, out);
	if (leaf == 1 && (a->cpu.cr4 & EMU_CR4_OSXSAVE))
		out[2] |= 1u << 27; /* OSXSAVE mirrors CR4 */
	if (leaf == 1 && !a->lapic.hw_enabled)
		out[3] &= ~(1u << 9); /* and APIC, IA32_APIC_BASE.EN */
	if (leaf == 1)
		out[1] = (out[1] & 0x00ffffffu) | a->index << 24; /* the initial APIC ID */
}

static int emu_accel_cpuid_leaf(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)opaque;
	emu_accel_cpuid(leaf, subleaf, out);
	return 0;
}

static uint64_t emu_accel_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t emu_accel_tsc(const struct emu_accel *a)
{
	return emu_accel_now_ns() + (uint64_t)a->tsc_offset;
}

/* PAT: each byte a memory type the CPU has (UC, WC, WT, WP, WB, UC-), else #GP. */
static bool emu_accel_pat_ok(uint64_t v)
{
	for (unsigned i = 0; i < 8; i++) {
		uint8_t t = (uint8_t)(v >> (8 * i));

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

/* RDMSR/WRMSR of anything but EFER: -ENOENT is #GP (an MSR this CPU has not, a bad value). */
static int emu_accel_msr(void *opaque, uint32_t index, uint64_t *value, bool write)
{
	struct emu_accel *a = opaque;
	struct emu_cpu *c = &a->cpu;

	if (index >= 0x800 && index <= 0x8ff) /* x2APIC registers */
		return (write ? lapic_msr_write(&a->lapic, index, *value)
			      : lapic_msr_read(&a->lapic, index, value))
			   ? -ENOENT
			   : 0;
	switch (index) {
	case MSR_TSC:
		if (write)
			a->tsc_offset = (int64_t)(*value - emu_accel_now_ns());
		else
			*value = emu_accel_tsc(a);
		return 0;
	case MSR_FS_BASE:
	case MSR_GS_BASE: {
		struct emu_seg *s = &c->seg[index == MSR_FS_BASE ? EMU_FS : EMU_GS];

		if (write && !emu_is_canonical(c, *value))
			return -ENOENT;
		if (write)
			s->base = *value;
		else
			*value = s->base;
		return 0;
	}
	case MSR_MCG_CAP:    /* machine-check architecture with no banks: read-only */
	case MSR_MCG_STATUS: /* nothing in progress; only 0 may be written */
		if (write && (index == MSR_MCG_CAP || *value))
			return -ENOENT;
		if (!write)
			*value = 0;
		return 0;
	case MSR_APIC_BASE:
		/* The APIC at its usual address (no relocation), BSP fixed; EN and EXTD (x2APIC)
		 * change as lapic_set_mode allows. */
		if (!write) {
			*value = LAYOUT_LAPIC | (a->index ? 0 : APIC_BASE_BSP) |
				 (a->lapic.hw_enabled ? APIC_BASE_EN : 0) |
				 (a->lapic.x2apic ? APIC_BASE_EXTD : 0);
			return 0;
		}
		if ((*value & ~(uint64_t)(APIC_BASE_BSP | APIC_BASE_EN | APIC_BASE_EXTD)) !=
		    LAYOUT_LAPIC)
			return -ENOENT;
		return lapic_set_mode(&a->lapic, *value & APIC_BASE_EN, *value & APIC_BASE_EXTD)
			   ? -ENOENT
			   : 0;
	case MSR_TSC_AUX:
		if (write && (*value >> 32))
			return -ENOENT;
		if (write)
			c->tsc_aux = *value;
		else
			*value = c->tsc_aux;
		return 0;
	default:
		break;
	}
	for (unsigned i = 0; i < EMU_ACCEL_NPLAIN; i++) {
		if (emu_accel_plain_msrs[i].index != index)
			continue;
		if (!write) {
			*value = a->msr[i];
			return 0;
		}
		if ((index == MSR_LSTAR || index == MSR_CSTAR || index == MSR_KERNEL_GS_BASE ||
		     index == MSR_SYSENTER_ESP || index == MSR_SYSENTER_EIP) &&
		    !emu_is_canonical(c, *value))
			return -ENOENT;
		if (index == MSR_PAT && !emu_accel_pat_ok(*value))
			return -ENOENT;
		if (index == MSR_MISC_ENABLE)
			*value = (*value & ~MISC_ENABLE_FIXED) | (a->msr[i] & MISC_ENABLE_FIXED);
		a->msr[i] = *value;
		return 0;
	}
	return -ENOENT;
}

static uint64_t emu_accel_clock(void *opaque)
{
	(void)opaque;
	return emu_accel_now_ns();
}

static void emu_accel_lapic_nmi(void *opaque)
{
	emu_accel_nmi(opaque);
}

/* The memory callbacks: emu_phys's, with data breakpoints checked on what succeeded. */
static void emu_accel_watch(struct emu_accel *a, uint64_t la, unsigned len, unsigned access,
			    bool write)
{
	uint8_t hits;

	if (!a->watch || !(a->cpu.dr7 & 0xff) ||
	    (access & (EMU_ACC_FETCH | EMU_ACC_PEEK | EMU_ACC_PROBE)))
		return;
	hits = emu_dr_data_hits(&a->cpu, la, len, write);
	a->db_hits |= hits;
	if (hits)
		a->cpu.db_hit = true;
}

static int emu_accel_read(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
			  struct emu_pf *pf)
{
	int ret = emu_phys_ops.read(opaque, la, dst, len, access, pf);

	if (!ret)
		emu_accel_watch(opaque, la, len, access, false);
	return ret;
}

static int emu_accel_write(void *opaque, uint64_t la, const void *src, unsigned len,
			   unsigned access, struct emu_pf *pf)
{
	int ret = emu_phys_ops.write(opaque, la, src, len, access, pf);

	if (!ret)
		emu_accel_watch(opaque, la, len, access, true);
	return ret;
}

static int emu_accel_cmpxchg(void *opaque, uint64_t la, void *expected, const void *desired,
			     unsigned len, unsigned access, bool *swapped, struct emu_pf *pf)
{
	int ret = emu_phys_ops.cmpxchg(opaque, la, expected, desired, len, access, swapped, pf);

	if (!ret)
		emu_accel_watch(opaque, la, len, access, true);
	return ret;
}

static int emu_accel_halt(void *opaque)
{
	((struct emu_accel *)opaque)->halted = true;
	return 0;
}

static void emu_accel_lapic_ipi(void *opaque, uint32_t icr_lo, uint32_t icr_hi)
{
	struct emu_accel *a = opaque;

	a->ipi(a->ipi_opaque, a->index, icr_lo, icr_hi);
	a->yield = true;
}

static void emu_accel_lapic_eoi(void *opaque, uint8_t vector)
{
	struct emu_accel *a = opaque;

	a->eoi(a->ipi_opaque, vector);
}

void emu_accel_connect(struct emu_accel *a,
		       void (*ipi)(void *opaque, unsigned from, uint32_t icr_lo, uint32_t icr_hi),
		       void (*eoi)(void *opaque, uint8_t vector), void *opaque)
{
	a->ipi = ipi;
	a->eoi = eoi;
	a->ipi_opaque = opaque;
	a->lapic.ipi = ipi ? emu_accel_lapic_ipi : NULL;
	a->lapic.eoi = eoi ? emu_accel_lapic_eoi : NULL;
}

struct emu_accel *emu_accel_create(const struct guest_mem *gm, struct bus *pio, struct bus *mmio,
				   const int *stopping, unsigned index)
{
	struct emu_accel *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->xstate = aligned_alloc(64, 4096);
	if (!a->xstate || emu_xlayout_from_cpuid(&a->xlayout, emu_accel_cpuid_leaf, NULL)) {
		emu_accel_destroy(a);
		return NULL;
	}
	a->ops = emu_phys_ops;
	a->ops.read = emu_accel_read;
	a->ops.write = emu_accel_write;
	a->ops.cmpxchg = emu_accel_cmpxchg;
	a->ops.cpuid = emu_accel_cpuid_op;
	a->ops.msr = emu_accel_msr;
	a->ops.halt = emu_accel_halt;
	a->ops.prefetch = true;
	a->phys = (struct emu_phys){ .gm = gm, .mmio = mmio, .pio = pio, .single_cpu = true };
	a->index = index;
	lapic_init(&a->lapic, index, emu_accel_clock, emu_accel_lapic_nmi, a);
	a->phys.local_base = LAYOUT_LAPIC;
	a->phys.local_len = LAPIC_SIZE;
	a->phys.local_ops = &lapic_bus_ops;
	a->phys.local_dev = &a->lapic;
	a->stopping = stopping;
	memset(a->xstate, 0, 4096);
	for (unsigned i = 0; i < EMU_ACCEL_NPLAIN; i++)
		a->msr[i] = emu_accel_plain_msrs[i].reset;
	a->tsc_offset = -(int64_t)emu_accel_now_ns(); /* the TSC starts at 0 */
	a->cpu.features = emu_features_from_cpuid(emu_accel_cpuid_leaf, NULL);
	a->cpu.xcr0 = 1;
	a->cpu.xcr0_supported = EMU_ACCEL_XCR0;
	a->cpu.mxcsr_mask = 0xffff;
	a->cpu.xlayout = &a->xlayout;
	a->cpu.cr4_valid = EMU_ACCEL_CR4_VALID;
	a->cpu.efer_valid = EMU_ACCEL_EFER_VALID;
	a->cpu.has_dr = true;
	a->cpu.dr6 = 0xffff0ff0;
	a->cpu.dr7 = 0x400;
	return a;
}

void emu_accel_destroy(struct emu_accel *a)
{
	if (!a)
		return;
	free(a->xstate);
	free(a);
}

/* As KVM defines the CPL: SS.DPL in protected mode, 3 in virtual-8086 mode, 0 in real mode. */
static uint8_t emu_accel_cpl(const struct emu_cpu *c)
{
	if (!(c->cr0 & EMU_CR0_PE))
		return 0;
	if (c->rflags & EMU_RFLAGS_VM)
		return 3;
	return c->seg[EMU_SS].dpl;
}

void emu_accel_set_regs(struct emu_accel *a, const struct x86_regs *r)
{
	struct emu_cpu *c = &a->cpu;

	memcpy(c->gpr, r->gpr, sizeof(c->gpr));
	c->rip = r->rip;
	c->rflags = r->rflags | 2;
	memcpy(c->seg, r->seg, sizeof(c->seg));
	c->tr = r->tr;
	c->ldt = r->ldtr;
	c->gdt = (struct emu_dtable){ r->gdt_base, r->gdt_limit };
	c->idt = (struct emu_dtable){ r->idt_base, r->idt_limit };
	c->cr0 = r->cr0;
	c->cr2 = r->cr2;
	c->cr3 = r->cr3;
	c->cr4 = r->cr4;
	lapic_set_cr8(&a->lapic, (uint8_t)r->cr8);
	c->efer = r->efer;
	if (r->xcr0 & 1)
		c->xcr0 = r->xcr0 & EMU_ACCEL_XCR0;
	c->fcw = r->fpu.fcw;
	c->fsw = r->fpu.fsw;
	c->mxcsr = r->fpu.mxcsr;
	memcpy(c->xmm, r->fpu.xmm, sizeof(c->xmm));
	c->cpl = emu_accel_cpl(c);
	memcpy(c->dr, r->dr, sizeof(c->dr));
	c->dr6 = r->dr6 | 0xffff0ff0;
	c->dr7 = r->dr7 | 0x400;
	a->halted = r->mp_state == X86_MP_HALTED;
	a->wait_sipi = r->mp_state == X86_MP_UNINITIALIZED || r->mp_state == X86_MP_INIT_RECEIVED;
	a->nmi_blocked = r->nmi.masked;
	a->shadow = r->shadow & 3;
	a->db_held = 0;
	a->init_pending = false;
	a->sipi_pending = 0;
	if (r->nmi.pending)
		emu_accel_nmi(a);
}

void emu_accel_get_regs(const struct emu_accel *a, struct x86_regs *r)
{
	const struct emu_cpu *c = &a->cpu;

	memset(r, 0, sizeof(*r));
	memcpy(r->gpr, c->gpr, sizeof(r->gpr));
	r->rip = c->rip;
	r->rflags = c->rflags;
	memcpy(r->seg, c->seg, sizeof(r->seg));
	r->tr = c->tr;
	r->ldtr = c->ldt;
	r->gdt_base = c->gdt.base;
	r->gdt_limit = (uint16_t)c->gdt.limit;
	r->idt_base = c->idt.base;
	r->idt_limit = (uint16_t)c->idt.limit;
	r->cr0 = c->cr0;
	r->cr2 = c->cr2;
	r->cr3 = c->cr3;
	r->cr4 = c->cr4;
	r->cr8 = lapic_cr8(&a->lapic);
	r->apic_base = LAYOUT_LAPIC | (a->index ? 0 : APIC_BASE_BSP) |
		       (a->lapic.hw_enabled ? APIC_BASE_EN : 0) |
		       (a->lapic.x2apic ? APIC_BASE_EXTD : 0);
	r->efer = c->efer;
	r->xcr0 = c->xcr0;
	memcpy(r->dr, c->dr, sizeof(r->dr));
	r->dr6 = c->dr6;
	r->dr7 = c->dr7;
	r->mp_state = a->wait_sipi ? X86_MP_INIT_RECEIVED
		      : a->halted  ? X86_MP_HALTED
				   : X86_MP_RUNNABLE;
	r->nmi.pending = __atomic_load_n(&a->nmi_pending, __ATOMIC_RELAXED);
	r->nmi.masked = a->nmi_blocked;
	r->shadow = a->shadow;
	for (unsigned i = 0; i < 8; i++)
		memcpy(r->fpu.st[i], a->xstate + 32 + 16 * i, 10);
	r->fpu.fcw = c->fcw;
	r->fpu.fsw = c->fsw;
	r->fpu.mxcsr = c->mxcsr;
	memcpy(r->fpu.xmm, c->xmm, sizeof(r->fpu.xmm));
}

/* The XSAVE family works on the image: x87/SSE control words, MXCSR and XMM go in first ... */
static void emu_accel_xstate_out(struct emu_accel *a)
{
	uint8_t *p = a->xstate;
	uint64_t bv;

	memcpy(p + XS_FCW, &a->cpu.fcw, 2);
	memcpy(p + XS_FSW, &a->cpu.fsw, 2);
	memcpy(p + XS_MXCSR, &a->cpu.mxcsr, 4);
	memcpy(p + XS_MXCSR_MASK, &a->cpu.mxcsr_mask, 4);
	memcpy(p + XS_XMM, a->cpu.xmm, sizeof(a->cpu.xmm));
	/* Both components count as in use: XINUSE may always be 1 (the SDM allows it). */
	memcpy(&bv, p + XS_XSTATE_BV, 8);
	bv |= EMU_ACCEL_XCR0;
	memcpy(p + XS_XSTATE_BV, &bv, 8);
}

/* ... and come back out after an instruction that loaded the image (XRSTOR, FXRSTOR). */
static void emu_accel_xstate_in(struct emu_accel *a)
{
	const uint8_t *p = a->xstate;

	memcpy(&a->cpu.fcw, p + XS_FCW, 2);
	memcpy(&a->cpu.fsw, p + XS_FSW, 2);
	memcpy(&a->cpu.mxcsr, p + XS_MXCSR, 4);
	memcpy(a->cpu.xmm, p + XS_XMM, sizeof(a->cpu.xmm));
}

/* The page walk's view of the CPU: refreshed before every instruction and every delivery, since
 * the instruction before may have changed CR0/CR3/CR4, EFER or RFLAGS.AC. */
static void emu_accel_sync_mmu(struct emu_accel *a)
{
	const struct emu_cpu *c = &a->cpu;
	struct emu_tlb *t = &a->tlb;

	/* A new paging context (MOV CR*, EFER, set_regs, INIT): the TLB's entries are void. */
	if (t->cr0 != c->cr0 || t->cr3 != c->cr3 || t->cr4 != c->cr4 || t->efer != c->efer) {
		emu_tlb_flush(t);
		t->cr0 = c->cr0;
		t->cr3 = c->cr3;
		t->cr4 = c->cr4;
		t->efer = c->efer;
	}
	a->phys.mmu = (struct emu_mmu){
		.cr0 = c->cr0,
		.cr3 = c->cr3,
		.cr4 = c->cr4,
		.efer = c->efer,
		.rflags = c->rflags,
		.tlb = t,
		.maxphyaddr = EMU_ACCEL_MAXPHYADDR,
		.pt = emu_phys_pt,
		.opaque = (void *)a->phys.gm,
	};
}

/* Double-fault classes (SDM vol. 3, table 6-5). */
static bool emu_accel_contributory(uint8_t v)
{
	return v == EMU_X_DE || v == EMU_X_TS || v == EMU_X_NP || v == EMU_X_SS || v == EMU_X_GP;
}

/*
 * Deliver exc through the IDT. A fault while delivering it is handled as the CPU does: a
 * contributory fault after a contributory one, or a contributory fault or #PF after a #PF, is a
 * double fault; any fault while delivering a double fault shuts the CPU down (1 returned);
 * otherwise the second exception is delivered instead. 0, 1, or a negative errno (-ENOTSUP: a
 * task gate, virtual-8086 mode). A delivered event ends a HLT: a single-step trap after HLT runs
 * its handler at once (KVM does the same), whatever IF says.
 */
static int emu_accel_deliver(struct emu_accel *a, struct emu_exception exc, bool soft, bool event)
{
	a->halted = false;
	for (;;) {
		struct emu_exception nested;
		/* A fault while delivering an NMI or interrupt is handled serially, like a benign
		 * exception's, whatever its vector. */
		uint8_t first = event ? EMU_X_NMI : exc.vector;
		int ret;

		emu_accel_sync_mmu(a);
		if (exc.vector == EMU_X_PF)
			a->cpu.cr2 = exc.cr2;
		if (exc.vector == EMU_X_DB)
			a->cpu.dr6 = (a->cpu.dr6 & ~0xfull) | exc.dr6 | 0xffff0ff0ull;
		ret = emu_deliver(&a->cpu, &exc, soft, &a->ops, a, &nested);
		if (ret)
			return ret;
		a->cpu.cpl = emu_accel_cpl(&a->cpu);
		if (!nested.valid) {
			__atomic_add_fetch(&a->stats.exceptions, 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (first == EMU_X_DF)
			return 1;
		soft = event = false;
		if ((emu_accel_contributory(first) && emu_accel_contributory(nested.vector)) ||
		    (first == EMU_X_PF &&
		     (nested.vector == EMU_X_PF || emu_accel_contributory(nested.vector))))
			exc = (struct emu_exception){ .valid = true,
						      .vector = EMU_X_DF,
						      .has_error_code = true };
		else
			exc = nested;
	}
}

static void emu_accel_fail(const struct emu_accel *a, const struct emu_insn *insn, int ret)
{
	char hex[3 * EMU_MAX_INSN_LEN + 1] = "";

	for (unsigned i = 0; i < insn->len && i < EMU_MAX_INSN_LEN; i++)
		snprintf(hex + 3 * i, 4, "%02x ", insn->bytes[i]);
	log_error("emulator: cannot execute %s at rip 0x%llx (cpl %u) [ %s]: %s",
		  insn->op == EMU_OP_UNIMPL || insn->op == EMU_OP_NONE ? "the instruction"
								       : emu_op_name(insn->op),
		  (unsigned long long)a->cpu.rip, a->cpu.cpl, hex,
		  ret == -ENOTSUP ? "not emulated" : strerror(-ret));
}

/* Deliver, and turn what cannot be delivered into an exit. */
static int emu_accel_deliver_exit(struct emu_accel *a, struct emu_exception exc, bool soft,
				  bool event)
{
	int ret = emu_accel_deliver(a, exc, soft, event);

	if (ret == 1) {
		log_error("emulator: triple fault at rip 0x%llx", (unsigned long long)a->cpu.rip);
		return EMU_ACCEL_SHUTDOWN;
	}
	if (ret) {
		log_error("emulator: cannot deliver %s %u at rip 0x%llx: %s",
			  event ? "interrupt" : "exception", exc.vector,
			  (unsigned long long)a->cpu.rip,
			  ret == -ENOTSUP ? "not emulated (task gate or virtual-8086 mode)"
					  : strerror(-ret));
		return EMU_ACCEL_FAIL;
	}
	return 0;
}

/*
 * After an instruction: its exception, and the data breakpoints it hit as a #DB trap. A fault
 * means it did not complete, so its hits do not count. A load of SS holds them back until after
 * the next instruction; a #DB of that instruction's own (single-step, ICEBP) carries them too,
 * and any other event it raised (INT3's #BP, INT n) is delivered first, the #DB then arriving at
 * the handler's first instruction, as kvm-unit-tests' debug.flat checks.
 */
static int emu_accel_finish(struct emu_accel *a, const struct emu_insn *insn,
			    struct emu_exception exc)
{
	bool trap = !exc.valid || exc.vector == EMU_X_DB ||
		    (insn->op == EMU_OP_INT3 && exc.vector == EMU_X_BP);
	uint8_t hits = a->db_held | (trap ? a->db_hits : 0);
	int ret;

	a->db_held = 0;
	if (hits && (a->shadow & 2)) {
		a->db_held = hits;
		hits = 0;
	}
	if (exc.valid && exc.vector == EMU_X_DB) {
		exc.dr6 |= hits;
		hits = 0;
	}
	if (exc.valid) {
		/* Only int3's own #BP is a software exception (gate DPL checked, no EXT): INTO
		 * delivers its #OF itself, and what comes back from it (or a LOCK-prefixed
		 * int3's #UD) is a fault. */
		ret = emu_accel_deliver_exit(
		    a, exc, insn->op == EMU_OP_INT3 && exc.vector == EMU_X_BP, false);
		if (ret)
			return ret;
	}
	if (!hits)
		return 0;
	return emu_accel_deliver_exit(
	    a, (struct emu_exception){ .valid = true, .vector = EMU_X_DB, .dr6 = hits }, false,
	    false);
}

/* One instruction: 0 when it (or the exception it raised) is done, else an exit. */
static int emu_accel_step(struct emu_accel *a)
{
	struct emu_cpu *c = &a->cpu;
	struct emu_insn insn;
	struct emu_exception exc;
	unsigned needs;
	int ret;

	memset(&insn, 0, sizeof(insn));
	emu_accel_sync_mmu(a);
	c->dirty = 0;
	a->db_hits = 0;
	c->cr8 = lapic_cr8(&a->lapic); /* the TPR, which MMIO writes may have changed */
	ret = emu_decode(&insn, c, NULL, 0, &a->ops, a, &exc);
	if (!ret && !exc.valid) {
		needs = emu_insn_needs(&insn);
		if (needs & EMU_NEED_TSC)
			c->tsc = emu_accel_tsc(a);
		c->xstate = NULL;
		if (needs & EMU_NEED_XSTATE) {
			emu_accel_xstate_out(a);
			c->xstate = a->xstate;
		}
		a->watch = true;
		c->db_hit = false;
		ret = emu_execute(c, &insn, &a->ops, a, &exc);
		a->watch = false;
		if (!ret && (c->dirty & EMU_DIRTY_TLB))
			emu_tlb_flush(
			    &a->tlb); /* MOV CR3 (even of the same value), INVLPG, INVPCID */
		if (!ret && (c->dirty & EMU_DIRTY_XSTATE))
			emu_accel_xstate_in(a);
		c->cpl = emu_accel_cpl(c);
		/* A MOV to CR8 writes the TPR (and clears its low bits) even when CR8 reads the
		 * same; an MMIO write to the TPR is the APIC's already. */
		if (!ret && !exc.valid && insn.op == EMU_OP_MOV_CR && insn.opcode == 0x22 &&
		    insn.reg == 8)
			lapic_set_cr8(&a->lapic, (uint8_t)c->cr8);
		if (!ret && insn.op == EMU_OP_NOP && insn.opcode == 0x90 && insn.rep_f3 && a->ipi)
			a->yield = true; /* PAUSE */
		/* IRET ends NMI blocking, even one that faults afterwards (SDM 6.7.1). */
		if (!ret && insn.op == EMU_OP_IRET && (!exc.valid || exc.vector == EMU_X_DB))
			a->nmi_blocked = false;
	}
	a->shadow = ret ? 0
			: (uint8_t)((c->dirty & EMU_DIRTY_STI_SHADOW ? 1 : 0) |
				    (c->dirty & EMU_DIRTY_SS_SHADOW ? 2 : 0));
	if (ret && c->cpl > 0) {
		/* As under KVM: what user code runs that nobody can finish is the guest's #UD. */
		exc = (struct emu_exception){ .valid = true, .vector = EMU_X_UD };
		__atomic_add_fetch(&a->stats.user_ud, 1, __ATOMIC_RELAXED);
		ret = 0;
	}
	if (ret) {
		emu_accel_fail(a, &insn, ret);
		return EMU_ACCEL_FAIL;
	}
	return emu_accel_finish(a, &insn, exc);
}

/*
 * Instruction breakpoints (DR7 L/G with R/W 00) on the next instruction's linear address, checked
 * right before it runs (after interrupts, so a handler's first instruction is checked too): a #DB
 * fault, unless RF says the last one was taken there. As the SDM has it, the frame carries the RF
 * of the moment (clear): the handler sets it to go on. As on Intel CPUs, none fires on the
 * instruction right after a MOV or POP to SS (kvm-unit-tests' emulator.flat checks it). *hit says
 * whether one was delivered. Data breakpoints are emu_accel_finish's; I/O breakpoints are not
 * implemented (port accesses do not trap).
 */
static int emu_accel_breakpoints(struct emu_accel *a, bool *hit)
{
	const struct emu_cpu *c = &a->cpu;
	uint64_t la = emu_code_size(c) == 8 ? c->rip : (uint32_t)(c->seg[EMU_CS].base + c->rip);
	uint64_t hits = 0;
	struct emu_exception db = { .valid = true, .vector = EMU_X_DB };

	*hit = false;
	if ((c->rflags & EMU_RFLAGS_RF) || (a->shadow & 2))
		return 0;
	for (unsigned i = 0; i < 4; i++)
		if (((c->dr7 >> (2 * i)) & 3) && !((c->dr7 >> (16 + 4 * i)) & 3) && c->dr[i] == la)
			hits |= 1ull << i;
	if (!hits)
		return 0;
	*hit = true;
	db.dr6 = hits;
	return emu_accel_deliver_exit(a, db, false, false);
}

/* Before the next instruction: an NMI, unless one is being handled (until IRET) or the last
 * instruction left an interrupt shadow. It wakes a halted vCPU. 0 or an exit. */
static int emu_accel_events(struct emu_accel *a)
{
	struct emu_exception event = { .valid = true, .vector = EMU_X_NMI };
	uint64_t now;
	int vector;

	if (a->shadow)
		return 0;
	if (!a->nmi_blocked && __atomic_exchange_n(&a->nmi_pending, 0, __ATOMIC_ACQ_REL)) {
		a->halted = false;
		a->nmi_blocked = true;
		return emu_accel_deliver_exit(a, event, false, true);
	}
	/* The clock only while the timer runs: a page walk costs less than reading it. */
	now = lapic_deadline(&a->lapic) ? emu_accel_now_ns() : 0;
	if (now)
		lapic_tick(&a->lapic, now); /* expiries reach the IRR whatever IF says */
	if (!(a->cpu.rflags & EMU_RFLAGS_IF))
		return 0;
	vector = lapic_pending(&a->lapic, now);
	if (vector < 0)
		return 0;
	lapic_accept(&a->lapic, (uint8_t)vector);
	a->halted = false;
	event.vector = (uint8_t)vector;
	return emu_accel_deliver_exit(a, event, false, true);
}

/* INIT: the CPU's reset state (SDM vol. 3, table 9-1: x87/SSE state and MSRs kept), waiting for
 * a SIPI; its local APIC reset but for the ID. */
void emu_accel_init(struct emu_accel *a)
{
	const struct emu_seg data = { .limit = 0xffff, .type = 3, .s = true, .present = true };
	unsigned sipi = a->sipi_pending; /* a SIPI right behind the INIT: set_regs clears it */
	struct x86_regs r;

	emu_accel_get_regs(a, &r);
	memset(r.gpr, 0, sizeof(r.gpr));
	r.rflags = 2;
	r.rip = 0xfff0;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		r.seg[i] = data;
	r.seg[EMU_CS].selector = 0xf000;
	r.seg[EMU_CS].base = 0xffff0000;
	r.seg[EMU_CS].type = 0xb;
	r.ldtr = (struct emu_seg){ .limit = 0xffff, .type = 2, .present = true };
	r.tr = (struct emu_seg){ .limit = 0xffff, .type = 0xb, .present = true };
	r.gdt_base = r.idt_base = 0;
	r.gdt_limit = r.idt_limit = 0xffff;
	r.cr0 = 0x60000010; /* CD NW ET */
	r.cr2 = r.cr3 = r.cr4 = r.cr8 = r.efer = 0;
	r.xcr0 = 1;
	memset(r.dr, 0, sizeof(r.dr));
	r.dr6 = 0xffff0ff0;
	r.dr7 = 0x400;
	r.mp_state = X86_MP_INIT_RECEIVED;
	r.shadow = 0;
	memset(&r.nmi, 0, sizeof(r.nmi));
	emu_accel_set_regs(a, &r);
	a->sipi_pending = sipi;
	__atomic_store_n(&a->nmi_pending, 0, __ATOMIC_RELEASE);
	lapic_reset(&a->lapic);
}

/* SIPI: real mode at vector:0000 (CS base vector << 12). */
static void emu_accel_sipi(struct emu_accel *a, uint8_t vector)
{
	struct x86_regs r;

	emu_accel_get_regs(a, &r);
	r.seg[EMU_CS].selector = (uint16_t)(vector << 8);
	r.seg[EMU_CS].base = (uint64_t)vector << 12;
	r.rip = 0;
	r.mp_state = X86_MP_RUNNABLE;
	emu_accel_set_regs(a, &r);
}

enum emu_accel_exit emu_accel_run(struct emu_accel *a, uint64_t budget)
{
	enum emu_accel_exit why = EMU_ACCEL_BUDGET;
	uint64_t i;

	for (i = 0; i < budget; i++) {
		int ret;

		if (a->init_pending) {
			a->init_pending = false;
			if (!a->index) {
				/* The BSP restarts at the reset vector: with no firmware there, a
				 * machine reset is what a guest can mean by it. */
				why = EMU_ACCEL_RESET;
				break;
			}
			emu_accel_init(a);
		}
		if (a->sipi_pending) {
			if (a->wait_sipi)
				emu_accel_sipi(a, (uint8_t)(a->sipi_pending - 1));
			a->sipi_pending = 0;
		}
		if (a->wait_sipi) {
			why = EMU_ACCEL_HALT; /* nothing but a SIPI (or INIT) does anything now */
			break;
		}
		ret = emu_accel_events(a);

		if (ret) {
			why = (enum emu_accel_exit)ret;
			break;
		}
		if (a->halted) {
			why = EMU_ACCEL_HALT;
			break;
		}
		if (a->cpu.dr7 & 0xff) {
			bool hit;

			ret = emu_accel_breakpoints(a, &hit);
			if (ret) {
				why = (enum emu_accel_exit)ret;
				break;
			}
			if (hit)
				continue; /* at the handler now: interrupts, breakpoints again */
		}
		ret = emu_accel_step(a);
		if (ret) {
			why = (enum emu_accel_exit)ret;
			i++; /* it ran, or faulted trying */
			break;
		}
		if (a->yield || (a->stopping && __atomic_load_n(a->stopping, __ATOMIC_RELAXED))) {
			a->yield = false;
			i++;
			break;
		}
	}
	__atomic_add_fetch(&a->stats.instructions, i, __ATOMIC_RELAXED);
	return why;
}

bool emu_accel_ipi_match(const struct emu_accel *a, unsigned from, uint32_t icr_lo, uint32_t icr_hi)
{
	return lapic_ipi_match(&a->lapic, icr_lo, icr_hi, from == a->index);
}

void emu_accel_ipi_receive(struct emu_accel *a, uint32_t icr_lo)
{
	switch ((icr_lo >> 8) & 7) {
	case 0: /* fixed */
	case 1: /* lowest priority: the machine picked this CPU */
		lapic_set_irr(&a->lapic, (uint8_t)icr_lo, icr_lo & 0x8000);
		break;
	case 4:
		if (!a->wait_sipi) /* INIT blocks NMIs until the SIPI */
			emu_accel_nmi(a);
		break;
	case 5:
		/* INIT level de-assert (level 0, level-triggered) is a no-op since the P4. */
		if (!(icr_lo & 0x4000) && (icr_lo & 0x8000))
			break;
		a->init_pending = true;
		a->sipi_pending = 0;
		break;
	case 6:
		if (a->wait_sipi || a->init_pending)
			a->sipi_pending = (uint8_t)icr_lo + 1u;
		break;
	default: /* SMI, ExtINT: nothing here sends them */
		break;
	}
}

uint64_t emu_accel_wake_at(const struct emu_accel *a)
{
	if (a->wait_sipi || !a->halted || !(a->cpu.rflags & EMU_RFLAGS_IF))
		return 0;
	return lapic_wake_deadline(&a->lapic);
}

void emu_accel_nmi(struct emu_accel *a)
{
	__atomic_store_n(&a->nmi_pending, 1, __ATOMIC_RELEASE);
}

void emu_accel_get_stats(const struct emu_accel *a, struct emu_accel_stats *s)
{
	s->instructions = __atomic_load_n(&a->stats.instructions, __ATOMIC_RELAXED);
	s->exceptions = __atomic_load_n(&a->stats.exceptions, __ATOMIC_RELAXED);
	s->user_ud = __atomic_load_n(&a->stats.user_ud, __ATOMIC_RELAXED);
}
