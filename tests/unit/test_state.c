/* Unit tests for the snapshot byte stream: writer growth and sections, every reader failure. */
#include "snapshot/state.h"
#include "test.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define TAG_A STATE_TAG('T', 'S', 'T', 'A')
#define TAG_B STATE_TAG('T', 'S', 'T', 'B')

static void test_writer_puts(void)
{
	static const uint8_t want[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
					0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x01, 0x00, 'x',	'y' };
	struct state_writer w;

	state_writer_init(&w);
	CHECK_EQ(w.len, 0);
	CHECK(w.buf == NULL);
	state_put_u8(&w, 0x01);
	state_put_u16(&w, 0x0302);
	state_put_u32(&w, 0x07060504);
	state_put_u64(&w, 0x0f0e0d0c0b0a0908ull);
	state_put_bool(&w, true);
	state_put_bool(&w, false);
	state_put_bytes(&w, "xy", 2);
	CHECK_EQ(state_writer_result(&w), 0);
	CHECK_EQ(w.len, sizeof(want));
	CHECK(!memcmp(w.buf, want, sizeof(want)));
	state_writer_free(&w);
	CHECK(w.buf == NULL);
	CHECK_EQ(w.len, 0);
	CHECK_EQ(w.cap, 0);
}

static void test_writer_growth(void)
{
	struct state_writer w;
	uint8_t big[1000];

	state_writer_init(&w);
	/* Nothing to write allocates nothing. */
	state_put_bytes(&w, NULL, 0);
	CHECK(w.buf == NULL);
	CHECK_EQ(state_writer_result(&w), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		state_put_u32(&w, i * 2654435761u);
		CHECK(w.cap >= w.len);
	}
	CHECK_EQ(w.len, 40000);
	CHECK_EQ(w.cap, 65536); /* doubled from 256 */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	state_put_bytes(&w, big, sizeof(big));
	state_put_bytes(&w, big, 0);
	CHECK_EQ(w.len, 41000);
	CHECK_EQ(state_writer_result(&w), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		uint32_t v = i * 2654435761u, got = 0;

		for (unsigned b = 0; b < 4; b++)
			got |= (uint32_t)w.buf[4 * i + b] << (8 * b);
		CHECK_EQ(got, v);
	}
	CHECK(!memcmp(w.buf + 40000, big, sizeof(big)));
	/* One put far larger than the buffer grows it in one step. */
	state_writer_free(&w);
	{
		static uint8_t huge[300000];

		state_put_bytes(&w, huge, sizeof(huge));
		CHECK_EQ(w.len, sizeof(huge));
		CHECK_EQ(w.cap, 256u << 11);
	}
	state_writer_free(&w);
}

static void test_writer_sections(void)
{
	static const uint8_t want[] = {
		'T',  'S',  'T',  'A', 1, 0, 0, 0, 3, 0, 0, 0, /* tag, version 1, length 3 */
		0xaa, 0xbb, 0xcc,			       /* its body */
		'T',  'S',  'T',  'B', 7, 0, 0, 0, 0, 0, 0, 0, /* version 7, empty */
	};
	struct state_writer w;

	state_writer_init(&w);
	state_section_begin(&w, TAG_A, 1);
	state_put_u8(&w, 0xaa);
	state_put_u16(&w, 0xccbb);
	state_section_end_write(&w);
	state_section_begin(&w, TAG_B, 7); /* empty: length 0 */
	state_section_end_write(&w);
	CHECK_EQ(state_writer_result(&w), 0);
	CHECK_EQ(w.len, sizeof(want));
	CHECK(!memcmp(w.buf, want, sizeof(want)));
	state_writer_free(&w);
}

static void test_writer_misuse(void)
{
	struct state_writer w;
	size_t len;

	/* A section left open. */
	state_writer_init(&w);
	state_section_begin(&w, TAG_A, 1);
	state_put_u8(&w, 1);
	CHECK_EQ(state_writer_result(&w), -EINVAL);
	state_section_end_write(&w);
	CHECK_EQ(state_writer_result(&w), 0);
	state_writer_free(&w);

	/* Sections do not nest; the error sticks and later puts change nothing. */
	state_writer_init(&w);
	state_section_begin(&w, TAG_A, 1);
	state_section_begin(&w, TAG_B, 1);
	CHECK_EQ(w.error, -EINVAL);
	len = w.len;
	CHECK_EQ(len, 12);
	state_put_u64(&w, 1);
	state_put_bytes(&w, "abc", 3);
	state_section_end_write(&w);
	state_section_begin(&w, TAG_A, 1);
	CHECK_EQ(w.len, len);
	CHECK_EQ(state_writer_result(&w), -EINVAL);
	state_writer_free(&w);

	/* Closing what was never opened. */
	state_writer_init(&w);
	state_put_u8(&w, 1);
	state_section_end_write(&w);
	CHECK_EQ(state_writer_result(&w), -EINVAL);
	state_put_u8(&w, 2);
	CHECK_EQ(w.len, 1);
	state_writer_free(&w);

	/* Nor twice. */
	state_writer_init(&w);
	state_section_begin(&w, TAG_A, 1);
	state_section_end_write(&w);
	state_section_end_write(&w);
	CHECK_EQ(state_writer_result(&w), -EINVAL);
	state_writer_free(&w);
	CHECK_EQ(w.error, 0); /* free leaves a fresh writer */
}

static void test_writer_enomem(void)
{
	struct state_writer w;
	uint8_t b = 0;

	state_writer_init(&w);
	state_put_u32(&w, 5);
	/* Refused before any allocation or copy: the size check comes first. */
	state_put_bytes(&w, &b, SIZE_MAX / 2);
	CHECK_EQ(state_writer_result(&w), -ENOMEM);
	CHECK_EQ(w.len, 4);
	state_put_u8(&w, 1);
	state_section_begin(&w, TAG_A, 1);
	CHECK_EQ(w.len, 4);
	CHECK_EQ(state_writer_result(&w), -ENOMEM); /* the first error, not the misuse after it */
	state_writer_free(&w);
}

static void test_reader_gets(void)
{
	static const uint8_t buf[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				       0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x01,
				       0x00, 'x',  'y',	 9,    0,    0,	   0 };
	struct state_reader r;
	char xy[2];

	state_reader_init(&r, buf, sizeof(buf));
	CHECK_EQ(state_get_u8(&r), 0x01);
	CHECK_EQ(state_get_u16(&r), 0x0302);
	CHECK_EQ(state_get_u32(&r), 0x07060504);
	CHECK_EQ(state_get_u64(&r), 0x0f0e0d0c0b0a0908ull);
	CHECK_EQ(state_get_bool(&r), true);
	CHECK_EQ(state_get_bool(&r), false);
	state_get_bytes(&r, xy, 2);
	CHECK(!memcmp(xy, "xy", 2));
	state_get_bytes(&r, xy, 0);
	CHECK_EQ(state_get_u32_below(&r, 10, "x"), 9);
	CHECK(state_reader_ok(&r));
	CHECK_EQ(r.pos, sizeof(buf));
	CHECK(r.why == NULL);
}

/* Everything after a failure reads as zero, and the first reason is the one kept. */
static void check_failed_reads_zero(struct state_reader *r, const char *why)
{
	uint8_t bytes[5];

	CHECK(!state_reader_ok(r));
	CHECK_EQ(r->error, -EINVAL);
	CHECK(r->why && !strcmp(r->why, why));
	CHECK_EQ(state_get_u8(r), 0);
	CHECK_EQ(state_get_u16(r), 0);
	CHECK_EQ(state_get_u32(r), 0);
	CHECK_EQ(state_get_u64(r), 0);
	CHECK_EQ(state_get_bool(r), false);
	CHECK_EQ(state_get_u32_below(r, 1, "below"), 0);
	memset(bytes, 0xaa, sizeof(bytes));
	state_get_bytes(r, bytes, sizeof(bytes));
	for (unsigned i = 0; i < sizeof(bytes); i++)
		CHECK_EQ(bytes[i], 0);
	CHECK(!strcmp(r->why, why));
	CHECK_EQ(state_section_end(r), -EINVAL);
}

static void test_reader_truncated(void)
{
	static const uint8_t ones[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct state_reader r;
	uint8_t out[4];

	for (unsigned width = 1; width <= 8; width *= 2) {
		state_reader_init(&r, ones, width - 1);
		switch (width) {
		case 1:
			CHECK_EQ(state_get_u8(&r), 0);
			break;
		case 2:
			CHECK_EQ(state_get_u16(&r), 0);
			break;
		case 4:
			CHECK_EQ(state_get_u32(&r), 0);
			break;
		default:
			CHECK_EQ(state_get_u64(&r), 0);
			break;
		}
		CHECK_EQ(r.pos, 0); /* a failed read consumes nothing */
		check_failed_reads_zero(&r, "truncated");
	}
	state_reader_init(&r, ones, 3);
	memset(out, 0xaa, sizeof(out));
	state_get_bytes(&r, out, 4);
	CHECK(!memcmp(out, "\0\0\0\0", 4));
	check_failed_reads_zero(&r, "truncated");
	state_reader_init(&r, ones, 0);
	CHECK_EQ(state_get_bool(&r), false);
	check_failed_reads_zero(&r, "truncated");
	/* An empty buffer, even a NULL one, has room for nothing but nothing. */
	state_reader_init(&r, NULL, 0);
	state_get_bytes(&r, out, 0);
	CHECK(state_reader_ok(&r));
	CHECK_EQ(state_get_u32_below(&r, 5, "x"), 0);
	check_failed_reads_zero(&r, "truncated");
	/* After a failure the rest of a long buffer is not read either. */
	state_reader_init(&r, ones, sizeof(ones));
	state_get_u32_below(&r, 1, "not below 1");
	check_failed_reads_zero(&r, "not below 1");
}

static void test_reader_bool(void)
{
	static const uint8_t buf[] = { 0, 1, 2 };
	static const uint8_t ff[] = { 0xff };
	struct state_reader r;

	state_reader_init(&r, buf, sizeof(buf));
	CHECK_EQ(state_get_bool(&r), false);
	CHECK_EQ(state_get_bool(&r), true);
	CHECK(state_reader_ok(&r));
	CHECK_EQ(state_get_bool(&r), false);
	check_failed_reads_zero(&r, "a boolean that is neither 0 nor 1");
	state_reader_init(&r, ff, sizeof(ff));
	CHECK_EQ(state_get_bool(&r), false);
	CHECK(!state_reader_ok(&r));
}

static void test_reader_below(void)
{
	static const uint8_t buf[] = { 4, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	struct state_reader r;

	state_reader_init(&r, buf, sizeof(buf));
	CHECK_EQ(state_get_u32_below(&r, 5, "a"), 4);
	CHECK_EQ(state_get_u32_below(&r, 5, "b"), 0);
	check_failed_reads_zero(&r, "b");

	state_reader_init(&r, buf + 8, 4);
	CHECK_EQ(state_get_u32_below(&r, 0, "nothing is below 0"), 0);
	check_failed_reads_zero(&r, "nothing is below 0");

	state_reader_init(&r, buf + 12, 4);
	CHECK_EQ(state_get_u32_below(&r, UINT32_MAX, "c"), 0);
	check_failed_reads_zero(&r, "c");
}

static void test_reader_fail(void)
{
	static const uint8_t buf[] = { 7 };
	struct state_reader r;

	state_reader_init(&r, buf, sizeof(buf));
	CHECK(state_reader_ok(&r));
	state_reader_fail(&r, "first");
	state_reader_fail(&r, "second");
	CHECK_EQ(state_get_u8(&r), 0); /* the byte is there, but nothing is read any more */
	check_failed_reads_zero(&r, "first");
}

/* Two sections written by the writer, for the section tests to read or spoil. */
static size_t two_sections(uint8_t *buf, size_t cap)
{
	struct state_writer w;
	size_t len;

	state_writer_init(&w);
	state_section_begin(&w, TAG_A, 3);
	state_put_u32(&w, 0x11223344);
	state_put_u8(&w, 0x55);
	state_section_end_write(&w);
	state_section_begin(&w, TAG_B, 1);
	state_put_u16(&w, 0x6677);
	state_section_end_write(&w);
	CHECK_EQ(state_writer_result(&w), 0);
	len = w.len < cap ? w.len : cap;
	memcpy(buf, w.buf, len);
	state_writer_free(&w);
	return len;
}

static void test_reader_sections(void)
{
	uint8_t buf[64];
	size_t len = two_sections(buf, sizeof(buf));
	struct state_reader r;
	uint32_t version = 99;

	CHECK_EQ(len, 12 + 5 + 12 + 2);
	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, TAG_A, 3, &version);
	CHECK_EQ(version, 3);
	CHECK_EQ(r.end, 17);
	CHECK_EQ(state_get_u32(&r), 0x11223344);
	CHECK_EQ(state_get_u8(&r), 0x55);
	CHECK_EQ(state_section_end(&r), 0);
	CHECK_EQ(r.end, len);
	state_section_begin_read(&r, TAG_B, 1, &version);
	CHECK_EQ(version, 1);
	CHECK_EQ(state_get_u16(&r), 0x6677);
	CHECK_EQ(state_section_end(&r), 0);
	CHECK_EQ(r.pos, len);
	CHECK(state_reader_ok(&r));

	/* A newer reader takes an older section. */
	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, TAG_A, 9, &version);
	CHECK_EQ(version, 3);
	CHECK(state_reader_ok(&r));
}

/* buf spoiled by spoil(), read as the two sections: the reader fails with why. */
static void check_section_fails(const uint8_t *buf, size_t len, uint32_t tag, uint32_t max,
				const char *why)
{
	struct state_reader r;
	uint32_t version = 99;

	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, tag, max, &version);
	CHECK_EQ(version, 0);
	state_get_u32(&r);
	state_get_u8(&r);
	CHECK_EQ(state_section_end(&r), -EINVAL);
	CHECK_EQ(r.pos, r.len); /* nothing more is read */
	CHECK_EQ(r.end, r.len);
	check_failed_reads_zero(&r, why);
}

static void test_reader_section_failures(void)
{
	uint8_t good[64], buf[64];
	size_t len = two_sections(good, sizeof(good));

	/* Every truncation of the header. */
	for (size_t n = 0; n < 12; n++)
		check_section_fails(good, n, TAG_A, 3, "truncated");
	/* Body cut short: the length runs past the end. */
	for (size_t n = 12; n < 17; n++)
		check_section_fails(good, n, TAG_A, 3, "section runs past the end");
	check_section_fails(good, len, TAG_B, 3, "unexpected section");
	check_section_fails(good, len, TAG_A, 2, "unknown section version");
	memcpy(buf, good, len);
	buf[4] = 0; /* version 0 is never valid */
	check_section_fails(buf, len, TAG_A, 3, "unknown section version");
	buf[4] = 3;
	buf[8] = 0xff; /* length 0xff */
	check_section_fails(buf, len, TAG_A, 3, "section runs past the end");
	memset(buf + 8, 0xff, 4);
	check_section_fails(buf, len, TAG_A, 3, "section runs past the end");
}

static void test_reader_section_misuse(void)
{
	uint8_t buf[64];
	size_t len = two_sections(buf, sizeof(buf));
	struct state_reader r;
	uint32_t version;

	/* Reading past the section's end fails even though the buffer goes on. */
	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, TAG_A, 3, &version);
	state_get_u32(&r);
	CHECK_EQ(state_get_u16(&r), 0);
	check_failed_reads_zero(&r, "truncated");

	/* Leaving bytes of the section unread. */
	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, TAG_A, 3, &version);
	state_get_u32(&r);
	CHECK_EQ(state_section_end(&r), -EINVAL);
	check_failed_reads_zero(&r, "section longer than its contents");

	/* A section inside a section. */
	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, TAG_A, 3, &version);
	state_section_begin_read(&r, TAG_B, 1, &version);
	CHECK_EQ(version, 0);
	check_failed_reads_zero(&r, "section read inside a section");

	/* ... also when the outer one ends where the buffer does. */
	state_reader_init(&r, buf + 17, len - 17);
	state_section_begin_read(&r, TAG_B, 1, &version);
	CHECK_EQ(r.end, r.len);
	state_section_begin_read(&r, TAG_B, 1, &version);
	check_failed_reads_zero(&r, "section read inside a section");

	/* Closing a section that was never opened, or twice. */
	state_reader_init(&r, buf, len);
	CHECK_EQ(state_section_end(&r), -EINVAL);
	check_failed_reads_zero(&r, "section end without a section");
	state_reader_init(&r, buf + 17, len - 17);
	state_section_begin_read(&r, TAG_B, 1, &version);
	state_get_u16(&r);
	CHECK_EQ(state_section_end(&r), 0);
	CHECK_EQ(r.pos, r.len);
	CHECK_EQ(state_section_end(&r), -EINVAL);
	check_failed_reads_zero(&r, "section end without a section");

	/* A failure inside the first section fails the second too, whose bytes are fine. */
	state_reader_init(&r, buf, len);
	state_section_begin_read(&r, TAG_A, 3, &version);
	state_get_u32(&r);
	state_reader_fail(&r, "a device refused its value");
	state_get_u8(&r);
	CHECK_EQ(state_section_end(&r), -EINVAL);
	state_section_begin_read(&r, TAG_B, 1, &version);
	CHECK_EQ(version, 0);
	check_failed_reads_zero(&r, "a device refused its value");
}

int main(void)
{
	RUN_TEST(test_writer_puts);
	RUN_TEST(test_writer_growth);
	RUN_TEST(test_writer_sections);
	RUN_TEST(test_writer_misuse);
	RUN_TEST(test_writer_enomem);
	RUN_TEST(test_reader_gets);
	RUN_TEST(test_reader_truncated);
	RUN_TEST(test_reader_bool);
	RUN_TEST(test_reader_below);
	RUN_TEST(test_reader_fail);
	RUN_TEST(test_reader_sections);
	RUN_TEST(test_reader_section_failures);
	RUN_TEST(test_reader_section_misuse);
	TEST_EXIT();
}
