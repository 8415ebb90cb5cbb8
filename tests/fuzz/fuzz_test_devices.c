/* libFuzzer target: random port accesses against fw_cfg and pc-testdev, checked by shadow models.
 */
#include "dev/fw_cfg.h"
#include "dev/pc_testdev.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/*
 * Input: a 4-byte header, then 4-byte ops. Header: vCPU count - 1, RAM size in MiB (16-bit LE),
 * the base GSI of the IRQ ports. Op: kind, arg, v0, v1. Kind bits 0-2 pick the access: fw_cfg
 * read/write, scratch read/write, flush read/write, IRQ read/write (in that order); bits 3-4 the
 * width (1, 2, 4, 8), or with bit 5 set the width is arg & 15 (0, 3, 9...: hostile); bits 6-7
 * the offset: 0 = arg within the device's ports (IRQ: arg & 31, a few past the 24 lines),
 * 1 = arg, 2 = 2^64 - 1 - arg, 3 = arg << 32 | (arg & 3) (wrong if truncated to 32 bits).
 * Written bytes alternate v0, v1, so a selector write picks key v0 | v1 << 8.
 * Checked after every op: reads fill exactly len bytes with what the shadow models say (QEMU's
 * semantics), callbacks fire exactly when they must with the right page, GSI and level, and no
 * access to one register file changes another's state.
 */
#define FUZZ_BUF 24
#define FUZZ_CANARY 0xa5

struct fuzz_item {
	uint16_t key;
	uint8_t data[16];
	unsigned len;
};

struct fuzz_env {
	struct fw_cfg fc;
	struct pc_testdev td;
	struct fuzz_item items[8];
	uint16_t sel; /* shadow fw_cfg selector and offset */
	uint32_t off;
	uint32_t scratch; /* shadow scratch register */
	unsigned base_gsi;
	struct fuzz_calls {
		unsigned flushes, irqs;
		uint64_t gpa; /* arguments of the last call */
		unsigned gsi;
		int level;
	} seen;
};

static struct fuzz_env env;

static void fuzz_flush(void *opaque, uint64_t gpa)
{
	struct fuzz_env *e = opaque;

	e->seen.flushes++;
	e->seen.gpa = gpa;
}

static void fuzz_irq(void *opaque, unsigned gsi, int level)
{
	struct fuzz_env *e = opaque;

	e->seen.irqs++;
	e->seen.gsi = gsi;
	e->seen.level = level;
}

static void fuzz_items(struct fuzz_env *e, uint64_t ram, unsigned ncpus)
{
	static const uint16_t keys[8] = { FW_CFG_SIGNATURE, FW_CFG_ID,	      FW_CFG_UUID,
					  FW_CFG_RAM_SIZE,  FW_CFG_NOGRAPHIC, FW_CFG_NB_CPUS,
					  FW_CFG_MAX_CPUS,  FW_CFG_FILE_DIR };
	static const unsigned lens[8] = { 4, 4, 16, 8, 2, 2, 2, 4 };

	memset(e->items, 0, sizeof(e->items));
	for (unsigned i = 0; i < 8; i++) {
		e->items[i].key = keys[i];
		e->items[i].len = lens[i];
	}
	memcpy(e->items[0].data, "QEMU", 4);
	e->items[1].data[0] = 1;
	for (unsigned i = 0; i < 8; i++)
		e->items[3].data[i] = (uint8_t)(ram >> (8 * i));
	e->items[4].data[0] = 1;
	for (unsigned i = 5; i <= 6; i++) {
		e->items[i].data[0] = (uint8_t)ncpus;
		e->items[i].data[1] = (uint8_t)(ncpus >> 8);
	}
}

static const struct fuzz_item *fuzz_item(const struct fuzz_env *e, uint16_t key)
{
	for (unsigned i = 0; i < 8; i++)
		if (e->items[i].key == key)
			return &e->items[i];
	return NULL;
}

static uint32_t fuzz_le32(const uint8_t *b, unsigned len)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

/* The bytes a read of the device must return (the caller's buffer is all canary). */
static void fuzz_expect_read(struct fuzz_env *e, unsigned dev, uint64_t off, uint8_t *want,
			     unsigned len)
{
	memset(want, 0, len);
	if (dev == 0) {
		const struct fuzz_item *it = fuzz_item(e, e->sel);

		if (off != 1 || len > 8)
			return;
		for (unsigned i = 0; i < len && it && e->off < it->len; i++)
			want[i] = it->data[e->off++];
	} else if (dev == 1) {
		uint32_t v = e->scratch >> (8 * (off & 3));

		for (unsigned i = 0; i < len && i < 4; i++)
			want[i] = (uint8_t)(v >> (8 * i));
	} else {
		memset(want, 0xff, len); /* flush and IRQ ports are write-only */
	}
}

/* Updates the shadows, and want with the callbacks the write must make. */
static void fuzz_expect_write(struct fuzz_env *e, unsigned dev, uint64_t off, const uint8_t *b,
			      unsigned len, struct fuzz_calls *want)
{
	unsigned n = len < 4 ? len : 4;
	unsigned start = 8 * (unsigned)(off & 3);
	uint32_t mask;

	switch (dev) {
	case 0:
		if (off == 0 && len >= 2) {
			e->sel = (uint16_t)(b[0] | b[1] << 8);
			e->off = 0;
		}
		break;
	case 1:
		if (!n)
			break;
		/* QEMU's test_ioport_write: bytes past bit 31 fall off the register. */
		mask = (uint32_t)((uint64_t)(0xffffffffu >> (32 - 8 * n)) << start);
		e->scratch =
		    (e->scratch & ~mask) | ((uint32_t)((uint64_t)fuzz_le32(b, n) << start) & mask);
		break;
	case 2:
		if (off == 0 && len == 4) {
			want->flushes++;
			want->gpa = fuzz_le32(b, 4) & ~0xfffu;
		}
		break;
	default:
		if (off < PC_TESTDEV_NR_IRQS && len) {
			want->irqs++;
			want->gsi = e->base_gsi + (unsigned)off;
			want->level = fuzz_le32(b, len) != 0;
		}
		break;
	}
}

/*
 * pc-testdev's IORAM window against a shadow copy: the same input as accesses at any offset (the
 * window's end and beyond included) and width; reads give the shadow's bytes inside, ones outside,
 * and never write past their length.
 */
static void fuzz_iomem(struct fuzz_env *e, const uint8_t *data, size_t size)
{
	static uint8_t shadow[PC_TESTDEV_IOMEM_LEN];
	uint8_t buf[FUZZ_BUF], want[FUZZ_BUF];

	memset(shadow, 0, sizeof(shadow));
	for (size_t i = 4; i + 4 <= size; i += 4) {
		uint64_t off = ((uint64_t)data[i + 1] << 8 | data[i + 2]) * 0x101 %
			       (PC_TESTDEV_IOMEM_LEN + 64);
		unsigned len = data[i] >> 4; /* 0-15 */

		if (data[i] & 1) {
			for (unsigned j = 0; j < len; j++)
				buf[j] = (uint8_t)(data[i + 3] + j);
			pc_testdev_iomem_ops.write(&e->td, off, buf, len);
			for (unsigned j = 0; j < len; j++)
				if (off + j < PC_TESTDEV_IOMEM_LEN)
					shadow[off + j] = buf[j];
		} else {
			memset(buf, FUZZ_CANARY, sizeof(buf));
			memset(want, FUZZ_CANARY, sizeof(want));
			for (unsigned j = 0; j < len; j++)
				want[j] = off + j < PC_TESTDEV_IOMEM_LEN ? shadow[off + j] : 0xff;
			pc_testdev_iomem_ops.read(&e->td, off, buf, len);
			if (memcmp(buf, want, sizeof(buf)))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	static const struct bus_ops *const ops[4] = { &fw_cfg_bus_ops, &pc_testdev_scratch_ops,
						      &pc_testdev_flush_ops, &pc_testdev_irq_ops };
	static const unsigned nports[4] = { FW_CFG_NR_PORTS, 4, 4, 32 };
	struct fuzz_env *e = &env;
	struct pc_testdev_flush flush = { fuzz_flush, e };
	struct irq_line irq = { fuzz_irq, e, 0 };
	unsigned ncpus;
	uint64_t ram;

	if (size < 4)
		return 0;
	log_set_level(LOG_ERROR);
	memset(e, 0, sizeof(*e));
	ncpus = 1u + data[0];
	ram = (uint64_t)(data[1] | data[2] << 8) << 20;
	e->base_gsi = irq.gsi = data[3];
	fw_cfg_init(&e->fc, ram, ncpus);
	pc_testdev_init(&e->td, &flush, &irq);
	fuzz_items(e, ram, ncpus);
	for (size_t i = 4; i + 4 <= size; i += 4) {
		uint8_t kind = data[i], arg = data[i + 1], v0 = data[i + 2], v1 = data[i + 3];
		unsigned dev = (kind >> 1) & 3, len = lens[(kind >> 3) & 3];
		bool write = kind & 1;
		uint8_t buf[FUZZ_BUF], want[FUZZ_BUF];
		struct fuzz_calls want_calls = e->seen;
		uint64_t off;

		if (kind & 0x20)
			len = arg & 15;
		switch (kind >> 6) {
		case 0:
			off = arg % nports[dev];
			break;
		case 1:
			off = arg;
			break;
		case 2:
			off = UINT64_MAX - arg;
			break;
		default:
			off = (uint64_t)arg << 32 | (arg & 3);
			break;
		}
		memset(buf, FUZZ_CANARY, sizeof(buf));
		if (write) {
			for (unsigned j = 0; j < len; j++)
				buf[j] = (j & 1) ? v1 : v0;
			fuzz_expect_write(e, dev, off, buf, len, &want_calls);
			ops[dev]->write(dev ? (void *)&e->td : (void *)&e->fc, off, buf, len);
		} else {
			memset(want, FUZZ_CANARY, sizeof(want));
			fuzz_expect_read(e, dev, off, want, len);
			ops[dev]->read(dev ? (void *)&e->td : (void *)&e->fc, off, buf, len);
			if (memcmp(buf, want, sizeof(buf)))
				abort(); /* wrong bytes, or wrote past len */
		}
		/* Each callback fired exactly when it must, with the page, GSI and level it must.
		 */
		if (e->seen.flushes != want_calls.flushes || e->seen.irqs != want_calls.irqs ||
		    e->seen.gpa != want_calls.gpa || e->seen.gsi != want_calls.gsi ||
		    e->seen.level != want_calls.level)
			abort();
		if (e->fc.selector != e->sel || e->fc.offset != e->off ||
		    e->td.scratch != e->scratch)
			abort();
	}
	fuzz_iomem(e, data, size);
	fw_cfg_destroy(&e->fc);
	pc_testdev_destroy(&e->td);
	return 0;
}
