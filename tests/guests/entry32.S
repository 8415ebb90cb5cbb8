/* Multiboot v1 header and 32-bit entry for the protected-mode test guests (hello32, realmode, smp). */
#include "guest_asm.h"

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
	/* The loader's GDT lives in low memory the guest may reuse: load our own. */
	lgdt gdt32_ptr
	ljmp $SEL_CODE32, $1f
1:	mov $SEL_DATA32, %ecx
	mov %ecx, %ds
	mov %ecx, %es
	mov %ecx, %fs
	mov %ecx, %gs
	mov %ecx, %ss
	/* Zero .bss ourselves rather than trust the loader; keep EAX/EBX (magic, info) in EBP/ESI. */
	mov %eax, %ebp
	mov %ebx, %esi
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $stack32_top, %esp
	push %esi
	push %ebp
	call guest_main
2:	cli
	hlt
	jmp 2b

	/* In .data: the CPU sets the accessed bit in descriptors it loads. */
	.section .data
	.balign 8
	.globl gdt32
gdt32:
	.quad 0
	.quad 0x00cf9a000000ffff /* SEL_CODE32: flat 4 GiB code, 32-bit */
	.quad 0x00cf92000000ffff /* SEL_DATA32: flat 4 GiB data */
	/* SEL_CODE16: 16-bit code, base LOW_BLOB_BASE, 64 KiB (realmode guest's way down to real mode) */
	.quad 0x00009a000000ffff | ((LOW_BLOB_BASE & 0xffffff) << 16)
	.quad 0x000092000000ffff /* SEL_DATA16: 16-bit data, base 0, 64 KiB: real-mode-like limits */
gdt32_end:
	.balign 4
	.word 0
	.globl gdt32_ptr
gdt32_ptr:
	.word gdt32_end - gdt32 - 1
	.long gdt32

	.section .bss
	.balign 16
	.space 16384
	.globl stack32_top
stack32_top:
