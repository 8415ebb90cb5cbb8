/* 64-bit exception entry stubs for vectors 0-31: push a uniform frame and call exc_handler(frame). */
	.text
	.code64

/* Vectors where the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30. */
.macro isr n
	.balign 16
isr_\n:
	.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	push $0
	.endif
	push $\n
	jmp isr_common
.endm

.macro isr_entry n
	.quad isr_\n
.endm

.altmacro
.set i, 0
.rept 32
	isr %i
	.set i, i + 1
.endr

/* Frame layout matches struct isr_frame in int3.c: r15 ... rax, vector, error, then the CPU's frame. */
isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi /* RSP is 16-byte aligned here (5 + 2 + 15 quadwords on an aligned stack) */
	cld
	call exc_handler
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	iretq

	.section .rodata
	.balign 8
	.globl isr_table
isr_table:
.set i, 0
.rept 32
	isr_entry %i
	.set i, i + 1
.endr
