/*
 * A vCPU without KVM (`kvmbox run --accel emu`): every guest instruction goes through the x86
 * emulator, guest memory through emu_phys (RAM, else the MMIO bus), port I/O to the PIO bus. The
 * CPU the guest sees is what the emulator implements (emu_accel_cpuid), with a local APIC
 * (src/dev/lapic.c) on the MMIO bus: its timer and self-IPIs interrupt the guest; NMIs come from
 * kvmbox. Exceptions and interrupts go through the guest's IDT with the double- and triple-fault
 * rules. With several CPUs, emu_smp runs one at a time and carries IPIs (INIT and SIPI start the
 * APs, which begin in wait-for-SIPI). No I/O APIC or PIC yet: device interrupts do not reach it.
 * The start of a CPU-emulator mode.
 */
#ifndef KVMBOX_X86_EMU_ACCEL_H
#define KVMBOX_X86_EMU_ACCEL_H

#include <stdint.h>

#include "arch/x86/regs.h"
#include "bus.h"
#include "guest_mem.h"

struct emu_accel;

/* Why emu_accel_run returned. */
enum emu_accel_exit {
	EMU_ACCEL_BUDGET,   /* ran its instructions: time to look at stop and park requests */
	EMU_ACCEL_HALT,	    /* halted (HLT), with nothing that can wake the vCPU */
	EMU_ACCEL_SHUTDOWN, /* triple fault: the CPU shuts down */
	EMU_ACCEL_FAIL,	    /* an instruction the emulator cannot execute (logged) */
	EMU_ACCEL_RESET,    /* an INIT reached the BSP: the machine resets */
};

struct emu_accel_stats {
	uint64_t instructions; /* executed, faulting ones included */
	uint64_t exceptions;   /* delivered through the guest's IDT (or real-mode IVT) */
	uint64_t user_ud;      /* user-mode instructions not emulated, given #UD */
};

/*
 * vCPU index (its APIC ID; 0 is the BSP) in its reset state, with its own local APIC at the usual
 * address (it hides whatever mmio has there); NULL when out of memory. stopping (atomic, may be
 * NULL): when a device access sets it (debug-exit, ACPI power-off), emu_accel_run returns after
 * that instruction, as a KVM vCPU does not re-enter the guest after the exit that stopped the VM.
 */
struct emu_accel *emu_accel_create(const struct guest_mem *gm, struct bus *pio, struct bus *mmio,
				   const int *stopping, unsigned index);
void emu_accel_destroy(struct emu_accel *a);

/* Load registers (kvmbox's boot state, from cpu_boot_regs): GPRs, RIP, RFLAGS, segments, the
 * descriptor tables, CR0/CR3/CR4, EFER, XCR0 and the x87/SSE control words and XMM registers. */
void emu_accel_set_regs(struct emu_accel *a, const struct x86_regs *r);
void emu_accel_get_regs(const struct emu_accel *a, struct x86_regs *r);

/* Execute up to budget instructions on the calling thread (the vCPU's); EMU_ACCEL_BUDGET also
 * when *stopping became set. */
enum emu_accel_exit emu_accel_run(struct emu_accel *a, uint64_t budget);

void emu_accel_get_stats(const struct emu_accel *a, struct emu_accel_stats *s);

/* A halted vCPU that the local APIC's timer will wake: when (CLOCK_MONOTONIC ns); else 0 (only
 * an NMI, a stop or a pause end the wait). */
uint64_t emu_accel_wake_at(const struct emu_accel *a);

/* Make an NMI pending (any thread; kick the vCPU after): delivered before the next instruction
 * unless an NMI handler runs (until its IRET); it ends a HLT. */
void emu_accel_nmi(struct emu_accel *a);

/*
 * The machine (emu_smp): the local APIC's IPIs (ICR writes, vector checked) go to ipi instead of
 * only to itself, and its EOIs of level-triggered interrupts to eoi (either may be NULL);
 * ipi_receive is an IPI or I/O APIC message arriving (fixed, NMI, INIT, SIPI by the ICR's
 * delivery mode; the trigger mode into the TMR), with the machine's lock held.
 */
void emu_accel_connect(struct emu_accel *a,
		       void (*ipi)(void *opaque, unsigned from, uint32_t icr_lo, uint32_t icr_hi),
		       void (*eoi)(void *opaque, uint8_t vector), void *opaque);
void emu_accel_ipi_receive(struct emu_accel *a, uint32_t icr_lo);
/* The INIT signal now: reset state, waiting for a SIPI (an AP at power-up). */
void emu_accel_init(struct emu_accel *a);
/* Whether an IPI reaches this CPU's APIC (from the CPU with APIC ID from). */
bool emu_accel_ipi_match(const struct emu_accel *a, unsigned from, uint32_t icr_lo,
			 uint32_t icr_hi);

/* CPUID of the emulated CPU: what the emulator implements, as one table (exposed for tests). */
void emu_accel_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
