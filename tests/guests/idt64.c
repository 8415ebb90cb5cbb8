/* IDT set-up for the 64-bit test guests (idt64.h). */
#include "idt64.h"

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

extern const uint64_t isr_table[32];

static struct idt_gate idt[32] __attribute__((aligned(16)));

void idt64_install(void)
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
