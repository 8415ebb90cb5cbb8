/* Guest memory for the emulator: linear addresses through the guest's page tables to RAM, or to
 * the MMIO bus for what is not RAM. No KVM inside: unit tests build one on fake memory. */
#include "arch/x86/emu/phys.h"

#include <errno.h>
#include <string.h>

#include "log.h"

#define EMU_PHYS_PAGE 4096u

void *emu_phys_pt(void *opaque, uint64_t gpa, unsigned len)
{
	return guest_mem_ptr(opaque, gpa, len);
}

/*
 * Host pointers for [la, la + len), one per page: every page is translated (and checked) before
 * the caller touches any, which makes writes all-or-nothing like the CPU's (as far as RAM goes: a
 * device access cannot be undone). A page that is not RAM gets a NULL host pointer and its
 * guest-physical address in gpa[]: the caller sends that part to the MMIO bus.
 */
static int emu_phys_map(struct emu_phys *c, uint64_t la, unsigned len, unsigned access,
			uint8_t *host[2], uint64_t gpas[2], unsigned part[2], unsigned *n,
			struct emu_pf *pf)
{
	unsigned off = 0;

	*n = 0;
	if (!len || len > 16)
		return -EINVAL;
	while (off < len) {
		uint64_t page_left = EMU_PHYS_PAGE - ((la + off) & (EMU_PHYS_PAGE - 1));
		unsigned chunk = len - off < page_left ? len - off : (unsigned)page_left;
		uint64_t gpa;
		int ret;

		ret = emu_mmu_translate(&c->mmu, la + off, access, &gpa, pf);
		if (ret == -EFAULT)
			log_guest("emulator: paging structures for 0x%llx are not in guest RAM",
				  (unsigned long long)(la + off));
		if (ret)
			return ret;
		host[*n] = guest_mem_ptr(c->gm, gpa, chunk);
		gpas[*n] = gpa;
		if (!host[*n] && !c->mmio) {
			log_guest("emulator: operand at 0x%llx (gpa 0x%llx) is not guest RAM",
				  (unsigned long long)(la + off), (unsigned long long)gpa);
			return -EFAULT;
		}
		part[(*n)++] = chunk;
		off += chunk;
	}
	return 0;
}

/* EMU_ACC_PROBE: the translation and its faults only; MMIO is fine and no device is touched. */
static int emu_phys_probe(struct emu_phys *c, uint64_t la, unsigned len, unsigned access,
			  struct emu_pf *pf)
{
	uint64_t gpa, last = la + len - 1; /* may wrap: the pages are la's and last's */
	int ret;

	ret = emu_mmu_translate(&c->mmu, la, access & ~EMU_ACC_PROBE, &gpa, pf);
	if (!ret &&
	    (last & ~(uint64_t)(EMU_PHYS_PAGE - 1)) != (la & ~(uint64_t)(EMU_PHYS_PAGE - 1)))
		ret = emu_mmu_translate(&c->mmu, last & ~(uint64_t)(EMU_PHYS_PAGE - 1),
					access & ~EMU_ACC_PROBE, &gpa, pf);
	return ret;
}

/*
 * A memory operand (part) that is a device's: bus accesses of 8 bytes at most, each a power of
 * two, in address order (a 16-byte SSE move becomes two 8-byte accesses, as under KVM).
 */
static void emu_phys_mmio(struct emu_phys *c, uint64_t gpa, uint8_t *data, unsigned len, bool write)
{
	while (len) {
		unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;

		if (c->local_ops && gpa - c->local_base < c->local_len &&
		    c->local_len - (gpa - c->local_base) >= n) {
			if (write)
				c->local_ops->write(c->local_dev, gpa - c->local_base, data, n);
			else
				c->local_ops->read(c->local_dev, gpa - c->local_base, data, n);
		} else if (write) {
			bus_write(c->mmio, gpa, data, n);
		} else {
			bus_read(c->mmio, gpa, data, n);
		}
		gpa += n;
		data += n;
		len -= n;
	}
}

static int emu_phys_read(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
			 struct emu_pf *pf)
{
	uint8_t *host[2], *d = dst;
	uint64_t gpas[2];
	unsigned part[2], n;
	int ret;

	if (access & EMU_ACC_PROBE)
		return emu_phys_probe(opaque, la, len, access, pf);
	ret = emu_phys_map(opaque, la, len, access & ~EMU_ACC_PREFETCH, host, gpas, part, &n, pf);
	/* Optional bytes come from RAM only: a device is not read for them. */
	for (unsigned i = 0; !ret && (access & EMU_ACC_PREFETCH) && i < n; i++)
		if (!host[i])
			return -EAGAIN;
	for (unsigned i = 0; !ret && i < n; d += part[i], i++) {
		if (host[i])
			memcpy(d, host[i], part[i]);
		else
			emu_phys_mmio(opaque, gpas[i], d, part[i], false);
	}
	return ret;
}

static int emu_phys_write(void *opaque, uint64_t la, const void *src, unsigned len, unsigned access,
			  struct emu_pf *pf)
{
	uint8_t *host[2], buf[16];
	uint64_t gpas[2];
	const uint8_t *s = src;
	unsigned part[2], n;
	int ret = emu_phys_map(opaque, la, len, access, host, gpas, part, &n, pf);

	for (unsigned i = 0; !ret && i < n; s += part[i], i++) {
		if (host[i]) {
			memcpy(host[i], s, part[i]);
			guest_mem_mark_dirty(((struct emu_phys *)opaque)->gm, gpas[i], part[i]);
		} else {
			memcpy(buf, s, part[i]);
			emu_phys_mmio(opaque, gpas[i], buf, part[i], true);
		}
	}
	return ret;
}

/*
 * A locked read-modify-write that touches a device, on the only CPU: the device sees a read, then
 * (if the value matched) a write, as on a bus that locks; nothing else can come in between.
 */
static int emu_phys_rmw(void *opaque, uint64_t la, void *expected, const void *desired,
			unsigned len, unsigned access, bool *swapped, struct emu_pf *pf)
{
	struct emu_phys *c = opaque;
	uint8_t cur[16];
	bool first = access & EMU_ACC_RMW_FIRST;
	int ret;

	access &= ~EMU_ACC_RMW_FIRST;
	/* The step after the first: the device was read then, and nothing ran since. */
	if (!first && c->rmw_len == len && c->rmw_la == la &&
	    !memcmp(c->rmw_value, expected, len)) {
		c->rmw_len = 0;
		*swapped = true;
		return emu_phys_write(opaque, la, desired, len, access, pf);
	}
	c->rmw_len = 0;
	ret = emu_phys_read(opaque, la, cur, len, access & ~EMU_ACC_WRITE, pf);
	if (ret)
		return ret;
	*swapped = !memcmp(cur, expected, len);
	if (first) { /* a fetch: read only, the write comes with the next step */
		memcpy(c->rmw_value, cur, len);
		c->rmw_la = la;
		c->rmw_len = len;
		*swapped = false;
		memcpy(expected, cur, len);
		return 0;
	}
	if (!*swapped) {
		memcpy(expected, cur, len);
		return 0;
	}
	return emu_phys_write(opaque, la, desired, len, access, pf);
}

static int emu_phys_cmpxchg(void *opaque, uint64_t la, void *expected, const void *desired,
			    unsigned len, unsigned access, bool *swapped, struct emu_pf *pf)
{
	uint8_t *host[2];
	uint64_t gpas[2];
	unsigned part[2], n;
	int ret =
	    emu_phys_map(opaque, la, len, access & ~EMU_ACC_RMW_FIRST, host, gpas, part, &n, pf);

	if (ret)
		return ret;
	if ((!host[0] || (n == 2 && !host[1])) && ((struct emu_phys *)opaque)->single_cpu)
		return emu_phys_rmw(opaque, la, expected, desired, len, access, swapped, pf);
	if (!host[0] || (n == 2 && !host[1])) {
		log_guest("emulator: locked access at 0x%llx (gpa 0x%llx) is not to guest RAM",
			  (unsigned long long)la, (unsigned long long)gpas[0]);
		return -ENOTSUP;
	}
	/* A page-split operand is atomic only if both pages are adjacent in host memory too. */
	if (n == 2 && host[1] != host[0] + part[0]) {
		log_guest("emulator: locked access at 0x%llx splits across discontiguous pages",
			  (unsigned long long)la);
		return -ENOTSUP;
	}
	ret = emu_host_cmpxchg(host[0], expected, desired, len);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; ret && i < n; i++)
		guest_mem_mark_dirty(((struct emu_phys *)opaque)->gm, gpas[i], part[i]);
	*swapped = ret;
	return 0;
}

static int emu_phys_pio(void *opaque, uint16_t port, void *data, unsigned len, bool write)
{
	struct emu_phys *c = opaque;

	if (!c->pio)
		return -ENOTSUP;
	if (write)
		bus_write(c->pio, port, data, len);
	else
		bus_read(c->pio, port, data, len);
	return 0;
}

const struct emu_ops emu_phys_ops = {
	.read = emu_phys_read,
	.write = emu_phys_write,
	.cmpxchg = emu_phys_cmpxchg,
	.pio = emu_phys_pio,
};
