/* user3: in long mode, drops to ring 3 and runs instructions with an operand in unclaimed MMIO
 * (0xd0000000, no memory, no device), which a restricted backend's KVM cannot finish there:
 *   popcnt from MMIO          kvmbox emulates it and reads the operand from the MMIO bus, like
 *                             the CPU would: it completes (an unclaimed read gives 0), or, where
 *                             another layer refuses it, faults
 *   crc32 from MMIO           kvmbox does not know crc32: #UD
 * Neither may stop the VM (a guest user process must never be able to); a fault must reach the
 * guest's own handler from CPL 3, and the guest goes on: it prints "@T user3.NAME=..." lines, then
 * "PASS user3" and exits with GUEST_EXIT_USER3 (status 77). */
#include "idt64.h"

#define SEL_UDATA 0x23 /* GDT entry 4, RPL 3 */
#define SEL_UCODE 0x2b /* GDT entry 5, RPL 3 */
#define SEL_TSS 0x30
#define MMIO_HOLE 0xd0000000u
#define PTE_P_RW_US 0x7ull
#define PDE_2M_US (0x80ull | PTE_P_RW_US)

extern const char user_start[], user_entry[], user_crc32[], user_done[];

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2, reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap_base;
} __attribute__((packed));

static uint64_t gdt[8] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(16)));
/* Identity map of the first 4 GiB in 2 MiB pages, user-accessible. */
static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));

static volatile int step;

void exc_handler(struct isr_frame *f)
{
	if ((f->cs & 3) != 3)
		guest_fail("user3", "exception %llu at CPL 0, rip=0x%llx",
			   (unsigned long long)f->vector, (unsigned long long)f->rip);
	if (step == 0 && f->rip == (uintptr_t)user_entry) {
		guest_printf("@T user3.popcnt_mmio=fault %llu error=%llu\n",
			     (unsigned long long)f->vector, (unsigned long long)f->error);
		step = 1;
		f->rip = (uintptr_t)user_crc32;
		return;
	}
	if (step == 0 && f->rip == (uintptr_t)user_crc32) {
		/* popcnt completed: RAX holds the count of what the read returned. */
		guest_printf("@T user3.popcnt_mmio=completed rax=%llu\n", (unsigned long long)f->rax);
		step = 1;
	}
	if (step == 1 && f->rip == (uintptr_t)user_crc32) {
		guest_printf("@T user3.crc32_mmio=%llu\n", (unsigned long long)f->vector);
		if (f->vector != 6)
			guest_fail("user3", "crc32 from MMIO at CPL 3: vector %llu, want #UD",
				   (unsigned long long)f->vector);
		step = 2;
		f->rip = (uintptr_t)user_done;
		return;
	}
	if (step == 2 && f->vector == 6 && f->rip == (uintptr_t)user_done) {
		guest_printf("PASS user3\n");
		guest_exit(GUEST_EXIT_USER3);
	}
	guest_fail("user3", "unexpected exception %llu at step %d, rip=0x%llx",
		   (unsigned long long)f->vector, step, (unsigned long long)f->rip);
}

static void user_mode_setup(void)
{
	uint64_t tss_base = (uintptr_t)&tss, tss_limit = sizeof(tss) - 1;

	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 512; j++)
			pd[i][j] = ((uint64_t)(i * 512 + j) << 21) | PDE_2M_US;
		pdpt[i] = (uintptr_t)pd[i] | PTE_P_RW_US;
	}
	pml4[0] = (uintptr_t)pdpt | PTE_P_RW_US;
	__asm__ volatile("mov %0, %%cr3" ::"r"((uint64_t)(uintptr_t)pml4) : "memory");

	gdt[1] = 0x00cf9a000000ffffull; /* 32-bit code, as entry64.S */
	gdt[2] = 0x00cf92000000ffffull; /* 32-bit data */
	gdt[3] = 0x00af9a000000ffffull; /* SEL_CODE64 */
	gdt[4] = 0x00cff2000000ffffull; /* user data, DPL 3 */
	gdt[5] = 0x00affa000000ffffull; /* user 64-bit code, DPL 3 */
	/* 64-bit available TSS (type 9), 16 bytes. */
	gdt[6] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (0x89ull << 40) |
		 ((tss_limit >> 16 & 0xf) << 48) | ((tss_base >> 24 & 0xff) << 56);
	gdt[7] = tss_base >> 32;
	tss.rsp0 = (uintptr_t)(kstack + sizeof(kstack));
	tss.iomap_base = sizeof(tss);
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (uintptr_t)gdt };
	__asm__ volatile("lgdt %0\n\t"
			 "ltr %w1" ::"m"(gdtr),
			 "r"(SEL_TSS)
			 : "memory");
}

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	(void)mbi_addr;
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("user3", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	idt64_install();
	user_mode_setup();
	guest_printf("user3: entering ring 3\n");
	/* iretq to CPL 3 with interrupts off; the user code only ends through exceptions. */
	__asm__ volatile("pushq %[ss]\n\t"
			 "pushq %[rsp]\n\t"
			 "pushq $0x2\n\t"
			 "pushq %[cs]\n\t"
			 "pushq %[rip]\n\t"
			 "iretq\n"
			 ".globl user_start\n"
			 "user_start:\n\t"
			 "movl $0xd0000000, %%ecx\n"
			 ".globl user_entry\n"
			 "user_entry:\n\t"
			 "popcnt (%%rcx), %%rax\n"
			 ".globl user_crc32\n"
			 "user_crc32:\n\t"
			 "crc32l (%%rcx), %%eax\n"
			 ".globl user_done\n"
			 "user_done:\n\t"
			 "ud2\n" ::[ss] "i"(SEL_UDATA),
			 [rsp] "r"((uint64_t)(uintptr_t)(ustack + sizeof(ustack))),
			 [cs] "i"(SEL_UCODE), [rip] "r"((uint64_t)(uintptr_t)user_start)
			 : "memory");
	guest_fail("user3", "left ring 3 without an exception");
}
