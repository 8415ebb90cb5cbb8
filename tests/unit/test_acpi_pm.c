/* Unit tests for acpi_pm's snapshot hooks and test clock (its registers: test_acpi.c). */
#include "dev/acpi_pm.h"
#include "log.h"
#include "test.h"
#include "state_check.h"

#include <string.h>

struct fake {
	int level;
	unsigned irq_calls, redundant;
	unsigned events[3];
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake *f = opaque;

	(void)gsi;
	if (level == f->level)
		f->redundant++;
	f->level = level;
	f->irq_calls++;
}

static void fake_power(void *opaque, enum power_event ev, int status)
{
	struct fake *f = opaque;

	(void)status;
	if ((unsigned)ev < 3)
		f->events[ev]++;
}

static uint64_t fake_ns = 5000000000ull;

static uint64_t fake_clock(void *opaque)
{
	(void)opaque;
	return fake_ns;
}

static void pm_setup(struct acpi_pm *pm, struct fake *f)
{
	struct irq_line sci = { .set = fake_irq_set, .opaque = f, .gsi = 9 };
	struct power_sink sink = { .event = fake_power, .opaque = f };

	memset(f, 0, sizeof(*f));
	acpi_pm_init(pm, &sci, &sink);
	acpi_pm_set_clock(pm, fake_clock, NULL);
}

static uint32_t pm_read(struct acpi_pm *pm, uint64_t off, unsigned len)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;

	acpi_pm_bus_ops.read(pm, off, b, len);
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void pm_write(struct acpi_pm *pm, uint64_t off, uint32_t v, unsigned len)
{
	uint8_t b[4];

	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	acpi_pm_bus_ops.write(pm, off, b, len);
}

static void test_clock(void)
{
	struct acpi_pm pm;
	struct fake f;

	pm_setup(&pm, &f);
	CHECK_EQ(pm_read(&pm, ACPI_PM_TMR, 4), 0);
	fake_ns += 1000000000ull;
	CHECK_EQ(pm_read(&pm, ACPI_PM_TMR, 4), ACPI_PM_TMR_HZ);
	fake_ns += 500000000ull;
	CHECK_EQ(pm_read(&pm, ACPI_PM_TMR, 4), ACPI_PM_TMR_HZ + ACPI_PM_TMR_HZ / 2);
	/* Back to the host's clock: counting again from 0, forward. */
	acpi_pm_set_clock(&pm, NULL, NULL);
	CHECK(pm_read(&pm, ACPI_PM_TMR, 4) < ACPI_PM_TMR_HZ);
	acpi_pm_destroy(&pm);
}

/*
 * The power button pressed and enabled (SCI up), a refused S3 request (WAK_STS, SLP_TYP 3),
 * BM_RLD and GBL_EN set, the timer 1.5 s along.
 */
static void pm_busy_state(struct acpi_pm *pm, struct fake *f)
{
	pm_setup(pm, f);
	pm_write(pm, ACPI_PM_EN, ACPI_PM1_PWRBTN | ACPI_PM1_GBL | ACPI_PM1_TMR, 2);
	acpi_pm_power_button(pm);
	pm_write(pm, ACPI_PM_CNT, (3 << ACPI_PM1_SLP_TYP_SHIFT) | ACPI_PM1_SLP_EN | 0x0002, 2);
	fake_ns += 1500000000ull;
	CHECK_EQ(f->level, 1);
	CHECK_EQ(pm_read(pm, ACPI_PM_STS, 2), ACPI_PM1_PWRBTN | ACPI_PM1_WAK_STS);
}

/* The whole block, then the SCI after the OS acknowledges the button, a second later. */
static void pm_probe(struct acpi_pm *pm, const struct fake *f, uint32_t *out)
{
	for (unsigned i = 0; i < ACPI_PM_LEN; i += 2)
		out[i / 2] = pm_read(pm, i, 2);
	out[8] = pm_read(pm, ACPI_PM_TMR, 4);
	out[9] = (uint32_t)f->level;
	pm_write(pm, ACPI_PM_STS, ACPI_PM1_PWRBTN, 2);
	out[10] = (uint32_t)f->level;
	out[11] = pm_read(pm, ACPI_PM_STS, 2);
}

static void test_snapshot_round_trip(void)
{
	struct acpi_pm pm, pm2;
	const struct state_target st = state_target_bus(&acpi_pm_bus_ops, &pm),
				  st2 = state_target_bus(&acpi_pm_bus_ops, &pm2);
	struct fake f, f2;
	struct state_blob saved;
	uint32_t want[12], got[12];

	CHECK(acpi_pm_bus_ops.save == acpi_pm_save);
	CHECK(acpi_pm_bus_ops.load == acpi_pm_load);
	CHECK(!acpi_pm_bus_ops.state_shared);
	pm_busy_state(&pm, &f);
	state_check_save(&st, &saved);
	state_check_header(&saved, STATE_TAG('A', 'C', 'P', 'M'), 14);
	pm_setup(&pm2, &f2);
	CHECK_EQ(state_check_load(&st2, &saved), 0);
	CHECK_EQ(f2.level, 1);
	CHECK_EQ(f2.irq_calls, 1);
	CHECK(state_check_same(&st2, &saved));

	pm_probe(&pm, &f, want);
	pm_probe(&pm2, &f2, got);
	CHECK(!memcmp(want, got, sizeof(want)));
	CHECK_EQ(want[ACPI_PM_CNT / 2], (3 << ACPI_PM1_SLP_TYP_SHIFT) | 0x0002 | ACPI_PM1_SCI_EN);
	CHECK_EQ(want[8], ACPI_PM_TMR_HZ + ACPI_PM_TMR_HZ / 2);
	CHECK_EQ(want[10], 0);
	fake_ns += 1000000000ull;
	CHECK_EQ(pm_read(&pm2, ACPI_PM_TMR, 4), pm_read(&pm, ACPI_PM_TMR, 4));
	CHECK_EQ(f2.redundant, 0);
	acpi_pm_destroy(&pm2);
	state_blob_free(&saved);

	/* A quiet state over a busy device lowers the SCI. */
	pm_busy_state(&pm, &f);
	pm_setup(&pm2, &f2);
	state_check_save(&st2, &saved);
	CHECK_EQ(state_check_load(&st, &saved), 0);
	CHECK_EQ(f.level, 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 2), 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_TMR, 4), 0);
	CHECK_EQ(f.redundant, 0);
	state_blob_free(&saved);
	acpi_pm_destroy(&pm2);
	acpi_pm_destroy(&pm);
}

/* The PM timer resumes from its saved count: time spent saved does not show. */
static void test_snapshot_timer_continues(void)
{
	struct acpi_pm pm;
	const struct state_target st = state_target_bus(&acpi_pm_bus_ops, &pm);
	struct fake f;
	struct state_blob saved;
	uint32_t ticks;

	pm_setup(&pm, &f);
	fake_ns += 7777777777ull;
	ticks = pm_read(&pm, ACPI_PM_TMR, 4);
	state_check_save(&st, &saved);
	acpi_pm_destroy(&pm);

	fake_ns += 3600000000000ull; /* restored an hour later */
	pm_setup(&pm, &f);
	fake_ns += 123;
	CHECK_EQ(state_check_load(&st, &saved), 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_TMR, 4), ticks);
	fake_ns += 1000000000ull;
	CHECK_EQ(pm_read(&pm, ACPI_PM_TMR, 4), ticks + ACPI_PM_TMR_HZ);
	state_blob_free(&saved);
	acpi_pm_destroy(&pm);
}

/* Offsets in a save of the version 1 layout (acpi_pm.h): the body follows the section header. */
enum {
	PM_S_STS = STATE_CHECK_HDR + 0,
	PM_S_EN = STATE_CHECK_HDR + 2,
	PM_S_CNT = STATE_CHECK_HDR + 4,
	PM_S_TMR = STATE_CHECK_HDR + 6,
};

static void test_snapshot_hostile(void)
{
	static const struct {
		unsigned off;
		uint16_t v;
		const char *what;
	} bad[] = {
		{ PM_S_STS, ACPI_PM1_TMR, "timer status" },
		{ PM_S_STS, ACPI_PM1_GBL, "global lock status" },
		{ PM_S_STS, 0xffff, "every status bit" },
		{ PM_S_EN, 0x0004, "reserved enable" },
		{ PM_S_EN, 0xffff, "every enable bit" },
		{ PM_S_CNT, ACPI_PM1_SCI_EN, "SCI_EN stored" },
		{ PM_S_CNT, ACPI_PM1_SLP_EN, "SLP_EN stored" },
		{ PM_S_CNT, 0x0004, "GBL_RLS stored" },
	};
	struct acpi_pm pm, pm2;
	const struct state_target st = state_target_bus(&acpi_pm_bus_ops, &pm),
				  st2 = state_target_bus(&acpi_pm_bus_ops, &pm2);
	struct fake f, f2;
	struct state_blob good;
	uint32_t ticks;

	pm_busy_state(&pm, &f);
	state_check_save(&st, &good);
	acpi_pm_destroy(&pm);

	pm_setup(&pm, &f);
	pm_write(&pm, ACPI_PM_EN, ACPI_PM1_GBL, 2);
	fake_ns += 3;
	state_check_hostile(&st, &good);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		state_check_rejects_field(&st, &good, bad[i].off, bad[i].v, 2, bad[i].what);
	CHECK_EQ(f.irq_calls, 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_EN, 2), ACPI_PM1_GBL);

	/* Any count is a count the timer can have had: the register is its low 32 bits. */
	pm_setup(&pm2, &f2);
	state_check_accepts_field(&st2, &good, PM_S_TMR, UINT64_MAX, 8, "timer 2^64-1 ns");
	ticks = pm_read(&pm2, ACPI_PM_TMR, 4);
	CHECK_EQ(ticks, (uint32_t)(18446744073ull * ACPI_PM_TMR_HZ +
				   709551615ull * ACPI_PM_TMR_HZ / 1000000000ull));
	fake_ns += 1;
	CHECK_EQ(pm_read(&pm2, ACPI_PM_TMR, 4), 0); /* 584 years on, the count wraps: no trap */
	state_blob_free(&good);
	acpi_pm_destroy(&pm2);
	acpi_pm_destroy(&pm);
}

int main(void)
{
	log_set_level(LOG_ERROR); /* the refused S3 request is logged */
	RUN_TEST(test_clock);
	RUN_TEST(test_snapshot_round_trip);
	RUN_TEST(test_snapshot_timer_continues);
	RUN_TEST(test_snapshot_hostile);
	TEST_EXIT();
}
