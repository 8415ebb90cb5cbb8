/* nmi: in long mode, installs an IDT and waits in `cli; hlt`, which only an NMI ends (no interrupt
 * can): each NMI prints "@T nmi=N rip=0x..." (the RIP it interrupted, which must be the guest's own
 * halt). After n NMIs (n=N on the command line, default 2) it prints "PASS nmi" and exits with
 * GUEST_EXIT_NMI. tests/integration/test_debug.sh sends the NMIs with `kvmbox ctl SOCKET nmi` and
 * reads the halted vCPU's registers with `kvmbox ctl SOCKET regs` meanwhile. */
#include "idt64.h"

extern const char nmi_halt[], nmi_halted[];

static volatile uint32_t nmi_count;
static char cmdline[512];

void exc_handler(struct isr_frame *f)
{
	if (f->vector == 2) {
		nmi_count++;
		guest_printf("@T nmi=%u rip=0x%llx\n", (unsigned)nmi_count,
			     (unsigned long long)f->rip);
		/* The only place an NMI may land: on the hlt, or right after it. */
		if (f->rip != (uintptr_t)nmi_halt && f->rip != (uintptr_t)nmi_halted)
			guest_fail("nmi", "NMI at rip=0x%llx, not at the halt (0x%llx)",
				   (unsigned long long)f->rip,
				   (unsigned long long)(uintptr_t)nmi_halt);
		return;
	}
	guest_fail("nmi", "unexpected exception %llu, error 0x%llx at rip=0x%llx",
		   (unsigned long long)f->vector, (unsigned long long)f->error,
		   (unsigned long long)f->rip);
}

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	uint32_t want;

	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("nmi", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi_addr, cmdline, sizeof(cmdline));
	want = guest_cmdline_uint(cmdline, "n", 2);
	idt64_install();
	guest_printf("nmi: halted with interrupts off, waiting for %u NMIs (halt at 0x%llx)\n",
		     want, (unsigned long long)(uintptr_t)nmi_halt);
	while (nmi_count < want)
		__asm__ volatile("cli\n\t"
				 ".globl nmi_halt\n"
				 "nmi_halt:\n\t"
				 "hlt\n\t"
				 ".globl nmi_halted\n"
				 "nmi_halted:" ::
				     : "memory");
	guest_printf("PASS nmi\n");
	guest_exit(GUEST_EXIT_NMI);
}
