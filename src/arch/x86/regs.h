/*
 * One KVM-free x86 register file: what a register dump, `kvmbox ctl regs`, and later the gdb stub
 * and snapshots read. src/arch/x86/cpu.c fills it from KVM; everything else here is plain data.
 */
#ifndef KVMBOX_X86_REGS_H
#define KVMBOX_X86_REGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/emu/emu.h"

/* The vCPU's run state, numbered as KVM_MP_STATE_* numbers them for x86. */
enum x86_mp_state {
	X86_MP_RUNNABLE,
	X86_MP_UNINITIALIZED,
	X86_MP_INIT_RECEIVED,
	X86_MP_HALTED,
	X86_MP_SIPI_RECEIVED,
};

/* x87 and SSE state, as FXSAVE (and KVM_GET_FPU) holds it. */
struct x86_fpu {
	uint8_t st[8][10]; /* ST(0)..ST(7), 80-bit extended precision, in stack order */
	uint16_t fcw, fsw;
	uint8_t ftw; /* abridged tag: bit i set when physical register i is not empty */
	uint16_t fop;
	uint64_t fip, fdp; /* last instruction and data pointers */
	uint8_t xmm[16][16];
	uint32_t mxcsr;
};

struct x86_regs {
	uint64_t gpr[EMU_NR_GPRS]; /* enum emu_gpr order */
	uint64_t rip, rflags;
	struct emu_seg seg[EMU_NR_SREGS]; /* enum emu_sreg order */
	struct emu_seg tr, ldtr;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
	uint64_t xcr0; /* 0 where KVM has no XCRs */
	uint64_t dr[4], dr6, dr7;
	uint32_t mp_state; /* enum x86_mp_state; other values print as numbers */
	struct {
		bool injected, pending, has_error_code;
		uint8_t vector;
		uint32_t error_code;
	} exception;
	struct {
		bool injected, soft;
		uint8_t vector;
	} interrupt;
	struct {
		bool injected, pending, masked;
	} nmi;
	uint8_t shadow; /* interrupt shadow: 1 after STI, 2 after MOV SS */
	struct x86_fpu fpu;
};

/* The execution mode the registers describe: "real", "vm86", "prot16", "prot32", "compat", "long".
 */
const char *regs_mode(const struct x86_regs *r);

/*
 * A multi-line dump of vCPU index's registers, in the style of QEMU's `info registers`. Writes at
 * most len bytes (NUL included, truncating) and returns the length the whole dump needs.
 */
size_t regs_format(const struct x86_regs *r, unsigned index, char *buf, size_t len);

/* The same dump as error log lines: a stopped vCPU's (triple fault, unhandled exit, emulation). */
void regs_log(const struct x86_regs *r, unsigned index);

#endif
