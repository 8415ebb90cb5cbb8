/* apic32: the local APIC from a 32-bit guest with its own IDT: IA32_APIC_BASE and the version
 * register, the timer in periodic mode waking `sti; hlt` five times, a self-IPI held back by the
 * TPR and taken once the TPR drops, IRR/ISR bits and EOI. Prints "PASS apic32.NAME" per check and
 * exits with GUEST_EXIT_APIC32 (status 89). Run under --accel emu (tests/integration/
 * test_accel_emu.sh), where kvmbox's own APIC model (src/dev/lapic.c) answers. */
#include "guest.h"

#define APIC 0xfee00000u
#define TIMER_VECTOR 0x40
#define IPI_VECTOR 0x50

struct gate32 {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct gate32 idt[0x60] __attribute__((aligned(8)));
volatile uint32_t apic32_ticks, apic32_ipis;
extern const char apic32_timer_isr[], apic32_ipi_isr[];

/* The handlers count, write EOI and return: no C in interrupt context. */
__asm__(".text\n"
	"apic32_timer_isr:\n\t"
	"incl apic32_ticks\n\t"
	"movl $0, 0xfee000b0\n\t"
	"iret\n"
	"apic32_ipi_isr:\n\t"
	"incl apic32_ipis\n\t"
	"movl $0, 0xfee000b0\n\t"
	"iret\n");

static uint32_t apic_rd(unsigned reg)
{
	return *(volatile uint32_t *)(APIC + reg);
}

static void apic_wr(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(APIC + reg) = v;
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
	if (failures)
		guest_fail("apic32", "%d checks failed", failures);
	guest_printf("PASS apic32\n");
	guest_exit(GUEST_EXIT_APIC32);
}
