/* nmi: in long mode, installs an IDT and waits in `cli; hlt`, which only an NMI ends (no interrupt
 * can): each NMI prints "@T nmi=N rip=0x..." (the RIP it interrupted, which must be the guest's own
 * halt). After n NMIs (n=N on the command line, default 2) it prints "PASS nmi" and exits with
 * GUEST_EXIT_NMI. tests/integration/test_debug.sh sends the NMIs with `kvmbox ctl SOCKET nmi` and
 * reads the halted vCPU's registers with `kvmbox ctl SOCKET regs` meanwhile. */
#include "guest.h"

#define SEL_CODE64 0x18

struct isr_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

extern const uint64_t isr_table[32];
extern const char nmi_halt[], nmi_halted[];
void exc_handler(struct isr_frame *f);

static struct idt_gate idt[32] __attribute__((aligned(16)));
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

static void idt_install(void)
{
	for (int i = 0; i < 32; i++) {
		uint64_t a = isr_table[i];

		idt[i] = (struct idt_gate){ .off_lo = (uint16_t)a,
					    .sel = SEL_CODE64,
					    .type = 0x8e,
					    .off_mid = (uint16_t)(a >> 16),
					    .off_hi = (uint32_t)(a >> 32) };
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	uint32_t want;

	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("nmi", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi_addr, cmdline, sizeof(cmdline));
	want = guest_cmdline_uint(cmdline, "n", 2);
	idt_install();
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
