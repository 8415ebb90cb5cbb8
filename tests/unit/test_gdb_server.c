/*
 * Unit tests of the gdb remote protocol command engine (src/gdb/gdb_server.c) and the x86-64
 * register layout (src/gdb/gdb_x86.c), against a fake target: two vCPUs with their own register
 * files, 64 KiB of "memory" at MEM_BASE, and every call the server makes recorded. Packets go in
 * framed byte for byte as gdb sends them; replies are parsed back (checksums and escapes checked).
 * No KVM.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "gdb/gdb_packet.h"
#include "gdb/gdb_server.h"
#include "gdb/gdb_x86.h"
#include "test.h"

#define NCPUS 2
#define MEM_BASE 0x100000ull
#define MEM_SIZE 0x10000u
/* What one m packet may move (gdb_server.c's GDB_MEM_MAX: its hex must fit a packet). */
#define MEM_MAX ((GDB_PACKET_MAX - 32) / 2)

/* gdb's amd64 register numbers and `g` byte offsets, written out by hand from gdb's layout. */
enum {
	R_RAX = 0,
	R_RBX = 1,
	R_RSP = 7,
	R_R8 = 8,
	R_RIP = 16,
	R_EFLAGS = 17,
	R_CS = 18,
	R_GS = 23,
	R_ST0 = 24,
	R_FCTRL = 32,
	R_FSTAT = 33,
	R_FTAG = 34,
	R_FISEG = 35,
	R_FIOFF = 36,
	R_FOSEG = 37,
	R_FOOFF = 38,
	R_FOP = 39,
	R_XMM0 = 40,
	R_MXCSR = 56,
	R_FS_BASE = 57,
	R_GS_BASE = 58,
	R_CR0 = 59,
	R_CR3 = 61,
	R_CR8 = 63,
	R_EFER = 64,
	R_NR = 65,
};
enum {
	O_RAX = 0,
	O_RIP = 128,
	O_EFLAGS = 136,
	O_CS = 140,
	O_ST0 = 164,
	O_FCTRL = 244,
	O_FTAG = 252,
	O_XMM0 = 276,
	O_MXCSR = 532,
	O_FS_BASE = 536,
	O_CR0 = 552,
	O_CR3 = 568,
	O_EFER = 592,
	O_TOTAL = 600,
};

struct fake {
	unsigned ncpus;
	struct x86_regs regs[NCPUS];
	uint8_t mem[MEM_SIZE];
	int get_calls, set_calls, get_ret;
	unsigned get_cpu, set_cpu;
	int read_calls, write_calls;
	unsigned read_cpu, write_cpu;
	uint64_t read_addr, write_addr;
	size_t read_len, write_len;
	bool read_phys, write_phys;
	int bp_calls, bp_ret[5];
	unsigned bp_cpu;
	bool bp_insert;
	int bp_type;
	uint64_t bp_addr, bp_len;
	int resume_calls, resume_ret;
	uint8_t actions[NCPUS];
	int interrupts, detaches, kills;
	int monitor_calls;
	char monitor_cmd[256];
	char out[1 << 17];
	size_t out_len;
	bool out_overflow;
};

static struct fake f;
static struct gdb_server *srv;

static unsigned fake_ncpus(void *opaque)
{
	return ((struct fake *)opaque)->ncpus;
}

static int fake_get_regs(void *opaque, unsigned cpu, struct x86_regs *r)
{
	struct fake *t = opaque;

	t->get_calls++;
	t->get_cpu = cpu;
	if (t->get_ret)
		return t->get_ret;
	if (cpu >= t->ncpus)
		return -EINVAL;
	memcpy(r, &t->regs[cpu], sizeof(*r)); /* padding too: whole structs compare with memcmp */
	return 0;
}

static int fake_set_regs(void *opaque, unsigned cpu, const struct x86_regs *r)
{
	struct fake *t = opaque;

	t->set_calls++;
	t->set_cpu = cpu;
	if (cpu >= t->ncpus)
		return -EINVAL;
	memcpy(&t->regs[cpu], r, sizeof(*r));
	return 0;
}

/* The readable bytes from addr: short at the end of the 64 KiB, 0 outside it. */
static size_t fake_span(uint64_t addr, size_t len)
{
	uint64_t room;

	if (addr < MEM_BASE || addr - MEM_BASE >= MEM_SIZE)
		return 0;
	room = MEM_SIZE - (addr - MEM_BASE);
	return len < room ? len : (size_t)room;
}

static ssize_t fake_read_mem(void *opaque, unsigned cpu, uint64_t addr, void *buf, size_t len,
			     bool phys)
{
	struct fake *t = opaque;
	size_t n = fake_span(addr, len);

	t->read_calls++;
	t->read_cpu = cpu;
	t->read_addr = addr;
	t->read_len = len;
	t->read_phys = phys;
	memcpy(buf, t->mem + (n ? addr - MEM_BASE : 0), n);
	return (ssize_t)n;
}

static ssize_t fake_write_mem(void *opaque, unsigned cpu, uint64_t addr, const void *buf,
			      size_t len, bool phys)
{
	struct fake *t = opaque;
	size_t n = fake_span(addr, len);

	t->write_calls++;
	t->write_cpu = cpu;
	t->write_addr = addr;
	t->write_len = len;
	t->write_phys = phys;
	memcpy(t->mem + (n ? addr - MEM_BASE : 0), buf, n);
	return (ssize_t)n;
}

static int fake_breakpoint(void *opaque, unsigned cpu, bool insert, int type, uint64_t addr,
			   uint64_t len)
{
	struct fake *t = opaque;

	t->bp_calls++;
	t->bp_cpu = cpu;
	t->bp_insert = insert;
	t->bp_type = type;
	t->bp_addr = addr;
	t->bp_len = len;
	return type >= 0 && type < 5 ? t->bp_ret[type] : -EINVAL;
}

static int fake_resume(void *opaque, const uint8_t *actions)
{
	struct fake *t = opaque;

	t->resume_calls++;
	memcpy(t->actions, actions, NCPUS);
	return t->resume_ret;
}

static void fake_interrupt(void *opaque)
{
	((struct fake *)opaque)->interrupts++;
}

static void fake_detach(void *opaque)
{
	((struct fake *)opaque)->detaches++;
}

static void fake_kill(void *opaque)
{
	((struct fake *)opaque)->kills++;
}

static int fake_monitor(void *opaque, const char *cmd, char *out, size_t cap)
{
	struct fake *t = opaque;

	t->monitor_calls++;
	snprintf(t->monitor_cmd, sizeof(t->monitor_cmd), "%s", cmd);
	if (!strcmp(cmd, "regs")) {
		snprintf(out, cap, "rax 0x%llx\n", (unsigned long long)t->regs[0].gpr[EMU_RAX]);
		return 0;
	}
	if (!strcmp(cmd, "quiet"))
		return 0; /* success, no output */
	if (!strcmp(cmd, "broken"))
		return -EIO; /* failure without a message */
	snprintf(out, cap, "unknown command '%s'\n", cmd);
	return -ENOENT;
}

static void fake_describe(void *opaque, unsigned cpu, char *out, size_t cap)
{
	snprintf(out, cap, "vCPU %u halted", cpu);
}

static void fake_send(void *opaque, const void *buf, size_t len)
{
	struct fake *t = opaque;

	if (t->out_len + len > sizeof(t->out)) {
		t->out_overflow = true;
		return;
	}
	memcpy(t->out + t->out_len, buf, len);
	t->out_len += len;
}

static const struct gdb_target_ops fake_ops = {
	.ncpus = fake_ncpus,
	.get_regs = fake_get_regs,
	.set_regs = fake_set_regs,
	.read_mem = fake_read_mem,
	.write_mem = fake_write_mem,
	.breakpoint = fake_breakpoint,
	.resume = fake_resume,
	.interrupt = fake_interrupt,
	.detach = fake_detach,
	.kill = fake_kill,
	.monitor = fake_monitor,
	.describe = fake_describe,
	.send = fake_send,
};

/* vCPU cpu's registers: every field that gdb sees distinct and recognisable. */
static void fake_regs_init(struct x86_regs *r, unsigned cpu)
{
	static const uint16_t sel[EMU_NR_SREGS] = {
		[EMU_ES] = 0x20, [EMU_CS] = 0x10, [EMU_SS] = 0x18,
		[EMU_DS] = 0x28, [EMU_FS] = 0x30, [EMU_GS] = 0x38,
	};

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < EMU_NR_GPRS; i++)
		r->gpr[i] = 0x0101010101010101ull * (i + 1) + cpu;
	r->gpr[EMU_RAX] = 0x0123456789abcdefull + cpu;
	r->rip = 0xffffffff81000000ull + 0x10 * cpu;
	r->rflags = 0x246;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		r->seg[i].selector = sel[i];
	r->seg[EMU_FS].base = 0x7f1234560000ull;
	r->seg[EMU_GS].base = 0xffff888000000000ull + cpu;
	r->cr0 = 0x80050033;
	r->cr2 = 0x7f00dead0000ull;
	r->cr3 = 0x2000 + 0x1000ull * cpu;
	r->cr4 = 0x3706f0;
	r->cr8 = 0;
	r->efer = 0xd01;
	r->fpu.fcw = 0x37f;
	r->fpu.fsw = 7 << 11; /* TOP 7: ST(0) is physical register 7 */
	r->fpu.ftw = 0x80;
	r->fpu.st[0][7] = 0x80; /* 1.0: integer bit, exponent 0x3fff */
	r->fpu.st[0][8] = 0xff;
	r->fpu.st[0][9] = 0x3f;
	r->fpu.fop = 0x123;
	r->fpu.fip = 0x401234;
	r->fpu.fdp = 0x602040;
	for (unsigned i = 0; i < 16; i++)
		for (unsigned j = 0; j < 16; j++)
			r->fpu.xmm[i][j] = (uint8_t)(16 * i + j + cpu);
	r->fpu.mxcsr = 0x1f80;
}

/* Parsed output of the server since the last parse. */
#define MAX_PKTS 8
static struct {
	int plus, minus, npkts, junk;
	size_t len[MAX_PKTS];
	char pkt[MAX_PKTS][GDB_PACKET_MAX + 1];
	char raw[1 << 17];
	size_t raw_len;
} rep;

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* the server sends lower case only */
}

/* Splits f.out into acks and packets (checksums verified, escapes undone), then clears it. */
static void parse_out(void)
{
	size_t i = 0;

	rep.plus = rep.minus = rep.npkts = rep.junk = 0;
	CHECK(!f.out_overflow);
	memcpy(rep.raw, f.out, f.out_len);
	rep.raw_len = f.out_len;
	while (i < f.out_len) {
		char c = f.out[i++];
		uint8_t sum = 0;
		size_t o = 0;
		char *pkt;

		if (c == '+') {
			rep.plus++;
			continue;
		}
		if (c == '-') {
			rep.minus++;
			continue;
		}
		if (c != '$' || rep.npkts == MAX_PKTS) {
			rep.junk++;
			continue;
		}
		pkt = rep.pkt[rep.npkts];
		while (i < f.out_len && f.out[i] != '#') {
			uint8_t b = (uint8_t)f.out[i++];

			sum = (uint8_t)(sum + b);
			if (b == '}' && i < f.out_len) {
				sum = (uint8_t)(sum + (uint8_t)f.out[i]);
				b = (uint8_t)(f.out[i++] ^ 0x20);
			} else {
				/* Unescaped specials would confuse gdb. */
				CHECK(b != '$' && b != '*');
			}
			if (o < GDB_PACKET_MAX)
				pkt[o++] = (char)b;
		}
		pkt[o] = '\0';
		rep.len[rep.npkts++] = o;
		if (i + 3 > f.out_len) {
			rep.junk++;
			break;
		}
		CHECK_EQ(hexval(f.out[i + 1]) * 16 + hexval(f.out[i + 2]), sum);
		i += 3;
	}
	f.out_len = 0;
}

/* gdb's framing of a payload (raw bytes: binary data must come escaped already). */
static int feed_pkt(const char *payload, size_t n)
{
	static char buf[2 * GDB_PACKET_MAX + 8];
	uint8_t sum = 0;
	size_t o = 0;

	buf[o++] = '$';
	for (size_t i = 0; i < n; i++) {
		buf[o++] = payload[i];
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
	}
	o += (size_t)snprintf(buf + o, 4, "#%02x", sum);
	return gdb_server_feed(srv, buf, o);
}

static int feed_str(const char *s)
{
	return gdb_server_feed(srv, s, strlen(s));
}

/*
 * One packet in no-ack mode: exactly one reply packet and nothing else is expected. Returns the
 * reply payload ("<none>" when there was none).
 */
static const char *cmd_at(const char *payload, size_t n, int line)
{
	int ret = feed_pkt(payload, n);

	parse_out();
	if (ret || rep.npkts != 1 || rep.plus || rep.minus || rep.junk) {
		fprintf(stderr, "  line %d: '%.40s': feed %d, %d packets, %d+ %d- %d junk\n", line,
			payload, ret, rep.npkts, rep.plus, rep.minus, rep.junk);
		test_failed_++;
	}
	return rep.npkts ? rep.pkt[0] : "<none>";
}
#define CMD(s) cmd_at(s, strlen(s), __LINE__)

/* A printf-formatted packet. */
static const char *cmdf_at(int line, const char *fmt, ...)
{
	static char buf[GDB_PACKET_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return cmd_at(buf, (size_t)n, line);
}
#define CMDF(...) cmdf_at(__LINE__, __VA_ARGS__)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (strcmp(a_, b_)) {                                                              \
			fprintf(stderr, "  %s:%d: %s == \"%s\" failed: got \"%.120s\"\n",          \
				__FILE__, __LINE__, #a, b_, a_);                                   \
			test_failed_++;                                                            \
		}                                                                                  \
	} while (0)

/* A packet that must get no reply at all (a resume). */
#define CHECK_SILENT(s)                                                                            \
	do {                                                                                       \
		CHECK_EQ(feed_pkt(s, strlen(s)), 0);                                               \
		parse_out();                                                                       \
		CHECK_EQ(rep.raw_len, 0);                                                          \
	} while (0)

/* A fresh server and fake target, stopped on vCPU 0; noack: QStartNoAckMode done. */
static void setup(bool noack)
{
	struct gdb_stop st = { .cpu = 0, .signal = GDB_SIGTRAP, .kind = GDB_STOP_SIGNAL };

	if (srv)
		gdb_server_destroy(srv);
	srv = NULL;
	memset(&f, 0, sizeof(f));
	f.ncpus = NCPUS;
	for (unsigned i = 0; i < NCPUS; i++)
		fake_regs_init(&f.regs[i], i);
	for (unsigned i = 0; i < MEM_SIZE; i++)
		f.mem[i] = (uint8_t)(i * 7 + 3);
	if (gdb_server_create(&srv, &fake_ops, &f)) {
		fprintf(stderr, "  gdb_server_create failed\n");
		exit(1);
	}
	gdb_server_connect(srv, &st);
	if (noack) {
		CHECK_EQ(feed_pkt("QStartNoAckMode", 15), 0);
		parse_out();
		CHECK_EQ(rep.plus, 1);
		CHECK_EQ(rep.npkts, 1);
		CHECK_STR(rep.pkt[0], "OK");
	}
}

/* The target reports a stop after a resume. */
static void stop(unsigned cpu, int sig, enum gdb_stop_kind kind, uint64_t addr)
{
	struct gdb_stop st = { .cpu = cpu, .signal = sig, .kind = kind, .addr = addr };

	gdb_server_stop(srv, &st);
}

/* Little-endian value of n bytes from hex. */
static uint64_t le_hex(const char *hex, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1])) << (8 * i);
	return v;
}

/* n bytes of v, little-endian hex, into out (NUL-terminated). */
static char *hex_le(uint64_t v, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned)(v >> (8 * i)) & 0xff);
	return out;
}

static char *hex_str(const char *s, char *out)
{
	out[gdb_hex_encode(s, strlen(s), out)] = '\0';
	return out;
}

/* --- ack mode and framing --- */

static void test_ack_mode(void)
{
	char frame[256];
	size_t frame_len;

	setup(false);
	/* Each good packet is acked before its reply. */
	CHECK_EQ(feed_pkt("qSupported", 10), 0);
	parse_out();
	CHECK_EQ(rep.plus, 1);
	CHECK_EQ(rep.npkts, 1);
	CHECK_EQ(rep.raw[0], '+');
	CHECK_EQ(rep.raw[1], '$');
	CHECK(!strncmp(rep.pkt[0], "PacketSize=", 11));
	CHECK(rep.raw_len < sizeof(frame));
	frame_len = rep.raw_len - 1;
	memcpy(frame, rep.raw + 1, frame_len);
	/* A bad checksum gets '-' and no reply, no call. */
	CHECK_EQ(feed_str("$g#68"), 0);
	parse_out();
	CHECK_EQ(rep.raw_len, 1);
	CHECK_EQ(rep.minus, 1);
	CHECK_EQ(f.get_calls, 0);
	/* The client's '-' gets the last reply again, byte for byte. */
	CHECK_EQ(feed_str("-"), 0);
	parse_out();
	CHECK_EQ(rep.raw_len, frame_len);
	CHECK(!memcmp(rep.raw, frame, frame_len));
	/* The client's '+' needs nothing. */
	CHECK_EQ(feed_str("+"), 0);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	/* An overlong packet is refused with '-'. */
	{
		static char big[GDB_PACKET_MAX + 2];

		memset(big, 'q', sizeof(big));
		CHECK_EQ(feed_pkt(big, sizeof(big)), 0);
		parse_out();
		CHECK_EQ(rep.raw_len, 1);
		CHECK_EQ(rep.minus, 1);
	}
	/* QStartNoAckMode is itself acked, then nothing is. */
	CHECK_EQ(feed_pkt("QStartNoAckMode", 15), 0);
	parse_out();
	CHECK_EQ(rep.plus, 1);
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "OK");
	CHECK_STR(CMD("?"), "T05thread:1;");
	CHECK_EQ(feed_str("$g#68"), 0); /* bad checksum: silently dropped */
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK_EQ(feed_str("-"), 0); /* no resends either */
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	/* Several packets in one buffer, and one packet split over many feeds. */
	CHECK_EQ(feed_str("$T1#85$T2#86"), 0);
	parse_out();
	CHECK_EQ(rep.npkts, 2);
	CHECK_STR(rep.pkt[0], "OK");
	CHECK_STR(rep.pkt[1], "OK");
	for (const char *p = "$qC#b4"; *p; p++)
		CHECK_EQ(gdb_server_feed(srv, p, 1), 0);
	parse_out();
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "QC1");
	/* A new client starts in ack mode again, on the vCPU the stop names. */
	gdb_server_connect(srv, &(struct gdb_stop){ .cpu = 1, .signal = GDB_SIGINT });
	CHECK_EQ(feed_pkt("?", 1), 0);
	parse_out();
	CHECK_EQ(rep.plus, 1);
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "T02thread:2;");
	CHECK_EQ(feed_pkt("g", 1), 0);
	parse_out();
	CHECK_EQ(f.get_cpu, 1);
	/* Unknown and empty packets: empty replies. */
	setup(true);
	CHECK_STR(CMD(""), "");
	CHECK_STR(CMD("!"), "");
	CHECK_STR(CMD("vMustReplyEmpty"), "");
	CHECK_STR(CMD("qTStatus"), "");
	CHECK_STR(CMD("QNonStop:1"), "");
	CHECK_STR(CMD("qAttached"), "1");
	CHECK_STR(CMD("qSymbol::"), "OK");
}

static void test_qsupported(void)
{
	const char *r;

	setup(true);
	r = CMD("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;xmlRegisters=i386");
	CHECK(!strncmp(r, "PacketSize=4000;", 16)); /* GDB_PACKET_MAX, hex */
	CHECK(strstr(r, ";qXfer:features:read+") != NULL);
	CHECK(strstr(r, ";swbreak+") != NULL);
	CHECK(strstr(r, ";hwbreak+") != NULL);
	CHECK(strstr(r, ";vContSupported+") != NULL);
	CHECK(strstr(r, ";QStartNoAckMode+") != NULL);
	CHECK_STR(CMD("vCont?"), "vCont;c;C;s;S;t");
}

static void test_target_xml(void)
{
	static char xml[16384];
	size_t total = strlen(gdb_x86_target_xml), got = 0;
	const char *r;
	int chunks = 0;

	setup(true);
	CHECK(total > 0x100);
	/* gdb reads in chunks until an 'l' reply. */
	for (;;) {
		r = CMDF("qXfer:features:read:target.xml:%zx,100", got);
		if (r[0] != 'm' && r[0] != 'l') {
			CHECK(0);
			break;
		}
		CHECK(got + rep.len[0] - 1 <= total);
		if (got + rep.len[0] - 1 > total)
			break;
		memcpy(xml + got, r + 1, rep.len[0] - 1);
		got += rep.len[0] - 1;
		chunks++;
		if (r[0] == 'l')
			break;
		CHECK_EQ(rep.len[0], 1 + 0x100); /* 'm' chunks are full */
		if (chunks > 100)
			break;
	}
	CHECK_EQ(got, total);
	CHECK_EQ(chunks, total / 0x100 + 1); /* the last one short, or an empty 'l' */
	CHECK(!memcmp(xml, gdb_x86_target_xml, total));
	/* One big read; a read that ends exactly at the end; offsets at and past the end. */
	r = CMD("qXfer:features:read:target.xml:0,ffff");
	CHECK_EQ(rep.len[0], total + 1);
	CHECK_EQ(r[0], 'l');
	CHECK(!memcmp(r + 1, gdb_x86_target_xml, total));
	r = CMDF("qXfer:features:read:target.xml:%zx,10", total - 0x10);
	CHECK_EQ(r[0], 'l');
	CHECK_EQ(rep.len[0], 0x11);
	r = CMDF("qXfer:features:read:target.xml:%zx,20", total - 0x10);
	CHECK_EQ(r[0], 'l');
	CHECK_EQ(rep.len[0], 0x11);
	CHECK(!memcmp(r + 1, gdb_x86_target_xml + total - 0x10, 0x10));
	CHECK_STR(CMDF("qXfer:features:read:target.xml:%zx,100", total), "l");
	CHECK_STR(CMD("qXfer:features:read:target.xml:ffffffffffffffff,100"), "l");
	/* Other annexes and bad numbers. */
	CHECK_STR(CMD("qXfer:features:read:i386-64bit.xml:0,100"), "E02");
	CHECK_STR(CMD("qXfer:features:read:target.xm"), "E02");
	CHECK_STR(CMD("qXfer:features:read:target.xml:zz,100"), "E16");
	CHECK_STR(CMD("qXfer:features:read:target.xml:0"), "E16");
	CHECK_STR(CMD("qXfer:features:read:target.xml:0,100;"), "E16");
	/* Other objects are not supported. */
	CHECK_STR(CMD("qXfer:auxv:read::0,100"), "");
}

/* --- stop replies --- */

static void test_stop_reply(void)
{
	setup(true);
	CHECK_STR(CMD("?"), "T05thread:1;");
	/* Nothing is reported when the target was not resumed. */
	stop(1, GDB_SIGTRAP, GDB_STOP_SWBREAK, 0);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK(!gdb_server_running(srv));
	CHECK_STR(CMD("?"), "T05thread:1;");

	CHECK_SILENT("c");
	CHECK(gdb_server_running(srv));
	stop(1, GDB_SIGTRAP, GDB_STOP_SWBREAK, 0);
	CHECK(!gdb_server_running(srv));
	parse_out();
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "T05thread:2;swbreak:;");
	/* `?`, qC and register reads follow the stop. */
	CHECK_STR(CMD("?"), "T05thread:2;swbreak:;");
	CHECK_STR(CMD("qC"), "QC2");
	CMD("g");
	CHECK_EQ(f.get_cpu, 1);

	CHECK_SILENT("c");
	stop(0, GDB_SIGTRAP, GDB_STOP_HWBREAK, 0);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:1;hwbreak:;");
	CHECK_SILENT("c");
	stop(0, GDB_SIGTRAP, GDB_STOP_WATCH, 0x100010);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:1;watch:100010;");
	CHECK_SILENT("c");
	stop(1, GDB_SIGTRAP, GDB_STOP_RWATCH, 0xffff888000001000ull);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:2;rwatch:ffff888000001000;");
	CHECK_SILENT("c");
	stop(0, GDB_SIGTRAP, GDB_STOP_AWATCH, 0);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:1;awatch:0;");
	CHECK_SILENT("c");
	stop(0, GDB_SIGINT, GDB_STOP_SIGNAL, 0x1234);
	parse_out();
	CHECK_STR(rep.pkt[0], "T02thread:1;");
	/* A second stop report for the same resume is ignored. */
	stop(1, GDB_SIGTRAP, GDB_STOP_SWBREAK, 0);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
}

/* --- registers --- */

static void test_read_regs(void)
{
	const char *r;
	static char g[2 * O_TOTAL + 1];

	setup(true);
	CHECK_EQ(gdb_x86_regs_size(), O_TOTAL);
	r = CMD("g");
	CHECK_EQ(rep.len[0], 2 * gdb_x86_regs_size());
	CHECK_EQ(f.get_cpu, 0);
	snprintf(g, sizeof(g), "%s", r);
	CHECK_EQ(le_hex(g + 2 * O_RAX, 8), 0x0123456789abcdefull);
	CHECK_EQ(le_hex(g + 2 * 8, 8), f.regs[0].gpr[EMU_RBX]); /* rbx is gdb's 1 */
	CHECK_EQ(le_hex(g + 2 * 16, 8), f.regs[0].gpr[EMU_RCX]);
	CHECK_EQ(le_hex(g + 2 * 56, 8), f.regs[0].gpr[EMU_RSP]);
	CHECK_EQ(le_hex(g + 2 * 64, 8), f.regs[0].gpr[EMU_R8]);
	CHECK_EQ(le_hex(g + 2 * 120, 8), f.regs[0].gpr[EMU_R15]);
	CHECK(!strncmp(g + 2 * O_RIP, "00000081ffffffff", 16));
	CHECK(!strncmp(g + 2 * O_EFLAGS, "46020000", 8));
	CHECK_EQ(le_hex(g + 2 * O_CS, 4), 0x10);
	CHECK_EQ(le_hex(g + 2 * (O_CS + 4), 4), 0x18);	/* ss */
	CHECK_EQ(le_hex(g + 2 * (O_CS + 8), 4), 0x28);	/* ds */
	CHECK_EQ(le_hex(g + 2 * (O_CS + 12), 4), 0x20); /* es */
	CHECK_EQ(le_hex(g + 2 * (O_CS + 20), 4), 0x38); /* gs */
	CHECK(!strncmp(g + 2 * O_ST0, "0000000000000080ff3f", 20));
	CHECK_EQ(le_hex(g + 2 * O_FCTRL, 4), 0x37f);
	CHECK_EQ(le_hex(g + 2 * O_FTAG, 4), 0x3fff);	       /* only ST(0) = physical 7 valid */
	CHECK_EQ(le_hex(g + 2 * (O_FCTRL + 16), 4), 0x401234); /* fioff */
	CHECK_EQ(le_hex(g + 2 * (O_FCTRL + 28), 4), 0x123);    /* fop */
	CHECK(!strncmp(g + 2 * O_XMM0, "000102030405060708090a0b0c0d0e0f", 32));
	CHECK(!strncmp(g + 2 * (O_XMM0 + 15 * 16), "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 32));
	CHECK_EQ(le_hex(g + 2 * O_MXCSR, 4), 0x1f80);
	CHECK_EQ(le_hex(g + 2 * O_FS_BASE, 8), 0x7f1234560000ull);
	CHECK_EQ(le_hex(g + 2 * O_CR0, 8), 0x80050033);
	CHECK_EQ(le_hex(g + 2 * O_CR3, 8), 0x2000);
	CHECK_EQ(le_hex(g + 2 * O_EFER, 8), 0xd01);
	/* Hg2: the second vCPU's registers. */
	CHECK_STR(CMD("Hg2"), "OK");
	r = CMD("g");
	CHECK_EQ(f.get_cpu, 1);
	CHECK_EQ(le_hex(r + 2 * O_RAX, 8), 0x0123456789abcdf0ull);
	CHECK_EQ(le_hex(r + 2 * O_RIP, 8), 0xffffffff81000010ull);
	CHECK_EQ(le_hex(r + 2 * O_CR3, 8), 0x3000);
	CHECK(!strncmp(r + 2 * O_XMM0, "0102030405060708090a0b0c0d0e0f10", 32));
	/* A target error. */
	f.get_ret = -EIO;
	CHECK_STR(CMD("g"), "E05");
	f.get_ret = 0;
}

static void test_write_regs(void)
{
	static char g[2 * O_TOTAL + 2], bad[2 * O_TOTAL + 8];
	struct x86_regs want;
	char hex[40];

	setup(true);
	snprintf(g, sizeof(g), "G%s", CMD("g"));
	CHECK_EQ(strlen(g), 1 + 2 * O_TOTAL);
	/* G of what g said changes nothing. */
	memcpy(&want, &f.regs[0], sizeof(want));
	CHECK_STR(CMD(g), "OK");
	CHECK_EQ(f.set_calls, 1);
	CHECK_EQ(f.set_cpu, 0);
	CHECK(!memcmp(&f.regs[0], &want, sizeof(want)));
	/* rax, rip, eflags (reserved bits dropped, bit 1 kept) and xmm3. */
	memcpy(g + 1 + 2 * O_RAX, hex_le(0xdeadbeefcafef00dull, 8, hex), 16);
	memcpy(g + 1 + 2 * O_RIP, hex_le(0x401000, 8, hex), 16);
	memcpy(g + 1 + 2 * O_EFLAGS, "ffffffff", 8);
	memcpy(g + 1 + 2 * (O_XMM0 + 3 * 16), "00112233445566778899aabbccddeeff", 32);
	CHECK_STR(CMD(g), "OK");
	CHECK_EQ(f.set_calls, 2);
	want.gpr[EMU_RAX] = 0xdeadbeefcafef00dull;
	want.rip = 0x401000;
	want.rflags = 0x3f7fd7;
	for (unsigned i = 0; i < 16; i++)
		want.fpu.xmm[3][i] = (uint8_t)(0x11 * i);
	CHECK(!memcmp(&f.regs[0], &want, sizeof(want)));
	CHECK_EQ(f.regs[0].gpr[EMU_RAX], 0xdeadbeefcafef00dull);
	CHECK_EQ(f.regs[0].rflags, 0x3f7fd7);
	CHECK_EQ(f.regs[0].fpu.xmm[3][15], 0xff);
	/* Round trip through g. */
	CHECK_EQ(le_hex(CMD("g") + 2 * O_RIP, 8), 0x401000);
	/* Wrong lengths. */
	g[2 * O_TOTAL] = '\0';
	CHECK_STR(CMD(g), "E16");
	snprintf(bad, sizeof(bad), "%s%s", g, "000");
	CHECK_STR(CMD(bad), "E16");
	CHECK_STR(CMD("G"), "E16");
	CHECK_EQ(f.set_calls, 2);
	/* Bad hex anywhere fails the whole packet. */
	snprintf(bad, sizeof(bad), "G%s", CMD("g"));
	bad[1 + 2 * O_EFER + 3] = 'x';
	CHECK_STR(CMD(bad), "E16");
	/* A read-only register changed: the whole packet fails, nothing is written. */
	snprintf(bad, sizeof(bad), "G%s", CMD("g"));
	memcpy(bad + 1 + 2 * O_RAX, "11111111", 8);
	memcpy(bad + 1 + 2 * O_CS, "08000000", 8);
	CHECK_STR(CMD(bad), "E01");
	snprintf(bad, sizeof(bad), "G%s", CMD("g"));
	memcpy(bad + 1 + 2 * O_CS, "10000100", 8); /* bits above the 16-bit selector */
	CHECK_STR(CMD(bad), "E01");
	snprintf(bad, sizeof(bad), "G%s", CMD("g"));
	memcpy(bad + 1 + 2 * O_RAX, "11111111", 8);
	memcpy(bad + 1 + 2 * O_CR0, hex_le(0x80000011, 8, hex), 16);
	CHECK_STR(CMD(bad), "E01");
	snprintf(bad, sizeof(bad), "G%s", CMD("g"));
	memcpy(bad + 1 + 2 * O_MXCSR, "801f0100", 8); /* mxcsr reserved bit 16 */
	CHECK_STR(CMD(bad), "E01");
	CHECK_EQ(f.set_calls, 2);
	CHECK_EQ(f.regs[0].gpr[EMU_RAX], 0xdeadbeefcafef00dull);
	CHECK_EQ(f.regs[0].seg[EMU_CS].selector, 0x10);
	CHECK_EQ(f.regs[0].cr0, 0x80050033);
	/* Hg2: G goes to the second vCPU. */
	CHECK_STR(CMD("Hg2"), "OK");
	snprintf(g, sizeof(g), "G%s", CMD("g"));
	memcpy(g + 1 + 2 * O_RAX, hex_le(0x42, 8, hex), 16);
	CHECK_STR(CMD(g), "OK");
	CHECK_EQ(f.set_cpu, 1);
	CHECK_EQ(f.regs[1].gpr[EMU_RAX], 0x42);
	CHECK_EQ(f.regs[0].gpr[EMU_RAX], 0xdeadbeefcafef00dull);
	/* A target error. */
	f.get_ret = -EIO;
	CHECK_STR(CMD(g), "E05");
	f.get_ret = 0;
	CHECK_EQ(f.set_calls, 3);
}

/*
 * In 64-bit mode FIP and FDP are 64-bit (KVM's last_ip/last_dp): a kernel's x87 instruction pointer
 * is 0xffffffff8.... A `g` then `G` of the unchanged values, or a `P` of fiseg with the value `p`
 * read, must leave them as they were.
 */
static void test_fpu_pointers_round_trip(void)
{
	static char g[2 * O_TOTAL + 2];
	struct x86_regs want;
	char pkt[64], hex[24];
	const char *r;

	setup(true);
	f.regs[0].fpu.fip = 0xffffffff81234567ull;
	f.regs[0].fpu.fdp = 0xffff888000123450ull;
	memcpy(&want, &f.regs[0], sizeof(want));
	snprintf(g, sizeof(g), "G%s", CMD("g"));
	CHECK_STR(CMD(g), "OK");
	CHECK_EQ(f.regs[0].fpu.fip, 0xffffffff81234567ull);
	CHECK_EQ(f.regs[0].fpu.fdp, 0xffff888000123450ull);
	CHECK(!memcmp(&f.regs[0], &want, sizeof(want)));
	memcpy(&f.regs[0], &want, sizeof(want));
	r = CMDF("p%x", R_FISEG);
	snprintf(hex, sizeof(hex), "%s", r);
	snprintf(pkt, sizeof(pkt), "P%x=%s", R_FISEG, hex);
	CHECK_STR(CMD(pkt), "OK");
	CHECK_EQ(f.regs[0].fpu.fip, 0xffffffff81234567ull);
}

static void test_read_reg(void)
{
	setup(true);
	CHECK_STR(CMD("p0"), "efcdab8967452301");
	CHECK_STR(CMDF("p%x", R_RIP), "00000081ffffffff");
	CHECK_STR(CMDF("p%x", R_EFLAGS), "46020000");
	CHECK_STR(CMDF("p%x", R_CS), "10000000");
	CHECK_STR(CMDF("p%x", R_GS), "38000000");
	CHECK_STR(CMDF("p%x", R_ST0), "0000000000000080ff3f");
	CHECK_STR(CMDF("p%x", R_FTAG), "ff3f0000");
	CHECK_STR(CMDF("p%x", R_XMM0 + 1), "101112131415161718191a1b1c1d1e1f");
	CHECK_STR(CMDF("p%x", R_MXCSR), "801f0000");
	CHECK_STR(CMDF("p%x", R_GS_BASE), "000000008088ffff");
	CHECK_STR(CMDF("p%x", R_EFER), "010d000000000000");
	CHECK_EQ(f.get_cpu, 0);
	CHECK_STR(CMD("Hg2"), "OK");
	CHECK_STR(CMDF("p%x", R_GS_BASE), "010000008088ffff");
	CHECK_EQ(f.get_cpu, 1);
	/* No such register, bad numbers. */
	CHECK_STR(CMDF("p%x", R_NR), "E16");
	CHECK_STR(CMD("p100000000"), "E16"); /* truncated to 0 it would be rax */
	CHECK_STR(CMD("p"), "E16");
	CHECK_STR(CMD("pzz"), "E16");
	CHECK_STR(CMD("p10x"), "E16");
	CHECK_STR(CMD("p11111111111111111"), "E16"); /* 17 digits */
	/* A target error. */
	f.get_ret = -EIO;
	CHECK_STR(CMD("p0"), "E05");
	f.get_ret = 0;
}

static void test_write_reg(void)
{
	char hex[40];
	int calls;

	setup(true);
	CHECK_STR(CMDF("P0=%s", hex_le(0x55aa, 8, hex)), "OK");
	CHECK_EQ(f.regs[0].gpr[EMU_RAX], 0x55aa);
	CHECK_STR(CMDF("P%x=%s", R_R8, hex_le(0x88, 8, hex)), "OK");
	CHECK_EQ(f.regs[0].gpr[EMU_R8], 0x88);
	CHECK_STR(CMDF("P%x=%s", R_RIP, hex_le(0x401000, 8, hex)), "OK");
	CHECK_EQ(f.regs[0].rip, 0x401000);
	CHECK_STR(CMDF("P%x=ffffffff", R_EFLAGS), "OK");
	CHECK_EQ(f.regs[0].rflags, 0x3f7fd7);
	CHECK_STR(CMDF("P%x=00000000", R_EFLAGS), "OK");
	CHECK_EQ(f.regs[0].rflags, 2);
	CHECK_STR(CMDF("P%x=ffeeddccbbaa99887766554433221100", R_XMM0 + 15), "OK");
	CHECK_EQ(f.regs[0].fpu.xmm[15][0], 0xff);
	CHECK_EQ(f.regs[0].fpu.xmm[15][15], 0x00);
	CHECK_EQ(f.set_calls, 6);
	/* cr3: the same value is fine, another one is refused without a write. */
	CHECK_STR(CMDF("P%x=%s", R_CR3, hex_le(0x2000, 8, hex)), "OK");
	calls = f.set_calls;
	CHECK_STR(CMDF("P%x=%s", R_CR3, hex_le(0x5000, 8, hex)), "E01");
	CHECK_EQ(f.set_calls, calls);
	CHECK_EQ(f.regs[0].cr3, 0x2000);
	CHECK_STR(CMDF("P%x=%s", R_CR8, hex_le(0xf, 8, hex)), "E01");
	CHECK_STR(CMDF("P%x=%s", R_EFER, hex_le(0x501, 8, hex)), "E01");
	CHECK_STR(CMDF("P%x=%s", R_CS, hex_le(0x33, 4, hex)), "E01");
	CHECK_STR(CMDF("P%x=%s", R_CS, hex_le(0x10, 4, hex)), "OK");
	/* fs_base: canonical only. */
	CHECK_STR(CMDF("P%x=%s", R_FS_BASE, hex_le(0x0000800000000000ull, 8, hex)), "E01");
	CHECK_STR(CMDF("P%x=%s", R_FS_BASE, hex_le(0x1234ffff00000000ull, 8, hex)), "E01");
	CHECK_EQ(f.regs[0].seg[EMU_FS].base, 0x7f1234560000ull);
	CHECK_STR(CMDF("P%x=%s", R_FS_BASE, hex_le(0xffff800000001000ull, 8, hex)), "OK");
	CHECK_EQ(f.regs[0].seg[EMU_FS].base, 0xffff800000001000ull);
	CHECK_STR(CMDF("P%x=%s", R_GS_BASE, hex_le(0x00007fffffffffffull, 8, hex)), "OK");
	CHECK_EQ(f.regs[0].seg[EMU_GS].base, 0x00007fffffffffffull);
	/* mxcsr reserved bits. */
	CHECK_STR(CMDF("P%x=801f0100", R_MXCSR), "E01");
	CHECK_EQ(f.regs[0].fpu.mxcsr, 0x1f80);
	CHECK_STR(CMDF("P%x=a01f0000", R_MXCSR), "OK");
	CHECK_EQ(f.regs[0].fpu.mxcsr, 0x1fa0);
	/* Hg2 */
	CHECK_STR(CMD("Hg2"), "OK");
	CHECK_STR(CMDF("P0=%s", hex_le(0x77, 8, hex)), "OK");
	CHECK_EQ(f.set_cpu, 1);
	CHECK_EQ(f.regs[1].gpr[EMU_RAX], 0x77);
	CHECK_EQ(f.regs[0].gpr[EMU_RAX], 0x55aa);
	/* Malformed. */
	calls = f.set_calls;
	CHECK_STR(CMDF("P%x=%s", R_NR, hex_le(0, 8, hex)), "E16");
	CHECK_STR(CMD("P0=1234"), "E16");		/* too short */
	CHECK_STR(CMD("P0=000000000000000000"), "E16"); /* too long */
	CHECK_STR(CMD("P0=zz00000000000000"), "E16");
	CHECK_STR(CMD("P0"), "E16");
	CHECK_STR(CMD("P0:0000000000000000"), "E16");
	CHECK_STR(CMD("P=0000000000000000"), "E16");
	CHECK_EQ(f.set_calls, calls);
}

/* --- memory --- */

static void test_read_mem(void)
{
	const char *r;
	char want[64];

	setup(true);
	r = CMD("m100000,10");
	CHECK_EQ(f.read_calls, 1);
	CHECK_EQ(f.read_addr, MEM_BASE);
	CHECK_EQ(f.read_len, 0x10);
	CHECK_EQ(f.read_cpu, 0);
	CHECK(!f.read_phys);
	want[gdb_hex_encode(f.mem, 16, want)] = '\0';
	CHECK_STR(r, want);
	CHECK_STR(CMD("m100001,3"), "0a1118");
	/* Short read at the end of memory: only the readable part. */
	r = CMD("m10fffe,4");
	CHECK_EQ(f.read_len, 4);
	CHECK_EQ(rep.len[0], 4);
	want[gdb_hex_encode(f.mem + MEM_SIZE - 2, 2, want)] = '\0';
	CHECK_STR(r, want);
	/* Nothing readable. */
	CHECK_STR(CMD("m200000,4"), "E0e");
	CHECK_STR(CMD("m0,1"), "E0e");
	CHECK_STR(CMD("mffffffffffffffff,10"), "E0e");
	/* A huge length is capped to what fits one reply. */
	r = CMD("m100000,ffffffffffffffff");
	CHECK_EQ(f.read_len, MEM_MAX);
	CHECK_EQ(rep.len[0], 2 * MEM_MAX);
	CHECK_EQ(strlen(r), 2 * MEM_MAX);
	CHECK(!strncmp(r, "030a11", 6));
	r = CMD("m100000,10000");
	CHECK_EQ(f.read_len, MEM_MAX);
	CHECK_EQ(rep.len[0], 2 * MEM_MAX);
	/* Capped near the end: the read is short again. */
	r = CMD("m10f000,2000");
	CHECK_EQ(rep.len[0], 2 * 0x1000);
	/* Zero length: no read. */
	f.read_calls = 0;
	CHECK_STR(CMD("m100000,0"), "");
	CHECK_EQ(f.read_calls, 0);
	/* Malformed. */
	CHECK_STR(CMD("m100000"), "E16");
	CHECK_STR(CMD("m100000,"), "E16");
	CHECK_STR(CMD("m,4"), "E16");
	CHECK_STR(CMD("mzz,4"), "E16");
	CHECK_STR(CMD("m100000,4x"), "E16");
	CHECK_STR(CMD("m100000:4"), "E16");
	CHECK_STR(CMD("m10000000000000000,4"), "E16");
	CHECK_EQ(f.read_calls, 0);
	/* Hg2: through the second vCPU. */
	CHECK_STR(CMD("Hg2"), "OK");
	CMD("m100000,1");
	CHECK_EQ(f.read_cpu, 1);
}

static void test_write_mem(void)
{
	/* X data: bytes } # $ * NUL a, escaped as gdb does. */
	static const char x[] = "X100020,6:}]}\x03}\x04}\x0a\0a";
	static const uint8_t x_bytes[] = { 0x7d, 0x23, 0x24, 0x2a, 0x00, 'a' };

	setup(true);
	CHECK_STR(CMD("M100010,4:deadbeef"), "OK");
	CHECK_EQ(f.write_calls, 1);
	CHECK_EQ(f.write_addr, 0x100010);
	CHECK_EQ(f.write_len, 4);
	CHECK_EQ(f.write_cpu, 0);
	CHECK(!f.write_phys);
	CHECK_EQ(f.mem[0x10], 0xde);
	CHECK_EQ(f.mem[0x13], 0xef);
	CHECK_EQ(f.mem[0x14], (uint8_t)(0x14 * 7 + 3));
	CHECK_STR(CMD("m100010,4"), "deadbeef");
	/* Length mismatch, bad hex, no data. */
	CHECK_STR(CMD("M100010,4:dead"), "E16");
	CHECK_STR(CMD("M100010,2:deadbe"), "E16");
	CHECK_STR(CMD("M100010,2:zzzz"), "E16");
	CHECK_STR(CMD("M100010,2"), "E16");
	CHECK_STR(CMD("M100010:dead"), "E16");
	CHECK_STR(CMD("M100010,ffffffffffffffff:00"), "E16");
	CHECK_EQ(f.write_calls, 1);
	/* Partly or not at all writable. */
	CHECK_STR(CMD("M10fffe,4:01020304"), "E0e");
	CHECK_EQ(f.write_len, 4);
	CHECK_STR(CMD("M300000,1:01"), "E0e");
	/* M of nothing. */
	CHECK_STR(CMD("M100000,0:"), "OK");
	CHECK_EQ(f.write_calls, 3);

	/* X: binary, with escapes undone. */
	CHECK_STR(cmd_at(x, sizeof(x) - 1, __LINE__), "OK");
	CHECK_EQ(f.write_calls, 4);
	CHECK_EQ(f.write_addr, 0x100020);
	CHECK_EQ(f.write_len, sizeof(x_bytes));
	CHECK(!memcmp(f.mem + 0x20, x_bytes, sizeof(x_bytes)));
	CHECK_STR(CMD("m100020,6"), "7d23242a0061");
	/* X of zero bytes: gdb's probe, OK without a write. */
	CHECK_STR(CMD("X100000,0:"), "OK");
	CHECK_EQ(f.write_calls, 4);
	/* Length mismatches (escapes count as one byte). */
	CHECK_STR(CMD("X100020,5:abcd"), "E16");
	CHECK_STR(CMD("X100020,3:ab"), "E16");
	CHECK_STR(CMD("X100020,2:}]}]}]"), "E16");
	CHECK_STR(CMD("X100020,1"), "E16");
	CHECK_STR(CMD("X100020,ffff:ab"), "E16");
	CHECK_EQ(f.write_calls, 4);
	/* The ':' and ',' of binary data are data. */
	CHECK_STR(CMD("X100030,3::,:"), "OK");
	CHECK(!memcmp(f.mem + 0x30, ":,:", 3));
	/* What gdb sends with a 16 KiB PacketSize: an X packet of 16,000 data bytes. */
	{
		static char big[32 + 16000];
		int n = snprintf(big, sizeof(big), "X101000,%x:", 16000);

		memset(big + n, 'q', 16000);
		CHECK_STR(cmd_at(big, (size_t)n + 16000, __LINE__), "OK");
		CHECK_EQ(f.write_len, 16000);
		CHECK_EQ(f.mem[0x1000], 'q');
		CHECK_EQ(f.mem[0x1000 + 15999], 'q');
	}
	/* Hg2 */
	CHECK_STR(CMD("Hg2"), "OK");
	CHECK_STR(CMD("X100000,1:z"), "OK");
	CHECK_EQ(f.write_cpu, 1);
	CHECK_EQ(f.mem[0], 'z');
}

/* --- breakpoints --- */

static void test_breakpoints(void)
{
	setup(true);
	CHECK_STR(CMD("Z0,ffffffff81000000,1"), "OK");
	CHECK_EQ(f.bp_calls, 1);
	CHECK(f.bp_insert);
	CHECK_EQ(f.bp_type, GDB_BP_SW);
	CHECK_EQ(f.bp_addr, 0xffffffff81000000ull);
	CHECK_EQ(f.bp_len, 1);
	CHECK_EQ(f.bp_cpu, 0);
	CHECK_STR(CMD("z0,ffffffff81000000,1"), "OK");
	CHECK(!f.bp_insert);
	CHECK_EQ(f.bp_type, GDB_BP_SW);
	CHECK_STR(CMD("Z1,401000,1"), "OK");
	CHECK_EQ(f.bp_type, GDB_BP_HW);
	CHECK_EQ(f.bp_addr, 0x401000);
	CHECK_STR(CMD("Z2,100000,8"), "OK");
	CHECK_EQ(f.bp_type, GDB_WP_WRITE);
	CHECK_EQ(f.bp_len, 8);
	CHECK_STR(CMD("Z4,100004,4"), "OK");
	CHECK_EQ(f.bp_type, GDB_WP_ACCESS);
	CHECK_EQ(f.bp_addr, 0x100004);
	CHECK_EQ(f.bp_len, 4);
	CHECK_STR(CMD("z4,100004,4"), "OK");
	CHECK(!f.bp_insert);
	CHECK_EQ(f.bp_type, GDB_WP_ACCESS);
	/* Conditions and commands after ';' are accepted (not evaluated). */
	CHECK_STR(CMD("Z0,401234,1;X3,220102"), "OK");
	CHECK_EQ(f.bp_addr, 0x401234);
	CHECK_EQ(f.bp_len, 1);
	CHECK_STR(CMD("Z0,401235,1;X3,220102;cmds:0,X1,00"), "OK");
	CHECK_EQ(f.bp_addr, 0x401235);
	CHECK_EQ(f.bp_calls, 8);
	/* The target's answers: -ENOTSUP is an empty reply (gdb tries another way). */
	f.bp_ret[GDB_WP_READ] = -ENOTSUP;
	CHECK_STR(CMD("Z3,100000,4"), "");
	CHECK_EQ(f.bp_type, GDB_WP_READ);
	CHECK_EQ(f.bp_calls, 9);
	f.bp_ret[GDB_BP_HW] = -ENOSPC;
	CHECK_STR(CMD("Z1,401000,1"), "E1c");
	f.bp_ret[GDB_BP_SW] = -EINVAL;
	CHECK_STR(CMD("Z0,0,1"), "E16");
	CHECK_EQ(f.bp_calls, 11);
	/* Malformed: no call. */
	CHECK_STR(CMD("Z5,401000,1"), "E16");
	CHECK_STR(CMD("Z0,zz,1"), "E16");
	CHECK_STR(CMD("Z0,401000"), "E16");
	CHECK_STR(CMD("Z0,401000,"), "E16");
	CHECK_STR(CMD("Z0401000,1"), "E16");
	CHECK_STR(CMD("Z"), "E16");
	CHECK_STR(CMD("Z;0,1,1"), "E16");
	CHECK_STR(CMD("Z0,401000,1x"), "E16");
	CHECK_STR(CMD("Z10000000000000000,0,1"), "E16");
	CHECK_EQ(f.bp_calls, 11);
	/* Hg2: the breakpoint's address space is that vCPU's. */
	f.bp_ret[GDB_BP_SW] = 0;
	CHECK_STR(CMD("Hg2"), "OK");
	CHECK_STR(CMD("Z0,1000,1"), "OK");
	CHECK_EQ(f.bp_cpu, 1);
}

/* --- resuming --- */

static void test_continue_step(void)
{
	setup(true);
	/* c: everything runs, no reply until the stop. */
	CHECK_SILENT("c");
	CHECK_EQ(f.resume_calls, 1);
	CHECK_EQ(f.actions[0], GDB_ACT_CONT);
	CHECK_EQ(f.actions[1], GDB_ACT_CONT);
	CHECK(gdb_server_running(srv));
	stop(0, GDB_SIGTRAP, GDB_STOP_SWBREAK, 0);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:1;swbreak:;");
	/* s: only the Hc vCPU steps (the first after a stop on it). */
	CHECK_SILENT("s");
	CHECK_EQ(f.actions[0], GDB_ACT_STEP);
	CHECK_EQ(f.actions[1], GDB_ACT_HOLD);
	stop(0, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_STR(CMD("Hc2"), "OK");
	CHECK_SILENT("s");
	CHECK_EQ(f.resume_calls, 3);
	CHECK_EQ(f.actions[0], GDB_ACT_HOLD);
	CHECK_EQ(f.actions[1], GDB_ACT_STEP);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:2;");
	/* Hc-1 (all): s steps the first. */
	CHECK_STR(CMD("Hc-1"), "OK");
	CHECK_SILENT("s");
	CHECK_EQ(f.actions[0], GDB_ACT_STEP);
	CHECK_EQ(f.actions[1], GDB_ACT_HOLD);
	stop(0, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	/* c ADDR / s ADDR set the Hc vCPU's rip first. */
	CHECK_STR(CMD("Hc2"), "OK");
	CHECK_SILENT("c401000");
	CHECK_EQ(f.regs[1].rip, 0x401000);
	CHECK_EQ(f.regs[0].rip, 0xffffffff81000000ull);
	CHECK_EQ(f.actions[0], GDB_ACT_CONT);
	CHECK_EQ(f.actions[1], GDB_ACT_CONT);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_SILENT("s402000");
	CHECK_EQ(f.regs[1].rip, 0x402000);
	CHECK_EQ(f.actions[0], GDB_ACT_HOLD);
	CHECK_EQ(f.actions[1], GDB_ACT_STEP);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	/* C/S with a signal (ignored), and an address after ';'. */
	CHECK_SILENT("C0b");
	CHECK_EQ(f.actions[0], GDB_ACT_CONT);
	CHECK_EQ(f.actions[1], GDB_ACT_CONT);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_SILENT("S05;403000");
	CHECK_EQ(f.regs[1].rip, 0x403000);
	CHECK_EQ(f.actions[0], GDB_ACT_HOLD);
	CHECK_EQ(f.actions[1], GDB_ACT_STEP);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_EQ(f.resume_calls, 8);
	/* Malformed: an error, nothing runs. */
	CHECK_STR(CMD("cxyz"), "E16");
	CHECK_STR(CMD("c401000;"), "E16");
	CHECK_STR(CMD("C"), "E16");
	CHECK_STR(CMD("Cxx"), "E16");
	CHECK_STR(CMD("S05:1"), "E16");
	CHECK_STR(CMDF("c%s", "11111111111111111"), "E16");
	CHECK_EQ(f.resume_calls, 8);
	CHECK(!gdb_server_running(srv));
	CHECK_EQ(f.regs[1].rip, 0x403000);
	/* The target refuses to resume: an error, still stopped. */
	f.resume_ret = -EBUSY;
	CHECK_STR(CMD("c"), "E10");
	CHECK_EQ(f.resume_calls, 9);
	CHECK(!gdb_server_running(srv));
	CHECK_STR(CMD("?"), "T05thread:2;");
}

static void test_vcont(void)
{
	setup(true);
	CHECK_SILENT("vCont;s:2;c");
	CHECK_EQ(f.resume_calls, 1);
	CHECK_EQ(f.actions[0], GDB_ACT_CONT);
	CHECK_EQ(f.actions[1], GDB_ACT_STEP);
	CHECK(gdb_server_running(srv));
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_STR(rep.pkt[0], "T05thread:2;");
	/* Threads no action names stay stopped. */
	CHECK_SILENT("vCont;c:1");
	CHECK_EQ(f.actions[0], GDB_ACT_CONT);
	CHECK_EQ(f.actions[1], GDB_ACT_HOLD);
	stop(0, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	/* The leftmost action naming a thread wins. */
	CHECK_SILENT("vCont;s:1;c:1;c");
	CHECK_EQ(f.actions[0], GDB_ACT_STEP);
	CHECK_EQ(f.actions[1], GDB_ACT_CONT);
	stop(0, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_SILENT("vCont;C05:2;t");
	CHECK_EQ(f.actions[0], GDB_ACT_HOLD);
	CHECK_EQ(f.actions[1], GDB_ACT_CONT);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_SILENT("vCont;S0b:-1");
	CHECK_EQ(f.actions[0], GDB_ACT_STEP);
	CHECK_EQ(f.actions[1], GDB_ACT_STEP);
	stop(1, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_SILENT("vCont;c:0"); /* thread 0: any, the first */
	CHECK_EQ(f.actions[0], GDB_ACT_CONT);
	CHECK_EQ(f.actions[1], GDB_ACT_HOLD);
	stop(0, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_EQ(f.resume_calls, 6);
	/* Nothing would run: an error (no stop reply would ever come). */
	CHECK_STR(CMD("vCont;t"), "E16");
	CHECK_STR(CMD("vCont;t:1;t:2"), "E16");
	CHECK_STR(CMD("vCont"), "E16");
	CHECK_STR(CMD("vCont;"), "E16");
	/* Malformed. */
	CHECK_STR(CMD("vCont;x"), "E16");
	CHECK_STR(CMD("vCont;s:3"), "E16");
	CHECK_STR(CMD("vCont;c:"), "E16");
	CHECK_STR(CMD("vCont;c;"), "E16");
	CHECK_STR(CMD("vCont;C"), "E16");
	CHECK_STR(CMD("vCont;c:1x"), "E16");
	CHECK_STR(CMD("vCont:c"), "E16");
	CHECK_EQ(f.resume_calls, 6);
	CHECK(!gdb_server_running(srv));
}

static void test_running(void)
{
	int get_calls, read_calls;

	setup(true);
	/* Ctrl-C while stopped means nothing. */
	CHECK_EQ(feed_str("\x03"), 0);
	parse_out();
	CHECK_EQ(f.interrupts, 0);
	CHECK_EQ(rep.raw_len, 0);
	CHECK_SILENT("c");
	get_calls = f.get_calls;
	read_calls = f.read_calls;
	/* All-stop: while running every packet is EBUSY, nothing reaches the target. */
	CHECK_STR(CMD("?"), "E10");
	CHECK_STR(CMD("g"), "E10");
	CHECK_STR(CMD("m100000,4"), "E10");
	CHECK_STR(CMD("c"), "E10");
	CHECK_STR(CMD("vCont;c"), "E10");
	CHECK_STR(CMD("Z0,1000,1"), "E10");
	CHECK_STR(CMD("D"), "E10");
	CHECK_EQ(f.get_calls, get_calls);
	CHECK_EQ(f.read_calls, read_calls);
	CHECK_EQ(f.resume_calls, 1);
	CHECK_EQ(f.bp_calls, 0);
	CHECK_EQ(f.detaches, 0);
	CHECK(gdb_server_running(srv));
	/* ... except Ctrl-C, which asks the target to stop (no reply of its own). */
	CHECK_EQ(feed_str("\x03"), 0);
	parse_out();
	CHECK_EQ(f.interrupts, 1);
	CHECK_EQ(rep.raw_len, 0);
	/* A 0x03 inside a packet is data, not Ctrl-C. */
	CHECK_EQ(feed_str("$\x03#03"), 0);
	parse_out();
	CHECK_EQ(f.interrupts, 1);
	CHECK_EQ(rep.npkts, 1);
	stop(0, GDB_SIGINT, GDB_STOP_SIGNAL, 0);
	parse_out();
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "T02thread:1;");
	CHECK(!gdb_server_running(srv));
	/* A resume and Ctrl-C in the same buffer. */
	CHECK_EQ(feed_str("$c#63\x03"), 0);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK_EQ(f.interrupts, 2);
	CHECK(gdb_server_running(srv));
}

static void test_exited(void)
{
	setup(true);
	/* While stopped: the client is not waiting, nothing is sent. */
	gdb_server_exited(srv, 0);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK_SILENT("c");
	gdb_server_exited(srv, 0x4f);
	parse_out();
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "W4f");
	CHECK(!gdb_server_running(srv));
	/* Once: a stop after the exit is not reported. */
	stop(0, GDB_SIGTRAP, GDB_STOP_SIGNAL, 0);
	gdb_server_exited(srv, 1);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK_SILENT("c");
	gdb_server_exited(srv, 0x100);
	parse_out();
	CHECK_STR(rep.pkt[0], "W00");
}

/* --- threads --- */

static void test_threads(void)
{
	char hex[64];

	setup(true);
	CHECK_STR(CMD("qfThreadInfo"), "m1,2");
	CHECK_STR(CMD("qsThreadInfo"), "l");
	CHECK_STR(CMD("qC"), "QC1");
	CHECK_STR(CMD("T1"), "OK");
	CHECK_STR(CMD("T2"), "OK");
	CHECK_STR(CMD("T3"), "E16");
	CHECK_STR(CMD("T0"), "OK");
	CHECK_STR(CMD("T-1"), "OK");
	CHECK_STR(CMD("T"), "E16");
	CHECK_STR(CMD("Tz"), "E16");
	CHECK_STR(CMD("T1x"), "E16");
	CHECK_STR(CMD("T100000001"), "E16"); /* not truncated to thread 1 */
	CHECK_STR(CMD("qThreadExtraInfo,2"), hex_str("vCPU 1 halted", hex));
	CHECK_STR(CMD("qThreadExtraInfo,1"), hex_str("vCPU 0 halted", hex));
	CHECK_STR(CMD("qThreadExtraInfo,3"), "E16");
	CHECK_STR(CMD("qThreadExtraInfo,-1"), "E16");
	CHECK_STR(CMD("qThreadExtraInfo,"), "E16");
	/* H: g and c selection. */
	CHECK_STR(CMD("Hg3"), "E16");
	CHECK_STR(CMD("Hgzz"), "E16");
	CHECK_STR(CMD("Hg"), "E16");
	CHECK_STR(CMD("Hx1"), "E16");
	CHECK_STR(CMD("H"), "E16");
	CHECK_STR(CMD("Hg1x"), "E16");
	CMD("g");
	CHECK_EQ(f.get_cpu, 0); /* the failed Hg3 left the selection alone */
	CHECK_STR(CMD("Hg2"), "OK");
	CMD("g");
	CHECK_EQ(f.get_cpu, 1);
	CHECK_STR(CMD("Hg0"), "OK");
	CMD("g");
	CHECK_EQ(f.get_cpu, 0);
	CHECK_STR(CMD("Hg2"), "OK");
	CHECK_STR(CMD("Hg-1"), "OK");
	CMD("g");
	CHECK_EQ(f.get_cpu, 0);
	/* Four vCPUs. */
	f.ncpus = 4;
	CHECK_STR(CMD("qfThreadInfo"), "m1,2,3,4");
	CHECK_STR(CMD("T4"), "OK");
	CHECK_STR(CMD("T5"), "E16");
}

/* --- monitor --- */

static void test_monitor(void)
{
	char hex[600], want[256];

	setup(true);
	CHECK_EQ(feed_pkt("qRcmd,72656773", 14), 0); /* "regs" */
	parse_out();
	CHECK_EQ(f.monitor_calls, 1);
	CHECK_STR(f.monitor_cmd, "regs");
	CHECK_EQ(rep.npkts, 2);
	snprintf(want, sizeof(want), "O%s", hex_str("rax 0x123456789abcdef\n", hex));
	CHECK_STR(rep.pkt[0], want);
	CHECK_STR(rep.pkt[1], "OK");
	/* An unknown command: its message, then still OK. */
	CHECK_EQ(feed_pkt("qRcmd,666f6f", 12), 0); /* "foo" */
	parse_out();
	CHECK_STR(f.monitor_cmd, "foo");
	CHECK_EQ(rep.npkts, 2);
	snprintf(want, sizeof(want), "O%s", hex_str("unknown command 'foo'\n", hex));
	CHECK_STR(rep.pkt[0], want);
	CHECK_STR(rep.pkt[1], "OK");
	/* A failure without a message gets one. */
	snprintf(want, sizeof(want), "qRcmd,%s", hex_str("broken", hex));
	CHECK_EQ(feed_pkt(want, strlen(want)), 0);
	parse_out();
	CHECK_EQ(rep.npkts, 2);
	snprintf(want, sizeof(want), "O%s",
		 hex_str("monitor command failed: Input/output error\n", hex));
	CHECK_STR(rep.pkt[0], want);
	CHECK_STR(rep.pkt[1], "OK");
	/* Success without output: just OK. */
	CHECK_STR(CMDF("qRcmd,%s", hex_str("quiet", hex)), "OK");
	/* Commands with spaces and upper-case hex. */
	snprintf(want, sizeof(want), "qRcmd,%s", "696E666F2072656773");
	CHECK_EQ(feed_pkt(want, strlen(want)), 0);
	parse_out();
	CHECK_STR(f.monitor_cmd, "info regs");
	CHECK_EQ(rep.npkts, 2);
	CHECK_EQ(f.monitor_calls, 5);
	/* Malformed: odd length, bad hex, NUL, too long. */
	CHECK_STR(CMD("qRcmd,726"), "E16");
	CHECK_STR(CMD("qRcmd,7z"), "E16");
	CHECK_STR(CMD("qRcmd,7200"), "E16");
	memset(hex, '1', 512);
	hex[512] = '\0';
	CHECK_STR(CMDF("qRcmd,%s", hex), "E16"); /* 256 bytes */
	CHECK_EQ(f.monitor_calls, 5);
	hex[510] = '\0'; /* 255 bytes fit */
	CHECK_EQ(feed_pkt(want, (size_t)snprintf(want, sizeof(want), "qRcmd,%.100s", hex)), 0);
	parse_out();
	CHECK_EQ(f.monitor_calls, 6);
	CHECK_EQ(strlen(f.monitor_cmd), 50);
	CHECK_EQ((uint8_t)f.monitor_cmd[0], 0x11);
	{
		static char big[GDB_PACKET_MAX];

		snprintf(big, sizeof(big), "qRcmd,%s", hex);
		CHECK_EQ(feed_pkt(big, strlen(big)), 0);
		parse_out();
		CHECK_EQ(f.monitor_calls, 7);
		CHECK_EQ(strlen(f.monitor_cmd), 255);
		CHECK_EQ(rep.npkts, 2);
		CHECK_EQ(rep.pkt[0][0], 'O');
		CHECK_STR(rep.pkt[1], "OK");
	}
	/* qRcmd with nothing: an empty command is passed on. */
	CHECK_EQ(feed_pkt("qRcmd,", 6), 0);
	parse_out();
	CHECK_EQ(f.monitor_calls, 8);
	CHECK_STR(f.monitor_cmd, "");
}

/* --- leaving --- */

static void test_detach_kill(void)
{
	setup(true);
	CHECK_EQ(feed_str("$D#44$g#67"), -EPIPE);
	parse_out();
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "OK");
	CHECK_EQ(f.detaches, 1);
	CHECK_EQ(f.get_calls, 0); /* nothing after the D */
	/* The connection is over: more bytes do nothing. */
	CHECK_EQ(feed_str("$g#67\x03"), -EPIPE);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK_EQ(f.get_calls, 0);
	CHECK_EQ(f.detaches, 1);
	/* A new client. */
	gdb_server_connect(srv, &(struct gdb_stop){ .cpu = 0, .signal = GDB_SIGTRAP });
	CHECK_EQ(feed_str("$g#67"), 0);
	parse_out();
	CHECK_EQ(rep.plus, 1);
	CHECK_EQ(rep.npkts, 1);
	CHECK_EQ(f.get_calls, 1);
	/* D;PID, as gdb's multiprocess form. */
	CHECK_EQ(feed_pkt("D;1", 3), -EPIPE);
	parse_out();
	CHECK_EQ(f.detaches, 2);
	CHECK_STR(rep.pkt[0], "OK");

	/* k: no reply at all (no-ack mode), kill called. */
	setup(true);
	CHECK_EQ(feed_pkt("k", 1), -EPIPE);
	parse_out();
	CHECK_EQ(rep.raw_len, 0);
	CHECK_EQ(f.kills, 1);
	CHECK_EQ(f.detaches, 0);
	CHECK_EQ(feed_pkt("k", 1), -EPIPE);
	CHECK_EQ(f.kills, 1);
	/* In ack mode, k is acked. */
	setup(false);
	CHECK_EQ(feed_pkt("k", 1), -EPIPE);
	parse_out();
	CHECK_EQ(rep.raw_len, 1);
	CHECK_EQ(rep.plus, 1);
	CHECK_EQ(f.kills, 1);
	/* vKill: OK, then closed. */
	setup(true);
	CHECK_EQ(feed_pkt("vKill;1", 7), -EPIPE);
	parse_out();
	CHECK_EQ(rep.npkts, 1);
	CHECK_STR(rep.pkt[0], "OK");
	CHECK_EQ(f.kills, 1);
}

/* --- gdb_x86 --- */

static void test_x86_layout(void)
{
	static const struct {
		unsigned first, last;
		size_t size;
	} sizes[] = {
		{ R_RAX, R_RIP, 8 },	  { R_EFLAGS, R_GS, 4 },       { R_ST0, R_ST0 + 7, 10 },
		{ R_FCTRL, R_FOP, 4 },	  { R_XMM0, R_XMM0 + 15, 16 }, { R_MXCSR, R_MXCSR, 4 },
		{ R_FS_BASE, R_EFER, 8 },
	};
	size_t total = 0;
	unsigned nreg = 0;
	const char *p;
	struct x86_regs r;
	uint8_t out[GDB_X86_REG_MAX];

	CHECK_EQ(GDB_X86_NR_REGS, R_NR);
	CHECK_EQ(GDB_X86_RIP, R_RIP);
	CHECK_EQ(GDB_X86_ST0, R_ST0);
	CHECK_EQ(GDB_X86_XMM0, R_XMM0);
	CHECK_EQ(GDB_X86_MXCSR, R_MXCSR);
	CHECK_EQ(GDB_X86_CR0, R_CR0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (unsigned n = sizes[i].first; n <= sizes[i].last; n++) {
			CHECK_EQ(gdb_x86_reg_size(n), sizes[i].size);
			total += gdb_x86_reg_size(n);
		}
	CHECK_EQ(total, O_TOTAL);
	CHECK_EQ(gdb_x86_regs_size(), O_TOTAL);
	CHECK_EQ(gdb_x86_reg_size(R_NR), 0);
	CHECK_EQ(gdb_x86_reg_size(1000), 0);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(gdb_x86_reg_get(&r, R_NR, out), -EINVAL);
	CHECK_EQ(gdb_x86_reg_set(&r, R_NR, out), -EINVAL);
	CHECK(GDB_X86_REG_MAX >= 16);
	/* The description names one register per number, in order, with the sizes above. */
	CHECK(!strncmp(gdb_x86_target_xml, "<?xml", 5));
	CHECK(strstr(gdb_x86_target_xml, "<architecture>i386:x86-64</architecture>") != NULL);
	for (p = gdb_x86_target_xml; (p = strstr(p, "<reg ")) != NULL; p++) {
		const char *bits = strstr(p, "bitsize=\"");

		CHECK(bits != NULL);
		if (bits)
			CHECK_EQ(strtoul(bits + 9, NULL, 10), 8 * gdb_x86_reg_size(nreg));
		nreg++;
	}
	CHECK_EQ(nreg, R_NR);
	CHECK(strstr(gdb_x86_target_xml, "<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\" "
					 "regnum=\"40\"/>") != NULL);
	CHECK(strstr(gdb_x86_target_xml, "<reg name=\"efer\"") != NULL);
	CHECK(strstr(gdb_x86_target_xml, "</target>\n") != NULL);
}

/* An 80-bit value: mantissa, then sign and exponent. */
static void st_set(uint8_t *st, uint64_t mant, uint16_t sign_exp)
{
	for (unsigned i = 0; i < 8; i++)
		st[i] = (uint8_t)(mant >> (8 * i));
	st[8] = (uint8_t)sign_exp;
	st[9] = (uint8_t)(sign_exp >> 8);
}

static uint32_t reg_u32(const struct x86_regs *r, unsigned n)
{
	uint8_t out[GDB_X86_REG_MAX];

	CHECK_EQ(gdb_x86_reg_get(r, n, out), 0);
	return (uint32_t)(out[0] | out[1] << 8 | out[2] << 16 | (uint32_t)out[3] << 24);
}

static int reg_set64(struct x86_regs *r, unsigned n, uint64_t v)
{
	uint8_t in[8];

	for (unsigned i = 0; i < 8; i++)
		in[i] = (uint8_t)(v >> (8 * i));
	return gdb_x86_reg_set(r, n, in);
}

static void test_x86_ftag(void)
{
	struct x86_regs r;

	/* TOP 6: ST(0) = physical 6 holds 1.0 (valid), ST(1) = physical 7 holds +0 (zero). */
	memset(&r, 0, sizeof(r));
	r.fpu.fsw = 6 << 11;
	r.fpu.ftw = 0xc0;
	st_set(r.fpu.st[0], 0x8000000000000000ull, 0x3fff);
	st_set(r.fpu.st[1], 0, 0);
	st_set(r.fpu.st[2], 0x8000000000000000ull, 0x3fff); /* empty whatever it holds */
	CHECK_EQ(reg_u32(&r, R_FTAG), 0x4fff);
	/* TOP 0: physical 0 +inf, 1 denormal, 2 unnormal (special), 3 -2.0 (valid). */
	memset(&r, 0, sizeof(r));
	r.fpu.ftw = 0x0f;
	st_set(r.fpu.st[0], 0x8000000000000000ull, 0x7fff);
	st_set(r.fpu.st[1], 1, 0);
	st_set(r.fpu.st[2], 0x4000000000000000ull, 0x3fff);
	st_set(r.fpu.st[3], 0x8000000000000000ull, 0xc000);
	CHECK_EQ(reg_u32(&r, R_FTAG), 0xff2a);
	/* TOP 7 wraps: ST(0) = physical 7 (zero), ST(1) = physical 0 (valid). */
	memset(&r, 0, sizeof(r));
	r.fpu.fsw = 7 << 11 | 0x41; /* other status bits do not matter */
	r.fpu.ftw = 0x81;
	st_set(r.fpu.st[0], 0, 0x8000); /* -0 */
	st_set(r.fpu.st[1], 0xc000000000000000ull, 0x4000);
	CHECK_EQ(reg_u32(&r, R_FTAG), 0x7ffc);
	/* Everything empty; everything valid. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(reg_u32(&r, R_FTAG), 0xffff);
	r.fpu.ftw = 0xff;
	for (unsigned i = 0; i < 8; i++)
		st_set(r.fpu.st[i], 0x8000000000000000ull | i, (uint16_t)(0x3fff + i));
	CHECK_EQ(reg_u32(&r, R_FTAG), 0x0000);
	/* Writing the full tag gives the abridged one: 3 is empty, anything else in use. */
	CHECK_EQ(reg_set64(&r, R_FTAG, 0x4fff), 0);
	CHECK_EQ(r.fpu.ftw, 0xc0);
	CHECK_EQ(reg_set64(&r, R_FTAG, 0xffff), 0);
	CHECK_EQ(r.fpu.ftw, 0x00);
	CHECK_EQ(reg_set64(&r, R_FTAG, 0x0000), 0);
	CHECK_EQ(r.fpu.ftw, 0xff);
	CHECK_EQ(reg_set64(&r, R_FTAG, 0x9e6c), 0); /* physical 7..0: 2 1 3 2 1 2 3 0 */
	CHECK_EQ(r.fpu.ftw, 0xdd);
}

static void test_x86_registers(void)
{
	struct x86_regs r;
	uint8_t out[GDB_X86_REG_MAX], in[GDB_X86_REG_MAX];

	fake_regs_init(&r, 0);
	/* GPR order: gdb's rax rbx rcx rdx rsi rdi rbp rsp r8.. */
	static const unsigned order[16] = { EMU_RAX, EMU_RBX, EMU_RCX, EMU_RDX, EMU_RSI, EMU_RDI,
					    EMU_RBP, EMU_RSP, EMU_R8,  EMU_R9,	EMU_R10, EMU_R11,
					    EMU_R12, EMU_R13, EMU_R14, EMU_R15 };
	for (unsigned n = 0; n < 16; n++) {
		uint64_t v = 0;

		CHECK_EQ(gdb_x86_reg_get(&r, n, out), 0);
		memcpy(&v, out, 8);
		CHECK_EQ(v, r.gpr[order[n]]);
	}
	/* Selectors: cs ss ds es fs gs. */
	CHECK_EQ(reg_u32(&r, R_CS), 0x10);
	CHECK_EQ(reg_u32(&r, R_CS + 1), 0x18);
	CHECK_EQ(reg_u32(&r, R_CS + 2), 0x28);
	CHECK_EQ(reg_u32(&r, R_CS + 3), 0x20);
	CHECK_EQ(reg_u32(&r, R_CS + 4), 0x30);
	CHECK_EQ(reg_u32(&r, R_GS), 0x38);
	/* eflags: 32 bits out; in, the reserved bits masked and bit 1 set. */
	r.rflags = 0xffffffff00000246ull;
	CHECK_EQ(reg_u32(&r, R_EFLAGS), 0x246);
	CHECK_EQ(reg_set64(&r, R_EFLAGS, 0xffffffff), 0);
	CHECK_EQ(r.rflags, 0x3f7fd7);
	CHECK_EQ(reg_set64(&r, R_EFLAGS, 0), 0);
	CHECK_EQ(r.rflags, 0x2);
	CHECK_EQ(reg_set64(&r, R_EFLAGS, 0x8028), 0); /* reserved 3, 5, 15 */
	CHECK_EQ(r.rflags, 0x2);
	CHECK_EQ(reg_set64(&r, R_EFLAGS, 0x3001), 0); /* IOPL 3, CF */
	CHECK_EQ(r.rflags, 0x3003);
	/* mxcsr: reserved bits refused, value kept. */
	CHECK_EQ(reg_set64(&r, R_MXCSR, 0x10000), -EPERM);
	CHECK_EQ(reg_set64(&r, R_MXCSR, 0x80001f80u), -EPERM);
	CHECK_EQ(r.fpu.mxcsr, 0x1f80);
	CHECK_EQ(reg_set64(&r, R_MXCSR, 0xffff), 0);
	CHECK_EQ(r.fpu.mxcsr, 0xffff);
	/* Read-only registers: their own value only. */
	CHECK_EQ(reg_set64(&r, R_CS, 0x10), 0);
	CHECK_EQ(reg_set64(&r, R_CS, 0x11), -EPERM);
	CHECK_EQ(reg_set64(&r, R_CS, 0x10010), -EPERM);
	CHECK_EQ(r.seg[EMU_CS].selector, 0x10);
	CHECK_EQ(reg_set64(&r, R_CR0, 0x80050033), 0);
	CHECK_EQ(reg_set64(&r, R_CR0, 0x80050032), -EPERM);
	CHECK_EQ(reg_set64(&r, R_CR0 + 1, 0x7f00dead0000ull), 0); /* cr2 */
	CHECK_EQ(reg_set64(&r, R_CR0 + 1, 0), -EPERM);
	CHECK_EQ(reg_set64(&r, R_CR3, 0x2000), 0);
	CHECK_EQ(reg_set64(&r, R_CR3, 0x2001), -EPERM);
	CHECK_EQ(reg_set64(&r, R_CR8, 0), 0);
	CHECK_EQ(reg_set64(&r, R_CR8, 1), -EPERM);
	CHECK_EQ(reg_set64(&r, R_EFER, 0xd01), 0);
	CHECK_EQ(reg_set64(&r, R_EFER, 0x501), -EPERM);
	CHECK_EQ(r.cr0, 0x80050033);
	CHECK_EQ(r.cr3, 0x2000);
	CHECK_EQ(r.efer, 0xd01);
	/* fs_base/gs_base: canonical addresses only. */
	CHECK_EQ(reg_set64(&r, R_FS_BASE, 0x00007fffffffffffull), 0);
	CHECK_EQ(reg_set64(&r, R_FS_BASE, 0x0000800000000000ull), -EPERM);
	CHECK_EQ(reg_set64(&r, R_GS_BASE, 0xffff7fffffffffffull), -EPERM);
	CHECK_EQ(reg_set64(&r, R_GS_BASE, 0xffff800000000000ull), 0);
	CHECK_EQ(r.seg[EMU_FS].base, 0x00007fffffffffffull);
	CHECK_EQ(r.seg[EMU_GS].base, 0xffff800000000000ull);
	/* x87 pointers and opcode. */
	r.fpu.fip = 0x0000123456789abcull;
	r.fpu.fdp = 0x00000fedcba98765ull;
	r.fpu.fop = 0xffff;
	CHECK_EQ(reg_u32(&r, R_FISEG), 0x1234);
	CHECK_EQ(reg_u32(&r, R_FIOFF), 0x56789abc);
	CHECK_EQ(reg_u32(&r, R_FOSEG), 0x0fed);
	CHECK_EQ(reg_u32(&r, R_FOOFF), 0xcba98765);
	CHECK_EQ(reg_u32(&r, R_FOP), 0x7ff);
	CHECK_EQ(reg_set64(&r, R_FIOFF, 0x11111111), 0);
	CHECK_EQ(r.fpu.fip, 0x0000123411111111ull);
	CHECK_EQ(reg_set64(&r, R_FOSEG, 0x0042), 0);
	CHECK_EQ(r.fpu.fdp, 0x00000042cba98765ull);
	CHECK_EQ(reg_set64(&r, R_FOP, 0xf805), 0);
	CHECK_EQ(r.fpu.fop, 0x005);
	/* st and xmm: raw bytes both ways. */
	for (unsigned i = 0; i < 16; i++)
		in[i] = (uint8_t)(0xa0 + i);
	CHECK_EQ(gdb_x86_reg_set(&r, R_ST0 + 7, in), 0);
	CHECK(!memcmp(r.fpu.st[7], in, 10));
	CHECK_EQ(gdb_x86_reg_get(&r, R_ST0 + 7, out), 0);
	CHECK(!memcmp(out, in, 10));
	CHECK_EQ(gdb_x86_reg_set(&r, R_XMM0 + 9, in), 0);
	CHECK(!memcmp(r.fpu.xmm[9], in, 16));
	CHECK_EQ(r.fpu.xmm[8][0], 0x80);
	CHECK_EQ(r.fpu.xmm[10][0], 0xa0);
	/* Every register reads back what a write of its own value leaves. */
	fake_regs_init(&r, 1);
	for (unsigned n = 0; n < R_NR; n++) {
		struct x86_regs before = r;

		CHECK_EQ(gdb_x86_reg_get(&r, n, out), 0);
		CHECK_EQ(gdb_x86_reg_set(&r, n, out), 0);
		CHECK(!memcmp(&r.gpr, &before.gpr, sizeof(r.gpr)));
		CHECK_EQ(r.rflags, before.rflags);
		CHECK(!memcmp(&r.fpu.st, &before.fpu.st, sizeof(r.fpu.st)));
		CHECK_EQ(r.fpu.ftw, before.fpu.ftw);
	}
}

int main(void)
{
	RUN_TEST(test_ack_mode);
	RUN_TEST(test_qsupported);
	RUN_TEST(test_target_xml);
	RUN_TEST(test_stop_reply);
	RUN_TEST(test_read_regs);
	RUN_TEST(test_write_regs);
	RUN_TEST(test_fpu_pointers_round_trip);
	RUN_TEST(test_read_reg);
	RUN_TEST(test_write_reg);
	RUN_TEST(test_read_mem);
	RUN_TEST(test_write_mem);
	RUN_TEST(test_breakpoints);
	RUN_TEST(test_continue_step);
	RUN_TEST(test_vcont);
	RUN_TEST(test_running);
	RUN_TEST(test_exited);
	RUN_TEST(test_threads);
	RUN_TEST(test_monitor);
	RUN_TEST(test_detach_kill);
	RUN_TEST(test_x86_layout);
	RUN_TEST(test_x86_ftag);
	RUN_TEST(test_x86_registers);
	gdb_server_destroy(srv);
	TEST_EXIT();
}
