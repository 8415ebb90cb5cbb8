/* The 64-bit test guests' exception handling: isr64.S's stubs for vectors 0-31 push a struct
 * isr_frame and call the guest's exc_handler(); idt64_install() points an IDT at them. */
#ifndef KVMBOX_GUEST_IDT64_H
#define KVMBOX_GUEST_IDT64_H

#include "guest.h"

#define SEL_CODE64 0x18 /* entry64.S's 64-bit code segment */

/* Layout matches isr64.S: r15 ... rax, vector, error, then the CPU's frame. */
struct isr_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

/* Defined by each guest; returning resumes the interrupted code (iretq). */
void exc_handler(struct isr_frame *f);

/* Load an IDT whose 32 exception vectors are interrupt gates to isr64.S's stubs. */
void idt64_install(void);

#endif
