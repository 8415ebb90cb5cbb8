/*
 * The project's own bare-metal guests (32-bit, real-mode, 64-bit and ring-3 ones), compiled C, run
 * start to finish in the x86 emulator with no KVM at all: kvmbox's multiboot loader puts the ELF
 * and its boot information in RAM, the CPU starts as a multiboot loader leaves it, and every
 * instruction goes through emu_step, with a serial port and the debug-exit port as the only
 * devices. The guests check their own hand-off and print PASS; the test checks what they printed
 * and the status they exited with. The start of a CPU-emulator mode; and end-to-end coverage of the
 * emulator on real compiler output.
 */
#include <stdio.h>

#include "arch/x86/boot.h"
#include "arch/x86/emu/mmu.h"
#include "emu_fake.h"

#define GUEST_RAM (32u << 20)
#define MAX_STEPS 50000000u

struct machine {
	struct guest_mem gm;
	uint8_t *ram;
	char out[16384]; /* what the guest wrote to COM1 */
	unsigned out_len;
	bool exited;
	uint32_t exit_value;
	unsigned outs_0x80;	   /* writes to the POST port (pio_loop) */
	unsigned delivered;	   /* exceptions delivered through the guest's IDT */
	const struct emu_cpu *cpu; /* for the page walk */
	unsigned mmio;		   /* accesses outside RAM */
	unsigned user_ud;	   /* #UD given for what user code ran that is not emulated */
};

static struct machine m;

static void *m_pt(void *opaque, uint64_t gpa, unsigned len)
{
	(void)opaque;
	return guest_mem_ptr(&m.gm, gpa, len);
}

/*
 * Linear [la, la + len) to host memory, through the guest's page tables once CR0.PG is set (an
 * access may cross into a second page: copied in two parts). 0, EMU_MEM_FAULT or -EFAULT.
 */
static int m_access(uint64_t la, void *buf, unsigned len, unsigned access, bool write,
		    struct emu_pf *pf)
{
	const struct emu_cpu *c = m.cpu;
	struct emu_mmu mmu = { c->cr0, c->cr3, c->cr4, c->efer, c->rflags, 0, m_pt, NULL, NULL };
	uint8_t *p = buf;

	for (unsigned done = 0; done < len;) {
		uint64_t a = la + done, gpa = a;
		unsigned n = 4096 - (unsigned)(a & 4095);
		uint8_t *host;
		int ret;

		if (n > len - done)
			n = len - done;
		if (c->cr0 & EMU_CR0_PG) {
			ret = emu_mmu_translate(&mmu, a, access & ~EMU_ACC_PROBE, &gpa, pf);
			if (ret)
				return ret;
		}
		host = guest_mem_ptr(&m.gm, gpa, n);
		if (!host) {
			/* Unclaimed MMIO, as on kvmbox's bus: reads give 0, writes vanish. */
			if (!write && !(access & EMU_ACC_PROBE))
				memset(p + done, 0, n);
			m.mmio++;
			done += n;
			continue;
		}
		if (write)
			memcpy(host, p + done, n);
		else if (!(access & EMU_ACC_PROBE))
			memcpy(p + done, host, n);
		done += n;
	}
	return 0;
}

static int m_read(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
		  struct emu_pf *pf)
{
	(void)opaque;
	return m_access(la, dst, len, access, false, pf);
}

static int m_write(void *opaque, uint64_t la, const void *src, unsigned len, unsigned access,
		   struct emu_pf *pf)
{
	(void)opaque;
	return m_access(la, (void *)src, len, access, true, pf);
}

/* The emulator on one vCPU: a compare-and-exchange needs no atomicity beyond doing it at once. */
static int m_cmpxchg(void *opaque, uint64_t la, void *expected, const void *desired, unsigned len,
		     unsigned access, bool *swapped, struct emu_pf *pf)
{
	uint8_t cur[16];
	int ret;

	(void)opaque;
	ret = m_access(la, cur, len, access & ~EMU_ACC_WRITE, false, pf);
	if (ret)
		return ret;
	*swapped = !memcmp(cur, expected, len);
	if (!*swapped) {
		memcpy(expected, cur, len);
		return 0;
	}
	return m_access(la, (void *)desired, len, access, true, pf);
}

/* COM1 (transmit only, always ready), debug-exit at 0xf4, the POST port; the rest reads 0xff. */
static int m_pio(void *opaque, uint16_t port, void *data, unsigned len, bool write)
{
	uint8_t *b = data;

	(void)opaque;
	if (write) {
		if (port == 0x3f8 && m.out_len < sizeof(m.out) - 1)
			m.out[m.out_len++] = (char)b[0];
		if (port == 0xf4) {
			m.exited = true;
			m.exit_value = 0;
			for (unsigned i = 0; i < len; i++)
				m.exit_value |= (uint32_t)b[i] << (8 * i);
		}
		if (port == 0x80)
			m.outs_0x80++;
		return 0;
	}
	memset(data, port == 0x3fd ? 0x60 : 0xff, len); /* LSR: THRE and TEMT */
	return 0;
}

/* A CPU with extended leaves up to 0x80000008 and nothing in them (no RDPRU, say). */
static void m_cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)opaque;
	(void)subleaf;
	memset(out, 0, 4 * sizeof(out[0]));
	if (leaf == 0)
		out[0] = 1;
	else if (leaf == 0x80000000)
		out[0] = 0x80000008;
	else if (leaf == 0x80000001)
		out[3] = 1u << 29; /* LM */
}

static const struct emu_ops m_ops = {
	.read = m_read, .write = m_write, .cmpxchg = m_cmpxchg, .pio = m_pio, .cpuid = m_cpuid
};

/* Load $O/guests/NAME.elf with cmdline and run it until it writes debug-exit; true if it did. */
static bool run_guest(const char *name, const char *cmdline, uint64_t *steps_out)
{
	const char *o = getenv("O");
	char path[512];
	FILE *f;
	static uint8_t elf[4u << 20];
	size_t n;
	struct boot_config cfg = { .kernel_path = path, .cmdline = cmdline };
	struct boot_entry entry;
	struct emu_cpu c;
	uint64_t steps = 0;

	snprintf(path, sizeof(path), "%s/guests/%s.elf", o ? o : "build", name);
	f = fopen(path, "rb");
	if (!f) {
		/* Built by `make` with everything else: missing means the build is broken. */
		fprintf(stderr, "  cannot open %s\n", path);
		CHECK(!"guest ELF missing");
		return false;
	}
	n = fread(elf, 1, sizeof(elf), f);
	fclose(f);
	memset(&m, 0, sizeof(m));
	m.ram = aligned_alloc(4096, GUEST_RAM);
	CHECK(m.ram != NULL);
	if (!m.ram)
		return false;
	memset(m.ram, 0, GUEST_RAM);
	CHECK_EQ(guest_mem_add(&m.gm, 0, GUEST_RAM, m.ram), 0);
	CHECK_EQ(boot_load_buffer(&m.gm, &cfg, elf, n, NULL, 0, &entry), 0);
	CHECK_EQ(entry.mode, BOOT_MODE_MULTIBOOT);

	/* What a multiboot loader leaves: 32-bit protected mode, flat, paging and interrupts off.
	 */
	c = cpu32();
	c.seg[EMU_CS].selector = 0x10;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		if (i != EMU_CS)
			c.seg[i].selector = 0x18;
	c.cr0 = EMU_CR0_PE;
	c.rip = entry.rip;
	c.gpr[EMU_RAX] = entry.rax;
	c.gpr[EMU_RBX] = entry.rbx;
	c.rflags = 0x2;
	m.cpu = &c;
	while (!m.exited && steps < MAX_STEPS) {
		struct emu_insn insn;
		struct emu_exception exc;
		int ret = emu_step(&c, NULL, 0, &m_ops, NULL, &insn, &exc);

		steps++;
		if (ret == -ENOTSUP && c.cpl > 0) {
			/* As the KVM glue does: what user code runs that nobody can finish is #UD.
			 */
			memset(&exc, 0, sizeof(exc));
			exc.valid = true;
			exc.vector = EMU_X_UD;
			ret = 0;
			m.user_ud++;
		}
		if (!ret && exc.valid) {
			/* The exception goes through the guest's IDT, as the CPU delivers it. */
			struct emu_exception nested;

			ret =
			    emu_deliver(&c, &exc, insn.op == EMU_OP_INT3 || insn.op == EMU_OP_INTO,
					&m_ops, NULL, &nested);
			if (!ret && nested.valid)
				ret = -ELOOP; /* a fault while delivering: a double fault */
			m.delivered++;
		}
		if (ret) {
			fprintf(stderr, "  %s: stopped at rip 0x%llx after %llu steps: %d (%s)\n",
				name, (unsigned long long)c.rip, (unsigned long long)steps, ret,
				emu_op_name(insn.op));
			break;
		}
	}
	m.out[m.out_len] = 0;
	if (steps_out)
		*steps_out = steps;
	free(m.ram);
	return m.exited;
}

static void test_hello32(void)
{
	uint64_t steps = 0;

	CHECK(run_guest("hello32", "exit=5 hello=world", &steps));
	CHECK_EQ(m.exit_value, 5);
	CHECK(strstr(m.out, "hello32: eax=0x2badb002 ok") != NULL);
	CHECK(strstr(m.out, "hello from multiboot") != NULL);
	CHECK(strstr(m.out, "hello32.elf exit=5 hello=world\"") != NULL); /* path first, as GRUB */
	CHECK(strstr(m.out, "PASS hello32") != NULL);
	CHECK(strstr(m.out, "FAIL") == NULL);
	if (!strstr(m.out, "PASS hello32"))
		fprintf(stderr, "  guest printed:\n%s\n", m.out);
	printf("  hello32: %llu instructions emulated\n", (unsigned long long)steps);
}

static void test_pio_loop(void)
{
	CHECK(run_guest("pio_loop", "n=1000", NULL));
	CHECK_EQ(m.exit_value, 0x2f);
	CHECK_EQ(m.outs_0x80, 1000);
	CHECK(strstr(m.out, "PASS pio_loop") != NULL);
}

/* intr32: its own IDT; int3, INT n through interrupt and trap gates, INTO, #UD, IRET. */
static void test_intr32(void)
{
	uint64_t steps = 0;

	CHECK(run_guest("intr32", "", &steps));
	CHECK_EQ(m.exit_value, 0x2a);
	CHECK(strstr(m.out, "PASS intr32\n") || strstr(m.out, "PASS intr32\r"));
	CHECK(strstr(m.out, "PASS intr32.rdpru-ud") != NULL);
	CHECK(strstr(m.out, "FAIL") == NULL);
	CHECK_EQ(m.delivered,
		 12); /* 11 int3 and the #UD (INT n and INTO go through the gate code) */
	if (!strstr(m.out, "PASS intr32.repeat"))
		fprintf(stderr, "  guest printed:\n%s\n", m.out);
	printf("  intr32: %llu instructions, %u exceptions delivered\n", (unsigned long long)steps,
	       m.delivered);
}

/*
 * The 64-bit and real-mode guests: each switches modes itself (MOV CR0/CR3/CR4, WRMSR EFER, far
 * jumps), and checks its own results. What each must print, and its own exit value.
 */
static void test_mode_switching_guests(void)
{
	static const struct {
		const char *name;
		uint32_t exit_value;
		const char *lines[3];
	} guests[] = {
		{ "realmode", 0x21, { "PASS realmode" } },
		{ "long64", 0x22, { "long mode: ok", "PASS long64" } },
		{ "int3", 0x23, { "PASS popcnt", "PASS cmpxchg16b", "PASS int3" } },
		{ "user3",
		  0x26,
		  { "user3: entering ring 3", "@T user3.crc32_mmio=6", "PASS user3" } },
	};

	for (unsigned i = 0; i < sizeof(guests) / sizeof(guests[0]); i++) {
		uint64_t steps = 0;
		bool ok = run_guest(guests[i].name, "", &steps);

		CHECK(ok);
		CHECK_EQ(m.exit_value, guests[i].exit_value);
		for (unsigned k = 0; k < 3 && guests[i].lines[k]; k++)
			CHECK(strstr(m.out, guests[i].lines[k]) != NULL);
		CHECK(strstr(m.out, "FAIL") == NULL);
		if (!ok || m.exit_value != guests[i].exit_value)
			fprintf(stderr, "  %s printed:\n%s\n", guests[i].name, m.out);
		printf("  %s: %llu instructions, %u exceptions delivered\n", guests[i].name,
		       (unsigned long long)steps, m.delivered);
	}
	/* user3's crc32 is not emulated: it became the #UD the guest expects. */
	CHECK_EQ(m.user_ud, 1);
}

/* Try a guest and show where it stops (development aid, not a test). */
static void probe(const char *name, const char *cmdline)
{
	uint64_t steps = 0;
	bool ok = run_guest(name, cmdline, &steps);

	printf("  probe %s: exited=%d value=0x%x steps=%llu\n%s\n", name, ok, m.exit_value,
	       (unsigned long long)steps, m.out);
}

int main(void)
{
	if (getenv("PROBE")) {
		probe(getenv("PROBE"), getenv("PROBE_CMDLINE") ? getenv("PROBE_CMDLINE") : "");
		return 0;
	}
	RUN_TEST(test_hello32);
	RUN_TEST(test_pio_loop);
	RUN_TEST(test_intr32);
	RUN_TEST(test_mode_switching_guests);
	free(fake.mem);
	TEST_EXIT();
}
