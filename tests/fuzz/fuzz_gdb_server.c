/*
 * libFuzzer target: a gdb client's byte stream into the gdb command engine (gdb_server_feed) with a
 * fake target of 2 to 4 vCPUs and 64 KiB of memory in an exactly-sized buffer (ASan reports any
 * access outside it). Input: byte 0 picks the vCPU count, byte 1 seeds the choices the target
 * makes (how the stream is cut into feeds, how and where it stops, refused resumes); the rest is
 * the client's bytes, fed mostly a packet at a time. After a feed a running target is usually
 * stopped (or exits), so the session goes on. Checked: every reply is a well-framed packet or an
 * ack, the target is called only while stopped and only with vCPUs that exist, resumes always run
 * some vCPU, register writes keep the registers gdb may not change, and the server's idea of
 * running matches the target's.
 */
#include "gdb/gdb_packet.h"
#include "gdb/gdb_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CPUS 4
#define MEM_BASE 0x100000ull
#define MEM_SIZE 0x10000u

struct fuzz_target {
	unsigned ncpus;
	bool running, closed;
	uint32_t rng;
	struct x86_regs regs[MAX_CPUS];
	uint8_t *mem;
};

static struct fuzz_target t;

static uint32_t fuzz_rand(void)
{
	t.rng = t.rng * 1103515245u + 12345u;
	return t.rng >> 16;
}

static void fuzz_check_cpu(unsigned cpu)
{
	if (cpu >= t.ncpus || t.running)
		abort();
}

static unsigned fuzz_ncpus(void *opaque)
{
	return t.ncpus;
}

static int fuzz_get_regs(void *opaque, unsigned cpu, struct x86_regs *r)
{
	fuzz_check_cpu(cpu);
	*r = t.regs[cpu];
	return 0;
}

static int fuzz_set_regs(void *opaque, unsigned cpu, const struct x86_regs *r)
{
	const struct x86_regs *o = &t.regs[cpu];

	fuzz_check_cpu(cpu);
	/* Selectors, control registers and EFER are read-only through gdb. */
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		if (r->seg[i].selector != o->seg[i].selector)
			abort();
	if (r->cr0 != o->cr0 || r->cr2 != o->cr2 || r->cr3 != o->cr3 || r->cr4 != o->cr4 ||
	    r->cr8 != o->cr8 || r->efer != o->efer)
		abort();
	/* No reserved bits, canonical bases. */
	if ((r->rflags & ~0x3f7fd7ull) || !(r->rflags & 2) || (r->fpu.mxcsr & ~0xffffu))
		abort();
	for (unsigned i = EMU_FS; i <= EMU_GS; i++)
		if ((uint64_t)((int64_t)(r->seg[i].base << 16) >> 16) != r->seg[i].base)
			abort();
	t.regs[cpu] = *r;
	return 0;
}

/* The readable bytes at addr: short at the end of the 64 KiB, none outside it. */
static size_t fuzz_span(uint64_t addr, size_t len)
{
	uint64_t room;

	if (addr < MEM_BASE || addr - MEM_BASE >= MEM_SIZE)
		return 0;
	room = MEM_SIZE - (addr - MEM_BASE);
	return len < room ? len : (size_t)room;
}

static ssize_t fuzz_read_mem(void *opaque, unsigned cpu, uint64_t addr, void *buf, size_t len,
			     bool phys)
{
	size_t n = fuzz_span(addr, len);

	fuzz_check_cpu(cpu);
	if (len == 0 || len > GDB_PACKET_MAX / 2)
		abort(); /* a reply's hex must fit a packet */
	if (n)
		memcpy(buf, t.mem + (addr - MEM_BASE), n);
	memset((uint8_t *)buf + n, 0xcc, len - n); /* what was not read */
	return (ssize_t)n;
}

static ssize_t fuzz_write_mem(void *opaque, unsigned cpu, uint64_t addr, const void *buf,
			      size_t len, bool phys)
{
	size_t n = fuzz_span(addr, len);

	fuzz_check_cpu(cpu);
	if (len == 0 || len > GDB_PACKET_MAX / 2)
		abort();
	if (n)
		memcpy(t.mem + (addr - MEM_BASE), buf, n);
	return (ssize_t)n;
}

static int fuzz_breakpoint(void *opaque, unsigned cpu, bool insert, int type, uint64_t addr,
			   uint64_t len)
{
	static const int answers[] = { 0, 0, 0, -ENOSPC, -ENOTSUP, -EINVAL };

	fuzz_check_cpu(cpu);
	if (type < GDB_BP_SW || type > GDB_WP_ACCESS)
		abort();
	return answers[fuzz_rand() % 6];
}

static int fuzz_resume(void *opaque, const uint8_t *actions)
{
	bool any = false;

	if (t.running)
		abort();
	for (unsigned i = 0; i < t.ncpus; i++) {
		if (actions[i] > GDB_ACT_STEP)
			abort();
		any |= actions[i] != GDB_ACT_HOLD;
	}
	if (!any)
		abort(); /* no stop would ever come */
	if (fuzz_rand() % 16 == 0)
		return -EBUSY;
	t.running = true;
	return 0;
}

static void fuzz_interrupt(void *opaque)
{
	if (!t.running)
		abort();
}

static void fuzz_detach(void *opaque)
{
	if (t.running || t.closed)
		abort();
	t.closed = true;
}

static void fuzz_kill(void *opaque)
{
	fuzz_detach(opaque);
}

static int fuzz_monitor(void *opaque, const char *cmd, char *out, size_t cap)
{
	if (t.running || strlen(cmd) >= 256)
		abort();
	if (!strcmp(cmd, "big")) {
		memset(out, 'x', cap); /* not terminated: the server must cope */
		return 0;
	}
	if (!strcmp(cmd, "regs")) {
		snprintf(out, cap, "rip %llx\n", (unsigned long long)t.regs[0].rip);
		return 0;
	}
	if (!strcmp(cmd, "fail"))
		return -EIO;
	snprintf(out, cap, "unknown command: %s\n", cmd);
	return -ENOENT;
}

static void fuzz_describe(void *opaque, unsigned cpu, char *out, size_t cap)
{
	fuzz_check_cpu(cpu);
	snprintf(out, cap, "vCPU %u running long mode with a long description %s", cpu,
		 "padding padding padding padding padding");
}

static int fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Everything the server sends is '+', '-' or one whole packet with a right checksum. */
static void fuzz_send(void *opaque, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t sum = 0;
	size_t payload = 0;
	int hi, lo;

	if (len == 1 && (p[0] == '+' || p[0] == '-'))
		return;
	if (len < 4 || p[0] != '$' || p[len - 3] != '#')
		abort();
	for (size_t i = 1; i < len - 3; i++) {
		if (p[i] == '#' || p[i] == '$' || p[i] == '*')
			abort(); /* must have been escaped */
		sum = (uint8_t)(sum + p[i]);
		if (p[i] == '}') {
			if (++i >= len - 3)
				abort();
			sum = (uint8_t)(sum + p[i]);
		}
		payload++;
	}
	hi = fuzz_hex((char)p[len - 2]);
	lo = fuzz_hex((char)p[len - 1]);
	if (hi < 0 || lo < 0 || (uint8_t)(hi << 4 | lo) != sum || payload > GDB_PACKET_MAX)
		abort();
}

static const struct gdb_target_ops fuzz_ops = {
	.ncpus = fuzz_ncpus,
	.get_regs = fuzz_get_regs,
	.set_regs = fuzz_set_regs,
	.read_mem = fuzz_read_mem,
	.write_mem = fuzz_write_mem,
	.breakpoint = fuzz_breakpoint,
	.resume = fuzz_resume,
	.interrupt = fuzz_interrupt,
	.detach = fuzz_detach,
	.kill = fuzz_kill,
	.monitor = fuzz_monitor,
	.describe = fuzz_describe,
	.send = fuzz_send,
};

static void fuzz_regs_init(struct x86_regs *r, unsigned cpu)
{
	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < EMU_NR_GPRS; i++)
		r->gpr[i] = 0x1111111111111111ull * (i % 15 + 1) + cpu;
	r->rip = 0xffffffff81000000ull + cpu;
	r->rflags = 0x246;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		r->seg[i].selector = i == EMU_CS ? 0x10 : 0x18;
	r->seg[EMU_GS].base = 0xffff888000000000ull;
	r->cr0 = 0x80050033;
	r->cr3 = 0x1000 * (cpu + 1);
	r->cr4 = 0x3706f0;
	r->efer = 0xd01;
	r->fpu.fcw = 0x37f;
	r->fpu.fsw = (uint16_t)(cpu << 11);
	r->fpu.ftw = (uint8_t)(0x81 << cpu);
	r->fpu.fip = 0xffffffff81000000ull;
	r->fpu.mxcsr = 0x1f80;
}

/* The target stops on its own accord: a breakpoint, a watchpoint, a step, or the VM exits. */
static void fuzz_stop(struct gdb_server *srv)
{
	struct gdb_stop st = {
		.cpu = fuzz_rand() % t.ncpus,
		.signal = fuzz_rand() % 2 ? GDB_SIGTRAP : GDB_SIGINT,
		.kind = (enum gdb_stop_kind)(fuzz_rand() % 6),
		.addr = (uint64_t)fuzz_rand() << 48 | (uint64_t)fuzz_rand() << 16 | fuzz_rand(),
	};

	t.running = false;
	if (fuzz_rand() % 32 == 0)
		gdb_server_exited(srv, (int)fuzz_rand());
	else
		gdb_server_stop(srv, &st);
	if (gdb_server_running(srv))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gdb_server *srv;
	struct gdb_stop st = { .signal = GDB_SIGTRAP };
	size_t i;

	if (size < 2)
		return 0;
	if (!t.mem && !(t.mem = malloc(MEM_SIZE)))
		abort();
	t.ncpus = 2 + data[0] % (MAX_CPUS - 1);
	t.rng = data[1];
	t.running = t.closed = false;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		fuzz_regs_init(&t.regs[c], c);
	for (unsigned k = 0; k < MEM_SIZE; k++)
		t.mem[k] = (uint8_t)k;
	if (gdb_server_create(&srv, &fuzz_ops, NULL))
		abort();
	st.cpu = data[1] % t.ncpus;
	gdb_server_connect(srv, &st);
	for (i = 2; i < size;) {
		/* Mostly a packet per feed, as gdb sends them; sometimes pieces cut anywhere. */
		const uint8_t *hash = memchr(data + i, '#', size - i);
		size_t n = hash ? (size_t)(hash - (data + i)) + 3 : size - i;
		int ret;

		if (fuzz_rand() % 4 == 0)
			n = 1 + fuzz_rand() % 16;
		if (n > size - i)
			n = size - i;
		ret = gdb_server_feed(srv, data + i, n);
		i += n;
		if (gdb_server_running(srv) != t.running)
			abort();
		if (ret == -EPIPE) {
			if (!t.closed || t.running)
				abort();
			/* The client went away; a new one connects to the stopped target. */
			t.closed = false;
			st.cpu = fuzz_rand() % t.ncpus;
			gdb_server_connect(srv, &st);
		} else if (ret) {
			abort();
		} else if (t.closed) {
			abort();
		}
		/* A running target stops (now, mostly: sometimes the client's next bytes come
		 * first, so Ctrl-C and packets sent while running are exercised). */
		if (t.running && fuzz_rand() % 4)
			fuzz_stop(srv);
	}
	gdb_server_destroy(srv);
	return 0;
}
