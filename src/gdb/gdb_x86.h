/*
 * The x86-64 register set as gdb sees it: the target description (qXfer:features:read) and the
 * conversion between kvmbox's register file and gdb's register numbers. Plain data, no KVM.
 */
#ifndef KVMBOX_GDB_X86_H
#define KVMBOX_GDB_X86_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/regs.h"

/* gdb's numbering for amd64 (org.gnu.gdb.i386.core, .sse, .segments), then kvmbox's own
 * org.kvmbox.x86.sys feature with the control registers. */
enum gdb_x86_reg {
	GDB_X86_RAX,
	GDB_X86_RIP = 16,
	GDB_X86_EFLAGS,
	GDB_X86_CS, /* cs ss ds es fs gs */
	GDB_X86_ST0 = 24,
	GDB_X86_FCTRL = 32, /* fctrl fstat ftag fiseg fioff foseg fooff fop */
	GDB_X86_XMM0 = 40,
	GDB_X86_MXCSR = 56,
	GDB_X86_FS_BASE,
	GDB_X86_GS_BASE,
	GDB_X86_CR0, /* cr0 cr2 cr3 cr4 cr8 efer */
	GDB_X86_NR_REGS = GDB_X86_CR0 + 6,
};

/* The largest register (st0-7 are 10 bytes, xmm 16). */
#define GDB_X86_REG_MAX 16

/* The target description; "target.xml" is the only annex. */
extern const char gdb_x86_target_xml[];

/* Bytes of register n (0 for a number out of range). */
size_t gdb_x86_reg_size(unsigned n);
/* The `g` packet's byte count: every register in order. */
size_t gdb_x86_regs_size(void);
/* Register n of r into out (little-endian, gdb_x86_reg_size(n) bytes); 0, or -EINVAL. */
int gdb_x86_reg_get(const struct x86_regs *r, unsigned n, uint8_t *out);
/*
 * Register n of r from in. Registers the vCPU cannot take from a debugger without a reload that
 * gdb cannot express (segment selectors, control registers, EFER) are read-only: writing the
 * value they already have is accepted, anything else is -EPERM. -EINVAL: no such register.
 */
int gdb_x86_reg_set(struct x86_regs *r, unsigned n, const uint8_t *in);

#endif
