/* long64: proves 64-bit execution after entry64.S's switch to long mode: EFER.LMA, 64-bit
 * arithmetic above 2^32 and a memory access through a virtual address above 4 GiB (the 512 GiB
 * alias). */
#include "guest.h"

#define EFER_MSR 0xc0000080u
#define EFER_LMA (1ull << 10)
#define ALIAS_BASE 0x8000000000ull /* PML4[1]: the same physical memory as PML4[0] */

static volatile uint64_t probe;

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

void guest_main(uint32_t magic, uint32_t mbi)
{
	(void)mbi;
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("long64", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);

	uint64_t efer = rdmsr(EFER_MSR), cr0, cr4, cs;
	__asm__ volatile("mov %%cr0, %0; mov %%cr4, %1; mov %%cs, %2"
			 : "=r"(cr0), "=r"(cr4), "=r"(cs));
	guest_printf("long mode: efer=0x%llx cr0=0x%llx cr4=0x%llx cs=0x%llx\n",
		     (unsigned long long)efer, (unsigned long long)cr0, (unsigned long long)cr4,
		     (unsigned long long)cs);

	/* A value that needs all 64 bits, computed at run time in a 64-bit register. */
	uint64_t x;
	__asm__ volatile("mov $0x89abcdef, %%eax\n\t"
			 "shl $32, %%rax\n\t"
			 "or $0x01234567, %%rax\n\t"
			 "rol $32, %%rax"
			 : "=a"(x));
	guest_printf("long mode: rax=0x%016llx\n", (unsigned long long)x);

	probe = 0;
	volatile uint64_t *alias = (volatile uint64_t *)(ALIAS_BASE + (uintptr_t)&probe);
	*alias = x;
	guest_printf("long mode: wrote via 0x%p, read 0x%016llx at 0x%p\n", (void *)alias,
		     (unsigned long long)probe, (void *)&probe);

	if (!(efer & EFER_LMA))
		guest_fail("long64", "EFER.LMA clear");
	if (x != 0x0123456789abcdefull)
		guest_fail("long64", "64-bit arithmetic gave 0x%llx", (unsigned long long)x);
	if (probe != x)
		guest_fail("long64", "alias mapping above 4 GiB did not reach the same memory");
	guest_puts("long mode: ok\n");
	guest_printf("PASS long64\n");
	guest_exit(GUEST_EXIT_LONG64);
}
