/* libFuzzer target: the MSI-X model alone: capability, vector table, PBA and msix_notify. */
#include "log.h"
#include "pci/msix.h"
#include "pci/pci.h"

#include <stdlib.h>
#include <string.h>

/*
 * Input: byte 0 picks the function: nvec = 1 + (b & 63); bit 6: the PBA at BAR offset 0 and the
 * table at 0x800 (else the table at 0 and the PBA at 0x800); bit 7: a vendor capability comes
 * first (so the MSI-X capability is not at 0x40) and the BAR is 5 (else 0). The rest is a list
 * of 4-byte ops: kind, offset low, offset high, value. Kind bits 0-2 pick the op, bits 3-4 the
 * width (1, 2, 4, 8), bit 5 aims the offset, bits 6-7 push a table/PBA offset far away (0: the
 * 16-bit offset, 1: offset << 16, 2: 2^64 - 1 - offset, 3: 2^32 + offset). Written bytes are
 * the value byte repeated. Ops:
 *   0/1  pci_config_read/write at the offset & 0x1fff (aimed: MSI-X capability + (off & 15)),
 *        reaching msix_config_written through dev->config_written;
 *   2/3  msix_table_read/write at the offset (aimed: offset % (table size + 16));
 *   4    msix_pba_read at the offset (aimed: offset & 15);
 *   5    msix_notify(value) (aimed: 2^32 - 1 - value);
 *   6    Message Control as Linux writes it: a word at capability + 2, enable = value bit 7,
 *        function mask = value bit 6;
 *   7    program vector value % nvec as a driver does: address qword 0xfee00000 | off << 4,
 *        data dword 0x4000 | off high, then Vector Control = kind bit 5 (masked).
 * Checked after every op, against the struct and a model of the sink: the sink only hears of
 * vectors < nvec, always with the entry's current address, data and effective mask; signal only
 * for an unmasked vector of an enabled, unmasked function, exactly when a notify or an unmask
 * must deliver; pending bits only for masked vectors < nvec; reads fill exactly len bytes.
 */
#define FUZZ_BAR_SIZE 0x1000
#define FUZZ_BUF 16
#define FUZZ_CANARY 0xa5

struct fuzz_vec {
	uint64_t addr;
	uint32_t data;
	bool masked;
};

struct fuzz_env {
	struct pci_dev dev;
	struct msix m;
	struct fuzz_vec sink[MSIX_MAX_VECTORS]; /* what the sink was last told, per vector */
	uint64_t signalled;			/* vectors signalled during the current op */
	unsigned nsignals;
	unsigned nupdates;
};

static struct fuzz_env fuzz_env;

static bool fuzz_vec_masked(const struct msix *m, unsigned vec)
{
	return !m->enabled || m->func_masked || (m->table[vec].ctrl & 1);
}

static void fuzz_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	struct fuzz_env *e = opaque;
	const struct msix_entry *t;

	if (vec >= e->m.nvec)
		abort();
	t = &e->m.table[vec];
	/* Runs under m->lock on this thread: the struct is the model's current state. */
	if (addr != ((uint64_t)t->addr_hi << 32 | t->addr_lo) || data != t->data ||
	    masked != fuzz_vec_masked(&e->m, vec))
		abort();
	e->sink[vec] = (struct fuzz_vec){ addr, data, masked };
	e->nupdates++;
}

static void fuzz_signal(void *opaque, unsigned vec)
{
	struct fuzz_env *e = opaque;

	if (vec >= e->m.nvec || fuzz_vec_masked(&e->m, vec))
		abort();
	if (e->signalled & (1ull << vec))
		abort(); /* twice in one op: pending bits collapse into one delivery */
	e->signalled |= 1ull << vec;
	e->nsignals++;
}

static void fuzz_bar_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}

static void fuzz_bar_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len;
}

static const struct bus_ops fuzz_bar_ops = { .read = fuzz_bar_read, .write = fuzz_bar_write };

static void fuzz_written(struct pci_dev *dev, uint32_t off, unsigned len)
{
	struct fuzz_env *e = dev->opaque;

	msix_config_written(&e->m, off, len);
}

/* Table and PBA offsets: near the structure, or far past it (overflow and truncation bait). */
static uint64_t fuzz_far(uint8_t k, uint64_t off)
{
	switch (k >> 6) {
	case 0:
		return off;
	case 1:
		return off << 16;
	case 2:
		return UINT64_MAX - off;
	default:
		return (1ull << 32) + off;
	}
}

static void fuzz_check_canary(const uint8_t *buf, unsigned len)
{
	for (unsigned j = len; j < FUZZ_BUF; j++)
		if (buf[j] != FUZZ_CANARY)
			abort(); /* wrote past the access */
}

static uint8_t fuzz_table_byte(const struct msix *m, uint64_t pos)
{
	const struct msix_entry *t = &m->table[pos / 16];
	uint32_t w = (pos % 16) < 4    ? t->addr_lo
		     : (pos % 16) < 8  ? t->addr_hi
		     : (pos % 16) < 12 ? t->data
				       : t->ctrl;

	return (uint8_t)(w >> (8 * (pos % 4)));
}

static void fuzz_check_state(struct fuzz_env *e, const uint8_t *cap_ro)
{
	const struct msix *m = &e->m;
	uint8_t ctrl_hi = e->dev.cfg[m->cap_off + 3];
	uint64_t valid = m->nvec == 64 ? UINT64_MAX : (1ull << m->nvec) - 1;

	/* The struct follows Message Control; the read-only parts of the capability stay. */
	if (m->enabled != !!(ctrl_hi & 0x80) || m->func_masked != !!(ctrl_hi & 0x40) ||
	    msix_enabled(&e->m) != m->enabled)
		abort();
	if (e->dev.cfg[m->cap_off] != PCI_CAP_ID_MSIX ||
	    e->dev.cfg[m->cap_off + 2] != m->nvec - 1 || (ctrl_hi & 0x3f) ||
	    memcmp(e->dev.cfg + m->cap_off + 4, cap_ro, 8))
		abort();
	/* Pending bits: vectors of this function only, and none that could be delivered. */
	if (m->pba & ~valid)
		abort();
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
		const struct msix_entry *t = &m->table[v];

		if (v >= m->nvec) {
			if (t->addr_lo || t->addr_hi || t->data || t->ctrl)
				abort(); /* an entry past the table was written */
			continue;
		}
		if ((t->ctrl & ~1u) || (t->addr_lo & 3))
			abort(); /* reserved bits kept */
		if ((m->pba & (1ull << v)) && !fuzz_vec_masked(m, v))
			abort(); /* pending yet deliverable: a lost interrupt */
		/* The sink always knows the current routing of every vector. */
		if (e->sink[v].addr != ((uint64_t)t->addr_hi << 32 | t->addr_lo) ||
		    e->sink[v].data != t->data || e->sink[v].masked != fuzz_vec_masked(m, v))
			abort();
	}
}

static void fuzz_write_le(struct msix *m, uint64_t off, uint64_t v, unsigned len)
{
	uint8_t b[8];

	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	msix_table_write(m, off, b, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	static const uint8_t vndr[4] = { PCI_CAP_ID_VNDR, 0, 4, 0 };
	struct fuzz_env *e = &fuzz_env;
	struct msi_sink sink = { .update = fuzz_update, .signal = fuzz_signal, .opaque = e };
	unsigned nvec, bar;
	uint32_t table_off, pba_off;
	uint64_t table_size;
	uint8_t cap_ro[8], buf[FUZZ_BUF], unused;

	if (size < 1)
		return 0;
	log_set_level(LOG_ERROR);
	nvec = 1 + (data[0] & 63);
	table_off = data[0] & 0x40 ? 0x800 : 0;
	pba_off = data[0] & 0x40 ? 0 : 0x800;
	bar = data[0] & 0x80 ? 5 : 0;
	table_size = (uint64_t)nvec * 16;

	memset(e, 0, sizeof(*e));
	pci_dev_init(&e->dev, "fuzz-msix", 0x1af4, 0x1044, 0, 1, 0, 0);
	e->dev.opaque = e;
	e->dev.config_written = fuzz_written;
	if (pci_dev_add_bar(&e->dev, bar, FUZZ_BAR_SIZE, false, &fuzz_bar_ops, NULL) ||
	    ((data[0] & 0x80) && pci_dev_add_cap(&e->dev, vndr, sizeof(vndr), &unused)) ||
	    msix_init(&e->m, &e->dev, nvec, bar, table_off, pba_off, &sink))
		abort();
	/* Entries reset masked with address and data zero: that is what the sink starts with. */
	for (unsigned v = 0; v < nvec; v++)
		e->sink[v].masked = true;
	memcpy(cap_ro, e->dev.cfg + e->m.cap_off + 4, sizeof(cap_ro));
	fuzz_check_state(e, cap_ro);

	for (size_t i = 1; i + 4 <= size; i += 4) {
		uint8_t k = data[i], v = data[i + 3];
		uint64_t off = (uint64_t)(data[i + 1] | data[i + 2] << 8);
		unsigned len = lens[(k >> 3) & 3];
		bool aim = k & 0x20;
		uint64_t pba_before = e->m.pba, cleared;
		bool was_enabled = e->m.enabled, was_masked;
		unsigned updates_before = e->nupdates;

		e->signalled = 0;
		e->nsignals = 0;
		memset(buf, FUZZ_CANARY, sizeof(buf));
		switch (k & 7) {
		case 0:
			off = aim ? e->m.cap_off + (off & 15) : off & 0x1fff;
			pci_config_read(&e->dev, (uint32_t)off, buf, len);
			fuzz_check_canary(buf, len);
			for (unsigned j = 0; j < len; j++)
				if (buf[j] != (off + j < PCI_CFG_SIZE ? e->dev.cfg[off + j] : 0xff))
					abort();
			break;
		case 1:
			off = aim ? e->m.cap_off + (off & 15) : off & 0x1fff;
			memset(buf, v, len);
			pci_config_write(&e->dev, (uint32_t)off, buf, len);
			break;
		case 2:
			off = aim ? off % (table_size + 16) : fuzz_far(k, off);
			msix_table_read(&e->m, off, buf, len);
			fuzz_check_canary(buf, len);
			for (unsigned j = 0; j < len; j++) {
				bool in = off < table_size && j < table_size - off;

				if (buf[j] != (in ? fuzz_table_byte(&e->m, off + j) : 0))
					abort();
			}
			break;
		case 3:
			off = aim ? off % (table_size + 16) : fuzz_far(k, off);
			memset(buf, v, len);
			msix_table_write(&e->m, off, buf, len);
			break;
		case 4:
			off = aim ? off & 15 : fuzz_far(k, off);
			msix_pba_read(&e->m, off, buf, len);
			fuzz_check_canary(buf, len);
			for (unsigned j = 0; j < len; j++) {
				bool in = off < 8 && j < 8 - off;

				if (buf[j] != (in ? (uint8_t)(e->m.pba >> (8 * (off + j))) : 0))
					abort();
			}
			break;
		case 5: {
			unsigned vec = aim ? UINT32_MAX - v : v;

			was_masked = vec < nvec && fuzz_vec_masked(&e->m, vec);
			msix_notify(&e->m, vec);
			if (e->nupdates != updates_before)
				abort(); /* a notify reroutes nothing */
			if (vec >= nvec || !was_enabled) {
				/* Not this function's vector, or INTx's business: nothing kept. */
				if (e->nsignals || e->m.pba != pba_before)
					abort();
			} else if (was_masked) {
				if (e->nsignals || e->m.pba != (pba_before | 1ull << vec))
					abort();
			} else if (e->nsignals != 1 || !(e->signalled & (1ull << vec)) ||
				   e->m.pba != pba_before) {
				abort();
			}
			break;
		}
		case 6:
			buf[0] = 0;
			buf[1] = v & 0xc0;
			pci_config_write(&e->dev, e->m.cap_off + 2u, buf, 2);
			break;
		default: {
			unsigned vec = v % nvec;

			fuzz_write_le(&e->m, 16ull * vec, 0xfee00000u | off << 4, 8);
			fuzz_write_le(&e->m, 16ull * vec + 8, 0x4000u | (off >> 8), 4);
			fuzz_write_le(&e->m, 16ull * vec + 12, aim, 4);
			break;
		}
		}
		fuzz_check_canary(buf, (k & 7) == 6 ? 2 : len);
		if ((k & 7) == 0 || (k & 7) == 2 || (k & 7) == 4) {
			/* Reads change nothing. */
			if (e->nsignals || e->nupdates != updates_before || e->m.pba != pba_before)
				abort();
		} else if ((k & 7) != 5) {
			/* Writes only deliver what was pending, each once, and never add pending.
			 */
			cleared = pba_before & ~e->m.pba;
			if ((e->m.pba & ~pba_before) || e->signalled != cleared)
				abort();
		}
		fuzz_check_state(e, cap_ro);
	}
	msix_cleanup(&e->m);
	pci_dev_cleanup(&e->dev);
	return 0;
}
