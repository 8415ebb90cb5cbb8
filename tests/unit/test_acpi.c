/* Unit tests: ACPI tables (structure, checksums, iasl round trip), the AML emitter, acpi_pm. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "dev/acpi_pm.h"
#include "guest_mem.h"
#include "log.h"
#include "test.h"

#define RAM_SIZE 0x100000ull

static uint8_t ram[RAM_SIZE];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static void ram_setup(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
	memset(ram, 0, sizeof(ram));
	if (guest_mem_add(gm, 0, RAM_SIZE, ram))
		abort();
}

/* A table inside the ACPI area with a good header, or NULL (with the failed checks counted). */
static const uint8_t *table_at(uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	CHECK(gpa >= LAYOUT_ACPI && gpa + 36 <= LAYOUT_ACPI + LAYOUT_ACPI_SIZE);
	if (gpa < LAYOUT_ACPI || gpa + 36 > RAM_SIZE)
		return NULL;
	t = ram + gpa;
	len = get32(t + 4);
	CHECK(len >= 36 && gpa + len <= LAYOUT_ACPI + LAYOUT_ACPI_SIZE);
	if (len < 36 || gpa + len > LAYOUT_ACPI + LAYOUT_ACPI_SIZE)
		return NULL;
	CHECK(memcmp(t, sig, 4) == 0);
	CHECK_EQ(sum8(t, len), 0);
	CHECK(memcmp(t + 10, "KVMBOX", 6) == 0);
	CHECK_EQ(gpa % 8, 0);
	return memcmp(t, sig, 4) == 0 ? t : NULL;
}

struct tables {
	const uint8_t *rsdp, *xsdt, *fadt, *facs, *madt, *dsdt, *mcfg;
};

/* Walk RSDP -> XSDT -> {FADT -> {DSDT, FACS}, MADT, MCFG}, checking each link and checksum. */
static void tables_find(struct tables *t, uint64_t rsdp_gpa)
{
	const uint8_t *r = ram + rsdp_gpa;
	uint32_t n;

	memset(t, 0, sizeof(*t));
	CHECK_EQ(rsdp_gpa, LAYOUT_ACPI);
	CHECK_EQ(rsdp_gpa % 16, 0);
	CHECK(memcmp(r, "RSD PTR ", 8) == 0);
	CHECK_EQ(sum8(r, 20), 0);
	CHECK_EQ(sum8(r, 36), 0);
	CHECK_EQ(r[15], 2);
	CHECK_EQ(get32(r + 20), 36);
	CHECK(memcmp(r + 9, "KVMBOX", 6) == 0);
	t->rsdp = r;

	t->xsdt = table_at(get64(r + 24), "XSDT");
	if (!t->xsdt)
		return;
	n = (get32(t->xsdt + 4) - 36) / 8;
	CHECK_EQ((get32(t->xsdt + 4) - 36) % 8, 0);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = get64(t->xsdt + 36 + 8 * i);

		if (gpa >= RAM_SIZE) {
			CHECK(0 && "XSDT entry outside RAM");
			continue;
		}
		if (!memcmp(ram + gpa, "FACP", 4)) {
			CHECK(!t->fadt);
			t->fadt = table_at(gpa, "FACP");
		} else if (!memcmp(ram + gpa, "APIC", 4)) {
			CHECK(!t->madt);
			t->madt = table_at(gpa, "APIC");
		} else if (!memcmp(ram + gpa, "MCFG", 4)) {
			CHECK(!t->mcfg);
			t->mcfg = table_at(gpa, "MCFG");
		} else {
			CHECK(0 && "unexpected XSDT entry");
		}
	}
	CHECK(t->fadt && t->madt);
	if (!t->fadt)
		return;
	CHECK_EQ(get32(t->fadt + 40), get64(t->fadt + 140)); /* DSDT == X_DSDT */
	CHECK_EQ(get32(t->fadt + 36), get64(t->fadt + 132)); /* FIRMWARE_CTRL == X_FIRMWARE_CTRL */
	t->dsdt = table_at(get64(t->fadt + 140), "DSDT");
	if (get64(t->fadt + 132) + 64 <= RAM_SIZE) {
		t->facs = ram + get64(t->fadt + 132);
		CHECK(memcmp(t->facs, "FACS", 4) == 0);
		CHECK_EQ(get32(t->facs + 4), 64);
		CHECK_EQ(get64(t->fadt + 132) % 64, 0);
	}
}

static void check_gas_io(const uint8_t *g, uint16_t port, uint8_t bits)
{
	CHECK_EQ(g[0], 1); /* SystemIO */
	CHECK_EQ(g[1], bits);
	CHECK_EQ(g[2], 0);
	CHECK_EQ(get64(g + 4), port);
}

static void check_fadt(const uint8_t *f)
{
	uint32_t flags = get32(f + 112);

	CHECK_EQ(get32(f + 4), 276);
	CHECK_EQ(f[8], 6);
	CHECK_EQ(get16(f + 46), LAYOUT_IRQ_SCI);
	CHECK_EQ(get32(f + 48), 0); /* SMI_CMD: ACPI always enabled */
	CHECK_EQ(get32(f + 56), LAYOUT_PORT_ACPI_PM);
	CHECK_EQ(get32(f + 64), LAYOUT_PORT_ACPI_PM + 4);
	CHECK_EQ(get32(f + 76), LAYOUT_PORT_ACPI_PM + 8);
	CHECK_EQ(f[88], 4);
	CHECK_EQ(f[89], 2);
	CHECK_EQ(f[91], 4);
	CHECK_EQ(f[108], 0x32);		 /* CMOS century register */
	CHECK_EQ(get16(f + 109), 0x7);	 /* legacy devices, 8042, no VGA; MSI allowed */
	CHECK_EQ(flags & (1u << 20), 0); /* not HW_REDUCED */
	CHECK(flags & (1u << 0));	 /* WBINVD */
	CHECK(flags & (1u << 2));	 /* PROC_C1 */
	CHECK_EQ(flags & (1u << 4), 0);	 /* fixed power button */
	CHECK(flags & (1u << 5));	 /* no fixed sleep button */
	CHECK(flags & (1u << 8));	 /* 32-bit timer */
	CHECK(flags & (1u << 10));	 /* RESET_REG */
	check_gas_io(f + 116, LAYOUT_PORT_ACPI_PM + ACPI_PM_RESET, 8);
	CHECK_EQ(f[128], ACPI_PM_RESET_VALUE);
	check_gas_io(f + 148, LAYOUT_PORT_ACPI_PM, 32);
	check_gas_io(f + 172, LAYOUT_PORT_ACPI_PM + 4, 16);
	check_gas_io(f + 208, LAYOUT_PORT_ACPI_PM + 8, 32);
	for (unsigned off = 160; off < 172; off++)
		CHECK_EQ(f[off], 0); /* no PM1b */
}

static void check_madt(const uint8_t *m, unsigned ncpus)
{
	uint32_t len = get32(m + 4), off;
	unsigned count = 0, lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	CHECK_EQ(get32(m + 36), LAYOUT_LAPIC);
	CHECK_EQ(get32(m + 40), 1); /* PCAT_COMPAT */
	for (off = 44; off + 2 <= len; off += m[off + 1]) {
		const uint8_t *e = m + off;

		CHECK(e[1] >= 2 && off + e[1] <= len);
		if (e[1] < 2 || off + e[1] > len)
			return;
		count++;
		switch (e[0]) {
		case 0:
			CHECK_EQ(e[1], 8);
			CHECK_EQ(e[2], lapics);	   /* processor UID */
			CHECK_EQ(e[3], lapics);	   /* APIC ID = index */
			CHECK_EQ(get32(e + 4), 1); /* enabled */
			lapics++;
			break;
		case 1:
			CHECK_EQ(e[1], 12);
			CHECK_EQ(get32(e + 4), LAYOUT_IOAPIC);
			CHECK_EQ(get32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			CHECK_EQ(e[1], 10);
			CHECK_EQ(e[2], 0);
			if (e[3] == 0) {
				CHECK_EQ(get32(e + 4), 2);
			} else {
				CHECK_EQ(e[3], LAYOUT_IRQ_SCI);
				CHECK_EQ(get32(e + 4), LAYOUT_IRQ_SCI);
				CHECK_EQ(get16(e + 8), 0xd); /* level, active high */
			}
			isos++;
			break;
		case 4:
			CHECK_EQ(e[1], 6);
			CHECK_EQ(e[2], 0xff);
			CHECK_EQ(e[5], 1); /* LINT1 */
			nmis++;
			break;
		default:
			CHECK(0 && "unexpected MADT entry");
		}
	}
	CHECK_EQ(off, len);
	CHECK_EQ(lapics, ncpus);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 2);
	CHECK_EQ(nmis, 1);
	CHECK_EQ(count, ncpus + 4);
}

static unsigned count_occurrences(const uint8_t *p, size_t len, const void *needle, size_t n)
{
	unsigned c = 0;

	for (size_t i = 0; i + n <= len; i++)
		c += !memcmp(p + i, needle, n);
	return c;
}

static void check_dsdt(const uint8_t *d, unsigned ncpus)
{
	/* Name(_S5_, Package(4){5, 5, 0, 0}): SLP_TYP must be what acpi_pm treats as S5. */
	static const uint8_t s5[] = { 0x08, '_',
				      'S',  '5',
				      '_',  0x12,
				      0x08, 0x04,
				      0x0a, ACPI_PM_SLP_TYP_S5,
				      0x0a, ACPI_PM_SLP_TYP_S5,
				      0x00, 0x00 };
	static const uint8_t com1_hid[] = { 0x0c, 0x41, 0xd0, 0x05, 0x01 }; /* EisaId("PNP0501") */
	static const uint8_t com1_io[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08 };
	uint32_t len = get32(d + 4);

	CHECK_EQ(d[8], 2);
	CHECK_EQ(count_occurrences(d, len, s5, sizeof(s5)), 1);
	CHECK_EQ(count_occurrences(d, len, com1_hid, sizeof(com1_hid)), 1);
	CHECK_EQ(count_occurrences(d, len, com1_io, sizeof(com1_io)), 1);
	CHECK_EQ(count_occurrences(d, len, "ACPI0007", 8), ncpus);
}

static void check_build(unsigned ncpus)
{
	struct guest_mem gm;
	struct acpi_config cfg = { .ncpus = ncpus };
	struct tables t;
	uint64_t rsdp = 0;

	ram_setup(&gm);
	CHECK_EQ(acpi_build(&gm, &cfg, &rsdp), 0);
	tables_find(&t, rsdp);
	if (t.fadt)
		check_fadt(t.fadt);
	if (t.madt)
		check_madt(t.madt, ncpus);
	if (t.dsdt) {
		check_dsdt(t.dsdt, ncpus);
		/* No PCI and no virtio-mmio asked for: none described. */
		CHECK_EQ(count_occurrences(t.dsdt, get32(t.dsdt + 4), "LNRO0005", 8), 0);
		CHECK_EQ(count_occurrences(t.dsdt, get32(t.dsdt + 4), "PCI0", 4), 0);
	}
	CHECK(!t.mcfg);
	/* Nothing written outside the ACPI area. */
	CHECK_EQ(count_occurrences(ram, LAYOUT_ACPI, "\0", 1), LAYOUT_ACPI);
}

/* The machine kvmbox builds with PCI and virtio-mmio devices (arch/x86/layout.h). */
static void io_config(struct acpi_config *cfg, unsigned ncpus, unsigned nmmio)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = ncpus;
	cfg->pci = (struct acpi_pci){
		.present = true,
		.ecam_base = LAYOUT_PCI_ECAM,
		.mmio_base = LAYOUT_PCI_MMIO,
		.mmio_size = LAYOUT_PCI_MMIO_SIZE,
		.io_base = 0xc000,
		.io_size = 0x4000,
		.intx_gsi = { 16, 17, 18, 19 },
	};
	cfg->nvirtio_mmio = nmmio;
	for (unsigned i = 0; i < nmmio; i++)
		cfg->virtio_mmio[i] = (struct acpi_virtio_mmio){
			.base = LAYOUT_VIRTIO_MMIO + i * 0x1000ull,
			.size = 0x200,
			.gsi = 20 + i % 4,
		};
}

static void check_mcfg(const uint8_t *m)
{
	CHECK_EQ(get32(m + 4), 60);
	CHECK_EQ(m[8], 1);
	CHECK_EQ(get64(m + 36), 0); /* reserved */
	CHECK_EQ(get64(m + 44), LAYOUT_PCI_ECAM);
	CHECK_EQ(get16(m + 52), 0); /* segment */
	CHECK_EQ(m[54], 0);	    /* buses 0-0 */
	CHECK_EQ(m[55], 0);
	CHECK_EQ(get32(m + 56), 0);
}

/* The byte patterns a correct PCI0 / virtio-mmio DSDT must hold, whatever surrounds them. */
static void check_dsdt_io(const uint8_t *d, const struct acpi_config *cfg)
{
	static const uint8_t pnp0a08[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	static const uint8_t pnp0c02[] = { 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	/* WordBusNumber 0-0, IO 0xcf8/8, WordIO 0xc000-0xffff, DWordMemory window */
	static const uint8_t crs[] = {
		0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08, 0x88, 0x0d, 0x00, 0x01,
		0x0c, 0x03, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0x00, 0x00, 0x00, 0x40, 0x87, 0x17,
		0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff,
		0xff, 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x79, 0x00,
	};
	/* Memory32Fixed(ReadWrite, 0xe0000000, 0x100000) */
	static const uint8_t ecam[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00,
					0x00, 0xe0, 0x00, 0x00, 0x10, 0x00 };
	uint32_t len = get32(d + 4);

	CHECK_EQ(count_occurrences(d, len, pnp0a08, sizeof(pnp0a08)), 1);
	CHECK_EQ(count_occurrences(d, len, pnp0a03, sizeof(pnp0a03)), 1);
	CHECK_EQ(count_occurrences(d, len, pnp0c02, sizeof(pnp0c02)), 1);
	CHECK_EQ(count_occurrences(d, len, crs, sizeof(crs)), 1);
	CHECK_EQ(count_occurrences(d, len, ecam, sizeof(ecam)), 1);
	CHECK_EQ(count_occurrences(d, len, "_PRT", 4), 1);
	/* _PRT: Package(4){slot << 16 | 0xffff, pin, Zero, GSI} for every slot and pin. */
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			uint8_t e[16];
			unsigned n = 0, gsi = cfg->pci.intx_gsi[(slot + pin) % 4];

			e[n++] = 0x12;
			e[n++] = 0; /* PkgLength, below */
			e[n++] = 4;
			if (slot == 0) {
				e[n++] = 0x0b;
				e[n++] = 0xff;
				e[n++] = 0xff;
			} else {
				e[n++] = 0x0c;
				e[n++] = 0xff;
				e[n++] = 0xff;
				e[n++] = (uint8_t)slot;
				e[n++] = 0;
			}
			if (pin < 2) {
				e[n++] = (uint8_t)pin; /* Zero / One */
			} else {
				e[n++] = 0x0a;
				e[n++] = (uint8_t)pin;
			}
			e[n++] = 0x00;
			e[n++] = 0x0a;
			e[n++] = (uint8_t)gsi;
			e[1] = (uint8_t)(n - 1);
			CHECK_EQ(count_occurrences(d, len, e, n), 1);
		}
	}
	CHECK_EQ(count_occurrences(d, len, "LNRO0005", 8), cfg->nvirtio_mmio);
	for (unsigned i = 0; i < cfg->nvirtio_mmio; i++) {
		const struct acpi_virtio_mmio *v = &cfg->virtio_mmio[i];
		uint8_t r[12 + 9] = { 0x86, 0x09, 0x00, 0x01 };
		bool shared = false;

		for (unsigned j = 0; j < cfg->nvirtio_mmio; j++)
			shared |= j != i && cfg->virtio_mmio[j].gsi == v->gsi;
		for (unsigned b = 0; b < 4; b++) {
			r[4 + b] = (uint8_t)(v->base >> (8 * b));
			r[8 + b] = (uint8_t)(v->size >> (8 * b));
			r[17 + b] = (uint8_t)(v->gsi >> (8 * b));
		}
		r[12] = 0x89;
		r[13] = 6;
		r[14] = 0;
		r[15] = shared ? 0x09 : 0x01; /* consumer, level, active high */
		r[16] = 1;
		CHECK_EQ(count_occurrences(d, len, r, sizeof(r)), 1);
	}
}

static void check_build_io(unsigned ncpus, unsigned nmmio)
{
	struct guest_mem gm;
	struct acpi_config cfg;
	struct tables t;
	uint64_t rsdp = 0;

	io_config(&cfg, ncpus, nmmio);
	ram_setup(&gm);
	CHECK_EQ(acpi_build(&gm, &cfg, &rsdp), 0);
	tables_find(&t, rsdp);
	CHECK(t.mcfg != NULL);
	if (t.mcfg)
		check_mcfg(t.mcfg);
	if (t.madt)
		check_madt(t.madt, ncpus);
	if (t.dsdt) {
		check_dsdt(t.dsdt, ncpus);
		check_dsdt_io(t.dsdt, &cfg);
	}
	CHECK_EQ(count_occurrences(ram, LAYOUT_ACPI, "\0", 1), LAYOUT_ACPI);
}

static void test_acpi_pci_virtio_mmio(void)
{
	check_build_io(1, 0);
	check_build_io(2, 1);
	check_build_io(4, 4);
	check_build_io(255, 8); /* GSIs 20-23 shared by two devices each */
	check_build_io(255, ACPI_MAX_VIRTIO_MMIO);
	{
		struct guest_mem gm;
		struct acpi_config cfg;
		struct tables t;
		uint64_t rsdp = 0;

		/* virtio-mmio without PCI: no MCFG, no PCI0. */
		io_config(&cfg, 1, 2);
		cfg.pci.present = false;
		ram_setup(&gm);
		CHECK_EQ(acpi_build(&gm, &cfg, &rsdp), 0);
		tables_find(&t, rsdp);
		CHECK(!t.mcfg);
		if (t.dsdt) {
			CHECK_EQ(count_occurrences(t.dsdt, get32(t.dsdt + 4), "LNRO0005", 8), 2);
			CHECK_EQ(count_occurrences(t.dsdt, get32(t.dsdt + 4), "PCI0", 4), 0);
		}
	}
}

static void test_acpi_ncpus_1(void)
{
	check_build(1);
}

static void test_acpi_ncpus_2(void)
{
	check_build(2);
}

static void test_acpi_ncpus_4(void)
{
	check_build(4);
}

static void test_acpi_ncpus_255(void)
{
	check_build(255);
}

static void test_acpi_bad_config(void)
{
	static uint8_t high[0x1000];
	struct guest_mem gm;
	struct acpi_config cfg = { .ncpus = 0 };
	uint64_t rsdp = 0x1234;

	ram_setup(&gm);
	CHECK_EQ(acpi_build(&gm, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = 256;
	CHECK_EQ(acpi_build(&gm, &cfg, &rsdp), -EINVAL);
	CHECK_EQ(acpi_build(&gm, NULL, &rsdp), -EINVAL);
	CHECK_EQ(rsdp, 0x1234);
	/* No RAM where the tables go. */
	memset(&gm, 0, sizeof(gm));
	CHECK_EQ(guest_mem_add(&gm, LAYOUT_HIMEM, sizeof(high), high), 0);
	cfg.ncpus = 1;
	CHECK_EQ(acpi_build(&gm, &cfg, &rsdp), -EFAULT);
	CHECK_EQ(rsdp, 0x1234);
	/* A NULL rsdp_gpa is allowed. */
	ram_setup(&gm);
	CHECK_EQ(acpi_build(&gm, &cfg, NULL), 0);

	/* PCI and virtio-mmio descriptions that do not fit their 16/32-bit ACPI fields. */
	{
		struct acpi_config io;

		io_config(&io, 1, 1);
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), 0);
		io.pci.ecam_base = LAYOUT_PCI_ECAM + 0x1000;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.pci.ecam_base = LAYOUT_4G;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.pci.mmio_base = 0xf0000000;
		io.pci.mmio_size = 0x10000001;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.pci.mmio_size = 0;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.pci.io_size = 0x4001;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.pci.io_base = 0;
		io.pci.io_size = 0x10000; /* length 0x10000 does not fit a WordIO */
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.nvirtio_mmio = ACPI_MAX_VIRTIO_MMIO + 1;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.virtio_mmio[0].base = 0xfffff000;
		io.virtio_mmio[0].size = 0x2000;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		io_config(&io, 1, 1);
		io.virtio_mmio[0].size = 0;
		CHECK_EQ(acpi_build(&gm, &io, &rsdp), -EINVAL);
		CHECK_EQ(rsdp, LAYOUT_ACPI);
	}
}

/* ---- iasl: Debian's ACPICA tools disassemble each table, then recompile it. ---- */

static int iasl_present(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

/* Run iasl with args in dir; its combined output goes to out. Returns the exit status or -1. */
static int iasl_run(const char *dir, const char *args, char *out, size_t outsz)
{
	char cmd[512];
	FILE *p;
	size_t n = 0;
	int st;

	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl %s 2>&1", dir, args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, outsz - 1, p);
	out[n] = 0;
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	n = fwrite(p, 1, len, f);
	return (fclose(f) == 0 && n == len) ? 0 : -1;
}

static long read_file(const char *dir, const char *name, void *buf, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return -1;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return (long)n;
}

static char iasl_out[65536];
static uint8_t file_buf[LAYOUT_ACPI_SIZE];

/*
 * iasl -d must decode the table with no warning (it warns on bad checksums and lengths, and
 * flags bad fields in its output), and recompiling its output (-oa: no optimisations, so the
 * AML is encoded as written) must reproduce our bytes, apart from the checksum and the
 * compiler ID/revision that iasl stamps with its own.
 */
static void iasl_check_table(const char *dir, const char *base, const uint8_t *t, size_t len)
{
	char name[64], args[128];
	long n;
	int rc;

	snprintf(name, sizeof(name), "%s.dat", base);
	CHECK_EQ(write_file(dir, name, t, len), 0);
	snprintf(args, sizeof(args), "-d %s", name);
	rc = iasl_run(dir, args, iasl_out, sizeof(iasl_out));
	CHECK_EQ(rc, 0);
	CHECK(!strcasestr(iasl_out, "error"));
	CHECK(!strcasestr(iasl_out, "warning"));
	CHECK(strstr(iasl_out, "decoded") || strstr(iasl_out, "Disassembly completed"));
	if (rc || strcasestr(iasl_out, "error") || strcasestr(iasl_out, "warning"))
		fprintf(stderr, "  iasl -d %s:\n%s\n", name, iasl_out);

	snprintf(name, sizeof(name), "%s.dsl", base);
	n = read_file(dir, name, file_buf, sizeof(file_buf) - 1);
	CHECK(n > 0);
	if (n > 0) {
		file_buf[n] = 0;
		CHECK(!strstr((char *)file_buf, "Incorrect"));
		CHECK(!strstr((char *)file_buf, "Invalid"));
	}

	snprintf(args, sizeof(args), "-oa %s.dsl", base);
	rc = iasl_run(dir, args, iasl_out, sizeof(iasl_out));
	CHECK_EQ(rc, 0);
	CHECK(strstr(iasl_out, " 0 Errors, 0 Warnings, 0 Remarks"));
	if (rc || !strstr(iasl_out, " 0 Errors, 0 Warnings, 0 Remarks"))
		fprintf(stderr, "  iasl %s:\n%s\n", args, iasl_out);
	snprintf(name, sizeof(name), "%s.aml", base);
	n = read_file(dir, name, file_buf, sizeof(file_buf));
	CHECK_EQ(n, len);
	if (n != (long)len)
		return;
	for (size_t i = 0; i < len; i++) {
		int stamped = len >= 36 && memcmp(t, "FACS", 4) && (i == 9 || (i >= 28 && i < 36));

		if (!stamped && file_buf[i] != t[i]) {
			fprintf(stderr, "  %s: byte %zu is 0x%02x, iasl made 0x%02x\n", base, i,
				t[i], file_buf[i]);
			CHECK(0 && "round trip through iasl differs");
			break;
		}
	}
}

/*
 * This iasl cannot decode a binary RSDP, so go the other way: describe ours in iasl's data table
 * language and let iasl lay it out and compute both checksums; the bytes must match exactly.
 */
static void iasl_check_rsdp(const char *dir, const uint8_t *r)
{
	char src[1024];
	long n;
	int rc;

	snprintf(src, sizeof(src),
		 "[0008] Signature : \"RSD PTR \"\n"
		 "[0001] Checksum : 00\n"
		 "[0006] Oem ID : \"%.6s\"\n"
		 "[0001] Revision : %02X\n"
		 "[0004] RSDT Address : %08X\n"
		 "[0004] Length : %08X\n"
		 "[0008] XSDT Address : %016llX\n"
		 "[0001] Extended Checksum : 00\n"
		 "[0003] Reserved : 000000\n",
		 (const char *)r + 9, r[15], get32(r + 16), get32(r + 20),
		 (unsigned long long)get64(r + 24));
	CHECK_EQ(write_file(dir, "rsdp.asl", src, strlen(src)), 0);
	rc = iasl_run(dir, "rsdp.asl", iasl_out, sizeof(iasl_out));
	CHECK_EQ(rc, 0);
	CHECK(strstr(iasl_out, " 0 Errors, 0 Warnings, 0 Remarks"));
	n = read_file(dir, "rsdp.aml", file_buf, sizeof(file_buf));
	CHECK_EQ(n, 36);
	if (n == 36)
		CHECK(memcmp(file_buf, r, 36) == 0);
}

/* What the disassembly of the PCI / virtio-mmio DSDT and the MCFG must say, in iasl's words. */
static void iasl_check_dsl(const char *dir, const struct acpi_config *cfg, int mcfg)
{
	static const char *const dsdt_want[] = {
		"Device (PCI0)",
		"Name (_HID, EisaId (\"PNP0A08\")",
		"Name (_CID, EisaId (\"PNP0A03\")",
		"Name (_SEG, Zero)",
		"Name (_BBN, Zero)",
		"WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
		"IO (Decode16,",
		"WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,",
		"0xC000,             // Range Minimum",
		"DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, "
		"ReadWrite,",
		"0xCFFFFFFF,         // Range Maximum",
		"Name (_PRT, Package (0x80)",
		"0x001FFFFF,",
		"Device (MBRD)",
		"Name (_HID, EisaId (\"PNP0C02\")",
		"Memory32Fixed (ReadWrite,",
		"0xE0000000,         // Address Base",
	};
	static const char *const mmio_want[] = {
		"Device (VR00)",
		"Name (_HID, \"LNRO0005\")",
		"Memory32Fixed (ReadWrite,",
		"0xD0000000,         // Address Base",
		"Interrupt (ResourceConsumer, Level, ActiveHigh, ",
	};
	static char dsl[LAYOUT_ACPI_SIZE * 8];
	long n;

	n = read_file(dir, "dsdt.dsl", dsl, sizeof(dsl) - 1);
	CHECK(n > 0);
	if (n <= 0)
		return;
	dsl[n] = 0;
	for (unsigned i = 0; cfg->pci.present && i < sizeof(dsdt_want) / sizeof(dsdt_want[0]); i++)
		if (!strstr(dsl, dsdt_want[i])) {
			fprintf(stderr, "  dsdt.dsl lacks: %s\n", dsdt_want[i]);
			CHECK(0 && "DSDT disassembly");
		}
	for (unsigned i = 0; cfg->nvirtio_mmio && i < sizeof(mmio_want) / sizeof(mmio_want[0]); i++)
		if (!strstr(dsl, mmio_want[i])) {
			fprintf(stderr, "  dsdt.dsl lacks: %s\n", mmio_want[i]);
			CHECK(0 && "DSDT disassembly");
		}
	/* io_config gives GSIs 20-23 round robin: from 5 devices on, they are shared. */
	if (cfg->nvirtio_mmio && cfg->nvirtio_mmio <= 4)
		CHECK(strstr(dsl, "Level, ActiveHigh, Exclusive, ,, )") &&
		      !strstr(dsl, "Level, ActiveHigh, Shared, ,, )"));
	if (cfg->nvirtio_mmio > 4)
		CHECK(strstr(dsl, "Level, ActiveHigh, Shared, ,, )") &&
		      !strstr(dsl, "Level, ActiveHigh, Exclusive, ,, )"));
	if (!mcfg)
		return;
	n = read_file(dir, "mcfg.dsl", dsl, sizeof(dsl) - 1);
	CHECK(n > 0);
	if (n <= 0)
		return;
	dsl[n] = 0;
	CHECK(strstr(dsl, "Base Address : 00000000E0000000"));
	CHECK(strstr(dsl, "End Bus Number : 00"));
}

static void iasl_check_config(const struct acpi_config *cfg)
{
	char dir[] = "/tmp/kvmbox-acpi-XXXXXX";
	char cmd[64];
	struct guest_mem gm;
	struct tables t;
	uint64_t rsdp = 0;

	ram_setup(&gm);
	CHECK_EQ(acpi_build(&gm, cfg, &rsdp), 0);
	tables_find(&t, rsdp);
	if (!t.xsdt || !t.fadt || !t.madt || !t.dsdt || !t.facs)
		return;
	if (!mkdtemp(dir)) {
		CHECK(0 && "mkdtemp");
		return;
	}
	iasl_check_rsdp(dir, t.rsdp);
	iasl_check_table(dir, "xsdt", t.xsdt, get32(t.xsdt + 4));
	iasl_check_table(dir, "facp", t.fadt, get32(t.fadt + 4));
	iasl_check_table(dir, "facs", t.facs, get32(t.facs + 4));
	iasl_check_table(dir, "apic", t.madt, get32(t.madt + 4));
	iasl_check_table(dir, "dsdt", t.dsdt, get32(t.dsdt + 4));
	if (t.mcfg)
		iasl_check_table(dir, "mcfg", t.mcfg, get32(t.mcfg + 4));
	iasl_check_dsl(dir, cfg, t.mcfg != NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", dir);
}

static void iasl_check(unsigned ncpus)
{
	struct acpi_config cfg = { .ncpus = ncpus };

	iasl_check_config(&cfg);
}

static void test_acpi_iasl(void)
{
	struct acpi_config cfg;

	iasl_check(1);
	iasl_check(4);
	iasl_check(255);
	io_config(&cfg, 2, 4);
	iasl_check_config(&cfg);
	io_config(&cfg, 255, ACPI_MAX_VIRTIO_MMIO);
	iasl_check_config(&cfg);
	io_config(&cfg, 1, 1);
	cfg.pci.present = false;
	iasl_check_config(&cfg);
}

/* ---- AML emitter ---- */

static void test_aml_encodings(void)
{
	uint8_t buf[64];
	struct aml a;
	static const uint8_t want[] = {
		0x00,						      /* Zero */
		0x01,						      /* One */
		0x0a, 0x02,					      /* Byte */
		0x0b, 0x00, 0x01,				      /* Word */
		0x0c, 0x78, 0x56, 0x34, 0x12,			      /* DWord */
		0x0e, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* QWord */
		0x0d, 'a',  'b',  0x00,				      /* String */
	};

	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x12345678);
	aml_integer(&a, 0x0102030405060708ull);
	aml_string(&a, "ab");
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(a.len, sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);
}

static void test_aml_names(void)
{
	uint8_t buf[64];
	struct aml a;
	static const uint8_t want[] = {
		0x08, 'A',  '_',  '_', '_',  0x00,				   /* Name(A, 0) */
		0x08, 0x5c, '_',  'S', 'B',  '_',  0x00,			   /* \_SB */
		0x08, 0x5c, 0x2e, '_', 'S',  'B',  '_',	 'P', 'C', 'I', '0', 0x00, /* \_SB.PCI0 */
		0x08, 0x5e, 0x2f, 3,   'A',  '_',  '_',	 '_', 'B', '_', '_', '_',
		'C',  '_',  '_',  '_', 0x00,
	};

	aml_init(&a, buf, sizeof(buf));
	aml_name_decl(&a, "A");
	aml_integer(&a, 0);
	aml_name_decl(&a, "\\_SB");
	aml_integer(&a, 0);
	aml_name_decl(&a, "\\_SB.PCI0");
	aml_integer(&a, 0);
	aml_name_decl(&a, "^A.B.C");
	aml_integer(&a, 0);
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(a.len, sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);

	static const char *const bad[] = {
		"", "^", "ABCDE", "a", "1ABC", "A..B", "A.", ".A", "A-B"
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_name_decl(&a, bad[i]);
		CHECK_EQ(aml_finish(&a), -EINVAL);
	}
}

/* PkgLength is 1 byte up to 63 including itself, then 2 bytes (ACPI 20.2.4). */
static void test_aml_pkglength(void)
{
	static uint8_t buf[8192];
	struct aml a;

	/* Package(n) of n Zero elements: content = NumElements byte + n bytes. */
	aml_init(&a, buf, sizeof(buf));
	aml_package_begin(&a, 61);
	for (int i = 0; i < 61; i++)
		aml_integer(&a, 0);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(buf[0], 0x12);
	CHECK_EQ(buf[1], 63); /* 62 bytes of content + itself */
	CHECK_EQ(a.len, 64);

	aml_init(&a, buf, sizeof(buf));
	aml_package_begin(&a, 62);
	for (int i = 0; i < 62; i++)
		aml_integer(&a, 0);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(buf[1], 0x40 | ((63 + 2) & 0xf));
	CHECK_EQ(buf[2], (63 + 2) >> 4);
	CHECK_EQ(a.len, 1 + 2 + 63);

	/* 3-byte PkgLength: a device holding 4100 bytes of names. */
	aml_init(&a, buf, sizeof(buf));
	aml_device_begin(&a, "DEV0");
	for (int i = 0; i < 512; i++) {
		aml_name_decl(&a, "X");	     /* 5 bytes */
		aml_integer(&a, 0x12345678); /* 5 bytes */
	}
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 0);
	{
		size_t content = 4 + 512 * 10, total = content + 3;

		CHECK_EQ(buf[2], 0x80 | (total & 0xf));
		CHECK_EQ(buf[3], (total >> 4) & 0xff);
		CHECK_EQ(buf[4], total >> 12);
		CHECK_EQ(a.len, 2 + total);
	}
}

static void test_aml_resource(void)
{
	uint8_t buf[64];
	struct aml a;
	static const uint8_t want[] = { 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8,
					0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 };

	aml_init(&a, buf, sizeof(buf));
	aml_resource_begin(&a);
	aml_res_io(&a, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(&a, 4);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(a.len, sizeof(want));
	CHECK(memcmp(buf, want, sizeof(want)) == 0);

	aml_init(&a, buf, sizeof(buf));
	aml_eisaid(&a, "PNP0501");
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(a.len, 5);
	CHECK_EQ(get32(buf + 1), 0x0105d041);
}

/* The large descriptors, byte for byte as iasl compiles the matching ASL (ACPI 6.4 6.4.3). */
static void test_aml_resource_large(void)
{
	static const uint8_t bus[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t io[] = { 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00,
				      0x00, 0x10, 0xff, 0x1f, 0x00, 0x00, 0x00, 0x10 };
	static const uint8_t mem[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0xff,
				       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80 };
	static const uint8_t fixed[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x10,
					 0x00, 0xd0, 0x00, 0x02, 0x00, 0x00 };
	static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x01, 0x01, 0x14, 0x00, 0x00, 0x00 };
	uint8_t buf[128];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_resource_begin(&a);
	aml_res_word_bus_number(&a, 0, 0xff);
	aml_res_word_io(&a, 0x1000, 0x1fff);
	aml_res_dword_memory(&a, 0x80000000, 0xffffffff);
	aml_res_memory32_fixed(&a, 0xd0001000, 0x200);
	aml_res_interrupt(&a, 20, false, false, false);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 0);
	/* Buffer, PkgLength (2 bytes), BufferSize (Byte), descriptors, EndTag */
	CHECK_EQ(a.len, 1 + 2 + 2 + sizeof(bus) + sizeof(io) + sizeof(mem) + sizeof(fixed) +
			    sizeof(irq) + 2);
	CHECK(memcmp(buf + 5, bus, sizeof(bus)) == 0);
	CHECK(memcmp(buf + 5 + 16, io, sizeof(io)) == 0);
	CHECK(memcmp(buf + 5 + 32, mem, sizeof(mem)) == 0);
	CHECK(memcmp(buf + 5 + 58, fixed, sizeof(fixed)) == 0);
	CHECK(memcmp(buf + 5 + 70, irq, sizeof(irq)) == 0);

	/* Interrupt flags: edge 0x02, active-low 0x04, shared 0x08, consumer always. */
	aml_init(&a, buf, sizeof(buf));
	aml_resource_begin(&a);
	aml_res_interrupt(&a, 0x12345678, true, true, true);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), 0);
	CHECK_EQ(buf[4 + 3], 0x0f); /* after Buffer, PkgLength, BufferSize */
	CHECK_EQ(get32(buf + 4 + 5), 0x12345678);

	/* Misuse: max below min, a length that does not fit, outside a template. */
	aml_init(&a, buf, sizeof(buf));
	aml_resource_begin(&a);
	aml_res_word_io(&a, 0x2000, 0x1fff);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_resource_begin(&a);
	aml_res_word_io(&a, 0, 0xffff);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_resource_begin(&a);
	aml_res_dword_memory(&a, 0, 0xffffffff);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_res_memory32_fixed(&a, 0, 1);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_res_interrupt(&a, 5, false, false, false);
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_res_word_bus_number(&a, 0, 0);
	CHECK_EQ(aml_finish(&a), -EINVAL);
}

static void test_aml_errors(void)
{
	uint8_t buf[16];
	struct aml a;

	aml_init(&a, buf, sizeof(buf)); /* descriptor outside a resource template */
	aml_res_irq_noflags(&a, 4);
	CHECK_EQ(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf)); /* unbalanced */
	aml_package_begin(&a, 1);
	aml_integer(&a, 0);
	CHECK_EQ(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf)); /* overflow is sticky, and nothing past cap is written */
	for (int i = 0; i < 10; i++)
		aml_integer(&a, 0x12345678);
	CHECK_EQ(aml_finish(&a), -ENOSPC);
	CHECK(a.len <= sizeof(buf));

	aml_init(&a, buf, 7); /* the inserted PkgLength is what overflows */
	aml_package_begin(&a, 1);
	aml_integer(&a, 0x12345678);
	CHECK_EQ(a.err, 0);
	aml_end(&a);
	CHECK_EQ(aml_finish(&a), -ENOSPC);

	aml_init(&a, buf, sizeof(buf));
	aml_eisaid(&a, "pnp0501");
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "a\nb");
	CHECK_EQ(aml_finish(&a), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_package_begin(&a, 256);
	CHECK_EQ(aml_finish(&a), -EINVAL);
}

/* ---- acpi_pm ---- */

struct fake {
	int level;
	unsigned irq_calls;
	unsigned gsi;
	unsigned events[3];
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake *f = opaque;

	f->level = level;
	f->gsi = gsi;
	f->irq_calls++;
}

static void fake_power(void *opaque, enum power_event ev, int status)
{
	struct fake *f = opaque;

	(void)status;
	if ((unsigned)ev < 3)
		f->events[ev]++;
}

static void pm_setup(struct acpi_pm *pm, struct fake *f)
{
	struct irq_line sci = { .set = fake_irq_set, .opaque = f, .gsi = LAYOUT_IRQ_SCI };
	struct power_sink sink = { .event = fake_power, .opaque = f };

	memset(f, 0, sizeof(*f));
	acpi_pm_init(pm, &sci, &sink);
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

static void test_acpi_pm_poweroff(void)
{
	struct acpi_pm pm;
	struct fake f;

	pm_setup(&pm, &f);
	/* Linux writes SLP_TYP first, then SLP_TYP | SLP_EN. */
	pm_write(&pm, ACPI_PM_CNT, 5 << 10, 2);
	CHECK_EQ(f.events[POWER_OFF], 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_CNT, 2), (5 << 10) | 1);
	pm_write(&pm, ACPI_PM_CNT, (5 << 10) | ACPI_PM1_SLP_EN, 2);
	CHECK_EQ(f.events[POWER_OFF], 1);
	CHECK_EQ(f.events[POWER_RESET], 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_CNT, 2) & ACPI_PM1_SLP_EN, 0); /* write-only */
	acpi_pm_destroy(&pm);

	/* The high byte alone holds SLP_TYP and SLP_EN. */
	pm_setup(&pm, &f);
	pm_write(&pm, ACPI_PM_CNT + 1, (5 << 2) | (1 << 5), 1);
	CHECK_EQ(f.events[POWER_OFF], 1);
	acpi_pm_destroy(&pm);

	/* All ones over the whole block is SLP_TYP 7, not S5 (and not the reset value either). */
	{
		uint8_t ones[ACPI_PM_LEN];

		log_set_level(LOG_ERROR);
		memset(ones, 0xff, sizeof(ones));
		pm_setup(&pm, &f);
		acpi_pm_bus_ops.write(&pm, 0, ones, sizeof(ones));
		CHECK_EQ(f.events[POWER_OFF] + f.events[POWER_RESET], 0);
		acpi_pm_destroy(&pm);
		log_set_level(LOG_WARN);
	}
}

static void test_acpi_pm_other_sleep_states(void)
{
	struct acpi_pm pm;
	struct fake f;

	log_set_level(LOG_ERROR); /* the ignored requests are logged */
	pm_setup(&pm, &f);
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == ACPI_PM_SLP_TYP_S5)
			continue;
		pm_write(&pm, ACPI_PM_CNT, (typ << 10) | ACPI_PM1_SLP_EN, 2);
		/* An immediate wake, so the guest does not spin on WAK_STS forever. */
		CHECK(pm_read(&pm, ACPI_PM_STS, 2) & ACPI_PM1_WAK_STS);
		pm_write(&pm, ACPI_PM_STS, ACPI_PM1_WAK_STS, 2);
		CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 2), 0);
	}
	CHECK_EQ(f.events[POWER_OFF] + f.events[POWER_RESET] + f.events[POWER_DEBUG_EXIT], 0);
	CHECK_EQ(f.irq_calls, 0); /* WAK_STS has no enable bit: no SCI */
	acpi_pm_destroy(&pm);
	log_set_level(LOG_WARN);
}

static void test_acpi_pm_sci_en(void)
{
	struct acpi_pm pm;
	struct fake f;

	pm_setup(&pm, &f);
	CHECK_EQ(pm_read(&pm, ACPI_PM_CNT, 2), ACPI_PM1_SCI_EN);
	CHECK_EQ(pm_read(&pm, ACPI_PM_CNT, 1), ACPI_PM1_SCI_EN);
	CHECK_EQ(pm_read(&pm, ACPI_PM_CNT, 4) & 0xffff, ACPI_PM1_SCI_EN);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 4) >> 16, 0); /* PM1_EN in the high half */
	pm_write(&pm, ACPI_PM_CNT, 0, 2);
	CHECK_EQ(pm_read(&pm, ACPI_PM_CNT, 2), ACPI_PM1_SCI_EN);
	acpi_pm_destroy(&pm);
}

static void test_acpi_pm_status_and_sci(void)
{
	struct acpi_pm pm;
	struct fake f;

	pm_setup(&pm, &f);
	acpi_pm_power_button(&pm);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 2), ACPI_PM1_PWRBTN);
	CHECK_EQ(f.irq_calls, 0); /* not enabled */
	pm_write(&pm, ACPI_PM_EN, ACPI_PM1_PWRBTN, 2);
	CHECK_EQ(f.level, 1);
	CHECK_EQ(f.gsi, LAYOUT_IRQ_SCI);
	/* Writing 0 leaves status alone; so does writing 1 to the wrong byte. */
	pm_write(&pm, ACPI_PM_STS, 0, 2);
	pm_write(&pm, ACPI_PM_STS, 0x01, 1);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 2), ACPI_PM1_PWRBTN);
	CHECK_EQ(f.level, 1);
	/* Write-1-to-clear, here by a byte write to the high half. */
	pm_write(&pm, ACPI_PM_STS + 1, ACPI_PM1_PWRBTN >> 8, 1);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 2), 0);
	CHECK_EQ(f.level, 0);
	CHECK_EQ(f.irq_calls, 2);
	/* Press while enabled: the SCI rises at once; disabling lowers it with status still set. */
	acpi_pm_power_button(&pm);
	CHECK_EQ(f.level, 1);
	pm_write(&pm, ACPI_PM_EN, 0, 2);
	CHECK_EQ(f.level, 0);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 2), ACPI_PM1_PWRBTN);
	/* Only implemented enable bits stick. */
	pm_write(&pm, ACPI_PM_EN, 0xffff, 2);
	CHECK_EQ(pm_read(&pm, ACPI_PM_EN, 2), ACPI_PM1_PWRBTN | ACPI_PM1_GBL | ACPI_PM1_TMR);
	/* One 32-bit write clears status and writes the enables together. */
	pm_write(&pm, ACPI_PM_STS, 0x0000ffff, 4);
	CHECK_EQ(pm_read(&pm, ACPI_PM_STS, 4), 0);
	CHECK_EQ(f.level, 0);
	acpi_pm_destroy(&pm);
}

static void test_acpi_pm_timer(void)
{
	struct acpi_pm pm;
	struct fake f;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint32_t t0, t1;

	pm_setup(&pm, &f);
	t0 = pm_read(&pm, ACPI_PM_TMR, 4);
	nanosleep(&ts, NULL);
	t1 = pm_read(&pm, ACPI_PM_TMR, 4);
	/* 20 ms is 71591 ticks at 3.579545 MHz; allow a loaded machine up to a second. */
	CHECK(t1 - t0 >= 71000);
	CHECK(t1 - t0 < ACPI_PM_TMR_HZ);
	pm_write(&pm, ACPI_PM_TMR, 0, 4); /* read-only */
	CHECK(pm_read(&pm, ACPI_PM_TMR, 4) - t1 < ACPI_PM_TMR_HZ);
	CHECK_EQ(f.irq_calls, 0);
	acpi_pm_destroy(&pm);
}

static void test_acpi_pm_reset(void)
{
	struct acpi_pm pm;
	struct fake f;

	pm_setup(&pm, &f);
	pm_write(&pm, ACPI_PM_RESET, 0x02, 1);
	pm_write(&pm, ACPI_PM_RESET - 1, 0x0001, 2); /* value in the byte below */
	CHECK_EQ(f.events[POWER_RESET], 0);
	pm_write(&pm, ACPI_PM_RESET, ACPI_PM_RESET_VALUE, 1);
	CHECK_EQ(f.events[POWER_RESET], 1);
	CHECK_EQ(f.events[POWER_OFF], 0);
	acpi_pm_destroy(&pm);
}

/* Any offset and length, including ones past the block and wrapping 2^64, is defined. */
static void test_acpi_pm_hostile(void)
{
	static const uint64_t bases[] = { 0,	     1,	   0xe,	   0xf,
					  0x10,	     0x11, 0x1000, UINT64_MAX - 3,
					  UINT64_MAX };
	struct acpi_pm pm;
	struct fake f;
	uint8_t buf[40];

	log_set_level(LOG_ERROR);
	pm_setup(&pm, &f);
	for (unsigned b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		for (unsigned len = 0; len <= 32; len++) {
			uint64_t off = bases[b];

			memset(buf, 0xa5, sizeof(buf));
			acpi_pm_bus_ops.read(&pm, off, buf, len);
			for (unsigned i = len; i < sizeof(buf); i++)
				CHECK_EQ(buf[i], 0xa5);
			for (unsigned i = 0; i < len; i++) {
				int inside = off < ACPI_PM_LEN && i < ACPI_PM_LEN - off;

				if (!inside)
					CHECK_EQ(buf[i], 0xff);
				else if (off + i >= 0xd || off + i == 6 || off + i == 7)
					CHECK_EQ(buf[i], 0); /* reserved */
			}
			memset(buf, 0, sizeof(buf));
			acpi_pm_bus_ops.write(&pm, off, buf, len);
			memset(buf, 0xff, sizeof(buf));
			if (off >= ACPI_PM_LEN)
				acpi_pm_bus_ops.write(&pm, off, buf, len); /* lands nowhere */
		}
	}
	/* Nothing above wrote SLP_EN or the reset value inside the block. */
	CHECK_EQ(f.events[POWER_OFF] + f.events[POWER_RESET], 0);
	/* Writes that straddle the end only take effect inside: 0x01 lands on RESET. */
	pm_write(&pm, ACPI_PM_RESET, 0xffffff01, 4);
	CHECK_EQ(f.events[POWER_RESET], 1);
	acpi_pm_destroy(&pm);

	/* No sink and no SCI line: nothing to call, nothing to crash. */
	acpi_pm_init(&pm, NULL, NULL);
	acpi_pm_power_button(&pm);
	pm_write(&pm, ACPI_PM_EN, ACPI_PM1_PWRBTN, 2);
	pm_write(&pm, ACPI_PM_CNT, (5 << 10) | ACPI_PM1_SLP_EN, 2);
	pm_write(&pm, ACPI_PM_RESET, ACPI_PM_RESET_VALUE, 1);
	acpi_pm_destroy(&pm);
	log_set_level(LOG_WARN);
}

static void *pm_stress_thread(void *arg)
{
	struct acpi_pm *pm = arg;

	for (unsigned i = 0; i < 20000; i++) {
		switch (i % 4) {
		case 0:
			acpi_pm_power_button(pm);
			break;
		case 1:
			pm_write(pm, ACPI_PM_STS, ACPI_PM1_PWRBTN, 2);
			break;
		case 2:
			pm_write(pm, ACPI_PM_EN, (i & 8) ? ACPI_PM1_PWRBTN : 0, 2);
			break;
		default:
			(void)pm_read(pm, ACPI_PM_STS, 4);
			break;
		}
	}
	return NULL;
}

/* vCPU threads race on the block: the SCI level must still end up matching STS & EN. */
static void test_acpi_pm_threads(void)
{
	struct acpi_pm pm;
	struct fake f;
	pthread_t th[4];
	uint32_t v;

	pm_setup(&pm, &f);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, pm_stress_thread, &pm), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	v = pm_read(&pm, ACPI_PM_STS, 4);
	CHECK_EQ(f.level, ((v & 0xffff) & (v >> 16)) != 0);
	acpi_pm_destroy(&pm);
}

int main(void)
{
	RUN_TEST(test_acpi_ncpus_1);
	RUN_TEST(test_acpi_ncpus_2);
	RUN_TEST(test_acpi_ncpus_4);
	RUN_TEST(test_acpi_ncpus_255);
	RUN_TEST(test_acpi_bad_config);
	RUN_TEST(test_acpi_pci_virtio_mmio);
	if (iasl_present())
		RUN_TEST(test_acpi_iasl);
	else
		printf("SKIP test_acpi_iasl (iasl not installed: apt-get install acpica-tools)\n");
	RUN_TEST(test_aml_encodings);
	RUN_TEST(test_aml_names);
	RUN_TEST(test_aml_pkglength);
	RUN_TEST(test_aml_resource);
	RUN_TEST(test_aml_resource_large);
	RUN_TEST(test_aml_errors);
	RUN_TEST(test_acpi_pm_poweroff);
	RUN_TEST(test_acpi_pm_other_sleep_states);
	RUN_TEST(test_acpi_pm_sci_en);
	RUN_TEST(test_acpi_pm_status_and_sci);
	RUN_TEST(test_acpi_pm_timer);
	RUN_TEST(test_acpi_pm_reset);
	RUN_TEST(test_acpi_pm_hostile);
	RUN_TEST(test_acpi_pm_threads);
	TEST_EXIT();
}
