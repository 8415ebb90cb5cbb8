/* Unit tests for the MP table: found and parsed back the way Linux's mpparse.c does it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot_e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "guest_mem.h"
#include "test.h"

#define RAM_SIZE 0x100000ull

static uint8_t ram[RAM_SIZE];
static struct guest_mem gm;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void ram_setup(void)
{
	memset(&gm, 0, sizeof(gm));
	memset(ram, 0, sizeof(ram));
	if (guest_mem_add(&gm, 0, RAM_SIZE, ram))
		abort();
}

/* smp_scan_config(): 16-byte steps, "_MP_", length 1, checksum, spec 1 or 4. */
static uint64_t scan(uint64_t base, uint64_t len)
{
	for (uint64_t a = base; a + 16 <= base + len; a += 16) {
		const uint8_t *p = ram + a;

		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && !sum8(p, 16) && (p[9] == 1 || p[9] == 4))
			return a;
	}
	return 0;
}

/* default_find_smp_config(): bottom KiB, top KiB of 640 KiB, the BIOS ROM area; then the EBDA. */
static uint64_t find_smp_config(void)
{
	uint64_t a = scan(0, 0x400);
	uint16_t ebda_seg = get16(ram + 0x40e);

	if (!a)
		a = scan(639 * 0x400, 0x400);
	if (!a)
		a = scan(0xf0000, 0x10000);
	if (!a && ebda_seg)
		a = scan((uint64_t)ebda_seg << 4, 0x400);
	return a;
}

struct parsed {
	unsigned ncpus, bsp_count, bsp_apic, buses, ioapics, ioints, lints, entries;
	uint8_t apic_ids[256];
	uint8_t ioapic_id, ioapic_ver;
	uint32_t ioapic_addr;
	int pin_irq[MPTABLE_IOAPIC_PINS]; /* ISA IRQ on each pin (-1: none) */
	uint16_t pin_flags[MPTABLE_IOAPIC_PINS];
	int extint_pin;
	uint8_t lint_type[2], lint_dst[2];
	int in_order;
};

/* check_physptr() + smp_check_mpc() + smp_read_mpc(); returns 0 when Linux would reject it. */
static int parse(uint64_t fps, struct parsed *o)
{
	const uint8_t *f = ram + fps, *t, *e, *end;
	uint32_t physptr = get32(f + 4);
	uint16_t len;
	int last_type = -1;

	memset(o, 0, sizeof(*o));
	o->extint_pin = -1;
	o->in_order = 1;
	for (unsigned i = 0; i < MPTABLE_IOAPIC_PINS; i++)
		o->pin_irq[i] = -1;
	CHECK_EQ(f[11], 0); /* feature 1: a configuration table follows, not a default config */
	CHECK_EQ(f[12] & 0x80, 0); /* no IMCR: virtual wire mode */
	if (!physptr || physptr + 44 > RAM_SIZE)
		return 0;
	t = ram + physptr;
	len = get16(t + 4);
	if (memcmp(t, "PCMP", 4) || physptr + len > RAM_SIZE || sum8(t, len) ||
	    (t[6] != 1 && t[6] != 4) || !get32(t + 36))
		return 0;
	CHECK_EQ(get32(t + 36), LAYOUT_LAPIC);
	CHECK_EQ(get32(t + 28), 0); /* no OEM table */
	CHECK_EQ(get16(t + 40), 0); /* no extended entries */
	e = t + 44;
	end = t + len;
	while (e < end) {
		unsigned size;

		if (e[0] < last_type)
			o->in_order = 0;
		last_type = e[0];
		o->entries++;
		switch (e[0]) {
		case 0:
			size = 20;
			if (!(e[3] & 1))
				break;
			o->apic_ids[o->ncpus++] = e[1];
			if (e[3] & 2) {
				o->bsp_count++;
				o->bsp_apic = e[1];
			}
			CHECK_EQ(e[2], 0x14);
			CHECK(get32(e + 8) & (1u << 9)); /* APIC feature */
			break;
		case 1:
			size = 8;
			o->buses++;
			CHECK_EQ(e[1], 0);
			CHECK(memcmp(e + 2, "ISA   ", 6) == 0);
			break;
		case 2:
			size = 8;
			o->ioapics++;
			o->ioapic_id = e[1];
			o->ioapic_ver = e[2];
			o->ioapic_addr = get32(e + 4);
			CHECK_EQ(e[3] & 1, 1);
			break;
		case 3:
			size = 8;
			o->ioints++;
			CHECK_EQ(e[4], 0); /* source: the ISA bus */
			CHECK_EQ(e[6], o->ioapic_id);
			CHECK(e[7] < MPTABLE_IOAPIC_PINS);
			if (e[7] >= MPTABLE_IOAPIC_PINS)
				break;
			if (e[1] == 3) {
				o->extint_pin = e[7];
				break;
			}
			CHECK_EQ(e[1], 0);
			CHECK_EQ(o->pin_irq[e[7]], -1); /* one source per pin */
			o->pin_irq[e[7]] = e[5];
			o->pin_flags[e[7]] = get16(e + 2);
			break;
		case 4:
			size = 8;
			if (o->lints < 2) {
				o->lint_type[e[7] & 1] = e[1];
				o->lint_dst[e[7] & 1] = e[6];
			}
			o->lints++;
			break;
		default:
			return 0; /* smp_dump_mptable(): "Your mptable is wrong" */
		}
		e += size;
	}
	CHECK(e == end); /* the last entry ends exactly at the table length */
	CHECK_EQ(get16(t + 34), o->entries);
	return o->ncpus;
}

static void check_table(unsigned ncpus)
{
	struct mptable_config cfg = { .ncpus = ncpus };
	struct parsed p;
	uint64_t fps;

	ram_setup();
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), 0);
	fps = find_smp_config();
	CHECK_EQ(fps, MPTABLE_GPA);
	CHECK_EQ(fps % 16, 0);
	if (!fps)
		return;
	CHECK_EQ(parse(fps, &p), ncpus);
	CHECK(p.in_order);
	CHECK_EQ(p.bsp_count, 1);
	CHECK_EQ(p.bsp_apic, 0);
	for (unsigned i = 0; i < p.ncpus; i++)
		CHECK_EQ(p.apic_ids[i], i);
	CHECK_EQ(p.buses, 1);
	CHECK_EQ(p.ioapics, 1);
	CHECK_EQ(p.ioapic_id, ncpus);
	CHECK_EQ(p.ioapic_ver, 0x11);
	CHECK_EQ(p.ioapic_addr, LAYOUT_IOAPIC);
	CHECK_EQ(p.ioints, 24);
	CHECK_EQ(p.extint_pin, 0);
	/* IRQ 0 on pin 2 (the MADT's override, kvmbox's GSI routing), the rest identity. */
	CHECK_EQ(p.pin_irq[2], 0);
	for (unsigned pin = 1; pin < MPTABLE_IOAPIC_PINS; pin++)
		if (pin != 2)
			CHECK_EQ(p.pin_irq[pin], pin);
	CHECK_EQ(p.pin_flags[LAYOUT_IRQ_COM1], 0);
	CHECK_EQ(p.pin_flags[LAYOUT_IRQ_KBD], 0);
	CHECK_EQ(p.pin_flags[LAYOUT_IRQ_SCI], 0xd);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(p.pin_flags[LAYOUT_GSI_VIRTIO_MMIO + i], 0xd); /* level, active high */
		CHECK_EQ(p.pin_flags[LAYOUT_GSI_PCI_INTX + i], 0xd);
	}
	CHECK_EQ(p.lints, 2);
	CHECK_EQ(p.lint_type[0], 3); /* ExtINT on LINT0 */
	CHECK_EQ(p.lint_type[1], 1); /* NMI on LINT1 */
	CHECK_EQ(p.lint_dst[1], 0xff);
	/* Exactly what mptable_size() promised, nothing past it. */
	CHECK_EQ(get16(ram + MPTABLE_GPA + 16 + 4) + 16, mptable_size(ncpus));
	for (uint64_t a = MPTABLE_GPA + mptable_size(ncpus); a < LAYOUT_ACPI; a++)
		if (ram[a]) {
			CHECK_EQ(a, 0);
			break;
		}
}

static void test_sizes(void)
{
	static const unsigned counts[] = { 1, 2, 4, 36, 37, 64, 128, MPTABLE_MAX_CPUS };

	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		check_table(counts[i]);
	/* Up to 36 CPUs the whole table fits the EBDA's first KiB. */
	CHECK(mptable_size(36) <= 0x400);
	CHECK(mptable_size(MPTABLE_MAX_CPUS) <= MPTABLE_MAX_LEN);
}

static void test_cpu_signature(void)
{
	struct mptable_config cfg = { .ncpus = 2,
				      .cpu_signature = 0x806ec,
				      .cpu_features = 0x1234 };
	const uint8_t *cpu;

	ram_setup();
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), 0);
	cpu = ram + get32(ram + MPTABLE_GPA + 4) + 44;
	CHECK_EQ(get32(cpu + 4), 0x806ec);
	CHECK_EQ(get32(cpu + 8), 0x1234);
	CHECK_EQ(cpu[3], 3);
	CHECK_EQ(get32(cpu + 20 + 4), 0x806ec);
	CHECK_EQ(cpu[20 + 3], 1);
}

/* ISA lines handed to virtio-mmio devices become level-triggered; the others stay edge. */
static void test_level_pins(void)
{
	static const unsigned isa[] = { 5, 6, 7, 10, 11, 14, 15 };
	struct mptable_config cfg = { .ncpus = 1 };
	struct parsed p;

	for (unsigned i = 0; i < sizeof(isa) / sizeof(isa[0]); i++)
		cfg.level_pins |= 1u << isa[i];
	ram_setup();
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), 0);
	CHECK_EQ(parse(MPTABLE_GPA, &p), 1);
	for (unsigned i = 0; i < sizeof(isa) / sizeof(isa[0]); i++)
		CHECK_EQ(p.pin_flags[isa[i]], 0xd);
	CHECK_EQ(p.pin_flags[1], 0);
	CHECK_EQ(p.pin_flags[3], 0);
	CHECK_EQ(p.pin_flags[4], 0);
	CHECK_EQ(p.pin_flags[12], 0);
	CHECK_EQ(p.pin_flags[9], 0xd);
	CHECK_EQ(p.pin_flags[20], 0xd);
	/* The 8259 and timer pins, and pins the IOAPIC lacks, are not the caller's. */
	cfg.level_pins = 1u << 0;
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	cfg.level_pins = 1u << 2;
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	cfg.level_pins = 1u << 24;
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	cfg.level_pins = 1u << 20; /* already level: harmless */
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), 0);
}

static void test_errors(void)
{
	struct mptable_config cfg = { .ncpus = 0 };
	static uint8_t small[0x9fc00 + 0x400];
	struct guest_mem sgm;

	ram_setup();
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	cfg.ncpus = MPTABLE_MAX_CPUS + 1;
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -E2BIG);
	cfg.ncpus = 255;
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -E2BIG);
	cfg.ncpus = 4;
	/* Bad addresses: unaligned, beyond 32 bits, wrapping, outside guest RAM. */
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA + 8, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	CHECK_EQ(mptable_write(&gm, LAYOUT_4G, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	CHECK_EQ(mptable_write(&gm, LAYOUT_4G - 16, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	CHECK_EQ(mptable_write(&gm, UINT64_MAX - 15, MPTABLE_MAX_LEN, &cfg), -EINVAL);
	CHECK_EQ(mptable_write(&gm, RAM_SIZE, MPTABLE_MAX_LEN, &cfg), -EFAULT);
	CHECK_EQ(mptable_write(&gm, RAM_SIZE - 16, MPTABLE_MAX_LEN, &cfg), -EFAULT);
	/* Too little room: the caller's bound, then RAM that ends inside the table. */
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, mptable_size(4) - 1, &cfg), -ENOSPC);
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, mptable_size(4), &cfg), 0);
	memset(&sgm, 0, sizeof(sgm));
	CHECK_EQ(guest_mem_add(&sgm, 0, sizeof(small), small), 0);
	cfg.ncpus = 64;
	CHECK_EQ(mptable_write(&sgm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), -EFAULT);
	for (size_t i = 0; i < sizeof(small); i++)
		if (small[i]) {
			CHECK_EQ(i, 0); /* nothing written on failure */
			break;
		}
	cfg.ncpus = 4;
	CHECK_EQ(mptable_write(&sgm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), 0);
}

/* Neither the ACPI tables nor the e820 map's RAM overlap the table. */
static void test_layout(void)
{
	struct mptable_config cfg = { .ncpus = MPTABLE_MAX_CPUS };
	struct acpi_config acfg = { .ncpus = MPTABLE_MAX_CPUS };
	struct boot_e820_entry map[BOOT_E820_MAX];
	uint64_t end = MPTABLE_GPA + mptable_size(MPTABLE_MAX_CPUS), rsdp;
	struct parsed p;
	int n;

	ram_setup();
	CHECK_EQ(acpi_build(&gm, &acfg, &rsdp), 0);
	CHECK_EQ(mptable_write(&gm, MPTABLE_GPA, MPTABLE_MAX_LEN, &cfg), 0);
	CHECK(end <= LAYOUT_ACPI);
	CHECK(memcmp(ram + rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(find_smp_config(), MPTABLE_GPA);
	CHECK_EQ(parse(MPTABLE_GPA, &p), MPTABLE_MAX_CPUS);
	/* Below the table: the boot structures layout.h places in low memory. */
	CHECK(LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX <= MPTABLE_GPA);
	CHECK(LAYOUT_BOOT_PARAMS + 0x1000 <= MPTABLE_GPA);

	n = boot_e820_build(&gm, map, BOOT_E820_MAX);
	CHECK(n > 0);
	for (int i = 0; i < n; i++) {
		if (map[i].type != BOOT_E820_RAM)
			continue;
		CHECK(map[i].addr + map[i].size <= MPTABLE_GPA || map[i].addr >= end);
	}
}

int main(void)
{
	RUN_TEST(test_sizes);
	RUN_TEST(test_cpu_signature);
	RUN_TEST(test_level_pins);
	RUN_TEST(test_errors);
	RUN_TEST(test_layout);
	TEST_EXIT();
}
