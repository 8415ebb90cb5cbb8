/* MC146818 CMOS real-time clock and NVRAM at ports 0x70 (index) / 0x71 (data). */
#ifndef KVMBOX_DEV_RTC_H
#define KVMBOX_DEV_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bus.h"
#include "snapshot/state.h"

#define RTC_NR_PORTS 2 /* register with bus_add(..., RTC_NR_PORTS, ...) at LAYOUT_PORT_RTC */
#define RTC_CMOS_SIZE 128
#define RTC_REG_CENTURY 0x32 /* point the ACPI FADT "century" field here */

/*
 * The clock is the host's UTC time plus a whole-second offset that guest writes of the time
 * registers move. Not emulated: the IRQ 8 line, periodic and alarm interrupts (PF/AF never set),
 * daylight-saving (B.DSE), divider effects (register A is storage), the extended bank at 0x72.
 */
struct rtc {
	pthread_mutex_t lock;
	void (*now)(void *opaque, struct timespec *ts);
	void *now_opaque;
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE]; /* NVRAM, alarms, A and B; time registers are computed */
	int64_t offset;		     /* guest time minus host time, seconds */
	struct tm set_tm;	     /* the registers' contents while B.SET stops the clock */
	int64_t uf_sec;		     /* host second of the last register C read: UF derivation */
};

void rtc_init(struct rtc *rtc);
void rtc_destroy(struct rtc *rtc);

/* Offset 0 = index (bit 7, the NMI mask, is ignored), offset 1 = data. */
extern const struct bus_ops rtc_bus_ops;

/* Replace the host clock (NULL restores CLOCK_REALTIME); for deterministic tests. */
void rtc_set_clock(struct rtc *rtc, void (*now)(void *opaque, struct timespec *ts), void *opaque);

/*
 * Snapshot section "CMOS", version 1 (little-endian): u32 index (< 128); the 128 CMOS bytes
 * (time registers, C, D and the century byte are computed, so their bytes must be 0; A without
 * UIP; B.SET without B.UIE); i64 clock offset (seconds, guest minus host UTC, at most the width
 * of the settable range either way); the time held while B.SET stops the clock as u32 second,
 * minute, hour, day of month (each < 256), month (1-based, < 256) and year (+ 10000, < 40000);
 * i64 host second of the last register C read. Guest time is host UTC plus the offset on both
 * sides, so a restored clock shows the wall-clock time that passed meanwhile, like a battery-
 * backed RTC across a suspend; the UF flag derivation likewise sees the seconds that passed.
 */
#define RTC_STATE_TAG STATE_TAG('C', 'M', 'O', 'S')
#define RTC_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct rtc. */
void rtc_save(const void *dev, struct state_writer *w);
int rtc_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

/* Preset an NVRAM byte before boot; -EINVAL for clock/control registers or idx >= 128. */
int rtc_nvram_set(struct rtc *rtc, unsigned idx, uint8_t val) __attribute__((warn_unused_result));

#endif
