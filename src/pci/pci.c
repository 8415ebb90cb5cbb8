/* PCI bus 0: config space model, host bridge, mechanism #1 and ECAM, fixed BARs, INTx swizzle. */
#include "pci/pci.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "snapshot/state.h"

#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_CFG_LEGACY_SIZE 256 /* what mechanism #1 and the capability list can reach */

#define PCI_COMMAND_PARITY 0x40
#define PCI_COMMAND_SERR 0x100
#define PCI_COMMAND_WMASK                                                                          \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |           \
	 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
/* Master/target abort, SERR and parity error bits: the driver clears them by writing 1. */
#define PCI_STATUS_W1C 0xf900

#define PCI_BAR_MEM_RO_BITS 0xfu /* type and prefetchable bits of a memory BAR */
#define PCI_BAR_IO_RO_BITS 0x3u
#define PCI_BAR_IO_SPACE 0x1u

/* Mechanism #1 */
#define PCI_CF8_ENABLE 0x80000000u
#define PCI_CF8_MASK 0x80fffffcu /* enable, bus, device, function, dword register */
#define PCI_PORT_CF8 0xcf8
#define PCI_PORTS_LEN 8

#define PCI_ECAM_BUS_SIZE (PCI_MAX_SLOTS * 8 * PCI_CFG_SIZE) /* 1 MiB: bus 0 only */

#define PCI_IO_WINDOW_BASE 0xc000u
#define PCI_IO_WINDOW_END 0x10000u

#define PCI_BUS_STATE_TAG STATE_TAG('P', 'C', 'I', 'B')
#define PCI_BUS_STATE_VERSION 1

static void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void pci_put32(uint8_t *p, uint32_t v)
{
	pci_put16(p, (uint16_t)v);
	pci_put16(p + 2, (uint16_t)(v >> 16));
}

/*
 * Config bytes are stored atomically because BAR dispatch reads the command register on vCPU
 * threads without taking dev->lock (decode enable is checked on every BAR access).
 */
static void pci_cfg_store(struct pci_dev *dev, uint32_t off, uint8_t v)
{
	__atomic_store_n(&dev->cfg[off], v, __ATOMIC_RELAXED);
}

static uint16_t pci_command(struct pci_dev *dev)
{
	return (uint16_t)(__atomic_load_n(&dev->cfg[PCI_COMMAND], __ATOMIC_RELAXED) |
			  __atomic_load_n(&dev->cfg[PCI_COMMAND + 1], __ATOMIC_RELAXED) << 8);
}

void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	pci_put16(dev->cfg + PCI_VENDOR_ID, vendor);
	pci_put16(dev->cfg + PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	dev->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	dev->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	dev->cfg[PCI_HEADER_TYPE] = 0; /* type 0, single function */
	pci_put16(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_put16(dev->cfg + PCI_SUBSYSTEM_ID, subsys_id);
	dev->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
	pci_put16(dev->wmask + PCI_COMMAND, PCI_COMMAND_WMASK);
	pci_put16(dev->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
	/* Plain scratch registers for software; they have no effect on an emulated bus. */
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_LATENCY_TIMER] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->next_cap = PCI_CAP_START;
	pthread_mutex_init(&dev->lock, NULL);
}

void pci_dev_cleanup(struct pci_dev *dev)
{
	pthread_mutex_destroy(&dev->lock);
}

static bool pci_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int pci_dev_add_bar(struct pci_dev *dev, unsigned idx, uint64_t size, bool io,
		    const struct bus_ops *ops, void *opaque)
{
	struct pci_bar *bar;

	if (idx >= PCI_NUM_BARS || !ops || !ops->read || !ops->write || !pci_pow2(size))
		return -EINVAL;
	/* 32-bit memory BARs (16 B .. 1 GiB); I/O BARs are 4..256 ports as on real PCI. */
	if (io ? (size < 4 || size > 256) : (size < 16 || size > (1ull << 30)))
		return -EINVAL;
	bar = &dev->bars[idx];
	if (bar->size)
		return -EBUSY;
	*bar =
	    (struct pci_bar){ .size = size, .io = io, .ops = ops, .opaque = opaque, .owner = dev };
	return 0;
}

/* The dword a BAR reads as: the size mask while sizing, else its fixed address. */
static uint32_t pci_bar_value(const struct pci_bar *bar)
{
	uint32_t type = bar->io ? PCI_BAR_IO_SPACE : 0;

	if (!bar->size)
		return 0; /* unimplemented: hardwired to zero, which tells the OS it is absent */
	if (bar->sizing)
		return (uint32_t) ~(bar->size - 1) | type;
	return (uint32_t)bar->addr | type;
}

static void pci_bar_sync(struct pci_dev *dev, unsigned idx)
{
	uint32_t v = pci_bar_value(&dev->bars[idx]);

	for (unsigned i = 0; i < 4; i++)
		pci_cfg_store(dev, PCI_BAR0 + 4 * idx + i, (uint8_t)(v >> (8 * i)));
}

/*
 * BARs do not move: all-ones starts sizing (reads give the size mask) and any other value ends
 * it, but the address stays the one pci_bus_add chose. Two reasons. The bus has no locking
 * for re-registering a range while other vCPUs dispatch through it, so moving a BAR would race
 * with in-flight accesses. And Linux keeps firmware-assigned BARs that lie inside the host
 * bridge windows of the ACPI _CRS: it sizes them (writing all-ones, then the old value back)
 * but never relocates them, so a fixed BAR is all it needs.
 */
static void pci_bar_write(struct pci_dev *dev, unsigned idx, uint32_t off, const uint8_t *data,
			  unsigned len)
{
	struct pci_bar *bar = &dev->bars[idx];
	uint32_t base = PCI_BAR0 + 4 * idx;
	uint32_t v = pci_bar_value(bar), ro;

	if (!bar->size)
		return;
	for (unsigned i = 0; i < 4; i++) {
		if (base + i >= off && base + i - off < len) {
			v &= ~(0xffu << (8 * i));
			v |= (uint32_t)data[base + i - off] << (8 * i);
		}
	}
	ro = bar->io ? PCI_BAR_IO_RO_BITS : PCI_BAR_MEM_RO_BITS;
	bar->sizing = (v | ro) == 0xffffffffu;
	pci_bar_sync(dev, idx);
}

int pci_dev_add_cap(struct pci_dev *dev, const void *body, unsigned len, uint8_t *off)
{
	unsigned pos = (dev->next_cap + 3u) & ~3u, last, hops;

	if (!body || len < 2)
		return -EINVAL;
	if (pos < PCI_CAP_START || pos + len > PCI_CFG_LEGACY_SIZE)
		return -ENOSPC;
	memcpy(dev->cfg + pos, body, len);
	dev->cfg[pos + 1] = 0;
	/* Append, so the list is in the order the capabilities were added. */
	if (!dev->cfg[PCI_CAPABILITY_LIST]) {
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)pos;
	} else {
		last = dev->cfg[PCI_CAPABILITY_LIST];
		for (hops = 0; dev->cfg[last + 1] && hops < PCI_CFG_LEGACY_SIZE / 4; hops++)
			last = dev->cfg[last + 1];
		dev->cfg[last + 1] = (uint8_t)pos;
	}
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->next_cap = (uint8_t)((pos + len + 3u) & ~3u);
	if (pos + len + 3u > 0xff)
		dev->next_cap = 0xff; /* full: the next add fails the bounds check */
	if (off)
		*off = (uint8_t)pos;
	return 0;
}

void pci_dev_set_wmask(struct pci_dev *dev, uint32_t off, const void *mask, unsigned len)
{
	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	memcpy(dev->wmask + off, mask, len);
}

static bool pci_intx_driven(struct pci_dev *dev)
{
	return dev->intx_level && !(pci_command(dev) & PCI_COMMAND_INTX_DISABLE);
}

void pci_dev_set_intx(struct pci_dev *dev, int level)
{
	bool before, after;

	pthread_mutex_lock(&dev->lock);
	before = pci_intx_driven(dev);
	dev->intx_level = !!level;
	/* Status.Interrupt shows the function's request even while Interrupt Disable masks it. */
	pci_cfg_store(dev, PCI_STATUS,
		      level ? (dev->cfg[PCI_STATUS] | PCI_STATUS_INTERRUPT)
			    : (dev->cfg[PCI_STATUS] & ~PCI_STATUS_INTERRUPT));
	after = pci_intx_driven(dev);
	if (before != after)
		irq_line_set(&dev->intx, after);
	pthread_mutex_unlock(&dev->lock);
}

void pci_config_read(struct pci_dev *dev, uint32_t off, void *data, unsigned len)
{
	unsigned n;

	memset(data, 0xff, len);
	if (off >= PCI_CFG_SIZE)
		return;
	n = len < PCI_CFG_SIZE - off ? len : PCI_CFG_SIZE - off;
	if (dev->config_read)
		dev->config_read(dev, off, n);
	pthread_mutex_lock(&dev->lock);
	memcpy(data, dev->cfg + off, n);
	pthread_mutex_unlock(&dev->lock);
}

void pci_config_write(struct pci_dev *dev, uint32_t off, const void *data, unsigned len)
{
	const uint8_t *d = data;
	unsigned n;
	bool before;

	if (off >= PCI_CFG_SIZE || !len)
		return;
	n = len < PCI_CFG_SIZE - off ? len : PCI_CFG_SIZE - off;
	pthread_mutex_lock(&dev->lock);
	before = pci_intx_driven(dev);
	for (unsigned i = 0; i < n; i++) {
		uint32_t o = off + i;
		uint8_t v = d[i], w = dev->wmask[o], c = dev->w1cmask[o];

		if (o >= PCI_BAR0 && o < PCI_BAR0 + 4 * PCI_NUM_BARS)
			continue; /* below, a dword at a time */
		pci_cfg_store(dev, o, (uint8_t)(((dev->cfg[o] & ~w) | (v & w)) & ~(v & c)));
	}
	for (unsigned idx = 0; idx < PCI_NUM_BARS; idx++) {
		uint32_t base = PCI_BAR0 + 4 * idx;

		if (off < base + 4 && base < off + n)
			pci_bar_write(dev, idx, off, d, n);
	}
	if (before != pci_intx_driven(dev)) /* Interrupt Disable toggled with INTx pending */
		irq_line_set(&dev->intx, !before);
	pthread_mutex_unlock(&dev->lock);
	if (dev->config_written)
		dev->config_written(dev, off, n);
}

/* ---- snapshots ---- */

/* A config byte the driver can change: it has writable or write-1-to-clear bits (BARs aside). */
static bool pci_state_byte(const struct pci_dev *dev, uint32_t o)
{
	if (o >= PCI_BAR0 && o < PCI_BAR0 + 4 * PCI_NUM_BARS)
		return false; /* a BAR's dword is its address and sizing state, saved as such */
	return dev->wmask[o] | dev->w1cmask[o];
}

static uint32_t pci_state_bytes(const struct pci_dev *dev)
{
	uint32_t n = 0;

	for (uint32_t o = 0; o < PCI_CFG_SIZE; o++)
		n += pci_state_byte(dev, o);
	return n;
}

void pci_dev_save(struct pci_dev *dev, struct state_writer *w)
{
	pthread_mutex_lock(&dev->lock);
	state_put_bytes(w, dev->cfg + PCI_VENDOR_ID, 4); /* vendor and device ID */
	state_put_u8(w, dev->slot);
	state_put_u32(w, pci_state_bytes(dev));
	for (uint32_t o = 0; o < PCI_CFG_SIZE; o++)
		if (pci_state_byte(dev, o))
			state_put_u8(w, dev->cfg[o]);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		state_put_u64(w, dev->bars[i].addr);
		state_put_bool(w, dev->bars[i].sizing);
	}
	pthread_mutex_unlock(&dev->lock);
}

void pci_dev_load_prepare(struct pci_dev *dev, struct state_reader *r, struct pci_dev_state *s)
{
	uint8_t id[4];

	pthread_mutex_lock(&dev->lock);
	memcpy(s->cfg, dev->cfg, sizeof(s->cfg));
	pthread_mutex_unlock(&dev->lock);
	state_get_bytes(r, id, sizeof(id));
	if (memcmp(id, s->cfg + PCI_VENDOR_ID, sizeof(id)))
		state_reader_fail(r, "a different PCI function");
	if (state_get_u8(r) != dev->slot)
		state_reader_fail(r, "a PCI function in another slot");
	if (state_get_u32(r) != pci_state_bytes(dev))
		state_reader_fail(r, "a PCI function with other writable config bytes");
	for (uint32_t o = 0; o < PCI_CFG_SIZE && state_reader_ok(r); o++) {
		uint8_t v, ro;

		if (!pci_state_byte(dev, o))
			continue;
		v = state_get_u8(r);
		ro = (uint8_t) ~(dev->wmask[o] | dev->w1cmask[o]);
		if ((v ^ s->cfg[o]) & ro)
			state_reader_fail(r, "read-only PCI config bits differ");
		s->cfg[o] = v;
	}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		/* pci_bus_add put an identically built machine's BARs at the same addresses. */
		if (state_get_u64(r) != dev->bars[i].addr)
			state_reader_fail(r, "a BAR at another address");
		s->sizing[i] = state_get_bool(r);
		if (s->sizing[i] && !dev->bars[i].size)
			state_reader_fail(r, "an unimplemented BAR being sized");
	}
}

void pci_dev_load_commit(struct pci_dev *dev, const struct pci_dev_state *s)
{
	bool before;

	pthread_mutex_lock(&dev->lock);
	before = pci_intx_driven(dev);
	for (uint32_t o = 0; o < PCI_CFG_SIZE; o++)
		if (pci_state_byte(dev, o))
			pci_cfg_store(dev, o, s->cfg[o]);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		dev->bars[i].sizing = s->sizing[i];
		pci_bar_sync(dev, i);
	}
	if (before != pci_intx_driven(dev))
		irq_line_set(&dev->intx, !before);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- the bus ---- */

/* BAR accesses go through here: a function answers only while its decode bit is set. */
static void pci_bar_bus_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct pci_bar *bar = opaque;
	uint16_t enable = bar->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

	if (!(pci_command(bar->owner) & enable)) {
		memset(data, 0xff, len); /* master abort */
		return;
	}
	bar->ops->read(bar->opaque, off, data, len);
}

static void pci_bar_bus_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct pci_bar *bar = opaque;
	uint16_t enable = bar->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

	if (pci_command(bar->owner) & enable)
		bar->ops->write(bar->opaque, off, data, len);
}

/* A function's state travels with its BAR (the one range that reaches its own ops). */
static void pci_bar_bus_save(const void *opaque, struct state_writer *w)
{
	const struct pci_bar *bar = opaque;

	if (bar->ops->save)
		bar->ops->save(bar->opaque, w);
	else
		state_writer_fail(w, -EOPNOTSUPP); /* a function that cannot be snapshotted */
}

static int pci_bar_bus_load(void *opaque, struct state_reader *r)
{
	struct pci_bar *bar = opaque;

	if (bar->ops->load)
		return bar->ops->load(bar->opaque, r);
	state_reader_fail(r, "a PCI function without snapshot support");
	return -EINVAL;
}

static const struct bus_ops pci_bar_bus_ops = {
	.read = pci_bar_bus_read,
	.write = pci_bar_bus_write,
	.save = pci_bar_bus_save,
	.load = pci_bar_bus_load,
};

/* Further BARs of a function whose state another BAR carries (their ops say state_shared). */
static const struct bus_ops pci_bar_shared_ops = {
	.read = pci_bar_bus_read,
	.write = pci_bar_bus_write,
	.state_shared = true,
};

static struct pci_dev *pci_bus_dev(struct pci_bus *pci, unsigned bus, unsigned slot, unsigned fn)
{
	/* Only function 0 exists: the header type says single-function, so OSes stop there. */
	if (bus != 0 || slot >= PCI_MAX_SLOTS || fn != 0)
		return NULL;
	return __atomic_load_n(&pci->devs[slot], __ATOMIC_ACQUIRE);
}

/* Ports 0xcf8-0xcff. Absent functions read all-ones, which OSes take as "no device". */
/*
 * The function and config offset a data-port access (0xcfc-0xcff) reaches through CONFIG_ADDRESS,
 * and how many bytes of it fall inside the data dword; NULL when it reaches nothing. Narrower
 * accesses to 0xcf8-0xcfb are not CONFIG_ADDRESS (on a PC they go to ISA).
 */
static struct pci_dev *pci_conf1_target(struct pci_bus *pci, uint64_t off, unsigned len,
					uint32_t *cfg_off, unsigned *n)
{
	uint32_t addr;

	if (off < 4 || off >= PCI_PORTS_LEN)
		return NULL;
	addr = __atomic_load_n(&pci->cf8, __ATOMIC_RELAXED);
	if (!(addr & PCI_CF8_ENABLE))
		return NULL;
	*cfg_off = (addr & 0xfc) + (uint32_t)(off - 4);
	*n = len < PCI_PORTS_LEN - off ? len : (unsigned)(PCI_PORTS_LEN - off);
	return pci_bus_dev(pci, (addr >> 16) & 0xff, (addr >> 11) & 0x1f, (addr >> 8) & 7);
}

static void pci_conf1_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct pci_bus *pci = opaque;
	struct pci_dev *dev;
	uint32_t cfg_off;
	unsigned n;

	memset(data, 0xff, len);
	if (off == 0 && len == 4) {
		pci_put32(data, __atomic_load_n(&pci->cf8, __ATOMIC_RELAXED));
		return;
	}
	dev = pci_conf1_target(pci, off, len, &cfg_off, &n);
	if (dev)
		pci_config_read(dev, cfg_off, data, n);
}

static void pci_conf1_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct pci_bus *pci = opaque;
	const uint8_t *d = data;
	struct pci_dev *dev;
	uint32_t addr, cfg_off;
	unsigned n;

	if (off == 0 && len == 4) {
		addr = d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
		__atomic_store_n(&pci->cf8, addr & PCI_CF8_MASK, __ATOMIC_RELAXED);
		return;
	}
	dev = pci_conf1_target(pci, off, len, &cfg_off, &n);
	if (dev)
		pci_config_write(dev, cfg_off, data, n);
}

/* The bus's own state: the CONFIG_ADDRESS latch and the host bridge (functions keep theirs). */
static void pci_bus_save(const void *opaque, struct state_writer *w)
{
	/* Not const only for the host bridge's lock. */
	struct pci_bus *pci = (struct pci_bus *)(uintptr_t)opaque;

	state_section_begin(w, PCI_BUS_STATE_TAG, PCI_BUS_STATE_VERSION);
	state_put_u32(w, __atomic_load_n(&pci->cf8, __ATOMIC_RELAXED));
	pci_dev_save(&pci->host_bridge, w);
	state_section_end_write(w);
}

static int pci_bus_load(void *opaque, struct state_reader *r)
{
	struct pci_bus *pci = opaque;
	struct pci_dev_state s;
	uint32_t version, cf8;
	int ret;

	state_section_begin_read(r, PCI_BUS_STATE_TAG, PCI_BUS_STATE_VERSION, &version);
	cf8 = state_get_u32(r);
	if (cf8 & ~PCI_CF8_MASK)
		state_reader_fail(r, "CONFIG_ADDRESS bits a write never leaves");
	pci_dev_load_prepare(&pci->host_bridge, r, &s);
	ret = state_section_end(r);
	if (ret)
		return ret;
	__atomic_store_n(&pci->cf8, cf8, __ATOMIC_RELAXED);
	pci_dev_load_commit(&pci->host_bridge, &s);
	return 0;
}

static const struct bus_ops pci_conf1_ops = {
	.read = pci_conf1_read,
	.write = pci_conf1_write,
	.save = pci_bus_save,
	.load = pci_bus_load,
};

/*
 * ECAM: offset = device << 15 | function << 12 | register. An access that runs past one
 * function's 4 KiB is split, so each byte lands where its own address says.
 */
static void pci_ecam_access(struct pci_bus *pci, uint64_t off, uint8_t *data, unsigned len,
			    bool write)
{
	while (len) {
		uint32_t reg = (uint32_t)(off & (PCI_CFG_SIZE - 1));
		unsigned chunk = len < PCI_CFG_SIZE - reg ? len : PCI_CFG_SIZE - reg;
		struct pci_dev *dev = NULL;

		if (off < PCI_ECAM_BUS_SIZE)
			dev = pci_bus_dev(pci, 0, (unsigned)(off >> 15) & 0x1f,
					  (unsigned)(off >> 12) & 7);
		if (!dev) {
			if (!write)
				memset(data, 0xff, chunk);
		} else if (write) {
			pci_config_write(dev, reg, data, chunk);
		} else {
			pci_config_read(dev, reg, data, chunk);
		}
		off += chunk;
		data += chunk;
		len -= chunk;
	}
}

static void pci_ecam_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	pci_ecam_access(opaque, off, data, len, false);
}

static void pci_ecam_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	/* The cast only satisfies the shared helper: the write path never modifies data. */
	pci_ecam_access(opaque, off, (uint8_t *)(uintptr_t)data, len, true);
}

/* The same config spaces as the ports: pci_conf1_ops carries the bus's state. */
static const struct bus_ops pci_ecam_ops = {
	.read = pci_ecam_read,
	.write = pci_ecam_write,
	.state_shared = true,
};

unsigned pci_bus_intx_pin_index(unsigned slot, unsigned pin)
{
	/* The conventional swizzle of PCI-to-PCI bridges: consecutive slots spread over lines. */
	return (slot + pin) & 3;
}

unsigned pci_bus_intx_index(unsigned slot)
{
	return pci_bus_intx_pin_index(slot, 0);
}

int pci_bus_init(struct pci_bus *pci, struct bus *pio, struct bus *mmio, uint64_t ecam_base,
		 uint64_t mmio_base, uint64_t mmio_size, const struct irq_line intx[4])
{
	int err;

	if (!pci || !pio || !mmio || !mmio_size || mmio_base + mmio_size < mmio_base ||
	    mmio_base + mmio_size > (1ull << 32) || (ecam_base & (PCI_ECAM_BUS_SIZE - 1)))
		return -EINVAL; /* 32-bit BARs: the window must lie below 4 GiB */
	memset(pci, 0, sizeof(*pci));
	pci->pio = pio;
	pci->mmio = mmio;
	pci->ecam_base = ecam_base;
	pci->mmio_next = mmio_base;
	pci->mmio_end = mmio_base + mmio_size;
	pci->io_next = PCI_IO_WINDOW_BASE;
	pci->io_end = PCI_IO_WINDOW_END;
	if (intx)
		memcpy(pci->intx, intx, sizeof(pci->intx));
	/* Intel's Q35 DRAM controller, as QEMU's q35 presents it; no BARs, no interrupt. */
	pci_dev_init(&pci->host_bridge, "host-bridge", 0x8086, 0x29c0, 0x060000, 0, 0, 0);
	pci->host_bridge.cfg[PCI_INTERRUPT_PIN] = 0;
	pci->host_bridge.wmask[PCI_INTERRUPT_LINE] = 0;
	pci->devs[0] = &pci->host_bridge;
	pthread_mutex_init(&pci->lock, NULL);
	err = bus_add(pio, PCI_PORT_CF8, PCI_PORTS_LEN, &pci_conf1_ops, pci, "pci-conf1");
	if (err)
		goto err_cleanup;
	/* Registered after the ports: a failure here leaves them on the bus, see pci_bus_add. */
	err = bus_add(mmio, ecam_base, PCI_ECAM_BUS_SIZE, &pci_ecam_ops, pci, "pci-ecam");
	if (err)
		goto err_cleanup;
	return 0;
err_cleanup:
	pthread_mutex_destroy(&pci->lock);
	pci_dev_cleanup(&pci->host_bridge);
	return err;
}

static uint64_t pci_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * The bus has no removal: if a bus_add fails part-way, earlier BARs stay registered and the
 * VM must be torn down (which is what VM construction does on any error).
 */
int pci_bus_add(struct pci_bus *pci, struct pci_dev *dev)
{
	uint64_t addr[PCI_NUM_BARS] = { 0 };
	uint64_t mmio_next, io_next;
	unsigned slot;
	int err = 0;

	if (!pci || !dev)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	for (slot = 1; slot < PCI_MAX_SLOTS && pci->devs[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS) {
		err = -ENOSPC;
		goto out;
	}
	/* Place every BAR first, so running out of window space fails before any registration. */
	mmio_next = pci->mmio_next;
	io_next = pci->io_next;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &dev->bars[i];
		uint64_t *next = bar->io ? &io_next : &mmio_next;
		uint64_t end = bar->io ? pci->io_end : pci->mmio_end;

		if (!bar->size)
			continue;
		addr[i] = pci_align_up(*next, bar->size); /* natural alignment, as BARs decode */
		if (addr[i] < *next || addr[i] > end || bar->size > end - addr[i]) {
			err = -ENOSPC;
			goto out;
		}
		*next = addr[i] + bar->size;
	}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];

		if (!bar->size)
			continue;
		err = bus_add(bar->io ? pci->pio : pci->mmio, addr[i], bar->size,
			      bar->ops->state_shared ? &pci_bar_shared_ops : &pci_bar_bus_ops, bar,
			      dev->name);
		if (err)
			goto out;
	}
	pci->mmio_next = mmio_next;
	pci->io_next = (uint32_t)io_next;
	pthread_mutex_lock(&dev->lock);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		dev->bars[i].addr = addr[i];
		dev->bars[i].sizing = false;
		pci_bar_sync(dev, i);
	}
	dev->slot = (uint8_t)slot;
	dev->intx = pci->intx[pci_bus_intx_index(slot)];
	/* Informational for the OS (ACPI's _PRT is what Linux uses); 0xff means "unknown". */
	dev->cfg[PCI_INTERRUPT_LINE] = dev->intx.gsi < 0xff ? (uint8_t)dev->intx.gsi : 0xff;
	pthread_mutex_unlock(&dev->lock);
	__atomic_store_n(&pci->devs[slot], dev, __ATOMIC_RELEASE);
	log_debug("pci: %s at 00:%02x.0", dev->name ? dev->name : "?", slot);
out:
	pthread_mutex_unlock(&pci->lock);
	return err;
}

void pci_bus_cleanup(struct pci_bus *pci)
{
	pci_dev_cleanup(&pci->host_bridge);
	pthread_mutex_destroy(&pci->lock);
}
