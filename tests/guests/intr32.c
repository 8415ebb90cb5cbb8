/* intr32: 32-bit protected mode with the guest's own IDT: int3, INT n, INTO and IRET through
 * interrupt and trap gates (the instructions a restricted backend's KVM stops on: kvmbox emulates
 * them), and #UD for an instruction the guest's CPU does not have. Prints "PASS intr32.NAME" per
 * check and exits with GUEST_EXIT_INTR32 (status 85). */
#include "guest.h"
#include "guest_asm.h"

struct frame32 {
	uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, eax;
	uint32_t vector, error, eip, cs, eflags;
};

struct gate32 {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

#define EFLAGS_IF 0x200u
#define EFLAGS_OF 0x800u
#define EFLAGS_TF 0x100u
#define GATE_INT32 0x8e	 /* present, DPL 0, 32-bit interrupt gate */
#define GATE_TRAP32 0x8f /* present, DPL 0, 32-bit trap gate */

extern const uint32_t stub_table[48];
extern const char int3_after[], int20_after[], int21_after[], into_after[], ud_insn[], ud_after[];

static struct gate32 idt[0x30] __attribute__((aligned(8)));
static volatile uint32_t count[0x30], seen_eip, seen_cs, seen_eflags, seen_esp;
static int failures;

void intr32_handler(struct frame32 *f);
void intr32_handler(struct frame32 *f)
{
	uint32_t eflags;

	if (f->vector >= 0x30)
		guest_fail("intr32", "vector %u out of range", f->vector);
	count[f->vector]++;
	seen_eip = f->eip;
	seen_cs = f->cs;
	seen_eflags = f->eflags;
	seen_esp = f->esp0;
	__asm__ volatile("pushf; pop %0" : "=r"(eflags));
	/* An interrupt gate clears IF (a trap gate keeps it): visible as the handler's own IF. */
	if (f->vector == 0x21 && !(eflags & EFLAGS_IF)) {
		guest_printf("FAIL intr32.trap-gate: IF clear in a trap gate's handler\n");
		failures++;
	}
	if (f->vector == 0x20 && (eflags & EFLAGS_IF)) {
		guest_printf("FAIL intr32.int-gate: IF set in an interrupt gate's handler\n");
		failures++;
	}
	if (f->vector == 6 && f->eip == (uintptr_t)ud_insn) {
		f->eip = (uintptr_t)ud_after; /* skip the invalid instruction */
		return;
	}
	if (f->vector != 3 && f->vector != 4 && f->vector != 0x20 && f->vector != 0x21)
		guest_fail("intr32", "unexpected exception %u, error 0x%x at eip=0x%x", f->vector,
			   f->error, f->eip);
	f->eax = 0x600d0000u | f->vector; /* comes back only if IRET restores the frame */
}

static void check(int ok, const char *name, const char *what)
{
	if (ok) {
		guest_printf("PASS intr32.%s\n", name);
	} else {
		guest_printf("FAIL intr32.%s: %s\n", name, what);
		failures++;
	}
}

static void idt_install(void)
{
	for (unsigned v = 0; v < 0x30; v++) {
		uint32_t a = stub_table[v];

		idt[v] = (struct gate32){ .off_lo = (uint16_t)a,
					  .sel = SEL_CODE32,
					  .type = v == 0x21 || v == 3 || v == 4 ? GATE_TRAP32 : GATE_INT32,
					  .off_hi = (uint16_t)(a >> 16) };
	}
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

void guest_main(uint32_t magic, uint32_t mbi)
{
	uint32_t eax, esp_before, esp_after, a, b, c, d;

	(void)mbi;
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("intr32", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	/* No device interrupts, so that STI can be used to watch IF: mask both PICs. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	idt_install();
	guest_printf("intr32: protected mode, idt installed\n");

	/* int3 through a trap gate, back with iret: EIP after the int3, ESP and EAX round trip. */
	__asm__ volatile("sti; mov %%esp, %1; int3\n.globl int3_after\nint3_after:\n\tmov %%esp, %2"
			 : "=a"(eax), "=&r"(esp_before), "=&r"(esp_after)
			 : "a"(0)
			 : "memory");
	guest_printf("int3: eip=0x%x (want 0x%x) cs=0x%x eax=0x%x\n", seen_eip,
		     (uint32_t)(uintptr_t)int3_after, seen_cs, eax);
	check(count[3] == 1 && seen_eip == (uintptr_t)int3_after && seen_cs == SEL_CODE32 &&
		  eax == 0x600d0003u && esp_after == esp_before,
	      "int3", "frame or return");

	/* int $0x20 through an interrupt gate (IF cleared inside, restored by iret). */
	__asm__ volatile("sti; int $0x20\n.globl int20_after\nint20_after:" : "=a"(eax) : "a"(0)
			 : "memory");
	check(count[0x20] == 1 && seen_eip == (uintptr_t)int20_after && eax == 0x600d0020u &&
		  (seen_eflags & EFLAGS_IF),
	      "int-gate", "int $0x20");
	__asm__ volatile("pushf; pop %0" : "=r"(eax));
	check(eax & EFLAGS_IF, "iret-flags", "IF not restored by iret");

	/* int $0x21 through a trap gate. */
	__asm__ volatile("sti; int $0x21\n.globl int21_after\nint21_after:" : "=a"(eax) : "a"(0)
			 : "memory");
	check(count[0x21] == 1 && seen_eip == (uintptr_t)int21_after && eax == 0x600d0021u,
	      "trap-gate", "int $0x21");

	/* INTO: nothing without OF, vector 4 with it. */
	__asm__ volatile("push $0x202; popf; into" ::: "memory", "cc");
	check(count[4] == 0, "into-no-of", "into without OF raised #OF");
	__asm__ volatile("push $0xa02; popf; into\n.globl into_after\ninto_after:"
			 : "=a"(eax)
			 : "a"(0)
			 : "memory", "cc");
	check(count[4] == 1 && seen_eip == (uintptr_t)into_after && (seen_eflags & EFLAGS_OF),
	      "into", "into with OF");

	/* RDPRU where the CPU does not have it (always on Intel): #UD, as on hardware. */
	cpuid(0x80000000, &a, &b, &c, &d);
	if (a >= 0x80000008)
		cpuid(0x80000008, &a, &b, &c, &d);
	else
		b = 0;
	if (!(b & (1u << 4))) {
		__asm__ volatile("xor %%ecx, %%ecx\n.globl ud_insn\nud_insn:\n\t.byte 0x0f, 0x01, 0xfd\n"
				 ".globl ud_after\nud_after:" ::: "eax", "ecx", "edx", "memory");
		check(count[6] == 1, "rdpru-ud", "no #UD for rdpru");
	} else {
		guest_printf("SKIP intr32.rdpru-ud: the CPU has rdpru\n");
	}

	/* Ten more round trips through each gate. */
	for (int i = 0; i < 10; i++)
		__asm__ volatile("int $0x20; int $0x21; int3" ::: "eax", "memory");
	check(count[0x20] == 11 && count[0x21] == 11 && count[3] == 11, "repeat", "counts");

	if (failures)
		guest_fail("intr32", "%d checks failed", failures);
	guest_printf("PASS intr32\n");
	guest_exit(GUEST_EXIT_INTR32);
}
