/* Unit tests of the snapshot memory file: sparse Full saves, Diff saves from a dirty bitmap that
 * restore to what a Full save at the same moment restores, copy-on-write mapping, refusals. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest_mem.h"
#include "snapshot/mem.h"
#include "test.h"

#define RAM (8ull << 20)
#define HOLE (6ull << 20) /* RAM above 6 MiB continues at 4 GiB: two regions */
#define PAGES (RAM / SNAPSHOT_MEM_PAGE)

static uint8_t *page_ptr(struct guest_mem *gm, uint64_t page)
{
	uint64_t off = page * SNAPSHOT_MEM_PAGE;

	return off < HOLE ? guest_mem_ptr(gm, off, 1)
			  : guest_mem_ptr(gm, (4ull << 30) + off - HOLE, 1);
}

static int files_equal(const char *a, const char *b)
{
	static uint8_t x[SNAPSHOT_MEM_PAGE], y[SNAPSHOT_MEM_PAGE];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY), same = fa >= 0 && fb >= 0;

	for (uint64_t p = 0; same && p < PAGES; p++)
		same = pread(fa, x, sizeof(x), (off_t)(p * sizeof(x))) == (ssize_t)sizeof(x) &&
		       pread(fb, y, sizeof(y), (off_t)(p * sizeof(y))) == (ssize_t)sizeof(y) &&
		       !memcmp(x, y, sizeof(x));
	close(fa);
	close(fb);
	return same;
}

static void test_full_diff_map(void)
{
	char dir[] = "/tmp/kvmbox-mem.XXXXXX", full[128], diff[128], full2[128], err[256];
	struct guest_mem gm = { 0 }, restored = { 0 };
	struct snapshot_mem_stats st;
	uint64_t dirty[PAGES / 64] = { 0 };
	struct stat sb;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(full, sizeof(full), "%s/full", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	snprintf(full2, sizeof(full2), "%s/full2", dir);
	CHECK_EQ(guest_mem_alloc(&gm, RAM, HOLE), 0);
	CHECK_EQ(gm.nregions, 2);
	/* Touch a few pages in each region. */
	for (uint64_t p = 0; p < PAGES; p += 97)
		memset(page_ptr(&gm, p), (int)(p & 0xff) | 1, SNAPSHOT_MEM_PAGE);
	/* Full: a temporary file until committed; an abort leaves nothing. */
	CHECK_EQ(snapshot_mem_save(full, &gm, NULL, 0, 0x1111, &st, err, sizeof(err)), 0);
	CHECK(stat(full, &sb) < 0);
	snapshot_mem_abort(full);
	CHECK_EQ(snapshot_mem_save(full, &gm, NULL, 0, 0x1111, &st, err, sizeof(err)), 0);
	CHECK_EQ(snapshot_mem_commit(full, err, sizeof(err)), 0);
	CHECK_EQ(st.written, (PAGES + 96) / 97);
	CHECK_EQ(st.written + st.holes, PAGES);
	CHECK_EQ(stat(full, &sb), 0);
	CHECK_EQ((uint64_t)sb.st_size, RAM + SNAPSHOT_MEM_TRAILER);
	/* Sparse where the file system allows it: far less than the RAM is allocated. */
	CHECK((uint64_t)sb.st_blocks * 512 < RAM / 4);
	{
		char tmp[160], cmd[512];

		snprintf(tmp, sizeof(tmp), "%s.tmp.%d", full, (int)getpid());
		CHECK(stat(tmp, &sb) < 0);
		/* Change some pages (one to zero, one fresh), mark them dirty, Diff onto a copy. */
		snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", full, diff);
		CHECK_EQ(system(cmd), 0);
	}
	memset(page_ptr(&gm, 97), 0, SNAPSHOT_MEM_PAGE);
	memset(page_ptr(&gm, 5), 0xee, SNAPSHOT_MEM_PAGE);
	memset(page_ptr(&gm, PAGES - 1), 0x11, SNAPSHOT_MEM_PAGE); /* in the high region */
	dirty[97 / 64] |= 1ull << (97 % 64);
	dirty[5 / 64] |= 1ull << (5 % 64);
	dirty[(PAGES - 1) / 64] |= 1ull << ((PAGES - 1) % 64);
	/* A Diff goes only onto the memory of the snapshot it follows. */
	CHECK_EQ(snapshot_mem_save(diff, &gm, dirty, 0x9999, 0x2222, &st, err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "not the memory of this microVM's last snapshot") != NULL);
	CHECK_EQ(snapshot_mem_save(diff, &gm, dirty, 0x1111, 0x2222, &st, err, sizeof(err)), 0);
	CHECK_EQ(st.written, 2);
	CHECK_EQ(st.holes, 1);
	/* Its id is the Diff's now: a second Diff from the same base is refused. */
	CHECK_EQ(snapshot_mem_save(diff, &gm, dirty, 0x1111, 0x3333, &st, err, sizeof(err)),
		 -EINVAL);
	/* The Diff restores to what a Full snapshot taken now holds, page by page. */
	CHECK_EQ(snapshot_mem_save(full2, &gm, NULL, 0, 0x2222, &st, err, sizeof(err)), 0);
	CHECK_EQ(snapshot_mem_commit(full2, err, sizeof(err)), 0);
	CHECK(files_equal(diff, full2));

	/* Map it: the guest sees the snapshot; its writes never reach the file. */
	CHECK_EQ(guest_mem_alloc(&restored, RAM, HOLE), 0);
	CHECK_EQ(snapshot_mem_map(diff, &restored, 0x1111, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "does not belong to this snapshot") != NULL);
	CHECK_EQ(snapshot_mem_map(diff, &restored, 0x2222, err, sizeof(err)), 0);
	for (uint64_t p = 0; p < PAGES; p++)
		CHECK(!memcmp(page_ptr(&restored, p), page_ptr(&gm, p), SNAPSHOT_MEM_PAGE));
	memset(page_ptr(&restored, 5), 0x42, SNAPSHOT_MEM_PAGE);
	CHECK(files_equal(diff, full2));
	/* Mapped, it takes no Diff (this process or any other: the lock is the file's). */
	CHECK_EQ(snapshot_mem_save(diff, &gm, dirty, 0x2222, 0x4444, &st, err, sizeof(err)),
		 -EBUSY);
	CHECK(strstr(err, "mapped by a microVM restored from it") != NULL);

	/* A Diff cut short leaves id 0 in the trailer: refused as anyone's memory. */
	{
		static const uint8_t zero[8];
		int fd = open(full, O_WRONLY);

		CHECK(fd >= 0 && pwrite(fd, zero, 8, (off_t)RAM + 8) == 8);
		close(fd);
		CHECK_EQ(snapshot_mem_map(full, &gm, 0, err, sizeof(err)), -EINVAL);
		CHECK_EQ(snapshot_mem_map(full, &gm, 0x1111, err, sizeof(err)), -EINVAL);
	}
	/* Refusals: a memory file of another size; a Diff without its base. */
	CHECK_EQ(truncate(full2, RAM - SNAPSHOT_MEM_PAGE), 0);
	CHECK_EQ(snapshot_mem_map(full2, &gm, 0x2222, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "has 8384512 bytes, the snapshot's guest needs 8392704") != NULL);
	CHECK_EQ(snapshot_mem_save(full2, &gm, dirty, 0x2222, 0x5555, &st, err, sizeof(err)),
		 -EINVAL);
	unlink(full2);
	CHECK(snapshot_mem_save(full2, &gm, dirty, 0x2222, 0x5555, &st, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot open memory file") != NULL);
	CHECK(snapshot_mem_map(full2, &gm, 0x2222, err, sizeof(err)) < 0);

	guest_mem_free(&restored);
	guest_mem_free(&gm);
	unlink(full);
	unlink(diff);
	rmdir(dir);
}

int main(void)
{
	RUN_TEST(test_full_diff_map);
	TEST_EXIT();
}
