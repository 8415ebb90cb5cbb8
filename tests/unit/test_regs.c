/* Unit tests of the KVM-free register file's dump (src/arch/x86/regs.c): modes, every register
 * in the text, flag letters, pending events, and truncation. No KVM. */
#include <string.h>

#include "arch/x86/regs.h"
#include "test.h"

static const struct emu_seg flat64_cs = {
	.selector = 0x10, .limit = 0xffffffff, .type = 0xb, .s = true, .present = true, .l = true
};
static const struct emu_seg flat_ds = {
	.selector = 0x18, .limit = 0xffffffff, .type = 0x3, .s = true, .present = true, .db = true
};

/* A 64-bit kernel's state, every GPR distinct. */
static void long_mode(struct x86_regs *r)
{
	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < EMU_NR_GPRS; i++)
		r->gpr[i] = 0x1111111111111111ull * (i % 15 + 1) + i;
	r->rip = 0xffffffff81234567ull;
	r->rflags = 0x246; /* IF ZF PF */
	r->seg[EMU_CS] = flat64_cs;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		if (i != EMU_CS)
			r->seg[i] = flat_ds;
	r->seg[EMU_GS].base = 0xffff888007a00000ull;
	r->tr = (struct emu_seg){ .selector = 0x40,
				  .base = 0xfffffe0000003000ull,
				  .limit = 0x4087,
				  .type = 0xb,
				  .present = true };
	r->cr0 = 0x80050033;
	r->cr2 = 0x7ffd1234;
	r->cr3 = 0x2a0c000;
	r->cr4 = 0x3506f0;
	r->efer = 0xd01;
	r->apic_base = 0xfee00900;
	r->idt_base = 0xfffffe0000000000ull;
	r->idt_limit = 0xfff;
	r->dr7 = 0x400;
	r->dr6 = 0xffff0ff0;
}

static bool has(const char *text, const char *needle)
{
	if (strstr(text, needle))
		return true;
	fprintf(stderr, "  missing '%s' in:\n%s", needle, text);
	return false;
}

static void test_long_mode_dump(void)
{
	struct x86_regs r;
	char text[4096];
	size_t n;

	long_mode(&r);
	n = regs_format(&r, 3, text, sizeof(text));
	CHECK_EQ(n, strlen(text));
	CHECK(has(text, "vCPU 3: runnable, long mode, CPL 0\n"));
	CHECK(has(text, "RAX=1111111111111111 RCX=2222222222222223"));
	CHECK(has(text, "RSP=5555555555555559"));
	CHECK(has(text, "R14=000000000000000d R15=1111111111111120\n"));
	CHECK(has(text, "RIP=ffffffff81234567 RFL=00000246 [--I--Z-P-]\n"));
	CHECK(has(text, "CS  =0010 0000000000000000 ffffffff type=b s=1 dpl=0 p=1 db=0 l=1\n"));
	CHECK(has(text, "GS  =0018 ffff888007a00000"));
	CHECK(has(text, "TR  =0040 fffffe0000003000 00004087"));
	CHECK(has(text, "IDT=     fffffe0000000000 00000fff\n"));
	CHECK(has(text, "CR0=0000000080050033 CR2=000000007ffd1234 CR3=0000000002a0c000"));
	CHECK(
	    has(text, "EFER=0000000000000d01 APIC_BASE=00000000fee00900 XCR0=0000000000000000\n"));
	CHECK(has(text, "DR6=00000000ffff0ff0 DR7=0000000000000400\n"));
	CHECK(has(text, "events: exception none, interrupt none, nmi none, shadow 0\n"));
}

static void test_modes(void)
{
	struct x86_regs r;

	memset(&r, 0, sizeof(r));
	CHECK(!strcmp(regs_mode(&r), "real"));
	r.cr0 = 1;
	CHECK(!strcmp(regs_mode(&r), "prot16"));
	r.seg[EMU_CS].db = true;
	CHECK(!strcmp(regs_mode(&r), "prot32"));
	r.rflags = 1u << 17;
	CHECK(!strcmp(regs_mode(&r), "vm86"));
	r.rflags = 2;
	r.efer = 0x500; /* LME | LMA */
	CHECK(!strcmp(regs_mode(&r), "compat"));
	r.seg[EMU_CS].l = true;
	CHECK(!strcmp(regs_mode(&r), "long"));
}

static void test_events_and_states(void)
{
	struct x86_regs r;
	char text[4096];

	long_mode(&r);
	r.seg[EMU_CS].dpl = 3;
	r.mp_state = X86_MP_HALTED;
	r.exception.pending = true;
	r.exception.vector = 14;
	r.exception.has_error_code = true;
	r.exception.error_code = 6;
	r.interrupt.injected = true;
	r.interrupt.vector = 0xec;
	r.nmi.pending = true;
	r.nmi.masked = true;
	r.shadow = 1;
	r.rflags = 0xcd5; /* OF DF CF ... */
	regs_format(&r, 0, text, sizeof(text));
	CHECK(has(text, "vCPU 0: halted, long mode, CPL 3\n"));
	CHECK(has(text, "RFL=00000cd5 [OD--SZAPC]\n"));
	CHECK(has(text,
		  "events: exception pending vector 14 error 0x6, interrupt injected vector 236, "
		  "nmi pending (masked), shadow 1\n"));
	r.mp_state = 77;
	regs_format(&r, 1, text, sizeof(text));
	CHECK(has(text, "vCPU 1: mp_state 77, long mode"));
}

static void test_truncation(void)
{
	struct x86_regs r;
	char full[4096], small[64];
	size_t n, m;

	long_mode(&r);
	n = regs_format(&r, 0, full, sizeof(full));
	CHECK(n > sizeof(small));
	memset(small, 'x', sizeof(small));
	m = regs_format(&r, 0, small, sizeof(small));
	CHECK_EQ(m, n); /* the length the whole dump needs */
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK(!strncmp(small, full, sizeof(small) - 1));
	CHECK_EQ(regs_format(&r, 0, NULL, 0), n);
}

int main(void)
{
	RUN_TEST(test_long_mode_dump);
	RUN_TEST(test_modes);
	RUN_TEST(test_events_and_states);
	RUN_TEST(test_truncation);
	TEST_EXIT();
}
