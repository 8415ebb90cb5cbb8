/* Multiboot v1 header and entry for the 64-bit test guests: from the 32-bit multiboot entry, build
 * identity page tables, enable PAE + EFER.LME + paging and far-jump to 64-bit code, which calls
 * guest_main(magic, mbi). Assembled as x86-64 (with .code32 parts) and linked as x86-64. */
#include "guest_asm.h"

#define EFER_MSR 0xc0000080
#define EFER_LME (1 << 8)
#define CR4_PAE (1 << 5)
#define CR0_PE_PG 0x80000001
#define PTE_P_RW 0x3
#define PDE_2M (0x80 | PTE_P_RW)

	.section .multiboot, "a"
	.balign 4
	.long MB_HEADER_MAGIC
	.long MB_HEADER_FLAGS
	.long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.section .text
	.code32
	.globl _start
_start:
	cli
	cld
	lgdt gdt64_ptr
	ljmp $SEL_CODE32, $1f
1:	mov $SEL_DATA32, %ecx
	mov %ecx, %ds
	mov %ecx, %es
	mov %ecx, %fs
	mov %ecx, %gs
	mov %ecx, %ss
	mov %eax, %ebp /* magic */
	mov %ebx, %esi /* multiboot info */
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $stack64_top, %esp

	mov $msg_boot32, %ebx
	call puts32

	/* PML4[0] and PML4[1] both point at one PDPT: physical memory is visible at 0 and, as a check
	 * that 64-bit virtual addresses translate, again at 512 GiB (0x8000000000). */
	mov $(pdpt + PTE_P_RW), %eax
	mov %eax, pml4
	mov %eax, pml4 + 8
	/* PDPT[0..3] -> 4 page directories of 2 MiB pages: the first 4 GiB (LAPIC included). */
	mov $(pd + PTE_P_RW), %eax
	xor %ecx, %ecx
2:	mov %eax, pdpt(, %ecx, 8)
	add $4096, %eax
	inc %ecx
	cmp $4, %ecx
	jne 2b
	xor %ecx, %ecx
3:	mov %ecx, %eax
	shl $21, %eax
	or $PDE_2M, %eax
	mov %eax, pd(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jne 3b

	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $EFER_MSR, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $CR0_PE_PG, %eax
	mov %eax, %cr0
	ljmp $SEL_CODE64, $long_entry

/* Prints the string at EBX on COM1 (32-bit, before C can run). */
puts32:
	mov $0x3f8, %edx
4:	movb (%ebx), %al
	test %al, %al
	jz 5f
	out %al, %dx
	inc %ebx
	jmp 4b
5:	ret

	.code64
long_entry:
	xor %eax, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov $SEL_DATA32, %eax
	mov %eax, %ss
	mov $stack64_top, %rsp
	mov %ebp, %edi /* zero-extends: guest_main(magic, mbi) */
	mov %esi, %esi
	call guest_main
6:	cli
	hlt
	jmp 6b

	.section .rodata
msg_boot32:
	.asciz "\r\nboot32: multiboot entry, switching to long mode\r\n"

	.section .data
	.balign 8
gdt64:
	.quad 0
	.quad 0x00cf9a000000ffff /* SEL_CODE32 */
	.quad 0x00cf92000000ffff /* SEL_DATA32 */
	.quad 0x00af9a000000ffff /* SEL_CODE64: L=1 */
gdt64_end:
	.balign 4
	.word 0
gdt64_ptr:
	.word gdt64_end - gdt64 - 1
	.quad gdt64

	.section .bss
	.balign 4096
pml4:
	.space 4096
pdpt:
	.space 4096
pd:
	.space 4 * 4096
	.balign 16
	.space 16384
	.globl stack64_top
stack64_top:
