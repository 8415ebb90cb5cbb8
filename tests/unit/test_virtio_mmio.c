/* Unit tests for virtio-mmio + the virtio core + virtio-rng, driven like Linux's virtio_mmio. */
#include "log.h"
#include "state_check.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_VENDOR_ID 0x00c
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_DRIVER_LO 0x090
#define R_DRIVER_HI 0x094
#define R_DEVICE_LO 0x0a0
#define R_DEVICE_HI 0x0a4
#define R_SHM_LEN_LO 0x0b0
#define R_CONFIG_GEN 0x0fc

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define RAM_SIZE (4u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUFS 0x10000

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

#define FEAT_INDIRECT (1u << 28)
#define FEAT_EVENT_IDX (1u << 29)

struct fake_irq {
	int level;
	int sets;
	int redundant;
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	(void)gsi;
	if (__atomic_load_n(&f->level, __ATOMIC_SEQ_CST) == level)
		__atomic_fetch_add(&f->redundant, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&f->level, level, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&f->sets, 1, __ATOMIC_SEQ_CST);
}

static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_dev *dev;
static struct virtio_mmio *mm;
static struct fake_irq irq;
static uint16_t qsize, drv_avail;

static uint32_t rd(uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	virtio_mmio_bus_ops.read(mm, off, &v, 4);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(mm, off, &v, 4);
}

static uint16_t ram16(uint64_t gpa)
{
	uint16_t v;

	__atomic_load(((uint16_t *)(ram + gpa)), &v, __ATOMIC_ACQUIRE);
	return v;
}

static uint32_t ram32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram + gpa, 4);
	return v;
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = ram + DESC + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void avail_add(uint16_t head)
{
	memcpy(ram + AVAIL + 4 + 2 * (drv_avail % qsize), &head, 2);
	drv_avail++;
	__atomic_store_n((uint16_t *)(ram + AVAIL + 2), drv_avail, __ATOMIC_RELEASE);
}

static bool wait_used(uint16_t want)
{
	for (int i = 0; i < 3000; i++) {
		if (ram16(USED + 2) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static bool wait_level(int want)
{
	for (int i = 0; i < 3000; i++) {
		if (__atomic_load_n(&irq.level, __ATOMIC_SEQ_CST) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static void setup(void)
{
	struct irq_line line = { .set = fake_irq_set, .opaque = &irq, .gsi = 5 };

	memset(ram, 0, RAM_SIZE);
	memset(&irq, 0, sizeof(irq));
	drv_avail = 0;
	if (virtio_rng_create(&dev, &gm, "virtio-rng-test") ||
	    virtio_mmio_create(&mm, dev, 0xd0000000, &line))
		abort();
}

static void teardown(void)
{
	virtio_mmio_destroy(mm);
	dev->ops->destroy(dev);
	CHECK_EQ(irq.redundant, 0);
}

/* Linux's virtio_mmio probe + virtio core + virtio_rng probe. */
static bool driver_init(uint32_t feat_lo, uint32_t feat_hi, uint16_t size)
{
	qsize = size;
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, feat_lo);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, feat_hi);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		return false;
	wr(R_QUEUE_SEL, 0);
	if (rd(R_QUEUE_READY) != 0 || rd(R_QUEUE_NUM_MAX) < size)
		return false;
	wr(R_QUEUE_NUM, size);
	wr(R_DESC_LO, DESC);
	wr(R_DESC_HI, 0);
	wr(R_DRIVER_LO, AVAIL);
	wr(R_DRIVER_HI, 0);
	wr(R_DEVICE_LO, USED);
	wr(R_DEVICE_HI, 0);
	wr(R_QUEUE_READY, 1);
	if (rd(R_QUEUE_READY) != 1)
		return false;
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return rd(R_STATUS) == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_identity_registers(void)
{
	setup();
	CHECK_EQ(rd(R_MAGIC), 0x74726976);
	CHECK_EQ(rd(R_VERSION), 2);
	CHECK_EQ(rd(R_DEVICE_ID), 4);
	CHECK_EQ(rd(R_VENDOR_ID), 0x554d4551);
	wr(R_DEV_FEATURES_SEL, 0);
	CHECK_EQ(rd(R_DEV_FEATURES), FEAT_INDIRECT | FEAT_EVENT_IDX);
	wr(R_DEV_FEATURES_SEL, 1);
	CHECK_EQ(rd(R_DEV_FEATURES), 1); /* VERSION_1 */
	wr(R_DEV_FEATURES_SEL, 2);
	CHECK_EQ(rd(R_DEV_FEATURES), 0);
	CHECK_EQ(rd(R_SHM_LEN_LO), 0xffffffff);
	CHECK_EQ(rd(R_CONFIG_GEN), 0);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	wr(R_QUEUE_SEL, 0);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), VIRTIO_RNG_QUEUE_SIZE);
	wr(R_QUEUE_SEL, 1);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 0); /* Linux: no such queue */
	CHECK_EQ(virtio_mmio_notify_addr(mm), 0xd0000050);
	teardown();
}

static void run_requests(bool event_idx, bool via_kick)
{
	setup();
	CHECK(driver_init(event_idx ? FEAT_EVENT_IDX | FEAT_INDIRECT : 0, 1, 8));
	CHECK(dev->vqs[0].event_idx == event_idx);
	/* One 64-byte buffer. */
	set_desc(0, BUFS, 64, F_WRITE, 0);
	avail_add(0);
	if (via_kick)
		virtio_queue_kick(dev, 0);
	else
		wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));
	CHECK_EQ(ram32(USED + 4), 0);
	CHECK_EQ(ram32(USED + 8), 64);
	CHECK(!all_zero(ram + BUFS, 64));
	CHECK(all_zero(ram + BUFS + 64, 64));
	CHECK(wait_level(1));
	CHECK_EQ(rd(R_INT_STATUS), 1);
	wr(R_INT_ACK, 1);
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	/* Like virtqueue_enable_cb: with event idx, interrupt me after the one I have seen. */
	__atomic_store_n((uint16_t *)(ram + AVAIL + 4 + 2 * 8), 1, __ATOMIC_RELEASE);

	/* A chain of two writable buffers and a readable one first (ignored by rng). */
	set_desc(1, BUFS + 0x1000, 16, F_NEXT, 2);
	set_desc(2, BUFS + 0x2000, 10, F_NEXT | F_WRITE, 3);
	set_desc(3, BUFS + 0x3000, 20, F_WRITE, 0);
	avail_add(1);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(2));
	CHECK_EQ(ram32(USED + 12), 1);
	CHECK_EQ(ram32(USED + 16), 30);
	CHECK(all_zero(ram + BUFS + 0x1000, 16));
	CHECK(!all_zero(ram + BUFS + 0x3000, 20));
	CHECK(wait_level(1));
	wr(R_INT_ACK, 1);

	if (event_idx) {
		/* used_event = 5: completion 3 (idx 2 -> 3) must not interrupt. */
		__atomic_store_n((uint16_t *)(ram + AVAIL + 4 + 2 * 8), 5, __ATOMIC_RELEASE);
		set_desc(4, BUFS, 8, F_WRITE, 0);
		avail_add(4);
		wr(R_QUEUE_NOTIFY, 0);
		CHECK(wait_used(3));
		usleep(20000);
		CHECK_EQ(irq.level, 0);
		/* The device asked to be kicked at the next buffer. */
		CHECK_EQ(ram16(USED + 4 + 8 * 8), 3);
	}
	/* Reset: everything back to defaults, the line low. */
	wr(R_STATUS, 0);
	CHECK_EQ(rd(R_STATUS), 0);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(dev->driver_features, 0);
	CHECK_EQ(dev->vqs[0].size, VIRTIO_RNG_QUEUE_SIZE);
	teardown();
}

static void test_requests_notify_register(void)
{
	run_requests(false, false);
}

static void test_requests_event_idx_kick(void)
{
	run_requests(true, true);
}

static void test_indirect_request(void)
{
	uint8_t *t;

	setup();
	CHECK(driver_init(FEAT_INDIRECT, 1, 8));
	t = ram + 0x5000;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t a = BUFS + 0x100 * i;
		uint32_t l = 32;
		uint16_t f = F_WRITE | (i < 3 ? F_NEXT : 0), n = (uint16_t)(i + 1);

		memcpy(t + 16 * i, &a, 8);
		memcpy(t + 16 * i + 8, &l, 4);
		memcpy(t + 16 * i + 12, &f, 2);
		memcpy(t + 16 * i + 14, &n, 2);
	}
	set_desc(0, 0x5000, 64, F_INDIRECT, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));
	CHECK_EQ(ram32(USED + 8), 128);
	CHECK(!all_zero(ram + BUFS + 0x300, 32));
	teardown();
}

static void test_bounded_work(void)
{
	setup();
	CHECK(driver_init(FEAT_EVENT_IDX, 1, 64));
	/* A 1 MiB buffer gets VIRTIO_RNG_MAX_REQ_BYTES. */
	set_desc(0, 0x100000, 1u << 20, F_WRITE, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));
	CHECK_EQ(ram32(USED + 8), VIRTIO_RNG_MAX_REQ_BYTES);
	CHECK(all_zero(ram + 0x100000 + VIRTIO_RNG_MAX_REQ_BYTES, 4096));
	/* More requests than one kick's budget, one kick: the device comes back by itself. */
	for (unsigned i = 0; i < 63; i++) {
		set_desc(i, BUFS + 16 * i, 16, F_WRITE, 0);
		avail_add((uint16_t)i);
	}
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(64));
	teardown();
}

static void test_malformed_ring_needs_reset(void)
{
	setup();
	CHECK(driver_init(0, 1, 8));
	set_desc(0, BUFS, 16, F_WRITE | F_NEXT, 0); /* loop */
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_level(1));
	CHECK(rd(R_STATUS) & S_NEEDS_RESET);
	CHECK_EQ(rd(R_INT_STATUS), 2); /* config change */
	CHECK_EQ(ram16(USED + 2), 0);
	/* The driver writing back what it read keeps NEEDS_RESET; kicks do nothing. */
	wr(R_STATUS, rd(R_STATUS));
	CHECK(rd(R_STATUS) & S_NEEDS_RESET);
	wr(R_INT_ACK, 2);
	CHECK_EQ(irq.level, 0);
	/* Reset and a clean re-init: the device works again. */
	wr(R_STATUS, 0);
	CHECK_EQ(rd(R_STATUS), 0);
	memset(ram, 0, 0x10000);
	drv_avail = 0;
	CHECK(driver_init(0, 1, 8));
	set_desc(0, BUFS, 16, F_WRITE, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));

	/* Rings outside RAM are caught when used. */
	wr(R_STATUS, 0);
	qsize = 8;
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	wr(R_QUEUE_NUM, 8);
	wr(R_DESC_LO, 0xfffff000);
	wr(R_DESC_HI, 0xffffffff);
	wr(R_DRIVER_LO, AVAIL);
	wr(R_DEVICE_LO, USED);
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_level(1));
	CHECK(rd(R_STATUS) & S_NEEDS_RESET);
	teardown();
}

static void test_bad_negotiation(void)
{
	setup();
	/* No VERSION_1: legacy drivers are refused. */
	CHECK(!driver_init(FEAT_EVENT_IDX, 0, 8));
	CHECK(!(rd(R_STATUS) & S_FEATURES_OK));
	/* A feature bit that was not offered. */
	CHECK(!driver_init(1, 1, 8));
	CHECK(!driver_init(0, 3, 8));
	/* DRIVER_OK without FEATURES_OK is ignored. */
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
	CHECK_EQ(rd(R_STATUS), S_ACK | S_DRIVER);
	/* Clearing bits without a reset is ignored. */
	wr(R_STATUS, S_ACK);
	CHECK_EQ(rd(R_STATUS), S_ACK | S_DRIVER);
	/* Features written after FEATURES_OK do not change the negotiated set. */
	CHECK(driver_init(0, 1, 8));
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, FEAT_EVENT_IDX);
	CHECK_EQ(dev->driver_features, 1ull << 32);
	/* A kick before DRIVER_OK is dropped. */
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	wr(R_DESC_LO, DESC);
	wr(R_DRIVER_LO, AVAIL);
	wr(R_DEVICE_LO, USED);
	wr(R_QUEUE_NUM, 8);
	wr(R_QUEUE_READY, 1);
	set_desc(0, BUFS, 16, F_WRITE, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	usleep(30000);
	CHECK_EQ(ram16(USED + 2), 0);
	/* ...but DRIVER_OK makes the device look at what was queued meanwhile. */
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	CHECK(wait_used(1));
	teardown();
}

static void test_bad_queue_registers(void)
{
	setup();
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_QUEUE_SEL, 0);
	static const uint32_t bad_num[] = { 0, 3, 48, 128, 0x10000, 0xffffffff };
	for (unsigned i = 0; i < sizeof(bad_num) / sizeof(bad_num[0]); i++) {
		wr(R_QUEUE_NUM, bad_num[i]);
		CHECK_EQ(dev->vqs[0].size, VIRTIO_RNG_QUEUE_SIZE);
	}
	wr(R_QUEUE_NUM, 16);
	CHECK_EQ(dev->vqs[0].size, 16);
	wr(R_QUEUE_READY, 2);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	wr(R_DESC_LO, 0x1000);
	wr(R_DESC_HI, 0x2);
	CHECK_EQ(dev->vqs[0].desc_gpa, 0x200001000ull);
	wr(R_QUEUE_READY, 1);
	/* Frozen while ready. */
	wr(R_QUEUE_NUM, 8);
	wr(R_DESC_LO, 0x5000);
	wr(R_DRIVER_HI, 1);
	CHECK_EQ(dev->vqs[0].size, 16);
	CHECK_EQ(dev->vqs[0].desc_gpa, 0x200001000ull);
	CHECK_EQ(dev->vqs[0].avail_gpa, 0);
	wr(R_QUEUE_READY, 0);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	wr(R_QUEUE_NUM, 8);
	CHECK_EQ(dev->vqs[0].size, 8);
	/* A queue that does not exist. */
	wr(R_QUEUE_SEL, 1);
	wr(R_QUEUE_NUM, 8);
	wr(R_QUEUE_READY, 1);
	CHECK_EQ(rd(R_QUEUE_READY), 0);
	wr(R_QUEUE_SEL, 0xffffffff);
	wr(R_DESC_LO, 1);
	CHECK_EQ(rd(R_QUEUE_NUM_MAX), 0);
	wr(R_QUEUE_NOTIFY, 1);
	wr(R_QUEUE_NOTIFY, 0xffffffff);
	virtio_queue_kick(dev, 99);
	/* Interrupt ACK of bits never raised, read-only registers written. */
	wr(R_INT_ACK, 0xffffffff);
	CHECK_EQ(irq.sets, 0);
	wr(R_MAGIC, 0);
	wr(R_INT_STATUS, 3);
	CHECK_EQ(rd(R_MAGIC), 0x74726976);
	CHECK_EQ(rd(R_INT_STATUS), 0);
	teardown();
}

static void test_every_offset_and_width(void)
{
	static const unsigned lens[] = { 1, 2, 3, 4, 8 };
	uint8_t buf[16];

	setup();
	for (uint64_t off = 0; off < VIRTIO_MMIO_SIZE + 8; off++) {
		for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			memset(buf, 0xaa, sizeof(buf));
			virtio_mmio_bus_ops.read(mm, off, buf, lens[l]);
			for (unsigned j = lens[l]; j < sizeof(buf); j++)
				if (buf[j] != 0xaa) {
					CHECK(!"read wrote past its length");
					break;
				}
			/* Narrow or misaligned register accesses read 0, never half a register. */
			if (off < VIRTIO_MMIO_CONFIG && (lens[l] != 4 || (off & 3)))
				CHECK(all_zero(buf, lens[l]));
		}
	}
	/* Rng has no config space: every config read is 0. */
	for (uint64_t off = VIRTIO_MMIO_CONFIG; off < VIRTIO_MMIO_SIZE; off += 4)
		CHECK_EQ(rd(off), 0);
	/* Writes of all-zeros and all-ones everywhere, at every width. */
	for (int pass = 0; pass < 2; pass++) {
		memset(buf, pass ? 0xff : 0, sizeof(buf));
		for (uint64_t off = 0; off < VIRTIO_MMIO_SIZE + 8; off++)
			for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
				virtio_mmio_bus_ops.write(mm, off, buf, lens[l]);
	}
	/* The device is still sane: a full init works. */
	memset(ram, 0, 0x10000);
	drv_avail = 0;
	CHECK(driver_init(0, 1, 8));
	set_desc(0, BUFS, 16, F_WRITE, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));
	teardown();
}

static void test_config_generation_and_change(void)
{
	setup();
	CHECK(driver_init(0, 1, 8));
	pthread_mutex_lock(&dev->lock);
	virtio_config_changed(dev);
	pthread_mutex_unlock(&dev->lock);
	CHECK_EQ(rd(R_CONFIG_GEN), 1);
	CHECK_EQ(rd(R_INT_STATUS), 2);
	CHECK_EQ(irq.level, 1);
	wr(R_INT_ACK, 2);
	CHECK_EQ(irq.level, 0);
	/* A second transport on the same device is refused. */
	struct virtio_mmio *other;
	struct irq_line line = { 0 };

	CHECK(virtio_mmio_create(&other, dev, 0xd0001000, &line) < 0);
	teardown();
}

/* ---- snapshots ---- */

static struct state_target mmio_target(void)
{
	return state_target_bus(&virtio_mmio_bus_ops, mm);
}

/* The saving process is gone; a new one builds the same device on the same guest RAM. */
static void replace_device(void)
{
	struct irq_line line = { .set = fake_irq_set, .opaque = &irq, .gsi = 5 };

	virtio_dev_resume(dev);
	virtio_mmio_destroy(mm);
	dev->ops->destroy(dev);
	memset(&irq, 0, sizeof(irq));
	if (virtio_rng_create(&dev, &gm, "virtio-rng-test") ||
	    virtio_mmio_create(&mm, dev, 0xd0000000, &line))
		abort();
}

/* Every register the driver can read, the selected queue's included. */
static void read_regs(uint32_t *v)
{
	static const uint64_t regs[] = { R_MAGIC,	R_VERSION,	R_DEVICE_ID,
					 R_VENDOR_ID,	R_DEV_FEATURES, R_QUEUE_NUM_MAX,
					 R_QUEUE_READY, R_INT_STATUS,	R_STATUS,
					 R_CONFIG_GEN };

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		v[i] = rd(regs[i]);
}

static void test_state_round_trip(void)
{
	struct state_target t;
	struct virtq before;
	uint32_t regs[10], after[10];
	struct state_blob blob;

	setup();
	CHECK(driver_init(FEAT_EVENT_IDX | FEAT_INDIRECT, 1, 8));
	set_desc(0, BUFS, 64, F_WRITE, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));
	set_desc(1, BUFS + 0x100, 32, F_WRITE, 0);
	avail_add(1);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(2));
	CHECK(wait_level(1)); /* left pending: the restored device must raise it again */
	pthread_mutex_lock(&dev->lock);
	virtio_config_changed(dev);
	pthread_mutex_unlock(&dev->lock);
	wr(R_DEV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_QUEUE_SEL, 0);
	read_regs(regs);
	CHECK_EQ(regs[7], 3);
	CHECK_EQ(virtio_dev_quiesce(dev), 0);
	t = mmio_target();
	state_check_save(&t, &blob);
	pthread_mutex_lock(&dev->lock);
	before = dev->vqs[0];
	pthread_mutex_unlock(&dev->lock);

	replace_device();
	CHECK_EQ(irq.level, 0);
	t = mmio_target();
	CHECK_EQ(state_check_load(&t, &blob), 0);
	CHECK_EQ(irq.level, 1);
	read_regs(after);
	for (unsigned i = 0; i < 10; i++)
		CHECK_EQ(after[i], regs[i]);
	CHECK_EQ(mm->device_features_sel, 1);
	CHECK_EQ(mm->driver_features_sel, 1);
	CHECK_EQ(dev->driver_features, FEAT_EVENT_IDX | FEAT_INDIRECT | 1ull << 32);
	CHECK(dev->vqs[0].event_idx && dev->vqs[0].indirect);
	CHECK_EQ(dev->vqs[0].size, 8);
	CHECK_EQ(dev->vqs[0].desc_gpa, DESC);
	CHECK_EQ(dev->vqs[0].used_gpa, USED);
	CHECK_EQ(dev->vqs[0].last_avail, before.last_avail);
	CHECK_EQ(dev->vqs[0].used_idx, before.used_idx);
	CHECK_EQ(dev->vqs[0].signalled_used, before.signalled_used);
	CHECK(state_check_same(&t, &blob));
	virtio_dev_resume(dev);

	/* The next request goes on from used idx 2; the driver asks for its interrupt. */
	wr(R_INT_ACK, 3);
	CHECK_EQ(irq.level, 0);
	__atomic_store_n((uint16_t *)(ram + AVAIL + 4 + 2 * 8), 2, __ATOMIC_RELEASE);
	set_desc(2, BUFS + 0x200, 16, F_WRITE, 0);
	avail_add(2);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(3));
	CHECK_EQ(ram32(USED + 4 + 8 * 2), 2);
	CHECK_EQ(ram32(USED + 8 + 8 * 2), 16);
	CHECK(wait_level(1));
	CHECK_EQ(rd(R_INT_STATUS), 1);
	state_blob_free(&blob);
	teardown();
}

static void test_state_hostile(void)
{
	const uint32_t vdev_tag = STATE_TAG('V', 'D', 'E', 'V');
	struct state_target t;
	struct state_blob good, base = { 0 };
	size_t vd, q;

	setup();
	CHECK(driver_init(FEAT_EVENT_IDX, 1, 8));
	set_desc(0, BUFS, 64, F_WRITE, 0);
	avail_add(0);
	wr(R_QUEUE_NOTIFY, 0);
	CHECK(wait_used(1));
	t = mmio_target();
	state_check_save(&t, &good);
	replace_device();
	t = mmio_target();
	state_check_hostile(&t, &good);

	vd = state_blob_section(&good, vdev_tag, 0);
	CHECK(vd != SIZE_MAX);
	if (vd == SIZE_MAX)
		goto out;
	q = vd + 26; /* queue 0 */
	state_check_rejects_field(&t, &good, STATE_CHECK_HDR + 12, 4, 4,
				  "isr: a bit the transport does not have");
	state_check_rejects_field(&t, &good, vd, VIRTIO_ID_BLOCK, 4, "another device id");
	state_check_rejects_field(&t, &good, vd + 4, dev->host_features | 1, 8,
				  "the snapshot's device offered more");
	state_check_rejects_field(&t, &good, vd + 12, FEAT_EVENT_IDX | 1ull << 32 | 1ull << 7, 8,
				  "accepted a bit never offered");
	state_check_rejects_field(&t, &good, vd + 12, FEAT_EVENT_IDX, 8,
				  "FEATURES_OK without VERSION_1");
	state_check_rejects_field(&t, &good, vd + 20, S_ACK | S_DRIVER | S_DRIVER_OK, 1,
				  "DRIVER_OK without FEATURES_OK");
	state_check_rejects_field(&t, &good, vd + 22, 2, 4, "two queues: virtio-rng has one");
	state_check_rejects_field(&t, &good, q, 12, 2, "queue size 12");
	state_check_rejects_field(&t, &good, q, 2 * VIRTIO_RNG_QUEUE_SIZE, 2,
				  "queue size above the maximum");
	state_check_rejects_field(&t, &good, q + 2, 2, 1, "queue ready 2");
	/* Rings outside RAM are a state the driver can reach: accepted (test_virtq checks it). */
	state_check_rejects_field(&t, &good, q + 27, 0, 2, "a vector: virtio-mmio has no MSI-X");
	state_check_rejects_field(&t, &good, q + 29, 2, 2,
				  "last_avail 2, used idx 1: a request in flight");

	/* Before FEATURES_OK any bits may have been written: they are checked at FEATURES_OK. */
	state_blob_put(&good, vd + 20, S_ACK | S_DRIVER, 1);
	state_blob_put(&good, vd + 12, 0xffffffffffffffffull, 8);
	CHECK_EQ(state_check_load(&t, &good), 0);
	CHECK_EQ(rd(R_STATUS), S_ACK | S_DRIVER);
	/* A live device is not loaded into. */
	state_check_save(&t, &base);
	CHECK_EQ(state_check_load(&t, &good), -EBUSY);
	CHECK(state_check_same(&t, &base));
out:
	state_blob_free(&good);
	state_blob_free(&base);
	teardown();
}

int main(void)
{
	log_set_level(LOG_ERROR); /* the hostile cases log (rate-limited) warnings by design */
	ram = calloc(1, RAM_SIZE);
	if (!ram || guest_mem_add(&gm, 0, RAM_SIZE, ram))
		return 1;
	RUN_TEST(test_identity_registers);
	RUN_TEST(test_requests_notify_register);
	RUN_TEST(test_requests_event_idx_kick);
	RUN_TEST(test_indirect_request);
	RUN_TEST(test_bounded_work);
	RUN_TEST(test_malformed_ring_needs_reset);
	RUN_TEST(test_bad_negotiation);
	RUN_TEST(test_bad_queue_registers);
	RUN_TEST(test_every_offset_and_width);
	RUN_TEST(test_config_generation_and_change);
	RUN_TEST(test_state_round_trip);
	RUN_TEST(test_state_hostile);
	free(ram);
	TEST_EXIT();
}
