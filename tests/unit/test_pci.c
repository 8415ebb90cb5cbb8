/* Unit tests: PCI config space, mechanism #1, ECAM, BAR sizing and decode, capabilities, INTx. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "pci/pci.h"
#include "state_check.h"
#include "test.h"

#define ECAM 0xe0000000ull
#define WIN 0xc0000000ull
#define WIN_SIZE 0x10000000ull

struct fake_irq {
	int level[64];
	unsigned calls;
};

static struct fake_irq irqs;

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	if (gsi < 64)
		f->level[gsi] = level;
	f->calls++;
}

struct fake_bar {
	uint64_t last_off;
	unsigned last_len;
	unsigned reads, writes;
	uint8_t last_write[8];
};

static void fake_bar_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct fake_bar *b = opaque;

	b->reads++;
	b->last_off = off;
	b->last_len = len;
	memset(data, 0x5a, len);
}

static void fake_bar_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct fake_bar *b = opaque;

	b->writes++;
	b->last_off = off;
	b->last_len = len;
	memcpy(b->last_write, data, len < 8 ? len : 8);
}

static const struct bus_ops fake_bar_ops = { .read = fake_bar_read, .write = fake_bar_write };

struct env {
	struct bus pio, mmio;
	struct pci_bus pci;
};

static void env_init(struct env *e)
{
	struct irq_line intx[4];

	memset(&irqs, 0, sizeof(irqs));
	for (unsigned i = 0; i < 4; i++)
		intx[i] = (struct irq_line){ .set = fake_irq_set, .opaque = &irqs, .gsi = 16 + i };
	bus_init(&e->pio, "pio", 0xff);
	bus_init(&e->mmio, "mmio", 0);
	if (pci_bus_init(&e->pci, &e->pio, &e->mmio, ECAM, WIN, WIN_SIZE, intx))
		abort();
}

static void env_cleanup(struct env *e)
{
	pci_bus_cleanup(&e->pci);
	bus_destroy(&e->pio);
	bus_destroy(&e->mmio);
}

static uint64_t le(const uint8_t *b, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put(uint8_t *b, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t cf8(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

static uint64_t io_read(struct env *e, uint16_t port, unsigned len)
{
	uint8_t b[8];

	bus_read(&e->pio, port, b, len);
	return le(b, len);
}

static void io_write(struct env *e, uint16_t port, uint64_t v, unsigned len)
{
	uint8_t b[8];

	put(b, v, len);
	bus_write(&e->pio, port, b, len);
}

static uint64_t conf1_read(struct env *e, unsigned slot, unsigned reg, unsigned len)
{
	io_write(e, 0xcf8, cf8(0, slot, 0, reg), 4);
	return io_read(e, 0xcfc + (reg & 3), len);
}

static void conf1_write(struct env *e, unsigned slot, unsigned reg, uint64_t v, unsigned len)
{
	io_write(e, 0xcf8, cf8(0, slot, 0, reg), 4);
	io_write(e, 0xcfc + (reg & 3), v, len);
}

static uint64_t ecam_read(struct env *e, unsigned slot, unsigned fn, unsigned reg, unsigned len)
{
	uint8_t b[8];

	bus_read(&e->mmio, ECAM + ((uint64_t)slot << 15 | fn << 12 | reg), b, len);
	return le(b, len);
}

static void ecam_write(struct env *e, unsigned slot, unsigned reg, uint64_t v, unsigned len)
{
	uint8_t b[8];

	put(b, v, len);
	bus_write(&e->mmio, ECAM + ((uint64_t)slot << 15 | reg), b, len);
}

static uint64_t ones(unsigned len)
{
	return len == 8 ? UINT64_MAX : (1ull << (8 * len)) - 1;
}

/* A device with memory BARs 0 (4 KiB) and 2 (64 KiB) and an I/O BAR 1 (32 ports). */
struct test_dev {
	struct pci_dev pci;
	struct fake_bar bar[3];
	unsigned written_calls;
	uint32_t written_off;
	unsigned written_len;
};

static void test_dev_written(struct pci_dev *dev, uint32_t off, unsigned len)
{
	struct test_dev *t = dev->opaque;

	t->written_calls++;
	t->written_off = off;
	t->written_len = len;
}

static void test_dev_init(struct test_dev *t)
{
	memset(t, 0, sizeof(*t));
	pci_dev_init(&t->pci, "test", 0x1af4, 0x1044, 0x00ff00, 1, 0x1af4, 0x1100);
	t->pci.opaque = t;
	t->pci.config_written = test_dev_written;
	if (pci_dev_add_bar(&t->pci, 0, 0x1000, false, &fake_bar_ops, &t->bar[0]) ||
	    pci_dev_add_bar(&t->pci, 1, 32, true, &fake_bar_ops, &t->bar[1]) ||
	    pci_dev_add_bar(&t->pci, 2, 0x10000, false, &fake_bar_ops, &t->bar[2]))
		abort();
}

static void test_pci_host_bridge(void)
{
	struct env e;

	env_init(&e);
	CHECK_EQ(conf1_read(&e, 0, 0, 4), 0x29c08086);
	CHECK_EQ(conf1_read(&e, 0, 0x08, 4) >> 8, 0x060000); /* class: host bridge */
	CHECK_EQ(conf1_read(&e, 0, 0x0e, 1), 0);	     /* single-function type 0 header */
	CHECK_EQ(conf1_read(&e, 0, 0x3d, 1), 0);	     /* no interrupt pin */
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(conf1_read(&e, 0, 0x10 + 4 * i, 4), 0);
	CHECK_EQ(ecam_read(&e, 0, 0, 0, 4), 0x29c08086);
	CHECK(bus_find(&e.mmio, ECAM) && bus_find(&e.mmio, ECAM + 0xfffff));
	CHECK(!bus_find(&e.mmio, ECAM + 0x100000));
	env_cleanup(&e);
}

/* Linux's pci_check_type1(): byte write to 0xcfb, then the CONFIG_ADDRESS dword read back. */
static void test_pci_conf1_address(void)
{
	struct env e;

	env_init(&e);
	io_write(&e, 0xcfb, 0x00, 1);
	io_write(&e, 0xcf8, 0x80000000, 4);
	CHECK_EQ(io_read(&e, 0xcf8, 4), 0x80000000);
	/* Reserved bits 30:24 and 1:0 read as zero. */
	io_write(&e, 0xcf8, 0xffffffff, 4);
	CHECK_EQ(io_read(&e, 0xcf8, 4), 0x80fffffc);
	/* Narrow accesses to 0xcf8-0xcfb neither change nor show the latch. */
	io_write(&e, 0xcf8, 0x12345678, 4);
	io_write(&e, 0xcf8, 0, 1);
	io_write(&e, 0xcfa, 0, 2);
	CHECK_EQ(io_read(&e, 0xcf8, 4), 0x12345678 & 0x80fffffc);
	CHECK_EQ(io_read(&e, 0xcf8, 1), 0xff);
	CHECK_EQ(io_read(&e, 0xcf9, 2), 0xffff);
	/* Enable clear: data port reads all-ones, writes go nowhere. */
	io_write(&e, 0xcf8, cf8(0, 0, 0, 4) & ~0x80000000u, 4);
	CHECK_EQ(io_read(&e, 0xcfc, 4), 0xffffffff);
	io_write(&e, 0xcfc, 0x7, 2);
	CHECK_EQ(conf1_read(&e, 0, 4, 2), 0);
	env_cleanup(&e);
}

static void test_pci_conf1_all_offsets(void)
{
	static const unsigned lens[] = { 1, 2, 4 };
	struct test_dev t;
	struct env e;
	uint8_t ref[256 + 8];

	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	CHECK_EQ(t.pci.slot, 1);
	pci_config_read(&t.pci, 0, ref, sizeof(ref));
	for (unsigned reg = 0; reg < 256; reg += 4) {
		for (unsigned o = 0; o < 4; o++) {
			for (unsigned l = 0; l < 3; l++) {
				unsigned len = lens[l], in = len < 4 - o ? len : 4 - o;
				uint64_t want = le(ref + reg + o, in);
				uint64_t got;

				/* Bytes past 0xcff are not ours: they read all-ones. */
				want |= ones(len) & ~ones(in);
				io_write(&e, 0xcf8, cf8(0, 1, 0, reg), 4);
				got = io_read(&e, 0xcfc + o, len);
				CHECK_EQ(got, want);
				CHECK_EQ(ecam_read(&e, 1, 0, reg + o, len), le(ref + reg + o, len));
			}
		}
	}
	/* Dword at 0xcfe: config bytes 2-3, then two bytes of nothing. */
	io_write(&e, 0xcf8, cf8(0, 1, 0, 0), 4);
	CHECK_EQ(io_read(&e, 0xcfe, 4), 0xffff0000ull | 0x1044);
	/* Writes at each offset within the data dword reach the right byte. */
	conf1_write(&e, 1, 0x3c, 0, 4);
	io_write(&e, 0xcf8, cf8(0, 1, 0, 0x3c), 4);
	io_write(&e, 0xcfc, 0xaa, 1);
	CHECK_EQ(conf1_read(&e, 1, 0x3c, 1), 0xaa);
	io_write(&e, 0xcf8, cf8(0, 1, 0, 0x0c), 4);
	io_write(&e, 0xcfd, 0x55, 1); /* latency timer */
	io_write(&e, 0xcfc, 0x10, 1); /* cache line size */
	CHECK_EQ(ecam_read(&e, 1, 0, 0x0c, 2), 0x5510);
	io_write(&e, 0xcfe, 0xffff, 2); /* header type and BIST are read-only */
	CHECK_EQ(ecam_read(&e, 1, 0, 0x0e, 2), 0);
	/* Read-only identity. */
	conf1_write(&e, 1, 0, 0xffffffff, 4);
	ecam_write(&e, 1, 8, 0xffffffff, 4);
	CHECK_EQ(conf1_read(&e, 1, 0, 4), 0x10441af4);
	CHECK_EQ(conf1_read(&e, 1, 8, 4), 0x00ff0001);
	CHECK_EQ(conf1_read(&e, 1, 0x2c, 4), 0x11001af4);
	CHECK_EQ(conf1_read(&e, 1, 0x3d, 1), 1); /* INTA# */
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
}

static void test_pci_absent(void)
{
	struct test_dev t;
	struct env e;

	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	for (unsigned slot = 2; slot < 32; slot++) {
		CHECK_EQ(conf1_read(&e, slot, 0, 4), 0xffffffff);
		CHECK_EQ(ecam_read(&e, slot, 0, 0, 4), 0xffffffff);
		CHECK_EQ(ecam_read(&e, slot, 0, 0xffc, 4), 0xffffffff);
		conf1_write(&e, slot, 4, 0x7, 2); /* lands nowhere */
		ecam_write(&e, slot, 4, 0x7, 2);
	}
	for (unsigned fn = 1; fn < 8; fn++) {
		io_write(&e, 0xcf8, cf8(0, 1, fn, 0), 4);
		CHECK_EQ(io_read(&e, 0xcfc, 4), 0xffffffff);
		CHECK_EQ(ecam_read(&e, 1, fn, 0, 4), 0xffffffff);
		CHECK_EQ(ecam_read(&e, 0, fn, 0, 2), 0xffff);
	}
	for (unsigned bus = 1; bus < 256; bus += 17) {
		io_write(&e, 0xcf8, cf8(bus, 0, 0, 0), 4);
		CHECK_EQ(io_read(&e, 0xcfc, 4), 0xffffffff);
	}
	/* An 8-byte ECAM read across the end of a present function: the next half is absent. */
	CHECK_EQ(ecam_read(&e, 1, 0, 0xffc, 8), 0xffffffff00000000ull);
	/* ... and from the last bytes of slot 1 function 7 into slot 2: all absent. */
	CHECK_EQ(ecam_read(&e, 1, 7, 0xffc, 8), UINT64_MAX);
	/* Extended config space of a present function reads as zero (no extended caps). */
	CHECK_EQ(ecam_read(&e, 1, 0, 0x100, 4), 0);
	/* Direct accesses past the config space. */
	{
		uint8_t b[16];

		memset(b, 0, sizeof(b));
		pci_config_read(&t.pci, PCI_CFG_SIZE - 4, b, 8);
		CHECK_EQ(le(b, 4), 0);
		CHECK_EQ(le(b + 4, 4), 0xffffffff);
		pci_config_read(&t.pci, UINT32_MAX, b, 16);
		CHECK_EQ(le(b, 8), UINT64_MAX);
		pci_config_write(&t.pci, UINT32_MAX - 2, b, 16);
		pci_config_write(&t.pci, PCI_CFG_SIZE - 1, b, 16);
	}
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
}

static void test_pci_bar_sizing(void)
{
	struct test_dev t;
	struct env e;
	uint32_t orig;

	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	CHECK_EQ(t.pci.bars[0].addr, WIN);
	CHECK_EQ(t.pci.bars[2].addr, WIN + 0x10000); /* naturally aligned after BAR 0 */
	CHECK_EQ(t.pci.bars[1].addr, 0xc000);
	CHECK_EQ(conf1_read(&e, 1, 0x10, 4), WIN);
	CHECK_EQ(conf1_read(&e, 1, 0x14, 4), 0xc001);
	CHECK_EQ(conf1_read(&e, 1, 0x18, 4), WIN + 0x10000);

	/* Linux's __pci_read_base: save, write all-ones, read the mask, restore. */
	for (unsigned i = 0; i < 3; i++) {
		static const uint32_t mask[3] = { 0xfffff000, 0xffffffe1, 0xffff0000 };
		unsigned reg = 0x10 + 4 * i;

		orig = (uint32_t)conf1_read(&e, 1, reg, 4);
		conf1_write(&e, 1, reg, 0xffffffff, 4);
		CHECK_EQ(conf1_read(&e, 1, reg, 4), mask[i]);
		CHECK_EQ(ecam_read(&e, 1, 0, reg, 4), mask[i]);
		CHECK_EQ(conf1_read(&e, 1, reg + 2, 2), mask[i] >> 16);
		conf1_write(&e, 1, reg, orig, 4);
		CHECK_EQ(conf1_read(&e, 1, reg, 4), orig);
	}
	/* Any other value is ignored: the BAR does not move. */
	conf1_write(&e, 1, 0x10, 0xd0000000, 4);
	CHECK_EQ(conf1_read(&e, 1, 0x10, 4), WIN);
	ecam_write(&e, 1, 0x10, 0x12, 1);
	CHECK_EQ(conf1_read(&e, 1, 0x10, 4), WIN);
	CHECK_EQ(t.pci.bars[0].addr, WIN);
	/* All-ones ignoring the read-only type bits also sizes; a byte write ends it. */
	conf1_write(&e, 1, 0x10, 0xfffffff0, 4);
	CHECK_EQ(conf1_read(&e, 1, 0x10, 4), 0xfffff000);
	conf1_write(&e, 1, 0x13, 0x12, 1);
	CHECK_EQ(conf1_read(&e, 1, 0x10, 4), WIN);
	/* A 64-bit ECAM write covering BARs 0 and 1 sizes both. */
	ecam_write(&e, 1, 0x10, UINT64_MAX, 8);
	CHECK_EQ(ecam_read(&e, 1, 0, 0x10, 8), 0xffffffe1fffff000ull);
	ecam_write(&e, 1, 0x10, 0, 8);
	CHECK_EQ(ecam_read(&e, 1, 0, 0x10, 8), 0x0000c001ull << 32 | WIN);
	/* Unused BARs and the expansion ROM stay zero. */
	for (unsigned reg = 0x1c; reg <= 0x30; reg += 4) {
		if (reg == 0x28 || reg == 0x2c)
			continue; /* CardBus CIS, subsystem IDs */
		conf1_write(&e, 1, reg, 0xffffffff, 4);
		CHECK_EQ(conf1_read(&e, 1, reg, 4), 0);
	}
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
}

static void test_pci_bar_decode(void)
{
	struct test_dev t;
	struct env e;
	uint8_t b[8];

	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	/* Decode off after reset: all-ones, and the device sees nothing. */
	CHECK(bus_read(&e.mmio, WIN + 8, b, 4));
	CHECK_EQ(le(b, 4), 0xffffffff);
	CHECK(bus_write(&e.mmio, WIN + 8, b, 4));
	CHECK_EQ(t.bar[0].reads + t.bar[0].writes, 0);
	CHECK_EQ(io_read(&e, 0xc004, 2), 0xffff);
	CHECK_EQ(t.bar[1].reads, 0);

	conf1_write(&e, 1, 4, PCI_COMMAND_MEMORY, 2);
	CHECK_EQ(conf1_read(&e, 1, 4, 2), PCI_COMMAND_MEMORY);
	bus_read(&e.mmio, WIN + 0x10, b, 8);
	CHECK_EQ(le(b, 8), 0x5a5a5a5a5a5a5a5aull);
	CHECK_EQ(t.bar[0].last_off, 0x10);
	CHECK_EQ(t.bar[0].last_len, 8);
	put(b, 0x1234, 2);
	bus_write(&e.mmio, WIN + 0x10000 + 0xfffe, b, 2);
	CHECK_EQ(t.bar[2].writes, 1);
	CHECK_EQ(t.bar[2].last_off, 0xfffe);
	CHECK_EQ(le(t.bar[2].last_write, 2), 0x1234);
	CHECK_EQ(io_read(&e, 0xc004, 2), 0xffff); /* I/O decode still off */
	conf1_write(&e, 1, 4, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	CHECK_EQ(io_read(&e, 0xc004, 2), 0x5a5a);
	CHECK_EQ(t.bar[1].last_off, 4);
	/* Only the implemented command bits stick. */
	conf1_write(&e, 1, 4, 0xffff, 2);
	CHECK_EQ(conf1_read(&e, 1, 4, 2), 0x0547);
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
}

static void test_pci_caps(void)
{
	struct test_dev t;
	struct env e;
	uint8_t cap_a[6] = { 0x09, 0xee, 6, 1, 2, 3 }, cap_b[12] = { 0x11 }, off_a, off_b,
		wm = 0xff;
	unsigned pos, n = 0;

	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(t.pci.cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST, 0);
	CHECK_EQ(pci_dev_add_cap(&t.pci, cap_a, sizeof(cap_a), &off_a), 0);
	CHECK_EQ(pci_dev_add_cap(&t.pci, cap_b, sizeof(cap_b), &off_b), 0);
	CHECK_EQ(off_a, 0x40);
	CHECK_EQ(off_b, 0x48); /* dword aligned */
	pci_dev_set_wmask(&t.pci, off_a + 5, &wm, 1);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	CHECK(conf1_read(&e, 1, 6, 2) & PCI_STATUS_CAP_LIST);
	/* Walk the list the way an OS does. */
	for (pos = conf1_read(&e, 1, 0x34, 1); pos && n < 48; pos = conf1_read(&e, 1, pos + 1, 1)) {
		CHECK(pos >= 0x40 && !(pos & 3));
		CHECK_EQ(conf1_read(&e, 1, pos, 1), n == 0 ? 0x09 : 0x11);
		n++;
	}
	CHECK_EQ(n, 2);
	CHECK_EQ(ecam_read(&e, 1, 0, off_a + 2, 4), 0x03020106);
	/* Capability bodies are read-only unless opened with wmask; next pointers always. */
	conf1_write(&e, 1, off_a, 0xffffffff, 4);
	conf1_write(&e, 1, off_a + 4, 0xffffffff, 4);
	CHECK_EQ(conf1_read(&e, 1, off_a, 4), 0x01064809);
	CHECK_EQ(conf1_read(&e, 1, off_a + 4, 2), 0xff02);
	/* The write hook hears the clamped range. */
	CHECK_EQ(t.written_off, off_a + 4);
	CHECK_EQ(t.written_len, 4);
	ecam_write(&e, 1, 0xffe, 0xffffffff, 4);
	CHECK_EQ(t.written_off, 0xffe);
	CHECK_EQ(t.written_len, 2);
	/* Filling the 256-byte space fails cleanly. */
	{
		uint8_t big[200] = { 0x09 };

		CHECK_EQ(pci_dev_add_cap(&t.pci, big, sizeof(big), NULL), -ENOSPC);
		CHECK_EQ(pci_dev_add_cap(&t.pci, big, 1, NULL), -EINVAL);
		CHECK_EQ(pci_dev_add_cap(&t.pci, big, 0xad, &off_a), -ENOSPC);
		CHECK_EQ(pci_dev_add_cap(&t.pci, big, 0xac, &off_a), 0);
		CHECK_EQ(off_a, 0x54);
		CHECK_EQ(pci_dev_add_cap(&t.pci, big, 4, NULL), -ENOSPC);
	}
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
}

static void test_pci_status_w1c(void)
{
	struct test_dev t;
	struct env e;

	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	t.pci.cfg[PCI_STATUS + 1] |= 0xf9; /* error bits, as if the device had reported them */
	conf1_write(&e, 1, 6, 0, 2);
	CHECK_EQ(conf1_read(&e, 1, 6, 2), 0xf900);
	conf1_write(&e, 1, 6, 0x8000, 2);
	CHECK_EQ(conf1_read(&e, 1, 6, 2), 0x7900);
	/* A dword write to command also writes status: the zeroes there clear nothing. */
	conf1_write(&e, 1, 4, 0x00000002, 4);
	CHECK_EQ(conf1_read(&e, 1, 4, 4), 0x79000002);
	conf1_write(&e, 1, 4, 0x41000002, 4);
	CHECK_EQ(conf1_read(&e, 1, 6, 2), 0x3800);
	conf1_write(&e, 1, 7, 0xff, 1);
	CHECK_EQ(conf1_read(&e, 1, 6, 2), 0);
	/* Read-only status bits (capability list, interrupt status) do not clear. */
	pci_dev_set_intx(&t.pci, 1);
	conf1_write(&e, 1, 6, 0xffff, 2);
	CHECK_EQ(conf1_read(&e, 1, 6, 2), PCI_STATUS_INTERRUPT);
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
}

static void test_pci_intx(void)
{
	struct test_dev t[5];
	struct env e;

	env_init(&e);
	for (unsigned i = 0; i < 5; i++) {
		test_dev_init(&t[i]);
		CHECK_EQ(pci_bus_add(&e.pci, &t[i].pci), 0);
		CHECK_EQ(t[i].pci.slot, i + 1);
		CHECK_EQ(t[i].pci.intx.gsi, 16 + pci_bus_intx_index(i + 1));
		CHECK_EQ(conf1_read(&e, i + 1, 0x3c, 1), 16 + pci_bus_intx_index(i + 1));
	}
	/* INTA# of slots 1..4 use four different lines; slot 5 shares slot 1's. */
	CHECK_EQ(pci_bus_intx_index(1), 1);
	CHECK_EQ(pci_bus_intx_index(4), 0);
	CHECK_EQ(pci_bus_intx_index(5), pci_bus_intx_index(1));
	for (unsigned s = 0; s < 32; s++)
		for (unsigned p = 0; p < 4; p++)
			CHECK_EQ(pci_bus_intx_pin_index(s, p), (s + p) % 4);

	pci_dev_set_intx(&t[0].pci, 1);
	CHECK_EQ(irqs.level[17], 1);
	CHECK(conf1_read(&e, 1, 6, 2) & PCI_STATUS_INTERRUPT);
	CHECK_EQ(irqs.calls, 1);
	pci_dev_set_intx(&t[0].pci, 1); /* no change, no call */
	CHECK_EQ(irqs.calls, 1);
	/* Interrupt Disable masks the line but not the status bit. */
	conf1_write(&e, 1, 4, PCI_COMMAND_INTX_DISABLE, 2);
	CHECK_EQ(irqs.level[17], 0);
	CHECK(conf1_read(&e, 1, 6, 2) & PCI_STATUS_INTERRUPT);
	pci_dev_set_intx(&t[0].pci, 0);
	pci_dev_set_intx(&t[0].pci, 1);
	CHECK_EQ(irqs.level[17], 0);
	CHECK_EQ(irqs.calls, 2);
	conf1_write(&e, 1, 4, 0, 2);
	CHECK_EQ(irqs.level[17], 1);
	pci_dev_set_intx(&t[0].pci, 0);
	CHECK_EQ(irqs.level[17], 0);
	CHECK_EQ(conf1_read(&e, 1, 6, 2) & PCI_STATUS_INTERRUPT, 0);
	pci_dev_set_intx(&t[4].pci, 1);
	CHECK_EQ(irqs.level[17], 1);
	pci_dev_set_intx(&t[3].pci, 1);
	CHECK_EQ(irqs.level[16], 1);
	env_cleanup(&e);
	for (unsigned i = 0; i < 5; i++)
		pci_dev_cleanup(&t[i].pci);
}

static void test_pci_add_errors(void)
{
	static struct test_dev t[32];
	struct pci_dev d;
	struct fake_bar fb;
	struct env e;

	pci_dev_init(&d, "d", 1, 2, 0, 0, 0, 0);
	CHECK_EQ(pci_dev_add_bar(&d, 6, 0x1000, false, &fake_bar_ops, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 0x1800, false, &fake_bar_ops, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 8, false, &fake_bar_ops, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 512, true, &fake_bar_ops, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 0, false, &fake_bar_ops, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 0x1000, false, NULL, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 1ull << 31, false, &fake_bar_ops, &fb), -EINVAL);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 1ull << 30, false, &fake_bar_ops, &fb), 0);
	CHECK_EQ(pci_dev_add_bar(&d, 0, 0x1000, false, &fake_bar_ops, &fb), -EBUSY);

	env_init(&e);
	/* A 1 GiB BAR does not fit a 256 MiB window; nothing is registered. */
	CHECK_EQ(pci_bus_add(&e.pci, &d), -ENOSPC);
	CHECK(!bus_find(&e.mmio, WIN));
	for (unsigned i = 1; i < 32; i++) {
		test_dev_init(&t[i]);
		CHECK_EQ(pci_bus_add(&e.pci, &t[i].pci), 0);
	}
	test_dev_init(&t[0]);
	CHECK_EQ(pci_bus_add(&e.pci, &t[0].pci), -ENOSPC);
	/* 31 devices, each with a 32-port, a 4 KiB and a 64 KiB BAR: all placed, no overlap. */
	CHECK_EQ(t[31].pci.bars[1].addr, 0xc000 + 30 * 32);
	CHECK_EQ(t[31].pci.bars[2].addr, WIN + 0x10000 + 30 * 0x20000);
	env_cleanup(&e);
	for (unsigned i = 0; i < 32; i++)
		pci_dev_cleanup(&t[i].pci);
	pci_dev_cleanup(&d);

	{
		struct bus pio, mmio;
		struct pci_bus pci;

		bus_init(&pio, "pio", 0xff);
		bus_init(&mmio, "mmio", 0);
		CHECK_EQ(pci_bus_init(&pci, &pio, &mmio, ECAM + 0x1000, WIN, WIN_SIZE, NULL),
			 -EINVAL);
		CHECK_EQ(pci_bus_init(&pci, &pio, &mmio, ECAM, 0xfff00000, 0x200000, NULL),
			 -EINVAL);
		bus_destroy(&pio);
		bus_destroy(&mmio);
	}
}

/* Every offset and width on the ports and across the whole ECAM window is defined. */
static void test_pci_hostile(void)
{
	struct test_dev t;
	struct env e;
	uint8_t b[8];

	log_set_level(LOG_ERROR);
	env_init(&e);
	test_dev_init(&t);
	CHECK_EQ(pci_bus_add(&e.pci, &t.pci), 0);
	for (unsigned port = 0xcf8; port < 0xd00; port++) {
		for (unsigned len = 1; len <= 8; len *= 2) {
			io_write(&e, 0xcf8, cf8(0, 1, 0, 0x40), 4);
			bus_read(&e.pio, port, b, len);
			bus_write(&e.pio, port, b, len);
		}
	}
	for (uint64_t off = 0; off < 0x100000; off += 0x3f9) {
		for (unsigned len = 1; len <= 8; len *= 2) {
			memset(b, 0xff, sizeof(b));
			bus_read(&e.mmio, ECAM + off, b, len);
			bus_write(&e.mmio, ECAM + off, b, len);
		}
	}
	CHECK_EQ(conf1_read(&e, 1, 0, 4), 0x10441af4);
	CHECK_EQ(conf1_read(&e, 0, 0, 4), 0x29c08086);
	env_cleanup(&e);
	pci_dev_cleanup(&t.pci);
	log_set_level(LOG_WARN);
}

/* ---- snapshots ---- */

/* The bus's state goes with the config ports; ECAM reaches the same config spaces. */
static struct state_target bus_target(struct env *e)
{
	const struct bus_range *r = bus_find(&e->pio, 0xcf8);

	return state_target_bus(r->ops, r->dev);
}

static void test_pci_state_bus(void)
{
	static struct env a, b;
	const struct bus_range *ecam;
	struct state_target ta, tb;
	struct state_blob blob;
	size_t body = STATE_CHECK_HDR, cfgb = STATE_CHECK_HDR + 4 + 4 + 1 + 4;

	env_init(&a);
	ecam = bus_find(&a.mmio, ECAM);
	CHECK(ecam && ecam->ops->state_shared && !ecam->ops->save && !ecam->ops->load);
	ta = bus_target(&a);
	CHECK(ta.save && ta.load);
	conf1_write(&a, 0, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	conf1_write(&a, 0, 0x0c, 0x10, 1); /* cache line size */
	conf1_write(&a, 0, 0x0d, 0x40, 1); /* latency timer */
	io_write(&a, 0xcf8, cf8(0, 3, 0, 0x40), 4);
	state_check_save(&ta, &blob);

	env_init(&b);
	tb = bus_target(&b);
	CHECK_EQ(state_check_load(&tb, &blob), 0);
	CHECK_EQ(io_read(&b, 0xcf8, 4), cf8(0, 3, 0, 0x40));
	for (unsigned reg = 0; reg < 0x100; reg += 4)
		CHECK_EQ(ecam_read(&b, 0, 0, reg, 4), ecam_read(&a, 0, 0, reg, 4));
	CHECK_EQ(ecam_read(&b, 0, 0, 0x0c, 2), 0x4010);
	CHECK(state_check_same(&tb, &blob));

	/* Malformed ones, into a fresh bus that must stay as it is. */
	env_cleanup(&b);
	env_init(&b);
	tb = bus_target(&b);
	state_check_hostile(&tb, &blob);
	state_check_rejects_field(&tb, &blob, body, 0xffffffff, 4,
				  "CONFIG_ADDRESS bits a write never keeps");
	state_check_rejects_field(&tb, &blob, body + 4, 0x87, 1, "another vendor");
	state_check_rejects_field(&tb, &blob, cfgb + 2, 0xff, 1,
				  "Status high byte: DEVSEL timing bits are read-only");
	state_check_rejects_field(&tb, &blob, cfgb + 5 + 8, 2, 1,
				  "a BAR sizing flag that is not a bool");
	state_blob_free(&blob);
	env_cleanup(&a);
	env_cleanup(&b);
}

/* A function's config space through pci_dev_save/load, wrapped in a test section. */
#define FN_STATE_TAG STATE_TAG('T', 'P', 'C', 'F')

static void fn_save(const void *dev, struct state_writer *w)
{
	state_section_begin(w, FN_STATE_TAG, 1);
	pci_dev_save((struct pci_dev *)(uintptr_t)dev, w);
	state_section_end_write(w);
}

static int fn_load(void *dev, struct state_reader *r)
{
	static struct pci_dev_state s;
	uint32_t version;
	int ret;

	state_section_begin_read(r, FN_STATE_TAG, 1, &version);
	pci_dev_load_prepare(dev, r, &s);
	ret = state_section_end(r);
	if (!ret)
		pci_dev_load_commit(dev, &s);
	return ret;
}

static const struct bus_ops shared_bar_ops = { .read = fake_bar_read,
					       .write = fake_bar_write,
					       .state_shared = true };

static void test_pci_state_function(void)
{
	static struct env a, b;
	static struct test_dev ta, tb;
	struct state_target sa = { fn_save, fn_load, &ta.pci }, sb = { fn_save, fn_load, &tb.pci };
	const struct bus_range *r;
	struct state_writer w;
	struct state_reader rd;
	struct state_blob blob;

	env_init(&a);
	test_dev_init(&ta);
	CHECK_EQ(pci_bus_add(&a.pci, &ta.pci), 0);
	conf1_write(&a, 1, PCI_COMMAND,
		    PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_INTX_DISABLE, 2);
	conf1_write(&a, 1, PCI_INTERRUPT_LINE, 9, 1);
	conf1_write(&a, 1, 0x18, 0xffffffff, 4); /* BAR 2 being sized */
	state_check_save(&sa, &blob);

	env_init(&b);
	test_dev_init(&tb);
	CHECK_EQ(pci_bus_add(&b.pci, &tb.pci), 0);
	pci_dev_set_intx(&tb.pci, 1); /* asserted: Interrupt Disable from the load drops it */
	CHECK_EQ(irqs.level[17], 1);
	CHECK_EQ(state_check_load(&sb, &blob), 0);
	CHECK_EQ(irqs.level[17], 0);
	CHECK_EQ(conf1_read(&b, 1, 0x18, 4), 0xffff0000);
	for (unsigned reg = 0; reg < 0x100; reg += 4) {
		if (reg == PCI_COMMAND)
			continue; /* Status.Interrupt: b's own request */
		CHECK_EQ(conf1_read(&b, 1, reg, 4), conf1_read(&a, 1, reg, 4));
	}
	CHECK_EQ(conf1_read(&b, 1, PCI_COMMAND, 2), conf1_read(&a, 1, PCI_COMMAND, 2));
	CHECK(state_check_same(&sb, &blob));
	conf1_write(&b, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	CHECK_EQ(irqs.level[17], 1);

	/* The BAR's range forwards to the BAR's own hooks; these fake ones have none. */
	r = bus_find(&b.mmio, tb.pci.bars[0].addr);
	CHECK(r && r->ops->save && r->ops->load && !r->ops->state_shared);
	state_writer_init(&w);
	r->ops->save(r->dev, &w);
	CHECK_EQ(state_writer_result(&w), -EOPNOTSUPP);
	state_writer_free(&w);
	state_reader_init(&rd, blob.b, blob.len);
	CHECK_EQ(r->ops->load(r->dev, &rd), -EINVAL);
	CHECK(!state_reader_ok(&rd));
	state_blob_free(&blob);
	env_cleanup(&a);
	env_cleanup(&b);
	pci_dev_cleanup(&ta.pci);
	pci_dev_cleanup(&tb.pci);

	/* A BAR whose ops say another range carries the state is registered as such. */
	env_init(&a);
	pci_dev_init(&ta.pci, "shared", 0x1af4, 0x1044, 0, 1, 0, 0);
	CHECK_EQ(pci_dev_add_bar(&ta.pci, 0, 0x1000, false, &shared_bar_ops, &ta.bar[0]), 0);
	CHECK_EQ(pci_bus_add(&a.pci, &ta.pci), 0);
	r = bus_find(&a.mmio, ta.pci.bars[0].addr);
	CHECK(r && r->ops->state_shared && !r->ops->save);
	env_cleanup(&a);
	pci_dev_cleanup(&ta.pci);
}

int main(void)
{
	RUN_TEST(test_pci_host_bridge);
	RUN_TEST(test_pci_conf1_address);
	RUN_TEST(test_pci_conf1_all_offsets);
	RUN_TEST(test_pci_absent);
	RUN_TEST(test_pci_bar_sizing);
	RUN_TEST(test_pci_bar_decode);
	RUN_TEST(test_pci_caps);
	RUN_TEST(test_pci_status_w1c);
	RUN_TEST(test_pci_intx);
	RUN_TEST(test_pci_add_errors);
	RUN_TEST(test_pci_hostile);
	RUN_TEST(test_pci_state_bus);
	RUN_TEST(test_pci_state_function);
	TEST_EXIT();
}
