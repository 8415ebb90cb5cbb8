/* KVM glue for the x86 emulator: vCPU state in/out, guest memory by page walk, injection, stats. */
#include "arch/x86/emu_fallback.h"

#include <cpuid.h>
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu.h"
#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/mmu.h"
#include "arch/x86/emu/phys.h"
#include "bus.h"
#include "guest_mem.h"
#include "log.h"

/* Process-wide like --stats itself; updated from every vCPU thread. */
static uint64_t emu_fallback_counts[EMU_OP_COUNT];
static uint64_t emu_fallback_unsupported;
/* Instructions from CPL > 0 that could not be finished and got #UD/#GP instead of a VM stop. */
static uint64_t emu_fallback_user_faults;

/* The segment registers in emu_seg order, as pointers into s. */
static void emu_fallback_segs(struct kvm_sregs *s, struct kvm_segment *segs[EMU_NR_SREGS])
{
	segs[EMU_ES] = &s->es;
	segs[EMU_CS] = &s->cs;
	segs[EMU_SS] = &s->ss;
	segs[EMU_DS] = &s->ds;
	segs[EMU_FS] = &s->fs;
	segs[EMU_GS] = &s->gs;
}

static void emu_fallback_load(struct emu_cpu *cpu, const struct kvm_regs *r,
			      const struct kvm_sregs *s)
{
	const struct kvm_segment *segs[EMU_NR_SREGS] = { &s->es, &s->cs, &s->ss,
							 &s->ds, &s->fs, &s->gs };
	const uint64_t gprs[EMU_NR_GPRS] = { r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp,
					     r->rsi, r->rdi, r->r8,  r->r9,  r->r10, r->r11,
					     r->r12, r->r13, r->r14, r->r15 };

	memset(cpu, 0, sizeof(*cpu));
	memcpy(cpu->gpr, gprs, sizeof(gprs));
	cpu->rip = r->rip;
	cpu->rflags = r->rflags;
	cpu->cr0 = s->cr0;
	cpu->cr2 = s->cr2;
	cpu->cr3 = s->cr3;
	cpu->cr4 = s->cr4;
	cpu->cr8 = s->cr8;
	cpu->efer = s->efer;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		cpu_seg_from_kvm(&cpu->seg[i], segs[i]);
	cpu_seg_from_kvm(&cpu->ldt, &s->ldt);
	cpu_seg_from_kvm(&cpu->tr, &s->tr);
	cpu->gdt = (struct emu_dtable){ s->gdt.base, s->gdt.limit };
	cpu->idt = (struct emu_dtable){ s->idt.base, s->idt.limit };
	/* As KVM defines it: SS.DPL in protected mode, 3 in virtual-8086 mode, 0 in real mode. */
	if (!(s->cr0 & EMU_CR0_PE))
		cpu->cpl = 0;
	else if (r->rflags & EMU_RFLAGS_VM)
		cpu->cpl = 3;
	else
		cpu->cpl = s->ss.dpl;
}

static void emu_fallback_store(struct kvm_regs *r, const struct emu_cpu *cpu)
{
	r->rax = cpu->gpr[EMU_RAX];
	r->rcx = cpu->gpr[EMU_RCX];
	r->rdx = cpu->gpr[EMU_RDX];
	r->rbx = cpu->gpr[EMU_RBX];
	r->rsp = cpu->gpr[EMU_RSP];
	r->rbp = cpu->gpr[EMU_RBP];
	r->rsi = cpu->gpr[EMU_RSI];
	r->rdi = cpu->gpr[EMU_RDI];
	r->r8 = cpu->gpr[EMU_R8];
	r->r9 = cpu->gpr[EMU_R9];
	r->r10 = cpu->gpr[EMU_R10];
	r->r11 = cpu->gpr[EMU_R11];
	r->r12 = cpu->gpr[EMU_R12];
	r->r13 = cpu->gpr[EMU_R13];
	r->r14 = cpu->gpr[EMU_R14];
	r->r15 = cpu->gpr[EMU_R15];
	r->rip = cpu->rip;
	r->rflags = cpu->rflags;
}

/*
 * Segment registers an instruction loaded (INT n, IRET) back into sregs. Only changed ones are
 * converted, so the G and AVL bits KVM reported for the others stay as they were.
 */
static void emu_fallback_store_segs(struct kvm_sregs *s, const struct emu_cpu *before,
				    const struct emu_cpu *cpu)
{
	struct kvm_segment *segs[EMU_NR_SREGS];

	emu_fallback_segs(s, segs);
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		if (memcmp(&before->seg[i], &cpu->seg[i], sizeof(cpu->seg[i])))
			cpu_seg_to_kvm(segs[i], &cpu->seg[i]);
	/* LGDT/LIDT and LMSW. */
	s->gdt.base = cpu->gdt.base;
	s->gdt.limit = cpu->gdt.limit;
	s->idt.base = cpu->idt.base;
	s->idt.limit = cpu->idt.limit;
	s->cr0 = cpu->cr0;
	s->cr2 = cpu->cr2;
	s->cr3 = cpu->cr3;
	s->cr4 = cpu->cr4;
	s->cr8 = cpu->cr8;
	s->efer = cpu->efer;
}

/* A CPUID lookup over the vCPU's own table, for emu_features_from_cpuid. */
static int emu_fallback_cpuid_leaf(void *opaque, uint32_t function, uint32_t index, uint32_t out[4])
{
	const struct kvm_cpuid2 *c = opaque;

	for (unsigned i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function ||
		    ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index))
			continue;
		out[0] = e->eax;
		out[1] = e->ebx;
		out[2] = e->ecx;
		out[3] = e->edx;
		return 0;
	}
	out[0] = out[1] = out[2] = out[3] = 0;
	return -ENOENT;
}

/*
 * What the guest's CPUID says: the features instructions check, the XCR0 bits allowed and (xl not
 * NULL) where XSAVE puts each state component.
 */
static int emu_fallback_cpuid(int vcpu_fd, struct emu_cpu *cpu, struct emu_xlayout *xl)
{
	enum { EMU_FALLBACK_MAX_CPUID = 256 };
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[EMU_FALLBACK_MAX_CPUID];
	} t = { .c.nent = EMU_FALLBACK_MAX_CPUID };
	uint32_t xsave[4];

	if (ioctl(vcpu_fd, KVM_GET_CPUID2, &t.c) < 0)
		return -errno;
	cpu->features = emu_features_from_cpuid(emu_fallback_cpuid_leaf, &t.c);
	if (emu_fallback_cpuid_leaf(&t.c, 0xd, 0, xsave) == 0)
		cpu->xcr0_supported = xsave[0] | (uint64_t)xsave[3] << 32;
	if (xl && emu_xlayout_from_cpuid(xl, emu_fallback_cpuid_leaf, &t.c) == 0)
		cpu->xlayout = xl;
	return 0;
}

/* IA32_TSC and IA32_TSC_AUX, as the guest reads them now. */
static int emu_fallback_tsc(int vcpu_fd, struct emu_cpu *cpu)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e[2];
	} msrs = { .m.nmsrs = 2, .e = { { .index = 0x10 }, { .index = 0xc0000103 } } };

	if (ioctl(vcpu_fd, KVM_GET_MSRS, &msrs) != 2)
		return -EIO;
	cpu->tsc = msrs.e[0].data;
	cpu->tsc_aux = msrs.e[1].data;
	return 0;
}

/*
 * What an instruction changed beyond kvm_regs: segment registers (KVM_SET_SREGS), XCR0, and a
 * request to invalidate the guest's TLB. For the last, KVM has no ioctl of its own; a KVM_SET_SREGS
 * that changes CR3 resets the vCPU's MMU context (every cached translation goes), so CR3 is set
 * to another value and back before the guest runs again. More than INVPCID asked for, which the
 * architecture allows.
 */
static int emu_fallback_write_back(int vcpu_fd, struct kvm_sregs *sregs,
				   const struct emu_cpu *before, const struct emu_cpu *cpu,
				   const char **why)
{
	if (cpu->dirty & EMU_DIRTY_SREGS) {
		emu_fallback_store_segs(sregs, before, cpu);
		if (ioctl(vcpu_fd, KVM_SET_SREGS, sregs) < 0) {
			*why = "KVM_SET_SREGS failed";
			return -errno;
		}
	}
	if (cpu->dirty & EMU_DIRTY_XCR0) {
		struct kvm_xcrs xcrs = { .nr_xcrs = 1,
					 .xcrs = { { .xcr = 0, .value = cpu->xcr0 } } };

		if (ioctl(vcpu_fd, KVM_SET_XCRS, &xcrs) < 0) {
			*why = "KVM_SET_XCRS failed";
			return -errno;
		}
	}
	if (cpu->dirty & EMU_DIRTY_TLB) {
		struct kvm_sregs other = *sregs;

		other.cr3 ^= 0x1000;
		if (ioctl(vcpu_fd, KVM_SET_SREGS, &other) < 0 ||
		    ioctl(vcpu_fd, KVM_SET_SREGS, sregs) < 0) {
			*why = "KVM_SET_SREGS (TLB flush) failed";
			return -errno;
		}
	}
	return 0;
}

/*
 * x87/SSE control state through KVM_GET/SET_XSAVE, not KVM_GET/SET_FPU: those read and write the
 * kernel's raw buffer, which under XSAVE's init optimisation holds stale values (measured here:
 * MXCSR reads as 0 on a fresh vCPU, and a KVM_SET_FPU of MXCSR does not stick). The uABI XSAVE
 * image has init values filled in and honours xstate_bv on the way back. kvmbox never asks for AMX
 * permission, so the 4 KiB struct kvm_xsave holds the whole image.
 */
#define EMU_FALLBACK_XSAVE_FCW 0
#define EMU_FALLBACK_XSAVE_FSW 2
#define EMU_FALLBACK_XSAVE_MXCSR 24
#define EMU_FALLBACK_XSAVE_MXCSR_MASK 28
#define EMU_FALLBACK_XSAVE_XMM 160 /* XMM0-15, 16 bytes each, in the legacy area */
#define EMU_FALLBACK_XSAVE_XSTATE_BV 512
#define EMU_FALLBACK_XFEATURE_SSE (1ull << 1)

static void emu_fallback_fpu_in(struct emu_cpu *cpu, const struct kvm_xsave *xs)
{
	const uint8_t *p = (const uint8_t *)xs->region;

	memcpy(&cpu->fcw, p + EMU_FALLBACK_XSAVE_FCW, 2);
	memcpy(&cpu->fsw, p + EMU_FALLBACK_XSAVE_FSW, 2);
	memcpy(&cpu->mxcsr, p + EMU_FALLBACK_XSAVE_MXCSR, 4);
	memcpy(&cpu->mxcsr_mask, p + EMU_FALLBACK_XSAVE_MXCSR_MASK, 4);
	memcpy(cpu->xmm, p + EMU_FALLBACK_XSAVE_XMM, sizeof(cpu->xmm));
}

/* MXCSR and the XMM registers back into the image (the caller knows one of them changed). */
static void emu_fallback_sse_out(struct kvm_xsave *xs, const struct emu_cpu *cpu)
{
	uint8_t *p = (uint8_t *)xs->region;
	uint64_t bv;

	memcpy(p + EMU_FALLBACK_XSAVE_MXCSR, &cpu->mxcsr, 4);
	memcpy(p + EMU_FALLBACK_XSAVE_XMM, cpu->xmm, sizeof(cpu->xmm));
	/* KVM takes MXCSR and XMM from the image only when SSE is marked present in it. */
	memcpy(&bv, p + EMU_FALLBACK_XSAVE_XSTATE_BV, 8);
	bv |= EMU_FALLBACK_XFEATURE_SSE;
	memcpy(p + EMU_FALLBACK_XSAVE_XSTATE_BV, &bv, 8);
}

/*
 * The XSAVE family's state: the image itself and IA32_XSS (when the guest has XSAVES). The x87
 * and MMX instructions use only the image's legacy area and header, which KVM_GET_XSAVE always
 * fills; the XSAVE family also needs the layout CPUID describes (cpu->xlayout) to fit in it, and
 * is not emulated without one.
 */
static int emu_fallback_xstate(int vcpu_fd, struct emu_cpu *cpu, struct kvm_xsave *xs)
{
	if (cpu->xlayout && cpu->xlayout->size > sizeof(xs->region))
		cpu->xlayout = NULL;
	cpu->xstate = (uint8_t *)xs->region;
	if (cpu->features & EMU_FEAT_XSAVES) {
		struct {
			struct kvm_msrs m;
			struct kvm_msr_entry e[1];
		} msrs = { .m.nmsrs = 1, .e = { { .index = 0xda0 } } };

		if (ioctl(vcpu_fd, KVM_GET_MSRS, &msrs) != 1)
			return -EIO;
		cpu->xss = msrs.e[0].data;
	}
	return 0;
}

static unsigned emu_fallback_maxphyaddr(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid(0x80000008, &a, &b, &c, &d) && (a & 0xff) >= 32 && (a & 0xff) <= 52)
		return a & 0xff;
	return 36;
}

/* What the guest was executing: exit and instruction bytes (the caller dumps the registers). */
static void emu_fallback_dump(const struct kvm_run *run, const char *why, const uint8_t *bytes,
			      unsigned nbytes, const struct emu_insn *insn)
{
	char hex[3 * EMU_MAX_INSN_LEN + 1] = "";

	log_error("emulation failure: %s (exit reason %u, suberror %u)", why, run->exit_reason,
		  run->internal.suberror);
	for (unsigned i = 0; i < nbytes && i < EMU_MAX_INSN_LEN; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", bytes[i]);
	log_error("  instruction bytes from KVM (%u): %s", nbytes, nbytes ? hex : "none");
	if (insn && insn->len) {
		hex[0] = 0;
		for (unsigned i = 0; i < insn->len; i++)
			snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", insn->bytes[i]);
		log_error("  decoded so far (%u): %s(map %u, opcode %02x)", insn->len, hex,
			  insn->map, insn->opcode);
	}
}

/* Deliver exc (if any) after the registers are written; KVM_SET_REGS drops pending exceptions. */
static int emu_fallback_inject(int vcpu_fd, struct kvm_sregs *sregs,
			       const struct emu_exception *exc, bool iret, unsigned dirty)
{
	struct kvm_vcpu_events ev;
	bool completed = !exc->valid || exc->vector == EMU_X_BP || exc->vector == EMU_X_DB;
	bool changed = false;

	if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	/* A completed IRET ends NMI blocking, as on the CPU (and in KVM's own emulator). */
	if (iret && completed && ev.nmi.masked) {
		ev.nmi.masked = 0;
		changed = true;
	}
	/*
	 * Finishing the instruction ends an STI/MOV SS interrupt shadow, as on the real CPU; one
	 * that loaded SS, or an STI that set IF, starts a new one.
	 */
	uint8_t shadow = (dirty & EMU_DIRTY_SS_SHADOW)	  ? KVM_X86_SHADOW_INT_MOV_SS
			 : (dirty & EMU_DIRTY_STI_SHADOW) ? KVM_X86_SHADOW_INT_STI
							  : 0;

	if (completed && (ev.interrupt.shadow || shadow)) {
		ev.interrupt.shadow = exc->valid ? 0 : shadow;
		ev.flags |= KVM_VCPUEVENT_VALID_SHADOW;
		changed = true;
	}
	if (exc->valid) {
		if (ev.exception.injected || ev.exception.pending) {
			log_error("emulator: exception %u raised while exception %u is queued",
				  exc->vector, ev.exception.nr);
			return -EBUSY;
		}
		if (exc->vector == EMU_X_PF) {
			sregs->cr2 = exc->cr2;
			if (ioctl(vcpu_fd, KVM_SET_SREGS, sregs) < 0)
				return -errno;
		}
		if (exc->dr6) {
			struct kvm_debugregs dr;

			if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &dr) < 0)
				return -errno;
			dr.dr6 |= exc->dr6;
			if (ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &dr) < 0)
				return -errno;
		}
		ev.exception.injected = 1;
		ev.exception.pending = 0;
		ev.exception.nr = exc->vector;
		ev.exception.has_error_code = exc->has_error_code;
		ev.exception.error_code = exc->error_code;
		ev.exception_has_payload = 0; /* CR2/DR6 were set above, the pre-payload way */
		changed = true;
	}
	if (changed && ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

/*
 * An instruction from guest user (or ring 1-2) code that neither KVM nor kvmbox can finish: what
 * hardware would give instead of a VM stop, so that no guest process can stop the VM. #UD when
 * the instruction is unknown or not implemented (decode_ret or exec_ret -ENOTSUP), #GP(0) when
 * its operand is somewhere kvmbox cannot reach (e.g. MMIO under an instruction only the emulator
 * runs). KVM_SET_REGS first: it drops the #UD KVM queued for the failed instruction.
 */
static int emu_fallback_user_fault(int vcpu_fd, const struct kvm_regs *regs,
				   struct kvm_sregs *sregs, bool unknown)
{
	struct emu_exception exc = { .valid = true, .vector = unknown ? EMU_X_UD : EMU_X_GP };
	int ret;

	if (!unknown)
		exc.has_error_code = true;
	if (ioctl(vcpu_fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	ret = emu_fallback_inject(vcpu_fd, sregs, &exc, false, 0);
	if (ret)
		return ret;
	if (__atomic_add_fetch(&emu_fallback_user_faults, 1, __ATOMIC_RELAXED) == 1)
		log_warn("emulator: an instruction from guest user mode at rip 0x%llx cannot be "
			 "finished: %s injected (logged once; --stats counts them)",
			 (unsigned long long)regs->rip, unknown ? "#UD" : "#GP(0)");
	return 0;
}

int emu_fallback_handle(int vcpu_fd, struct kvm_run *run, const struct guest_mem *gm,
			struct bus *mmio, struct bus *pio)
{
	struct emu_phys ctx = { .gm = gm, .mmio = mmio, .pio = pio };
	struct kvm_regs regs, new_regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct emu_xlayout xlayout;
	struct emu_cpu cpu, before;
	struct emu_insn insn;
	struct emu_exception exc;
	const uint8_t *bytes = NULL;
	unsigned nbytes = 0, needs;
	uint32_t old_mxcsr = 0;
	const char *why = "cannot emulate";
	int ret;

	memset(&insn, 0, sizeof(insn));
	if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR ||
	    run->emulation_failure.suberror != KVM_INTERNAL_ERROR_EMULATION) {
		ret = -EINVAL;
		why = "not an emulation failure";
		goto fail;
	}
	/* ndata counts the flags word and the two words holding insn_size and insn_bytes. */
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		bytes = run->emulation_failure.insn_bytes;
		nbytes = run->emulation_failure.insn_size;
		if (nbytes > EMU_MAX_INSN_LEN)
			nbytes = EMU_MAX_INSN_LEN;
	}
	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		ret = -errno;
		why = "cannot read vCPU state";
		goto fail;
	}
	emu_fallback_load(&cpu, &regs, &sregs);
	ctx.mmu = (struct emu_mmu){
		.cr0 = sregs.cr0,
		.cr3 = sregs.cr3,
		.cr4 = sregs.cr4,
		.efer = sregs.efer,
		.rflags = regs.rflags,
		.maxphyaddr = emu_fallback_maxphyaddr(),
		.pt = emu_phys_pt,
		.opaque = (void *)gm,
	};

	ret = emu_decode(&insn, &cpu, bytes, nbytes, &emu_phys_ops, &ctx, &exc);
	if (ret) {
		if (cpu.cpl > 0 && emu_fallback_user_fault(vcpu_fd, &regs, &sregs, true) == 0)
			return 0;
		why = ret == -ENOTSUP ? "unknown instruction" : "cannot fetch instruction";
		goto fail;
	}
	if (!exc.valid) {
		needs = emu_insn_needs(&insn);
		if (needs & (EMU_NEED_FPU | EMU_NEED_XSTATE)) {
			if (ioctl(vcpu_fd, KVM_GET_XSAVE, &xsave) < 0) {
				ret = -errno;
				why = "KVM_GET_XSAVE failed";
				goto fail;
			}
			emu_fallback_fpu_in(&cpu, &xsave);
			old_mxcsr = cpu.mxcsr;
		}
		if (needs & EMU_NEED_CPUID) {
			ret = emu_fallback_cpuid(vcpu_fd, &cpu,
						 (needs & EMU_NEED_XSTATE) ? &xlayout : NULL);
			if (ret) {
				why = "KVM_GET_CPUID2 failed";
				goto fail;
			}
		}
		if (needs & EMU_NEED_XSTATE) {
			ret = emu_fallback_xstate(vcpu_fd, &cpu, &xsave);
			if (ret) {
				why = "KVM_GET_MSRS (IA32_XSS) failed";
				goto fail;
			}
		}
		if (needs & EMU_NEED_TSC) {
			ret = emu_fallback_tsc(vcpu_fd, &cpu);
			if (ret) {
				why = "KVM_GET_MSRS (TSC) failed";
				goto fail;
			}
		}
		if (needs & EMU_NEED_XCR0) {
			struct kvm_xcrs xcrs;

			if (ioctl(vcpu_fd, KVM_GET_XCRS, &xcrs) < 0) {
				ret = -errno;
				why = "KVM_GET_XCRS failed";
				goto fail;
			}
			for (unsigned i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
				if (xcrs.xcrs[i].xcr == 0)
					cpu.xcr0 = xcrs.xcrs[i].value;
		}
		before = cpu;
		ret = emu_execute(&cpu, &insn, &emu_phys_ops, &ctx, &exc);
		if (ret) {
			if (cpu.cpl > 0 &&
			    emu_fallback_user_fault(vcpu_fd, &regs, &sregs, ret == -ENOTSUP) == 0)
				return 0;
			why = insn.op == EMU_OP_UNIMPL
				  ? "an instruction kvmbox decodes but does not emulate"
				  : "cannot emulate";
			goto fail;
		}
		new_regs = regs;
		emu_fallback_store(&new_regs, &cpu);
		/*
		 * Always, even when nothing changed: before exiting, KVM queued a #UD for the
		 * failed instruction, and only KVM_SET_REGS drops it; a fault we inject below
		 * (ldmxcsr #GP, a #PF) would otherwise collide with it.
		 */
		if (ioctl(vcpu_fd, KVM_SET_REGS, &new_regs) < 0) {
			ret = -errno;
			why = "KVM_SET_REGS failed";
			goto fail;
		}
		ret = emu_fallback_write_back(vcpu_fd, &sregs, &before, &cpu, &why);
		if (ret)
			goto fail;
		if (((needs & EMU_NEED_FPU) &&
		     (cpu.mxcsr != old_mxcsr || (cpu.dirty & EMU_DIRTY_XMM))) ||
		    (cpu.dirty & EMU_DIRTY_XSTATE)) {
			if (!(cpu.dirty & EMU_DIRTY_XSTATE))
				emu_fallback_sse_out(&xsave, &cpu);
			if (ioctl(vcpu_fd, KVM_SET_XSAVE, &xsave) < 0) {
				ret = -errno;
				why = "KVM_SET_XSAVE failed";
				goto fail;
			}
		}
	} else if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		/* A fault while decoding (#PF on a fetch, #UD): drop KVM's queued #UD first. */
		ret = -errno;
		why = "KVM_SET_REGS failed";
		goto fail;
	}
	ret = emu_fallback_inject(vcpu_fd, &sregs, &exc, insn.op == EMU_OP_IRET, cpu.dirty);
	if (ret) {
		why = "cannot inject exception";
		goto fail;
	}
	__atomic_add_fetch(&emu_fallback_counts[insn.op], 1, __ATOMIC_RELAXED);
	return 0;
fail:
	__atomic_add_fetch(&emu_fallback_unsupported, 1, __ATOMIC_RELAXED);
	emu_fallback_dump(run, why, bytes, nbytes, &insn);
	log_error("  error: %s", strerror(-ret));
	return ret;
}

void emu_fallback_stats(void (*fn)(void *opaque, const char *mnemonic, uint64_t count),
			void *opaque)
{
	for (unsigned op = 0; op < EMU_OP_COUNT; op++) {
		uint64_t n = __atomic_load_n(&emu_fallback_counts[op], __ATOMIC_RELAXED);

		/* EMU_OP_NONE: faults raised while decoding (#GP past 15 bytes, #PF, #UD). */
		if (n)
			fn(opaque, op == EMU_OP_NONE ? "decode-fault" : emu_op_name(op), n);
	}
	fn(opaque, "user-faulted", __atomic_load_n(&emu_fallback_user_faults, __ATOMIC_RELAXED));
	fn(opaque, "unsupported", __atomic_load_n(&emu_fallback_unsupported, __ATOMIC_RELAXED));
}

static void emu_fallback_print_one(void *opaque, const char *mnemonic, uint64_t count)
{
	fprintf(opaque, " %s=%llu", mnemonic, (unsigned long long)count);
}

void emu_fallback_print_stats(FILE *out)
{
	fprintf(out, "  emulated in kvmbox:");
	emu_fallback_stats(emu_fallback_print_one, out);
	fprintf(out, "\n");
}
