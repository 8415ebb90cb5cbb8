/* MP 1.4 table builder: field offsets from the specification, written byte by byte. */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MPTABLE_SPEC_REV 4 /* MP 1.4 */
#define MPTABLE_FPS_LEN 16 /* floating pointer structure: one 16-byte paragraph */
#define MPTABLE_HDR_LEN 44 /* configuration table header */
#define MPTABLE_CPU_LEN 20
#define MPTABLE_BUS_LEN 8
#define MPTABLE_IOAPIC_LEN 8
#define MPTABLE_INT_LEN 8 /* I/O and local interrupt assignment entries */

/* Entry types; the specification wants them in this order. */
#define MPTABLE_TYPE_CPU 0
#define MPTABLE_TYPE_BUS 1
#define MPTABLE_TYPE_IOAPIC 2
#define MPTABLE_TYPE_IOINT 3
#define MPTABLE_TYPE_LINT 4

#define MPTABLE_CPU_EN 0x01
#define MPTABLE_CPU_BP 0x02
#define MPTABLE_IOAPIC_EN 0x01

#define MPTABLE_INT_INT 0
#define MPTABLE_INT_NMI 1
#define MPTABLE_INT_EXTINT 3

/* Interrupt entry flags: polarity in bits 0-1, trigger mode in bits 2-3; 0 = conforms to the bus.
 */
#define MPTABLE_POL_HIGH 0x1
#define MPTABLE_TRIG_LEVEL 0xc

#define MPTABLE_ISA_BUS 0
#define MPTABLE_ISA_IRQS 16
#define MPTABLE_ALL_APICS 0xff

/* KVM's local APIC reports version 0x14, its IOAPIC 0x11. */
#define MPTABLE_LAPIC_VERSION 0x14
#define MPTABLE_IOAPIC_VERSION 0x11

#define MPTABLE_DEFAULT_SIGNATURE 0x600			 /* family 6, model 0, stepping 0 */
#define MPTABLE_DEFAULT_FEATURES ((1u << 0) | (1u << 9)) /* FPU, APIC */

/* ISA IRQ 0 and 2 and the 8259 are the exceptions to "IRQ n on pin n": see mptable_ioint_all. */
#define MPTABLE_PIN_8259 0
#define MPTABLE_PIN_TIMER 2
#define MPTABLE_IRQ_CASCADE 2

/* ExtINT on pin 0, ISA IRQs 0-15 but the cascade, and pins 16-23. */
#define MPTABLE_NR_IOINT (1 + (MPTABLE_ISA_IRQS - 1) + (MPTABLE_IOAPIC_PINS - MPTABLE_ISA_IRQS))
#define MPTABLE_NR_LINT 2

static void mptable_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void mptable_put32(uint8_t *p, uint32_t v)
{
	mptable_put16(p, (uint16_t)v);
	mptable_put16(p + 2, (uint16_t)(v >> 16));
}

static uint8_t mptable_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

size_t mptable_size(unsigned ncpus)
{
	return MPTABLE_FPS_LEN + MPTABLE_HDR_LEN + (size_t)ncpus * MPTABLE_CPU_LEN +
	       MPTABLE_BUS_LEN + MPTABLE_IOAPIC_LEN +
	       (MPTABLE_NR_IOINT + MPTABLE_NR_LINT) * MPTABLE_INT_LEN;
}

static uint8_t *mptable_int(uint8_t *e, uint8_t type, uint8_t int_type, uint16_t flags,
			    uint8_t src_irq, uint8_t dst_apic, uint8_t dst_pin)
{
	e[0] = type;
	e[1] = int_type;
	mptable_put16(e + 2, flags);
	e[4] = MPTABLE_ISA_BUS;
	e[5] = src_irq;
	e[6] = dst_apic;
	e[7] = dst_pin;
	return e + MPTABLE_INT_LEN;
}

/* Always level/active-high: the SCI (as the MADT says) and pins 16-23 (PCI INTx, virtio-mmio). */
#define MPTABLE_LEVEL_ALWAYS ((1u << LAYOUT_IRQ_SCI) | 0x00ff0000u)
/* Pins whose trigger mode is not the caller's to choose, and pins the IOAPIC does not have. */
#define MPTABLE_LEVEL_FIXED                                                                        \
	((1u << MPTABLE_PIN_8259) | (1u << MPTABLE_PIN_TIMER) | ~((1u << MPTABLE_IOAPIC_PINS) - 1))

/*
 * As on PCs and as kvmbox's MADT and GSI routing say: the 8259's output on pin 0, the PIT (ISA IRQ
 * 0) on pin 2, the cascade IRQ 2 nowhere, every other ISA IRQ on its own pin with the bus's
 * conforming flags unless it is a level pin. Pins 16-23 are listed as ISA IRQs 16-23: Linux then
 * numbers them IRQ 16-23, the numbers virtio_mmio.device= gives it.
 */
static uint8_t *mptable_ioint_all(uint8_t *e, uint8_t ioapic_id, uint32_t level_pins)
{
	e = mptable_int(e, MPTABLE_TYPE_IOINT, MPTABLE_INT_EXTINT, 0, 0, ioapic_id,
			MPTABLE_PIN_8259);
	for (unsigned irq = 0; irq < MPTABLE_IOAPIC_PINS; irq++) {
		uint16_t flags = 0;
		unsigned pin = irq;

		if (irq == MPTABLE_IRQ_CASCADE)
			continue;
		if (irq == 0)
			pin = MPTABLE_PIN_TIMER;
		if (level_pins & (1u << pin))
			flags = MPTABLE_TRIG_LEVEL | MPTABLE_POL_HIGH;
		e = mptable_int(e, MPTABLE_TYPE_IOINT, MPTABLE_INT_INT, flags, (uint8_t)irq,
				ioapic_id, (uint8_t)pin);
	}
	return e;
}

static void mptable_build(uint8_t *buf, uint64_t gpa, const struct mptable_config *cfg)
{
	uint32_t sig = cfg->cpu_signature ? cfg->cpu_signature : MPTABLE_DEFAULT_SIGNATURE;
	uint32_t features = cfg->cpu_features ? cfg->cpu_features : MPTABLE_DEFAULT_FEATURES;
	uint8_t ioapic_id = (uint8_t)cfg->ncpus;
	uint8_t *fps = buf, *hdr = buf + MPTABLE_FPS_LEN;
	uint8_t *e = hdr + MPTABLE_HDR_LEN;
	size_t table_len = mptable_size(cfg->ncpus) - MPTABLE_FPS_LEN;
	unsigned nentries = cfg->ncpus + 2 + MPTABLE_NR_IOINT + MPTABLE_NR_LINT;

	for (unsigned i = 0; i < cfg->ncpus; i++, e += MPTABLE_CPU_LEN) {
		e[0] = MPTABLE_TYPE_CPU;
		e[1] = (uint8_t)i; /* APIC ID = vCPU index, as cpu.c and the MADT have it */
		e[2] = MPTABLE_LAPIC_VERSION;
		e[3] = MPTABLE_CPU_EN | (i == 0 ? MPTABLE_CPU_BP : 0);
		mptable_put32(e + 4, sig);
		mptable_put32(e + 8, features);
	}
	e[0] = MPTABLE_TYPE_BUS;
	e[1] = MPTABLE_ISA_BUS;
	memcpy(e + 2, "ISA   ", 6);
	e += MPTABLE_BUS_LEN;

	e[0] = MPTABLE_TYPE_IOAPIC;
	e[1] = ioapic_id;
	e[2] = MPTABLE_IOAPIC_VERSION;
	e[3] = MPTABLE_IOAPIC_EN;
	mptable_put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
	e += MPTABLE_IOAPIC_LEN;

	e = mptable_ioint_all(e, ioapic_id, cfg->level_pins | MPTABLE_LEVEL_ALWAYS);
	/* Virtual wire mode: the 8259 reaches the BSP's LINT0; LINT1 is NMI on every CPU. */
	e = mptable_int(e, MPTABLE_TYPE_LINT, MPTABLE_INT_EXTINT, 0, 0, 0, 0);
	mptable_int(e, MPTABLE_TYPE_LINT, MPTABLE_INT_NMI, 0, 0, MPTABLE_ALL_APICS, 1);

	memcpy(hdr, "PCMP", 4);
	mptable_put16(hdr + 4, (uint16_t)table_len);
	hdr[6] = MPTABLE_SPEC_REV;
	memcpy(hdr + 8, "KVMBOX  ", 8);
	memcpy(hdr + 16, "KVMBOX MP   ", 12);
	/* OEM table pointer and size (28, 32) stay 0: there is none. */
	mptable_put16(hdr + 34, (uint16_t)nentries);
	mptable_put32(hdr + 36, (uint32_t)LAYOUT_LAPIC);
	/* Extended table length and checksum (40, 42) stay 0: no extended entries. */
	hdr[7] = mptable_checksum(hdr, table_len);

	memcpy(fps, "_MP_", 4);
	mptable_put32(fps + 4, (uint32_t)(gpa + MPTABLE_FPS_LEN));
	fps[8] = 1; /* length in paragraphs */
	fps[9] = MPTABLE_SPEC_REV;
	/* Feature bytes 1-5 (11-15) stay 0: a configuration table is present, no IMCR (so the
	 * guest uses virtual wire mode, which is what KVM's in-kernel irqchip wires). */
	fps[10] = mptable_checksum(fps, MPTABLE_FPS_LEN);
}

int mptable_write(const struct guest_mem *gm, uint64_t gpa, uint64_t max_len,
		  const struct mptable_config *cfg)
{
	size_t size;
	uint8_t *buf;
	int ret;

	if (!cfg->ncpus || (cfg->level_pins & MPTABLE_LEVEL_FIXED))
		return -EINVAL;
	if (cfg->ncpus > MPTABLE_MAX_CPUS)
		return -E2BIG;
	size = mptable_size(cfg->ncpus);
	/* The physical pointer and the guest's scan are 32-bit; Linux scans in 16-byte steps. */
	if ((gpa & 15) || gpa >= LAYOUT_4G || size > LAYOUT_4G - gpa)
		return -EINVAL;
	if (size > max_len)
		return -ENOSPC;
	buf = calloc(1, size);
	if (!buf)
		return -ENOMEM;
	mptable_build(buf, gpa, cfg);
	ret = guest_mem_write(gm, gpa, buf, size);
	free(buf);
	return ret;
}
