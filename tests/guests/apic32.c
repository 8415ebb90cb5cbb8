/* apic32: the local APIC from a 32-bit guest with its own IDT: IA32_APIC_BASE and the version
 * register, the timer in periodic mode waking `sti; hlt` five times, a self-IPI held back by the
 * TPR and taken once the TPR drops, IRR/ISR bits and EOI. Then the I/O APIC with a real device
 * behind it, COM1's transmitter-empty interrupt on pin 4: the version and ID registers, an edge-
 * and a level-triggered delivery (remote IRR set in the handler, clear after its EOI), a masked
 * pin held back and sent when unmasked. Prints "PASS apic32.NAME" per check and exits with
 * GUEST_EXIT_APIC32 (status 89). Run under --accel emu (tests/integration/test_accel_emu.sh),
 * where kvmbox's own models (src/dev/lapic.c, src/dev/ioapic.c) answer. */
#include "guest.h"

#define APIC 0xfee00000u
#define IOAPIC 0xfec00000u
#define TIMER_VECTOR 0x40
#define IPI_VECTOR 0x50
#define COM1_VECTOR 0x58
#define COM1_PIN 4

struct gate32 {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct gate32 idt[0x60] __attribute__((aligned(8)));
volatile uint32_t apic32_ticks, apic32_ipis, apic32_com1, apic32_com1_rirr;
extern const char apic32_timer_isr[], apic32_ipi_isr[], apic32_com1_isr[];

/* The handlers count, write EOI and return: no C in interrupt context. */
__asm__(".text\n"
	"apic32_timer_isr:\n\t"
	"incl apic32_ticks\n\t"
	"movl $0, 0xfee000b0\n\t"
	"iret\n"
	"apic32_ipi_isr:\n\t"
	"incl apic32_ipis\n\t"
	"movl $0, 0xfee000b0\n\t"
	"iret\n"
	/* COM1: note pin 4's remote IRR, read IIR (which ends THRE, lowering the line), EOI. */
	"apic32_com1_isr:\n\t"
	"pushl %eax\n\t"
	"pushl %edx\n\t"
	"incl apic32_com1\n\t"
	"movl $0x18, 0xfec00000\n\t"
	"movl 0xfec00010, %eax\n\t"
	"movl %eax, apic32_com1_rirr\n\t"
	"movw $0x3fa, %dx\n\t"
	"inb %dx, %al\n\t"
	"movl $0, 0xfee000b0\n\t"
	"popl %edx\n\t"
	"popl %eax\n\t"
	"iret\n");

static uint32_t apic_rd(unsigned reg)
{
	return *(volatile uint32_t *)(APIC + reg);
}

static void apic_wr(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(APIC + reg) = v;
}

static uint32_t ioapic_rd(unsigned reg)
{
	*(volatile uint32_t *)IOAPIC = reg;
	return *(volatile uint32_t *)(IOAPIC + 0x10);
}

static void ioapic_wr(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = reg;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

/* COM1's THRE interrupt on (IER bit 1: raised at once, THR being empty) with interrupts off,
 * then a window for it; off again before anything prints. */
static void com1_thre_window(void)
{
	outb(0x3f9, 0x02);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	outb(0x3f9, 0x00);
}

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return lo | (uint64_t)hi << 32;
}

static void set_gate(unsigned vector, const void *handler)
{
	uint32_t off = (uint32_t)(uintptr_t)handler;
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[vector] = (struct gate32){ (uint16_t)off, cs, 0, 0x8e, (uint16_t)(off >> 16) };
}

static int failures;

static void check(const char *name, int ok, uint32_t got)
{
	if (ok) {
		guest_printf("PASS apic32.%s\n", name);
	} else {
		guest_printf("FAIL apic32.%s: got 0x%x\n", name, got);
		failures++;
	}
}

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };
	uint32_t a, b, c, d, spins;
	uint64_t base;

	(void)mbi_addr;
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("apic32", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	cpuid(1, &a, &b, &c, &d);
	check("cpuid", (d >> 9) & 1, d);
	base = rdmsr(0x1b);
	check("apic-base", (base & ~0xfffull) == APIC && (base & 0x800), (uint32_t)base);
	check("version", (apic_rd(0x30) & 0xff) >= 0x10, apic_rd(0x30));
	set_gate(TIMER_VECTOR, apic32_timer_isr);
	set_gate(IPI_VECTOR, apic32_ipi_isr);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	apic_wr(0xf0, 0x1ff); /* software enable */

	/* Periodic timer, divide by 1, 200,000 bus cycles: five ticks through `sti; hlt`. */
	apic_wr(0x3e0, 0xb);
	apic_wr(0x320, 0x20000 | TIMER_VECTOR);
	apic_wr(0x380, 200000);
	for (spins = 0; apic32_ticks < 5 && spins < 1000; spins++)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	apic_wr(0x380, 0);
	check("timer", apic32_ticks >= 5, apic32_ticks);
	guest_printf("apic32: %u timer interrupts in %u halts\n", apic32_ticks, spins);

	/* A self-IPI with interrupts off waits in the IRR; a TPR above its class holds it there. */
	apic_wr(0x80, 0x60);
	apic_wr(0x300, 0x40000 | IPI_VECTOR);
	check("ipi-irr", (apic_rd(0x220) >> (IPI_VECTOR - 64)) & 1, apic_rd(0x220));
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	check("tpr-blocks", apic32_ipis == 0, apic32_ipis);
	apic_wr(0x80, 0);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	check("ipi", apic32_ipis == 1, apic32_ipis);
	check("eoi", apic_rd(0x120) == 0 && apic_rd(0x220) == 0, apic_rd(0x120));

	/* The I/O APIC: 24 entries, version 0x11; only ID bits 27:24 are writable. */
	check("ioapic-version", (ioapic_rd(1) & 0xff00ff) == 0x170011, ioapic_rd(1));
	ioapic_wr(0, 0xffffffffu);
	check("ioapic-id", ioapic_rd(0) == 0x0f000000u, ioapic_rd(0));
	ioapic_wr(0, 0);
	set_gate(COM1_VECTOR, apic32_com1_isr);
	ioapic_wr(0x11 + 2 * COM1_PIN, 0); /* to APIC 0, physical */
	ioapic_wr(0x10 + 2 * COM1_PIN, COM1_VECTOR); /* edge, unmasked */
	com1_thre_window();
	check("ioapic-edge", apic32_com1 == 1, apic32_com1);
	check("ioapic-edge-no-rirr", !(apic32_com1_rirr & 0x4000), apic32_com1_rirr);
	ioapic_wr(0x10 + 2 * COM1_PIN, 0x8000 | COM1_VECTOR); /* level */
	com1_thre_window();
	check("ioapic-level", apic32_com1 == 2, apic32_com1);
	check("ioapic-level-rirr", apic32_com1_rirr & 0x4000, apic32_com1_rirr);
	check("ioapic-eoi", !(ioapic_rd(0x10 + 2 * COM1_PIN) & 0x4000),
	      ioapic_rd(0x10 + 2 * COM1_PIN));
	/* Masked with the line high: nothing; unmasked: delivered at once. */
	ioapic_wr(0x10 + 2 * COM1_PIN, 0x18000 | COM1_VECTOR);
	outb(0x3f9, 0x02);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	check("ioapic-masked", apic32_com1 == 2, apic32_com1);
	ioapic_wr(0x10 + 2 * COM1_PIN, 0x8000 | COM1_VECTOR);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	outb(0x3f9, 0x00);
	check("ioapic-unmask", apic32_com1 == 3, apic32_com1);
	ioapic_wr(0x10 + 2 * COM1_PIN, 0x10000);
	if (failures)
		guest_fail("apic32", "%d checks failed", failures);
	guest_printf("PASS apic32\n");
	guest_exit(GUEST_EXIT_APIC32);
}
