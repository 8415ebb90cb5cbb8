/* int3: in long mode, installs an IDT and checks int3 (#BP delivery and iretq), popcnt and
 * cmpxchg16b: instructions that some KVM backends cannot run for the guest, so that kvmbox emulates
 * them. */
#include "idt64.h"

#define RFLAGS_CF 0x001ull
#define RFLAGS_PF 0x004ull
#define RFLAGS_AF 0x010ull
#define RFLAGS_ZF 0x040ull
#define RFLAGS_SF 0x080ull
#define RFLAGS_OF 0x800ull
#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)
#define RFLAGS_FIXED 0x002ull

struct u128 {
	uint64_t lo, hi;
} __attribute__((aligned(16)));

extern const char int3_after[];

static volatile uint64_t bp_count, bp_rip, bp_rsp, bp_cs;
static const char *current = "setup";
static int failures;

static void check(int ok, const char *name, const char *what)
{
	if (!ok) {
		guest_printf("  %s: %s: wrong\n", name, what);
		failures++;
	}
}

void exc_handler(struct isr_frame *f)
{
	if (f->vector == 3) {
		bp_count++;
		bp_rip = f->rip;
		bp_rsp = f->rsp;
		bp_cs = f->cs;
		f->rcx = 0xc0ffee; /* visible after iretq only if the frame round-trips */
		if (bp_count == 1)
			guest_printf("int3 handled, rip=0x%llx\n", (unsigned long long)f->rip);
		return;
	}
	guest_printf("exception %llu, error 0x%llx at rip=0x%llx\n", (unsigned long long)f->vector,
		     (unsigned long long)f->error, (unsigned long long)f->rip);
	if (current[0] != 's') /* not during "setup" */
		guest_printf("FAIL %s: unexpected exception %llu\n", current,
			     (unsigned long long)f->vector);
	guest_fail("int3", "unexpected exception %llu in the %s test",
		   (unsigned long long)f->vector, current);
}

static int test_int3(void)
{
	uint64_t rbx = 0x1122334455667788ull, rcx = 0, rsp_before, rsp_after;
	int f0 = failures;
	current = "int3-bp";
	__asm__ volatile(
	    "mov %%rsp, %[before]\n\t"
	    "int3\n\t"
	    ".globl int3_after\n"
	    "int3_after:\n\t"
	    "mov %%rsp, %[after]"
	    : "+b"(rbx), "+c"(rcx), [before] "=&r"(rsp_before), [after] "=&r"(rsp_after)::"memory");
	guest_printf(
	    "after int3: handler saw rip=0x%llx (want 0x%llx), rsp=0x%llx cs=0x%llx, rbx=0x%llx "
	    "rcx=0x%llx\n",
	    (unsigned long long)bp_rip, (unsigned long long)(uintptr_t)int3_after,
	    (unsigned long long)bp_rsp, (unsigned long long)bp_cs, (unsigned long long)rbx,
	    (unsigned long long)rcx);
	check(bp_count == 1, "int3", "handler ran once");
	check(bp_rip == (uintptr_t)int3_after, "int3", "pushed rip is the next instruction");
	check(bp_rsp == rsp_before, "int3", "pushed rsp");
	check(bp_cs == SEL_CODE64, "int3", "pushed cs");
	check(rsp_after == rsp_before, "int3", "rsp after iretq");
	check(rbx == 0x1122334455667788ull, "int3", "rbx preserved");
	check(rcx == 0xc0ffee, "int3", "rcx from the handler's frame");
	for (int i = 0; i < 10; i++)
		__asm__ volatile("int3" ::: "memory");
	check(bp_count == 11, "int3", "11 breakpoints counted");
	return failures == f0;
}

static uint64_t popcount_ref(uint64_t v)
{
	uint64_t n = 0;
	for (; v; v &= v - 1)
		n++;
	return n;
}

/* Global and used: the asm below names them for RIP-relative operands. */
volatile uint64_t pc_mem __attribute__((used));

static int test_popcnt(void)
{
	static const uint64_t vals[] = {0,
					1,
					0x8000000000000001ull,
					0xffffffffffffffffull,
					0x0123456789abcdefull,
					0xf0f0f0f0f0f0f0f0ull,
					0x00000000ffff0000ull,
					0xffff00000000ffffull};
	int f0 = failures;
	current = "popcnt";
	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t v = vals[i], r64, r32, r16, rr, f64, f32, f16;
		uint64_t fin = RFLAGS_FIXED | RFLAGS_ARITH; /* popcnt must clear all but ZF */
		const uint64_t *p = &vals[i];
		pc_mem = v;
		/* 64-bit from memory, base register */
		__asm__ volatile("push %[fin]; popfq; popcnt (%[p]), %[r]; pushfq; pop %[f]"
				 : [r] "=&r"(r64), [f] "=&r"(f64)
				 : [p] "r"(p), [fin] "r"(fin)
				 : "cc", "memory");
		/* 32-bit from memory, RIP-relative; must zero bits 63:32 of the destination */
		r32 = ~0ull;
		__asm__ volatile("push %[fin]; popfq; popcnt pc_mem(%%rip), %k[r]; pushfq; pop %[f]"
				 : [r] "+r"(r32), [f] "=&r"(f32)
				 : [fin] "r"(fin)
				 : "cc", "memory");
		/* 16-bit from memory with base + index*8 + displacement; keeps bits 63:16 */
		r16 = 0x5555aaaa5555aaaaull;
		__asm__ volatile(
		    "push %[fin]; popfq; popcnt 8(%[b], %[ix], 8), %w[r]; pushfq; pop %[f]"
		    : [r] "+r"(r16), [f] "=&r"(f16)
		    : [b] "r"((const char *)p - 16), [ix] "r"(1ull), [fin] "r"(fin)
		    : "cc", "memory");
		/* register to register */
		__asm__ volatile("popcnt %[v], %[r]" : [r] "=r"(rr) : [v] "r"(v) : "cc");

		uint64_t want64 = popcount_ref(v), want32 = popcount_ref(v & 0xffffffffu);
		uint64_t want16 = (0x5555aaaa5555aaaaull & ~0xffffull) | popcount_ref(v & 0xffffu);
		guest_printf("popcnt 0x%016llx: m64=%llu m32=%llu m16=0x%llx r64=%llu\n",
			     (unsigned long long)v, (unsigned long long)r64,
			     (unsigned long long)r32, (unsigned long long)r16,
			     (unsigned long long)rr);
		check(r64 == want64, "popcnt", "64-bit memory operand");
		check(r32 == want32, "popcnt", "32-bit memory operand (RIP-relative)");
		check(r16 == want16, "popcnt", "16-bit memory operand (SIB)");
		check(rr == want64, "popcnt", "register operand");
		check((f64 & RFLAGS_ARITH) == (v ? 0 : RFLAGS_ZF), "popcnt", "flags (64-bit)");
		check((f32 & RFLAGS_ARITH) == ((uint32_t)v ? 0 : RFLAGS_ZF), "popcnt",
		      "flags (32-bit)");
		check((f16 & RFLAGS_ARITH) == ((uint16_t)v ? 0 : RFLAGS_ZF), "popcnt",
		      "flags (16-bit)");
	}
	return failures == f0;
}

struct u128 cx_mem __attribute__((used));

/* One cmpxchg16b on *m with the given flags going in; returns the flags coming out. */
static uint64_t cx16(struct u128 *m, uint64_t *rax, uint64_t *rdx, uint64_t rbx, uint64_t rcx,
		     uint64_t fin, int locked)
{
	uint64_t a = *rax, d = *rdx, fout;
	if (locked)
		__asm__ volatile("push %[fin]; popfq; lock cmpxchg16b (%[m]); pushfq; pop %[f]"
				 : "+a"(a), "+d"(d), [f] "=&r"(fout)
				 : "b"(rbx), "c"(rcx), [m] "r"(m), [fin] "r"(fin)
				 : "cc", "memory");
	else
		__asm__ volatile("push %[fin]; popfq; cmpxchg16b cx_mem(%%rip); pushfq; pop %[f]"
				 : "+a"(a), "+d"(d), [f] "=&r"(fout)
				 : "b"(rbx), "c"(rcx), [fin] "r"(fin)
				 : "cc", "memory");
	*rax = a;
	*rdx = d;
	return fout;
}

static int test_cmpxchg16b(void)
{
	static const struct {
		uint64_t mem_lo, mem_hi, rax, rdx;
		int locked;
	} cases[] = {
	    {0x1111111111111111ull, 0x2222222222222222ull, 0x1111111111111111ull,
	     0x2222222222222222ull, 1},
	    {0x1111111111111111ull, 0x2222222222222222ull, 0x1111111111111111ull,
	     0x2222222222222223ull, 1},
	    {0x1111111111111111ull, 0x2222222222222222ull, 0x0111111111111111ull,
	     0x2222222222222222ull, 1},
	    {0xfedcba9876543210ull, 0x0123456789abcdefull, 0xfedcba9876543210ull,
	     0x0123456789abcdefull, 0},
	    {0xfedcba9876543210ull, 0x0123456789abcdefull, 0, 0, 0},
	};
	const uint64_t rbx = 0x3333333333333333ull, rcx = 0x4444444444444444ull;
	int f0 = failures;
	current = "cmpxchg16b";
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int equal = cases[i].rax == cases[i].mem_lo && cases[i].rdx == cases[i].mem_hi;
		/* cmpxchg16b writes only ZF: go in with every other arithmetic flag set, ZF
		 * opposite. */
		uint64_t fin = RFLAGS_FIXED | (RFLAGS_ARITH & ~RFLAGS_ZF) | (equal ? 0 : RFLAGS_ZF);
		uint64_t rax = cases[i].rax, rdx = cases[i].rdx;
		cx_mem.lo = cases[i].mem_lo;
		cx_mem.hi = cases[i].mem_hi;
		uint64_t fout = cx16(&cx_mem, &rax, &rdx, rbx, rcx, fin, cases[i].locked);
		guest_printf(
		    "cmpxchg16b%s: %s, zf=%u mem=%016llx:%016llx rdx:rax=%016llx:%016llx\n",
		    cases[i].locked ? " (lock)" : "", equal ? "equal" : "differs",
		    (fout & RFLAGS_ZF) ? 1 : 0, (unsigned long long)cx_mem.hi,
		    (unsigned long long)cx_mem.lo, (unsigned long long)rdx,
		    (unsigned long long)rax);
		uint64_t want_lo = equal ? rbx : cases[i].mem_lo,
			 want_hi = equal ? rcx : cases[i].mem_hi;
		uint64_t want_rax = equal ? cases[i].rax : cases[i].mem_lo;
		uint64_t want_rdx = equal ? cases[i].rdx : cases[i].mem_hi;
		check(cx_mem.lo == want_lo && cx_mem.hi == want_hi, "cmpxchg16b", "memory");
		check(rax == want_rax && rdx == want_rdx, "cmpxchg16b", "rdx:rax");
		check((fout & RFLAGS_ARITH) ==
			  ((fin & ~RFLAGS_ZF & RFLAGS_ARITH) | (equal ? RFLAGS_ZF : 0)),
		      "cmpxchg16b", "flags");
	}
	return failures == f0;
}

void guest_main(uint32_t magic, uint32_t mbi)
{
	(void)mbi;
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("int3", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	idt64_install();
	uint32_t a, b, c, d;
	cpuid(1, &a, &b, &c, &d);
	guest_printf("long mode: idt installed; cpuid.1:ecx cx16=%u popcnt=%u\n", (c >> 13) & 1,
		     (c >> 23) & 1);

	int ok_bp = test_int3();
	guest_printf("%s int3-bp\n", ok_bp ? "PASS" : "FAIL");
	int ok_pc = test_popcnt();
	guest_printf("%s popcnt\n", ok_pc ? "PASS" : "FAIL");
	int ok_cx = test_cmpxchg16b();
	guest_printf("%s cmpxchg16b\n", ok_cx ? "PASS" : "FAIL");
	current = "setup";

	if (!(ok_bp && ok_pc && ok_cx))
		guest_fail("int3", "%s%s%s failed", ok_bp ? "" : "int3 ", ok_pc ? "" : "popcnt ",
			   ok_cx ? "" : "cmpxchg16b");
	guest_printf("PASS int3\n");
	guest_exit(GUEST_EXIT_INT3);
}
