/* libFuzzer target: hostile snapshot bytes into the load hook of every platform device model. */
#include "dev/acpi_pm.h"
#include "dev/debug_exit.h"
#include "dev/fw_cfg.h"
#include "dev/i8042.h"
#include "dev/pc_testdev.h"
#include "dev/rtc.h"
#include "dev/serial8250.h"
#include "log.h"
#include "snapshot/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * The input is snapshot bytes. First each device, fresh, loads it from its start; then the
 * seven devices, fresh, load it in turn from one reader, as a VM restore would (the order of
 * fuzz_state_ops). A refused load returns -EINVAL with the reader failed, leaves the device
 * saving exactly what it saved before, and fails every load after it. An accepted load saves
 * back exactly the bytes it consumed (the encoding is canonical), keeps the device's interrupt
 * lines at the level its registers imply, and leaves a device that takes register accesses
 * (driven by the input's bytes after the section, 3 bytes an access: kind, offset, value) and
 * then saves a state that a fresh device loads and saves unchanged. The clocks are fakes, so
 * the RTC and the PM timer save deterministically.
 *
 * The kept corpus holds saves of each device driven into a busy state through its registers
 * (the sequences of the unit tests' round-trip tests), saves of fresh devices, all seven in
 * order, some followed by accesses, and malformed variants: truncated, wrong tag, versions 0
 * and 2, lengths past the end, a boolean 2, indices and counts out of range.
 */
enum { F_UART, F_RTC, F_KBC, F_PM, F_DBGX, F_FWCFG, F_TDEV, F_NDEV };

#define FUZZ_RTC_EPOCH 1704067200 /* 2024-01-01 00:00:00 UTC */
#define FUZZ_PM_EPOCH 1000000000000ull
#define FUZZ_MAX_ACCESSES 64

struct fuzz_line {
	int level;
};

struct fuzz_env {
	struct serial8250 uart;
	struct rtc rtc;
	struct i8042 kbc;
	struct acpi_pm pm;
	struct debug_exit dx;
	struct fw_cfg fc;
	struct pc_testdev td;
	struct fuzz_line uart_irq, kbd_irq, aux_irq, sci;
};

static struct fuzz_env env_a, env_b;
static struct timespec fuzz_rtc_now;
static uint64_t fuzz_pm_now;

/* The bus_ops that carries each device's state. */
static const struct bus_ops *const fuzz_state_ops[F_NDEV] = {
	[F_UART] = &serial8250_bus_ops,	    [F_RTC] = &rtc_bus_ops,
	[F_KBC] = &i8042_data_ops,	    [F_PM] = &acpi_pm_bus_ops,
	[F_DBGX] = &debug_exit_bus_ops,	    [F_FWCFG] = &fw_cfg_bus_ops,
	[F_TDEV] = &pc_testdev_scratch_ops,
};

/* Every register range of each device, with its length in ports. */
struct fuzz_range {
	const struct bus_ops *ops;
	unsigned nports;
};

static const struct fuzz_range fuzz_ranges[F_NDEV][3] = {
	[F_UART] = { { &serial8250_bus_ops, SERIAL8250_NR_PORTS } },
	[F_RTC] = { { &rtc_bus_ops, RTC_NR_PORTS } },
	[F_KBC] = { { &i8042_data_ops, 1 }, { &i8042_cmd_ops, 1 } },
	[F_PM] = { { &acpi_pm_bus_ops, ACPI_PM_LEN } },
	[F_DBGX] = { { &debug_exit_bus_ops, DEBUG_EXIT_NR_PORTS } },
	[F_FWCFG] = { { &fw_cfg_bus_ops, FW_CFG_NR_PORTS } },
	[F_TDEV] = { { &pc_testdev_scratch_ops, 4 },
		     { &pc_testdev_flush_ops, 4 },
		     { &pc_testdev_irq_ops, PC_TESTDEV_NR_IRQS } },
};

static void fuzz_rtc_clock(void *opaque, struct timespec *ts)
{
	(void)opaque;
	*ts = fuzz_rtc_now;
}

static uint64_t fuzz_pm_clock(void *opaque)
{
	(void)opaque;
	return fuzz_pm_now;
}

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fuzz_line *l = opaque;

	(void)gsi;
	if (level != 0 && level != 1)
		abort();
	if (!l)
		return; /* pc-testdev's lines: the guest sets them at will */
	if (level == l->level)
		abort(); /* the models promise to drive a line only on a change */
	l->level = level;
}

static void fuzz_power(void *opaque, enum power_event event, int status)
{
	(void)opaque;
	(void)event;
	(void)status;
}

static void fuzz_flush(void *opaque, uint64_t gpa)
{
	(void)opaque;
	(void)gpa;
}

static void fuzz_tx(void *opaque, uint8_t byte)
{
	(void)opaque;
	(void)byte;
}

static void *fuzz_dev(struct fuzz_env *e, unsigned d)
{
	void *devs[F_NDEV] = { &e->uart, &e->rtc, &e->kbc, &e->pm, &e->dx, &e->fc, &e->td };

	return devs[d];
}

/* A fresh device, wired as platform.c wires it (with fakes). */
static void fuzz_init(struct fuzz_env *e, unsigned d)
{
	struct power_sink power = { .event = fuzz_power };
	struct irq_line uart = { fuzz_irq_set, &e->uart_irq, 4 };
	struct irq_line kbd = { fuzz_irq_set, &e->kbd_irq, 1 };
	struct irq_line aux = { fuzz_irq_set, &e->aux_irq, 12 };
	struct irq_line sci = { fuzz_irq_set, &e->sci, 9 };
	struct irq_line lines = { fuzz_irq_set, NULL, 0 };
	struct pc_testdev_flush flush = { fuzz_flush, NULL };

	switch (d) {
	case F_UART:
		e->uart_irq.level = 0;
		if (serial8250_init(&e->uart, &uart, fuzz_tx, NULL))
			abort();
		break;
	case F_RTC:
		rtc_init(&e->rtc);
		rtc_set_clock(&e->rtc, fuzz_rtc_clock, NULL);
		break;
	case F_KBC:
		e->kbd_irq.level = e->aux_irq.level = 0;
		i8042_init(&e->kbc, &power);
		i8042_set_irqs(&e->kbc, &kbd, &aux);
		break;
	case F_PM:
		e->sci.level = 0;
		acpi_pm_init(&e->pm, &sci, &power);
		acpi_pm_set_clock(&e->pm, fuzz_pm_clock, NULL);
		break;
	case F_DBGX:
		debug_exit_init(&e->dx, &power);
		break;
	case F_FWCFG:
		fw_cfg_init(&e->fc, 256ull << 20, 2);
		break;
	default:
		pc_testdev_init(&e->td, &flush, &lines);
		break;
	}
}

static void fuzz_destroy(struct fuzz_env *e, unsigned d)
{
	switch (d) {
	case F_UART:
		serial8250_destroy(&e->uart);
		break;
	case F_RTC:
		rtc_destroy(&e->rtc);
		break;
	case F_KBC:
		i8042_destroy(&e->kbc);
		break;
	case F_PM:
		acpi_pm_destroy(&e->pm);
		break;
	case F_FWCFG:
		fw_cfg_destroy(&e->fc);
		break;
	case F_TDEV:
		pc_testdev_destroy(&e->td);
		break;
	default:
		break;
	}
}

/* What must hold after every load and access: lines follow the registers, indices in range. */
static void fuzz_check(struct fuzz_env *e, unsigned d)
{
	const struct serial8250 *s = &e->uart;
	const struct i8042 *k = &e->kbc;
	const struct acpi_pm *pm = &e->pm;

	switch (d) {
	case F_UART:
		if (s->irq_level != e->uart_irq.level || s->rx_head >= SERIAL8250_FIFO_SIZE ||
		    s->rx_count > ((s->fcr & 1) ? SERIAL8250_FIFO_SIZE : 1u))
			abort();
		break;
	case F_KBC:
		if (k->kbd_level != e->kbd_irq.level || k->aux_level != e->aux_irq.level ||
		    k->kbd_count > I8042_KBD_QUEUE_SIZE || k->kbd_head >= I8042_KBD_QUEUE_SIZE)
			abort();
		if (e->kbd_irq.level && (!k->obf || k->obf_aux || !(k->ram[0] & 1)))
			abort();
		if (e->aux_irq.level && (!k->obf || !k->obf_aux || !(k->ram[0] & 2)))
			abort();
		break;
	case F_PM:
		if (pm->sci_level != e->sci.level || e->sci.level != ((pm->sts & pm->en) != 0))
			abort();
		break;
	case F_RTC:
		if (e->rtc.index >= RTC_CMOS_SIZE)
			abort();
		break;
	default:
		break;
	}
}

/* Something from the host side: input, a key press, the power button, time passing. */
static void fuzz_host_event(struct fuzz_env *e, unsigned d, uint8_t val)
{
	int ret;

	switch (d) {
	case F_UART:
		serial8250_rx(&e->uart, &val, 1);
		break;
	case F_RTC:
		fuzz_rtc_now.tv_sec += val;
		fuzz_rtc_now.tv_nsec = (long)val * 3900000L; /* now and then inside UIP */
		break;
	case F_KBC:
		ret = i8042_send_ctrl_alt_del(&e->kbc);
		if (ret && ret != -EAGAIN && ret != -ENOSPC)
			abort();
		break;
	case F_PM:
		if (val & 1)
			acpi_pm_power_button(&e->pm);
		fuzz_pm_now += (uint64_t)val * 1000003u;
		break;
	default:
		break;
	}
}

static void fuzz_accesses(struct fuzz_env *e, unsigned d, const uint8_t *p, size_t n)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	unsigned nranges = 0;

	while (nranges < 3 && fuzz_ranges[d][nranges].ops)
		nranges++;
	for (size_t i = 0; i + 3 <= n && i < 3 * FUZZ_MAX_ACCESSES; i += 3) {
		uint8_t kind = p[i], arg = p[i + 1], val = p[i + 2];
		const struct fuzz_range *r = &fuzz_ranges[d][((unsigned)kind >> 3) % nranges];
		unsigned len = lens[(kind >> 1) & 3];
		uint8_t buf[8];

		memset(buf, val, sizeof(buf));
		if (kind & 0x80)
			fuzz_host_event(e, d, val);
		else if (kind & 1)
			r->ops->write(fuzz_dev(e, d), arg % r->nports, buf, len);
		else
			r->ops->read(fuzz_dev(e, d), arg % r->nports, buf, len);
		fuzz_check(e, d);
	}
}

static void fuzz_save(struct fuzz_env *e, unsigned d, struct state_writer *w)
{
	state_writer_init(w);
	fuzz_state_ops[d]->save(fuzz_dev(e, d), w);
	if (state_writer_result(w))
		abort();
}

static bool fuzz_same(const struct state_writer *w, const uint8_t *p, size_t n)
{
	return w->len == n && (!n || !memcmp(w->buf, p, n));
}

/*
 * One load into env_a's device d (already initialised) from r: checks the outcome against the
 * rules above. Returns whether it was accepted.
 */
static bool fuzz_load_checked(unsigned d, struct state_reader *r)
{
	struct state_writer before, after;
	size_t start = r->pos;
	bool was_ok = state_reader_ok(r);
	int ret;

	fuzz_save(&env_a, d, &before);
	ret = fuzz_state_ops[d]->load(fuzz_dev(&env_a, d), r);
	fuzz_save(&env_a, d, &after);
	if (ret) {
		if (ret != -EINVAL || state_reader_ok(r))
			abort();
		if (!fuzz_same(&after, before.buf, before.len))
			abort(); /* a refused load changed the device */
	} else {
		if (!was_ok || !state_reader_ok(r) || r->pos < start)
			abort();
		if (!fuzz_same(&after, r->buf + start, r->pos - start))
			abort(); /* accepted bytes that do not save back the same */
	}
	fuzz_check(&env_a, d);
	state_writer_free(&before);
	state_writer_free(&after);
	return !ret;
}

static void fuzz_one_device(unsigned d, const uint8_t *data, size_t size)
{
	struct state_writer w, again;
	struct state_reader r;

	fuzz_init(&env_a, d);
	state_reader_init(&r, data, size);
	if (fuzz_load_checked(d, &r)) {
		fuzz_accesses(&env_a, d, data + r.pos, size - r.pos);
		fuzz_save(&env_a, d, &w);
		/* Whatever the accesses did, the state they left is one a device can load. */
		fuzz_init(&env_b, d);
		state_reader_init(&r, w.buf, w.len);
		if (fuzz_state_ops[d]->load(fuzz_dev(&env_b, d), &r) || r.pos != w.len)
			abort();
		fuzz_check(&env_b, d);
		fuzz_save(&env_b, d, &again);
		if (!fuzz_same(&again, w.buf, w.len))
			abort();
		state_writer_free(&w);
		state_writer_free(&again);
		fuzz_destroy(&env_b, d);
	}
	fuzz_destroy(&env_a, d);
}

/* All seven from one stream, as a restore reads a snapshot: the first refusal fails the rest. */
static void fuzz_platform(const uint8_t *data, size_t size)
{
	struct state_reader r;
	bool failed = false;

	state_reader_init(&r, data, size);
	for (unsigned d = 0; d < F_NDEV; d++) {
		fuzz_init(&env_a, d);
		if (fuzz_load_checked(d, &r)) {
			if (failed)
				abort();
		} else {
			failed = true;
		}
		fuzz_destroy(&env_a, d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_set_level(LOG_ERROR); /* guest-triggered warnings from the accesses */
	fuzz_rtc_now.tv_sec = FUZZ_RTC_EPOCH;
	fuzz_rtc_now.tv_nsec = 0;
	fuzz_pm_now = FUZZ_PM_EPOCH;
	for (unsigned d = 0; d < F_NDEV; d++)
		fuzz_one_device(d, data, size);
	fuzz_pm_now = FUZZ_PM_EPOCH;
	fuzz_platform(data, size);
	return 0;
}
