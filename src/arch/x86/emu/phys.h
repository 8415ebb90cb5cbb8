/* The emulator's memory callbacks over guest RAM and the MMIO bus (struct emu_ops). */
#ifndef KVMBOX_X86_EMU_PHYS_H
#define KVMBOX_X86_EMU_PHYS_H

#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/mmu.h"
#include "bus.h"
#include "guest_mem.h"

/*
 * The opaque of emu_phys_ops. mmu translates (its pt callback: emu_phys_pt with opaque = gm);
 * a memory operand outside RAM is a device access on mmio, split into bus accesses of at most 8
 * bytes; with mmio NULL it cannot be emulated (-EFAULT). Locked accesses must be to RAM unless
 * single_cpu (or the machine runs one CPU at a time).
 */
struct emu_phys {
	const struct guest_mem *gm;
	struct bus *mmio;
	struct bus *pio; /* port I/O instructions (IN/OUT/INS/OUTS); NULL: not emulated */
	/* The only CPU (--accel emu): a locked access to a device is a read and a write in order,
	 * which nothing can interleave; otherwise it cannot be emulated (-ENOTSUP). */
	bool single_cpu;
	/* single_cpu: the device operand a locked RMW's first step read, and what it read. */
	uint64_t rmw_la;
	unsigned rmw_len;
	uint8_t rmw_value[16];
	struct emu_mmu mmu;
	/* A device of this CPU's own, seen instead of mmio in [local_base, local_base +
	 * local_len): its local APIC, which every CPU has at the same address. */
	uint64_t local_base, local_len;
	const struct bus_ops *local_ops;
	void *local_dev;
};

extern const struct emu_ops emu_phys_ops;

/* struct emu_mmu's pt callback over a struct guest_mem. */
void *emu_phys_pt(void *opaque, uint64_t gpa, unsigned len);

#endif
