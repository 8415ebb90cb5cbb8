/* realmode guest, low part: the trip 32-bit protected mode -> 16-bit protected mode -> real mode and back.
 * The 16-bit code runs from a copy at LOW_BLOB_BASE (real-mode segment RM_SEG), since real-mode code
 * must sit below 1 MiB. Offsets inside the copy are label - rm_blob. */
#include "guest_asm.h"

#define RM_SEG (LOW_BLOB_BASE >> 4)
#define OFF(x) ((x) - rm_blob)
#define RM_PATTERN 0x5a17c0de
#define RM_ES 0x3000 /* ES:RM_DI = physical 0x31234 */
#define RM_DI 0x1234
#define RM_FS 0x3123 /* FS:4 = the same byte */
#define RM_ALIAS_CS (RM_SEG - 1) /* a second CS:IP for the same code: IP grows by 0x10 */
#define RM_VEC 0x30		 /* the software interrupt real mode takes through the IVT */

	.text
	.code32
/* uint32_t realmode_run(void): returns the real-mode result word (RM_OK_* bits; see realmode.c). */
	.globl realmode_run
realmode_run:
	push %ebx
	push %esi
	push %edi
	push %ebp
	mov $rm_blob, %esi
	mov $LOW_BLOB_BASE, %edi
	mov $(rm_blob_end - rm_blob), %ecx
	cld
	rep movsb
	mov %esp, saved_esp
	/* entry32.S's GDT has SEL_CODE16 with base LOW_BLOB_BASE: jump to offset 0 of the copy. */
	ljmp $SEL_CODE16, $0

	.globl pm_return
pm_return:
	/* Back from real mode (CS = SEL_CODE32, set by the 32-bit far jump in the copy). */
	mov $SEL_DATA32, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ss
	mov saved_esp, %esp
	mov (LOW_BLOB_BASE + OFF(rm_result)), %eax
	pop %ebp
	pop %edi
	pop %esi
	pop %ebx
	ret

	.data
	.balign 4
saved_esp:
	.long 0

/* Everything from here to rm_blob_end is copied to LOW_BLOB_BASE and must be position independent
 * within its 64 KiB segment (data references use OFF()). */
	.text
	.balign 16
	.globl rm_blob, rm_blob_end
rm_blob:
	.code16
	/* 16-bit protected mode: give every data segment a real-mode-compatible 64 KiB limit. */
	mov $SEL_DATA16, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov %ax, %ss
	mov %cr0, %eax
	and $~1, %eax
	mov %eax, %cr0
	ljmp $RM_SEG, $OFF(rm_real)

rm_real:
	/* Real mode now: segment registers are paragraph numbers. */
	mov $RM_SEG, %ax
	mov %ax, %ds
	mov %ax, %ss
	mov $0xfff0, %sp /* stack just below 0x20000 */
	xor %ebx, %ebx /* result bits */

	mov $OFF(msg_hello), %si
	call rm_puts
	mov %cs, %ax
	call rm_puthex16
	mov $OFF(msg_cr0), %si
	call rm_puts
	mov %cr0, %eax
	push %eax
	shr $16, %eax
	call rm_puthex16
	pop %eax
	call rm_puthex16
	test $1, %al
	jnz 1f
	or $1, %bx /* RM_OK_PE_CLEAR */
1:	mov $OFF(msg_nl), %si
	call rm_puts

	/* Segment:offset addressing: write through ES, read back through FS with another segment. */
	mov $RM_ES, %ax
	mov %ax, %es
	mov $RM_DI, %di
	movl $RM_PATTERN, %es:(%di)
	mov $RM_FS, %ax
	mov %ax, %fs
	mov %fs:4, %eax
	mov $OFF(msg_seg), %si
	call rm_puts
	push %eax
	shr $16, %eax
	call rm_puthex16
	pop %eax
	call rm_puthex16
	cmp $RM_PATTERN, %eax
	jne 2f
	or $2, %bx /* RM_OK_SEGMENTS */
	mov $OFF(msg_ok), %si
	call rm_puts
	jmp 3f
2:	mov $OFF(msg_bad), %si
	call rm_puts

	/* Far call through a different CS for the same bytes: CS base = CS * 16. */
3:	lcall $RM_ALIAS_CS, $(OFF(rm_far) + 0x10)
	mov $OFF(msg_far), %si
	call rm_puts
	call rm_puthex16
	cmp $RM_ALIAS_CS, %ax
	jne 4f
	or $4, %bx /* RM_OK_FARCALL */
	mov $OFF(msg_ok), %si
	call rm_puts
	jmp 5f
4:	mov $OFF(msg_bad), %si
	call rm_puts

	/*
	 * INT n through the real-mode IVT and IRET back (a restricted backend's KVM stops on both;
	 * kvmbox emulates them): vector RM_VEC's IVT entry points at rm_isr, which checks that IF was
	 * cleared, marks DX and returns with a 16-bit IRET.
	 */
5:	lidt OFF(rm_ivt_ptr)
	xor %ax, %ax
	mov %ax, %es
	movw $OFF(rm_isr), %es:(RM_VEC * 4)
	movw $RM_SEG, %es:(RM_VEC * 4 + 2)
	mov $0xff, %al /* no device interrupts while IF is on: mask both PICs */
	out %al, $0x21
	out %al, $0xa1
	mov %sp, %bp
	xor %dx, %dx
	sti
	int $RM_VEC
	pushf
	pop %ax
	cli
	mov $OFF(msg_int), %si
	call rm_puts
	push %ax
	mov %dx, %ax
	call rm_puthex16
	pop %ax
	cmp $0x1e7, %dx /* the handler's mark, with IF seen clear inside */
	jne 6f
	cmp %bp, %sp
	jne 6f
	test $0x200, %ax /* IF back on after IRET */
	jz 6f
	or $8, %bx /* RM_OK_INT */
	mov $OFF(msg_ok), %si
	call rm_puts
	jmp 7f
6:	mov $OFF(msg_bad), %si
	call rm_puts

	/* A 32-bit IRET (66 cf) in real mode, from a frame built by hand. */
7:	pushfl
	pushl $RM_SEG
	pushl $OFF(8f)
	iretl
8:	mov $OFF(msg_iretd), %si
	call rm_puts
	cmp %bp, %sp
	jne 9f
	or $16, %bx /* RM_OK_IRETD */
	mov $OFF(msg_ok), %si
	call rm_puts
	jmp 10f
9:	mov $OFF(msg_bad), %si
	call rm_puts

10:	mov %ebx, OFF(rm_result)
	mov $OFF(msg_back), %si
	call rm_puts
	/* GDTR still holds entry32.S's GDT: set PE and jump straight to 32-bit code. */
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $SEL_CODE32, $pm_return

/* RM_VEC's handler: DX = 0x1e7 if IF was clear on entry (0x0e7 if not). */
rm_isr:
	push %ax
	pushf
	pop %ax
	mov $0x0e7, %dx
	test $0x200, %ax
	jnz 1f
	or $0x100, %dx
1:	pop %ax
	iret

/* Returns CS in AX. */
rm_far:
	mov %cs, %ax
	lret

/* Prints the NUL-terminated string at DS:SI on COM1. */
rm_puts:
	push %ax
	push %dx
	push %cx
1:	lodsb
	test %al, %al
	jz 3f
	mov %al, %ah
	mov $0x3fd, %dx
	mov $0xffff, %cx
2:	in %dx, %al /* bounded wait for THRE */
	test $0x20, %al
	loopz 2b
	mov $0x3f8, %dx
	mov %ah, %al
	out %al, %dx
	jmp 1b
3:	pop %cx
	pop %dx
	pop %ax
	ret

/* Prints AX as 4 hex digits. */
rm_puthex16:
	push %ax
	push %bx
	push %cx
	push %dx
	mov %ax, %bx
	mov $4, %cx
1:	rol $4, %bx
	mov %bl, %al
	and $0xf, %al
	add $'0', %al
	cmp $'9', %al
	jbe 2f
	add $('a' - '9' - 1), %al
2:	mov $0x3f8, %dx
	out %al, %dx
	loop 1b
	pop %dx
	pop %cx
	pop %bx
	pop %ax
	ret

msg_hello:
	.asciz "real mode: hello from 16-bit real mode, cs=0x"
msg_cr0:
	.asciz " cr0=0x"
msg_seg:
	.asciz "real mode: wrote es:di=3000:1234, read fs:4=3123:0004 -> 0x"
msg_far:
	.asciz "real mode: far call with cs=0x"
msg_int:
	.asciz "real mode: int $0x30 and iret, mark=0x"
msg_iretd:
	.asciz "real mode: 32-bit iret"
msg_ok:
	.asciz " ok\r\n"
msg_bad:
	.asciz " WRONG\r\n"
msg_nl:
	.asciz "\r\n"
msg_back:
	.asciz "real mode: returning to protected mode\r\n"
	.balign 4
rm_ivt_ptr:
	.word 0x3ff
	.long 0
	.globl rm_result
rm_result:
	.long 0
rm_blob_end:
	.code32
