/* Unit tests for the CMOS RTC: Linux's boot-time read, BCD/binary, 12/24h, guest sets, C, NVRAM. */
#include "dev/rtc.h"
#include "test.h"

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
	TEST_EXIT();
}
