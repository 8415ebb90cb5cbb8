/* gdb remote protocol commands for an all-stop x86-64 target (gdb_server.h). */
#include "gdb/gdb_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdb/gdb_packet.h"
#include "gdb/gdb_x86.h"

/* The most memory one m reply carries (its hex must fit a packet; gdb takes short reads). */
#define GDB_MEM_MAX ((GDB_PACKET_MAX - 32) / 2)
/* The most one M/X packet carries: an X packet of PacketSize bytes has nearly that much data, and
 * gdb does not retry a refused write with less. */
#define GDB_WRITE_MAX GDB_PACKET_MAX
/* Monitor output (sent hex-encoded in one O packet). */
#define GDB_MONITOR_MAX ((GDB_PACKET_MAX - 32) / 2)

struct gdb_server {
	const struct gdb_target_ops *ops;
	void *opaque;
	struct gdb_rx rx;
	bool noack;
	bool running;
	bool closing;			    /* detached or killed: the connection ends */
	int g_cpu, c_cpu;		    /* Hg / Hc selection: a vCPU index, or -1 for all */
	struct gdb_stop last;		    /* for `?` */
	char reply[GDB_PACKET_MAX + 1];	    /* payload being built */
	char frame[2 * GDB_PACKET_MAX + 8]; /* framed reply (escapes may double it) */
	size_t frame_len;		    /* for a '-' resend */
	uint8_t mem[GDB_WRITE_MAX];
	char monitor[GDB_MONITOR_MAX + 1];
};

int gdb_server_create(struct gdb_server **out, const struct gdb_target_ops *ops, void *opaque)
{
	struct gdb_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->ops = ops;
	s->opaque = opaque;
	gdb_rx_init(&s->rx);
	*out = s;
	return 0;
}

void gdb_server_destroy(struct gdb_server *s)
{
	free(s);
}

bool gdb_server_running(const struct gdb_server *s)
{
	return s->running;
}

void gdb_server_connect(struct gdb_server *s, const struct gdb_stop *stop)
{
	gdb_rx_init(&s->rx);
	s->noack = false;
	s->running = false;
	s->closing = false;
	s->g_cpu = s->c_cpu = (int)stop->cpu;
	s->last = *stop;
	s->frame_len = 0;
}

static void gdb_send_payload(struct gdb_server *s, const char *payload, size_t len)
{
	ssize_t n = gdb_packet_frame(payload, len, s->frame, sizeof(s->frame));

	if (n < 0) /* cannot happen: replies are bounded below GDB_PACKET_MAX */
		n = gdb_packet_frame("E01", 3, s->frame, sizeof(s->frame));
	s->frame_len = (size_t)n;
	s->ops->send(s->opaque, s->frame, s->frame_len);
}

static void gdb_reply(struct gdb_server *s, const char *text)
{
	gdb_send_payload(s, text, strlen(text));
}

/* E NN with an errno-like number (gdb only shows it). */
static void gdb_reply_err(struct gdb_server *s, int err)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "E%02x", (unsigned)(err < 0 ? -err : err) & 0xff);
	gdb_reply(s, buf);
}

static unsigned gdb_ncpus(struct gdb_server *s)
{
	return s->ops->ncpus(s->opaque);
}

static void gdb_stop_reply(struct gdb_server *s, const struct gdb_stop *st)
{
	static const char *const watch[] = { [GDB_STOP_WATCH] = "watch",
					     [GDB_STOP_RWATCH] = "rwatch",
					     [GDB_STOP_AWATCH] = "awatch" };
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "T%02xthread:%x;", st->signal & 0xff, st->cpu + 1);

	if (st->kind == GDB_STOP_SWBREAK)
		snprintf(buf + n, sizeof(buf) - (size_t)n, "swbreak:;");
	else if (st->kind == GDB_STOP_HWBREAK)
		snprintf(buf + n, sizeof(buf) - (size_t)n, "hwbreak:;");
	else if (st->kind >= GDB_STOP_WATCH && st->kind <= GDB_STOP_AWATCH)
		snprintf(buf + n, sizeof(buf) - (size_t)n, "%s:%llx;", watch[st->kind],
			 (unsigned long long)st->addr);
	gdb_reply(s, buf);
}

void gdb_server_stop(struct gdb_server *s, const struct gdb_stop *stop)
{
	if (!s->running)
		return;
	s->running = false;
	s->last = *stop;
	s->g_cpu = s->c_cpu = (int)stop->cpu;
	gdb_stop_reply(s, stop);
}

void gdb_server_exited(struct gdb_server *s, int status)
{
	char buf[8];

	if (!s->running)
		return;
	s->running = false;
	snprintf(buf, sizeof(buf), "W%02x", (unsigned)status & 0xff);
	gdb_reply(s, buf);
}

/* A thread id: "-1" (all), "0" (any: the first vCPU) or a vCPU number + 1. -1 for all. */
static int gdb_parse_thread(struct gdb_server *s, const char **p, const char *end, int *cpu)
{
	uint64_t v;

	if (end - *p >= 2 && (*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		*cpu = -1;
		return 0;
	}
	if (gdb_hex_u64(p, end, &v))
		return -EINVAL;
	if (v == 0) {
		*cpu = 0;
		return 0;
	}
	if (v > gdb_ncpus(s))
		return -EINVAL;
	*cpu = (int)(v - 1);
	return 0;
}

/* The vCPU a register or memory packet addresses (Hg; "all" means the first). */
static unsigned gdb_g_cpu(const struct gdb_server *s)
{
	return s->g_cpu < 0 ? 0 : (unsigned)s->g_cpu;
}

static void gdb_cmd_read_regs(struct gdb_server *s)
{
	struct x86_regs r;
	uint8_t val[GDB_X86_REG_MAX];
	size_t o = 0;
	int ret = s->ops->get_regs(s->opaque, gdb_g_cpu(s), &r);

	if (ret) {
		gdb_reply_err(s, ret);
		return;
	}
	for (unsigned n = 0; n < GDB_X86_NR_REGS; n++) {
		size_t size = gdb_x86_reg_size(n);

		if (gdb_x86_reg_get(&r, n, val))
			break;
		o += gdb_hex_encode(val, size, s->reply + o);
	}
	gdb_send_payload(s, s->reply, o);
}

static void gdb_cmd_write_regs(struct gdb_server *s, const char *arg, size_t len)
{
	struct x86_regs r;
	uint8_t val[GDB_X86_REG_MAX];
	unsigned cpu = gdb_g_cpu(s);
	int ret;

	if (len != 2 * gdb_x86_regs_size()) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	ret = s->ops->get_regs(s->opaque, cpu, &r);
	for (unsigned n = 0; n < GDB_X86_NR_REGS && !ret; n++) {
		size_t size = gdb_x86_reg_size(n);

		ret = gdb_hex_decode(arg, size, val);
		if (!ret)
			ret = gdb_x86_reg_set(&r, n, val);
		arg += 2 * size;
	}
	/* All or nothing: one register gdb may not change fails the whole packet. */
	if (!ret)
		ret = s->ops->set_regs(s->opaque, cpu, &r);
	if (ret)
		gdb_reply_err(s, ret);
	else
		gdb_reply(s, "OK");
}

static void gdb_cmd_read_reg(struct gdb_server *s, const char *p, const char *end)
{
	struct x86_regs r;
	uint8_t val[GDB_X86_REG_MAX];
	char hex[2 * GDB_X86_REG_MAX];
	uint64_t n;
	int ret;

	if (gdb_hex_u64(&p, end, &n) || p != end || !gdb_x86_reg_size((unsigned)n) ||
	    n >= GDB_X86_NR_REGS) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	ret = s->ops->get_regs(s->opaque, gdb_g_cpu(s), &r);
	if (!ret)
		ret = gdb_x86_reg_get(&r, (unsigned)n, val);
	if (ret) {
		gdb_reply_err(s, ret);
		return;
	}
	gdb_send_payload(s, hex, gdb_hex_encode(val, gdb_x86_reg_size((unsigned)n), hex));
}

static void gdb_cmd_write_reg(struct gdb_server *s, const char *p, const char *end)
{
	struct x86_regs r;
	uint8_t val[GDB_X86_REG_MAX];
	unsigned cpu = gdb_g_cpu(s);
	uint64_t n;
	size_t size;
	int ret;

	if (gdb_hex_u64(&p, end, &n) || n >= GDB_X86_NR_REGS || p == end || *p++ != '=') {
		gdb_reply_err(s, EINVAL);
		return;
	}
	size = gdb_x86_reg_size((unsigned)n);
	if ((size_t)(end - p) != 2 * size || gdb_hex_decode(p, size, val)) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	ret = s->ops->get_regs(s->opaque, cpu, &r);
	if (!ret)
		ret = gdb_x86_reg_set(&r, (unsigned)n, val);
	if (!ret)
		ret = s->ops->set_regs(s->opaque, cpu, &r);
	if (ret)
		gdb_reply_err(s, ret);
	else
		gdb_reply(s, "OK");
}

/* "ADDR,LEN" then sep (or the end when sep is 0). */
static int gdb_parse_addr_len(const char **p, const char *end, char sep, uint64_t *addr,
			      uint64_t *len)
{
	if (gdb_hex_u64(p, end, addr) || *p == end || *(*p)++ != ',' || gdb_hex_u64(p, end, len))
		return -EINVAL;
	if (sep) {
		if (*p == end || **p != sep)
			return -EINVAL;
		(*p)++;
	} else if (*p != end) {
		return -EINVAL;
	}
	return 0;
}

static void gdb_cmd_read_mem(struct gdb_server *s, const char *p, const char *end, bool phys)
{
	uint64_t addr, len;
	ssize_t n;

	if (gdb_parse_addr_len(&p, end, 0, &addr, &len)) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	if (len > GDB_MEM_MAX)
		len = GDB_MEM_MAX; /* gdb takes a short read and asks for the rest */
	if (len == 0) {
		gdb_reply(s, "");
		return;
	}
	n = s->ops->read_mem(s->opaque, gdb_g_cpu(s), addr, s->mem, (size_t)len, phys);
	if (n <= 0) {
		gdb_reply_err(s, n < 0 ? (int)n : EFAULT);
		return;
	}
	gdb_send_payload(s, s->reply, gdb_hex_encode(s->mem, (size_t)n, s->reply));
}

static void gdb_cmd_write_mem(struct gdb_server *s, char *p, char *end, bool binary)
{
	uint64_t addr, len;
	const char *q = p;
	ssize_t n;

	if (gdb_parse_addr_len(&q, end, ':', &addr, &len) || len > GDB_WRITE_MAX) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	p = (char *)q;
	if (binary) {
		n = gdb_binary_unescape(p, (size_t)(end - p));
		if (n != (ssize_t)len) {
			gdb_reply_err(s, EINVAL);
			return;
		}
		memcpy(s->mem, p, (size_t)len);
	} else if ((size_t)(end - p) != 2 * len || gdb_hex_decode(p, (size_t)len, s->mem)) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	if (len == 0) {
		gdb_reply(s, "OK"); /* gdb's probe for X support */
		return;
	}
	n = s->ops->write_mem(s->opaque, gdb_g_cpu(s), addr, s->mem, (size_t)len, false);
	if (n != (ssize_t)len)
		gdb_reply_err(s, n < 0 ? (int)n : EFAULT);
	else
		gdb_reply(s, "OK");
}

static void gdb_cmd_breakpoint(struct gdb_server *s, bool insert, const char *p, const char *end)
{
	uint64_t type, addr, kind;
	int ret;

	/* "TYPE,ADDR,KIND" optionally followed by ";cond..." which kvmbox does not evaluate. */
	const char *semi = memchr(p, ';', (size_t)(end - p));

	if (semi)
		end = semi;
	if (gdb_hex_u64(&p, end, &type) || p == end || *p++ != ',' ||
	    gdb_parse_addr_len(&p, end, 0, &addr, &kind) || type > GDB_WP_ACCESS) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	ret = s->ops->breakpoint(s->opaque, gdb_g_cpu(s), insert, (int)type, addr, kind);
	if (ret == -ENOTSUP)
		gdb_reply(s, ""); /* gdb then tries another kind */
	else if (ret)
		gdb_reply_err(s, ret);
	else
		gdb_reply(s, "OK");
}

/* Resume with actions; an optional new RIP for the vCPU that moves. */
static void gdb_resume(struct gdb_server *s, uint8_t *actions)
{
	int ret = s->ops->resume(s->opaque, actions);

	if (ret) {
		gdb_reply_err(s, ret);
		return;
	}
	s->running = true; /* the stop reply comes later */
}

static int gdb_set_pc(struct gdb_server *s, unsigned cpu, const char *p, const char *end)
{
	struct x86_regs r;
	uint64_t pc;
	int ret;

	if (p == end)
		return 0;
	if (gdb_hex_u64(&p, end, &pc) || p != end)
		return -EINVAL;
	ret = s->ops->get_regs(s->opaque, cpu, &r);
	if (!ret) {
		r.rip = pc;
		ret = s->ops->set_regs(s->opaque, cpu, &r);
	}
	return ret;
}

/* c/s/C/S: continue everything, or step the Hc vCPU with the others held. */
static void gdb_cmd_resume(struct gdb_server *s, char cmd, const char *p, const char *end)
{
	unsigned ncpus = gdb_ncpus(s), cpu = s->c_cpu < 0 ? 0 : (unsigned)s->c_cpu;
	uint8_t *actions = calloc(ncpus ? ncpus : 1, 1);
	bool step = cmd == 's' || cmd == 'S';
	uint64_t sig;
	int ret;

	if (!actions) {
		gdb_reply_err(s, ENOMEM);
		return;
	}
	if (cmd == 'C' || cmd == 'S') {
		/* The signal means nothing to a VM; skip it and its ';'. */
		if (gdb_hex_u64(&p, end, &sig) || (p != end && *p++ != ';')) {
			free(actions);
			gdb_reply_err(s, EINVAL);
			return;
		}
	}
	ret = gdb_set_pc(s, cpu, p, end);
	if (ret) {
		free(actions);
		gdb_reply_err(s, ret);
		return;
	}
	for (unsigned i = 0; i < ncpus; i++)
		actions[i] = step ? (i == cpu ? GDB_ACT_STEP : GDB_ACT_HOLD) : GDB_ACT_CONT;
	gdb_resume(s, actions);
	free(actions);
}

/* vCont;ACTION[:TID];... -- the leftmost action naming a thread applies to it; threads no action
 * names stay stopped. */
static void gdb_cmd_vcont(struct gdb_server *s, const char *p, const char *end)
{
	unsigned ncpus = gdb_ncpus(s);
	uint8_t *actions = calloc(ncpus ? ncpus : 1, 1);
	bool *set = calloc(ncpus ? ncpus : 1, sizeof(bool));
	bool any = false;
	int ret = 0;

	if (!actions || !set) {
		free(actions);
		free(set);
		gdb_reply_err(s, ENOMEM);
		return;
	}
	while (p < end && !ret) {
		uint8_t act;
		uint64_t sig;
		int cpu = -1;

		if (*p++ != ';' || p == end) {
			ret = -EINVAL;
			break;
		}
		switch (*p++) {
		case 'c':
			act = GDB_ACT_CONT;
			break;
		case 's':
			act = GDB_ACT_STEP;
			break;
		case 't':
			act = GDB_ACT_HOLD;
			break;
		case 'C':
			act = GDB_ACT_CONT;
			ret = gdb_hex_u64(&p, end, &sig);
			break;
		case 'S':
			act = GDB_ACT_STEP;
			ret = gdb_hex_u64(&p, end, &sig);
			break;
		default:
			ret = -EINVAL;
			continue;
		}
		if (ret)
			break;
		if (p < end && *p == ':') {
			p++;
			ret = gdb_parse_thread(s, &p, end, &cpu);
			if (ret)
				break;
		}
		for (unsigned i = 0; i < ncpus; i++) {
			if ((cpu >= 0 && (unsigned)cpu != i) || set[i])
				continue;
			actions[i] = act;
			set[i] = true;
			any |= act != GDB_ACT_HOLD;
		}
	}
	if (!ret && !any)
		ret = -EINVAL; /* nothing would run: no stop reply would ever come */
	if (ret)
		gdb_reply_err(s, ret);
	else
		gdb_resume(s, actions);
	free(actions);
	free(set);
}

/* qXfer:features:read:ANNEX:OFFSET,LENGTH */
static void gdb_cmd_xfer_features(struct gdb_server *s, const char *p, const char *end)
{
	static const char annex[] = "target.xml:";
	size_t total = strlen(gdb_x86_target_xml);
	uint64_t off, len;

	if ((size_t)(end - p) < sizeof(annex) - 1 || memcmp(p, annex, sizeof(annex) - 1)) {
		gdb_reply_err(s, ENOENT);
		return;
	}
	p += sizeof(annex) - 1;
	if (gdb_parse_addr_len(&p, end, 0, &off, &len) || !len) {
		gdb_reply_err(s, EINVAL); /* a zero length would have the client ask forever */
		return;
	}
	if (off >= total) {
		gdb_reply(s, "l");
		return;
	}
	if (len > GDB_PACKET_MAX / 2 - 8)
		len = GDB_PACKET_MAX / 2 - 8; /* escapes may double it */
	if (len > total - off)
		len = total - off;
	s->reply[0] = off + len < total ? 'm' : 'l';
	memcpy(s->reply + 1, gdb_x86_target_xml + off, (size_t)len);
	gdb_send_payload(s, s->reply, (size_t)len + 1);
}

/* qRcmd,HEX: a monitor command; its output goes out as O packets, then OK or an error. */
static void gdb_cmd_monitor(struct gdb_server *s, const char *p, const char *end)
{
	size_t n = (size_t)(end - p) / 2;
	char cmd[256];
	int ret;

	if ((size_t)(end - p) % 2 || n >= sizeof(cmd) || gdb_hex_decode(p, n, (uint8_t *)cmd)) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	cmd[n] = '\0';
	if (memchr(cmd, '\0', n)) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	s->monitor[0] = '\0';
	ret = s->ops->monitor(s->opaque, cmd, s->monitor, sizeof(s->monitor));
	s->monitor[sizeof(s->monitor) - 1] = '\0';
	n = strlen(s->monitor);
	if (n) {
		s->reply[0] = 'O';
		gdb_send_payload(s, s->reply, 1 + gdb_hex_encode(s->monitor, n, s->reply + 1));
	}
	/* As QEMU does: a failed command has said why in its output; the packet itself worked. */
	if (ret && !n) {
		snprintf(s->monitor, sizeof(s->monitor), "monitor command failed: %s\n",
			 strerror(-ret));
		s->reply[0] = 'O';
		gdb_send_payload(s, s->reply,
				 1 + gdb_hex_encode(s->monitor, strlen(s->monitor), s->reply + 1));
	}
	gdb_reply(s, "OK");
}

static bool gdb_prefix(const char *p, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(end - p) >= n && !memcmp(p, prefix, n);
}

static void gdb_cmd_query(struct gdb_server *s, const char *p, const char *end)
{
	char buf[160];

	if (gdb_prefix(p, end, "qSupported")) {
		snprintf(buf, sizeof(buf),
			 "PacketSize=%x;qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;"
			 "QStartNoAckMode+",
			 GDB_PACKET_MAX);
		gdb_reply(s, buf);
	} else if (gdb_prefix(p, end, "qXfer:features:read:")) {
		gdb_cmd_xfer_features(s, p + 20, end);
	} else if (gdb_prefix(p, end, "qfThreadInfo")) {
		size_t o = 0;
		unsigned n = gdb_ncpus(s);

		s->reply[o++] = 'm';
		for (unsigned i = 0; i < n && o + 12 < sizeof(s->reply); i++)
			o += (size_t)snprintf(s->reply + o, sizeof(s->reply) - o, "%s%x",
					      i ? "," : "", i + 1);
		gdb_send_payload(s, s->reply, o);
	} else if (gdb_prefix(p, end, "qsThreadInfo")) {
		gdb_reply(s, "l");
	} else if (gdb_prefix(p, end, "qC") && end - p == 2) {
		snprintf(buf, sizeof(buf), "QC%x", s->last.cpu + 1);
		gdb_reply(s, buf);
	} else if (gdb_prefix(p, end, "qAttached")) {
		gdb_reply(s, "1"); /* detaching leaves the VM running */
	} else if (gdb_prefix(p, end, "qThreadExtraInfo,")) {
		const char *q = p + 17;
		int cpu;
		char desc[64] = "";

		if (gdb_parse_thread(s, &q, end, &cpu) || q != end || cpu < 0) {
			gdb_reply_err(s, EINVAL);
			return;
		}
		s->ops->describe(s->opaque, (unsigned)cpu, desc, sizeof(desc));
		desc[sizeof(desc) - 1] = '\0';
		gdb_send_payload(s, buf, gdb_hex_encode(desc, strlen(desc), buf));
	} else if (gdb_prefix(p, end, "qRcmd,")) {
		gdb_cmd_monitor(s, p + 6, end);
	} else if (gdb_prefix(p, end, "qSymbol")) {
		gdb_reply(s, "OK");
	} else {
		gdb_reply(s, ""); /* unsupported */
	}
}

static void gdb_cmd_set_thread(struct gdb_server *s, const char *p, const char *end)
{
	char op;
	int cpu;

	if (p == end) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	op = *p++;
	if ((op != 'g' && op != 'c') || gdb_parse_thread(s, &p, end, &cpu) || p != end) {
		gdb_reply_err(s, EINVAL);
		return;
	}
	if (op == 'g')
		s->g_cpu = cpu;
	else
		s->c_cpu = cpu;
	gdb_reply(s, "OK");
}

static void gdb_cmd_v(struct gdb_server *s, const char *p, const char *end)
{
	if (gdb_prefix(p, end, "vCont?")) {
		gdb_reply(s, "vCont;c;C;s;S;t");
	} else if (gdb_prefix(p, end, "vCont")) {
		gdb_cmd_vcont(s, p + 5, end);
	} else if (gdb_prefix(p, end, "vKill")) {
		gdb_reply(s, "OK");
		s->closing = true;
		s->ops->kill(s->opaque);
	} else {
		gdb_reply(s, ""); /* vMustReplyEmpty and everything else */
	}
}

static void gdb_dispatch(struct gdb_server *s, char *pkt, size_t len)
{
	char *end = pkt + len, *arg = pkt + 1;
	const char *q = arg;
	int cpu;

	if (!len) {
		gdb_reply(s, "");
		return;
	}
	if (s->running) {
		/* All-stop: nothing but Ctrl-C means anything while the vCPUs run. */
		gdb_reply_err(s, EBUSY);
		return;
	}
	switch (pkt[0]) {
	case '?':
		gdb_stop_reply(s, &s->last);
		break;
	case 'g':
		gdb_cmd_read_regs(s);
		break;
	case 'G':
		gdb_cmd_write_regs(s, arg, (size_t)(end - arg));
		break;
	case 'p':
		gdb_cmd_read_reg(s, arg, end);
		break;
	case 'P':
		gdb_cmd_write_reg(s, arg, end);
		break;
	case 'm':
		gdb_cmd_read_mem(s, arg, end, false);
		break;
	case 'M':
		gdb_cmd_write_mem(s, arg, end, false);
		break;
	case 'X':
		gdb_cmd_write_mem(s, arg, end, true);
		break;
	case 'Z':
	case 'z':
		gdb_cmd_breakpoint(s, pkt[0] == 'Z', arg, end);
		break;
	case 'c':
	case 's':
	case 'C':
	case 'S':
		gdb_cmd_resume(s, pkt[0], arg, end);
		break;
	case 'H':
		gdb_cmd_set_thread(s, arg, end);
		break;
	case 'T':
		if (gdb_parse_thread(s, &q, end, &cpu) || q != end)
			gdb_reply_err(s, EINVAL);
		else
			gdb_reply(s, "OK");
		break;
	case 'q':
		gdb_cmd_query(s, pkt, end);
		break;
	case 'Q':
		if (gdb_prefix(pkt, end, "QStartNoAckMode")) {
			gdb_reply(s, "OK");
			s->noack = true;
		} else {
			gdb_reply(s, "");
		}
		break;
	case 'v':
		gdb_cmd_v(s, pkt, end);
		break;
	case 'D':
		gdb_reply(s, "OK");
		s->closing = true;
		s->ops->detach(s->opaque);
		break;
	case 'k':
		s->closing = true; /* no reply */
		s->ops->kill(s->opaque);
		break;
	default:
		gdb_reply(s, "");
		break;
	}
}

int gdb_server_feed(struct gdb_server *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len && !s->closing; i++) {
		switch (gdb_rx_feed(&s->rx, p[i])) {
		case GDB_RX_PACKET:
			if (!s->noack)
				s->ops->send(s->opaque, "+", 1);
			gdb_dispatch(s, s->rx.buf, s->rx.len);
			break;
		case GDB_RX_BAD_CSUM:
		case GDB_RX_TOO_LONG:
			if (!s->noack)
				s->ops->send(s->opaque, "-", 1);
			break;
		case GDB_RX_NAK:
			if (!s->noack && s->frame_len)
				s->ops->send(s->opaque, s->frame, s->frame_len);
			break;
		case GDB_RX_INTERRUPT:
			if (s->running)
				s->ops->interrupt(s->opaque);
			break;
		default:
			break;
		}
	}
	return s->closing ? -EPIPE : 0;
}
