/* libFuzzer target: random CMOS index/data accesses and clock steps against the RTC model. */
#include "dev/rtc.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static struct timespec fuzz_now;

static void fuzz_clock(void *opaque, struct timespec *ts)
{
	(void)opaque;
	*ts = fuzz_now;
}

static uint8_t fuzz_rd(struct rtc *rtc, uint8_t idx)
{
	uint8_t v = 0xff;

	rtc_bus_ops.write(rtc, 0, &idx, 1);
	rtc_bus_ops.read(rtc, 1, &v, 1);
	return v;
}

static bool fuzz_bcd_ok(uint8_t v)
{
	return (v & 0x0f) <= 9 && (v >> 4) <= 9;
}

/* Each op is 3 bytes: kind/len selector, offset or index, value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	static const uint8_t time_regs[] = { 0x00, 0x02, 0x06, 0x07, 0x08, 0x09, 0x32 };
	struct rtc rtc;
	uint8_t buf[8];

	log_set_level(LOG_ERROR);
	fuzz_now.tv_sec = 1700000000;
	fuzz_now.tv_nsec = 0;
	rtc_init(&rtc);
	rtc_set_clock(&rtc, fuzz_clock, NULL);
	for (size_t i = 0; i + 3 <= size; i += 3) {
		uint8_t op = data[i], arg = data[i + 1], val = data[i + 2];
		unsigned len = lens[(op >> 2) & 3];

		switch (op & 3) {
		case 0:
			memset(buf, 0xff, sizeof(buf));
			rtc_bus_ops.read(&rtc, arg & 3, buf, len);
			if ((arg & 3) >= 2 && buf[0] != 0xff)
				abort(); /* outside its two ports */
			break;
		case 1:
			memset(buf, val, sizeof(buf));
			buf[0] = arg;
			rtc_bus_ops.write(&rtc, (op >> 4) & 3, buf, len);
			break;
		case 2:
			fuzz_now.tv_sec += (int64_t)arg * (val + 1) * ((op & 0x80) ? 3600 : 1);
			fuzz_now.tv_nsec = (long)val * 3921568;
			break;
		default:
			if (rtc_nvram_set(&rtc, arg, val) != 0 &&
			    (arg >= 0x0e && arg < 0x80 && arg != 0x32))
				abort(); /* a plain NVRAM byte was refused */
			break;
		}
		if (fuzz_rd(&rtc, 0x0d) != 0x80)
			abort();
		/* While running in BCD mode, every time register must hold valid BCD digits. */
		if ((fuzz_rd(&rtc, 0x0b) & 0x84) == 0)
			for (size_t r = 0; r < sizeof(time_regs); r++)
				if (!fuzz_bcd_ok(fuzz_rd(&rtc, time_regs[r])))
					abort();
	}
	rtc_destroy(&rtc);
	return 0;
}
