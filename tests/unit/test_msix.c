/* Unit tests: MSI-X capability, table and PBA accesses, masking, pending bits, the msi_sink. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "pci/msix.h"
#include "state_check.h"
#include "test.h"

#define NVEC 4
#define TABLE 0x100
#define PBA 0x800

struct fake_sink {
	unsigned updates;
	unsigned signals[MSIX_MAX_VECTORS];
	unsigned total_signals;
	uint64_t addr[MSIX_MAX_VECTORS];
	uint32_t data[MSIX_MAX_VECTORS];
	bool masked[MSIX_MAX_VECTORS];
	unsigned bad_vec;
};

static void sink_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	struct fake_sink *s = opaque;

	if (vec >= NVEC) {
		s->bad_vec++;
		return;
	}
	s->updates++;
	s->addr[vec] = addr;
	s->data[vec] = data;
	s->masked[vec] = masked;
}

static void sink_signal(void *opaque, unsigned vec)
{
	struct fake_sink *s = opaque;

	if (vec >= NVEC) {
		s->bad_vec++;
		return;
	}
	__atomic_fetch_add(&s->signals[vec], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->total_signals, 1, __ATOMIC_RELAXED);
}

static void bar_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}

static void bar_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len;
}

static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

struct env {
	struct pci_dev dev;
	struct msix m;
	struct fake_sink sink;
};

static void env_written(struct pci_dev *dev, uint32_t off, unsigned len)
{
	struct env *e = dev->opaque;

	msix_config_written(&e->m, off, len);
}

static void env_init(struct env *e)
{
	struct msi_sink sink = { .update = sink_update, .signal = sink_signal, .opaque = &e->sink };

	memset(e, 0, sizeof(*e));
	pci_dev_init(&e->dev, "msix-test", 0x1af4, 0x1044, 0, 1, 0, 0);
	e->dev.opaque = e;
	e->dev.config_written = env_written;
	if (pci_dev_add_bar(&e->dev, 2, 0x1000, false, &bar_ops, NULL) ||
	    msix_init(&e->m, &e->dev, NVEC, 2, TABLE, PBA, &sink))
		abort();
}

static void env_cleanup(struct env *e)
{
	msix_cleanup(&e->m);
	pci_dev_cleanup(&e->dev);
}

static uint64_t le(const uint8_t *b, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static uint64_t cfg_read(struct env *e, uint32_t off, unsigned len)
{
	uint8_t b[8];

	pci_config_read(&e->dev, off, b, len);
	return le(b, len);
}

static void cfg_write(struct env *e, uint32_t off, uint64_t v, unsigned len)
{
	uint8_t b[8];

	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	pci_config_write(&e->dev, off, b, len);
}

static uint64_t tab_read(struct env *e, uint64_t off, unsigned len)
{
	uint8_t b[8];

	msix_table_read(&e->m, off, b, len);
	return le(b, len);
}

static void tab_write(struct env *e, uint64_t off, uint64_t v, unsigned len)
{
	uint8_t b[8];

	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	msix_table_write(&e->m, off, b, len);
}

static uint64_t pba_read(struct env *e)
{
	uint8_t b[8];

	msix_pba_read(&e->m, 0, b, 8);
	return le(b, 8);
}

/* Message Control through config space, as the OS writes it (a word at cap + 2). */
static void ctrl_write(struct env *e, bool enable, bool mask)
{
	cfg_write(e, e->m.cap_off + 2, (enable ? 0x8000 : 0) | (mask ? 0x4000 : 0), 2);
}

static void program(struct env *e, unsigned vec, uint64_t addr, uint32_t data)
{
	tab_write(e, 16 * vec, addr, 8);
	tab_write(e, 16 * vec + 8, data, 4);
}

static void test_msix_cap(void)
{
	struct env e;
	unsigned pos;

	env_init(&e);
	pos = (unsigned)cfg_read(&e, PCI_CAPABILITY_LIST, 1);
	CHECK_EQ(pos, e.m.cap_off);
	CHECK_EQ(cfg_read(&e, pos, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(cfg_read(&e, pos + 1, 1), 0);
	CHECK_EQ(cfg_read(&e, pos + 2, 2), NVEC - 1);
	CHECK_EQ(cfg_read(&e, pos + 4, 4), TABLE | 2);
	CHECK_EQ(cfg_read(&e, pos + 8, 4), PBA | 2);
	CHECK(cfg_read(&e, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Only enable and function mask are writable. */
	cfg_write(&e, pos, 0xffffffff, 4);
	cfg_write(&e, pos + 4, 0xffffffff, 4);
	cfg_write(&e, pos + 8, 0xffffffff, 4);
	CHECK_EQ(cfg_read(&e, pos, 4), 0xc0000000u | (NVEC - 1) << 16 | PCI_CAP_ID_MSIX);
	CHECK_EQ(cfg_read(&e, pos + 4, 4), TABLE | 2);
	CHECK_EQ(cfg_read(&e, pos + 8, 4), PBA | 2);
	CHECK(msix_enabled(&e.m));
	CHECK(e.m.func_masked);
	/* Entries reset masked: enabling routed nothing. */
	for (unsigned v = 0; v < NVEC; v++) {
		CHECK(e.sink.masked[v]);
		CHECK_EQ(tab_read(&e, 16 * v + 12, 4), 1);
	}
	cfg_write(&e, pos + 3, 0, 1);
	CHECK(!msix_enabled(&e.m));
	env_cleanup(&e);

	/* Bad geometry. */
	{
		struct pci_dev d;
		struct msix m;

		pci_dev_init(&d, "d", 1, 1, 0, 0, 0, 0);
		CHECK(msix_init(&m, &d, 1, 0, 0, 0x800, NULL) != 0); /* no BAR 0 */
		CHECK_EQ(pci_dev_add_bar(&d, 0, 0x1000, false, &bar_ops, NULL), 0);
		CHECK(msix_init(&m, &d, 0, 0, 0, 0x800, NULL) != 0);
		CHECK(msix_init(&m, &d, MSIX_MAX_VECTORS + 1, 0, 0, 0x800, NULL) != 0);
		CHECK(msix_init(&m, &d, 1, 6, 0, 0x800, NULL) != 0);
		CHECK(msix_init(&m, &d, 1, 0, 4, 0x800, NULL) != 0);	 /* misaligned */
		CHECK(msix_init(&m, &d, 1, 0, 0, 0x804, NULL) != 0);	 /* misaligned */
		CHECK(msix_init(&m, &d, 64, 0, 0xc08, 0, NULL) != 0);	 /* table past BAR */
		CHECK(msix_init(&m, &d, 1, 0, 0, 0xffc, NULL) != 0);	 /* PBA past BAR */
		CHECK(msix_init(&m, &d, 4, 0, 0x800, 0x830, NULL) != 0); /* overlap */
		CHECK(msix_init(&m, &d, 4, 0, 0x800, 0x840, NULL) == 0);
		msix_cleanup(&m);
		pci_dev_cleanup(&d);
	}
}

static void test_msix_table_widths(void)
{
	struct env e;

	env_init(&e);
	/* 32-bit accesses to each dword. */
	tab_write(&e, 16, 0xfee01000, 4);
	tab_write(&e, 20, 0x1, 4);
	tab_write(&e, 24, 0x4041, 4);
	tab_write(&e, 28, 0xfffffffe, 4); /* unmask; reserved bits stay zero */
	CHECK_EQ(tab_read(&e, 16, 4), 0xfee01000);
	CHECK_EQ(tab_read(&e, 20, 4), 1);
	CHECK_EQ(tab_read(&e, 24, 4), 0x4041);
	CHECK_EQ(tab_read(&e, 28, 4), 0);
	CHECK_EQ(e.sink.addr[1], 0x1fee01000ull);
	CHECK_EQ(e.sink.data[1], 0x4041);
	/* 64-bit accesses: the address as one qword, data + control as another. */
	tab_write(&e, 32, 0x00000000fee02000ull, 8);
	tab_write(&e, 40, 0x0000000100004042ull, 8);
	CHECK_EQ(tab_read(&e, 32, 8), 0xfee02000);
	CHECK_EQ(tab_read(&e, 40, 8), 0x0000000100004042ull);
	CHECK_EQ(e.sink.addr[2], 0xfee02000);
	CHECK_EQ(e.sink.data[2], 0x4042);
	CHECK(e.sink.masked[2]);
	/* Byte and word accesses (not allowed to drivers, but defined here). */
	tab_write(&e, 48 + 8, 0x11, 1);
	tab_write(&e, 48 + 10, 0x2233, 2);
	CHECK_EQ(tab_read(&e, 48 + 8, 4), 0x22330011);
	CHECK_EQ(tab_read(&e, 48 + 9, 1), 0);
	CHECK_EQ(tab_read(&e, 48 + 10, 2), 0x2233);
	/* The low two address bits read zero (dword-aligned messages). */
	tab_write(&e, 0, 0xfee00003, 4);
	CHECK_EQ(tab_read(&e, 0, 4), 0xfee00000);
	/* An unchanged write does not reach the sink. */
	{
		unsigned before = e.sink.updates;

		tab_write(&e, 0, 0xfee00000, 4);
		CHECK_EQ(e.sink.updates, before);
	}
	env_cleanup(&e);
}

static void test_msix_hostile(void)
{
	static const uint64_t offs[] = {
		0,	   1,  7,  12,	  15,	  60,	      61,
		63,	   64, 65, 0x7ff, 0x1000, 1ull << 32, UINT64_MAX - 3,
		UINT64_MAX
	};
	struct env e;
	uint8_t b[16];

	env_init(&e);
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (unsigned len = 0; len <= 16; len++) {
			memset(b, 0xa5, sizeof(b));
			msix_table_read(&e.m, offs[i], b, len);
			for (unsigned j = len; j < sizeof(b); j++)
				CHECK_EQ(b[j], 0xa5);
			for (unsigned j = 0; j < len; j++)
				if (offs[i] >= 64 || j >= 64 - offs[i])
					CHECK_EQ(b[j], 0);
			memset(b, 0xa5, sizeof(b));
			msix_pba_read(&e.m, offs[i], b, len);
			for (unsigned j = len; j < sizeof(b); j++)
				CHECK_EQ(b[j], 0xa5);
			memset(b, 0xff, sizeof(b));
			msix_table_write(&e.m, offs[i], b, len);
		}
	}
	/* A 16-byte write at 60 reached only the last dword of the table (entry 3's control). */
	CHECK_EQ(tab_read(&e, 60, 4), 1);
	CHECK_EQ(e.sink.bad_vec, 0);
	msix_notify(&e.m, NVEC);
	msix_notify(&e.m, UINT32_MAX);
	CHECK_EQ(e.sink.bad_vec, 0);
	/* Hostile config writes over the capability. */
	for (unsigned off = e.m.cap_off; off < e.m.cap_off + 12u; off++)
		cfg_write(&e, off, UINT64_MAX, 8);
	CHECK(msix_enabled(&e.m));
	env_cleanup(&e);
}

static void test_msix_enable_mask_pending(void)
{
	struct env e;

	env_init(&e);
	program(&e, 0, 0xfee00000, 0x30);
	program(&e, 1, 0xfee00000, 0x31);
	tab_write(&e, 12, 0, 4);
	tab_write(&e, 28, 0, 4);
	CHECK(e.sink.masked[0]); /* not enabled yet */
	/* Disabled: a notification is not MSI-X's to keep (the transport uses INTx). */
	msix_notify(&e.m, 0);
	CHECK_EQ(e.sink.total_signals, 0);
	CHECK_EQ(pba_read(&e), 0);

	/* Linux: enable with the function masked, program, then unmask. */
	ctrl_write(&e, true, true);
	CHECK(msix_enabled(&e.m));
	CHECK(e.sink.masked[0] && e.sink.masked[1]);
	msix_notify(&e.m, 0);
	msix_notify(&e.m, 0);
	CHECK_EQ(e.sink.total_signals, 0);
	CHECK_EQ(pba_read(&e), 1);
	ctrl_write(&e, true, false);
	CHECK(!e.sink.masked[0] && !e.sink.masked[1]);
	CHECK(e.sink.masked[2]);
	CHECK_EQ(e.sink.signals[0], 1); /* pending bits collapse: one delivery */
	CHECK_EQ(pba_read(&e), 0);
	msix_notify(&e.m, 1);
	CHECK_EQ(e.sink.signals[1], 1);

	/* Per-vector mask. */
	tab_write(&e, 16 + 12, 1, 4);
	CHECK(e.sink.masked[1]);
	msix_notify(&e.m, 1);
	CHECK_EQ(e.sink.signals[1], 1);
	CHECK_EQ(pba_read(&e), 2);
	{
		uint8_t b[2];

		msix_pba_read(&e.m, 0, b, 1);
		CHECK_EQ(b[0], 2);
		msix_pba_read(&e.m, 1, b, 2);
		CHECK_EQ(le(b, 2), 0);
	}
	/* Reprogramming while masked keeps the pending bit; unmasking delivers it. */
	program(&e, 1, 0xfee01000, 0x41);
	CHECK_EQ(e.sink.data[1], 0x41);
	CHECK_EQ(pba_read(&e), 2);
	tab_write(&e, 16 + 8, 0x0000000000000041ull, 8); /* data + control as one qword */
	CHECK(!e.sink.masked[1]);
	CHECK_EQ(e.sink.signals[1], 2);
	CHECK_EQ(pba_read(&e), 0);

	/* A masked vector with nothing pending delivers nothing when unmasked. */
	tab_write(&e, 12, 1, 4);
	tab_write(&e, 12, 0, 4);
	CHECK_EQ(e.sink.signals[0], 1);

	/* Function mask holds vector 0; disabling MSI-X keeps the pending bit for later. */
	ctrl_write(&e, true, true);
	msix_notify(&e.m, 0);
	CHECK_EQ(pba_read(&e), 1);
	ctrl_write(&e, false, false);
	CHECK(!msix_enabled(&e.m));
	for (unsigned v = 0; v < NVEC; v++)
		CHECK(e.sink.masked[v]);
	CHECK_EQ(e.sink.signals[0], 1);
	ctrl_write(&e, true, false);
	CHECK_EQ(e.sink.signals[0], 2);
	CHECK_EQ(pba_read(&e), 0);
	CHECK_EQ(e.sink.bad_vec, 0);
	env_cleanup(&e);

	/* No sink callbacks at all: nothing to call, nothing to crash. */
	{
		struct msi_sink none = { 0 };

		pci_dev_init(&e.dev, "d", 1, 1, 0, 0, 0, 0);
		e.dev.opaque = &e;
		e.dev.config_written = env_written;
		CHECK_EQ(pci_dev_add_bar(&e.dev, 0, 0x1000, false, &bar_ops, NULL), 0);
		CHECK_EQ(msix_init(&e.m, &e.dev, 2, 0, 0, 0x800, &none), 0);
		ctrl_write(&e, true, false);
		tab_write(&e, 12, 0, 4);
		msix_notify(&e.m, 0);
		msix_cleanup(&e.m);
		pci_dev_cleanup(&e.dev);
	}
}

static void *notify_thread(void *arg)
{
	struct env *e = arg;

	for (unsigned i = 0; i < 20000; i++)
		msix_notify(&e->m, i % NVEC);
	return NULL;
}

/* Notifications racing with mask toggles: every vector ends up delivered or pending. */
static void test_msix_threads(void)
{
	struct env e;
	pthread_t th[2];

	env_init(&e);
	for (unsigned v = 0; v < NVEC; v++) {
		program(&e, v, 0xfee00000, 0x30 + v);
		tab_write(&e, 16 * v + 12, 0, 4);
	}
	ctrl_write(&e, true, false);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, notify_thread, &e), 0);
	for (unsigned i = 0; i < 2000; i++) {
		ctrl_write(&e, true, i & 1);
		tab_write(&e, 16 * (i % NVEC) + 12, (i >> 2) & 1, 4);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ctrl_write(&e, true, false);
	for (unsigned v = 0; v < NVEC; v++)
		tab_write(&e, 16 * v + 12, 0, 4);
	CHECK_EQ(pba_read(&e), 0);
	for (unsigned v = 0; v < NVEC; v++)
		CHECK(e.sink.signals[v] > 0);
	CHECK_EQ(e.sink.bad_vec, 0);
	env_cleanup(&e);
}

/* ---- snapshots: the function's config space and its MSI-X state in one test section ---- */

#define ENV_STATE_TAG STATE_TAG('T', 'M', 'S', 'X')

static void env_save(const void *dev, struct state_writer *w)
{
	struct env *e = (struct env *)(uintptr_t)dev;

	state_section_begin(w, ENV_STATE_TAG, 1);
	pci_dev_save(&e->dev, w);
	msix_save(&e->m, w);
	state_section_end_write(w);
}

static int env_load(void *dev, struct state_reader *r)
{
	static struct pci_dev_state ps;
	struct env *e = dev;
	struct msix_state ms;
	uint32_t version;
	int ret;

	state_section_begin_read(r, ENV_STATE_TAG, 1, &version);
	pci_dev_load_prepare(&e->dev, r, &ps);
	msix_load_prepare(&e->m, r, ps.cfg, &ms);
	ret = state_section_end(r);
	if (ret)
		return ret;
	pci_dev_load_commit(&e->dev, &ps);
	msix_load_commit(&e->m, &ms);
	return 0;
}

/* Where pci_dev_save put config byte off (blob offsets): the bytes go in offset order. */
static size_t env_cfg_pos(const struct env *e, uint32_t off)
{
	size_t pos = 12 + 4 + 1 + 4;

	for (uint32_t o = 0; o < off; o++)
		if ((e->dev.wmask[o] | e->dev.w1cmask[o]) && (o < PCI_BAR0 || o >= PCI_BAR0 + 24))
			pos++;
	return pos;
}

static size_t env_msix_pos(const struct env *e)
{
	return env_cfg_pos(e, PCI_CFG_SIZE) + PCI_NUM_BARS * 9;
}

/* Four vectors programmed, one masked with a pending bit: all of it comes back, routes too. */
static void test_msix_state_round_trip(void)
{
	static struct env a, b;
	struct state_target ta = { env_save, env_load, &a }, tb = { env_save, env_load, &b };
	struct state_blob blob;

	env_init(&a);
	for (unsigned v = 0; v < NVEC; v++)
		program(&a, v, 0xfee00000 + 0x1000 * v + ((uint64_t)v << 32), 0x40 + v);
	ctrl_write(&a, true, false);
	for (unsigned v = 0; v < 3; v++)
		tab_write(&a, 16 * v + 12, 0, 4);
	msix_notify(&a.m, 3);
	CHECK_EQ(pba_read(&a), 8);
	cfg_write(&a, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	cfg_write(&a, PCI_INTERRUPT_LINE, 11, 1);
	state_check_save(&ta, &blob);

	env_init(&b);
	CHECK_EQ(state_check_load(&tb, &blob), 0);
	for (unsigned off = 0; off < 16 * NVEC; off += 4)
		CHECK_EQ(tab_read(&b, off, 4), tab_read(&a, off, 4));
	for (unsigned off = 0; off < 0x100; off += 4)
		CHECK_EQ(cfg_read(&b, off, 4), cfg_read(&a, off, 4));
	CHECK_EQ(pba_read(&b), 8);
	CHECK(msix_enabled(&b.m));
	CHECK(!b.m.func_masked);
	/* The sink heard every vector, as if the guest had programmed them. */
	CHECK(b.sink.updates >= NVEC);
	for (unsigned v = 0; v < NVEC; v++) {
		CHECK_EQ(b.sink.masked[v], v == 3);
		CHECK_EQ(b.sink.addr[v], a.sink.addr[v]);
		CHECK_EQ(b.sink.data[v], a.sink.data[v]);
	}
	CHECK_EQ(b.sink.total_signals, 0);
	CHECK(state_check_same(&tb, &blob));
	/* Unmasking the pending vector delivers it; the others deliver at once. */
	tab_write(&b, 16 * 3 + 12, 0, 4);
	CHECK_EQ(b.sink.signals[3], 1);
	CHECK_EQ(pba_read(&b), 0);
	msix_notify(&b.m, 1);
	CHECK_EQ(b.sink.signals[1], 1);
	state_blob_free(&blob);
	env_cleanup(&a);
	env_cleanup(&b);
}

static void test_msix_state_hostile(void)
{
	static struct env a, b;
	struct state_target ta = { env_save, env_load, &a }, tb = { env_save, env_load, &b };
	struct state_blob good;
	size_t m, c, bars;

	env_init(&a);
	program(&a, 0, 0xfee00000, 0x40);
	ctrl_write(&a, true, false);
	msix_notify(&a.m, 0); /* vector 0 is masked: pending */
	state_check_save(&ta, &good);
	env_init(&b);
	state_check_hostile(&tb, &good);

	m = env_msix_pos(&a);
	c = env_cfg_pos(&a, a.m.cap_off + 3);
	bars = env_cfg_pos(&a, PCI_CFG_SIZE);
	state_check_rejects_field(&tb, &good, m, NVEC + 1, 4, "another table size");
	state_check_rejects_field(&tb, &good, m + 4 + 12, 3, 4,
				  "Vector Control bits beyond the mask");
	state_check_rejects_field(&tb, &good, m + 4, 0xfee00002, 4,
				  "an address with the low bits a write clears");
	state_check_rejects_field(&tb, &good, m + 4 + 16 * NVEC, 1ull << NVEC, 8,
				  "pending beyond the table");
	state_check_rejects_field(&tb, &good, m + 4 + 12, 0, 4,
				  "vector 0 unmasked, yet pending while MSI-X is on");
	state_check_rejects_field(&tb, &good, c, 0xff, 1, "Message Control: read-only bits set");
	state_check_rejects_field(&tb, &good, 12, 0x12, 1, "another vendor");
	state_check_rejects_field(&tb, &good, 16, 3, 1, "another slot");
	state_check_rejects_field(&tb, &good, bars + 2 * 9, 0x1000, 8, "BAR 2 at another address");
	state_check_rejects_field(&tb, &good, bars + 8, 1, 1, "BAR 0 (unimplemented) being sized");
	state_check_rejects_field(&tb, &good, bars + 2 * 9 + 8, 2, 1,
				  "a sizing flag that is not a bool");
	/* With MSI-X off in the same snapshot, a pending unmasked vector is a state it can be in.
	 */
	state_blob_put(&good, c, 0, 1);
	state_blob_put(&good, m + 4 + 12, 0, 4);
	CHECK_EQ(state_check_load(&tb, &good), 0);
	CHECK_EQ(pba_read(&b), 1);
	CHECK(!msix_enabled(&b.m));
	CHECK_EQ(b.sink.bad_vec, 0);
	state_blob_free(&good);
	env_cleanup(&a);
	env_cleanup(&b);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN_TEST(test_msix_cap);
	RUN_TEST(test_msix_table_widths);
	RUN_TEST(test_msix_hostile);
	RUN_TEST(test_msix_enable_mask_pending);
	RUN_TEST(test_msix_threads);
	RUN_TEST(test_msix_state_round_trip);
	RUN_TEST(test_msix_state_hostile);
	TEST_EXIT();
}
