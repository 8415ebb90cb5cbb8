/* Unit tests for the split-ring chain walker on fake guest memory, malicious rings included. */
#include "log.h"
#include "state_check.h"
#include "virtio/virtq.h"
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define MEM_GPA 0x100000ull
#define MEM_SIZE 0x80000ull
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x4000)
#define USED_GPA (MEM_GPA + 0x5000)
#define INDIR_GPA (MEM_GPA + 0x8000) /* room for 1024+ indirect entries (16 KiB) */
#define DATA_GPA (MEM_GPA + 0x10000)

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static uint8_t *mem;
static struct guest_mem gm;
static struct virtq vq;
static struct virtq_elem elem;
static uint16_t drv_avail_idx; /* the fake driver's avail->idx */

static void *host(uint64_t gpa)
{
	return mem + (gpa - MEM_GPA);
}

static void setup(uint16_t size, bool event_idx, bool indirect)
{
	memset(mem, 0, MEM_SIZE);
	memset(&vq, 0, sizeof(vq));
	vq.max_size = 256;
	vq.size = size;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	vq.event_idx = event_idx;
	vq.indirect = indirect;
	virtq_reset(&vq);
	vq.ready = true;
	drv_avail_idx = 0;
}

/* Descriptor i of a table at table_gpa. */
static void set_desc_at(uint64_t table_gpa, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
			uint16_t next)
{
	uint8_t *d = host(table_gpa + 16ull * i);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc_at(DESC_GPA, i, addr, len, flags, next);
}

static void set_avail_idx(uint16_t idx)
{
	drv_avail_idx = idx;
	memcpy(host(AVAIL_GPA + 2), &idx, 2);
}

static void avail_add(uint16_t head)
{
	memcpy(host(AVAIL_GPA + 4 + 2 * (drv_avail_idx % vq.size)), &head, 2);
	set_avail_idx(drv_avail_idx + 1);
}

static uint16_t rd16(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, host(gpa), 2);
	return v;
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, host(gpa), 4);
	return v;
}

static void wr16(uint64_t gpa, uint16_t v)
{
	memcpy(host(gpa), &v, 2);
}

/* Pop must fail, mark the queue broken, and consume nothing. */
static void expect_broken(void)
{
	uint16_t before = vq.last_avail;

	CHECK(virtq_pop(&vq, &gm, &elem) < 0);
	CHECK(vq.broken);
	CHECK_EQ(vq.last_avail, before);
	/* And it stays broken until a reset. */
	CHECK(virtq_pop(&vq, &gm, &elem) < 0);
}

static void test_simple_chain(void)
{
	setup(16, false, false);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0); /* empty */
	set_desc(3, DATA_GPA, 16, F_NEXT, 7);
	set_desc(7, DATA_GPA + 0x100, 32, F_NEXT | F_WRITE, 9);
	set_desc(9, DATA_GPA + 0x200, 8, F_WRITE, 0);
	avail_add(3);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.head, 3);
	CHECK_EQ(elem.out_num, 1);
	CHECK_EQ(elem.in_num, 2);
	CHECK(elem.out[0].iov_base == host(DATA_GPA));
	CHECK_EQ(elem.out[0].iov_len, 16);
	CHECK(elem.in[0].iov_base == host(DATA_GPA + 0x100));
	CHECK(elem.in[1].iov_base == host(DATA_GPA + 0x200));
	CHECK_EQ(elem.out_len, 16);
	CHECK_EQ(elem.in_len, 40);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	CHECK_EQ(virtq_push(&vq, &gm, 3, 40), 0);
	CHECK_EQ(rd16(USED_GPA + 2), 1);
	CHECK_EQ(rd32(USED_GPA + 4), 3);
	CHECK_EQ(rd32(USED_GPA + 8), 40);
	CHECK(virtq_should_notify(&vq, &gm));
	/* A device bug (head beyond the queue) is refused without breaking the queue. */
	CHECK(virtq_push(&vq, &gm, 16, 0) < 0);
	CHECK(!vq.broken);
	/* Not ready: nothing to pop, nothing to push. */
	vq.ready = false;
	avail_add(3);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	CHECK(virtq_push(&vq, &gm, 3, 0) < 0);
}

static void test_index_wrap(void)
{
	setup(8, false, false);
	/* Driver and device both near 2^16: indices wrap while the ring slots keep cycling. */
	vq.last_avail = 65530;
	vq.used_idx = 65530;
	set_avail_idx(65530);
	for (unsigned i = 0; i < 8; i++)
		set_desc(i, DATA_GPA + 0x100 * i, 0x100, F_WRITE, 0);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 8; i++)
			avail_add((uint16_t)i);
		for (unsigned i = 0; i < 8; i++) {
			CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
			CHECK_EQ(elem.head, i);
			CHECK_EQ(virtq_push(&vq, &gm, elem.head, i), 0);
		}
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	}
	CHECK_EQ(vq.last_avail, (uint16_t)(65530 + 24));
	CHECK_EQ(rd16(USED_GPA + 2), (uint16_t)(65530 + 24));
	/* The last used element went to slot (65530 + 23) % 8. */
	CHECK_EQ(rd32(USED_GPA + 4 + 8 * ((65530 + 23) % 8)), 7);
	/* A full ring (exactly size ahead) is fine. */
	for (unsigned i = 0; i < 8; i++)
		avail_add((uint16_t)i);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
}

static void test_indirect(void)
{
	setup(16, false, true);
	set_desc_at(INDIR_GPA, 0, DATA_GPA, 10, F_NEXT, 2);
	set_desc_at(INDIR_GPA, 2, DATA_GPA + 0x100, 20, F_NEXT | F_WRITE, 1);
	set_desc_at(INDIR_GPA, 1, DATA_GPA + 0x200, 30, F_WRITE, 0);
	/* WRITE on the indirect descriptor itself is ignored, as the spec says. */
	set_desc(5, INDIR_GPA, 3 * 16, F_INDIRECT | F_WRITE, 0);
	avail_add(5);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.head, 5);
	CHECK_EQ(elem.out_num, 1);
	CHECK_EQ(elem.in_num, 2);
	CHECK(elem.in[0].iov_base == host(DATA_GPA + 0x100));
	CHECK(elem.in[1].iov_base == host(DATA_GPA + 0x200));
	CHECK_EQ(elem.in_len, 50);

	/* A direct descriptor, then an indirect table: allowed (only NEXT on it is forbidden). */
	set_desc(0, DATA_GPA, 4, F_NEXT, 1);
	set_desc(1, INDIR_GPA, 16, F_INDIRECT, 0);
	set_desc_at(INDIR_GPA, 0, DATA_GPA + 0x300, 4, F_WRITE, 0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.out_num, 1);
	CHECK_EQ(elem.in_num, 1);

	/* The largest table: VIRTQ_MAX_SEGS entries, more than the queue size. */
	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc_at(INDIR_GPA, i, DATA_GPA + i, 1,
			    (i + 1 < VIRTQ_MAX_SEGS ? F_NEXT : 0) | (i >= 100 ? F_WRITE : 0),
			    (uint16_t)(i + 1));
	set_desc(2, INDIR_GPA, VIRTQ_MAX_SEGS * 16, F_INDIRECT, 0);
	avail_add(2);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.out_num, 100);
	CHECK_EQ(elem.in_num, VIRTQ_MAX_SEGS - 100);

	/* Not negotiated: a protocol violation. */
	setup(16, false, false);
	set_desc_at(INDIR_GPA, 0, DATA_GPA, 10, 0, 0);
	set_desc(0, INDIR_GPA, 16, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
}

static void test_event_idx(void)
{
	uint64_t avail_event = USED_GPA + 4 + 8 * 16, used_event = AVAIL_GPA + 4 + 2 * 16;

	setup(16, true, false);
	for (unsigned i = 0; i < 16; i++)
		set_desc(i, DATA_GPA, 8, F_WRITE, 0);
	/* An empty pop publishes avail_event = last_avail: "kick me at the next buffer". */
	wr16(avail_event, 0xdead);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	CHECK_EQ(rd16(avail_event), 0);
	avail_add(0);
	avail_add(1);
	avail_add(2);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	CHECK_EQ(rd16(avail_event), 3);

	/* used_event = 1: interrupt when used idx passes 1 (i.e. becomes 2). */
	wr16(used_event, 1);
	CHECK_EQ(virtq_push(&vq, &gm, 0, 8), 0);
	CHECK(virtq_should_notify(&vq, &gm)); /* the first one always notifies */
	CHECK_EQ(virtq_push(&vq, &gm, 1, 8), 0);
	CHECK(virtq_should_notify(&vq, &gm)); /* 1 -> 2 crosses used_event 1 */
	CHECK_EQ(virtq_push(&vq, &gm, 2, 8), 0);
	CHECK(!virtq_should_notify(&vq, &gm)); /* 2 -> 3: not asked for */
	CHECK(!virtq_should_notify(&vq, &gm)); /* nothing new */
	/* Several pushes at once that step over used_event notify once. */
	wr16(used_event, 4);
	avail_add(3);
	avail_add(4);
	avail_add(5);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
		CHECK_EQ(virtq_push(&vq, &gm, elem.head, 0), 0);
	}
	CHECK(virtq_should_notify(&vq, &gm));
	/* With event idx the NO_INTERRUPT flag is not looked at. */
	wr16(AVAIL_GPA, 1);
	wr16(used_event, 6);
	avail_add(6);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_push(&vq, &gm, elem.head, 0), 0);
	CHECK(virtq_should_notify(&vq, &gm));

	/* Without event idx: VRING_AVAIL_F_NO_INTERRUPT. */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, F_WRITE, 0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_push(&vq, &gm, 0, 8), 0);
	CHECK(virtq_should_notify(&vq, &gm));
	wr16(AVAIL_GPA, 1);
	CHECK(!virtq_should_notify(&vq, &gm));
	/* And no avail_event write without event idx. */
	CHECK_EQ(rd16(USED_GPA + 4 + 8 * 16), 0);
}

static void test_zero_and_huge_lengths(void)
{
	setup(16, false, false);
	/* Zero-length: accepted, skipped, its address never looked at. */
	set_desc(0, 0xdeadbeefdeadbeefull, 0, F_NEXT, 1);
	set_desc(1, DATA_GPA, 8, F_NEXT | F_WRITE, 2);
	set_desc(2, ~0ull, 0, F_WRITE, 0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.out_num, 0);
	CHECK_EQ(elem.in_num, 1);
	CHECK_EQ(elem.in_len, 8);
	/* A zero-length writable one still fixes the direction. */
	set_desc(0, DATA_GPA, 0, F_NEXT | F_WRITE, 1);
	set_desc(1, DATA_GPA, 8, 0, 0);
	avail_add(0);
	expect_broken();

	/* The whole RAM is fine, one byte more is not. */
	setup(16, false, false);
	set_desc(0, MEM_GPA, (uint32_t)MEM_SIZE, F_WRITE, 0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	set_desc(0, MEM_GPA, (uint32_t)MEM_SIZE + 1, F_WRITE, 0);
	avail_add(0);
	expect_broken();
	setup(16, false, false);
	set_desc(0, DATA_GPA, 0xffffffffu, 0, 0);
	avail_add(0);
	expect_broken();
}

static void test_bad_addresses(void)
{
	static const uint64_t bad[][2] = {
		{ 0, 16 },			   /* below RAM */
		{ MEM_GPA - 1, 2 },		   /* straddles the start */
		{ MEM_GPA + MEM_SIZE - 4, 8 },	   /* straddles the end */
		{ MEM_GPA + MEM_SIZE, 1 },	   /* just after */
		{ 0xfffffffffffff000ull, 0x2000 }, /* wraps past 2^64 into low RAM */
		{ ~0ull, 1 },
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(16, false, false);
		set_desc(0, DATA_GPA, 8, F_NEXT, 1);
		set_desc(1, bad[i][0], (uint32_t)bad[i][1], F_WRITE, 0);
		avail_add(0);
		expect_broken();
	}
	/* The same through an indirect table, and the table itself outside RAM. */
	setup(16, false, true);
	set_desc_at(INDIR_GPA, 0, 0xfffffffffffffff0ull, 0x20, 0, 0);
	set_desc(0, INDIR_GPA, 16, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
	setup(16, false, true);
	set_desc(0, MEM_GPA + MEM_SIZE - 16, 32, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
	setup(16, false, true);
	set_desc(0, 0xfffffffffffffff0ull, 32, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
}

static void test_loops_and_ranges(void)
{
	/* Self loop, two-descriptor loop, loop after a long run. */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, F_NEXT, 0);
	avail_add(0);
	expect_broken();
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, F_NEXT, 1);
	set_desc(1, DATA_GPA, 8, F_NEXT, 0);
	avail_add(0);
	expect_broken();
	/* A chain using every descriptor is the longest legal one... */
	setup(16, false, false);
	for (unsigned i = 0; i < 16; i++)
		set_desc(i, DATA_GPA, 8, i < 15 ? F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.out_num, 16);
	/* ...one more (back to an earlier one) is longer than the queue. */
	set_desc(15, DATA_GPA, 8, F_NEXT, 3);
	avail_add(0);
	expect_broken();
	/* Zero-length descriptors cannot hide a loop. */
	setup(16, false, false);
	set_desc(0, 0, 0, F_NEXT, 1);
	set_desc(1, 0, 0, F_NEXT, 0);
	avail_add(0);
	expect_broken();

	/* next out of range, head out of range. */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, F_NEXT, 16);
	avail_add(0);
	expect_broken();
	setup(16, false, false);
	avail_add(16);
	expect_broken();
	setup(16, false, false);
	avail_add(0xffff);
	expect_broken();

	/* Loops and next out of range inside an indirect table. */
	setup(16, false, true);
	set_desc_at(INDIR_GPA, 0, DATA_GPA, 8, F_NEXT, 1);
	set_desc_at(INDIR_GPA, 1, DATA_GPA, 8, F_NEXT, 0);
	set_desc(0, INDIR_GPA, 32, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
	setup(16, false, true);
	set_desc_at(INDIR_GPA, 0, DATA_GPA, 8, F_NEXT, 2); /* table has 2 entries */
	set_desc(0, INDIR_GPA, 32, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
}

static void test_direction_and_indirect_rules(void)
{
	/* Readable after writable. */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, F_WRITE | F_NEXT, 1);
	set_desc(1, DATA_GPA, 8, 0, 0);
	avail_add(0);
	expect_broken();
	/* The same across the direct/indirect boundary. */
	setup(16, false, true);
	set_desc(0, DATA_GPA, 8, F_WRITE | F_NEXT, 1);
	set_desc(1, INDIR_GPA, 16, F_INDIRECT, 0);
	set_desc_at(INDIR_GPA, 0, DATA_GPA, 8, 0, 0);
	avail_add(0);
	expect_broken();
	/* Nested indirect. */
	setup(16, false, true);
	set_desc_at(INDIR_GPA, 0, INDIR_GPA + 0x100, 16, F_INDIRECT, 0);
	set_desc_at(INDIR_GPA + 0x100, 0, DATA_GPA, 8, 0, 0);
	set_desc(0, INDIR_GPA, 16, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
	/* Indirect with NEXT. */
	setup(16, false, true);
	set_desc_at(INDIR_GPA, 0, DATA_GPA, 8, 0, 0);
	set_desc(0, INDIR_GPA, 16, F_INDIRECT | F_NEXT, 1);
	set_desc(1, DATA_GPA, 8, 0, 0);
	avail_add(0);
	expect_broken();
	/* Table lengths: not a multiple of 16, zero, more than VIRTQ_MAX_SEGS entries, 4 GiB. */
	static const uint32_t lens[] = { 17, 8, 0, (VIRTQ_MAX_SEGS + 1) * 16, 0xfffffff0u };
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		setup(16, false, true);
		set_desc(0, INDIR_GPA, lens[i], F_INDIRECT, 0);
		avail_add(0);
		expect_broken();
	}
	/* More than VIRTQ_MAX_SEGS buffers in one chain (direct prefix + a full table). */
	setup(16, false, true);
	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc_at(INDIR_GPA, i, DATA_GPA, 1, i + 1 < VIRTQ_MAX_SEGS ? F_NEXT : 0,
			    (uint16_t)(i + 1));
	set_desc(0, DATA_GPA, 1, F_NEXT, 1);
	set_desc(1, INDIR_GPA, VIRTQ_MAX_SEGS * 16, F_INDIRECT, 0);
	avail_add(0);
	expect_broken();
}

static void test_avail_and_ring_checks(void)
{
	/* avail idx more than size ahead of last_avail. */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, 0, 0);
	set_avail_idx(17);
	expect_broken();
	setup(16, false, false);
	set_avail_idx(0x8000);
	expect_broken();
	/* The device went further than the driver (idx behind last_avail): also > size ahead. */
	setup(16, false, false);
	vq.last_avail = 5;
	set_avail_idx(3);
	expect_broken();

	/* Ring areas outside RAM, straddling its end, or wrapping around. */
	static const uint64_t bad_gpa[] = { 0, MEM_GPA + MEM_SIZE - 16, 0xfffffffffffffff0ull };
	for (unsigned i = 0; i < 3; i++) {
		for (unsigned which = 0; which < 3; which++) {
			setup(16, true, false);
			set_desc(0, DATA_GPA, 8, 0, 0);
			avail_add(0);
			if (which == 0)
				vq.desc_gpa = bad_gpa[i];
			else if (which == 1)
				vq.avail_gpa = bad_gpa[i];
			else
				vq.used_gpa = bad_gpa[i];
			expect_broken();
		}
	}
	/* The used ring is checked at push too (event idx off: pop does not need it). */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, 0, 0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	vq.used_gpa = MEM_GPA + MEM_SIZE - 8;
	CHECK(virtq_push(&vq, &gm, 0, 0) < 0);
	CHECK(vq.broken);

	/* Misaligned rings and bad sizes. */
	static const uint64_t mis[3] = { DESC_GPA + 8, AVAIL_GPA + 1, USED_GPA + 2 };
	for (unsigned which = 0; which < 3; which++) {
		setup(16, false, false);
		set_desc(0, DATA_GPA, 8, 0, 0);
		avail_add(0);
		if (which == 0)
			vq.desc_gpa = mis[0];
		else if (which == 1)
			vq.avail_gpa = mis[1];
		else
			vq.used_gpa = mis[2];
		expect_broken();
	}
	static const uint16_t sizes[] = { 0, 3, 24, 512 /* > max_size 256 */ };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		setup(16, false, false);
		vq.size = sizes[i];
		expect_broken();
	}

	/* virtq_reset clears broken; with a fixed ring the queue works again. */
	setup(16, false, false);
	set_desc(0, DATA_GPA, 8, F_NEXT, 0);
	avail_add(0);
	expect_broken();
	virtq_reset(&vq);
	set_desc(0, DATA_GPA, 8, 0, 0);
	set_avail_idx(0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
}

static void test_max_size_queue(void)
{
	/* The largest queue: rings sized by 1024 entries. */
	memset(mem, 0, MEM_SIZE);
	memset(&vq, 0, sizeof(vq));
	vq.max_size = VIRTQ_MAX_SIZE;
	vq.size = VIRTQ_MAX_SIZE;
	vq.desc_gpa = MEM_GPA + 0x20000;	 /* 16 KiB */
	vq.avail_gpa = MEM_GPA + 0x24000;	 /* 2 KiB + 6 */
	vq.used_gpa = MEM_GPA + MEM_SIZE - 8198; /* 8 KiB + 6: ends exactly at the end of RAM */
	vq.used_gpa &= ~3ull;
	vq.ready = true;
	virtq_reset(&vq);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	CHECK(!vq.broken);
	vq.used_gpa = MEM_GPA + MEM_SIZE - 8192; /* 6 bytes short */
	vq.event_idx = true;
	CHECK(virtq_pop(&vq, &gm, &elem) < 0);
}

/* The used element in slot i: its head and written length. */
static void check_used_slot(unsigned slot, uint32_t head, uint32_t written)
{
	CHECK_EQ(rd32(USED_GPA + 4 + 8 * slot), head);
	CHECK_EQ(rd32(USED_GPA + 4 + 8 * slot + 4), written);
}

static void test_push_batch(void)
{
	struct virtq_used_elem b[9];

	setup(8, false, false);
	/* Both indices about to wrap: the batch straddles 2^16 and the end of the ring. */
	vq.last_avail = vq.used_idx = 65534;
	set_avail_idx(65534);
	for (unsigned i = 0; i < 8; i++)
		set_desc(i, DATA_GPA + 0x100 * i, 0x100, F_WRITE, 0);
	for (unsigned i = 0; i < 5; i++)
		avail_add((uint16_t)(7 - i));
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
		b[i] = (struct virtq_used_elem){ elem.head, 100 + i };
	}
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 5), 0);
	CHECK_EQ(vq.used_idx, 3);
	CHECK_EQ(rd16(USED_GPA + 2), 3);
	for (unsigned i = 0; i < 5; i++)
		check_used_slot((65534 + i) % 8, 7 - i, 100 + i);
	CHECK(virtq_should_notify(&vq, &gm));

	/* n = 0 writes nothing. */
	wr16(USED_GPA + 2, 0xbeef);
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 0), 0);
	CHECK_EQ(rd16(USED_GPA + 2), 0xbeef);
	CHECK_EQ(vq.used_idx, 3);
	/* The host copy of used idx wins over whatever the guest wrote there. */
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 1), 0);
	CHECK_EQ(rd16(USED_GPA + 2), 4);

	/* Device bugs are refused whole, before anything is written; the queue stays usable. */
	memset(host(USED_GPA + 4), 0xaa, 8 * 8);
	for (unsigned i = 0; i < 9; i++)
		b[i] = (struct virtq_used_elem){ (uint16_t)i % 8, 1 };
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 9), -EINVAL); /* more than the ring holds */
	b[2].head = 8;
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 3), -EINVAL); /* one head out of range */
	CHECK(!vq.broken);
	CHECK_EQ(vq.used_idx, 4);
	CHECK_EQ(rd16(USED_GPA + 2), 4);
	for (unsigned i = 0; i < 8 * 8; i++)
		CHECK_EQ(((uint8_t *)host(USED_GPA + 4))[i], 0xaa);
	/* A full ring in one batch. */
	b[2].head = 2;
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 8), 0);
	CHECK_EQ(rd16(USED_GPA + 2), 12);
	for (unsigned i = 0; i < 8; i++)
		check_used_slot((4 + i) % 8, i, 1);

	/* Used ring outside RAM breaks the queue; a broken or disabled queue takes nothing. */
	vq.used_gpa = MEM_GPA + MEM_SIZE - 8;
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 2), -EFAULT);
	CHECK(vq.broken);
	vq.used_gpa = USED_GPA;
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 2), -EIO);
	setup(8, false, false);
	vq.ready = false;
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 2), -EINVAL);
	CHECK_EQ(rd16(USED_GPA + 2), 0);
}

/*
 * A driver polling used->idx on another CPU must see a batch appear whole: every index it reads
 * is a batch boundary, and the elements behind it are already there (release/acquire).
 */
#define BATCH_N 4
/* At least this many batches (used idx wraps twice), more until the watcher has seen plenty. */
#define BATCH_ROUNDS 40000
#define BATCH_ROUNDS_MAX (1u << 22)
#define WATCH_ENOUGH 5000

static int watch_started, watch_done;
static unsigned watch_seen, watch_torn, watch_stale;

static void *watch_used(void *arg)
{
	uint16_t *idx_p = host(USED_GPA + 2), last = 0;

	(void)arg;
	__atomic_store_n(&watch_started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&watch_done, __ATOMIC_ACQUIRE)) {
		uint16_t v = __atomic_load_n(idx_p, __ATOMIC_ACQUIRE), v2;
		uint32_t w[BATCH_N];

		if (v == last)
			continue;
		last = v;
		__atomic_store_n(&watch_seen, watch_seen + 1, __ATOMIC_RELAXED);
		if (v % BATCH_N) {
			watch_torn++;
			continue;
		}
		for (unsigned i = 0; i < BATCH_N; i++)
			w[i] = __atomic_load_n(
			    (uint32_t *)host(USED_GPA + 4 + 8 * ((v - BATCH_N + i) % 16) + 4),
			    __ATOMIC_RELAXED);
		/* Seqlock-style: the slots read are rewritten only three batches after v. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		v2 = __atomic_load_n(idx_p, __ATOMIC_RELAXED);
		if ((uint16_t)(v2 - v) >= 16 - BATCH_N)
			continue;
		for (unsigned i = 0; i < BATCH_N; i++)
			if ((uint16_t)(w[i] + BATCH_N - i) != v)
				watch_stale++;
	}
	return NULL;
}

static void test_push_batch_published_once(void)
{
	struct virtq_used_elem b[BATCH_N];
	pthread_t t;
	uint32_t r;

	setup(16, false, false);
	watch_started = watch_done = 0;
	watch_seen = watch_torn = watch_stale = 0;
	if (pthread_create(&t, NULL, watch_used, NULL)) {
		CHECK(0);
		return;
	}
	while (!__atomic_load_n(&watch_started, __ATOMIC_ACQUIRE))
		sched_yield();
	for (r = 0; r < BATCH_ROUNDS_MAX; r++) {
		if (r >= BATCH_ROUNDS &&
		    __atomic_load_n(&watch_seen, __ATOMIC_RELAXED) >= WATCH_ENOUGH)
			break;
		/* written = the element's sequence number, so the watcher can tell stale slots. */
		for (unsigned i = 0; i < BATCH_N; i++)
			b[i] = (struct virtq_used_elem){ (uint16_t)i, r * BATCH_N + i };
		CHECK_EQ(virtq_push_batch(&vq, &gm, b, BATCH_N), 0);
	}
	__atomic_store_n(&watch_done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK_EQ(watch_torn, 0);
	CHECK_EQ(watch_stale, 0);
	CHECK_EQ(rd16(USED_GPA + 2), (uint16_t)(r * BATCH_N));
	/* How often the watcher ran alongside depends on the host's load: informative only. */
	fprintf(stderr, "  (watcher saw %u used idx values)\n", watch_seen);
}

static void test_push_batch_event_idx(void)
{
	uint64_t used_event = AVAIL_GPA + 4 + 2 * 16;
	struct virtq_used_elem b[16];

	setup(16, true, false);
	for (unsigned i = 0; i < 16; i++)
		b[i] = (struct virtq_used_elem){ (uint16_t)i, 0 };
	wr16(used_event, 5);
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 4), 0); /* 0 -> 4 */
	CHECK(virtq_should_notify(&vq, &gm));	       /* the first one always notifies */
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 3), 0); /* 4 -> 7 steps over 5 */
	CHECK(virtq_should_notify(&vq, &gm));
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 2), 0); /* 7 -> 9: not asked for */
	CHECK(!virtq_should_notify(&vq, &gm));

	/*
	 * 2^16 elements without an interrupt bring used idx back to where the last interrupt was:
	 * the driver must still get one (the step looks like zero), by batches or one at a time.
	 */
	wr16(used_event, 0x1234);
	for (unsigned i = 0; i < 65536 / 16; i++)
		CHECK_EQ(virtq_push_batch(&vq, &gm, b, 16), 0);
	CHECK_EQ(vq.used_idx, 9);
	CHECK(virtq_should_notify(&vq, &gm));
	CHECK(!virtq_should_notify(&vq, &gm));
	for (unsigned i = 0; i < 65536; i++)
		CHECK_EQ(virtq_push(&vq, &gm, 0, 0), 0);
	CHECK(virtq_should_notify(&vq, &gm));
	/* Short of a full turn, the ordinary test applies: 9 + 0xfff0 passes 0x1234. */
	for (unsigned i = 0; i < 0xfff0 / 16; i++)
		CHECK_EQ(virtq_push_batch(&vq, &gm, b, 16), 0);
	CHECK(virtq_should_notify(&vq, &gm));
	wr16(used_event, (uint16_t)(vq.used_idx + 100));
	CHECK_EQ(virtq_push_batch(&vq, &gm, b, 16), 0);
	CHECK(!virtq_should_notify(&vq, &gm));
}

static void test_unpop(void)
{
	static const uint16_t heads[] = { 5, 2, 9, 0 };

	setup(16, true, false);
	/* The avail index wraps between the chains given back. */
	vq.last_avail = vq.used_idx = 65534;
	set_avail_idx(65534);
	for (unsigned i = 0; i < 16; i++)
		set_desc(i, DATA_GPA + 0x10 * i, 0x10 + i, F_WRITE, 0);
	for (unsigned i = 0; i < 4; i++)
		avail_add(heads[i]);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
		CHECK_EQ(elem.head, heads[i]);
	}
	CHECK_EQ(vq.last_avail, 1);
	virtq_unpop(&vq, 2);
	CHECK_EQ(vq.last_avail, 65535);
	for (unsigned i = 1; i < 4; i++) {
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
		CHECK_EQ(elem.head, heads[i]);
		CHECK_EQ(elem.in_len, 0x10 + heads[i]);
	}
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0);
	/* Everything since the last push, across earlier unpops. */
	virtq_unpop(&vq, 4);
	CHECK_EQ(vq.last_avail, 65534);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
		CHECK_EQ(elem.head, heads[i]);
	}

	/* A push ends what may be given back: the driver may now reuse those descriptors. */
	CHECK_EQ(virtq_push(&vq, &gm, heads[0], 0), 0);
	virtq_unpop(&vq, 1);
	CHECK_EQ(vq.last_avail, 2);
	avail_add(7);
	avail_add(8);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	virtq_unpop(&vq, 3); /* only 2 popped since: those two come back, no more */
	CHECK_EQ(vq.last_avail, 2);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_push_batch(&vq, &gm, NULL, 0), 0); /* pushing nothing ends nothing */
	virtq_unpop(&vq, 1);
	CHECK_EQ(vq.last_avail, 2);

	/* Given-back chains are read and checked again: a driver rewriting one is caught. */
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(elem.head, 7);
	virtq_unpop(&vq, 1);
	set_desc(7, DATA_GPA, 8, F_NEXT, 7);
	expect_broken();

	/* A reset forgets the popped chains. */
	virtq_reset(&vq);
	set_avail_idx(0);
	set_desc(7, DATA_GPA, 8, F_WRITE, 0);
	avail_add(7);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	virtq_reset(&vq);
	virtq_unpop(&vq, 1);
	CHECK_EQ(vq.last_avail, 0);
}

static void test_iov_copy(void)
{
	uint8_t a[5], b[3], c[7], out[16];
	struct iovec iov[3] = { { a, 5 }, { b, 3 }, { c, 7 } };
	const uint8_t src[15] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };

	CHECK_EQ(virtq_iov_from_buf(iov, 3, 0, src, sizeof(src)), 15);
	CHECK_EQ(b[0], 5);
	CHECK_EQ(c[6], 14);
	memset(out, 0xee, sizeof(out));
	CHECK_EQ(virtq_iov_to_buf(iov, 3, 4, out, sizeof(out)), 11);
	CHECK_EQ(out[0], 4);
	CHECK_EQ(out[10], 14);
	CHECK_EQ(out[11], 0xee);
	CHECK_EQ(virtq_iov_to_buf(iov, 3, 6, out, 2), 2);
	CHECK_EQ(out[0], 6);
	CHECK_EQ(out[1], 7);
	CHECK_EQ(virtq_iov_to_buf(iov, 3, 15, out, 4), 0);
	CHECK_EQ(virtq_iov_to_buf(iov, 3, 1000, out, 4), 0);
	CHECK_EQ(virtq_iov_from_buf(iov, 2, 7, src, 10), 1);
	CHECK_EQ(b[2], 0);
	CHECK_EQ(virtq_iov_to_buf(iov, 0, 0, out, 4), 0);
}

/* ---- snapshots: one queue's fields inside a test section ---- */

#define VQ_STATE_TAG STATE_TAG('T', 'V', 'Q', 'S')

struct vq_target {
	struct virtq *vq;
	unsigned nvec; /* the transport's MSI-X table size */
};

static void vq_save(const void *dev, struct state_writer *w)
{
	const struct vq_target *t = dev;

	state_section_begin(w, VQ_STATE_TAG, 1);
	virtq_save(t->vq, w);
	state_section_end_write(w);
}

static int vq_load(void *dev, struct state_reader *r)
{
	struct vq_target *t = dev;
	struct virtq tmp;
	uint32_t version;
	int ret;

	state_section_begin_read(r, VQ_STATE_TAG, 1, &version);
	virtq_load(&tmp, t->vq, r, &gm, t->nvec);
	ret = state_section_end(r);
	if (!ret)
		*t->vq = tmp;
	return ret;
}

/* A fresh queue as a device has it before the driver sets it up. */
static void fresh_queue(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
	q->max_size = 256;
	q->size = 256;
	q->msix_vector = VIRTQ_NO_VECTOR;
}

static bool same_queue(const struct virtq *a, const struct virtq *b)
{
	return a->max_size == b->max_size && a->size == b->size && a->ready == b->ready &&
	       a->desc_gpa == b->desc_gpa && a->avail_gpa == b->avail_gpa &&
	       a->used_gpa == b->used_gpa && a->msix_vector == b->msix_vector &&
	       a->last_avail == b->last_avail && a->used_idx == b->used_idx &&
	       a->signalled_used == b->signalled_used &&
	       a->signalled_used_valid == b->signalled_used_valid &&
	       a->unpoppable == b->unpoppable && a->broken == b->broken;
}

/* Progress survives: the loaded queue pops and pushes where the saved one stopped. */
static void test_state_round_trip(void)
{
	struct virtq fresh;
	struct vq_target saved = { &vq, 4 }, loaded = { &fresh, 4 };
	struct state_target ts = { vq_save, vq_load, &saved }, tl = { vq_save, vq_load, &loaded };
	uint64_t used_event = AVAIL_GPA + 4 + 2 * 16;
	struct state_blob blob;

	setup(16, true, true);
	vq.msix_vector = 3;
	for (unsigned i = 0; i < 16; i++)
		set_desc(i, DATA_GPA + 64 * i, 64, F_WRITE, 0);
	/* 18 chains through a 16-entry ring: the indices wrap past the ring size. */
	for (unsigned i = 0; i < 18; i++) {
		avail_add((uint16_t)(i % 16));
		CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
		CHECK_EQ(virtq_push(&vq, &gm, elem.head, 64), 0);
	}
	wr16(used_event, 17);
	CHECK(virtq_should_notify(&vq, &gm));
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 0); /* publishes avail_event */
	state_check_save(&ts, &blob);

	fresh_queue(&fresh);
	fresh.event_idx = fresh.indirect = true; /* what the core derives from the features */
	CHECK_EQ(state_check_load(&tl, &blob), 0);
	CHECK(same_queue(&fresh, &vq));
	CHECK(state_check_same(&tl, &blob));
	/* The next chain: slot 18 % 16 of the ring, used index 19, and event idx goes on. */
	avail_add(5);
	CHECK_EQ(virtq_pop(&fresh, &gm, &elem), 1);
	CHECK_EQ(elem.head, 5);
	CHECK_EQ(virtq_push(&fresh, &gm, elem.head, 64), 0);
	CHECK_EQ(rd16(USED_GPA + 2), 19);
	CHECK_EQ(rd32(USED_GPA + 4 + 8 * (18 % 16)), 5);
	CHECK(!virtq_should_notify(&fresh, &gm)); /* used_event 17 was already passed */
	state_blob_free(&blob);
}

/* Every field a load takes is checked as the transports and the ring walker check it. */
static void test_state_hostile(void)
{
	struct virtq fresh;
	struct vq_target saved = { &vq, 4 }, target = { &fresh, 4 };
	struct state_target ts = { vq_save, vq_load, &saved }, tt = { vq_save, vq_load, &target };
	const size_t b = STATE_CHECK_HDR;
	struct state_blob good;
	uint64_t out = MEM_GPA + MEM_SIZE, edge = MEM_GPA + MEM_SIZE - 64, odd = DESC_GPA + 8;

	setup(16, false, false);
	vq.msix_vector = 2;
	set_desc(0, DATA_GPA, 8, F_WRITE, 0);
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_push(&vq, &gm, 0, 8), 0);
	state_check_save(&ts, &good);
	CHECK_EQ(good.len, b + 39);
	fresh_queue(&fresh);

	state_check_hostile(&tt, &good);
	state_check_rejects_field(&tt, &good, b + 0, 48, 2, "size: not a power of two");
	state_check_rejects_field(&tt, &good, b + 0, 512, 2, "size above max_size");
	state_check_rejects_field(&tt, &good, b + 0, 0, 2, "size 0");
	state_check_rejects_field(&tt, &good, b + 2, 2, 1, "ready: not a bool");
	/*
	 * Ring addresses the driver may write and enable the queue with (the transports check
	 * them only when the queue is used): a snapshot of such a queue loads, and the queue then
	 * breaks at its first use, as it would have without the snapshot.
	 */
	state_check_accepts_field(&tt, &good, b + 3, out, 8, "desc outside RAM");
	state_check_accepts_field(&tt, &good, b + 3, odd, 8, "desc misaligned");
	state_check_accepts_field(&tt, &good, b + 11, out, 8, "avail outside RAM");
	state_check_accepts_field(&tt, &good, b + 19, edge, 8, "used runs out of RAM");
	state_check_rejects_field(&tt, &good, b + 27, 4, 2, "vector beyond a 4-entry table");
	state_check_rejects_field(&tt, &good, b + 29, 7, 2,
				  "last_avail ahead of used_idx: chains in flight");
	state_check_rejects_field(&tt, &good, b + 35, 7, 1, "signalled_used_valid: not a bool");
	state_check_rejects_field(&tt, &good, b + 36, 17, 2, "unpoppable beyond the size");
	state_check_rejects_field(&tt, &good, b + 38, 2, 1, "broken: not a bool");

	/* What the registers can hold is taken: addresses of a queue not enabled, NO_VECTOR, and
	 * a broken queue (the device stopped using its rings). */
	state_blob_put(&good, b + 3, out, 8);
	state_blob_put(&good, b + 38, 1, 1);
	state_blob_put(&good, b + 27, VIRTQ_NO_VECTOR, 2);
	CHECK_EQ(state_check_load(&tt, &good), 0);
	CHECK(fresh.broken);
	CHECK_EQ(fresh.desc_gpa, out);
	CHECK_EQ(virtq_pop(&fresh, &gm, &elem), -EIO);
	state_blob_put(&good, b + 38, 0, 1);
	state_blob_put(&good, b + 2, 0, 1);
	CHECK_EQ(state_check_load(&tt, &good), 0);
	CHECK(!fresh.ready);
	state_blob_free(&good);
}

/* Diff snapshots: what the device may write (its buffers, the used ring) counts as dirty. */
static void test_dirty_pages(void)
{
	uint64_t *bits, page = 4096;
	int64_t used, data;

	setup(16, false, false);
	CHECK_EQ(guest_mem_track_dirty(&gm), 0);
	bits = calloc(gm.dirty_words + 1, sizeof(uint64_t));
	guest_mem_take_dirty(&gm, bits); /* start clean */
	memset(bits, 0, (gm.dirty_words + 1) * sizeof(uint64_t));
	set_desc(0, DATA_GPA + 2 * page, 16, F_NEXT, 1);	  /* device-readable */
	set_desc(1, DATA_GPA + 4 * page + 4000, 200, F_WRITE, 0); /* crosses into the next page */
	avail_add(0);
	CHECK_EQ(virtq_pop(&vq, &gm, &elem), 1);
	CHECK_EQ(virtq_push(&vq, &gm, 0, 200), 0);
	guest_mem_take_dirty(&gm, bits);
	used = guest_mem_page_index(&gm, USED_GPA);
	data = guest_mem_page_index(&gm, DATA_GPA + 4 * page);
#define BIT(p) ((bits[(p) / 64] >> ((p) % 64)) & 1)
	CHECK(BIT(used));
	CHECK(BIT(data) && BIT(data + 1));
	CHECK(!BIT(data - 2)); /* the readable buffer */
	CHECK(!BIT(guest_mem_page_index(&gm, DESC_GPA)) ||
	      guest_mem_page_index(&gm, DESC_GPA) == used);
#undef BIT
	free(bits);
	free(gm.dirty);
	gm.dirty = NULL;
	gm.dirty_words = 0;
}

int main(void)
{
	log_set_level(LOG_ERROR); /* the hostile cases log (rate-limited) warnings by design */
	mem = malloc(MEM_SIZE);
	if (!mem || guest_mem_add(&gm, MEM_GPA, MEM_SIZE, mem))
		return 1;
	RUN_TEST(test_simple_chain);
	RUN_TEST(test_index_wrap);
	RUN_TEST(test_indirect);
	RUN_TEST(test_event_idx);
	RUN_TEST(test_zero_and_huge_lengths);
	RUN_TEST(test_bad_addresses);
	RUN_TEST(test_loops_and_ranges);
	RUN_TEST(test_direction_and_indirect_rules);
	RUN_TEST(test_avail_and_ring_checks);
	RUN_TEST(test_max_size_queue);
	RUN_TEST(test_push_batch);
	RUN_TEST(test_push_batch_published_once);
	RUN_TEST(test_push_batch_event_idx);
	RUN_TEST(test_unpop);
	RUN_TEST(test_iov_copy);
	RUN_TEST(test_state_round_trip);
	RUN_TEST(test_state_hostile);
	RUN_TEST(test_dirty_pages);
	free(mem);
	TEST_EXIT();
}
