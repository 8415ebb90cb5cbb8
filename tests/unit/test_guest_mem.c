/* Unit tests of the guest-memory bounds helper: edges, wrap-around, holes. */
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "guest_mem.h"
#include "test.h"

static void test_ptr_bounds(void)
{
	static uint8_t low[4096], high[8192];
	struct guest_mem gm;

	memset(&gm, 0, sizeof(gm));
	CHECK_EQ(guest_mem_add(&gm, 0, sizeof(low), low), 0);
	CHECK_EQ(guest_mem_add(&gm, 1ull << 32, sizeof(high), high), 0);
	CHECK(guest_mem_ptr(&gm, 0, 4096) == low);
	CHECK(guest_mem_ptr(&gm, 4095, 1) == low + 4095);
	CHECK(guest_mem_ptr(&gm, 4095, 2) == NULL); /* crosses into the hole */
	CHECK(guest_mem_ptr(&gm, 4096, 1) == NULL);
	CHECK(guest_mem_ptr(&gm, (1ull << 32) + 8191, 1) == high + 8191);
	CHECK(guest_mem_ptr(&gm, (1ull << 32) + 8191, 2) == NULL);
	CHECK(guest_mem_ptr(&gm, 0, UINT64_MAX) == NULL);
	CHECK(guest_mem_ptr(&gm, UINT64_MAX, 2) == NULL); /* gpa + len wraps to 1 */
	CHECK(guest_mem_ptr(&gm, UINT64_MAX - 4000, 8000) == NULL);
	CHECK(guest_mem_ptr(&gm, 16, 0) == low + 16);
	CHECK(guest_mem_ptr(&gm, 4096, 0) == NULL);
}

static void test_add_rejects(void)
{
	static uint8_t a[4096];
	struct guest_mem gm;

	memset(&gm, 0, sizeof(gm));
	CHECK_EQ(guest_mem_add(&gm, 0x1000, sizeof(a), a), 0);
	CHECK_EQ(guest_mem_add(&gm, 0x1800, sizeof(a), a), -EEXIST);
	CHECK_EQ(guest_mem_add(&gm, 0, 0x1001, a), -EEXIST);
	CHECK_EQ(guest_mem_add(&gm, 0x0, 0, a), -EINVAL);
	CHECK_EQ(guest_mem_add(&gm, UINT64_MAX - 10, 100, a), -EINVAL);
	CHECK_EQ(guest_mem_add(&gm, 0x4000, 10, NULL), -EINVAL);
	for (unsigned i = 1; i < GUEST_MEM_MAX_REGIONS; i++)
		CHECK_EQ(guest_mem_add(&gm, 0x100000ull * i, 16, a), 0);
	CHECK_EQ(guest_mem_add(&gm, 0x10000000, 16, a), -ENOSPC);
}

static void test_copy_helpers(void)
{
	static uint8_t ram[256];
	struct guest_mem gm;
	uint8_t buf[16] = { 1, 2, 3 };

	memset(&gm, 0, sizeof(gm));
	CHECK_EQ(guest_mem_add(&gm, 0x1000, sizeof(ram), ram), 0);
	CHECK_EQ(guest_mem_write(&gm, 0x10f0, buf, 16), 0);
	CHECK_EQ(ram[0xf0], 1);
	CHECK_EQ(guest_mem_write(&gm, 0x10f8, buf, 16), -EFAULT);
	CHECK_EQ(ram[0xf8], 0); /* nothing partially written */
	CHECK_EQ(guest_mem_read(&gm, 0x10f0, buf, 16), 0);
	CHECK_EQ(guest_mem_read(&gm, 0xfff, buf, 2), -EFAULT);
}

static void test_alloc_splits_at_hole(void)
{
	struct guest_mem gm;

	/* Guest RAM with a tiny "hole" start so the test needs no real gigabytes. */
	CHECK_EQ(guest_mem_alloc(&gm, 3ull << 20, 2ull << 20), 0);
	CHECK_EQ(gm.nregions, 2);
	CHECK_EQ(gm.regions[0].gpa, 0);
	CHECK_EQ(gm.regions[0].size, 2ull << 20);
	CHECK_EQ(gm.regions[1].gpa, 1ull << 32);
	CHECK_EQ(gm.regions[1].size, 1ull << 20);
	CHECK_EQ(gm.ram_size, 3ull << 20);
	*(volatile uint8_t *)guest_mem_ptr(&gm, (1ull << 32) + (1 << 20) - 1, 1) = 1;
	guest_mem_free(&gm);
	CHECK_EQ(guest_mem_alloc(&gm, 1ull << 20, 2ull << 20), 0);
	CHECK_EQ(gm.nregions, 1);
	guest_mem_free(&gm);
	CHECK_EQ(guest_mem_alloc(&gm, 0, 2ull << 20), -EINVAL);
}

/* The pages kvmbox writes, in the memory file's order (regions back to back), for Diff snapshots.
 */
static void test_dirty_tracking(void)
{
	static uint8_t low[16 * 4096], high[8 * 4096];
	struct guest_mem gm = { 0 };
	uint64_t out[2] = { 0, 0 };
	uint8_t b = 1;

	CHECK_EQ(guest_mem_add(&gm, 0, sizeof(low), low), 0);
	CHECK_EQ(guest_mem_add(&gm, 1ull << 32, sizeof(high), high), 0);
	/* Off until asked for: marks and takes are no-ops. */
	guest_mem_mark_dirty(&gm, 0, 1);
	guest_mem_take_dirty(&gm, out);
	CHECK_EQ(out[0], 0);
	CHECK_EQ(guest_mem_track_dirty(&gm), 0);
	CHECK_EQ(gm.dirty_words, 1); /* 24 pages */
	CHECK_EQ(guest_mem_page_index(&gm, 0x1fff), 1);
	CHECK_EQ(guest_mem_page_index(&gm, (1ull << 32) + 4096), 17);
	CHECK_EQ(guest_mem_page_index(&gm, sizeof(low)), -1);  /* the gap */
	guest_mem_mark_dirty(&gm, 0x1ffe, 4);		       /* pages 1 and 2 */
	guest_mem_mark_dirty(&gm, (1ull << 32) + 3 * 4096, 0); /* len 0 counts as 1: page 19 */
	guest_mem_mark_dirty(&gm, sizeof(low) - 1, 2);	       /* runs off the region: ignored */
	guest_mem_mark_dirty(&gm, ~0ull, 2);		       /* wraps: ignored */
	CHECK_EQ(guest_mem_write(&gm, 15 * 4096, &b, 1), 0);   /* the copy helper marks too */
	CHECK_EQ(guest_mem_write(&gm, sizeof(low), &b, 1), -EFAULT);
	guest_mem_take_dirty(&gm, out);
	CHECK_EQ(out[0], (1ull << 1) | (1ull << 2) | (1ull << 15) | (1ull << 19));
	CHECK_EQ(out[1], 0);
	/* Taken means forgotten; ORed into what the caller has. */
	out[0] = 1ull << 40;
	guest_mem_take_dirty(&gm, out);
	CHECK_EQ(out[0], 1ull << 40);
	free(gm.dirty);
}

int main(void)
{
	RUN_TEST(test_ptr_bounds);
	RUN_TEST(test_add_rejects);
	RUN_TEST(test_copy_helpers);
	RUN_TEST(test_alloc_splits_at_hole);
	RUN_TEST(test_dirty_tracking);
	TEST_EXIT();
}
