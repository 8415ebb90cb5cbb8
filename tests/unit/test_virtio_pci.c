/* Unit tests: the virtio-pci transport probed like Linux's virtio_pci driver, with real buses. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "log.h"
#include "pci/pci.h"
#include "state_check.h"
#include "test.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define ECAM 0xe0000000ull
#define WIN 0xc0000000ull
#define RAM_SIZE (2u << 20)
#define DESC 0x10000
#define AVAIL 0x11000
#define USED 0x12000
#define BUFS 0x20000
#define F_WRITE 2
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

/* ---- fakes: INTx lines and an MSI sink ---- */

static int intx_level[4];

static void fake_intx(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	if (gsi >= 16 && gsi < 20)
		__atomic_store_n(&intx_level[gsi - 16], level, __ATOMIC_SEQ_CST);
}

struct fake_msi {
	unsigned signals[MSIX_MAX_VECTORS];
	unsigned updates;
	uint32_t data[MSIX_MAX_VECTORS];
	bool masked[MSIX_MAX_VECTORS];
};

static struct fake_msi msi;

static void msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	(void)opaque;
	(void)addr;
	if (vec >= MSIX_MAX_VECTORS)
		abort();
	msi.updates++;
	msi.data[vec] = data;
	msi.masked[vec] = masked;
}

static void msi_signal(void *opaque, unsigned vec)
{
	(void)opaque;
	if (vec >= MSIX_MAX_VECTORS)
		abort();
	__atomic_fetch_add(&msi.signals[vec], 1, __ATOMIC_SEQ_CST);
}

/* ---- a small device model: 8 bytes of config, two queues, counts what the core calls ---- */

struct fake_dev {
	struct virtio_dev vdev;
	uint8_t config[8];
	unsigned notified[2];
	unsigned activated, resets;
};

static void fake_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len)
{
	struct fake_dev *f = vdev->priv;

	memcpy(data, f->config + off, len);
}

static void fake_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len)
{
	struct fake_dev *f = vdev->priv;

	memcpy(f->config + off, data, len);
}

static int fake_activate(struct virtio_dev *vdev)
{
	((struct fake_dev *)vdev->priv)->activated++;
	return 0;
}

static void fake_reset(struct virtio_dev *vdev)
{
	((struct fake_dev *)vdev->priv)->resets++;
}

static void fake_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fake_dev *f = vdev->priv;

	if (q < 2)
		__atomic_fetch_add(&f->notified[q], 1, __ATOMIC_SEQ_CST);
}

static const struct virtio_dev_ops fake_ops = {
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
	.queue_notify = fake_queue_notify,
};

/* ---- the machine ---- */

static uint8_t *ram;
static struct guest_mem gm;

struct env {
	struct bus pio, mmio;
	struct pci_bus pci;
};

/* Buses and the PCI bus, with fresh fakes; guest RAM is left as it is. */
static void env_init_keep_ram(struct env *e)
{
	struct irq_line intx[4];

	memset(&msi, 0, sizeof(msi));
	memset(intx_level, 0, sizeof(intx_level));
	for (unsigned i = 0; i < 4; i++)
		intx[i] = (struct irq_line){ .set = fake_intx, .gsi = 16 + i };
	bus_init(&e->pio, "pio", 0xff);
	bus_init(&e->mmio, "mmio", 0);
	if (pci_bus_init(&e->pci, &e->pio, &e->mmio, ECAM, WIN, 0x10000000, intx))
		abort();
}

static void env_init(struct env *e)
{
	env_init_keep_ram(e);
	memset(ram, 0, RAM_SIZE);
}

static void env_cleanup(struct env *e)
{
	pci_bus_cleanup(&e->pci);
	bus_destroy(&e->pio);
	bus_destroy(&e->mmio);
}

static const struct msi_sink sink = { .update = msi_update, .signal = msi_signal };

static uint64_t le(const uint8_t *b, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put(uint8_t *b, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* What Linux's probe learns about the function. */
struct drv {
	struct env *e;
	unsigned slot;
	uint64_t bar;
	uint32_t common, isr, device, notify, device_len, notify_len, mult;
	unsigned ncaps[6];
	uint8_t msix_cap, pci_cfg_cap;
	unsigned msix_n;
};

static uint64_t cfg_rd(struct drv *d, unsigned reg, unsigned len)
{
	uint8_t b[8];

	bus_read(&d->e->mmio, ECAM + ((uint64_t)d->slot << 15) + reg, b, len);
	return le(b, len);
}

static void cfg_wr(struct drv *d, unsigned reg, uint64_t v, unsigned len)
{
	uint8_t b[8];

	put(b, v, len);
	bus_write(&d->e->mmio, ECAM + ((uint64_t)d->slot << 15) + reg, b, len);
}

static uint64_t rd(struct drv *d, uint64_t off, unsigned len)
{
	uint8_t b[8];

	bus_read(&d->e->mmio, d->bar + off, b, len);
	return le(b, len);
}

static void wr(struct drv *d, uint64_t off, uint64_t v, unsigned len)
{
	uint8_t b[8];

	put(b, v, len);
	bus_write(&d->e->mmio, d->bar + off, b, len);
}

static uint64_t common_rd(struct drv *d, unsigned off, unsigned len)
{
	return rd(d, d->common + off, len);
}

static void common_wr(struct drv *d, unsigned off, uint64_t v, unsigned len)
{
	wr(d, d->common + off, v, len);
}

static bool wait_for(const unsigned *counter, unsigned want)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= want)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static bool wait_level(const int *level, int want)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(level, __ATOMIC_SEQ_CST) == want)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/*
 * virtio_pci_modern_probe(): find the function, enable it, walk the capability list for the
 * vendor capabilities and MSI-X, and size the BAR they point at.
 */
static bool probe(struct drv *d, struct env *e, uint16_t device_id)
{
	unsigned pos, hops = 0;
	uint32_t orig;

	memset(d, 0, sizeof(*d));
	d->e = e;
	for (d->slot = 1; d->slot < 32; d->slot++)
		if (cfg_rd(d, 0, 4) == ((0x1040u + device_id) << 16 | 0x1af4))
			break;
	CHECK(d->slot < 32);
	if (d->slot == 32)
		return false;
	CHECK_EQ(cfg_rd(d, PCI_REVISION_ID, 1), 1);
	CHECK_EQ(cfg_rd(d, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	CHECK(cfg_rd(d, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	CHECK(cfg_rd(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	CHECK_EQ(cfg_rd(d, PCI_INTERRUPT_PIN, 1), 1);
	for (pos = cfg_rd(d, PCI_CAPABILITY_LIST, 1); pos && hops < 48;
	     pos = cfg_rd(d, pos + 1, 1), hops++) {
		unsigned id = (unsigned)cfg_rd(d, pos, 1), type, bar;
		uint32_t off, len;

		if (id == PCI_CAP_ID_MSIX) {
			d->msix_cap = (uint8_t)pos;
			d->msix_n = (unsigned)(cfg_rd(d, pos + 2, 2) & 0x7ff) + 1;
			CHECK_EQ(cfg_rd(d, pos + 4, 4), VIRTIO_PCI_MSIX_TABLE_OFF | 4);
			CHECK_EQ(cfg_rd(d, pos + 8, 4), VIRTIO_PCI_MSIX_PBA_OFF | 4);
			continue;
		}
		CHECK_EQ(id, PCI_CAP_ID_VNDR);
		type = (unsigned)cfg_rd(d, pos + 3, 1);
		bar = (unsigned)cfg_rd(d, pos + 4, 1);
		off = (uint32_t)cfg_rd(d, pos + 8, 4);
		len = (uint32_t)cfg_rd(d, pos + 12, 4);
		CHECK(type >= 1 && type <= 5);
		if (type < 1 || type > 5)
			continue;
		d->ncaps[type]++;
		if (type != VIRTIO_PCI_CAP_PCI_CFG) {
			CHECK_EQ(bar, 4);
			CHECK_EQ(cfg_rd(d, pos + 2, 1), type == 2 ? 20 : 16);
			CHECK(off + len <= VIRTIO_PCI_BAR_SIZE);
		}
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			d->common = off;
			CHECK(len >= 0x38);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = off;
			d->notify_len = len;
			d->mult = (uint32_t)cfg_rd(d, pos + 16, 4);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			d->isr = off;
			CHECK(len >= 1);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			d->device = off;
			d->device_len = len;
			break;
		default:
			d->pci_cfg_cap = (uint8_t)pos;
			CHECK_EQ(cfg_rd(d, pos + 2, 1), 20);
			break;
		}
	}
	CHECK(hops < 48);
	CHECK_EQ(d->ncaps[1], 1);
	CHECK_EQ(d->ncaps[2], 1);
	CHECK_EQ(d->ncaps[3], 1);
	CHECK_EQ(d->ncaps[5], 1);
	CHECK(d->msix_cap != 0);
	/* __pci_read_base(): the BAR's address and size. */
	orig = (uint32_t)cfg_rd(d, PCI_BAR0 + 16, 4);
	cfg_wr(d, PCI_BAR0 + 16, 0xffffffff, 4);
	CHECK_EQ(cfg_rd(d, PCI_BAR0 + 16, 4), (uint32_t) ~(VIRTIO_PCI_BAR_SIZE - 1));
	cfg_wr(d, PCI_BAR0 + 16, orig, 4);
	CHECK_EQ(orig & 0xf, 0); /* 32-bit, non-prefetchable memory */
	CHECK(orig >= WIN && orig < WIN + 0x10000000 && !(orig & (VIRTIO_PCI_BAR_SIZE - 1)));
	d->bar = orig;
	/* pci_enable_device() + pci_set_master() */
	cfg_wr(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	return true;
}

/* Linux: enable MSI-X with everything masked, program each entry, unmask the function. */
static void msix_setup(struct drv *d, unsigned n)
{
	cfg_wr(d, d->msix_cap + 2, 0xc000, 2);
	for (unsigned v = 0; v < n; v++) {
		wr(d, VIRTIO_PCI_MSIX_TABLE_OFF + 16 * v, 0xfee00000, 4);
		wr(d, VIRTIO_PCI_MSIX_TABLE_OFF + 16 * v + 4, 0, 4);
		wr(d, VIRTIO_PCI_MSIX_TABLE_OFF + 16 * v + 8, 0x40 + v, 4);
		wr(d, VIRTIO_PCI_MSIX_TABLE_OFF + 16 * v + 12, 0, 4);
	}
	cfg_wr(d, d->msix_cap + 2, 0x8000, 2);
}

/* Status handshake up to FEATURES_OK, accepting VERSION_1 (and no ring extras). */
static void negotiate(struct drv *d)
{
	uint64_t f;

	common_wr(d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	common_wr(d, VIRTIO_PCI_COMMON_STATUS, S_ACK, 1);
	common_wr(d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER, 1);
	common_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	f = common_rd(d, VIRTIO_PCI_COMMON_DF, 4);
	common_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	f |= common_rd(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
	CHECK(f & (1ull << VIRTIO_F_VERSION_1));
	CHECK(f & (1ull << VIRTIO_F_EVENT_IDX));
	common_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 2, 4);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_DF, 4), 0);
	common_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	common_wr(d, VIRTIO_PCI_COMMON_GF, 0, 4);
	common_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	common_wr(d, VIRTIO_PCI_COMMON_GF, 1, 4); /* VERSION_1 */
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_GF, 4), 1);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_GFSELECT, 4), 1);
	common_wr(d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK, 1);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK | S_DRIVER | S_FEATURES_OK);
}

/* setup_vq() for queue q of size n with the ring at DESC/AVAIL/USED, vector vec. */
static void queue_setup(struct drv *d, unsigned q, uint16_t n, uint16_t vec)
{
	common_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	CHECK(common_rd(d, VIRTIO_PCI_COMMON_Q_SIZE, 2) >= n);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	common_wr(d, VIRTIO_PCI_COMMON_Q_SIZE, n, 2);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_Q_SIZE, 2), n);
	common_wr(d, VIRTIO_PCI_COMMON_Q_DESCLO, DESC, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_DESCHI, 0, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_AVAILLO, AVAIL, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_AVAILHI, 0, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_USEDLO, USED, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_USEDHI, 0, 4);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_Q_NOFF, 2), q);
	common_wr(d, VIRTIO_PCI_COMMON_Q_MSIX, vec, 2);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_Q_MSIX, 2), vec);
	common_wr(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	CHECK_EQ(common_rd(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static uint16_t ram16(uint64_t gpa)
{
	uint16_t v;

	__atomic_load((uint16_t *)(ram + gpa), &v, __ATOMIC_ACQUIRE);
	return v;
}

/* Offer one device-writable buffer of len bytes as chain head `idx` (avail idx becomes n). */
static void offer(unsigned idx, uint16_t n, uint32_t len)
{
	uint64_t addr = BUFS + 0x1000ull * idx;
	uint16_t flags = F_WRITE, next = 0;

	memcpy(ram + DESC + 16 * idx, &addr, 8);
	memcpy(ram + DESC + 16 * idx + 8, &len, 4);
	memcpy(ram + DESC + 16 * idx + 12, &flags, 2);
	memcpy(ram + DESC + 16 * idx + 14, &next, 2);
	ram[AVAIL + 4 + 2 * (n - 1)] = (uint8_t)idx;
	ram[AVAIL + 5 + 2 * (n - 1)] = 0;
	__atomic_store((uint16_t *)(ram + AVAIL + 2), &n, __ATOMIC_RELEASE);
}

/* The whole Linux flow against the real virtio-rng: MSI-X, then INTx + ISR, then reset. */
static void test_virtio_pci_rng(void)
{
	struct virtio_dev *vdev;
	struct virtio_pci *p;
	struct env e;
	struct drv d;
	unsigned line;

	env_init(&e);
	CHECK_EQ(virtio_rng_create(&vdev, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p, vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_RNG))
		goto out;
	CHECK_EQ(cfg_rd(&d, 9, 3), 0x00ff00);
	CHECK_EQ(d.ncaps[4], 0); /* no config space, no device cfg structure */
	CHECK_EQ(d.msix_n, 2);
	CHECK_EQ(d.mult, 4);
	CHECK_EQ(d.notify_len, 4);
	CHECK_EQ(virtio_pci_notify_addr(p, 0), d.bar + d.notify);
	CHECK_EQ(virtio_pci_notify_addr(p, 1), 0);
	line = pci_bus_intx_index(d.slot);

	negotiate(&d);
	msix_setup(&d, 2);
	CHECK(!msi.masked[0] && !msi.masked[1]);
	CHECK_EQ(msi.data[1], 0x41);
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	queue_setup(&d, 0, 16, 1);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_STATUS, 1), 0xf);

	/* A request, then the doorbell (the path taken when no ioeventfd is registered). */
	offer(0, 1, 64);
	wr(&d, d.notify + 0 * d.mult, 0, 2);
	CHECK(wait_for(&msi.signals[1], 1));
	CHECK_EQ(ram16(USED + 2), 1);
	CHECK_EQ(ram[USED + 4], 0);			   /* id */
	CHECK_EQ(le(ram + USED + 8, 4), 64);		   /* len */
	CHECK(le(ram + BUFS, 8) || le(ram + BUFS + 8, 8)); /* random bytes arrived */
	CHECK_EQ(msi.signals[0], 0);
	CHECK_EQ(intx_level[line], 0);
	CHECK_EQ(rd(&d, d.isr, 1), 0); /* MSI-X: the queue bit is not used */

	/* MSI-X off: INTx and ISR take over. */
	cfg_wr(&d, d.msix_cap + 2, 0, 2);
	offer(1, 2, 32);
	wr(&d, d.notify, 0, 2);
	CHECK(wait_level(&intx_level[line], 1));
	CHECK(cfg_rd(&d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK_EQ(rd(&d, d.isr, 1), VIRTIO_PCI_ISR_QUEUE);
	CHECK_EQ(intx_level[line], 0); /* the read acknowledged it */
	CHECK_EQ(rd(&d, d.isr, 1), 0);
	CHECK_EQ(ram16(USED + 2), 2);
	CHECK_EQ(msi.signals[1], 1);

	/* Reset: status, queues and vectors return to their initial state. */
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTIO_RNG_QUEUE_SIZE);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_MSIX, 2), 0xffff);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_MSIX, 2), 0xffff);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_GF, 4), 0);
	/* A kick after reset reaches nothing. */
	wr(&d, d.notify, 0, 2);
out:
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	env_cleanup(&e);
}

static void fake_create(struct fake_dev *f)
{
	memset(f, 0, sizeof(*f));
	f->vdev.priv = f;
	memcpy(f->config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	if (virtio_dev_init(&f->vdev, &fake_ops, "virtio-fake", VIRTIO_ID_BLOCK, 1ull << 5, 8, 2,
			    256, &gm))
		abort();
}

/* Common cfg registers one by one: what is writable, what is refused, what reads back. */
static void test_virtio_pci_common_cfg(void)
{
	struct fake_dev f;
	struct virtio_pci *p;
	struct env e;
	struct drv d;

	env_init(&e);
	fake_create(&f);
	CHECK_EQ(virtio_pci_create(&p, &f.vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_BLOCK))
		goto out;
	CHECK_EQ(cfg_rd(&d, 9, 3), 0x018000);
	CHECK_EQ(d.ncaps[4], 1);
	CHECK_EQ(d.device_len, 8);
	CHECK_EQ(d.msix_n, 3);
	CHECK_EQ(d.notify_len, 8);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	common_wr(&d, VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_DF, 4) & 0xff, 1u << 5);

	/* Vectors: in range sticks, out of range reads NO_VECTOR. */
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 2, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_MSIX, 2), 2);
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 3, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_MSIX, 2), 0xffff);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_MSIX, 200, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_MSIX, 2), 0xffff);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);

	/* Queue size: a power of two up to the maximum, only while disabled. */
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SIZE, 0, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SIZE, 48, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SIZE, 512, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SIZE, 64, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);

	/* 64-bit addresses: two dwords, or one qword; read back either way. */
	common_wr(&d, VIRTIO_PCI_COMMON_Q_DESCLO, 0x89abcdef, 4);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_DESCHI, 0x01234567, 4);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x0123456789abcdefull);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_DESCHI, 4), 0x01234567);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_AVAILLO, 0x1122334455667788ull, 8);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_AVAILLO, 4), 0x55667788);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_AVAILHI, 4), 0x11223344);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_USEDHI, 0x5, 4);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_USEDLO, 8), 0x500000000ull);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 0, 2); /* 0 is not a valid write */
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	/* Enabled: size and addresses are frozen. */
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_DESCLO, 0, 8);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 0, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x0123456789abcdefull);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);

	/* A selector naming no queue: size 0, writes go nowhere. */
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SELECT, 0xffff, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);

	/* Read-only fields; reads of any width see the same bytes. */
	common_wr(&d, VIRTIO_PCI_COMMON_NUMQ, 7, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_DF, 0xffffffff, 4);
	common_wr(&d, VIRTIO_PCI_COMMON_CFGGENERATION, 9, 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_CFGGENERATION, 1), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_MSIX, 4), 0x00020000 | 0xffff);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_NUMQ, 1), 2);
	CHECK_EQ(common_rd(&d, 0x38, 4), 0);
	CHECK_EQ(common_rd(&d, 0x36, 4), 0);

	/* Device config, through the BAR. */
	CHECK_EQ(rd(&d, d.device, 4), 0x04030201);
	CHECK_EQ(rd(&d, d.device + 4, 8), 0); /* 8 bytes at 4 run past the end: refused whole */
	CHECK_EQ(rd(&d, d.device, 8), 0x0807060504030201ull);
	wr(&d, d.device + 6, 0xaabb, 2);
	CHECK_EQ(f.config[6], 0xbb);
	CHECK_EQ(f.config[7], 0xaa);
	wr(&d, d.device + 7, 0xcccc, 2); /* crosses the end: refused whole */
	CHECK_EQ(f.config[7], 0xaa);
	CHECK_EQ(rd(&d, d.device + 0x800, 4), 0);

	/* The notify area: each queue's doorbell reaches its own queue_notify. */
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	common_wr(&d, VIRTIO_PCI_COMMON_GF, 1, 4);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
	CHECK_EQ(f.activated, 1);
	wr(&d, d.notify + d.mult, 1, 2);
	CHECK(wait_for(&f.notified[1], 1));
	wr(&d, d.notify, 0, 2);
	CHECK(wait_for(&f.notified[0], 1));
	wr(&d, d.notify + 1, 0, 2);	     /* misaligned */
	wr(&d, d.notify + 2 * d.mult, 0, 2); /* no queue 2 */
	wr(&d, d.notify + 0x7fc, 0, 4);
	CHECK_EQ(rd(&d, d.notify, 2), 0);
	CHECK_EQ(virtio_pci_notify_addr(p, 1), d.bar + d.notify + 4);

	/* Reset reaches the device model and clears what the transport keeps. */
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	CHECK_EQ(f.resets, 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	common_wr(&d, VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_MSIX, 2), 0xffff);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_Q_SIZE, 2), 256);
out:
	virtio_pci_destroy(p);
	virtio_dev_cleanup(&f.vdev);
	env_cleanup(&e);
}

/* Config-change interrupts: the config vector with MSI-X, ISR bit 1 + INTx without. */
static void test_virtio_pci_config_irq(void)
{
	struct fake_dev f;
	struct virtio_pci *p;
	struct env e;
	struct drv d;
	unsigned line;

	env_init(&e);
	fake_create(&f);
	CHECK_EQ(virtio_pci_create(&p, &f.vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_BLOCK))
		goto out;
	line = pci_bus_intx_index(d.slot);
	negotiate(&d);
	msix_setup(&d, 3);
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 2, 2);
	pthread_mutex_lock(&f.vdev.lock);
	virtio_config_changed(&f.vdev);
	pthread_mutex_unlock(&f.vdev.lock);
	CHECK_EQ(msi.signals[2], 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_CFGGENERATION, 1), 1);
	CHECK_EQ(intx_level[line], 0);
	CHECK_EQ(rd(&d, d.isr, 1), VIRTIO_PCI_ISR_CONFIG);

	/* With the vector masked, the event waits in the PBA and arrives on unmask. */
	wr(&d, VIRTIO_PCI_MSIX_TABLE_OFF + 2 * 16 + 12, 1, 4);
	pthread_mutex_lock(&f.vdev.lock);
	virtio_config_changed(&f.vdev);
	pthread_mutex_unlock(&f.vdev.lock);
	CHECK_EQ(msi.signals[2], 1);
	CHECK_EQ(rd(&d, VIRTIO_PCI_MSIX_PBA_OFF, 8), 4);
	wr(&d, VIRTIO_PCI_MSIX_TABLE_OFF + 2 * 16 + 12, 0, 4);
	CHECK_EQ(msi.signals[2], 2);
	CHECK_EQ(rd(&d, VIRTIO_PCI_MSIX_PBA_OFF, 8), 0);
	CHECK_EQ(rd(&d, VIRTIO_PCI_MSIX_TABLE_OFF + 2 * 16 + 8, 4), 0x42);
	(void)rd(&d, d.isr, 1);

	/* No config vector: nothing is sent over MSI-X. */
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 0xffff, 2);
	pthread_mutex_lock(&f.vdev.lock);
	virtio_config_changed(&f.vdev);
	pthread_mutex_unlock(&f.vdev.lock);
	CHECK_EQ(msi.signals[2], 2);
	(void)rd(&d, d.isr, 1);

	/* MSI-X off: INTx. Interrupt Disable masks it; enabling MSI-X while pending drops it. */
	cfg_wr(&d, d.msix_cap + 2, 0, 2);
	pthread_mutex_lock(&f.vdev.lock);
	virtio_config_changed(&f.vdev);
	pthread_mutex_unlock(&f.vdev.lock);
	CHECK_EQ(intx_level[line], 1);
	cfg_wr(&d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	CHECK_EQ(intx_level[line], 0);
	cfg_wr(&d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	CHECK_EQ(intx_level[line], 1);
	cfg_wr(&d, d.msix_cap + 2, 0x8000, 2);
	CHECK_EQ(intx_level[line], 0);
	cfg_wr(&d, d.msix_cap + 2, 0, 2);
	CHECK_EQ(intx_level[line], 1);
	CHECK_EQ(rd(&d, d.isr, 1), VIRTIO_PCI_ISR_CONFIG);
	CHECK_EQ(intx_level[line], 0);
	/* A reset also drops a pending INTx. */
	pthread_mutex_lock(&f.vdev.lock);
	virtio_config_changed(&f.vdev);
	pthread_mutex_unlock(&f.vdev.lock);
	CHECK_EQ(intx_level[line], 1);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	CHECK_EQ(intx_level[line], 0);
	CHECK_EQ(rd(&d, d.isr, 1), 0);
out:
	virtio_pci_destroy(p);
	virtio_dev_cleanup(&f.vdev);
	env_cleanup(&e);
}

/* VIRTIO_PCI_CAP_PCI_CFG: BAR access through a config-space window. */
static void test_virtio_pci_cfg_window(void)
{
	struct fake_dev f;
	struct virtio_pci *p;
	struct env e;
	struct drv d;
	unsigned c;

	env_init(&e);
	fake_create(&f);
	CHECK_EQ(virtio_pci_create(&p, &f.vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_BLOCK))
		goto out;
	c = d.pci_cfg_cap;
	cfg_wr(&d, c + 4, 4, 1);
	cfg_wr(&d, c + 8, d.common + VIRTIO_PCI_COMMON_NUMQ, 4);
	cfg_wr(&d, c + 12, 2, 4);
	CHECK_EQ(cfg_rd(&d, c + 16, 2), 2);
	/* Write status through the window; read it back through the BAR. */
	cfg_wr(&d, c + 8, d.common + VIRTIO_PCI_COMMON_STATUS, 4);
	cfg_wr(&d, c + 12, 1, 4);
	cfg_wr(&d, c + 16, S_ACK, 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_STATUS, 1), S_ACK);
	CHECK_EQ(cfg_rd(&d, c + 16, 1), S_ACK);
	/* Device config, 4 bytes. */
	cfg_wr(&d, c + 8, d.device + 4, 4);
	cfg_wr(&d, c + 12, 4, 4);
	CHECK_EQ(cfg_rd(&d, c + 16, 4), 0x08070605);
	/* Bad windows do nothing: other BAR, odd length, misaligned, past the BAR. */
	cfg_wr(&d, c + 4, 0, 1);
	cfg_wr(&d, c + 16, 0x55, 4);
	cfg_wr(&d, c + 4, 4, 1);
	cfg_wr(&d, c + 12, 3, 4);
	cfg_wr(&d, c + 16, 0x55, 4);
	cfg_wr(&d, c + 12, 4, 4);
	cfg_wr(&d, c + 8, d.device + 2, 4);
	cfg_wr(&d, c + 16, 0x55, 4);
	cfg_wr(&d, c + 8, 0xfffffffc, 4);
	cfg_wr(&d, c + 16, 0x55, 4);
	CHECK_EQ(cfg_rd(&d, c + 16, 4), 0x55);
	CHECK_EQ(le(f.config + 4, 4), 0x08070605);
	/* The capability's own header stays read-only. */
	cfg_wr(&d, c, 0xffffffff, 4);
	CHECK_EQ(cfg_rd(&d, c, 1), PCI_CAP_ID_VNDR);
	CHECK_EQ(cfg_rd(&d, c + 3, 1), VIRTIO_PCI_CAP_PCI_CFG);
out:
	virtio_pci_destroy(p);
	virtio_dev_cleanup(&f.vdev);
	env_cleanup(&e);
}

/* Every BAR offset and width, reads and writes of zeroes and ones: nothing breaks. */
static void test_virtio_pci_hostile(void)
{
	struct fake_dev f;
	struct virtio_pci *p;
	struct env e;
	struct drv d;
	uint8_t b[8];

	env_init(&e);
	fake_create(&f);
	CHECK_EQ(virtio_pci_create(&p, &f.vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_BLOCK))
		goto out;
	for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off++) {
		for (unsigned len = 1; len <= 8; len *= 2) {
			bus_read(&e.mmio, d.bar + off, b, len);
			memset(b, (off & 1) ? 0xff : 0, sizeof(b));
			bus_write(&e.mmio, d.bar + off, b, len);
		}
	}
	for (unsigned len = 0; len <= 8; len++) {
		virtio_pci_bar_ops.read(p, UINT64_MAX - 3, b, len);
		virtio_pci_bar_ops.write(p, UINT64_MAX - 3, b, len);
		virtio_pci_bar_ops.read(p, VIRTIO_PCI_BAR_SIZE, b, len);
	}
	for (unsigned reg = 0; reg < 0x1000; reg++)
		cfg_wr(&d, reg, reg & 1 ? UINT64_MAX : 0, 8);
	/* Still answers, and a reset brings it back to a known state. */
	cfg_wr(&d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	CHECK_EQ(cfg_rd(&d, 0, 4), 0x10421af4);
	/* With memory decode off the BAR reads all-ones and ignores writes. */
	cfg_wr(&d, PCI_COMMAND, 0, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_NUMQ, 2), 0xffff);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, S_ACK, 1);
	cfg_wr(&d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	CHECK_EQ(common_rd(&d, VIRTIO_PCI_COMMON_STATUS, 1), 0);
out:
	virtio_pci_destroy(p);
	virtio_dev_cleanup(&f.vdev);
	env_cleanup(&e);
}

static void test_virtio_pci_create_errors(void)
{
	struct fake_dev f;
	struct virtio_pci *p, *p2;
	struct env e;

	env_init(&e);
	fake_create(&f);
	CHECK(virtio_pci_create(NULL, &f.vdev, &e.pci, &sink) < 0);
	CHECK(virtio_pci_create(&p, NULL, &e.pci, &sink) < 0);
	CHECK(virtio_pci_create(&p, &f.vdev, NULL, &sink) < 0);
	CHECK_EQ(virtio_pci_create(&p, &f.vdev, &e.pci, NULL), 0); /* INTx only */
	CHECK(virtio_pci_create(&p2, &f.vdev, &e.pci, &sink) < 0); /* already attached */
	virtio_pci_destroy(p);
	CHECK(f.vdev.transport == NULL);
	virtio_pci_destroy(NULL);
	virtio_dev_cleanup(&f.vdev);
	env_cleanup(&e);
}

/* ---- snapshots ---- */

/* The function's state is reached the way the VM reaches it: through its BAR's bus range. */
static struct state_target bar_target(struct env *e, uint64_t bar)
{
	const struct bus_range *r = bus_find(&e->mmio, bar);

	if (!r)
		abort();
	return state_target_bus(r->ops, r->dev);
}

/* What a driver can read without side effects: config space, common cfg, MSI-X table, PBA. */
struct pci_view {
	uint32_t cfg[64];
	uint32_t common[VIRTIO_PCI_COMMON_LEN / 4];
	uint32_t q_common[VIRTIO_PCI_COMMON_LEN / 4];
	uint32_t table[4 * 2];
	uint64_t pba;
};

static void pci_view(struct drv *d, struct pci_view *v)
{
	for (unsigned i = 0; i < 64; i++)
		v->cfg[i] = (uint32_t)cfg_rd(d, 4 * i, 4);
	for (unsigned i = 0; i < VIRTIO_PCI_COMMON_LEN / 4; i++)
		v->common[i] = (uint32_t)common_rd(d, 4 * i, 4);
	for (unsigned i = 0; i < 8; i++)
		v->table[i] = (uint32_t)rd(d, VIRTIO_PCI_MSIX_TABLE_OFF + 4 * i, 4);
	v->pba = rd(d, VIRTIO_PCI_MSIX_PBA_OFF, 8);
}

static bool same_view(const struct pci_view *a, const struct pci_view *b)
{
	bool same = true;

	for (unsigned i = 0; i < 64; i++)
		if (a->cfg[i] != b->cfg[i]) {
			fprintf(stderr, "  config dword 0x%x: 0x%x != 0x%x\n", 4 * i, a->cfg[i],
				b->cfg[i]);
			same = false;
		}
	for (unsigned i = 0; i < VIRTIO_PCI_COMMON_LEN / 4; i++)
		if (a->common[i] != b->common[i]) {
			fprintf(stderr, "  common cfg 0x%x: 0x%x != 0x%x\n", 4 * i, a->common[i],
				b->common[i]);
			same = false;
		}
	return same && !memcmp(a->table, b->table, sizeof(a->table)) && a->pba == b->pba;
}

/*
 * virtio-rng on PCI with MSI-X: a request done, the config vector masked with a config change
 * pending in the PBA, selectors and the pci_cfg window set. A new machine loads it: every
 * register reads the same, the MSI routes are re-sent, the pending vector fires on unmask and
 * the next request completes where the ring left off.
 */
static void test_virtio_pci_state_round_trip(void)
{
	static struct env e, e2;
	struct virtio_dev *vdev;
	struct virtio_pci *p;
	struct pci_view before, after;
	struct state_target t;
	struct drv d, d2;
	struct state_blob blob;

	env_init(&e);
	CHECK_EQ(virtio_rng_create(&vdev, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p, vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_RNG))
		goto out;
	negotiate(&d);
	msix_setup(&d, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	queue_setup(&d, 0, 16, 1);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
	offer(0, 1, 64);
	wr(&d, d.notify, 0, 2);
	CHECK(wait_for(&msi.signals[1], 1));
	CHECK_EQ(ram16(USED + 2), 1);
	wr(&d, VIRTIO_PCI_MSIX_TABLE_OFF + 12, 1, 4); /* mask the config vector */
	pthread_mutex_lock(&vdev->lock);
	virtio_config_changed(vdev);
	pthread_mutex_unlock(&vdev->lock);
	CHECK_EQ(rd(&d, VIRTIO_PCI_MSIX_PBA_OFF, 8), 1);
	cfg_wr(&d, d.pci_cfg_cap + 4, 4, 1);
	cfg_wr(&d, d.pci_cfg_cap + 8, d.common + VIRTIO_PCI_COMMON_NUMQ, 4);
	cfg_wr(&d, d.pci_cfg_cap + 12, 2, 4);
	cfg_wr(&d, 0x0c, 0x10, 1);
	common_wr(&d, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	common_wr(&d, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	pci_view(&d, &before);
	CHECK_EQ(virtio_dev_quiesce(vdev), 0);
	t = bar_target(&e, d.bar);
	state_check_save(&t, &blob);
	virtio_dev_resume(vdev);
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	env_cleanup(&e);

	/* The new process: the same machine, the same RAM. */
	env_init_keep_ram(&e2);
	CHECK_EQ(virtio_rng_create(&vdev, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p, vdev, &e2.pci, &sink), 0);
	d2 = d;
	d2.e = &e2;
	t = bar_target(&e2, d2.bar);
	CHECK_EQ(state_check_load(&t, &blob), 0);
	CHECK(msi.updates >= 2);
	CHECK_EQ(msi.data[1], 0x41);
	CHECK(msi.masked[0] && !msi.masked[1]);
	CHECK_EQ(msi.signals[0] + msi.signals[1], 0);
	CHECK_EQ(intx_level[pci_bus_intx_index(d2.slot)], 0);
	pci_view(&d2, &after);
	CHECK(same_view(&before, &after));
	CHECK(state_check_same(&t, &blob));
	virtio_dev_resume(vdev);
	CHECK_EQ(rd(&d2, d2.isr, 1), VIRTIO_PCI_ISR_CONFIG);

	wr(&d2, VIRTIO_PCI_MSIX_TABLE_OFF + 12, 0, 4); /* unmask: the config change arrives */
	CHECK_EQ(msi.signals[0], 1);
	offer(1, 2, 32);
	wr(&d2, d2.notify, 0, 2);
	CHECK(wait_for(&msi.signals[1], 1));
	CHECK_EQ(ram16(USED + 2), 2);
	CHECK_EQ(le(ram + USED + 4 + 8, 4), 1);
	CHECK_EQ(le(ram + USED + 8 + 8, 4), 32);
	state_blob_free(&blob);
	e = e2;
out:
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	env_cleanup(&e);
}

/* Without MSI-X: a pending ISR bit asserts INTx again after the load. */
static void test_virtio_pci_state_intx(void)
{
	static struct env e, e2;
	struct virtio_dev *vdev;
	struct virtio_pci *p;
	struct state_target t;
	struct drv d, d2;
	unsigned line;
	struct state_blob blob;

	env_init(&e);
	CHECK_EQ(virtio_rng_create(&vdev, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p, vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_RNG))
		goto out;
	line = pci_bus_intx_index(d.slot);
	negotiate(&d);
	queue_setup(&d, 0, 16, 0xffff);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
	offer(0, 1, 64);
	wr(&d, d.notify, 0, 2);
	CHECK(wait_level(&intx_level[line], 1));
	CHECK_EQ(virtio_dev_quiesce(vdev), 0);
	t = bar_target(&e, d.bar);
	state_check_save(&t, &blob);
	virtio_dev_resume(vdev);
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	env_cleanup(&e);

	env_init_keep_ram(&e2);
	CHECK_EQ(virtio_rng_create(&vdev, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p, vdev, &e2.pci, &sink), 0);
	d2 = d;
	d2.e = &e2;
	t = bar_target(&e2, d2.bar);
	CHECK_EQ(state_check_load(&t, &blob), 0);
	CHECK_EQ(intx_level[line], 1);
	CHECK(cfg_rd(&d2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK(state_check_same(&t, &blob));
	virtio_dev_resume(vdev);
	CHECK_EQ(rd(&d2, d2.isr, 1), VIRTIO_PCI_ISR_QUEUE);
	CHECK_EQ(intx_level[line], 0);
	offer(1, 2, 16);
	wr(&d2, d2.notify, 0, 2);
	CHECK(wait_level(&intx_level[line], 1));
	CHECK_EQ(ram16(USED + 2), 2);
	state_blob_free(&blob);
	e = e2;
out:
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	env_cleanup(&e);
}

static void test_virtio_pci_state_hostile(void)
{
	static struct env e, e2;
	struct virtio_dev *vdev, *vdev2;
	struct virtio_pci *p, *p2;
	struct state_target t, t2;
	struct state_blob good;
	size_t vpci, vd, tr;
	uint32_t nbytes;
	struct drv d;

	env_init(&e);
	CHECK_EQ(virtio_rng_create(&vdev, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p, vdev, &e.pci, &sink), 0);
	if (!probe(&d, &e, VIRTIO_ID_RNG))
		return;
	negotiate(&d);
	msix_setup(&d, 2);
	common_wr(&d, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	queue_setup(&d, 0, 16, 1);
	common_wr(&d, VIRTIO_PCI_COMMON_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
	t = bar_target(&e, d.bar);
	state_check_save(&t, &good);
	/* A second machine, fresh, must stay so. */
	env_init_keep_ram(&e2);
	CHECK_EQ(virtio_rng_create(&vdev2, &gm, "virtio-rng0"), 0);
	CHECK_EQ(virtio_pci_create(&p2, vdev2, &e2.pci, &sink), 0);
	t2 = bar_target(&e2, d.bar);
	state_check_hostile(&t2, &good);

	vpci = STATE_CHECK_HDR;
	memcpy(&nbytes, good.b + vpci + 5, 4);
	tr = vpci + 9 + nbytes + 6 * 9 + 4 + 16 * 2 + 8; /* the transport's registers */
	vd = state_blob_section(&good, STATE_TAG('V', 'D', 'E', 'V'), 0);
	CHECK(vd != SIZE_MAX);
	if (vd == SIZE_MAX)
		goto out;
	state_check_rejects_field(&t2, &good, tr + 10, 2, 2,
				  "config vector: the table has 2 entries");
	state_check_rejects_field(&t2, &good, tr + 14, 4, 1, "ISR bit the transport does not have");
	state_check_rejects_field(&t2, &good, vd + 26 + 27, 2, 2, "queue 0's vector");
	/* NO_VECTOR is a state the register holds. */
	state_blob_put(&good, vd + 26 + 27, 0xffff, 2);
	state_blob_put(&good, tr + 10, 0xffff, 2);
	CHECK_EQ(state_check_load(&t2, &good), 0);
	CHECK_EQ(vdev2->vqs[0].msix_vector, 0xffff);
out:
	state_blob_free(&good);
	virtio_pci_destroy(p2);
	vdev2->ops->destroy(vdev2);
	env_cleanup(&e2);
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	env_cleanup(&e);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram || guest_mem_add(&gm, 0, RAM_SIZE, ram))
		return 1;
	RUN_TEST(test_virtio_pci_rng);
	RUN_TEST(test_virtio_pci_common_cfg);
	RUN_TEST(test_virtio_pci_config_irq);
	RUN_TEST(test_virtio_pci_cfg_window);
	RUN_TEST(test_virtio_pci_hostile);
	RUN_TEST(test_virtio_pci_create_errors);
	RUN_TEST(test_virtio_pci_state_round_trip);
	RUN_TEST(test_virtio_pci_state_intx);
	RUN_TEST(test_virtio_pci_state_hostile);
	free(ram);
	TEST_EXIT();
}
