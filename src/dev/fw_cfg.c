/* fw_cfg legacy I/O interface: a selector register and a byte stream per key. */
#include "dev/fw_cfg.h"

#include <errno.h>
#include <string.h>

static void fw_cfg_le(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, unsigned nb_cpus)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	memcpy(f->signature, "QEMU", 4);
	fw_cfg_le(f->id, 1, sizeof(f->id)); /* bit 0: traditional interface; no DMA */
	fw_cfg_le(f->ram_size, ram_size, sizeof(f->ram_size));
	fw_cfg_le(f->nographic, 1, sizeof(f->nographic));
	fw_cfg_le(f->nb_cpus, nb_cpus, sizeof(f->nb_cpus));
	fw_cfg_le(f->max_cpus, nb_cpus, sizeof(f->max_cpus));
	/* file_dir: a big-endian count of 0 entries, already zero. */
}

void fw_cfg_destroy(struct fw_cfg *f)
{
	pthread_mutex_destroy(&f->lock);
}

/* The bytes behind the selected key, or NULL for a key kvmbox does not have. */
static const uint8_t *fw_cfg_item(const struct fw_cfg *f, uint16_t key, unsigned *len)
{
	const struct {
		uint16_t key;
		const uint8_t *data;
		unsigned len;
	} items[] = {
		{ FW_CFG_SIGNATURE, f->signature, sizeof(f->signature) },
		{ FW_CFG_ID, f->id, sizeof(f->id) },
		{ FW_CFG_UUID, f->uuid, sizeof(f->uuid) },
		{ FW_CFG_RAM_SIZE, f->ram_size, sizeof(f->ram_size) },
		{ FW_CFG_NOGRAPHIC, f->nographic, sizeof(f->nographic) },
		{ FW_CFG_NB_CPUS, f->nb_cpus, sizeof(f->nb_cpus) },
		{ FW_CFG_MAX_CPUS, f->max_cpus, sizeof(f->max_cpus) },
		{ FW_CFG_FILE_DIR, f->file_dir, sizeof(f->file_dir) },
	};

	for (unsigned i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		if (items[i].key == key) {
			*len = items[i].len;
			return items[i].data;
		}
	}
	return NULL;
}

static void fw_cfg_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct fw_cfg *f = dev;
	uint8_t *out = data;
	const uint8_t *item;
	unsigned item_len = 0;

	memset(data, 0, len);
	if (off != 1 || !len || len > 8)
		return;
	pthread_mutex_lock(&f->lock);
	item = fw_cfg_item(f, f->selector, &item_len);
	/*
	 * A wide read takes that many bytes of the stream in increasing address order, like
	 * memcpy: QEMU builds a big-endian value from them on a big-endian region, so the guest
	 * sees the first byte at the lowest address (docs/specs/fw_cfg.rst). Past the end: zeros.
	 */
	for (unsigned i = 0; i < len && f->offset < item_len; i++)
		out[i] = item[f->offset++];
	pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct fw_cfg *f = dev;
	const uint8_t *in = data;

	if (off != 0 || len < 2)
		return; /* data-port writes: the legacy interface has none */
	pthread_mutex_lock(&f->lock);
	f->selector = (uint16_t)(in[0] | in[1] << 8);
	f->offset = 0;
	pthread_mutex_unlock(&f->lock);
}

void fw_cfg_save(const void *dev, struct state_writer *w)
{
	struct fw_cfg *f = (struct fw_cfg *)dev; /* for the lock */

	pthread_mutex_lock(&f->lock);
	state_section_begin(w, FW_CFG_STATE_TAG, FW_CFG_STATE_VERSION);
	state_put_u16(w, f->selector);
	state_put_u32(w, f->offset);
	state_section_end_write(w);
	pthread_mutex_unlock(&f->lock);
}

int fw_cfg_load(void *dev, struct state_reader *r)
{
	struct fw_cfg *f = dev;
	unsigned item_len = 0;
	uint32_t version, offset;
	uint16_t selector;

	state_section_begin_read(r, FW_CFG_STATE_TAG, FW_CFG_STATE_VERSION, &version);
	selector = state_get_u16(r);
	/* Reads stop advancing at the item's end (an unknown key has length 0). */
	fw_cfg_item(f, selector, &item_len);
	offset = state_get_u32_below(r, item_len + 1, "fw_cfg: offset past the selected item");
	if (state_section_end(r))
		return -EINVAL;

	pthread_mutex_lock(&f->lock);
	f->selector = selector;
	f->offset = offset;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

const struct bus_ops fw_cfg_bus_ops = {
	.read = fw_cfg_read,
	.write = fw_cfg_write,
	.save = fw_cfg_save,
	.load = fw_cfg_load,
};
