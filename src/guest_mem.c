/* Guest RAM allocation and the single bounds-checked translation from guest physical to host. */
#include "guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GUEST_MEM_4G (1ull << 32)

int guest_mem_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host)
{
	if (!size || !host || gpa + size < gpa)
		return -EINVAL;
	if (gm->nregions == GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
	}
	gm->regions[gm->nregions++] = (struct guest_mem_region){ gpa, size, host };
	gm->ram_size += size;
	return 0;
}

int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size, uint64_t hole_start)
{
	uint64_t low = ram_size < hole_start ? ram_size : hole_start;
	uint8_t *p;
	int ret;

	memset(gm, 0, sizeof(*gm));
	if (!ram_size || ram_size > SIZE_MAX || hole_start > GUEST_MEM_4G)
		return -EINVAL;
	/* Without MAP_NORESERVE: the host's overcommit policy accounts guest RAM as committed
	 * (with vm.overcommit_memory=2 a guest cannot take more than the host promised). */
	p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is no use in a core dump of kvmbox and may hold the guest's secrets. */
	madvise(p, ram_size, MADV_DONTDUMP);
	gm->mapping = p;
	gm->mapping_size = ram_size;
	ret = guest_mem_add(gm, 0, low, p);
	if (!ret && ram_size > low)
		ret = guest_mem_add(gm, GUEST_MEM_4G, ram_size - low, p + low);
	if (ret)
		guest_mem_free(gm);
	return ret;
}

void guest_mem_free(struct guest_mem *gm)
{
	free(gm->dirty);
	if (gm->mapping)
		munmap(gm->mapping, gm->mapping_size);
	memset(gm, 0, sizeof(*gm));
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (!len)
		len = 1;
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		/* off < size and len <= size - off: no addition, so nothing can wrap. */
		if (off < r->size && len <= r->size - off)
			return r->host + off;
	}
	return NULL;
}

int guest_mem_track_dirty(struct guest_mem *gm)
{
	uint64_t pages = (gm->ram_size + GUEST_MEM_PAGE - 1) / GUEST_MEM_PAGE;

	if (gm->dirty)
		return 0;
	gm->dirty = calloc((size_t)((pages + 63) / 64) + 1, sizeof(uint64_t));
	if (!gm->dirty)
		return -ENOMEM;
	gm->dirty_words = (pages + 63) / 64;
	return 0;
}

int64_t guest_mem_page_index(const struct guest_mem *gm, uint64_t gpa)
{
	uint64_t base = 0;

	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return (int64_t)((base + (gpa - r->gpa)) / GUEST_MEM_PAGE);
		base += r->size;
	}
	return -1;
}

void guest_mem_mark_dirty(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	int64_t first, last;

	if (!gm->dirty || !guest_mem_ptr(gm, gpa, len))
		return;
	if (!len)
		len = 1;
	/* Inside one region (guest_mem_ptr said so): the page indices are contiguous. */
	first = guest_mem_page_index(gm, gpa);
	last = guest_mem_page_index(gm, gpa + len - 1);
	for (int64_t p = first; p >= 0 && p <= last; p++) {
		uint64_t bit = 1ull << (p % 64);

		if (!(__atomic_load_n(&gm->dirty[p / 64], __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(&gm->dirty[p / 64], bit, __ATOMIC_RELAXED);
	}
}

void guest_mem_take_dirty(const struct guest_mem *gm, uint64_t *out)
{
	for (uint64_t i = 0; gm->dirty && i < gm->dirty_words; i++)
		out[i] |= __atomic_exchange_n(&gm->dirty[i], 0, __ATOMIC_RELAXED);
}

int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
{
	const void *p = guest_mem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
{
	void *p = guest_mem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	guest_mem_mark_dirty(gm, gpa, len);
	return 0;
}
