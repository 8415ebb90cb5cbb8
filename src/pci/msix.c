/* MSI-X: capability, vector table, pending bits, and delivery through an msi_sink. */
#include "pci/msix.h"

#include <errno.h>
#include <string.h>

#include "snapshot/state.h"

#define MSIX_CAP_LEN 12
#define MSIX_CTRL_OFF 2 /* Message Control, in the capability */
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FUNC_MASK 0x4000
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_MASKED 0x1u
#define MSIX_PBA_SIZE 8 /* one qword covers MSIX_MAX_VECTORS */

static void msix_put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int msix_init(struct msix *m, struct pci_dev *dev, unsigned nvec, unsigned bar, uint32_t table_off,
	      uint32_t pba_off, const struct msi_sink *sink)
{
	uint8_t body[MSIX_CAP_LEN] = { PCI_CAP_ID_MSIX };
	uint8_t wmask[2] = { 0, (MSIX_CTRL_ENABLE | MSIX_CTRL_FUNC_MASK) >> 8 };
	uint64_t size, table_end;
	int err;

	if (!m || !dev || !nvec || nvec > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS)
		return -EINVAL;
	size = dev->bars[bar].size;
	table_end = table_off + (uint64_t)nvec * MSIX_ENTRY_SIZE;
	/* The low 3 bits of the offsets hold the BIR, so both must be 8-byte aligned. */
	if (!size || dev->bars[bar].io || (table_off & 7) || (pba_off & 7) || table_end > size ||
	    (uint64_t)pba_off + MSIX_PBA_SIZE > size ||
	    (pba_off < table_end && table_off < (uint64_t)pba_off + MSIX_PBA_SIZE))
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->nvec = nvec;
	if (sink)
		m->sink = *sink;
	/* Table Size is N-1; enable and function mask start clear. */
	body[2] = (uint8_t)(nvec - 1);
	body[3] = (uint8_t)((nvec - 1) >> 8);
	msix_put32(body + 4, table_off | bar);
	msix_put32(body + 8, pba_off | bar);
	err = pci_dev_add_cap(dev, body, sizeof(body), &m->cap_off);
	if (err)
		return err;
	pci_dev_set_wmask(dev, m->cap_off + MSIX_CTRL_OFF, wmask, sizeof(wmask));
	/* Reset state of every entry: masked (PCI spec), so nothing fires before it is programmed.
	 */
	for (unsigned i = 0; i < nvec; i++)
		m->table[i].ctrl = MSIX_ENTRY_MASKED;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void msix_cleanup(struct msix *m)
{
	pthread_mutex_destroy(&m->lock);
}

static bool msix_vec_masked(const struct msix *m, unsigned vec)
{
	return !m->enabled || m->func_masked || (m->table[vec].ctrl & MSIX_ENTRY_MASKED);
}

static void msix_update(struct msix *m, unsigned vec)
{
	const struct msix_entry *e = &m->table[vec];

	if (m->sink.update)
		m->sink.update(m->sink.opaque, vec, (uint64_t)e->addr_hi << 32 | e->addr_lo,
			       e->data, msix_vec_masked(m, vec));
}

/* A vector just became deliverable: send what it left pending while masked. */
static void msix_flush_pending(struct msix *m, unsigned vec)
{
	if (msix_vec_masked(m, vec) || !(m->pba & (1ull << vec)))
		return;
	m->pba &= ~(1ull << vec);
	if (m->sink.signal)
		m->sink.signal(m->sink.opaque, vec);
}

/*
 * Re-read Message Control from config space rather than decoding the written bytes: this runs
 * after the write, outside dev->lock, so concurrent writers converge on the final value.
 */
void msix_config_written(struct msix *m, uint32_t off, unsigned len)
{
	uint32_t ctrl_off = m->cap_off + MSIX_CTRL_OFF;
	uint8_t c[2];
	bool enabled, masked;

	if (off >= ctrl_off + 2 || (uint64_t)off + len <= ctrl_off)
		return;
	pci_config_read(m->dev, ctrl_off, c, sizeof(c));
	enabled = c[1] & (MSIX_CTRL_ENABLE >> 8);
	masked = c[1] & (MSIX_CTRL_FUNC_MASK >> 8);
	pthread_mutex_lock(&m->lock);
	if (enabled != m->enabled || masked != m->func_masked) {
		__atomic_store_n(&m->enabled, enabled, __ATOMIC_RELEASE);
		m->func_masked = masked;
		for (unsigned i = 0; i < m->nvec; i++)
			msix_update(m, i);
		for (unsigned i = 0; i < m->nvec; i++)
			msix_flush_pending(m, i);
	}
	pthread_mutex_unlock(&m->lock);
}

static uint32_t *msix_word(struct msix *m, unsigned vec, unsigned word)
{
	struct msix_entry *e = &m->table[vec];

	switch (word) {
	case 0:
		return &e->addr_lo;
	case 1:
		return &e->addr_hi;
	case 2:
		return &e->data;
	default:
		return &e->ctrl;
	}
}

void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned len)
{
	uint64_t size = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	uint8_t *d = data;

	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < len && off < size && i < size - off; i++) {
		uint64_t pos = off + i;
		uint32_t w = *msix_word(m, (unsigned)(pos / MSIX_ENTRY_SIZE), (pos % 16) / 4);

		d[i] = (uint8_t)(w >> (8 * (pos % 4)));
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * Byte-wise, so 32- and 64-bit accesses (and odd hostile ones) share one path; the sink hears
 * about an entry once per access, after all its bytes are in.
 */
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned len)
{
	uint64_t size = (uint64_t)m->nvec * MSIX_ENTRY_SIZE, end;
	const uint8_t *d = data;

	if (off >= size || !len)
		return;
	end = len < size - off ? off + len : size;
	pthread_mutex_lock(&m->lock);
	for (unsigned vec = (unsigned)(off / MSIX_ENTRY_SIZE); vec * 16ull < end; vec++) {
		struct msix_entry old = m->table[vec];
		bool was_masked = msix_vec_masked(m, vec);
		uint64_t first = vec * 16ull > off ? vec * 16ull : off;
		uint64_t last = vec * 16ull + 16 < end ? vec * 16ull + 16 : end;

		for (uint64_t pos = first; pos < last; pos++) {
			uint32_t *w = msix_word(m, vec, (pos % 16) / 4);
			unsigned shift = 8 * (pos % 4);

			*w = (*w & ~(0xffu << shift)) | (uint32_t)d[pos - off] << shift;
		}
		/* Only the mask bit of Vector Control is defined; the address is dword-aligned. */
		m->table[vec].ctrl &= MSIX_ENTRY_MASKED;
		m->table[vec].addr_lo &= ~3u;
		if (memcmp(&old, &m->table[vec], sizeof(old)) == 0)
			continue;
		if (old.addr_lo != m->table[vec].addr_lo || old.addr_hi != m->table[vec].addr_hi ||
		    old.data != m->table[vec].data || was_masked != msix_vec_masked(m, vec))
			msix_update(m, vec);
		msix_flush_pending(m, vec);
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned len)
{
	uint8_t *d = data;
	uint64_t pba;

	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	pba = m->pba;
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < len && off < MSIX_PBA_SIZE && i < MSIX_PBA_SIZE - off; i++)
		d[i] = (uint8_t)(pba >> (8 * (off + i)));
}

void msix_notify(struct msix *m, unsigned vec)
{
	if (vec >= m->nvec)
		return;
	pthread_mutex_lock(&m->lock);
	/* With MSI-X off the function uses INTx (the transport's choice), so nothing is kept. */
	if (m->enabled) {
		if (msix_vec_masked(m, vec))
			m->pba |= 1ull << vec;
		else if (m->sink.signal)
			m->sink.signal(m->sink.opaque, vec);
	}
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	return __atomic_load_n(&m->enabled, __ATOMIC_ACQUIRE);
}

void msix_save(struct msix *m, struct state_writer *w)
{
	pthread_mutex_lock(&m->lock);
	state_put_u32(w, m->nvec);
	for (unsigned i = 0; i < m->nvec; i++) {
		state_put_u32(w, m->table[i].addr_lo);
		state_put_u32(w, m->table[i].addr_hi);
		state_put_u32(w, m->table[i].data);
		state_put_u32(w, m->table[i].ctrl);
	}
	state_put_u64(w, m->pba);
	pthread_mutex_unlock(&m->lock);
}

/* Enable and Function Mask from Message Control's high byte. */
static void msix_ctrl_bits(uint8_t hi, bool *enabled, bool *masked)
{
	*enabled = hi & (MSIX_CTRL_ENABLE >> 8);
	*masked = hi & (MSIX_CTRL_FUNC_MASK >> 8);
}

void msix_load_prepare(struct msix *m, struct state_reader *r, const uint8_t *cfg,
		       struct msix_state *s)
{
	uint64_t valid = m->nvec == 64 ? ~0ull : (1ull << m->nvec) - 1;
	bool enabled, func_masked;

	memset(s, 0, sizeof(*s));
	if (state_get_u32(r) != m->nvec) {
		state_reader_fail(r, "an MSI-X table of another size");
		return;
	}
	for (unsigned i = 0; i < m->nvec; i++) {
		struct msix_entry *e = &s->table[i];

		e->addr_lo = state_get_u32(r);
		e->addr_hi = state_get_u32(r);
		e->data = state_get_u32(r);
		e->ctrl = state_get_u32(r);
		/* msix_table_write keeps only these bits. */
		if ((e->ctrl & ~MSIX_ENTRY_MASKED) || (e->addr_lo & 3))
			state_reader_fail(r, "MSI-X entry bits a table write never keeps");
	}
	s->pba = state_get_u64(r);
	if (s->pba & ~valid)
		state_reader_fail(r, "MSI-X pending bits beyond the table");
	msix_ctrl_bits(cfg[m->cap_off + MSIX_CTRL_OFF + 1], &enabled, &func_masked);
	for (unsigned i = 0; i < m->nvec; i++)
		if ((s->pba & (1ull << i)) && enabled && !func_masked &&
		    !(s->table[i].ctrl & MSIX_ENTRY_MASKED))
			state_reader_fail(r, "an MSI-X vector pending while deliverable");
}

void msix_load_commit(struct msix *m, const struct msix_state *s)
{
	bool enabled, masked;
	uint8_t hi;

	pthread_mutex_lock(&m->dev->lock);
	hi = m->dev->cfg[m->cap_off + MSIX_CTRL_OFF + 1];
	pthread_mutex_unlock(&m->dev->lock);
	msix_ctrl_bits(hi, &enabled, &masked);
	pthread_mutex_lock(&m->lock);
	memcpy(m->table, s->table, sizeof(m->table));
	m->pba = s->pba;
	__atomic_store_n(&m->enabled, enabled, __ATOMIC_RELEASE);
	m->func_masked = masked;
	for (unsigned i = 0; i < m->nvec; i++)
		msix_update(m, i);
	pthread_mutex_unlock(&m->lock);
}
