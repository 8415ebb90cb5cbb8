/* MC146818 RTC model: host UTC plus a guest-settable offset, BCD/binary and 12/24h, NVRAM. */
#include "dev/rtc.h"

#include <errno.h>
#include <string.h>

#include "log.h"

#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_NVRAM_START 0x0e

#define RTC_A_UIP 0x80
#define RTC_A_DEFAULT 0x26 /* 32.768 kHz time base, 1.024 kHz periodic rate: what firmware sets */

#define RTC_B_SET 0x80
#define RTC_B_UIE 0x10
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_B_DEFAULT RTC_B_24H /* BCD: x86 Linux decodes BCD whatever DM says (RTC_ALWAYS_BCD) */

#define RTC_C_IRQF 0x80
#define RTC_C_UF 0x10

#define RTC_D_VRT 0x80 /* "valid RAM and time": Linux insists bit 6 be clear too */

#define RTC_HOURS_PM 0x80

/* UIP rises this long before each update, as on the part; callers then have >= 244 us to read. */
#define RTC_UIP_NS 244000L

/* Guest-set times must stay within years 1900-9999 so every field encodes in two digits. */
#define RTC_TIME_MIN (-2208988800LL)
#define RTC_TIME_MAX 253402300799LL

static void rtc_host_clock(void *opaque, struct timespec *ts)
{
	(void)opaque;
	clock_gettime(CLOCK_REALTIME, ts);
}

static bool rtc_binary(const struct rtc *rtc)
{
	return rtc->cmos[RTC_REG_B] & RTC_B_DM_BINARY;
}

static bool rtc_frozen(const struct rtc *rtc)
{
	return rtc->cmos[RTC_REG_B] & RTC_B_SET;
}

/* v mod 100 in 0-99, negative v included. */
static int rtc_mod100(int v)
{
	return ((v % 100) + 100) % 100;
}

/* Values are reduced to 0-99 first, so hostile or odd times never produce invalid BCD. */
static uint8_t rtc_to_reg(const struct rtc *rtc, int v)
{
	v = rtc_mod100(v);
	return rtc_binary(rtc) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | (v % 10));
}

static int rtc_from_reg(const struct rtc *rtc, uint8_t v)
{
	return rtc_binary(rtc) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static struct timespec rtc_host_now(struct rtc *rtc)
{
	struct timespec ts = { 0 };

	rtc->now(rtc->now_opaque, &ts);
	return ts;
}

/* The registers' view of the time: the frozen copy under B.SET, else host time plus offset. */
static void rtc_current_tm(struct rtc *rtc, struct tm *tm)
{
	int64_t secs;
	time_t t;

	if (rtc_frozen(rtc)) {
		*tm = rtc->set_tm;
		return;
	}
	/* The offset is bounded by RTC_TIME_MAX, but a test clock hook could return anything. */
	if (__builtin_add_overflow((int64_t)rtc_host_now(rtc).tv_sec, rtc->offset, &secs))
		secs = 0;
	t = (time_t)secs;
	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

/* Make tm the running time. False (and no change) when it is out of range. */
static bool rtc_set_time(struct rtc *rtc, struct tm *tm)
{
	struct tm copy = *tm;
	time_t t = timegm(&copy);

	int64_t offset;

	if ((int64_t)t < RTC_TIME_MIN || (int64_t)t > RTC_TIME_MAX ||
	    __builtin_sub_overflow((int64_t)t, (int64_t)rtc_host_now(rtc).tv_sec, &offset)) {
		log_guest("rtc: guest set an out-of-range time, ignored");
		return false;
	}
	rtc->offset = offset;
	return true;
}

static uint8_t rtc_read_hours(const struct rtc *rtc, int hour)
{
	int h12;

	if (rtc->cmos[RTC_REG_B] & RTC_B_24H)
		return rtc_to_reg(rtc, hour);
	h12 = hour % 12;
	return rtc_to_reg(rtc, h12 ? h12 : 12) | (hour >= 12 ? RTC_HOURS_PM : 0);
}

static int rtc_write_hours(const struct rtc *rtc, uint8_t v)
{
	int hour;

	if (rtc->cmos[RTC_REG_B] & RTC_B_24H)
		return rtc_from_reg(rtc, v);
	hour = rtc_from_reg(rtc, v & ~RTC_HOURS_PM);
	if (hour == 12)
		hour = 0;
	return (v & RTC_HOURS_PM) ? hour + 12 : hour;
}

static uint8_t rtc_read_time(struct rtc *rtc, unsigned reg)
{
	struct tm tm;

	rtc_current_tm(rtc, &tm);
	switch (reg) {
	case RTC_SECONDS:
		return rtc_to_reg(rtc, tm.tm_sec);
	case RTC_MINUTES:
		return rtc_to_reg(rtc, tm.tm_min);
	case RTC_HOURS:
		return rtc_read_hours(rtc, tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		/* Derived from the date (Sunday = 1): frozen fields may have been edited. */
		timegm(&tm);
		return rtc_to_reg(rtc, tm.tm_wday + 1);
	case RTC_DAY_OF_MONTH:
		return rtc_to_reg(rtc, tm.tm_mday);
	case RTC_MONTH:
		return rtc_to_reg(rtc, tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_to_reg(rtc, tm.tm_year + 1900);
	default: /* RTC_REG_CENTURY */
		return rtc_to_reg(rtc, (tm.tm_year + 1900) / 100);
	}
}

/* A time register write edits one field; while running it moves the offset at once. */
static void rtc_write_time(struct rtc *rtc, unsigned reg, uint8_t v)
{
	struct tm tm;
	int year;

	rtc_current_tm(rtc, &tm);
	year = tm.tm_year + 1900;
	switch (reg) {
	case RTC_SECONDS:
		tm.tm_sec = rtc_from_reg(rtc, v);
		break;
	case RTC_MINUTES:
		tm.tm_min = rtc_from_reg(rtc, v);
		break;
	case RTC_HOURS:
		tm.tm_hour = rtc_write_hours(rtc, v);
		break;
	case RTC_DAY_OF_WEEK:
		return; /* always derived from the date */
	case RTC_DAY_OF_MONTH:
		tm.tm_mday = rtc_from_reg(rtc, v);
		break;
	case RTC_MONTH:
		tm.tm_mon = rtc_from_reg(rtc, v) - 1;
		break;
	case RTC_YEAR:
		/*
		 * The century as its register shows it (mod 100): a binary year byte above 99 would
		 * otherwise carry into the century on every write and grow the year (while B.SET
		 * holds it) until tm_year overflowed.
		 */
		tm.tm_year = rtc_mod100(year / 100) * 100 + rtc_from_reg(rtc, v) - 1900;
		break;
	default: /* RTC_REG_CENTURY */
		tm.tm_year = rtc_from_reg(rtc, v) * 100 + rtc_mod100(year) - 1900;
		break;
	}
	if (rtc_frozen(rtc))
		rtc->set_tm = tm; /* kept raw: checked and normalised when SET is cleared */
	else
		rtc_set_time(rtc, &tm);
}

static void rtc_write_b(struct rtc *rtc, uint8_t v)
{
	bool was = rtc_frozen(rtc), now = v & RTC_B_SET;

	if (!was && now)
		rtc_current_tm(rtc, &rtc->set_tm);
	if (now)
		v &= ~RTC_B_UIE; /* setting SET clears UIE on the part */
	rtc->cmos[RTC_REG_B] = v;
	if (was && !now) {
		rtc_set_time(rtc, &rtc->set_tm);
		rtc->uf_sec = rtc_host_now(rtc).tv_sec; /* no update completed while stopped */
	}
}

static bool rtc_is_time_reg(unsigned reg)
{
	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_REG_CENTURY:
		return true;
	default:
		return false;
	}
}

static uint8_t rtc_read_reg(struct rtc *rtc, unsigned reg)
{
	struct timespec ts;
	uint8_t v;

	if (rtc_is_time_reg(reg))
		return rtc_read_time(rtc, reg);
	switch (reg) {
	case RTC_REG_A:
		v = rtc->cmos[RTC_REG_A];
		ts = rtc_host_now(rtc);
		/* Raised only in the last 244 us of a second, so it can never stay stuck. */
		if (!rtc_frozen(rtc) && ts.tv_nsec >= 1000000000L - RTC_UIP_NS)
			v |= RTC_A_UIP;
		return v;
	case RTC_REG_C:
		ts = rtc_host_now(rtc);
		v = 0;
		if (!rtc_frozen(rtc) && (int64_t)ts.tv_sec != rtc->uf_sec)
			v |= RTC_C_UF;
		if ((v & RTC_C_UF) && (rtc->cmos[RTC_REG_B] & RTC_B_UIE))
			v |= RTC_C_IRQF;
		rtc->uf_sec = ts.tv_sec; /* reading C clears it */
		return v;
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return rtc->cmos[reg];
	}
}

static void rtc_write_reg(struct rtc *rtc, unsigned reg, uint8_t v)
{
	if (rtc_is_time_reg(reg)) {
		rtc_write_time(rtc, reg, v);
		return;
	}
	switch (reg) {
	case RTC_REG_A:
		rtc->cmos[RTC_REG_A] = v & ~RTC_A_UIP;
		break;
	case RTC_REG_B:
		rtc_write_b(rtc, v);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		rtc->cmos[reg] = v;
		break;
	}
}

/* Wide accesses split into byte cycles at 0x70, 0x71 (ISA); bytes beyond keep the bus fill. */
static void rtc_bus_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct rtc *rtc = dev;
	uint8_t *bytes = data;

	pthread_mutex_lock(&rtc->lock);
	for (unsigned i = 0; i < len && off < RTC_NR_PORTS - i; i++)
		/* The index port is write-only: leave its byte to the bus's unclaimed fill. */
		if (off + i == 1)
			bytes[i] = rtc_read_reg(rtc, rtc->index);
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_bus_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct rtc *rtc = dev;
	const uint8_t *bytes = data;

	pthread_mutex_lock(&rtc->lock);
	for (unsigned i = 0; i < len && off < RTC_NR_PORTS - i; i++) {
		if (off + i == 0)
			rtc->index = bytes[i] & (RTC_CMOS_SIZE - 1); /* bit 7 gates NMI: ignored */
		else
			rtc_write_reg(rtc, rtc->index, bytes[i]);
	}
	pthread_mutex_unlock(&rtc->lock);
}

const struct bus_ops rtc_bus_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
	.save = rtc_save,
	.load = rtc_load,
};

/*
 * Bounds of the saved frozen time. Fields edited under B.SET come from one register byte each
 * (0-255; the month minus 1); the year comes from gmtime() of host time plus an offset within
 * RTC_STATE_OFFSET_MAX (about 8100 years either way: -6130 to 18100 for any host clock from
 * 1970 to 9999) or from year and century writes (0-25599).
 */
#define RTC_STATE_FIELD_LIMIT 256
#define RTC_STATE_YEAR_BIAS 10000
#define RTC_STATE_YEAR_LIMIT 40000
/* Offsets rtc_set_time() can make with a host clock in the settable range. */
#define RTC_STATE_OFFSET_MAX (RTC_TIME_MAX - RTC_TIME_MIN)

/* What a snapshot carries: read and checked whole before any of it reaches the device. */
struct rtc_state {
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE];
	int64_t offset;
	int sec, min, hour, mday, mon, year; /* of set_tm; year as tm_year */
	int64_t uf_sec;
};

void rtc_save(const void *dev, struct state_writer *w)
{
	/* Locked like every access, though a paused VM has no other user. */
	struct rtc *rtc = (struct rtc *)dev;
	const struct tm *tm = &rtc->set_tm;

	pthread_mutex_lock(&rtc->lock);
	state_section_begin(w, RTC_STATE_TAG, RTC_STATE_VERSION);
	state_put_u32(w, rtc->index);
	state_put_bytes(w, rtc->cmos, sizeof(rtc->cmos));
	state_put_u64(w, (uint64_t)rtc->offset);
	/* Two's complement casts: a field out of its range saves as one load refuses. */
	state_put_u32(w, (uint32_t)tm->tm_sec);
	state_put_u32(w, (uint32_t)tm->tm_min);
	state_put_u32(w, (uint32_t)tm->tm_hour);
	state_put_u32(w, (uint32_t)tm->tm_mday);
	state_put_u32(w, (uint32_t)tm->tm_mon + 1);
	state_put_u32(w, (uint32_t)tm->tm_year + 1900 + RTC_STATE_YEAR_BIAS);
	state_put_u64(w, (uint64_t)rtc->uf_sec);
	state_section_end_write(w);
	pthread_mutex_unlock(&rtc->lock);
}

/* CMOS bytes the model never stores to must be 0; A and B keep their write-path invariants. */
static void rtc_check_cmos(struct state_reader *r, const uint8_t *cmos)
{
	for (unsigned i = 0; i < RTC_CMOS_SIZE; i++) {
		if (cmos[i] && (rtc_is_time_reg(i) || i == RTC_REG_C || i == RTC_REG_D)) {
			state_reader_fail(r, "rtc: a computed register has a stored value");
			return;
		}
	}
	if (cmos[RTC_REG_A] & RTC_A_UIP)
		state_reader_fail(r, "rtc: register A with UIP stored");
	if ((cmos[RTC_REG_B] & RTC_B_SET) && (cmos[RTC_REG_B] & RTC_B_UIE))
		state_reader_fail(r, "rtc: register B with both SET and UIE");
}

int rtc_load(void *dev, struct state_reader *r)
{
	struct rtc *rtc = dev;
	struct rtc_state st;
	uint32_t version;

	state_section_begin_read(r, RTC_STATE_TAG, RTC_STATE_VERSION, &version);
	st.index = (uint8_t)state_get_u32_below(r, RTC_CMOS_SIZE, "rtc: CMOS index");
	state_get_bytes(r, st.cmos, sizeof(st.cmos));
	rtc_check_cmos(r, st.cmos);
	st.offset = (int64_t)state_get_u64(r);
	if (st.offset < -RTC_STATE_OFFSET_MAX || st.offset > RTC_STATE_OFFSET_MAX)
		state_reader_fail(r, "rtc: clock offset out of range");
	st.sec = (int)state_get_u32_below(r, RTC_STATE_FIELD_LIMIT, "rtc: held seconds");
	st.min = (int)state_get_u32_below(r, RTC_STATE_FIELD_LIMIT, "rtc: held minutes");
	st.hour = (int)state_get_u32_below(r, RTC_STATE_FIELD_LIMIT, "rtc: held hours");
	st.mday = (int)state_get_u32_below(r, RTC_STATE_FIELD_LIMIT, "rtc: held day");
	st.mon = (int)state_get_u32_below(r, RTC_STATE_FIELD_LIMIT, "rtc: held month") - 1;
	st.year = (int)state_get_u32_below(r, RTC_STATE_YEAR_LIMIT, "rtc: held year") -
		  RTC_STATE_YEAR_BIAS - 1900;
	/* Only ever compared with the host's current second, so any value is one it could hold. */
	st.uf_sec = (int64_t)state_get_u64(r);
	if (state_section_end(r))
		return -EINVAL;

	pthread_mutex_lock(&rtc->lock);
	rtc->index = st.index;
	memcpy(rtc->cmos, st.cmos, sizeof(rtc->cmos));
	rtc->offset = st.offset;
	/* The other struct tm fields are recomputed wherever they are used (timegm). */
	memset(&rtc->set_tm, 0, sizeof(rtc->set_tm));
	rtc->set_tm.tm_sec = st.sec;
	rtc->set_tm.tm_min = st.min;
	rtc->set_tm.tm_hour = st.hour;
	rtc->set_tm.tm_mday = st.mday;
	rtc->set_tm.tm_mon = st.mon;
	rtc->set_tm.tm_year = st.year;
	rtc->uf_sec = st.uf_sec;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

void rtc_set_clock(struct rtc *rtc, void (*now)(void *opaque, struct timespec *ts), void *opaque)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->now = now ? now : rtc_host_clock;
	rtc->now_opaque = now ? opaque : NULL;
	rtc->uf_sec = rtc_host_now(rtc).tv_sec;
	pthread_mutex_unlock(&rtc->lock);
}

int rtc_nvram_set(struct rtc *rtc, unsigned idx, uint8_t val)
{
	if (idx >= RTC_CMOS_SIZE || idx < RTC_NVRAM_START || idx == RTC_REG_CENTURY)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[idx] = val;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

void rtc_init(struct rtc *rtc)
{
	memset(rtc, 0, sizeof(*rtc));
	/* The default attributes cannot fail to initialise on Linux, hence void. */
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = rtc_host_clock;
	rtc->cmos[RTC_REG_A] = RTC_A_DEFAULT;
	rtc->cmos[RTC_REG_B] = RTC_B_DEFAULT;
	rtc->uf_sec = rtc_host_now(rtc).tv_sec;
}

void rtc_destroy(struct rtc *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}
