/* Unit tests for pc-testdev: the scratch register at every width, page flushes, IRQ lines. */
#include "dev/pc_testdev.h"
#include "test.h"
#include "state_check.h"

#include <string.h>

struct fake {
	unsigned flushes;
	uint64_t gpa;
	unsigned irqs;
	unsigned gsi;
	int level;
};

static struct fake fk;
static struct pc_testdev td;

static void fake_flush(void *opaque, uint64_t gpa)
{
	struct fake *f = opaque;

	f->flushes++;
	f->gpa = gpa;
}

static void fake_irq(void *opaque, unsigned gsi, int level)
{
	struct fake *f = opaque;

	f->irqs++;
	f->gsi = gsi;
	f->level = level;
}

static void setup(unsigned base_gsi)
{
	struct pc_testdev_flush flush = { fake_flush, &fk };
	struct irq_line irq = { fake_irq, &fk, base_gsi };

	memset(&fk, 0, sizeof(fk));
	pc_testdev_init(&td, &flush, &irq);
}

static void put(const struct bus_ops *ops, uint64_t off, uint64_t v, unsigned len)
{
	uint8_t b[8];

	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ops->write(&td, off, b, len);
}

/* A read into a canary-filled buffer: the bytes past len must stay untouched. */
static uint64_t get(const struct bus_ops *ops, uint64_t off, unsigned len)
{
	uint8_t b[16];
	uint64_t v = 0;

	memset(b, 0xa5, sizeof(b));
	ops->read(&td, off, b, len);
	for (unsigned i = len; i < sizeof(b); i++)
		CHECK_EQ(b[i], 0xa5);
	for (unsigned i = 0; i < len && i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void test_scratch_examples(void)
{
	setup(0);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0);
	put(&pc_testdev_scratch_ops, 0, 0x11223344, 4);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0x11223344);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 1), 0x44);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 1, 1), 0x33);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 2, 1), 0x22);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 3, 1), 0x11);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 2), 0x3344);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 1, 2), 0x2233);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 2, 2), 0x1122);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 3, 2), 0x11);   /* bits past 31 read as zero */
	CHECK_EQ(get(&pc_testdev_scratch_ops, 2, 4), 0x1122); /* as QEMU: (data & mask) >> start */
	put(&pc_testdev_scratch_ops, 1, 0xaa, 1);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0x1122aa44);
	put(&pc_testdev_scratch_ops, 2, 0xbbcc, 2);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0xbbccaa44);
	put(&pc_testdev_scratch_ops, 3, 0xeedd, 2); /* the byte past bit 31 is dropped */
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0xddccaa44);
	put(&pc_testdev_scratch_ops, 1, 0x55667788, 4);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0x66778844);
	/* An 8-byte access sees the 32-bit register and zeros above it. */
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 8), 0x66778844);
	put(&pc_testdev_scratch_ops, 0, 0xffffffff00000001ull, 8);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 1);
	CHECK_EQ(fk.flushes + fk.irqs, 0);
	pc_testdev_destroy(&td);
}

/* QEMU's test_ioport_write/read, the reference for every (offset, width) pair. */
static uint32_t ref_write(uint32_t reg, unsigned off, uint32_t v, unsigned len)
{
	unsigned start = 8 * (off & 3);
	uint32_t mask = (uint32_t)(0xffffffffu >> (32 - 8 * len)) << start;

	return (reg & ~mask) | ((uint32_t)((uint64_t)v << start) & mask);
}

static uint32_t ref_read(uint32_t reg, unsigned off, unsigned len)
{
	unsigned start = 8 * (off & 3);
	uint32_t mask = (uint32_t)(0xffffffffu >> (32 - 8 * len)) << start;

	return (reg & mask) >> start;
}

static void test_scratch_every_width(void)
{
	static const unsigned lens[] = { 1, 2, 4 };
	uint32_t reg = 0x89abcdef, v = 0x01234567;

	setup(0);
	put(&pc_testdev_scratch_ops, 0, reg, 4);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned off = 0; off < 4; off++) {
			for (unsigned l = 0; l < 3; l++) {
				v = v * 1103515245u + 12345u;
				put(&pc_testdev_scratch_ops, off, v, lens[l]);
				reg = ref_write(reg, off, v & (0xffffffffu >> (32 - 8 * lens[l])),
						lens[l]);
				CHECK_EQ(td.scratch, reg);
				for (unsigned roff = 0; roff < 4; roff++)
					for (unsigned rl = 0; rl < 3; rl++)
						CHECK_EQ(
						    get(&pc_testdev_scratch_ops, roff, lens[rl]),
						    ref_read(reg, roff, lens[rl]));
			}
		}
	}
	pc_testdev_destroy(&td);
}

static void test_flush(void)
{
	setup(0);
	put(&pc_testdev_flush_ops, 0, 0x12345678, 4);
	CHECK_EQ(fk.flushes, 1);
	CHECK_EQ(fk.gpa, 0x12345000);
	put(&pc_testdev_flush_ops, 0, 0xfff, 4);
	CHECK_EQ(fk.flushes, 2);
	CHECK_EQ(fk.gpa, 0);
	put(&pc_testdev_flush_ops, 0, 0xffffffff, 4);
	CHECK_EQ(fk.flushes, 3);
	CHECK_EQ(fk.gpa, 0xfffff000);
	/* Narrower or wider writes, and writes at the other three ports, name no page. */
	put(&pc_testdev_flush_ops, 0, 0x5000, 1);
	put(&pc_testdev_flush_ops, 0, 0x5000, 2);
	put(&pc_testdev_flush_ops, 0, 0x5000, 8);
	put(&pc_testdev_flush_ops, 0, 0x5000, 0);
	for (uint64_t off = 1; off < 4; off++)
		put(&pc_testdev_flush_ops, off, 0x5000, 4);
	put(&pc_testdev_flush_ops, UINT64_MAX, 0x5000, 4);
	CHECK_EQ(fk.flushes, 3);
	CHECK_EQ(fk.gpa, 0xfffff000);
	CHECK_EQ(td.scratch, 0);
	CHECK_EQ(fk.irqs, 0);
	pc_testdev_destroy(&td);
}

static void test_irq(void)
{
	setup(0);
	put(&pc_testdev_irq_ops, 5, 1, 1);
	CHECK_EQ(fk.irqs, 1);
	CHECK_EQ(fk.gsi, 5);
	CHECK_EQ(fk.level, 1);
	put(&pc_testdev_irq_ops, 5, 0, 1);
	CHECK_EQ(fk.irqs, 2);
	CHECK_EQ(fk.level, 0);
	put(&pc_testdev_irq_ops, 23, 2, 1); /* any non-zero value raises the line */
	CHECK_EQ(fk.irqs, 3);
	CHECK_EQ(fk.gsi, 23);
	CHECK_EQ(fk.level, 1);
	put(&pc_testdev_irq_ops, 0, 0x80, 1);
	CHECK_EQ(fk.gsi, 0);
	CHECK_EQ(fk.level, 1);
	put(&pc_testdev_irq_ops, 7, 0x0100, 2); /* a wider write: its whole value counts */
	CHECK_EQ(fk.gsi, 7);
	CHECK_EQ(fk.level, 1);
	CHECK_EQ(fk.irqs, 5);
	/* Past the 24 lines, or zero-length: no line moves. */
	put(&pc_testdev_irq_ops, 24, 1, 1);
	put(&pc_testdev_irq_ops, 25, 1, 1);
	put(&pc_testdev_irq_ops, 0x100000018ull, 1,
	    1); /* would be line 24 if truncated to 32 bits */
	put(&pc_testdev_irq_ops, UINT64_MAX, 1, 1);
	put(&pc_testdev_irq_ops, 3, 1, 0);
	CHECK_EQ(fk.irqs, 5);
	pc_testdev_destroy(&td);

	/* Line n drives the base GSI + n. */
	setup(16);
	put(&pc_testdev_irq_ops, 3, 1, 1);
	CHECK_EQ(fk.gsi, 19);
	CHECK_EQ(fk.level, 1);
	CHECK_EQ(fk.flushes, 0);
	CHECK_EQ(td.scratch, 0);
	pc_testdev_destroy(&td);
}

static void test_reads(void)
{
	setup(0);
	for (unsigned len = 1; len <= 8; len *= 2) {
		uint64_t ones = len == 8 ? UINT64_MAX : (1ull << (8 * len)) - 1;

		CHECK_EQ(get(&pc_testdev_flush_ops, 0, len), ones);
		CHECK_EQ(get(&pc_testdev_irq_ops, 0, len), ones);
		CHECK_EQ(get(&pc_testdev_irq_ops, 23, len), ones);
	}
	get(&pc_testdev_flush_ops, UINT64_MAX, 0);
	get(&pc_testdev_irq_ops, UINT64_MAX, 0);
	get(&pc_testdev_scratch_ops, UINT64_MAX, 0);
	CHECK_EQ(fk.flushes + fk.irqs, 0);
	pc_testdev_destroy(&td);
}

static void test_no_callbacks(void)
{
	struct pc_testdev_flush no_fn = { NULL, &fk };
	struct irq_line no_set = { NULL, &fk, 4 };

	/* Nothing wired: flushes and IRQ writes are harmless, the scratch register still works. */
	memset(&fk, 0, sizeof(fk));
	pc_testdev_init(&td, NULL, NULL);
	put(&pc_testdev_flush_ops, 0, 0x1000, 4);
	put(&pc_testdev_irq_ops, 1, 1, 1);
	put(&pc_testdev_scratch_ops, 0, 0xcafe, 2);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0xcafe);
	pc_testdev_destroy(&td);
	/* Structs given with NULL functions: the same. */
	pc_testdev_init(&td, &no_fn, &no_set);
	put(&pc_testdev_flush_ops, 0, 0x1000, 4);
	put(&pc_testdev_irq_ops, 1, 1, 1);
	CHECK_EQ(fk.flushes + fk.irqs, 0);
	pc_testdev_destroy(&td);
}

static uint64_t get_on(struct pc_testdev *t, uint64_t off, unsigned len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	pc_testdev_scratch_ops.read(t, off, b, len);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* The IORAM window: reads back what was written at any width, nothing outside its 64 KiB, and
 * its own snapshot section (any truncation refused, the window unchanged). */
static void test_iomem(void)
{
	struct pc_testdev a, b;
	struct state_writer w;
	struct state_reader r;
	uint64_t v = 0x1122334455667788ull, got = 0;

	pc_testdev_init(&a, NULL, NULL);
	pc_testdev_iomem_ops.write(&a, 0x1ff9, &v, 8); /* across no boundary the bus cares about */
	pc_testdev_iomem_ops.read(&a, 0x1ff9, &got, 8);
	CHECK_EQ(got, v);
	pc_testdev_iomem_ops.read(&a, 0x1ffa, &got, 2);
	CHECK_EQ(got & 0xffff, 0x6677);
	/* The last bytes: what lies beyond the window reads as ones, writes there vanish. */
	pc_testdev_iomem_ops.write(&a, PC_TESTDEV_IOMEM_LEN - 2, &v, 4);
	got = 0;
	pc_testdev_iomem_ops.read(&a, PC_TESTDEV_IOMEM_LEN - 2, &got, 4);
	CHECK_EQ(got, 0xffff7788);
	pc_testdev_iomem_ops.read(&a, PC_TESTDEV_IOMEM_LEN + 100, &got, 4);
	CHECK_EQ(got, 0xffffffff);

	state_writer_init(&w);
	pc_testdev_iomem_save(&a, &w);
	CHECK_EQ(state_writer_result(&w), 0);
	CHECK_EQ(w.len, 12 + PC_TESTDEV_IOMEM_LEN);
	pc_testdev_init(&b, NULL, NULL);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(pc_testdev_iomem_load(&b, &r), 0);
	CHECK(!memcmp(a.iomem, b.iomem, PC_TESTDEV_IOMEM_LEN));
	for (size_t n = 0; n < w.len; n += n < 16 ? 1 : 4099) {
		struct pc_testdev c;

		pc_testdev_init(&c, NULL, NULL);
		state_reader_init(&r, w.buf, n);
		CHECK(pc_testdev_iomem_load(&c, &r) != 0);
		CHECK_EQ(c.iomem[0x1ff9], 0);
		pc_testdev_destroy(&c);
	}
	w.buf[0] ^= 1; /* another section's tag */
	state_reader_init(&r, w.buf, w.len);
	CHECK(pc_testdev_iomem_load(&b, &r) != 0);
	state_writer_free(&w);
	pc_testdev_destroy(&a);
	pc_testdev_destroy(&b);
}

static void test_snapshot(void)
{
	struct state_blob saved;
	struct pc_testdev td2;
	const struct state_target st = state_target_bus(&pc_testdev_scratch_ops, &td),
				  st2 = state_target_bus(&pc_testdev_scratch_ops, &td2);
	struct fake fk2 = { 0 };
	struct pc_testdev_flush flush2 = { fake_flush, &fk2 };
	struct irq_line irq2 = { fake_irq, &fk2, 32 };

	/* One range carries the state; the other two share it. */
	CHECK(pc_testdev_scratch_ops.save == pc_testdev_save);
	CHECK(pc_testdev_scratch_ops.load == pc_testdev_load);
	CHECK(!pc_testdev_scratch_ops.state_shared);
	CHECK(pc_testdev_flush_ops.state_shared && !pc_testdev_flush_ops.save);
	CHECK(pc_testdev_irq_ops.state_shared && !pc_testdev_irq_ops.load);

	setup(0);
	put(&pc_testdev_scratch_ops, 0, 0xdeadbeef, 4);
	put(&pc_testdev_scratch_ops, 1, 0x5a, 1);
	state_check_save(&st, &saved);
	state_check_header(&saved, STATE_TAG('T', 'D', 'E', 'V'), 4);
	CHECK_EQ(saved.b[STATE_CHECK_HDR], 0xef);
	CHECK_EQ(saved.b[STATE_CHECK_HDR + 1], 0x5a);

	pc_testdev_init(&td2, &flush2, &irq2);
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	CHECK(state_check_same(&st2, &saved));
	for (unsigned off = 0; off < 4; off++)
		for (unsigned len = 1; len <= 8; len *= 2)
			CHECK_EQ(get_on(&td2, off, len), get_on(&td, off, len));
	CHECK_EQ(get_on(&td2, 0, 4), 0xdead5aef);
	/* The loaded device keeps its own wiring. */
	pc_testdev_irq_ops.write(&td2, 3, "\x01", 1);
	CHECK_EQ(fk2.irqs, 1);
	CHECK_EQ(fk2.gsi, 35);
	CHECK_EQ(fk.irqs, 0);

	/* Malformed input leaves the scratch register alone. */
	put(&pc_testdev_scratch_ops, 0, 0x01020304, 4);
	state_check_hostile(&st, &saved);
	CHECK_EQ(get(&pc_testdev_scratch_ops, 0, 4), 0x01020304);
	state_blob_free(&saved);
	pc_testdev_destroy(&td2);
	pc_testdev_destroy(&td);
}

int main(void)
{
	RUN_TEST(test_scratch_examples);
	RUN_TEST(test_scratch_every_width);
	RUN_TEST(test_flush);
	RUN_TEST(test_irq);
	RUN_TEST(test_reads);
	RUN_TEST(test_no_callbacks);
	RUN_TEST(test_snapshot);
	RUN_TEST(test_iomem);
	TEST_EXIT();
}
