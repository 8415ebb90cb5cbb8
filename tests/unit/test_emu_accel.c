/*
 * --accel emu's vCPU (src/arch/x86/emu_accel.c) on fake RAM with real buses: kvmbox's boot state,
 * port and MMIO operands reaching devices, HLT, exceptions through the guest's IDT with the double-
 * and triple-fault rules, MSRs, the XSAVE image, the CPU model CPUID describes, the stop flag.
 */
#include <string.h>
#include <time.h>

#include "arch/x86/cpu.h"
#include "arch/x86/emu_accel.h"
#include "arch/x86/emu_smp.h"
#include "dev/ioapic.h"
#include "test.h"

#define RAM (4u << 20)
#define CODE 0x100000u
#define HANDLER 0x100100u
#define IDT 0x3000u
#define STACK 0x8000u
#define XAREA 0x4000u

static uint8_t *ram;
static struct guest_mem gm;
static struct bus pio, mmio;
static int stopping;

/* A device on each bus that records the last write and can stop the "VM". */
struct rec {
	uint64_t off, value;
	unsigned len, writes, reads;
	bool stop_on_write;
};
static struct rec port_dev, mmio_dev;

static void rec_read(void *dev, uint64_t off, void *data, unsigned len)
{
	(void)off;
	((struct rec *)dev)->reads++;
	memset(data, 0x5a, len);
}

static void rec_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct rec *r = dev;

	r->off = off;
	r->len = len;
	r->value = 0;
	memcpy(&r->value, data, len);
	r->writes++;
	if (r->stop_on_write)
		__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
}

static const struct bus_ops rec_ops = { .read = rec_read,
					.write = rec_write,
					.state_shared = true };

/* Fresh buses with the recording devices (each vCPU has its own local APIC on top of mmio). */
static void buses(void)
{
	static bool ready;

	if (ready) {
		bus_destroy(&pio);
		bus_destroy(&mmio);
	}
	ready = true;
	bus_init(&pio, "pio", 0xff);
	bus_init(&mmio, "mmio", 0x00);
	CHECK_EQ(bus_add(&pio, 0x3f8, 8, &rec_ops, &port_dev, "rec"), 0);
	CHECK_EQ(bus_add(&pio, 0xf4, 1, &rec_ops, &port_dev, "rec-stop"), 0);
	CHECK_EQ(bus_add(&mmio, 0xd0000000u, 0x1000, &rec_ops, &mmio_dev, "rec-mmio"), 0);
}

/* A fresh machine: RAM with kvmbox's boot GDT, code at CODE, an IDT at IDT (empty gates). */
static struct emu_accel *machine(const uint8_t *code, size_t len, uint16_t idt_limit)
{
	struct boot_entry entry = { .mode = BOOT_MODE_MULTIBOOT, .rip = CODE };
	struct x86_regs r;
	struct emu_accel *a;

	buses();

	memset(ram, 0, RAM);
	memset(&port_dev, 0, sizeof(port_dev));
	memset(&mmio_dev, 0, sizeof(mmio_dev));
	stopping = 0;
	CHECK_EQ(cpu_write_boot_tables(&gm, BOOT_MODE_MULTIBOOT), 0);
	memcpy(ram + CODE, code, len);
	cpu_boot_regs(&entry, &r);
	r.idt_base = IDT;
	r.idt_limit = idt_limit;
	r.gpr[EMU_RSP] = STACK;
	a = emu_accel_create(&gm, &pio, &mmio, &stopping, 0);
	CHECK(a != NULL);
	if (a)
		emu_accel_set_regs(a, &r);
	return a;
}

/* A 32-bit interrupt gate (DPL 0) to HANDLER + 16 * n, through kvmbox's boot CS; present or not. */
static void gate_p(unsigned vector, unsigned n, bool present)
{
	struct boot_entry entry = { .mode = BOOT_MODE_MULTIBOOT };
	struct x86_regs r;
	uint32_t off = HANDLER + 16 * n;
	uint64_t g;

	cpu_boot_regs(&entry, &r);
	g = (off & 0xffffu) | ((uint64_t)r.seg[EMU_CS].selector << 16) |
	    ((present ? 0x8e00ull : 0x0e00ull) << 32) | ((uint64_t)(off >> 16) << 48);
	memcpy(ram + IDT + 8 * vector, &g, 8);
}

static void gate(unsigned vector, unsigned n)
{
	gate_p(vector, n, true);
}

/* Handler n: `mov reg, value; hlt` (reg 0-7 as ModRM numbers them). */
static void handler(unsigned n, unsigned reg, uint32_t value)
{
	uint8_t *p = ram + HANDLER + 16 * n;

	p[0] = (uint8_t)(0xb8 + reg);
	memcpy(p + 1, &value, 4);
	p[5] = 0xf4;
}

/* A fresh machine running code, with isr as its #DB handler (vector 1), the registers in *r. */
static struct emu_accel *db_machine(const uint8_t *code, size_t len, const uint8_t *isr,
				    size_t isr_len, struct x86_regs *r)
{
	struct emu_accel *a = machine(code, len, 0x7ff);

	if (!a)
		return NULL;
	gate(1, 0);
	memcpy(ram + HANDLER, isr, isr_len);
	emu_accel_get_regs(a, r);
	return a;
}

static uint32_t stack_word(const struct x86_regs *r, int i)
{
	uint32_t v;

	memcpy(&v, ram + (uint32_t)r->gpr[EMU_RSP] + 4 * i, 4);
	return v;
}

static void test_boot_state(void)
{
	static const uint8_t code[] = { 0xf4 };
	struct emu_accel *a = machine(code, sizeof(code), 0);
	struct x86_regs r;

	if (!a)
		return;
	emu_accel_get_regs(a, &r);
	/* What a multiboot loader leaves, as cpu_set_boot_state gives a KVM vCPU. */
	CHECK_EQ(r.rip, CODE);
	CHECK_EQ(r.cr0 & 0x80000001u, 1);
	CHECK_EQ(r.efer, 0);
	CHECK_EQ(r.seg[EMU_CS].db, 1);
	CHECK_EQ(r.seg[EMU_CS].limit, 0xffffffffu);
	CHECK_EQ(r.seg[EMU_DS].base, 0);
	CHECK_EQ(r.gdt_base, 0x500);
	CHECK_EQ(r.fpu.fcw, 0x37f);
	CHECK_EQ(r.fpu.mxcsr, 0x1f80);
	CHECK_EQ(r.mp_state, X86_MP_RUNNABLE);
	emu_accel_destroy(a);
}

static void test_io_and_halt(void)
{
	static const uint8_t code[] = {
		0x66, 0xba, 0xf8, 0x03,		    /* mov dx, 0x3f8 */
		0xb0, 0x41,			    /* mov al, 'A' */
		0xee,				    /* out dx, al */
		0xb8, 0x78, 0x56, 0x34, 0x12,	    /* mov eax, 0x12345678 */
		0xa3, 0x08, 0x00, 0x00, 0xd0,	    /* mov [0xd0000008], eax */
		0x8b, 0x1d, 0x10, 0x00, 0x00, 0xd0, /* mov ebx, [0xd0000010] */
		0xf4,				    /* hlt */
	};
	struct emu_accel *a = machine(code, sizeof(code), 0);
	struct emu_accel_stats st;
	struct x86_regs r;

	if (!a)
		return;
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	CHECK_EQ(port_dev.writes, 1);
	CHECK_EQ(port_dev.value, 'A');
	CHECK_EQ(mmio_dev.off, 8);
	CHECK_EQ(mmio_dev.len, 4);
	CHECK_EQ(mmio_dev.value, 0x12345678);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 0x5a5a5a5a); /* the device's read */
	CHECK_EQ(r.rip, CODE + sizeof(code));
	CHECK_EQ(r.mp_state, X86_MP_HALTED);
	emu_accel_get_stats(a, &st);
	CHECK_EQ(st.instructions, 7);
	/* Halted stays halted: nothing can wake this vCPU, and nothing more runs. */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_stats(a, &st);
	CHECK_EQ(st.instructions, 7);
	emu_accel_destroy(a);
}

static void test_budget_and_stop(void)
{
	static const uint8_t spin[] = { 0xeb, 0xfe }; /* jmp $ */
	static const uint8_t out_then_spin[] = {
		0xe6, 0xf4, /* out 0xf4, al */
		0xeb, 0xfe, /* jmp $ */
	};
	struct emu_accel *a = machine(spin, sizeof(spin), 0);
	struct emu_accel_stats st;

	if (!a)
		return;
	CHECK_EQ(emu_accel_run(a, 1000), EMU_ACCEL_BUDGET);
	emu_accel_get_stats(a, &st);
	CHECK_EQ(st.instructions, 1000);
	emu_accel_destroy(a);

	/* A device access that stops the VM ends the run after that instruction. */
	a = machine(out_then_spin, sizeof(out_then_spin), 0);
	if (!a)
		return;
	port_dev.stop_on_write = true;
	CHECK_EQ(emu_accel_run(a, 1000000), EMU_ACCEL_BUDGET);
	emu_accel_get_stats(a, &st);
	CHECK_EQ(st.instructions, 1);
	emu_accel_destroy(a);
}

static void test_exception_through_idt(void)
{
	static const uint8_t code[] = { 0x0f, 0x0b }; /* ud2 */
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct emu_accel_stats st;
	struct x86_regs r;

	if (!a)
		return;
	gate(6, 0);
	handler(0, 3, 0xbeef); /* mov ebx, 0xbeef */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 0xbeef);
	CHECK_EQ(stack_word(&r, 0), CODE); /* a fault: the frame points at the ud2 */
	CHECK_EQ(stack_word(&r, 1), r.seg[EMU_CS].selector);
	CHECK_EQ(r.gpr[EMU_RSP], STACK - 12);
	emu_accel_get_stats(a, &st);
	CHECK_EQ(st.exceptions, 1);
	emu_accel_destroy(a);
}

/* A benign exception whose gate is not present: #NP for that gate, delivered on its own. (A gate
 * of all zeros is not a gate at all: #GP, which the next test's chain starts with.) */
static void test_benign_then_contributory(void)
{
	static const uint8_t code[] = { 0x0f, 0x0b }; /* ud2 */
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct x86_regs r;

	if (!a)
		return;
	gate_p(6, 0, false);
	gate(11, 0);
	handler(0, 2, 11); /* mov edx, 11 */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RDX], 11);
	CHECK_EQ(stack_word(&r, 0), 6 * 8 + 2 + 1); /* IDT, gate 6, EXT */
	emu_accel_destroy(a);
}

/* int 0x40 beyond the IDT's limit: #GP; #GP's gate is not present: #NP, a contributory fault
 * after a contributory one: a double fault, through gate 8. Without gate 8: a triple fault. */
static void test_double_and_triple_fault(void)
{
	static const uint8_t code[] = { 0xcd, 0x40 }; /* int 0x40 */
	struct emu_accel *a = machine(code, sizeof(code), 0x40 * 8 - 1);
	struct x86_regs r;

	if (!a)
		return;
	gate_p(13, 0, false);
	gate(8, 0);
	handler(0, 1, 8); /* mov ecx, 8 */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 8);
	CHECK_EQ(stack_word(&r, 0), 0); /* #DF's error code */
	CHECK_EQ(stack_word(&r, 1), CODE);
	emu_accel_destroy(a);

	a = machine(code, sizeof(code), 0x40 * 8 - 1);
	if (!a)
		return;
	gate_p(13, 0, false);
	gate_p(8, 0, false);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_SHUTDOWN);
	emu_accel_destroy(a);
}

/* A single-step trap after the instruction that turned paging on is delivered through the new
 * page tables: the frame lands where the stack's linear address now maps. */
static void test_trap_after_paging_on(void)
{
	static const uint8_t code[] = { 0x0f, 0x22, 0xc0 }; /* mov cr0, eax */
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	uint32_t *pd = (uint32_t *)(ram + 0x10000), *pt = (uint32_t *)(ram + 0x11000), eip;
	struct x86_regs r;

	if (!a)
		return;
	/* 32-bit paging: the first 4 MiB identity-mapped but for the stack's page 0x7000. */
	pd[0] = 0x11000 | 3;
	for (uint32_t i = 0; i < 1024; i++)
		pt[i] = (i << 12) | 3;
	pt[7] = 0x20000 | 3;
	gate(1, 0);
	handler(0, 3, 1); /* mov ebx, 1 */
	emu_accel_get_regs(a, &r);
	r.cr3 = 0x10000;
	r.gpr[EMU_RAX] = (uint32_t)(r.cr0 | 0x80000000u);
	r.rflags |= 0x100; /* TF */
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 1);
	CHECK(r.cr0 & 0x80000000u);
	memcpy(&eip, ram + 0x20ff4, 4);
	CHECK_EQ(eip, CODE + sizeof(code)); /* a trap: after the mov */
	memcpy(&eip, ram + 0x7ff4, 4);
	CHECK_EQ(eip, 0);		  /* not through the old, identity view */
	CHECK_EQ(r.dr6 & 0x4000, 0x4000); /* BS */
	emu_accel_destroy(a);
}

/* An NMI ends a HLT and goes through gate 2; a second one waits for the handler's IRET. */
static void test_nmi(void)
{
	static const uint8_t code[] = { 0xf4, 0xf4, 0xf4 }; /* hlt; hlt; hlt */
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct x86_regs r;
	uint32_t eip;

	if (!a)
		return;
	gate(2, 0);
	memcpy(ram + HANDLER, "\x43\xf4\xcf", 3); /* inc ebx; hlt; iret */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_nmi(a);
	emu_accel_nmi(a); /* two before it runs: one NMI, as on hardware */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT); /* in the handler's hlt */
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 1);
	CHECK_EQ(r.rip, HANDLER + 2);
	CHECK(r.nmi.masked && !r.nmi.pending);
	memcpy(&eip, ram + (uint32_t)r.gpr[EMU_RSP], 4);
	CHECK_EQ(eip, CODE + 1); /* interrupted after the first hlt */
	/* Blocked: a new NMI waits while the handler runs; IRET lets it in. */
	emu_accel_nmi(a);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 1);
	CHECK(r.nmi.masked && r.nmi.pending);
	r.mp_state = X86_MP_RUNNABLE; /* as if the handler went on: to its iret */
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 2); /* the pending NMI right after the IRET */
	CHECK_EQ(r.rip, HANDLER + 2);
	emu_accel_destroy(a);
}

/* The local APIC's timer ends a HLT (after its deadline, which emu_accel_wake_at gives) and its
 * interrupt goes through the IDT; the handler's EOI and IRET bring the guest back. */
static void test_apic_timer_wakes_hlt(void)
{
	static const uint8_t code[] = {
		0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, /* SVR = 0x1ff */
		0xc7, 0x05, 0xe0, 0x03, 0xe0, 0xfe, 0x0b, 0x00, 0x00, 0x00, /* divide by 1 */
		0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, 0x40, 0x00, 0x00, 0x00, /* one-shot, 0x40 */
		0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0x10, 0x27, 0x00, 0x00, /* 10,000 ns */
		0xfb, 0xf4, 0xf4,					    /* sti; hlt; hlt */
	};
	static const uint8_t isr[] = {
		0x43,							    /* inc ebx */
		0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, /* EOI */
		0xcf,							    /* iret */
	};
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct timespec ts;
	struct x86_regs r;
	uint64_t wake, now;

	if (!a)
		return;
	gate(0x40, 0);
	memcpy(ram + HANDLER, isr, sizeof(isr));
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	wake = emu_accel_wake_at(a);
	CHECK(wake != 0);
	do {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	} while (now < wake);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT); /* the interrupt, then the second hlt */
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RBX], 1);
	CHECK_EQ(r.rip, CODE + sizeof(code));
	CHECK_EQ(emu_accel_wake_at(a), 0); /* one-shot: nothing left to wake it */
	CHECK_EQ(ram[HANDLER + 1], 0xc7);  /* the handler ran from where the gate points */
	emu_accel_destroy(a);
}

/* An instruction breakpoint (DR0, DR7.L0) is a #DB fault before the instruction runs, with B0 in
 * DR6 and RF in the frame, so the handler's IRET runs it without a second trap. */
static void test_instruction_breakpoint(void)
{
	static const uint8_t code[] = { 0x90, 0x43, 0xf4 }; /* nop; inc ebx; hlt */
	static const uint8_t isr[] = {
		0xf7, 0x44, 0x24, 0x08, 0x00, 0x00, 0x01, 0x00, /* test dword [esp+8], RF */
		0x75, 0x01,					/* jnz: RF already set? */
		0x42,						/* inc edx: it was clear */
		0x81, 0x4c, 0x24, 0x08, 0x00, 0x00, 0x01, 0x00, /* or dword [esp+8], RF */
		0x41, 0xcf,					/* inc ecx; iret */
	};
	struct x86_regs r;
	struct emu_accel *a = db_machine(code, sizeof(code), isr, sizeof(isr), &r);

	if (!a)
		return;
	r.dr[0] = CODE + 1;
	r.dr7 = 0x401; /* L0, execute */
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 1); /* one trap */
	CHECK_EQ(r.gpr[EMU_RDX], 1); /* its frame had RF clear: the handler set it */
	CHECK_EQ(r.gpr[EMU_RBX], 1); /* and the instruction still ran once */
	CHECK_EQ(r.dr6 & 0xf, 1);
	CHECK_EQ(stack_word(&r, -3), CODE + 1); /* the frame's EIP: at the inc */
	emu_accel_destroy(a);

	/* A breakpoint after a HLT does not end the HLT. */
	a = db_machine((const uint8_t[]){ 0xf4, 0x90 }, 2, isr, sizeof(isr), &r);
	if (!a)
		return;
	r.dr[0] = CODE + 1;
	r.dr7 = 0x401;
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 0);
	CHECK_EQ(r.rip, CODE + 1);
	emu_accel_destroy(a);

	/* As on Intel CPUs: none fires right after a load of SS (MOV SS blocking), the next does.
	 */
	for (unsigned at = 4; at <= 5; at++) {
		static const uint8_t ss[] = { 0x8c, 0xd0, 0x8e, 0xd0, 0x43, 0x43, 0xf4 };

		a = db_machine(ss, sizeof(ss), isr, sizeof(isr),
			       &r); /* mov %ss,%eax; mov %eax,%ss; inc; inc; hlt */
		if (!a)
			return;
		r.dr[0] = CODE + at;
		r.dr7 = 0x401;
		emu_accel_set_regs(a, &r);
		CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
		emu_accel_get_regs(a, &r);
		CHECK_EQ(r.gpr[EMU_RCX], at == 4 ? 0 : 1);
		CHECK_EQ(r.gpr[EMU_RBX], 2);
		emu_accel_destroy(a);
	}
}

/*
 * Data breakpoints: a #DB trap after the instruction that hit (B1 in DR6, the frame's EIP past
 * it); a read does not hit a write-only one; a load of SS holds the trap back one instruction.
 */
static void test_data_breakpoint(void)
{
	static const uint8_t isr[] = { 0x41, 0xcf }; /* inc ecx; iret */
	static const struct {
		uint8_t code[8];
		unsigned len;
		uint32_t rw; /* DR1's R/W: 1 writes, 3 reads and writes */
		unsigned traps, eip;
	} cases[] = {
		{ { 0xa3, 0x00, 0x20, 0, 0, 0x43, 0xf4 }, 7, 1, 1, 5 },	      /* mov [0x2000],eax */
		{ { 0xa1, 0x00, 0x20, 0, 0, 0x43, 0xf4 }, 7, 1, 0, 0 },	      /* mov eax,[0x2000] */
		{ { 0xa1, 0x02, 0x20, 0, 0, 0x43, 0xf4 }, 7, 3, 1, 5 },	      /* mov eax,[0x2002] */
		{ { 0x8e, 0x15, 0x00, 0x20, 0, 0, 0x43, 0xf4 }, 8, 3, 1, 7 }, /* mov ss,[0x2000] */
	};

	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct x86_regs r;
		struct emu_accel *a = db_machine(cases[k].code, cases[k].len, isr, sizeof(isr), &r);
		uint32_t ss;

		if (!a)
			return;
		ss = r.seg[EMU_SS].selector;
		memcpy(ram + 0x2000, &ss, 4);
		r.dr[1] = 0x2000;
		r.dr7 = 0x400 | 0x4 | cases[k].rw << 20 | 3u << 22; /* L1, 4 bytes */
		emu_accel_set_regs(a, &r);
		CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
		emu_accel_get_regs(a, &r);
		CHECK_EQ(r.gpr[EMU_RCX], cases[k].traps);
		CHECK_EQ(r.gpr[EMU_RBX], 1);
		if (cases[k].traps) {
			CHECK_EQ(r.dr6 & 0xf, 2);
			CHECK_EQ(stack_word(&r, -3), CODE + cases[k].eip);
		}
		emu_accel_destroy(a);
	}
}

static unsigned woken[2];

static void fake_wake(void *opaque, unsigned index)
{
	(void)opaque;
	woken[index]++;
}

/* Run a CPU of a machine until it halts: sending an IPI ends a slice early (yields). */
static enum emu_accel_exit run_smp(struct emu_accel *a)
{
	enum emu_accel_exit why = EMU_ACCEL_BUDGET;

	for (unsigned i = 0; i < 10 && why == EMU_ACCEL_BUDGET; i++)
		why = emu_accel_run(a, 100);
	return why;
}

/* One slice as a vCPU thread runs it: holding the machine's lock. */
static enum emu_accel_exit run_locked(struct emu_smp *s, struct emu_accel *a)
{
	enum emu_accel_exit why;

	emu_smp_lock(s);
	why = emu_accel_run(a, 100);
	emu_smp_unlock(s);
	return why;
}

/* Continue a halted vCPU past its HLT (as an interrupt would). */
static void unhalt(struct emu_accel *a)
{
	struct x86_regs r;

	emu_accel_get_regs(a, &r);
	r.mp_state = X86_MP_RUNNABLE;
	emu_accel_set_regs(a, &r);
}

/* "mov dword [addr], v" in 32-bit code. */
#define MOVD(addr, v)                                                                              \
	0xc7, 0x05, (addr)&0xff, ((addr) >> 8) & 0xff, ((addr) >> 16) & 0xff, (addr) >> 24,        \
	    (v)&0xff, ((v) >> 8) & 0xff, ((v) >> 16) & 0xff, (v) >> 24

/*
 * Two CPUs on one machine: the AP waits for INIT and SIPI, then runs real-mode code at the SIPI
 * vector's page; an NMI IPI reaches its handler (through the real-mode IVT) and ends its HLT; an
 * INIT level de-assert does nothing; every IPI wakes the target's thread.
 */
static void test_smp_init_sipi_nmi(void)
{
	static const uint8_t bsp[] = {
		MOVD(0xfee00310u, 0x01000000u), /* ICR high: APIC 1 */
		MOVD(0xfee00300u, 0x00004500u), /* INIT */
		MOVD(0xfee00300u, 0x00004608u), /* SIPI, vector 8: 0x8000 */
		0xf4,
		MOVD(0xfee00300u, 0x00004400u), /* NMI */
		0xf4,
		MOVD(0xfee00300u, 0x00008500u), /* INIT level de-assert */
		0xf4,
	};
	static const uint8_t ap[] = {
		0xc6, 0x06, 0x00, 0x70, 0x5a, /* mov byte [0x7000], 0x5a */
		0xfb, 0xf4, 0xeb, 0xfc,	      /* sti; hlt; jmp back to the sti */
	};
	static const uint8_t nmi_isr[] = { 0xfe, 0x06, 0x01, 0x70, 0xcf }; /* inc byte [0x7001] */
	struct emu_accel *a = machine(bsp, sizeof(bsp), 0x7ff), *b;
	struct emu_smp s;
	struct x86_regs r;

	if (!a)
		return;
	b = emu_accel_create(&gm, &pio, &mmio, &stopping, 1);
	CHECK(b != NULL);
	if (!b)
		return;
	emu_accel_init(b); /* an AP at power-up, as vcpu.c makes it */
	emu_smp_init(&s, fake_wake, NULL);
	CHECK_EQ(emu_smp_add(&s, a), 0);
	CHECK_EQ(emu_smp_add(&s, b), 0);
	memcpy(ram + 0x8000, ap, sizeof(ap));
	memcpy(ram + 0x9000, nmi_isr, sizeof(nmi_isr));
	memcpy(ram + 4 * 2, "\x00\x90\x00\x00", 4); /* IVT vector 2: 0000:9000 */
	woken[0] = woken[1] = 0;

	CHECK_EQ(run_smp(b), EMU_ACCEL_HALT); /* nothing before the SIPI */
	emu_accel_get_regs(b, &r);
	CHECK_EQ(r.mp_state, X86_MP_INIT_RECEIVED);
	CHECK_EQ(r.apic_base & 0x100, 0); /* not the BSP */
	CHECK_EQ(run_smp(a), EMU_ACCEL_HALT);
	CHECK_EQ(woken[1], 2);
	CHECK_EQ(woken[0], 0);
	CHECK_EQ(run_smp(b), EMU_ACCEL_HALT);
	CHECK_EQ(ram[0x7000], 0x5a);
	emu_accel_get_regs(b, &r);
	CHECK_EQ(r.seg[EMU_CS].selector, 0x800);
	CHECK_EQ(r.seg[EMU_CS].base, 0x8000);
	CHECK_EQ(r.rip, 7);
	CHECK_EQ(r.mp_state, X86_MP_HALTED);

	unhalt(a);
	CHECK_EQ(run_smp(a), EMU_ACCEL_HALT);
	CHECK_EQ(woken[1], 3);
	CHECK_EQ(run_smp(b), EMU_ACCEL_HALT);
	CHECK_EQ(ram[0x7001], 1); /* the NMI handler ran and the AP halted again */

	unhalt(a);
	CHECK_EQ(run_smp(a), EMU_ACCEL_HALT);
	emu_accel_get_regs(b, &r);
	CHECK_EQ(r.mp_state, X86_MP_HALTED); /* not INIT_RECEIVED */
	emu_accel_destroy(b);
	emu_accel_destroy(a);
	emu_smp_destroy(&s);
}

/*
 * The I/O APIC through the machine: a level-triggered pin reaches CPU 0's handler (TMR set,
 * remote IRR set while in service); its EOI clears remote IRR; a line still high is sent again.
 */
static void test_smp_ioapic(void)
{
	static const uint8_t bsp[] = {
		MOVD(0xfee000f0u, 0x1ffu), /* SVR: APIC software-enabled */
		0xfb, 0xf4, 0xf4,	   /* sti; hlt; hlt */
	};
	static const uint8_t isr[] = {
		0x41, 0xf4,		     /* inc ecx; hlt (interrupts off) */
		MOVD(0xfee000b0u, 0u), 0xcf, /* EOI; iret */
	};
	struct emu_accel *a = machine(bsp, sizeof(bsp), 0x7ff);
	struct ioapic io;
	struct emu_smp s;
	struct x86_regs r;
	uint32_t sel = 0x10 + 2 * 3, v = 0x8040; /* pin 3: vector 0x40, level, APIC 0 */

	if (!a)
		return;
	emu_smp_init(&s, fake_wake, NULL);
	CHECK_EQ(emu_smp_add(&s, a), 0);
	ioapic_init(&io, emu_smp_message, &s);
	s.ioapic = &io;
	ioapic_bus_ops.write(&io, 0, &sel, 4);
	ioapic_bus_ops.write(&io, 0x10, &v, 4);
	gate(0x40, 0);
	memcpy(ram + HANDLER, isr, sizeof(isr));
	woken[0] = 0;

	CHECK_EQ(run_locked(&s, a), EMU_ACCEL_HALT); /* at the first hlt */
	emu_smp_irq(&s, 3, 1); /* as from a device's I/O thread: applied by the next holder */
	CHECK_EQ(woken[0], 1);
	CHECK_EQ(io.lines, 0);
	CHECK_EQ(run_locked(&s, a), EMU_ACCEL_HALT); /* in the handler's hlt */
	CHECK(io.redir[3] & 0x4000);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 1);
	emu_smp_irq(&s, 3, 0);
	unhalt(a);
	CHECK_EQ(run_locked(&s, a), EMU_ACCEL_HALT); /* EOI, iret, the second hlt */
	CHECK_EQ(io.redir[3] & 0x4000, 0);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 1);
	CHECK_EQ(r.rip, CODE + sizeof(bsp));

	/* Raised again and kept high: the EOI sends it once more. */
	emu_smp_irq(&s, 3, 1);
	unhalt(a);
	CHECK_EQ(run_locked(&s, a), EMU_ACCEL_HALT); /* handler's hlt */
	unhalt(a);
	CHECK_EQ(run_locked(&s, a), EMU_ACCEL_HALT); /* EOI: sent again, handler's hlt */
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 3);
	CHECK(io.redir[3] & 0x4000);
	emu_accel_destroy(a);
	emu_smp_destroy(&s);
}

/* An INIT the BSP sends itself takes effect after that instruction: the machine resets. */
static void test_smp_init_bsp(void)
{
	static const uint8_t bsp[] = { MOVD(0xfee00300u, 0x00044500u), 0xf4 }; /* INIT, self */
	struct emu_accel *a = machine(bsp, sizeof(bsp), 0x7ff);
	struct emu_smp s;
	struct x86_regs r;

	if (!a)
		return;
	emu_smp_init(&s, fake_wake, NULL);
	CHECK_EQ(emu_smp_add(&s, a), 0);
	CHECK_EQ(run_smp(a), EMU_ACCEL_RESET);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.rip, CODE + 10); /* the store completed, nothing after it */
	emu_accel_destroy(a);
	emu_smp_destroy(&s);
}

/* A REP STOS that hits a data breakpoint stops after that element: #DB with RCX and RDI there. */
static void test_rep_data_breakpoint(void)
{
	static const uint8_t code[] = { 0xf3, 0xab, 0xf4 }; /* rep stosd; hlt */
	static const uint8_t isr[] = { 0x41, 0xf4 };	    /* inc ecx; hlt */
	struct x86_regs r;
	struct emu_accel *a = db_machine(code, sizeof(code), isr, sizeof(isr), &r);

	if (!a)
		return;
	r.gpr[EMU_RCX] = 100;
	r.gpr[EMU_RDI] = 0x20000;
	r.dr[1] = 0x2000c;			   /* the 4th dword */
	r.dr7 = 0x400 | 0x4 | 1u << 20 | 3u << 22; /* L1, writes, 4 bytes */
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.rip, HANDLER + 2);
	CHECK_EQ(stack_word(&r, 0), CODE); /* the frame's EIP: still on the rep stosd */
	CHECK_EQ(r.gpr[EMU_RDI], 0x20010);
	CHECK_EQ(r.gpr[EMU_RCX], 96 + 1); /* 96 left, then the handler's inc */
	CHECK_EQ(r.dr6 & 0xf, 2);
	emu_accel_destroy(a);
}

/* The machine's lock: whoever holds it knows; others queue in turn. */
static void test_smp_lock(void)
{
	struct emu_smp s;

	emu_smp_init(&s, NULL, NULL);
	CHECK(!emu_smp_owned(&s));
	emu_smp_lock(&s);
	CHECK(emu_smp_owned(&s));
	emu_smp_unlock(&s);
	CHECK(!emu_smp_owned(&s));
	emu_smp_irq(&s, 1, 1); /* no I/O APIC: nothing */
	emu_smp_destroy(&s);
}

/* A single-step trap after HLT runs its handler at once, interrupts disabled or not. */
static void test_single_step_hlt(void)
{
	static const uint8_t code[] = { 0xf4, 0x43, 0xf4 }; /* hlt; inc ebx; hlt */
	static const uint8_t isr[] = {
		0x81, 0x64, 0x24, 0x08, 0xff, 0xfe, 0xff, 0xff, /* and dword [esp+8], ~TF */
		0x41, 0xcf,					/* inc ecx; iret */
	};
	struct x86_regs r;
	struct emu_accel *a = db_machine(code, sizeof(code), isr, sizeof(isr), &r);

	if (!a)
		return;
	r.rflags |= EMU_RFLAGS_TF;
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RCX], 1);
	CHECK_EQ(r.gpr[EMU_RBX], 1);
	CHECK_EQ(r.rip, CODE + 3);
	CHECK_EQ(r.mp_state, X86_MP_HALTED);
	emu_accel_destroy(a);
}

/* One CPU: a locked read-modify-write on a device is a read, then a write. */
static void test_locked_mmio(void)
{
	static const uint8_t code[] = {
		0xf0, 0xff, 0x05, 0x08, 0x00, 0x00, 0xd0, /* lock incl 0xd0000008 */
		0xf4,
	};
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);

	if (!a)
		return;
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	CHECK_EQ(mmio_dev.reads, 1); /* one read, one write: nothing else reaches the device */
	CHECK_EQ(mmio_dev.writes, 1);
	CHECK_EQ(mmio_dev.off, 8);
	CHECK_EQ(mmio_dev.value, 0x5a5a5a5b); /* what the device read, plus one */
	emu_accel_destroy(a);
}

/* A valid instruction the emulator does not implement stops the VM (x87 at CPL 0). */
static void test_unimplemented_stops(void)
{
	static const uint8_t code[] = { 0x90, 0xd9, 0xe8 }; /* nop; fld1 */
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct x86_regs r;

	if (!a)
		return;
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_FAIL);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.rip, CODE + 1); /* nothing of the fld1 happened */
	emu_accel_destroy(a);
}

static void test_msrs(void)
{
	static const uint8_t code[] = {
		0xb9, 0x00, 0x01, 0x00, 0xc0, /* mov ecx, 0xc0000100 (FS_BASE) */
		0xb8, 0x00, 0x10, 0x00, 0x00, /* mov eax, 0x1000 */
		0x31, 0xd2,		      /* xor edx, edx */
		0x0f, 0x30,		      /* wrmsr */
		0xb9, 0x77, 0x02, 0x00, 0x00, /* mov ecx, 0x277 (PAT) */
		0x0f, 0x32,		      /* rdmsr */
		0x89, 0xc6,		      /* mov esi, eax */
		0xb9, 0x34, 0x12, 0x00, 0x00, /* mov ecx, 0x1234 */
		0x0f, 0x32,		      /* rdmsr: #GP */
	};
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct x86_regs r;

	if (!a)
		return;
	gate(13, 0);
	handler(0, 7, 13); /* mov edi, 13 */
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.seg[EMU_FS].base, 0x1000);
	CHECK_EQ(r.gpr[EMU_RSI], 0x00070406); /* PAT's reset value, low half */
	CHECK_EQ(r.gpr[EMU_RDI], 13);
	CHECK_EQ(stack_word(&r, 0), 0); /* #GP(0) */
	emu_accel_destroy(a);
}

static int accel_leaf(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)opaque;
	emu_accel_cpuid(leaf, subleaf, out);
	return 0;
}

/* CPUID describes what the emulator implements, and the guest reads it through CPUID. */
static void test_cpuid(void)
{
	static const uint8_t code[] = { 0x31, 0xc0, 0x0f, 0xa2,
					0xf4 }; /* xor eax,eax; cpuid; hlt */
	const uint32_t want = EMU_FEAT_CLFSH | EMU_FEAT_XSAVE | EMU_FEAT_CLFLUSHOPT |
			      EMU_FEAT_CLWB | EMU_FEAT_RDPID | EMU_FEAT_RDTSCP | EMU_FEAT_XGETBV1 |
			      EMU_FEAT_LZCNT | EMU_FEAT_LAHF64 | EMU_FEAT_XSAVEOPT |
			      EMU_FEAT_XSAVEC | EMU_FEAT_PCLMUL;
	struct emu_accel *a = machine(code, sizeof(code), 0);
	struct emu_xlayout l;
	struct x86_regs r;
	uint32_t out[4];

	/* Not: INVPCID (no PCIDs), RDPRU (Intel), BMI1 (only TZCNT of it is implemented), SSSE3
	 * (only PSHUFB and PALIGNR), XSAVES (no supervisor state). */
	CHECK_EQ(emu_features_from_cpuid(accel_leaf, NULL), want);
	CHECK_EQ(emu_xlayout_from_cpuid(&l, accel_leaf, NULL), 0);
	CHECK_EQ(l.size, 576);
	emu_accel_cpuid(1, 0, out);
	CHECK_EQ(out[3] & (1u << 9), 1u << 9);	 /* a local APIC */
	CHECK_EQ(out[2] & (1u << 21), 1u << 21); /* and x2APIC mode */
	emu_accel_cpuid(0x80000001, 0, out);
	CHECK(out[3] & (1u << 29)); /* long mode */
	if (!a)
		return;
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.gpr[EMU_RAX], 0xd);
	CHECK_EQ(r.gpr[EMU_RBX], 0x756e6547); /* "Genu" */
	CHECK_EQ(r.gpr[EMU_RDX], 0x49656e69); /* "ineI" */
	CHECK_EQ(r.gpr[EMU_RCX], 0x6c65746e); /* "ntel" */
	emu_accel_destroy(a);
}

/* XSAVE writes the vCPU's x87/SSE state (held in the register file) as the layout says; XRSTOR
 * brings an edited image back into the registers. */
static void test_xsave_image(void)
{
	static const uint8_t code[] = {
		0x0f, 0x20, 0xe0,			  /* mov eax, cr4 */
		0x0d, 0x00, 0x02, 0x04, 0x00,		  /* or eax, OSXSAVE | OSFXSR */
		0x0f, 0x22, 0xe0,			  /* mov cr4, eax */
		0x31, 0xc9,				  /* xor ecx, ecx */
		0xb8, 0x03, 0x00, 0x00, 0x00,		  /* mov eax, 3 */
		0x31, 0xd2,				  /* xor edx, edx */
		0x0f, 0x01, 0xd1,			  /* xsetbv */
		0x0f, 0xae, 0x25, 0x00, 0x40, 0x00, 0x00, /* xsave [0x4000] */
		0xc6, 0x05, 0xa0, 0x40, 0x00, 0x00, 0x77, /* mov byte [0x40a0], 0x77: XMM0[0] */
		0x0f, 0xae, 0x2d, 0x00, 0x40, 0x00, 0x00, /* xrstor [0x4000] */
		0xf4,					  /* hlt */
	};
	struct emu_accel *a = machine(code, sizeof(code), 0x7ff);
	struct x86_regs r;
	uint64_t bv;
	uint32_t mxcsr;

	if (!a)
		return;
	emu_accel_get_regs(a, &r);
	memset(r.fpu.xmm[0], 0x11, 16);
	r.fpu.mxcsr = 0x1f80;
	emu_accel_set_regs(a, &r);
	CHECK_EQ(emu_accel_run(a, 100), EMU_ACCEL_HALT);
	memcpy(&mxcsr, ram + XAREA + 24, 4);
	memcpy(&bv, ram + XAREA + 512, 8);
	CHECK_EQ(mxcsr, 0x1f80);
	CHECK_EQ(bv, 3);
	CHECK_EQ(ram[XAREA + 160 + 1], 0x11);
	emu_accel_get_regs(a, &r);
	CHECK_EQ(r.xcr0, 3);
	CHECK_EQ(r.fpu.xmm[0][0], 0x77);
	CHECK_EQ(r.fpu.xmm[0][1], 0x11);
	CHECK_EQ(r.fpu.mxcsr, 0x1f80);
	emu_accel_destroy(a);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM);
	if (!ram)
		return 1;
	CHECK_EQ(guest_mem_add(&gm, 0, RAM, ram), 0);
	RUN_TEST(test_boot_state);
	RUN_TEST(test_io_and_halt);
	RUN_TEST(test_budget_and_stop);
	RUN_TEST(test_exception_through_idt);
	RUN_TEST(test_benign_then_contributory);
	RUN_TEST(test_double_and_triple_fault);
	RUN_TEST(test_trap_after_paging_on);
	RUN_TEST(test_nmi);
	RUN_TEST(test_instruction_breakpoint);
	RUN_TEST(test_single_step_hlt);
	RUN_TEST(test_data_breakpoint);
	RUN_TEST(test_smp_init_sipi_nmi);
	RUN_TEST(test_smp_ioapic);
	RUN_TEST(test_smp_lock);
	RUN_TEST(test_smp_init_bsp);
	RUN_TEST(test_rep_data_breakpoint);
	RUN_TEST(test_locked_mmio);
	RUN_TEST(test_apic_timer_wakes_hlt);
	RUN_TEST(test_unimplemented_stops);
	RUN_TEST(test_msrs);
	RUN_TEST(test_cpuid);
	RUN_TEST(test_xsave_image);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	free(ram);
	TEST_EXIT();
}
