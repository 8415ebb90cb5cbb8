/* Unit tests of the I/O bus: registration rules, dispatch, unclaimed accesses. */
#include <errno.h>
#include <string.h>

#include "bus.h"
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

int main(void)
{
	RUN_TEST(test_add_rejects_overlap_and_zero);
	RUN_TEST(test_dispatch_offsets);
	RUN_TEST(test_unclaimed);
	RUN_TEST(test_many_ranges);
	TEST_EXIT();
}
