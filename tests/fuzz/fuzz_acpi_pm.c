/* libFuzzer target: hostile acpi_pm register accesses; the SCI must always follow STS & EN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/acpi_pm.h"
#include "log.h"

struct fuzz_state {
	int level;
	unsigned events;
};

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fuzz_state *s = opaque;

	(void)gsi;
	if (level != 0 && level != 1)
		abort();
	if (level == s->level)
		abort(); /* acpi_pm only calls on a change */
	s->level = level;
}

static void fuzz_power(void *opaque, enum power_event event, int status)
{
	struct fuzz_state *s = opaque;

	(void)status;
	if (event != POWER_OFF && event != POWER_RESET)
		abort();
	s->events++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR); /* ignored sleep requests are logged; keep the fuzzer quiet */
	return 0;
}

static uint16_t fuzz_read16(struct acpi_pm *pm, uint64_t off)
{
	uint8_t b[2];

	acpi_pm_bus_ops.read(pm, off, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

/*
 * Input: a sequence of operations, each an op byte, a selector byte and, for writes, data.
 * op bits 0-4: length 0-31 (the bus gives 1/2/4/8, but the model must not care);
 * op bits 6-7: 0/1 read, 2 write, 3 press the power button.
 * sel bits 0-4: offset; bit 5: count down from 2^64-1 instead (wrap-around); bit 6: 0x1000+.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state s = { 0 };
	struct irq_line sci = { .set = fuzz_irq_set, .opaque = &s, .gsi = 9 };
	struct power_sink sink = { .event = fuzz_power, .opaque = &s };
	struct acpi_pm pm;
	uint8_t buf[32];

	acpi_pm_init(&pm, &sci, &sink);
	while (size >= 2) {
		uint8_t op = data[0], sel = data[1];
		unsigned len = op & 0x1f;
		uint64_t off = sel & 0x1f;
		uint16_t sts, en;

		data += 2;
		size -= 2;
		if (sel & 0x20)
			off = UINT64_MAX - off;
		else if (sel & 0x40)
			off += 0x1000;
		switch (op >> 6) {
		case 0:
		case 1:
			memset(buf, 0x5a, sizeof(buf));
			acpi_pm_bus_ops.read(&pm, off, buf, len);
			for (unsigned i = len; i < sizeof(buf); i++)
				if (buf[i] != 0x5a)
					abort(); /* wrote past the access */
			if (off >= ACPI_PM_LEN)
				for (unsigned i = 0; i < len; i++)
					if (buf[i] != 0xff)
						abort();
			break;
		case 2:
			memset(buf, 0, sizeof(buf));
			memcpy(buf, data, len < size ? len : size);
			data += len < size ? len : size;
			size -= len < size ? len : size;
			acpi_pm_bus_ops.write(&pm, off, buf, len);
			break;
		default:
			acpi_pm_power_button(&pm);
			break;
		}
		sts = fuzz_read16(&pm, ACPI_PM_STS);
		en = fuzz_read16(&pm, ACPI_PM_EN);
		if (s.level != ((sts & en) != 0))
			abort();
		if (!(fuzz_read16(&pm, ACPI_PM_CNT) & ACPI_PM1_SCI_EN))
			abort();
	}
	acpi_pm_destroy(&pm);
	return 0;
}
