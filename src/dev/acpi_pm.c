/* ACPI PM1a event/control, PM timer and reset register: ACPI poweroff and reboot for the OS. */
#include "dev/acpi_pm.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "log.h"

/*
 * Enable bits that exist here; the rest read as 0, as reserved bits do on hardware. GBL_EN has no
 * source (no firmware shares the global lock) but must stick: ACPICA reads it back at boot and
 * otherwise reports "No response from Global Lock hardware".
 */
#define ACPI_PM_EN_MASK (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN)
/* BM_RLD is plain read/write; GBL_RLS (SMI to the BIOS) and SLP_EN are write-only actions. */
#define ACPI_PM_CNT_KEEP (ACPI_PM1_SLP_TYP_MASK | 0x0002)

/* PM1_STS bits something here sets (the rest read 0 for ever). */
#define ACPI_PM_STS_MASK (ACPI_PM1_PWRBTN | ACPI_PM1_WAK_STS)

static uint64_t acpi_pm_host_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t acpi_pm_now_ns(const struct acpi_pm *pm)
{
	return pm->now_ns(pm->now_opaque);
}

/* Unsigned arithmetic: a restored start may lie "before" the host clock's zero. */
static uint64_t acpi_pm_elapsed_ns(const struct acpi_pm *pm)
{
	return acpi_pm_now_ns(pm) - pm->tmr_start_ns;
}

static uint32_t acpi_pm_timer(const struct acpi_pm *pm)
{
	uint64_t ns = acpi_pm_elapsed_ns(pm);

	/* Split so ns * HZ cannot overflow 64 bits however long the VM runs. */
	return (uint32_t)(ns / 1000000000ull * ACPI_PM_TMR_HZ +
			  ns % 1000000000ull * ACPI_PM_TMR_HZ / 1000000000ull);
}

void acpi_pm_init(struct acpi_pm *pm, const struct irq_line *sci, const struct power_sink *power)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	if (sci)
		pm->sci = *sci;
	if (power)
		pm->power = *power;
	pm->now_ns = acpi_pm_host_ns;
	pm->tmr_start_ns = acpi_pm_now_ns(pm);
}

void acpi_pm_set_clock(struct acpi_pm *pm, uint64_t (*now_ns)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&pm->lock);
	pm->now_ns = now_ns ? now_ns : acpi_pm_host_ns;
	pm->now_opaque = now_ns ? opaque : NULL;
	pm->tmr_start_ns = acpi_pm_now_ns(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

/*
 * The SCI is level-triggered (MADT override): it follows STS & EN. Called with the lock held so
 * that two vCPUs cannot deliver their levels to the irqchip in the opposite order.
 */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	int level = (pm->sts & pm->en & ACPI_PM_EN_MASK) != 0;

	if (level != pm->sci_level) {
		pm->sci_level = level;
		irq_line_set(&pm->sci, level);
	}
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_put(uint8_t *p, uint32_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Accesses are handled as bytes of a register image, so any offset and length (the guest picks
 * both, and may straddle registers) has a defined meaning; bytes past the block read as 0xff
 * like unclaimed ports and ignore writes.
 */
static bool acpi_pm_in_block(uint64_t off, unsigned i)
{
	return off < ACPI_PM_LEN && i < ACPI_PM_LEN - off;
}

static void acpi_pm_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct acpi_pm *pm = dev;
	uint8_t regs[ACPI_PM_LEN] = { 0 };
	uint8_t *out = data;

	pthread_mutex_lock(&pm->lock);
	acpi_pm_put(regs + ACPI_PM_STS, pm->sts, 2);
	acpi_pm_put(regs + ACPI_PM_EN, pm->en, 2);
	/* No SMI_CMD in the FADT: the OS finds ACPI mode already on, so SCI_EN must read as 1. */
	acpi_pm_put(regs + ACPI_PM_CNT, pm->cnt | ACPI_PM1_SCI_EN, 2);
	/* One clock sample per access, so a 32-bit read cannot tear between its bytes. */
	acpi_pm_put(regs + ACPI_PM_TMR, acpi_pm_timer(pm), 4);
	pthread_mutex_unlock(&pm->lock);

	for (unsigned i = 0; i < len; i++)
		out[i] = acpi_pm_in_block(off, i) ? regs[off + i] : 0xff;
}

/* A 16-bit register after a write that covered only some of its bytes (mask: bytes written). */
static uint16_t acpi_pm_merge16(uint16_t cur, const uint8_t *val, unsigned reg, uint32_t written)
{
	for (unsigned b = 0; b < 2; b++) {
		if (written & (1u << (reg + b))) {
			cur &= (uint16_t) ~(0xffu << (8 * b));
			cur |= (uint16_t)(val[reg + b] << (8 * b));
		}
	}
	return cur;
}

static void acpi_pm_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct acpi_pm *pm = dev;
	const uint8_t *in = data;
	uint8_t val[ACPI_PM_LEN] = { 0 };
	uint32_t written = 0;
	bool poweroff = false, reset = false, bad_sleep = false;
	unsigned slp_typ = 0;

	for (unsigned i = 0; i < len; i++) {
		if (acpi_pm_in_block(off, i)) {
			val[off + i] = in[i];
			written |= 1u << (off + i);
		}
	}
	if (!written)
		return;

	pthread_mutex_lock(&pm->lock);
	/* Write-1-to-clear: zeros (and bytes not written) leave status bits alone. */
	pm->sts &= (uint16_t)~acpi_pm_merge16(0, val, ACPI_PM_STS, written);
	pm->en = acpi_pm_merge16(pm->en, val, ACPI_PM_EN, written) & ACPI_PM_EN_MASK;
	if (written & (3u << ACPI_PM_CNT)) {
		uint16_t cnt = acpi_pm_merge16(pm->cnt, val, ACPI_PM_CNT, written);

		pm->cnt = cnt & ACPI_PM_CNT_KEEP;
		if (cnt & ACPI_PM1_SLP_EN) {
			slp_typ = (cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
			if (slp_typ == ACPI_PM_SLP_TYP_S5) {
				poweroff = true;
			} else {
				/*
				 * No S1-S4 here. Report an immediate wake, because the OS spins on
				 * WAK_STS after entering a sleep state and would otherwise hang.
				 */
				pm->sts |= ACPI_PM1_WAK_STS;
				bad_sleep = true;
			}
		}
	}
	if ((written & (1u << ACPI_PM_RESET)) && val[ACPI_PM_RESET] == ACPI_PM_RESET_VALUE)
		reset = true;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);

	/* Unlocked: the VM's handler may stop vCPUs, and one could be waiting for this lock. */
	if (poweroff)
		power_request(&pm->power, POWER_OFF, 0);
	if (reset)
		power_request(&pm->power, POWER_RESET, 0);
	if (bad_sleep)
		log_guest("acpi_pm: ignoring sleep request with SLP_TYP %u (only S5 is supported)",
			  slp_typ);
}

void acpi_pm_save(const void *dev, struct state_writer *w)
{
	/* Locked: the host's power button (acpi_pm_power_button) does not wait for a paused VM. */
	struct acpi_pm *pm = (struct acpi_pm *)dev;

	pthread_mutex_lock(&pm->lock);
	state_section_begin(w, ACPI_PM_STATE_TAG, ACPI_PM_STATE_VERSION);
	state_put_u16(w, pm->sts);
	state_put_u16(w, pm->en);
	state_put_u16(w, pm->cnt);
	state_put_u64(w, acpi_pm_elapsed_ns(pm));
	state_section_end_write(w);
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_load(void *dev, struct state_reader *r)
{
	struct acpi_pm *pm = dev;
	uint16_t sts, en, cnt;
	uint64_t elapsed;
	uint32_t version;

	state_section_begin_read(r, ACPI_PM_STATE_TAG, ACPI_PM_STATE_VERSION, &version);
	sts = state_get_u16(r);
	if (sts & ~ACPI_PM_STS_MASK)
		state_reader_fail(r, "acpi_pm: PM1_STS bits nothing sets");
	en = state_get_u16(r);
	if (en & ~ACPI_PM_EN_MASK)
		state_reader_fail(r, "acpi_pm: PM1_EN bits that read as 0");
	cnt = state_get_u16(r);
	if (cnt & ~ACPI_PM_CNT_KEEP)
		state_reader_fail(r, "acpi_pm: PM1_CNT bits that are not kept");
	/* Any count: the timer is its low 32 bits (in ticks), computed without overflow. */
	elapsed = state_get_u64(r);
	if (state_section_end(r))
		return -EINVAL;

	pthread_mutex_lock(&pm->lock);
	pm->sts = sts;
	pm->en = en;
	pm->cnt = cnt;
	pm->tmr_start_ns = acpi_pm_now_ns(pm) - elapsed;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

const struct bus_ops acpi_pm_bus_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
	.save = acpi_pm_save,
	.load = acpi_pm_load,
};
