/* ACPI table builder: ACPI 6.4 field offsets, written byte by byte (no packed structs). */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "dev/acpi_pm.h"
#include "dev/rtc.h"
#include "pci/pci.h"

#define ACPI_OEM_ID "KVMBOX"
#define ACPI_OEM_TABLE_ID "KVMBOX  "
#define ACPI_CREATOR_ID "KVMB"

#define ACPI_HDR_LEN 36
#define ACPI_RSDP_LEN 36
#define ACPI_FACS_LEN 64
#define ACPI_FADT_LEN 276   /* revision 6 */
#define ACPI_XSDT_ENTRIES 3 /* FADT, MADT, MCFG; the FADT points at DSDT and FACS */
#define ACPI_MCFG_LEN (ACPI_HDR_LEN + 8 + 16) /* one allocation: segment 0, bus 0 */

/* Where each table goes, relative to LAYOUT_ACPI. The DSDT is last: it is the one that grows. */
#define ACPI_OFF_RSDP 0x0
#define ACPI_OFF_FACS 0x40 /* the FACS must be 64-byte aligned */
#define ACPI_OFF_XSDT 0x80

/* FADT flags (5.2.9, table 5.10) */
#define ACPI_FADT_WBINVD (1u << 0)
#define ACPI_FADT_PROC_C1 (1u << 2)
#define ACPI_FADT_SLP_BUTTON (1u << 5) /* set: no fixed-feature sleep button */
#define ACPI_FADT_FIX_RTC (1u << 6)    /* set: no RTC_STS in PM1 */
#define ACPI_FADT_TMR_VAL_EXT (1u << 8)
#define ACPI_FADT_RESET_REG_SUP (1u << 10)

/* FADT IAPC_BOOT_ARCH */
#define ACPI_BOOT_LEGACY_DEVICES (1u << 0)
#define ACPI_BOOT_8042 (1u << 1)
#define ACPI_BOOT_NO_VGA (1u << 2)

/* MADT (5.2.12) */
#define ACPI_MADT_PCAT_COMPAT 1u
#define ACPI_MADT_LAPIC 0
#define ACPI_MADT_IOAPIC 1
#define ACPI_MADT_ISO 2
#define ACPI_MADT_LAPIC_NMI 4
#define ACPI_MADT_POLARITY_HIGH 0x1
#define ACPI_MADT_TRIGGER_LEVEL 0xc
#define ACPI_MADT_ALL_CPUS 0xff

/* Generic Address Structure */
#define ACPI_GAS_IO 1
#define ACPI_GAS_BYTE 1
#define ACPI_GAS_WORD 2
#define ACPI_GAS_DWORD 3

static void acpi_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void acpi_put32(uint8_t *p, uint32_t v)
{
	acpi_put16(p, (uint16_t)v);
	acpi_put16(p + 2, (uint16_t)(v >> 16));
}

static void acpi_put64(uint8_t *p, uint64_t v)
{
	acpi_put32(p, (uint32_t)v);
	acpi_put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t acpi_sum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

/* Fill the byte at csum so that the len bytes from p sum to zero. */
static void acpi_checksum(uint8_t *p, size_t len, uint8_t *csum)
{
	*csum = 0;
	*csum = (uint8_t)-acpi_sum(p, len);
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	acpi_put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	acpi_put32(t + 24, 1); /* OEM revision */
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	acpi_put32(t + 32, 1); /* creator revision */
}

/* Header plus checksum, once the body is in place. */
static void acpi_finish_table(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	acpi_header(t, sig, len, rev);
	acpi_checksum(t, len, t + 9);
}

static void acpi_gas_io(uint8_t *p, uint16_t port, uint8_t bits, uint8_t access)
{
	p[0] = ACPI_GAS_IO;
	p[1] = bits;
	p[2] = 0; /* bit offset */
	p[3] = access;
	acpi_put64(p + 4, port);
}

static size_t acpi_align(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void acpi_build_rsdp(uint8_t *t, uint64_t xsdt)
{
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, ACPI_OEM_ID, 6);
	t[15] = 2; /* ACPI 2.0+: use the XSDT; RsdtAddress stays 0 */
	acpi_put32(t + 20, ACPI_RSDP_LEN);
	acpi_put64(t + 24, xsdt);
	acpi_checksum(t, 20, t + 8); /* the ACPI 1.0 part */
	acpi_checksum(t, ACPI_RSDP_LEN, t + 32);
}

static void acpi_build_facs(uint8_t *t)
{
	/* Required without HW_REDUCED_ACPI; no S4BIOS, no 64-bit wake: all zeroes but these. */
	memcpy(t, "FACS", 4);
	acpi_put32(t + 4, ACPI_FACS_LEN);
	t[32] = 2; /* version */
}

static void acpi_build_xsdt(uint8_t *t, const uint64_t *entries, unsigned n)
{
	uint32_t len = ACPI_HDR_LEN + 8 * n;

	for (unsigned i = 0; i < n; i++)
		acpi_put64(t + ACPI_HDR_LEN + 8 * i, entries[i]);
	acpi_finish_table(t, "XSDT", len, 1);
}

static void acpi_build_fadt(uint8_t *t, uint64_t facs, uint64_t dsdt)
{
	const uint16_t pm = LAYOUT_PORT_ACPI_PM;

	/* 32-bit and X_ fields agree (ACPICA warns otherwise); all tables are below 1 MiB. */
	acpi_put32(t + 36, (uint32_t)facs);
	acpi_put32(t + 40, (uint32_t)dsdt);
	acpi_put16(t + 46, LAYOUT_IRQ_SCI);
	/* SMI_CMD (48), ACPI_ENABLE/DISABLE stay 0: no SMM, ACPI mode is always on (SCI_EN = 1). */
	acpi_put32(t + 56, pm + ACPI_PM_STS);
	acpi_put32(t + 64, pm + ACPI_PM_CNT);
	acpi_put32(t + 76, pm + ACPI_PM_TMR);
	t[88] = ACPI_PM_EVT_LEN;
	t[89] = ACPI_PM_CNT_LEN;
	t[91] = ACPI_PM_TMR_LEN;
	/* Latencies above 100 / 1000 us mean "no C2 / no C3": idle is HLT (C1) only. */
	acpi_put16(t + 96, 0x0fff);
	acpi_put16(t + 98, 0x0fff);
	t[108] = RTC_REG_CENTURY; /* the OS reads the century from CMOS instead of guessing */
	/*
	 * The i8042 is emulated and the OS should probe it; there is no VGA to poke.
	 * LEGACY_DEVICES: COM1 and the RTC are ISA devices. MSI is supported (the "MSI not
	 * supported" bit is clear).
	 */
	acpi_put16(t + 109, ACPI_BOOT_LEGACY_DEVICES | ACPI_BOOT_8042 | ACPI_BOOT_NO_VGA);
	/*
	 * PWR_BUTTON clear: the power button is the fixed-feature one in PM1
	 * (acpi_pm_power_button). The RTC alarm has no status bit in PM1, hence FIX_RTC.
	 */
	acpi_put32(t + 112, ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_SLP_BUTTON |
				ACPI_FADT_FIX_RTC | ACPI_FADT_TMR_VAL_EXT |
				ACPI_FADT_RESET_REG_SUP);
	/* The reset register is in the PM block, not at 0xcf9, clear of the PCI config ports. */
	acpi_gas_io(t + 116, pm + ACPI_PM_RESET, 8, ACPI_GAS_BYTE);
	t[128] = ACPI_PM_RESET_VALUE;
	t[131] = 0; /* FADT minor version: 6.0 */
	acpi_put64(t + 132, facs);
	acpi_put64(t + 140, dsdt);
	acpi_gas_io(t + 148, pm + ACPI_PM_STS, 8 * ACPI_PM_EVT_LEN, ACPI_GAS_WORD);
	acpi_gas_io(t + 172, pm + ACPI_PM_CNT, 8 * ACPI_PM_CNT_LEN, ACPI_GAS_WORD);
	acpi_gas_io(t + 208, pm + ACPI_PM_TMR, 8 * ACPI_PM_TMR_LEN, ACPI_GAS_DWORD);
	memcpy(t + 268, "KVMBOX\0\0", 8); /* hypervisor vendor identity */
	acpi_finish_table(t, "FACP", ACPI_FADT_LEN, 6);
}

static size_t acpi_madt_len(unsigned ncpus)
{
	return ACPI_HDR_LEN + 8 + 8 * (size_t)ncpus + 12 + 2 * 10 + 6;
}

static uint8_t *acpi_madt_iso(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = ACPI_MADT_ISO;
	e[1] = 10;
	e[2] = 0; /* bus: ISA */
	e[3] = irq;
	acpi_put32(e + 4, gsi);
	acpi_put16(e + 8, flags);
	return e + 10;
}

static void acpi_build_madt(uint8_t *t, unsigned ncpus)
{
	uint8_t *e = t + ACPI_HDR_LEN + 8;

	acpi_put32(t + 36, (uint32_t)LAYOUT_LAPIC);
	acpi_put32(t + 40, ACPI_MADT_PCAT_COMPAT); /* KVM's in-kernel irqchip has the dual 8259 */
	for (unsigned i = 0; i < ncpus; i++, e += 8) {
		e[0] = ACPI_MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i;    /* ACPI processor UID: the _UID of \_SB.Cxxx in the DSDT */
		e[3] = (uint8_t)i;    /* APIC ID */
		acpi_put32(e + 4, 1); /* enabled */
	}
	/*
	 * IOAPIC ID 0, not ncpus: KVM's IOAPIC ID register resets to 0 and is only 4 bits wide, and
	 * since the xAPIC (system-bus delivery) IOAPIC IDs need not differ from local APIC IDs.
	 */
	e[0] = ACPI_MADT_IOAPIC;
	e[1] = 12;
	e[2] = 0;
	e[3] = 0;
	acpi_put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
	acpi_put32(e + 8, 0); /* GSI base */
	e += 12;
	/* KVM wires the PIT to IOAPIC pin 2 (pin 0 is the 8259's ExtINT), like PC chipsets. */
	e = acpi_madt_iso(e, 0, 2, 0);
	e = acpi_madt_iso(e, LAYOUT_IRQ_SCI, LAYOUT_IRQ_SCI,
			  ACPI_MADT_POLARITY_HIGH | ACPI_MADT_TRIGGER_LEVEL);
	/* LINT1 is the NMI input on PC boards; the OS programs the LVT from this entry. */
	e[0] = ACPI_MADT_LAPIC_NMI;
	e[1] = 6;
	e[2] = ACPI_MADT_ALL_CPUS;
	acpi_put16(e + 3, 0); /* flags: conforms to the bus */
	e[5] = 1;	      /* LINT1 */
	acpi_finish_table(t, "APIC", (uint32_t)acpi_madt_len(ncpus), 5);
}

/* PCI Firmware Specification 3.0, 4.1.2: where the ECAM of segment 0, bus 0 is. */
static void acpi_build_mcfg(uint8_t *t, uint64_t ecam_base)
{
	uint8_t *e = t + ACPI_HDR_LEN + 8; /* after 8 reserved bytes */

	acpi_put64(e, ecam_base);
	acpi_put16(e + 8, 0); /* PCI segment group */
	e[10] = 0;	      /* start bus */
	e[11] = 0;	      /* end bus: pci/pci.c models bus 0 only */
	acpi_finish_table(t, "MCFG", ACPI_MCFG_LEN, 1);
}

static void acpi_dsdt_name_int(struct aml *a, const char *name, uint64_t v)
{
	aml_name_decl(a, name);
	aml_integer(a, v);
}

/*
 * \_SB.PCI0: a PCI Express root bridge (Linux then uses the MCFG) for segment 0, bus 0.
 * _CRS lists what it decodes: the bus number, the config ports (consumed), and the windows
 * BARs are placed in. _PRT uses the GSI form (source 0): Linux then programs each GSI
 * level-triggered, active-low, which is what a shared PCI INTx line is.
 */
static void acpi_dsdt_pci(struct aml *a, const struct acpi_pci *pci)
{
	aml_device_begin(a, "PCI0");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name_decl(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	acpi_dsdt_name_int(a, "_SEG", 0);
	acpi_dsdt_name_int(a, "_BBN", 0);
	acpi_dsdt_name_int(a, "_UID", 0);
	aml_name_decl(a, "_CRS");
	aml_resource_begin(a);
	aml_res_word_bus_number(a, 0, 0);
	aml_res_io(a, 0xcf8, 0xcf8, 1, 8);
	aml_res_word_io(a, (uint16_t)pci->io_base, (uint16_t)(pci->io_base + pci->io_size - 1));
	aml_res_dword_memory(a, (uint32_t)pci->mmio_base,
			     (uint32_t)(pci->mmio_base + pci->mmio_size - 1));
	aml_end(a);
	aml_name_decl(a, "_PRT");
	aml_package_begin(a, PCI_MAX_SLOTS * 4);
	for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			aml_package_begin(a, 4);
			aml_integer(a, (uint64_t)slot << 16 | 0xffff); /* any function */
			aml_integer(a, pin);
			aml_integer(a, 0); /* source: none, the next field is a GSI */
			aml_integer(a, pci->intx_gsi[pci_bus_intx_pin_index(slot, pin)]);
			aml_end(a);
		}
	}
	aml_end(a);
	aml_end(a);

	/* Linux uses an MCFG area only if a motherboard resource (or the e820 map) reserves it. */
	aml_device_begin(a, "MBRD");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0C02");
	acpi_dsdt_name_int(a, "_UID", 0);
	aml_name_decl(a, "_CRS");
	aml_resource_begin(a);
	aml_res_memory32_fixed(a, (uint32_t)pci->ecam_base, (uint32_t)ACPI_PCI_ECAM_SIZE);
	aml_end(a);
	aml_end(a);
}

static void acpi_dsdt_virtio_mmio(struct aml *a, const struct acpi_config *cfg)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = "VR00";

	for (unsigned i = 0; i < cfg->nvirtio_mmio; i++) {
		const struct acpi_virtio_mmio *d = &cfg->virtio_mmio[i];
		bool shared = false;

		/* Exclusive unless another device of the list was given the same GSI. */
		for (unsigned j = 0; j < cfg->nvirtio_mmio; j++)
			shared |= j != i && cfg->virtio_mmio[j].gsi == d->gsi;
		name[2] = hex[(i >> 4) & 0xf];
		name[3] = hex[i & 0xf];
		aml_device_begin(a, name);
		aml_name_decl(a, "_HID");
		aml_string(a, "LNRO0005");
		acpi_dsdt_name_int(a, "_UID", i);
		aml_name_decl(a, "_CRS");
		aml_resource_begin(a);
		aml_res_memory32_fixed(a, (uint32_t)d->base, (uint32_t)d->size);
		aml_res_interrupt(a, d->gsi, false, false, shared);
		aml_end(a);
		aml_end(a);
	}
}

static void acpi_dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	const unsigned ncpus = cfg->ncpus;
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = "C000";

	/* SLP_TYPa, SLP_TYPb, reserved, reserved: what the OS writes to PM1_CNT for soft-off. */
	aml_name_decl(a, "_S5_");
	aml_package_begin(a, 4);
	aml_integer(a, ACPI_PM_SLP_TYP_S5);
	aml_integer(a, ACPI_PM_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);

	aml_scope_begin(a, "\\_SB");
	/* Processor devices let the OS's ACPI processor driver bind; _UID matches the MADT UID. */
	for (unsigned i = 0; i < ncpus; i++) {
		name[2] = hex[(i >> 4) & 0xf]; /* i < 256 */
		name[3] = hex[i & 0xf];
		aml_device_begin(a, name);
		aml_name_decl(a, "_HID");
		aml_string(a, "ACPI0007");
		aml_name_decl(a, "_UID");
		aml_integer(a, i);
		aml_end(a);
	}

	aml_device_begin(a, "COM1");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name_decl(a, "_UID");
	aml_integer(a, 0);
	aml_name_decl(a, "_CRS");
	aml_resource_begin(a);
	aml_res_io(a, LAYOUT_PORT_COM1, LAYOUT_PORT_COM1, 0, 8);
	aml_res_irq_noflags(a, LAYOUT_IRQ_COM1);
	aml_end(a);
	aml_end(a);

	if (cfg->pci.present)
		acpi_dsdt_pci(a, &cfg->pci);
	acpi_dsdt_virtio_mmio(a, cfg);
	aml_end(a);
}

static int acpi_build_dsdt(uint8_t *t, size_t room, const struct acpi_config *cfg, size_t *len)
{
	struct aml a;
	int err;

	if (room < ACPI_HDR_LEN)
		return -ENOSPC;
	aml_init(&a, t + ACPI_HDR_LEN, room - ACPI_HDR_LEN);
	acpi_dsdt_body(&a, cfg);
	err = aml_finish(&a);
	if (err)
		return err;
	*len = ACPI_HDR_LEN + a.len;
	/* Revision 2: AML integers are 64 bits. */
	acpi_finish_table(t, "DSDT", (uint32_t)*len, 2);
	return 0;
}

/* Everything the DSDT encodes in 16- and 32-bit fields must fit them. */
static bool acpi_config_ok(const struct acpi_config *cfg)
{
	const struct acpi_pci *pci = &cfg->pci;

	if (cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS ||
	    cfg->nvirtio_mmio > ACPI_MAX_VIRTIO_MMIO)
		return false;
	if (pci->present &&
	    ((pci->ecam_base & (ACPI_PCI_ECAM_SIZE - 1)) ||
	     pci->ecam_base > LAYOUT_4G - ACPI_PCI_ECAM_SIZE || !pci->mmio_size ||
	     pci->mmio_base >= LAYOUT_4G || pci->mmio_size > LAYOUT_4G - pci->mmio_base ||
	     !pci->io_size || pci->io_base > 0x10000 || pci->io_size > 0x10000 - pci->io_base))
		return false;
	for (unsigned i = 0; i < cfg->nvirtio_mmio; i++) {
		const struct acpi_virtio_mmio *d = &cfg->virtio_mmio[i];

		if (!d->size || d->base >= LAYOUT_4G || d->size > LAYOUT_4G - d->base)
			return false;
	}
	return true;
}

int acpi_build(const struct guest_mem *gm, const struct acpi_config *cfg, uint64_t *rsdp_gpa)
{
	const size_t size = LAYOUT_ACPI_SIZE;
	size_t fadt, madt, mcfg, dsdt, dsdt_len, end;
	uint64_t xsdt_entries[ACPI_XSDT_ENTRIES];
	unsigned nxsdt = 0;
	uint8_t *buf;
	int err;

	if (!cfg || !acpi_config_ok(cfg))
		return -EINVAL;
	fadt = acpi_align(ACPI_OFF_XSDT + ACPI_HDR_LEN + 8 * ACPI_XSDT_ENTRIES, 16);
	madt = acpi_align(fadt + ACPI_FADT_LEN, 16);
	mcfg = acpi_align(madt + acpi_madt_len(cfg->ncpus), 16);
	dsdt = acpi_align(mcfg + (cfg->pci.present ? ACPI_MCFG_LEN : 0), 16);
	if (dsdt > size)
		return -ENOSPC;
	/* Built privately, then copied in one go: the guest never holds half-written tables. */
	buf = calloc(1, size);
	if (!buf)
		return -ENOMEM;
	err = acpi_build_dsdt(buf + dsdt, size - dsdt, cfg, &dsdt_len);
	if (err)
		goto out;
	end = dsdt + dsdt_len;

	acpi_build_facs(buf + ACPI_OFF_FACS);
	acpi_build_fadt(buf + fadt, LAYOUT_ACPI + ACPI_OFF_FACS, LAYOUT_ACPI + dsdt);
	acpi_build_madt(buf + madt, cfg->ncpus);
	xsdt_entries[nxsdt++] = LAYOUT_ACPI + fadt;
	xsdt_entries[nxsdt++] = LAYOUT_ACPI + madt;
	if (cfg->pci.present) {
		acpi_build_mcfg(buf + mcfg, cfg->pci.ecam_base);
		xsdt_entries[nxsdt++] = LAYOUT_ACPI + mcfg;
	}
	acpi_build_xsdt(buf + ACPI_OFF_XSDT, xsdt_entries, nxsdt);
	acpi_build_rsdp(buf + ACPI_OFF_RSDP, LAYOUT_ACPI + ACPI_OFF_XSDT);

	/* Only the bytes in use: the rest of the BIOS area may hold other boot data. */
	err = guest_mem_write(gm, LAYOUT_ACPI, buf, end);
	if (err)
		goto out;
	if (rsdp_gpa)
		*rsdp_gpa = LAYOUT_ACPI + ACPI_OFF_RSDP;
out:
	free(buf);
	return err;
}
