/* libFuzzer target: config space through ports 0xcf8/0xcfc and ECAM, BARs, INTx and MSI-X. */
#include "bus.h"
#include "log.h"
#include "pci/msix.h"
#include "pci/pci.h"

#include <stdlib.h>
#include <string.h>

#define ECAM 0xe0000000ull
#define WIN 0xc0000000ull

static int fuzz_level, fuzz_redundant;

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	if (level == fuzz_level)
		fuzz_redundant = 1; /* the model promises to drive the line only on a change */
	fuzz_level = level;
}

static void fuzz_bar_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct msix *m = opaque;

	if (off < 0x400)
		msix_table_read(m, off, data, len);
	else if (off >= 0x800)
		msix_pba_read(m, off - 0x800, data, len);
}

static void fuzz_bar_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct msix *m = opaque;

	if (off < 0x400)
		msix_table_write(m, off, data, len);
}

static const struct bus_ops fuzz_bar_ops = { .read = fuzz_bar_read, .write = fuzz_bar_write };

static void fuzz_sink_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	(void)opaque;
	(void)addr;
	(void)data;
	(void)masked;
	if (vec >= 8)
		abort();
}

static void fuzz_sink_signal(void *opaque, unsigned vec)
{
	struct msix *m = opaque;

	/* Only an enabled function with the vector unmasked may deliver. */
	if (vec >= 8 || !m->enabled || m->func_masked || (m->table[vec].ctrl & 1))
		abort();
}

static void fuzz_written(struct pci_dev *dev, uint32_t off, unsigned len)
{
	msix_config_written(dev->opaque, off, len);
}

/*
 * Each op is 5 bytes: kind (low 3 bits), width (next 2) and read/write (bit 5); a 24-bit
 * offset; an 8-bit value repeated over a write (CONFIG_ADDRESS is built from offset and value).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct irq_line intx[4];
	struct bus pio, mmio;
	struct pci_bus pci;
	struct pci_dev dev;
	struct msix m;
	struct msi_sink sink = { fuzz_sink_update, fuzz_sink_signal, &m };
	uint8_t cap[8] = { PCI_CAP_ID_VNDR, 0, 8, 1, 2, 3, 4, 5 }, buf[16], wm = 0xff;
	uint64_t bar_addr[3];

	log_set_level(LOG_ERROR);
	fuzz_level = fuzz_redundant = 0;
	for (unsigned i = 0; i < 4; i++)
		intx[i] = (struct irq_line){ .set = fuzz_irq_set, .gsi = 16 + i };
	bus_init(&pio, "pio", 0xff);
	bus_init(&mmio, "mmio", 0);
	pci_dev_init(&dev, "fuzz", 0x1af4, 0x1044, 0x00ff00, 1, 0x1af4, 0x1100);
	dev.opaque = &m;
	dev.config_written = fuzz_written;
	if (pci_bus_init(&pci, &pio, &mmio, ECAM, WIN, 0x10000000, intx) ||
	    pci_dev_add_bar(&dev, 0, 0x1000, false, &fuzz_bar_ops, &m) ||
	    pci_dev_add_bar(&dev, 1, 0x20, true, &fuzz_bar_ops, &m) ||
	    pci_dev_add_bar(&dev, 5, 0x10000, false, &fuzz_bar_ops, &m) ||
	    pci_dev_add_cap(&dev, cap, sizeof(cap), NULL) ||
	    msix_init(&m, &dev, 8, 0, 0, 0x800, &sink))
		abort();
	pci_dev_set_wmask(&dev, PCI_CAP_START + 7, &wm, 1);
	if (pci_bus_add(&pci, &dev))
		abort();
	bar_addr[0] = dev.bars[0].addr;
	bar_addr[1] = dev.bars[1].addr;
	bar_addr[2] = dev.bars[5].addr;
	for (size_t i = 0; i + 5 <= size; i += 5) {
		uint8_t op = data[i], val = data[i + 4];
		uint32_t off = data[i + 1] | data[i + 2] << 8 | (uint32_t)data[i + 3] << 16;
		unsigned len = lens[(op >> 3) & 3];
		bool read = (op & 0x20) && (op & 7) >= 1 && (op & 7) <= 5; /* an access kind */

		memset(buf, read ? 0xa5 : val, sizeof(buf));
		switch (op & 7) {
		case 0: { /* CONFIG_ADDRESS: mostly enabled, bus 0, slot 0 or 1 */
			uint32_t a = off | (uint32_t)val << 24;

			if (!(val & 1))
				a |= 0x80000000u;
			if (!(val & 2))
				a &= ~0x00ff0000u;
			if (!(val & 4))
				a = (a & ~0xf800u) | (val >> 7) << 11;
			memcpy(buf, &a, 4);
			bus_write(&pio, 0xcf8, buf, 4);
			break;
		}
		case 1:
		case 2:
			if (read)
				bus_read(&pio, 0xcf8 + (off & 7), buf, len);
			else
				bus_write(&pio, 0xcf8 + (off & 7), buf, len);
			break;
		case 3:
		case 4: /* ECAM: slot 0 or 1 mostly, any register */
			off %= 0x100000;
			if (!(val & 0x80))
				off &= 0xfff | (1u << 15);
			if (read)
				bus_read(&mmio, ECAM + off, buf, len);
			else
				bus_write(&mmio, ECAM + off, buf, len);
			break;
		case 5: /* the BARs, through the decode gate */
			off = (off & 0x3ffff) % 0x12000;
			if (off >= 0x11000)
				off = (uint32_t)bar_addr[1] + (off & 0x1f);
			else
				off = (uint32_t)(off < 0x1000 ? bar_addr[0] + off
							      : bar_addr[2] + off - 0x1000);
			if (off < 0x10000 && read)
				bus_read(&pio, off, buf, len);
			else if (off < 0x10000)
				bus_write(&pio, off, buf, len);
			else if (read)
				bus_read(&mmio, off, buf, len);
			else
				bus_write(&mmio, off, buf, len);
			break;
		case 6:
			pci_dev_set_intx(&dev, val & 1);
			break;
		default:
			msix_notify(&m, val % 10);
			break;
		}
		if (read)
			for (unsigned j = len; j < sizeof(buf); j++)
				if (buf[j] != 0xa5)
					abort(); /* wrote past the access */
		if (fuzz_redundant ||
		    fuzz_level != (dev.intx_level && !(dev.cfg[PCI_COMMAND + 1] & 0x4)))
			abort();
		/* Identity is read-only and BARs never move. */
		if (dev.cfg[0] != 0xf4 || dev.cfg[1] != 0x1a || dev.cfg[2] != 0x44 ||
		    pci.host_bridge.cfg[0] != 0x86 || dev.bars[0].addr != bar_addr[0] ||
		    dev.bars[1].addr != bar_addr[1] || dev.bars[5].addr != bar_addr[2] ||
		    dev.cfg[PCI_BAR0 + 8] || (m.pba >> 8) || dev.cfg[PCI_CAPABILITY_LIST] != 0x40)
			abort();
	}
	msix_cleanup(&m);
	pci_dev_cleanup(&dev);
	pci_bus_cleanup(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	return 0;
}
