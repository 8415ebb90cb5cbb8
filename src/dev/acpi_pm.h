/* ACPI fixed hardware: PM1a event/control, PM timer and reset register, in one port block. */
#ifndef KVMBOX_DEV_ACPI_PM_H
#define KVMBOX_DEV_ACPI_PM_H

#include <pthread.h>
#include <stdint.h>

#include "bus.h"
#include "dev/power.h"
#include "irq.h"
#include "snapshot/state.h"

/* Register offsets in the block; the FADT (arch/x86/acpi.c) describes exactly these. */
#define ACPI_PM_STS 0x0	  /* PM1a_STS, 16 bits, write 1 to clear */
#define ACPI_PM_EN 0x2	  /* PM1a_EN, 16 bits */
#define ACPI_PM_CNT 0x4	  /* PM1a_CNT, 16 bits */
#define ACPI_PM_TMR 0x8	  /* PM_TMR, 32 bits, read-only, 3.579545 MHz */
#define ACPI_PM_RESET 0xc /* FADT RESET_REG, 8 bits */
#define ACPI_PM_LEN 0x10  /* size of the port range to register */

#define ACPI_PM_EVT_LEN 4 /* FADT PM1_EVT_LEN: STS + EN */
#define ACPI_PM_CNT_LEN 2 /* FADT PM1_CNT_LEN */
#define ACPI_PM_TMR_LEN 4 /* FADT PM_TMR_LEN */

#define ACPI_PM_TMR_HZ 3579545u
#define ACPI_PM_RESET_VALUE 0x01 /* FADT RESET_VALUE */

/* PM1_STS / PM1_EN bits that exist here (ACPI 6.4, 4.8.4.1). */
#define ACPI_PM1_TMR 0x0001	/* timer carry: never set, the timer raises no SCI */
#define ACPI_PM1_GBL 0x0020	/* global lock release: enable only, nothing here sets the status */
#define ACPI_PM1_PWRBTN 0x0100	/* fixed power button */
#define ACPI_PM1_WAK_STS 0x8000 /* status only */

/* PM1_CNT bits. */
#define ACPI_PM1_SCI_EN 0x0001
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK 0x1c00
#define ACPI_PM1_SLP_EN 0x2000

/* The SLP_TYP value for S5 (soft off): the DSDT's \_S5_ package carries it to the OS. */
#define ACPI_PM_SLP_TYP_S5 5

struct acpi_pm {
	pthread_mutex_t lock;
	struct irq_line sci; /* copies: the device does not depend on the caller's storage */
	struct power_sink power;
	uint16_t sts;
	uint16_t en;
	uint16_t cnt; /* SLP_TYP and the plain read/write bits; SCI_EN and SLP_EN are synthesized */
	int sci_level;
	uint64_t tmr_start_ns; /* the PM timer counts from acpi_pm_init (power-on) or a load */
	uint64_t (*now_ns)(void *opaque); /* CLOCK_MONOTONIC unless a test replaces it */
	void *now_opaque;
};

/* sci and power may be NULL (then no interrupt / no power events). */
void acpi_pm_init(struct acpi_pm *pm, const struct irq_line *sci, const struct power_sink *power);
void acpi_pm_destroy(struct acpi_pm *pm);

/* The host pressed the power button: the guest's ACPI driver sees a fixed power button event. */
void acpi_pm_power_button(struct acpi_pm *pm);

/* Register over [LAYOUT_PORT_ACPI_PM, +ACPI_PM_LEN) on the PIO bus with the acpi_pm as dev. */
extern const struct bus_ops acpi_pm_bus_ops;

/* Replace the monotonic clock (NULL restores CLOCK_MONOTONIC) and restart the PM timer at 0. */
void acpi_pm_set_clock(struct acpi_pm *pm, uint64_t (*now_ns)(void *opaque), void *opaque);

/*
 * Snapshot section "ACPM", version 1 (little-endian): u16 PM1_STS (only PWRBTN and WAK can be
 * set), u16 PM1_EN (TMR, GBL, PWRBTN), u16 PM1_CNT (SLP_TYP, BM_RLD); u64 nanoseconds the PM
 * timer has counted. The timer continues from that count: the time the VM spent saved does not
 * show, as a guest's clocksource must not jump. The SCI level is not saved: load re-drives it.
 */
#define ACPI_PM_STATE_TAG STATE_TAG('A', 'C', 'P', 'M')
#define ACPI_PM_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct acpi_pm. */
void acpi_pm_save(const void *dev, struct state_writer *w);
int acpi_pm_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

#endif
