/* pc-testdev: scratch register, page flush and IRQ-line ports for test guests. */
#include "dev/pc_testdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pc_testdev_init(struct pc_testdev *t, const struct pc_testdev_flush *flush,
		     const struct irq_line *irq)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	if (flush)
		t->flush = *flush;
	if (irq)
		t->irq = *irq;
}

void pc_testdev_destroy(struct pc_testdev *t)
{
	pthread_mutex_destroy(&t->lock);
}

static uint32_t pc_testdev_value(const void *data, unsigned len)
{
	const uint8_t *b = data;
	uint32_t v = 0;

	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

/* An access of len bytes at byte off of the 32-bit register (bytes past bit 31 are dropped). */
static uint32_t pc_testdev_mask(uint64_t off, unsigned len)
{
	uint64_t m = len >= 4 ? 0xffffffffull : (1ull << (8 * len)) - 1;

	return (uint32_t)(m << (8 * (off & 3)));
}

static void pc_testdev_scratch_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct pc_testdev *t = dev;
	uint8_t *out = data;
	uint32_t v;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	v = t->scratch >> (8 * (off & 3));
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < len && i < 4; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static void pc_testdev_scratch_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct pc_testdev *t = dev;
	uint32_t mask = pc_testdev_mask(off, len);
	uint32_t v = (uint32_t)((uint64_t)pc_testdev_value(data, len) << (8 * (off & 3)));

	pthread_mutex_lock(&t->lock);
	t->scratch = (t->scratch & ~mask) | (v & mask);
	pthread_mutex_unlock(&t->lock);
}

const struct bus_ops pc_testdev_scratch_ops = {
	.read = pc_testdev_scratch_read,
	.write = pc_testdev_scratch_write,
	.save = pc_testdev_save,
	.load = pc_testdev_load,
};

static void pc_testdev_none_read(void *dev, uint64_t off, void *data, unsigned len)
{
	(void)dev;
	(void)off;
	memset(data, 0xff, len);
}

static void pc_testdev_flush_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct pc_testdev *t = dev;

	/* Only a whole 32-bit write names a page; the address is the VM's to check. */
	if (off != 0 || len != 4 || !t->flush.flush)
		return;
	t->flush.flush(t->flush.opaque, pc_testdev_value(data, len) & ~0xfffull);
}

const struct bus_ops pc_testdev_flush_ops = {
	.read = pc_testdev_none_read,
	.write = pc_testdev_flush_write,
	.state_shared = true, /* pc_testdev_scratch_ops saves the device */
};

static void pc_testdev_irq_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct pc_testdev *t = dev;
	struct irq_line line = t->irq;

	if (off >= PC_TESTDEV_NR_IRQS || !len)
		return;
	line.gsi += (unsigned)off;
	irq_line_set(&line, pc_testdev_value(data, len) != 0);
}

const struct bus_ops pc_testdev_irq_ops = {
	.read = pc_testdev_none_read,
	.write = pc_testdev_irq_write,
	.state_shared = true, /* pc_testdev_scratch_ops saves the device */
};

/* Any width at any offset inside the window; bytes beyond it read as ones and are dropped. */
static void pc_testdev_iomem_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct pc_testdev *t = dev;
	uint8_t *out = data;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < len; i++)
		out[i] = off + i < PC_TESTDEV_IOMEM_LEN ? t->iomem[off + i] : 0xff;
	pthread_mutex_unlock(&t->lock);
}

static void pc_testdev_iomem_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct pc_testdev *t = dev;
	const uint8_t *in = data;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < len; i++)
		if (off + i < PC_TESTDEV_IOMEM_LEN)
			t->iomem[off + i] = in[i];
	pthread_mutex_unlock(&t->lock);
}

void pc_testdev_iomem_save(const void *dev, struct state_writer *w)
{
	struct pc_testdev *t = (struct pc_testdev *)dev; /* for the lock */

	pthread_mutex_lock(&t->lock);
	state_section_begin(w, PC_TESTDEV_IOMEM_STATE_TAG, PC_TESTDEV_IOMEM_STATE_VERSION);
	state_put_bytes(w, t->iomem, sizeof(t->iomem));
	state_section_end_write(w);
	pthread_mutex_unlock(&t->lock);
}

int pc_testdev_iomem_load(void *dev, struct state_reader *r)
{
	struct pc_testdev *t = dev;
	uint32_t version;
	uint8_t *iomem = malloc(PC_TESTDEV_IOMEM_LEN);

	if (!iomem)
		return -ENOMEM;
	state_section_begin_read(r, PC_TESTDEV_IOMEM_STATE_TAG, PC_TESTDEV_IOMEM_STATE_VERSION,
				 &version);
	state_get_bytes(r, iomem, PC_TESTDEV_IOMEM_LEN); /* any bytes: the guest writes all */
	if (state_section_end(r)) {
		free(iomem);
		return -EINVAL;
	}
	pthread_mutex_lock(&t->lock);
	memcpy(t->iomem, iomem, PC_TESTDEV_IOMEM_LEN);
	pthread_mutex_unlock(&t->lock);
	free(iomem);
	return 0;
}

const struct bus_ops pc_testdev_iomem_ops = {
	.read = pc_testdev_iomem_read,
	.write = pc_testdev_iomem_write,
	.save = pc_testdev_iomem_save,
	.load = pc_testdev_iomem_load,
};

void pc_testdev_save(const void *dev, struct state_writer *w)
{
	struct pc_testdev *t = (struct pc_testdev *)dev; /* for the lock */

	pthread_mutex_lock(&t->lock);
	state_section_begin(w, PC_TESTDEV_STATE_TAG, PC_TESTDEV_STATE_VERSION);
	state_put_u32(w, t->scratch);
	state_section_end_write(w);
	pthread_mutex_unlock(&t->lock);
}

int pc_testdev_load(void *dev, struct state_reader *r)
{
	struct pc_testdev *t = dev;
	uint32_t version, scratch;

	state_section_begin_read(r, PC_TESTDEV_STATE_TAG, PC_TESTDEV_STATE_VERSION, &version);
	scratch = state_get_u32(r); /* any 32-bit value: the guest writes all of them */
	if (state_section_end(r))
		return -EINVAL;

	pthread_mutex_lock(&t->lock);
	t->scratch = scratch;
	pthread_mutex_unlock(&t->lock);
	return 0;
}
