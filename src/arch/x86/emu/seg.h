/* Internal to the emulator: segment descriptors, system-table reads and stacks, for the control
 * transfers (intr.c: INT n/IRET; far.c: far CALL/JMP/RET). */
#ifndef KVMBOX_X86_EMU_SEG_H
#define KVMBOX_X86_EMU_SEG_H

#include "arch/x86/emu/exec.h"

#define EMU_SEL_RPL 3u
#define EMU_SEL_TI 4u
#define EMU_SEL_INDEX 0xfff8u
#define EMU_TYPE_CODE 0x8
#define EMU_TYPE_CONFORMING 0x4
#define EMU_TYPE_WRITABLE 0x2
#define EMU_TYPE_ACCESSED 0x1

/*
 * Descriptors whose accessed bit the instruction sets once it can no longer fault: the CPU sets
 * it when it loads the segment register, with a locked update (another vCPU may be changing the
 * same descriptor: if it did, its version stands).
 */
struct emu_seg_accessed {
	unsigned n;
	uint64_t la[2];
	uint8_t desc[2][8];
};

/* A stack being pushed or popped: SS and a stack pointer of 2, 4 or 8 bytes. */
struct emu_seg_stack {
	struct emu_seg ss;
	uint64_t sp;
	unsigned sp_size; /* 2, 4 or 8: how much of sp moves */
	unsigned user;	  /* EMU_ACC_USER when the stack belongs to CPL 3 */
	uint8_t vec;	  /* #SS */
	int64_t err;	  /* its error code: 0, or the new SS selector */
};

/* IA-32e mode (EFER.LMA). */
bool emu_seg_long(const struct emu_cpu *cpu);
/* A supervisor (implicit) read of a system table: IDT, GDT, LDT, TSS. */
int emu_seg_sys_read(struct emu_run *r, uint64_t la, void *dst, unsigned len);
/* Set the accessed bits noted while loading descriptors (once nothing can fault any more). */
int emu_seg_accessed_commit(struct emu_run *r, const struct emu_seg_accessed *a);
/*
 * The descriptor sel names in the GDT or LDT, as a segment register's hidden part; vec is what an
 * index beyond the table raises (#GP or #TS, with the selector as error code).
 */
int emu_seg_load_desc(struct emu_run *r, uint16_t sel, uint8_t vec, struct emu_seg *seg,
		      struct emu_seg_accessed *acc);
/* A gate's target offset: 16 bits, 32 (wide: a 32-bit gate), 64 in IA-32e mode (16 bytes). */
uint64_t emu_seg_gate_offset(const uint8_t g[16], bool wide, bool lm);
/* The raw descriptor (len 8, or 16 for an IA-32e system descriptor) sel names; *la: where. */
int emu_seg_read_desc(struct emu_run *r, uint16_t sel, uint8_t vec, uint8_t *d, unsigned len,
		      uint64_t *la);
/*
 * The stack for privilege level dpl (or IST slot ist in IA-32e mode) from the TSS, checked as the
 * CPU does (#TS, #SS); align16: an IA-32e interrupt aligns RSP to 16 bytes, a call gate does not.
 */
int emu_seg_tss_stack(struct emu_run *r, unsigned dpl, unsigned ist, bool align16,
		      struct emu_seg_stack *st, struct emu_seg_accessed *acc);
/* The most values one emu_seg_push takes (a call gate's 31 parameters and its frame). */
#define EMU_SEG_PUSH_MAX 40
/* Push or pop n values of size bytes (first one first), each slot checked before any access. */
int emu_seg_push(struct emu_run *r, struct emu_seg_stack *st, const uint64_t *v, unsigned n,
		 unsigned size);
int emu_seg_pop(struct emu_run *r, struct emu_seg_stack *st, uint64_t *v, unsigned n,
		unsigned size);
/* Where the next push of size bytes would go, checked as emu_seg_push checks it; no write. */
int emu_seg_push_la(struct emu_run *r, const struct emu_seg_stack *st, unsigned size, uint64_t *la);
/* The stack the instruction runs on. */
struct emu_seg_stack emu_seg_cur_stack(const struct emu_run *r);
/* Real mode: CS = sel, base sel * 16. */
void emu_seg_real_cs(struct emu_cpu *cpu, uint16_t sel);
/*
 * The CS an IRET or RET far pops (the SDM checks both the same way): a present code segment,
 * not to an inner level, DPL = RPL (conforming: DPL <= RPL), not L and D both set in long mode.
 * Faults as the CPU does.
 */
int emu_seg_load_return_cs(struct emu_run *r, uint16_t sel, struct emu_seg *cs,
			   struct emu_seg_accessed *acc);
/*
 * The SS an IRET or RET far pops when it returns to privilege level rpl: a writable data segment
 * of that level, or (to_64bit: a 64-bit CS below CPL 3) a null selector. Faults as the CPU does.
 */
int emu_seg_load_return_ss(struct emu_run *r, uint16_t sel, unsigned rpl, bool to_64bit,
			   struct emu_seg *ss, struct emu_seg_accessed *acc);
/* After a return to an outer level: data segments the new CPL may not use become null. */
void emu_seg_null_data(struct emu_cpu *cpu);

#endif
