/* gdbtest: a target for tests/integration/test_gdb.sh, driven by Debian's gdb through kvmbox's gdb
 * stub. It calls gdb_tick(1..5) (gdb breaks there and reads gdb_counter), runs the straight-line
 * gdb_steps sequence (gdb single-steps it and checks RIP after each instruction), stores to
 * gdb_watched at gdb_store (a hardware watchpoint must report the instruction after it,
 * gdb_after_store), and exits with GUEST_EXIT_GDB (status 79) if gdb_counter is 15 and
 * gdb_watched 0x1234: a test that changes them through gdb sees that in the status. */
#include "guest.h"

volatile uint64_t gdb_counter;
volatile uint32_t gdb_watched;

__attribute__((noinline, used)) void gdb_tick(uint64_t n)
{
	gdb_counter += n;
	__asm__ volatile("" ::: "memory");
}

/* Fixed instructions with a label at each, for single-stepping. */
void gdb_steps(void);
__asm__(".text\n"
	".globl gdb_steps, gdb_step1, gdb_step2, gdb_step3, gdb_step4\n"
	"gdb_steps:\n"
	"	mov $1, %eax\n"
	"gdb_step1:\n"
	"	add $2, %eax\n"
	"gdb_step2:\n"
	"	nop\n"
	"gdb_step3:\n"
	"	shl $3, %eax\n"
	"gdb_step4:\n"
	"	ret\n");

void gdb_store_value(void);
__asm__(".text\n"
	".globl gdb_store_value, gdb_store, gdb_after_store\n"
	"gdb_store_value:\n"
	"gdb_store:\n"
	"	movl $0x1234, gdb_watched(%rip)\n"
	"gdb_after_store:\n"
	"	nop\n"
	"	ret\n");

void guest_main(uint32_t magic, uint32_t mbi)
{
	(void)mbi;
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("gdbtest", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_printf("gdbtest: start\n");
	for (uint64_t i = 1; i <= 5; i++)
		gdb_tick(i);
	gdb_steps();
	gdb_store_value();
	guest_printf("gdbtest: counter=%llu watched=0x%x\n", (unsigned long long)gdb_counter,
		     gdb_watched);
	if (gdb_counter != 15 || gdb_watched != 0x1234)
		guest_fail("gdbtest", "counter %llu, watched 0x%x", (unsigned long long)gdb_counter,
			   gdb_watched);
	guest_printf("PASS gdbtest\n");
	guest_exit(GUEST_EXIT_GDB);
}
