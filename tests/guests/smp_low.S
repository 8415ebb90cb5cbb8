/* smp guest, low part: the AP start-up trampoline (copied to LOW_BLOB_BASE, SIPI vector
 * LOW_BLOB_BASE >> 12) that takes an AP from real mode to 32-bit protected mode, and the 32-bit AP
 * entry that gives each AP its own stack and calls ap_main(slot). */
#include "guest_asm.h"

#define OFF(x) ((x) - tramp)
#define SMP_MAX_APS 15 /* keep in step with smp.c */

	.text
	.balign 16
	.globl tramp, tramp_end
tramp:
	.code16
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl OFF(tramp_gdtr)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* SEL_CODE32 */
	.quad 0x00cf92000000ffff /* SEL_DATA32 */
tramp_gdt_end:
	.balign 4
	.word 0
tramp_gdtr:
	.word tramp_gdt_end - tramp_gdt - 1
	.long LOW_BLOB_BASE + OFF(tramp_gdt)
tramp_end:

	.code32
ap_entry32:
	mov $SEL_DATA32, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ss
	/* Switch to the image's own GDT; the copy in low memory is only for the way up. */
	lgdt gdt32_ptr
	ljmp $SEL_CODE32, $1f
1:	mov $1, %eax
	lock xadd %eax, ap_next
	cmp $SMP_MAX_APS, %eax
	jae 2f /* more APs than stacks: count it, but park it at once */
	lea 1(%eax), %ecx
	shl $12, %ecx
	add $ap_stacks, %ecx
	mov %ecx, %esp
	push %eax
	call ap_main
	jmp 3f
2:	lock incl ap_overflow
3:	cli
	hlt
	jmp 3b

	.data
	.balign 4
	.globl ap_next, ap_overflow
ap_next:
	.long 0
ap_overflow:
	.long 0

	.bss
	.balign 4096
ap_stacks:
	.space SMP_MAX_APS * 4096
