/*
 * Guest user-mode probe of extended-state isolation (tests/integration/test_guest_processes.sh).
 * Freestanding (no libc, which would itself pick AVX code from CPUID): it reads what user code
 * sees (CPUID.1:ECX.OSXSAVE, XCR0) and checks what the guest kernel promises about it.
 * - XCR0 enables YMM: two processes on one CPU, one keeping all-ones in YMM1's upper half across
 *   sched_yield while the other zeroes YMM1; the upper half must survive every switch.
 * - XCR0 does not: an AVX instruction must kill its process with SIGILL, as on a CPU without AVX.
 * Prints "@T xstate.KEY=VALUE" lines.
 */
#define SYS_write 1
#define SYS_sched_yield 24
#define SYS_fork 57
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_sched_setaffinity 203
#define SYS_exit_group 231
#define ROUNDS 2000

static long sys(long n, long a, long b, long c, long d)
{
	register long r10 asm("r10") = d;
	long r;

	asm volatile("syscall"
		     : "=a"(r)
		     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
		     : "rcx", "r11", "memory");
	return r;
}

static void put(const char *key, unsigned long v)
{
	char buf[96];
	const char *pre = "@T xstate.";
	int n = 0, len = 0;
	unsigned long t = v;

	while (*pre)
		buf[n++] = *pre++;
	while (*key)
		buf[n++] = *key++;
	buf[n++] = '=';
	do
		len++;
	while (t /= 10);
	for (int i = len - 1; i >= 0; i--, v /= 10)
		buf[n + i] = (char)('0' + v % 10);
	n += len;
	buf[n++] = '\n';
	sys(SYS_write, 1, (long)buf, n, 0);
}

static void pin_cpu0(void)
{
	unsigned long mask = 1;

	sys(SYS_sched_setaffinity, 0, sizeof mask, (long)&mask, 0);
}

/* Child: zero YMM1 (all 256 bits) again and again on the same CPU as the checker. */
static void zeroer(void)
{
	for (int i = 0; i < ROUNDS; i++) {
		asm volatile("vpxor %%ymm1, %%ymm1, %%ymm1" ::: "xmm1");
		sys(SYS_sched_yield, 0, 0, 0, 0);
	}
	sys(SYS_exit, 0, 0, 0, 0);
}

static unsigned long ymm_lost(void)
{
	unsigned long lost = 0;

	for (int i = 0; i < ROUNDS; i++) {
		unsigned long upper;

		asm volatile("vpcmpeqd %%ymm1, %%ymm1, %%ymm1" ::: "xmm1");
		sys(SYS_sched_yield, 0, 0, 0, 0);
		asm volatile("vextracti128 $1, %%ymm1, %%xmm2\n\tmovq %%xmm2, %0"
			     : "=r"(upper)
			     :
			     : "xmm2");
		lost += upper != ~0ul;
	}
	return lost;
}

void _start(void)
{
	unsigned a = 1, b, c = 0, d;
	unsigned long xcr0 = 0;
	int status = 0;
	long pid;

	asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	put("osxsave", (c >> 27) & 1);
	if (c & (1u << 27)) {
		unsigned lo, hi;

		asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = (unsigned long)hi << 32 | lo;
	}
	put("xcr0", xcr0);
	pin_cpu0();
	pid = sys(SYS_fork, 0, 0, 0, 0);
	if (pid == 0) {
		if (xcr0 & 4)
			zeroer();
		/* AVX disabled: this must raise #UD (SIGILL) and never reach the exit. */
		asm volatile("vpxor %%ymm1, %%ymm1, %%ymm1" ::: "xmm1");
		sys(SYS_exit, 0, 0, 0, 0);
	}
	if (pid < 0) {
		put("fork_error", (unsigned long)-pid);
		sys(SYS_exit_group, 1, 0, 0, 0);
	}
	if (xcr0 & 4)
		put("ymm_lost", ymm_lost());
	sys(SYS_wait4, pid, (long)&status, 0, 0);
	/* Wait status: low 7 bits are the terminating signal (0 = exited). */
	put("child_signal", (unsigned long)(status & 0x7f));
	put("done", 1);
	sys(SYS_exit_group, 0, 0, 0, 0);
}
