/* Intel MultiProcessor Specification 1.4 tables: CPUs and IOAPIC for guests booted without ACPI. */
#ifndef KVMBOX_X86_MPTABLE_H
#define KVMBOX_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "guest_mem.h"

/*
 * Where kvmbox puts it: the floating pointer at the start of the EBDA, which is also the last KiB
 * of 640 KiB base memory (Linux's mpparse.c scans [639 KiB, 640 KiB) for it), and the
 * configuration table right after it. Large tables run on into the VGA hole, which kvmbox backs
 * with RAM and nothing else uses; the whole range up to the ACPI tables is e820-reserved.
 */
#define MPTABLE_GPA LAYOUT_EBDA
#define MPTABLE_MAX_LEN (LAYOUT_ACPI - LAYOUT_EBDA)

/*
 * APIC IDs are 8 bits and 0xff is the broadcast ID; the IOAPIC takes ID ncpus (MP 1.4 wants IOAPIC
 * IDs distinct from local APIC IDs), so 254 CPUs leave it 254.
 */
#define MPTABLE_MAX_CPUS 254

/* Every IOAPIC pin gets an interrupt entry: Linux allocates IRQs only for pins the table lists. */
#define MPTABLE_IOAPIC_PINS 24

struct mptable_config {
	unsigned ncpus;		/* processor entries for APIC IDs 0..ncpus-1; 0 is the BSP */
	uint32_t cpu_signature; /* CPUID.1:EAX (stepping, model, family); 0: family 6 */
	uint32_t cpu_features;	/* CPUID.1:EDX; 0: FPU and APIC */
	/*
	 * Bit n: IOAPIC pin n is level-triggered, active-high, in addition to the SCI and pins
	 * 16-23, which always are. Set it for ISA lines given to virtio-mmio devices: their line
	 * stays up until the driver acknowledges, which an edge-triggered pin can miss for good.
	 */
	uint32_t level_pins;
};

/* Bytes mptable_write writes for ncpus CPUs (floating pointer + configuration table). */
size_t mptable_size(unsigned ncpus);

/*
 * Write the floating pointer at gpa and the configuration table after it, both checksummed: one
 * processor entry per CPU, an ISA bus, the IOAPIC (ID ncpus, version 0x11, LAYOUT_IOAPIC), I/O
 * interrupt entries as a PC wires them (8259 ExtINT on pin 0, ISA IRQ 0 on pin 2, IRQ n on pin n;
 * the ISA bus's edge trigger except for the level pins above), and ExtINT on LINT0 / NMI on LINT1.
 * Bits of level_pins for pins 0 and 2 (8259, timer) or beyond 23 are -EINVAL. gpa must be 16-byte
 * aligned and, for Linux to find it, in a range it scans (MPTABLE_GPA is). Errors: -EINVAL (no
 * CPUs, unaligned gpa, table above 4 GiB, level_pins), -E2BIG (more than MPTABLE_MAX_CPUS), -ENOSPC
 * (larger than max_len), -EFAULT (not inside guest RAM), -ENOMEM.
 */
int mptable_write(const struct guest_mem *gm, uint64_t gpa, uint64_t max_len,
		  const struct mptable_config *cfg) __attribute__((warn_unused_result));

#endif
