/* 32-bit interrupt entry stubs for intr32: vectors 0-31 and 0x20-0x2f share a frame and call
 * intr32_handler(frame). Vectors with a CPU error code (8, 10-14, 17) push none of their own. */
#include "guest_asm.h"

	.text
	.code32

.macro stub n
	.balign 16
stub_\n:
	.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17)
	.else
	push $0
	.endif
	push $\n
	jmp stub_common
.endm

.altmacro
.set i, 0
.rept 48
	stub %i
	.set i, i + 1
.endr

/* Frame (struct frame32 in intr32.c): edi esi ebp esp0 ebx edx ecx eax, vector, error, eip cs eflags. */
stub_common:
	pusha
	push %esp
	cld
	call intr32_handler
	add $4, %esp
	popa
	add $8, %esp
	iret

.macro entry n
	.long stub_\n
.endm
	.section .rodata
	.balign 4
	.globl stub_table
stub_table:
.set i, 0
.rept 48
	entry %i
	.set i, i + 1
.endr
