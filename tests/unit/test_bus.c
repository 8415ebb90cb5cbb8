/* Unit tests of the I/O bus: registration rules, dispatch, unclaimed accesses. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "snapshot/state.h"
#include "test.h"

struct fake_dev {
	uint64_t last_off;
	unsigned last_len;
	uint8_t reg[16];
	int reads, writes;
};

static void fake_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct fake_dev *d = dev;

	d->reads++;
	d->last_off = off;
	d->last_len = len;
	memset(data, 0x5a, len);
}

static void fake_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct fake_dev *d = dev;

	d->writes++;
	d->last_off = off;
	d->last_len = len;
	memcpy(d->reg, data, len > 16 ? 16 : len);
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };

static void test_add_rejects_overlap_and_zero(void)
{
	struct bus b;
	struct fake_dev d = { 0 };

	bus_init(&b, "pio", 0xff);
	CHECK_EQ(bus_add(&b, 0x3f8, 8, &fake_ops, &d, "com1"), 0);
	CHECK_EQ(bus_add(&b, 0x3f8, 8, &fake_ops, &d, "dup"), -EBUSY);
	CHECK_EQ(bus_add(&b, 0x3f0, 9, &fake_ops, &d, "tail-overlap"), -EBUSY);
	CHECK_EQ(bus_add(&b, 0x3ff, 1, &fake_ops, &d, "head-overlap"), -EBUSY);
	CHECK_EQ(bus_add(&b, 0x3f0, 0x20, &fake_ops, &d, "covers"), -EBUSY);
	CHECK_EQ(bus_add(&b, 0x400, 0, &fake_ops, &d, "zero"), -EINVAL);
	CHECK_EQ(bus_add(&b, UINT64_MAX - 1, 4, &fake_ops, &d, "wrap"), -EINVAL);
	CHECK_EQ(bus_add(&b, UINT64_MAX, 1, &fake_ops, &d, "last-byte"), 0);
	CHECK_EQ(bus_add(&b, 0x3f0, 8, &fake_ops, &d, "adjacent-below"), 0);
	CHECK_EQ(bus_add(&b, 0x400, 8, &fake_ops, &d, "adjacent-above"), 0);
	CHECK_EQ(bus_add(&b, 0x500, 8, NULL, &d, "no-ops"), -EINVAL);
	CHECK_EQ(b.nranges, 4);
	for (unsigned i = 1; i < b.nranges; i++)
		CHECK(b.ranges[i - 1].base < b.ranges[i].base);
	bus_destroy(&b);
}

static void test_dispatch_offsets(void)
{
	struct bus b;
	struct fake_dev com1 = { 0 }, rtc = { 0 };
	uint32_t v = 0x11223344;

	bus_init(&b, "pio", 0xff);
	CHECK_EQ(bus_add(&b, 0x70, 2, &fake_ops, &rtc, "rtc"), 0);
	CHECK_EQ(bus_add(&b, 0x3f8, 8, &fake_ops, &com1, "com1"), 0);
	CHECK(bus_write(&b, 0x3fb, &v, 1));
	CHECK_EQ(com1.last_off, 3);
	CHECK_EQ(com1.last_len, 1);
	CHECK_EQ(com1.reg[0], 0x44);
	CHECK(bus_read(&b, 0x71, &v, 4));
	CHECK_EQ(rtc.last_off, 1);
	CHECK_EQ(v, 0x5a5a5a5a);
	CHECK_EQ(bus_find(&b, 0x3ff)->dev, &com1);
	CHECK(bus_find(&b, 0x400) == NULL);
	CHECK_EQ(b.ranges[1].accesses, 1);
	bus_destroy(&b);
}

static void test_unclaimed(void)
{
	struct bus pio, mmio;
	uint64_t v = 0x1234;

	bus_init(&pio, "pio", 0xff);
	bus_init(&mmio, "mmio", 0x00);
	CHECK(!bus_read(&pio, 0x80, &v, 4));
	CHECK_EQ(v, 0x00000000ffffffffull | (0x1234ull & ~0xffffffffull));
	v = 0x1234;
	CHECK(!bus_read(&mmio, 0xd0000000, &v, 8));
	CHECK_EQ(v, 0);
	CHECK(!bus_write(&pio, 0x80, &v, 1));
	CHECK_EQ(pio.unclaimed_reads, 1);
	CHECK_EQ(pio.unclaimed_writes, 1);
	CHECK_EQ(mmio.unclaimed_reads, 1);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static void test_many_ranges(void)
{
	struct bus b;
	struct fake_dev d = { 0 };
	uint8_t v;

	bus_init(&b, "mmio", 0);
	/* Inserted out of order; the binary search must find each one. */
	for (unsigned i = 0; i < 100; i++)
		CHECK_EQ(bus_add(&b, ((i * 37) % 100) * 0x1000ull, 0x800, &fake_ops, &d, "r"), 0);
	for (unsigned i = 0; i < 100; i++) {
		CHECK(bus_read(&b, i * 0x1000ull + 0x7ff, &v, 1));
		CHECK(!bus_read(&b, i * 0x1000ull + 0x800, &v, 1));
	}
	bus_destroy(&b);
}

/* A device with state: one register, which its load refuses above 1000. */
static void state_dev_save(const void *dev, struct state_writer *w)
{
	const struct fake_dev *d = dev;

	state_section_begin(w, STATE_TAG('F', 'A', 'K', 'E'), 1);
	state_put_u8(w, d->reg[0]);
	state_put_u32(w, (uint32_t)d->writes);
	state_section_end_write(w);
}

static int state_dev_load(void *dev, struct state_reader *r)
{
	struct fake_dev *d = dev;
	uint32_t version, writes;
	uint8_t reg;
	int ret;

	state_section_begin_read(r, STATE_TAG('F', 'A', 'K', 'E'), 1, &version);
	reg = state_get_u8(r);
	writes = state_get_u32(r);
	if (writes > 1000)
		state_reader_fail(r, "more writes than the fake device allows");
	ret = state_section_end(r);
	if (ret)
		return ret;
	d->reg[0] = reg;
	d->writes = (int)writes;
	return 0;
}

static const struct bus_ops state_ops = {
	.read = fake_read, .write = fake_write, .save = state_dev_save, .load = state_dev_load
};
static const struct bus_ops shared_ops = { .read = fake_read,
					   .write = fake_write,
					   .state_shared = true };

static void make_bus(struct bus *b, struct fake_dev *d, uint64_t second)
{
	bus_init(b, "pio", 0xff);
	CHECK_EQ(bus_add(b, 0x40, 8, &state_ops, &d[0], "dev0"), 0);
	CHECK_EQ(bus_add(b, second, 4, &state_ops, &d[1], "dev1"), 0);
	CHECK_EQ(bus_add(b, 0x44 + 0x100, 4, &shared_ops, &d[0], "dev0-view"), 0);
}

static void test_save_load(void)
{
	struct bus a, b;
	struct fake_dev da[2] = { 0 }, db[2] = { 0 };
	struct state_writer w;
	struct state_reader r;
	char err[256];

	make_bus(&a, da, 0x10);
	da[0].reg[0] = 7;
	da[0].writes = 3;
	da[1].reg[0] = 9;
	da[1].writes = 4;
	state_writer_init(&w);
	CHECK_EQ(bus_save(&a, &w), 0);

	make_bus(&b, db, 0x10);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(bus_load(&b, &r, err, sizeof(err)), 0);
	CHECK_EQ(r.pos, w.len); /* all of it, nothing more */
	CHECK_EQ(db[0].reg[0], 7);
	CHECK_EQ(db[0].writes, 3);
	CHECK_EQ(db[1].reg[0], 9);
	CHECK_EQ(db[1].writes, 4);
	bus_destroy(&b);

	/* Another layout: the device names the mismatch. */
	memset(db, 0, sizeof(db));
	make_bus(&b, db, 0x20);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(bus_load(&b, &r, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "a device at 0x10 (+0x4) where this VM has dev1 at 0x20") != NULL);
	bus_destroy(&b);
	/* Another number of devices. */
	bus_init(&b, "pio", 0xff);
	CHECK_EQ(bus_add(&b, 0x40, 8, &state_ops, &db[0], "dev0"), 0);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(bus_load(&b, &r, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "2 devices on the pio bus, this VM 1") != NULL);
	bus_destroy(&b);
	/* A value the device refuses: the error names it. */
	da[1].writes = 5000;
	state_writer_free(&w);
	state_writer_init(&w);
	CHECK_EQ(bus_save(&a, &w), 0);
	make_bus(&b, db, 0x10);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(bus_load(&b, &r, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "dev1 at 0x10: more writes than the fake device allows") != NULL);
	/* Truncated at every length: refused, never a crash. */
	for (size_t len = 0; len < w.len; len++) {
		state_reader_init(&r, w.buf, len);
		CHECK(bus_load(&b, &r, err, sizeof(err)) < 0);
	}
	bus_destroy(&b);
	state_writer_free(&w);

	/* A device without hooks cannot be left out silently. */
	CHECK_EQ(bus_add(&a, 0x400, 4, &fake_ops, &da[0], "nohooks"), 0);
	state_writer_init(&w);
	CHECK_EQ(bus_save(&a, &w), -EOPNOTSUPP);
	state_writer_free(&w);
	bus_destroy(&a);
}

int main(void)
{
	RUN_TEST(test_add_rejects_overlap_and_zero);
	RUN_TEST(test_dispatch_offsets);
	RUN_TEST(test_unclaimed);
	RUN_TEST(test_many_ranges);
	RUN_TEST(test_save_load);
	TEST_EXIT();
}
