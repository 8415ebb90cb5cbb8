/* Unit tests for the CMOS RTC: Linux's boot-time read, BCD/binary, 12/24h, guest sets, C, NVRAM. */
#include "dev/rtc.h"
#include "test.h"
#include "state_check.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static struct rtc rtc;
static struct timespec fake_now;

static void fake_clock(void *opaque, struct timespec *ts)
{
	(void)opaque;
	*ts = fake_now;
}

static time_t utc(int y, int mon, int d, int h, int min, int s)
{
	struct tm tm = { .tm_year = y - 1900,
			 .tm_mon = mon - 1,
			 .tm_mday = d,
			 .tm_hour = h,
			 .tm_min = min,
			 .tm_sec = s };

	return timegm(&tm);
}

static void setup_at(time_t t)
{
	fake_now.tv_sec = t;
	fake_now.tv_nsec = 0;
	rtc_init(&rtc);
	rtc_set_clock(&rtc, fake_clock, NULL);
}

static uint8_t cmos_rd(uint8_t idx)
{
	uint8_t v = idx, out = 0xff;

	rtc_bus_ops.write(&rtc, 0, &v, 1);
	rtc_bus_ops.read(&rtc, 1, &out, 1);
	return out;
}

static void cmos_wr(uint8_t idx, uint8_t val)
{
	rtc_bus_ops.write(&rtc, 0, &idx, 1);
	rtc_bus_ops.write(&rtc, 1, &val, 1);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

/* What mc146818_get_time() does on x86 (RTC_ALWAYS_BCD), reduced to seconds since the epoch. */
static time_t linux_read_time_raw(void)
{
	uint8_t sec, min, hour, day, mon, year, cent;

	CHECK_EQ(cmos_rd(0x0d) & 0x40, 0); /* RTC_VALID */
	sec = cmos_rd(0x00);
	min = cmos_rd(0x02);
	hour = cmos_rd(0x04);
	day = cmos_rd(0x07);
	mon = cmos_rd(0x08);
	year = cmos_rd(0x09);
	cent = cmos_rd(0x32);
	return utc(bcd(cent) * 100 + bcd(year), bcd(mon), bcd(day), bcd(hour), bcd(min), bcd(sec));
}

/* With the fake clock nothing moves mid-read, so UIP must be clear and the seconds stable. */
static time_t linux_read_time(void)
{
	time_t t;

	CHECK_EQ(cmos_rd(0x0a) & 0x80, 0);
	t = linux_read_time_raw();
	CHECK_EQ(cmos_rd(0x0a) & 0x80, 0);
	CHECK_EQ(linux_read_time_raw(), t);
	return t;
}

static void test_linux_boot_read(void)
{
	time_t t = utc(2024, 2, 29, 13, 45, 7);

	setup_at(t);
	CHECK_EQ(cmos_rd(0x0a), 0x26);
	CHECK_EQ(cmos_rd(0x0b), 0x02);
	CHECK_EQ(cmos_rd(0x0d), 0x80);
	CHECK_EQ(linux_read_time(), t);
	CHECK_EQ(cmos_rd(0x00), 0x07);
	CHECK_EQ(cmos_rd(0x02), 0x45);
	CHECK_EQ(cmos_rd(0x04), 0x13);
	CHECK_EQ(cmos_rd(0x06), 0x05); /* Thursday; Sunday = 1 */
	CHECK_EQ(cmos_rd(0x07), 0x29);
	CHECK_EQ(cmos_rd(0x08), 0x02);
	CHECK_EQ(cmos_rd(0x09), 0x24);
	CHECK_EQ(cmos_rd(0x32), 0x20);
	fake_now.tv_sec += 3600 * 24;
	CHECK_EQ(linux_read_time(), t + 3600 * 24);
	CHECK_EQ(cmos_rd(0x08), 0x03);
	CHECK_EQ(cmos_rd(0x07), 0x01);
	rtc_destroy(&rtc);
}

static void test_host_clock(void)
{
	time_t before, got, after;

	rtc_init(&rtc);
	before = time(NULL);
	got = linux_read_time_raw();
	after = time(NULL);
	CHECK(got >= before && got <= after);
	rtc_destroy(&rtc);
}

static void test_binary_12h(void)
{
	setup_at(utc(2031, 12, 31, 13, 5, 59));
	cmos_wr(0x0b, 0x06); /* binary, 24h */
	CHECK_EQ(cmos_rd(0x00), 59);
	CHECK_EQ(cmos_rd(0x04), 13);
	CHECK_EQ(cmos_rd(0x08), 12);
	CHECK_EQ(cmos_rd(0x09), 31);
	CHECK_EQ(cmos_rd(0x32), 20);
	cmos_wr(0x0b, 0x00); /* BCD, 12h */
	CHECK_EQ(cmos_rd(0x00), 0x59);
	CHECK_EQ(cmos_rd(0x04), 0x81); /* 1 PM */
	cmos_wr(0x0b, 0x04);	       /* binary, 12h */
	CHECK_EQ(cmos_rd(0x04), 0x81);
	fake_now.tv_sec = utc(2031, 12, 31, 0, 30, 0);
	CHECK_EQ(cmos_rd(0x04), 12); /* 12 AM */
	fake_now.tv_sec = utc(2031, 12, 31, 12, 30, 0);
	CHECK_EQ(cmos_rd(0x04), 0x8c); /* 12 PM */
	cmos_wr(0x0b, 0x00);
	CHECK_EQ(cmos_rd(0x04), 0x92);
	/* A 12h write in BCD: 11 PM. */
	cmos_wr(0x04, 0x91);
	cmos_wr(0x0b, 0x02);
	CHECK_EQ(cmos_rd(0x04), 0x23);
	CHECK_EQ(cmos_rd(0x02), 0x30);
	rtc_destroy(&rtc);
}

/* mc146818_set_time(): SET and divider reset, all fields, then restore. */
static void test_guest_set_time(void)
{
	time_t host = utc(2024, 6, 1, 8, 0, 0);
	uint8_t save_b, save_a;

	setup_at(host);
	save_b = cmos_rd(0x0b);
	cmos_wr(0x0b, save_b | 0x80);
	save_a = cmos_rd(0x0a);
	cmos_wr(0x0a, save_a | 0x70);
	fake_now.tv_sec += 5; /* the registers hold still while SET is on */
	CHECK_EQ(cmos_rd(0x00), 0x00);
	cmos_wr(0x09, 0x99);
	cmos_wr(0x08, 0x02);
	cmos_wr(0x07, 0x28);
	cmos_wr(0x04, 0x23);
	cmos_wr(0x02, 0x59);
	cmos_wr(0x00, 0x50);
	cmos_wr(0x32, 0x19);
	CHECK_EQ(cmos_rd(0x09), 0x99);
	CHECK_EQ(cmos_rd(0x32), 0x19);
	CHECK_EQ(cmos_rd(0x06), 0x01); /* 1999-02-28 was a Sunday */
	cmos_wr(0x0b, save_b);
	cmos_wr(0x0a, save_a);
	CHECK_EQ(cmos_rd(0x0a), 0x26);
	CHECK_EQ(linux_read_time(), utc(1999, 2, 28, 23, 59, 50));
	fake_now.tv_sec += 15;
	CHECK_EQ(linux_read_time(), utc(1999, 3, 1, 0, 0, 5));

	/* A write while running edits one field and keeps running from there. */
	cmos_wr(0x02, 0x30);
	CHECK_EQ(linux_read_time(), utc(1999, 3, 1, 0, 30, 5));
	fake_now.tv_sec += 1;
	CHECK_EQ(cmos_rd(0x00), 0x06);

	/* Out-of-range results (year 0099) are refused, leaving the clock alone. */
	cmos_wr(0x32, 0x00);
	CHECK_EQ(linux_read_time(), utc(1999, 3, 1, 0, 30, 6));
	cmos_wr(0x0b, 0x82);
	cmos_wr(0x32, 0x00);
	cmos_wr(0x0b, 0x02);
	CHECK_EQ(linux_read_time(), utc(1999, 3, 1, 0, 30, 6));
	rtc_destroy(&rtc);
}

static void test_binary_set(void)
{
	setup_at(utc(2024, 1, 1, 0, 0, 0));
	cmos_wr(0x0b, 0x86);
	cmos_wr(0x09, 77);
	cmos_wr(0x08, 7);
	cmos_wr(0x07, 4);
	cmos_wr(0x04, 10);
	cmos_wr(0x02, 20);
	cmos_wr(0x00, 30);
	cmos_wr(0x32, 20);
	cmos_wr(0x0b, 0x02);
	CHECK_EQ(linux_read_time(), utc(2077, 7, 4, 10, 20, 30));
	rtc_destroy(&rtc);
}

static void test_reg_c(void)
{
	setup_at(utc(2024, 1, 1, 0, 0, 0));
	CHECK_EQ(cmos_rd(0x0c), 0);
	fake_now.tv_sec++;
	CHECK_EQ(cmos_rd(0x0c), 0x10); /* an update ended */
	CHECK_EQ(cmos_rd(0x0c), 0);    /* read clears */
	cmos_wr(0x0b, 0x12);	       /* UIE */
	fake_now.tv_sec++;
	CHECK_EQ(cmos_rd(0x0c), 0x90);
	cmos_wr(0x0b, 0x92); /* SET clears UIE and stops updates */
	CHECK_EQ(cmos_rd(0x0b), 0x82);
	fake_now.tv_sec++;
	CHECK_EQ(cmos_rd(0x0c), 0);
	cmos_wr(0x0b, 0x02);
	CHECK_EQ(cmos_rd(0x0c), 0);
	cmos_wr(0x0c, 0xff);
	cmos_wr(0x0d, 0x00);
	CHECK_EQ(cmos_rd(0x0d), 0x80);
	rtc_destroy(&rtc);
}

static void test_uip(void)
{
	setup_at(utc(2024, 1, 1, 0, 0, 0));
	fake_now.tv_nsec = 999900000;
	CHECK_EQ(cmos_rd(0x0a), 0xa6);
	fake_now.tv_nsec = 999000000;
	CHECK_EQ(cmos_rd(0x0a), 0x26);
	fake_now.tv_nsec = 999999999;
	cmos_wr(0x0a, 0xff); /* UIP is read-only */
	cmos_wr(0x0b, 0x82);
	CHECK_EQ(cmos_rd(0x0a), 0x7f);
	rtc_destroy(&rtc);
}

static void test_nvram(void)
{
	setup_at(utc(2024, 1, 1, 0, 0, 0));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			cmos_wr((uint8_t)i, (uint8_t)(i * 7));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			CHECK_EQ(cmos_rd((uint8_t)i), (uint8_t)(i * 7));
	/* Alarm registers are plain storage. */
	cmos_wr(0x01, 0xc0);
	cmos_wr(0x03, 0x12);
	cmos_wr(0x05, 0x34);
	CHECK_EQ(cmos_rd(0x01), 0xc0);
	CHECK_EQ(cmos_rd(0x03), 0x12);
	CHECK_EQ(cmos_rd(0x05), 0x34);
	/* Index bit 7 is the NMI mask, not part of the address. */
	CHECK_EQ(cmos_rd(0x80 | 0x10), 0x70);
	CHECK_EQ(rtc_nvram_set(&rtc, 0x10, 0xaa), 0);
	CHECK_EQ(cmos_rd(0x10), 0xaa);
	CHECK_EQ(rtc_nvram_set(&rtc, 0x0b, 0), -EINVAL);
	CHECK_EQ(rtc_nvram_set(&rtc, 0x32, 0), -EINVAL);
	CHECK_EQ(rtc_nvram_set(&rtc, 0x80, 0), -EINVAL);
	rtc_destroy(&rtc);
}

static void test_hostile(void)
{
	static const uint64_t offs[] = { 0, 1, 2, 3, 0xffff, UINT64_MAX };
	static const unsigned lens[] = { 0, 1, 2, 4, 8 };
	uint8_t buf[8];
	time_t t = utc(2024, 5, 5, 5, 5, 5);

	setup_at(t);
	/* The index port reads back as unclaimed. */
	memset(buf, 0xff, sizeof(buf));
	rtc_bus_ops.read(&rtc, 0, buf, 1);
	CHECK_EQ(buf[0], 0xff);
	/* A 16-bit write at 0x70 is index then data; a 16-bit read sees 0xff then data. */
	buf[0] = 0x20;
	buf[1] = 0x5c;
	rtc_bus_ops.write(&rtc, 0, buf, 2);
	memset(buf, 0xff, sizeof(buf));
	rtc_bus_ops.read(&rtc, 0, buf, 8);
	CHECK_EQ(buf[0], 0xff);
	CHECK_EQ(buf[1], 0x5c);
	for (unsigned i = 2; i < 8; i++)
		CHECK_EQ(buf[i], 0xff);
	for (unsigned o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
		for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			memset(buf, 0x0b, sizeof(buf));
			rtc_bus_ops.write(&rtc, offs[o], buf, lens[l]);
			rtc_bus_ops.read(&rtc, offs[o], buf, lens[l]);
		}
	/* Every value into every register, in both encodings and with SET on and off. */
	for (unsigned b = 0; b < 4; b++)
		for (unsigned i = 0; i < 0x80; i++)
			for (unsigned v = 0; v < 256; v++) {
				if (i == 0x0b)
					continue;
				cmos_wr(0x0b, (uint8_t)((b & 1 ? 0x80 : 0) | (b & 2 ? 0x04 : 0)));
				cmos_wr((uint8_t)i, (uint8_t)v);
				cmos_rd((uint8_t)i);
			}
	for (unsigned v = 0; v < 256; v++) {
		cmos_wr(0x0b, (uint8_t)v);
		for (unsigned i = 0; i < 0x0e; i++)
			cmos_rd((uint8_t)i);
	}
	cmos_wr(0x0b, 0x02);
	CHECK_EQ(cmos_rd(0x0d), 0x80);
	CHECK_EQ(cmos_rd(0x0a) & 0x80, 0);
	/* Still a working clock, within the representable range. */
	t = linux_read_time();
	CHECK(t >= utc(1900, 1, 1, 0, 0, 0) && t <= utc(9999, 12, 31, 23, 59, 59));
	rtc_destroy(&rtc);
}

/* ---- snapshot ---- */

static struct rtc rtc2;

static void setup2(void)
{
	rtc_init(&rtc2);
	rtc_set_clock(&rtc2, fake_clock, NULL);
}

static uint8_t cmos_rd_on(struct rtc *r, uint8_t idx)
{
	uint8_t out = 0xff;

	rtc_bus_ops.write(r, 0, &idx, 1);
	rtc_bus_ops.read(r, 1, &out, 1);
	return out;
}

static void cmos_wr_on(struct rtc *r, uint8_t idx, uint8_t val)
{
	rtc_bus_ops.write(r, 0, &idx, 1);
	rtc_bus_ops.write(r, 1, &val, 1);
}

/* The data port before any index write (the saved index), then every register in turn. */
static unsigned rtc_probe(struct rtc *r, uint8_t *out)
{
	unsigned n = 0;

	rtc_bus_ops.read(r, 1, &out[n++], 1);
	for (unsigned i = 0; i < RTC_CMOS_SIZE; i++)
		out[n++] = cmos_rd_on(r, (uint8_t)i);
	return n;
}

/*
 * Two devices on the fake clock read alike now (b's first reads go to first), and again after
 * time passes and SET clears.
 */
static void rtc_compare(struct rtc *a, struct rtc *b, uint8_t *first)
{
	uint8_t want[RTC_CMOS_SIZE + 1], got[RTC_CMOS_SIZE + 1];

	CHECK_EQ(rtc_probe(a, want), rtc_probe(b, got));
	CHECK(!memcmp(want, got, sizeof(want)));
	memcpy(first, got, sizeof(got));
	fake_now.tv_sec += 100;
	rtc_probe(a, want);
	rtc_probe(b, got);
	CHECK(!memcmp(want, got, sizeof(want)));
	cmos_wr_on(a, 0x0b, cmos_rd_on(a, 0x0b) & 0x7f);
	cmos_wr_on(b, 0x0b, cmos_rd_on(b, 0x0b) & 0x7f);
	fake_now.tv_sec += 1;
	rtc_probe(a, want);
	rtc_probe(b, got);
	CHECK(!memcmp(want, got, sizeof(want)));
}

/* Time moved by a guest write, NVRAM, alarms, A, binary mode, an update unread in C. */
static void rtc_running_state(void)
{
	setup_at(utc(2024, 5, 6, 7, 8, 9));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			cmos_wr((uint8_t)i, (uint8_t)(i * 13 + 1));
	cmos_wr(0x01, 0x30);
	cmos_wr(0x03, 0x45);
	cmos_wr(0x05, 0x06);
	cmos_wr(0x0a, 0x2a);
	cmos_wr(0x0b, 0x16); /* binary, 24h, UIE */
	cmos_wr(0x02, 40);   /* 07:40:09 */
	cmos_wr(0x09, 30);   /* 2030 */
	CHECK_EQ(cmos_rd(0x0c), 0);
	fake_now.tv_sec += 1;
	cmos_wr(0x21, 0x77); /* leaves the index at 0x21 */
}

static void test_snapshot_round_trip(void)
{
	const struct state_target st = state_target_bus(&rtc_bus_ops, &rtc),
				  st2 = state_target_bus(&rtc_bus_ops, &rtc2);
	struct state_blob saved;
	uint8_t first[RTC_CMOS_SIZE + 1];

	CHECK(rtc_bus_ops.save == rtc_save);
	CHECK(rtc_bus_ops.load == rtc_load);
	rtc_running_state();
	state_check_save(&st, &saved);
	state_check_header(&saved, STATE_TAG('C', 'M', 'O', 'S'), 172);
	setup2();
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	CHECK(state_check_same(&st2, &saved));
	rtc_compare(&rtc, &rtc2, first);
	CHECK_EQ(first[0], 0x77);	 /* the data port still points at 0x21 */
	CHECK_EQ(first[1 + 0x0c], 0x90); /* the update the guest had not seen */
	CHECK_EQ(first[1 + 0x09], 30);
	CHECK_EQ(first[1 + 0x02], 40);
	CHECK_EQ(first[1 + 0x03], 0x45);
	CHECK_EQ(first[1 + 0x0b], 0x16);
	state_blob_free(&saved);
	rtc_destroy(&rtc2);
	rtc_destroy(&rtc);

	/* Stopped by SET with odd fields (seconds 200, reading 0; month 0; century 45): held. */
	rtc_running_state();
	cmos_wr(0x0b, 0x86);
	cmos_wr(0x00, 200);
	cmos_wr(0x08, 0);
	cmos_wr(0x32, 45);
	cmos_wr(0x04, 23);
	state_check_save(&st, &saved);
	setup2();
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	CHECK(state_check_same(&st2, &saved));
	rtc_compare(&rtc, &rtc2, first);
	CHECK_EQ(first[1 + 0x00], 0);
	CHECK_EQ(first[1 + 0x08], 0);
	CHECK_EQ(first[1 + 0x04], 23);
	CHECK_EQ(first[1 + 0x32], 45);
	state_blob_free(&saved);
	rtc_destroy(&rtc2);
	rtc_destroy(&rtc);
}

/* The clock is host time plus the saved offset: a restore later shows the time that passed. */
static void test_snapshot_time_continues(void)
{
	const struct state_target st = state_target_bus(&rtc_bus_ops, &rtc);
	struct state_blob saved;
	time_t host = utc(2024, 6, 1, 8, 0, 0);

	setup_at(host);
	cmos_wr(0x09, 0x19); /* 2019: the offset is about five years */
	CHECK_EQ(linux_read_time(), utc(2019, 6, 1, 8, 0, 0));
	state_check_save(&st, &saved);
	rtc_destroy(&rtc);

	fake_now.tv_sec = host + 3600;
	rtc_init(&rtc); /* the restoring VM's fresh device, an hour later */
	rtc_set_clock(&rtc, fake_clock, NULL);
	CHECK_EQ(state_check_load(&st, &saved), 0);
	CHECK_EQ(linux_read_time(), utc(2019, 6, 1, 9, 0, 0));
	state_blob_free(&saved);
	rtc_destroy(&rtc);
}

/* Year writes while SET holds the clock cannot grow the year: the state stays restorable. */
static void test_snapshot_year_bounded(void)
{
	const struct state_target st = state_target_bus(&rtc_bus_ops, &rtc),
				  st2 = state_target_bus(&rtc_bus_ops, &rtc2);
	struct state_blob saved;

	setup_at(utc(2024, 1, 1, 0, 0, 0));
	cmos_wr(0x0b, 0x86); /* SET, binary */
	cmos_wr(0x32, 255);
	for (unsigned i = 0; i < 100000; i++)
		cmos_wr(0x09, 255);
	/* Each write carries 2 into the century, which wraps at 100 instead of growing. */
	CHECK_EQ(cmos_rd(0x09), 55);
	CHECK(cmos_rd(0x32) < 100);
	cmos_rd(0x06);
	state_check_save(&st, &saved);
	setup2();
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	state_blob_free(&saved);
	rtc_destroy(&rtc2);
	rtc_destroy(&rtc);
}

/* Offsets in a save of the version 1 layout (rtc.h): the body follows the section header. */
enum {
	RTC_S_INDEX = STATE_CHECK_HDR + 0,
	RTC_S_CMOS = STATE_CHECK_HDR + 4,
	RTC_S_OFFSET = STATE_CHECK_HDR + 132,
	RTC_S_SEC = STATE_CHECK_HDR + 140,
	RTC_S_MIN = STATE_CHECK_HDR + 144,
	RTC_S_HOUR = STATE_CHECK_HDR + 148,
	RTC_S_MDAY = STATE_CHECK_HDR + 152,
	RTC_S_MON = STATE_CHECK_HDR + 156,
	RTC_S_YEAR = STATE_CHECK_HDR + 160,
	RTC_S_UF = STATE_CHECK_HDR + 164,
};

#define RTC_OFFSET_MAX 255611289599LL /* 9999-12-31 23:59:59 minus 1900-01-01 00:00:00 */

static void test_snapshot_hostile(void)
{
	static const struct {
		unsigned off, width;
		uint64_t v;
		const char *what;
	} bad[] = {
		{ RTC_S_INDEX, 4, 128, "index 128" },
		{ RTC_S_INDEX, 4, UINT32_MAX, "index 2^32-1" },
		{ RTC_S_CMOS + 0x00, 1, 1, "stored seconds" },
		{ RTC_S_CMOS + 0x09, 1, 0x24, "stored year" },
		{ RTC_S_CMOS + 0x32, 1, 0x20, "stored century" },
		{ RTC_S_CMOS + 0x0c, 1, 0x80, "stored C" },
		{ RTC_S_CMOS + 0x0d, 1, 0x80, "stored D" },
		{ RTC_S_CMOS + 0x0a, 1, 0xa6, "A with UIP" },
		{ RTC_S_CMOS + 0x0b, 1, 0x92, "B with SET and UIE" },
		{ RTC_S_OFFSET, 8, (uint64_t)(RTC_OFFSET_MAX + 1), "offset too far ahead" },
		{ RTC_S_OFFSET, 8, (uint64_t)(-RTC_OFFSET_MAX - 1), "offset too far back" },
		{ RTC_S_OFFSET, 8, (uint64_t)INT64_MIN, "offset INT64_MIN" },
		{ RTC_S_SEC, 4, 256, "held seconds 256" },
		{ RTC_S_MIN, 4, 256, "held minutes 256" },
		{ RTC_S_HOUR, 4, 0x80000000u, "held hours 2^31" },
		{ RTC_S_MDAY, 4, 256, "held day 256" },
		{ RTC_S_MON, 4, 256, "held month 256" },
		{ RTC_S_YEAR, 4, 40000, "held year 30000" },
		{ RTC_S_YEAR, 4, UINT32_MAX, "held year 2^32-1" },
	};
	static const struct {
		unsigned off, width;
		uint64_t v;
		const char *what;
	} good_values[] = {
		{ RTC_S_INDEX, 4, 127, "index 127" },
		{ RTC_S_OFFSET, 8, (uint64_t)RTC_OFFSET_MAX, "offset at the limit" },
		{ RTC_S_OFFSET, 8, (uint64_t)-RTC_OFFSET_MAX, "offset at the other limit" },
		{ RTC_S_SEC, 4, 255, "held seconds 255" },
		{ RTC_S_MON, 4, 0, "held month 0" },
		{ RTC_S_YEAR, 4, 0, "held year -10000" },
		{ RTC_S_YEAR, 4, 39999, "held year 29999" },
		{ RTC_S_UF, 8, (uint64_t)INT64_MIN, "any UF second" },
		{ RTC_S_CMOS + 0x0b, 1, 0x80, "B with SET alone" },
	};
	const struct state_target st = state_target_bus(&rtc_bus_ops, &rtc),
				  st2 = state_target_bus(&rtc_bus_ops, &rtc2);
	struct state_blob good;

	rtc_running_state();
	state_check_save(&st, &good);
	rtc_destroy(&rtc);

	setup_at(utc(2001, 2, 3, 4, 5, 6));
	cmos_wr(0x40, 0x99);
	cmos_wr(0x0b, 0x82);
	state_check_hostile(&st, &good);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		state_check_rejects_field(&st, &good, bad[i].off, bad[i].v, bad[i].width,
					  bad[i].what);
	for (unsigned i = 0; i < sizeof(good_values) / sizeof(good_values[0]); i++) {
		setup2();
		state_check_accepts_field(&st2, &good, good_values[i].off, good_values[i].v,
					  good_values[i].width, good_values[i].what);
		/* Whatever it took, the clock reads without trouble. */
		for (unsigned r = 0; r < 0x0e; r++)
			cmos_rd_on(&rtc2, (uint8_t)r);
		rtc_destroy(&rtc2);
	}
	CHECK_EQ(cmos_rd(0x40), 0x99);
	CHECK_EQ(cmos_rd(0x0b), 0x82);
	CHECK_EQ(cmos_rd(0x09), 0x01);
	state_blob_free(&good);
	rtc_destroy(&rtc);
}

int main(void)
{
	RUN_TEST(test_linux_boot_read);
	RUN_TEST(test_host_clock);
	RUN_TEST(test_binary_12h);
	RUN_TEST(test_guest_set_time);
	RUN_TEST(test_binary_set);
	RUN_TEST(test_reg_c);
	RUN_TEST(test_uip);
	RUN_TEST(test_nvram);
	RUN_TEST(test_hostile);
	RUN_TEST(test_snapshot_round_trip);
	RUN_TEST(test_snapshot_time_continues);
	RUN_TEST(test_snapshot_year_bounded);
	RUN_TEST(test_snapshot_hostile);
	TEST_EXIT();
}
