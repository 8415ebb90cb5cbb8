/* Unit tests for fw_cfg: each key's byte stream, rewinds, unknown keys, wide and hostile access. */
#include "dev/fw_cfg.h"
#include "test.h"
#include "state_check.h"

#include <pthread.h>
#include <string.h>

#define TEST_RAM 0x8877665544332211ull /* distinct bytes: a swapped or shifted lane shows */
#define TEST_CPUS 3

static struct fw_cfg fc;

static void select_key(uint16_t key)
{
	uint8_t b[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	fw_cfg_bus_ops.write(&fc, 0, b, 2);
}

static uint8_t read8(void)
{
	uint8_t b = 0xa5;

	fw_cfg_bus_ops.read(&fc, 1, &b, 1);
	return b;
}

/* n byte reads of the data port, assembled little-endian as a guest does. */
static uint64_t read_le(unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)read8() << (8 * i);
	return v;
}

/* The next n bytes are all zero. */
static void check_zeros(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(read8(), 0);
}

static void test_signature(void)
{
	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read8(), 'Q');
	CHECK_EQ(read8(), 'E');
	CHECK_EQ(read8(), 'M');
	CHECK_EQ(read8(), 'U');
	check_zeros(4);
	fw_cfg_destroy(&fc);
}

static void test_numbers(void)
{
	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_NB_CPUS);
	CHECK_EQ(read_le(2), TEST_CPUS);
	check_zeros(2);
	select_key(FW_CFG_MAX_CPUS);
	CHECK_EQ(read_le(2), TEST_CPUS);
	check_zeros(2);
	select_key(FW_CFG_RAM_SIZE);
	CHECK_EQ(read_le(8), TEST_RAM);
	check_zeros(2);
	select_key(FW_CFG_ID);
	CHECK_EQ(read_le(4), 1); /* traditional interface only: no DMA bit */
	select_key(FW_CFG_NOGRAPHIC);
	CHECK_EQ(read_le(2), 1);
	select_key(FW_CFG_UUID);
	check_zeros(16 + 4);
	select_key(FW_CFG_FILE_DIR);
	check_zeros(4 + 4); /* a big-endian count of 0 files, then nothing */
	fw_cfg_destroy(&fc);

	/* Values are truncated to their 16-bit fields, as in QEMU. */
	fw_cfg_init(&fc, UINT64_MAX, 0x10002);
	select_key(FW_CFG_NB_CPUS);
	CHECK_EQ(read_le(2), 2);
	select_key(FW_CFG_RAM_SIZE);
	CHECK_EQ(read_le(8), UINT64_MAX);
	fw_cfg_destroy(&fc);
}

static void test_rewind(void)
{
	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read8(), 'Q');
	CHECK_EQ(read8(), 'E');
	select_key(FW_CFG_SIGNATURE); /* the same key again: back to its first byte */
	CHECK_EQ(read8(), 'Q');
	select_key(FW_CFG_NB_CPUS);
	CHECK_EQ(read8(), TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read_le(4), 0x554d4551); /* "QEMU" */
	fw_cfg_destroy(&fc);
}

static void test_past_end(void)
{
	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read_le(4), 0x554d4551);
	/* Long after the end the stream stays at zero: the offset does not wrap to the start. */
	for (unsigned i = 0; i < 70000; i++) {
		if (read8() != 0) {
			CHECK_EQ(i, UINT32_MAX); /* report the first non-zero read only */
			break;
		}
	}
	CHECK_EQ(fc.offset, 4);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read8(), 'Q');
	fw_cfg_destroy(&fc);
}

static void test_unknown_keys(void)
{
	static const uint16_t
	    keys[] = { 0x11 /* MAX_RAM */,	0xffff, 0x4000, 0x4000 | FW_CFG_SIGNATURE,
		       0x4000 | FW_CFG_NB_CPUS, 0x8000, 0x8003, 0x0020 /* first file slot */ };

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		select_key(keys[i]);
		check_zeros(20);
		CHECK_EQ(fc.offset, 0);
	}
	fw_cfg_destroy(&fc);
}

static void test_ignored_writes(void)
{
	uint8_t b[8];

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read8(), 'Q');
	/* A byte write to the selector neither selects nor rewinds. */
	b[0] = FW_CFG_NB_CPUS;
	fw_cfg_bus_ops.write(&fc, 0, b, 1);
	CHECK_EQ(read8(), 'E');
	/* Data-port writes of every width change nothing (the legacy interface is read-only). */
	memset(b, FW_CFG_NB_CPUS, sizeof(b));
	for (unsigned len = 1; len <= 8; len *= 2)
		fw_cfg_bus_ops.write(&fc, 1, b, len);
	CHECK_EQ(read8(), 'M');
	CHECK_EQ(fc.selector, FW_CFG_SIGNATURE);
	/* Zero-length writes at either port change nothing either. */
	fw_cfg_bus_ops.write(&fc, 0, b, 0);
	fw_cfg_bus_ops.write(&fc, 1, b, 0);
	CHECK_EQ(read8(), 'U');
	/* A dword write to the selector (QEMU clips it to the 2-port region): low 16 bits select.
	 */
	b[0] = FW_CFG_NB_CPUS;
	b[1] = 0;
	b[2] = 0xad;
	b[3] = 0xde;
	fw_cfg_bus_ops.write(&fc, 0, b, 4);
	CHECK_EQ(read8(), TEST_CPUS);
	fw_cfg_destroy(&fc);
}

static void test_selector_reads(void)
{
	uint8_t b[8];

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	for (unsigned len = 1; len <= 8; len *= 2) {
		memset(b, 0xa5, sizeof(b));
		fw_cfg_bus_ops.read(&fc, 0, b, len);
		for (unsigned i = 0; i < 8; i++)
			CHECK_EQ(b[i], i < len ? 0 : 0xa5);
	}
	CHECK_EQ(read8(), 'Q'); /* the selector-port reads consumed nothing */
	fw_cfg_destroy(&fc);
}

static void test_wide_read(void)
{
	uint8_t b[8];
	uint64_t v;

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	/* Two stream bytes, first at the lowest address: "QE" as memcpy would leave it. */
	memset(b, 0xa5, sizeof(b));
	fw_cfg_bus_ops.read(&fc, 1, b, 2);
	CHECK_EQ(b[0], 'Q');
	CHECK_EQ(b[1], 'E');
	CHECK_EQ(b[2], 0xa5);
	CHECK_EQ(fc.offset, 2);
	/* Running out part way: the rest of the access is zero padding. */
	memset(b, 0xa5, sizeof(b));
	fw_cfg_bus_ops.read(&fc, 1, b, 4);
	CHECK(!memcmp(b, "MU\0\0\xa5", 5));
	CHECK_EQ(fc.offset, 4);
	/* A little-endian item read in one 8-byte access gives its value, as firmware expects. */
	select_key(FW_CFG_RAM_SIZE);
	fw_cfg_bus_ops.read(&fc, 1, b, 8);
	memcpy(&v, b, sizeof(v));
	CHECK_EQ(v, TEST_RAM);
	/* Byte and wide reads share one stream position. */
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read8(), 'Q');
	fw_cfg_bus_ops.read(&fc, 1, b, 2);
	CHECK(!memcmp(b, "EM", 2));
	CHECK_EQ(read8(), 'U');
	fw_cfg_destroy(&fc);
}

static void test_hostile(void)
{
	uint8_t b[16];

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	/* Offsets outside the two ports: zeros, nothing consumed. */
	static const uint64_t offs[] = { 2, 5, 0x100, UINT64_MAX };
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(b, 0xa5, sizeof(b));
		fw_cfg_bus_ops.read(&fc, offs[i], b, 8);
		for (unsigned j = 0; j < sizeof(b); j++)
			CHECK_EQ(b[j], j < 8 ? 0 : 0xa5);
		fw_cfg_bus_ops.write(&fc, offs[i], b, 8);
	}
	/* len 0: nothing written, nothing consumed. */
	memset(b, 0xa5, sizeof(b));
	fw_cfg_bus_ops.read(&fc, 1, b, 0);
	fw_cfg_bus_ops.read(&fc, 0, b, 0);
	CHECK_EQ(b[0], 0xa5);
	/* len 8 at the selector: zeros. */
	fw_cfg_bus_ops.read(&fc, 0, b, 8);
	for (unsigned j = 0; j < 8; j++)
		CHECK_EQ(b[j], 0);
	/* Wider than 8 at the data port: zero-filled, nothing consumed. */
	memset(b, 0xa5, sizeof(b));
	fw_cfg_bus_ops.read(&fc, 1, b, 16);
	for (unsigned j = 0; j < sizeof(b); j++)
		CHECK_EQ(b[j], 0);
	CHECK_EQ(fc.selector, FW_CFG_SIGNATURE);
	CHECK_EQ(fc.offset, 0);
	CHECK_EQ(read8(), 'Q');
	fw_cfg_destroy(&fc);
}

struct reader {
	uint16_t key;
	unsigned bad; /* bytes that belong to no item the other thread could have selected */
};

/* Two vCPUs that share one selector: each read returns some byte of some item, never garbage. */
static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	uint8_t b[8];

	for (unsigned i = 0; i < 20000; i++) {
		select_key(r->key);
		fw_cfg_bus_ops.read(&fc, 1, b, 1 + (i & 7));
		for (unsigned j = 0; j < 1 + (i & 7); j++)
			if (!memchr("QEMU\0\x03", b[j], 6))
				r->bad++;
	}
	return NULL;
}

static void test_concurrent(void)
{
	struct reader r[2] = { { FW_CFG_SIGNATURE, 0 }, { FW_CFG_NB_CPUS, 0 } };
	pthread_t t[2];

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	for (unsigned i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, reader_thread, &r[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(r[0].bad, 0);
	CHECK_EQ(r[1].bad, 0);
	CHECK(fc.offset <= 4);
	fw_cfg_destroy(&fc);
}

static struct fw_cfg fc2;

static uint8_t read8_on(struct fw_cfg *f)
{
	uint8_t b = 0xa5;

	fw_cfg_bus_ops.read(f, 1, &b, 1);
	return b;
}

static void test_snapshot_round_trip(void)
{
	static const uint16_t keys[] = { FW_CFG_RAM_SIZE, FW_CFG_SIGNATURE, 0x4242 };
	const struct state_target st = state_target_bus(&fw_cfg_bus_ops, &fc),
				  st2 = state_target_bus(&fw_cfg_bus_ops, &fc2);
	struct state_blob saved;

	CHECK(fw_cfg_bus_ops.save == fw_cfg_save);
	CHECK(fw_cfg_bus_ops.load == fw_cfg_load);
	CHECK(!fw_cfg_bus_ops.state_shared);
	for (unsigned k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		/* Part way through the key's bytes (or at its end, or an unknown key). */
		fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
		select_key(keys[k]);
		for (unsigned i = 0; i < 3 + k; i++)
			read8();
		state_check_save(&st, &saved);
		state_check_header(&saved, STATE_TAG('F', 'W', 'C', 'F'), 6);
		fw_cfg_init(&fc2, TEST_RAM, TEST_CPUS);
		CHECK_EQ(state_check_load(&st2, &saved), 0);
		CHECK(state_check_same(&st2, &saved));
		for (unsigned i = 0; i < 10; i++)
			CHECK_EQ(read8_on(&fc2), read8());
		state_blob_free(&saved);
		fw_cfg_destroy(&fc2);
		fw_cfg_destroy(&fc);
	}
	/* The next bytes of RAM_SIZE after three were read. */
	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_RAM_SIZE);
	read_le(3);
	state_check_save(&st, &saved);
	fw_cfg_destroy(&fc);
	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	CHECK_EQ(state_check_load(&st, &saved), 0);
	CHECK_EQ(read_le(5), TEST_RAM >> 24);
	check_zeros(2);
	state_blob_free(&saved);
	fw_cfg_destroy(&fc);
}

/* Offsets in a save of the version 1 layout (fw_cfg.h): the body follows the section header. */
enum { FWC_SELECTOR = STATE_CHECK_HDR + 0, FWC_OFFSET = STATE_CHECK_HDR + 2 };

static void test_snapshot_hostile(void)
{
	const struct state_target st = state_target_bus(&fw_cfg_bus_ops, &fc),
				  st2 = state_target_bus(&fw_cfg_bus_ops, &fc2);
	struct state_blob good, other;

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_RAM_SIZE);
	read_le(3);
	state_check_save(&st, &good);
	fw_cfg_destroy(&fc);

	fw_cfg_init(&fc, TEST_RAM, TEST_CPUS);
	select_key(FW_CFG_SIGNATURE);
	CHECK_EQ(read8(), 'Q');
	state_check_hostile(&st, &good);
	state_check_rejects_field(&st, &good, FWC_OFFSET, 9, 4, "offset past the 8-byte RAM size");
	state_check_rejects_field(&st, &good, FWC_OFFSET, UINT32_MAX, 4, "offset 2^32-1");
	fw_cfg_init(&fc2, TEST_RAM, TEST_CPUS);
	state_check_accepts_field(&st2, &good, FWC_OFFSET, 8, 4, "offset at the end");
	CHECK_EQ(read8_on(&fc2), 0);
	fw_cfg_destroy(&fc2);
	/* A key kvmbox does not have has no bytes to be part way through. */
	other = state_blob_copy(&good);
	state_blob_put(&other, FWC_SELECTOR, 0x4242, 2);
	state_check_rejects_field(&st, &other, FWC_OFFSET, 1, 4, "offset in an unknown key");
	fw_cfg_init(&fc2, TEST_RAM, TEST_CPUS);
	state_check_accepts_field(&st2, &other, FWC_OFFSET, 0, 4, "an unknown key");
	fw_cfg_destroy(&fc2);
	CHECK_EQ(read8(), 'E');
	state_blob_free(&other);
	state_blob_free(&good);
	fw_cfg_destroy(&fc);
}

int main(void)
{
	RUN_TEST(test_signature);
	RUN_TEST(test_numbers);
	RUN_TEST(test_rewind);
	RUN_TEST(test_past_end);
	RUN_TEST(test_unknown_keys);
	RUN_TEST(test_ignored_writes);
	RUN_TEST(test_selector_reads);
	RUN_TEST(test_wide_read);
	RUN_TEST(test_hostile);
	RUN_TEST(test_concurrent);
	RUN_TEST(test_snapshot_round_trip);
	RUN_TEST(test_snapshot_hostile);
	TEST_EXIT();
}
