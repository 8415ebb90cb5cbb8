/* Formatting of the KVM-free register file (src/arch/x86/regs.h). */
#include "arch/x86/regs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define RFLAGS_VM (1u << 17)
#define CR0_PE 1u
#define EFER_LMA (1u << 10)

const char *regs_mode(const struct x86_regs *r)
{
	const struct emu_seg *cs = &r->seg[EMU_CS];

	if (!(r->cr0 & CR0_PE))
		return "real";
	if (r->efer & EFER_LMA)
		return cs->l ? "long" : "compat";
	if (r->rflags & RFLAGS_VM)
		return "vm86";
	return cs->db ? "prot32" : "prot16";
}

static const char *regs_mp_name(uint32_t s)
{
	static const char *const names[] = { "runnable", "uninitialized", "init-received", "halted",
					     "sipi-received" };

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : NULL;
}

/* Appends to a bounded buffer; the total length keeps counting past the end. */
struct regs_out {
	char *buf;
	size_t len, total;
};

static void __attribute__((format(printf, 2, 3))) regs_put(struct regs_out *o, const char *fmt, ...)
{
	size_t room = o->total < o->len ? o->len - o->total : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->total : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->total += (size_t)n;
}

static void regs_put_seg(struct regs_out *o, const char *name, const struct emu_seg *s)
{
	regs_put(o, "%-4s=%04x %016" PRIx64 " %08x type=%x s=%u dpl=%u p=%u db=%u l=%u%s\n", name,
		 s->selector, s->base, s->limit, s->type, s->s, s->dpl, s->present, s->db, s->l,
		 s->unusable ? " unusable" : "");
}

size_t regs_format(const struct x86_regs *r, unsigned index, char *buf, size_t len)
{
	static const char *const gpr_names[EMU_NR_GPRS] = {
		"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
		"R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15",
	};
	static const char *const seg_names[EMU_NR_SREGS] = { "ES", "CS", "SS", "DS", "FS", "GS" };
	/* RFLAGS bits that have a letter, low to high, as gdb and QEMU print them. */
	static const struct {
		unsigned bit;
		char c;
	} flags[] = { { 11, 'O' }, { 10, 'D' }, { 9, 'I' }, { 8, 'T' }, { 7, 'S' },
		      { 6, 'Z' },  { 4, 'A' },	{ 2, 'P' }, { 0, 'C' } };
	struct regs_out o = { buf, len, 0 };
	const char *mp = regs_mp_name(r->mp_state);
	char fl[sizeof(flags) / sizeof(flags[0]) + 1];

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		fl[i] = (r->rflags >> flags[i].bit) & 1 ? flags[i].c : '-';
	fl[sizeof(fl) - 1] = '\0';
	if (mp)
		regs_put(&o, "vCPU %u: %s, %s mode, CPL %u\n", index, mp, regs_mode(r),
			 r->seg[EMU_CS].dpl);
	else
		regs_put(&o, "vCPU %u: mp_state %u, %s mode, CPL %u\n", index, r->mp_state,
			 regs_mode(r), r->seg[EMU_CS].dpl);
	for (unsigned i = 0; i < EMU_NR_GPRS; i++)
		regs_put(&o, "%-3s=%016" PRIx64 "%s", gpr_names[i], r->gpr[i],
			 i % 4 == 3 ? "\n" : " ");
	regs_put(&o, "RIP=%016" PRIx64 " RFL=%08" PRIx64 " [%s]\n", r->rip, r->rflags, fl);
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		regs_put_seg(&o, seg_names[i], &r->seg[i]);
	regs_put_seg(&o, "LDT", &r->ldtr);
	regs_put_seg(&o, "TR", &r->tr);
	regs_put(&o, "GDT=     %016" PRIx64 " %08x\nIDT=     %016" PRIx64 " %08x\n", r->gdt_base,
		 r->gdt_limit, r->idt_base, r->idt_limit);
	regs_put(&o,
		 "CR0=%016" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%016" PRIx64 "\n"
		 "CR8=%016" PRIx64 " EFER=%016" PRIx64 " APIC_BASE=%016" PRIx64 " XCR0=%016" PRIx64
		 "\n",
		 r->cr0, r->cr2, r->cr3, r->cr4, r->cr8, r->efer, r->apic_base, r->xcr0);
	regs_put(&o,
		 "DR0=%016" PRIx64 " DR1=%016" PRIx64 " DR2=%016" PRIx64 " DR3=%016" PRIx64 "\n"
		 "DR6=%016" PRIx64 " DR7=%016" PRIx64 "\n",
		 r->dr[0], r->dr[1], r->dr[2], r->dr[3], r->dr6, r->dr7);
	regs_put(&o, "events: exception %s",
		 r->exception.injected	? "injected"
		 : r->exception.pending ? "pending"
					: "none");
	if (r->exception.injected || r->exception.pending) {
		regs_put(&o, " vector %u", r->exception.vector);
		if (r->exception.has_error_code)
			regs_put(&o, " error %#x", r->exception.error_code);
	}
	regs_put(&o, ", interrupt %s", r->interrupt.injected ? "injected" : "none");
	if (r->interrupt.injected)
		regs_put(&o, " vector %u%s", r->interrupt.vector,
			 r->interrupt.soft ? " (soft)" : "");
	regs_put(&o, ", nmi %s%s, shadow %u\n",
		 r->nmi.injected  ? "injected"
		 : r->nmi.pending ? "pending"
				  : "none",
		 r->nmi.masked ? " (masked)" : "", r->shadow);
	return o.total;
}

void regs_log(const struct x86_regs *r, unsigned index)
{
	char text[2048];
	char *line, *save;

	regs_format(r, index, text, sizeof(text));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_error("  %s", line);
}
