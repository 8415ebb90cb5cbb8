/* Guest page-table walk: 32-bit, PAE, 4/5-level paging, permissions, accessed/dirty bits. */
#include "arch/x86/emu/mmu.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)

#define EMU_MMU_MAX_LEVELS 5
#define EMU_MMU_RETRIES 16

struct emu_mmu_entry {
	void *host;
	uint64_t val;
	unsigned size; /* 4 or 8 */
};

struct emu_mmu_walk {
	struct emu_mmu_entry e[EMU_MMU_MAX_LEVELS];
	unsigned n;
	bool rw, us, nx, rsvd;
};

/* Read one paging-structure entry (atomically: other vCPUs may be changing it). */
static int emu_mmu_read(const struct emu_mmu *mmu, struct emu_mmu_walk *w, uint64_t gpa,
			unsigned size, uint64_t *val)
{
	void *p = mmu->pt(mmu->opaque, gpa, size);
	struct emu_mmu_entry *e = &w->e[w->n];

	/* Entries are aligned in guest memory; a misaligned host copy could not be atomic. */
	if (!p || ((uintptr_t)p & (size - 1)))
		return -EFAULT;
	if (size == 8)
		e->val = __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
	else
		e->val = __atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE);
	e->host = p;
	e->size = size;
	w->n++;
	*val = e->val;
	return 0;
}

/* Set A on every entry used and D on the leaf for writes, unless an entry changed meanwhile. */
static int emu_mmu_set_ad(struct emu_mmu_walk *w, bool write)
{
	for (unsigned i = 0; i < w->n; i++) {
		struct emu_mmu_entry *e = &w->e[i];
		uint64_t want = e->val | PTE_A | (write && i == w->n - 1 ? PTE_D : 0);
		bool ok;

		if (want == e->val)
			continue;
		if (e->size == 8) {
			uint64_t old = e->val;

			ok = __atomic_compare_exchange_n((uint64_t *)e->host, &old, want, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		} else {
			uint32_t old = (uint32_t)e->val;

			ok = __atomic_compare_exchange_n((uint32_t *)e->host, &old, (uint32_t)want,
							 false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		}
		if (!ok)
			return -EAGAIN;
	}
	return 0;
}

static void emu_mmu_account(struct emu_mmu_walk *w, uint64_t pte, uint64_t rsvd)
{
	w->rw &= !!(pte & PTE_RW);
	w->us &= !!(pte & PTE_US);
	w->nx |= !!(pte & PTE_NX);
	w->rsvd |= !!(pte & rsvd);
}

/* One walk: 0 with *gpa, a negative errno, or 1 when the translation is missing (not present). */
static int emu_mmu_walk(const struct emu_mmu *mmu, struct emu_mmu_walk *w, uint64_t la,
			uint64_t *gpa)
{
	unsigned maxphy = mmu->maxphyaddr ? mmu->maxphyaddr : 52;
	uint64_t frame = ((1ull << maxphy) - 1) & ~0xfffull;
	uint64_t rsvd = (((1ull << 52) - 1) & ~((1ull << maxphy) - 1)) |
			((mmu->efer & EMU_EFER_NXE) ? 0 : PTE_NX);
	uint64_t table, pte;
	int level, ret;

	w->rw = w->us = true;
	if (!(mmu->cr4 & EMU_CR4_PAE)) {
		/* 32-bit paging: 4-byte entries, optional 4 MiB pages (PSE-36 bits 39:32). */
		la &= 0xffffffffull;
		ret = emu_mmu_read(mmu, w, (mmu->cr3 & 0xfffff000ull) + ((la >> 22) << 2), 4, &pte);
		if (ret)
			return ret;
		if (!(pte & PTE_P))
			return 1;
		w->rw &= !!(pte & PTE_RW);
		w->us &= !!(pte & PTE_US);
		if ((pte & PTE_PS) && (mmu->cr4 & EMU_CR4_PSE)) {
			uint64_t pa = (pte & 0xffc00000ull) | (((pte >> 13) & 0xff) << 32);

			w->rsvd |= (pte & (1ull << 21)) || (pa >> maxphy);
			*gpa = pa | (la & 0x3fffff);
			return 0;
		}
		ret = emu_mmu_read(mmu, w, (pte & 0xfffff000ull) + (((la >> 12) & 0x3ff) << 2), 4,
				   &pte);
		if (ret)
			return ret;
		if (!(pte & PTE_P))
			return 1;
		w->rw &= !!(pte & PTE_RW);
		w->us &= !!(pte & PTE_US);
		*gpa = (pte & 0xfffff000ull) | (la & 0xfff);
		return 0;
	}
	if (mmu->efer & EMU_EFER_LMA) {
		level = (mmu->cr4 & EMU_CR4_LA57) ? 5 : 4;
		table = mmu->cr3 & frame;
	} else {
		/* PAE: the PDPTE has no R/W, U/S, NX; its reserved bits fault at CR3 load. */
		la &= 0xffffffffull;
		ret = emu_mmu_read(mmu, w, (mmu->cr3 & 0xffffffe0ull) + ((la >> 30) << 3), 8, &pte);
		if (ret)
			return ret;
		w->n--; /* PDPTEs are cached registers: the walk sets no accessed bit there */
		if (!(pte & PTE_P))
			return 1;
		level = 2;
		table = pte & frame;
	}
	for (; level >= 1; level--) {
		unsigned shift = 12 + 9 * (unsigned)(level - 1);

		ret = emu_mmu_read(mmu, w, table + (((la >> shift) & 511) << 3), 8, &pte);
		if (ret)
			return ret;
		if (!(pte & PTE_P))
			return 1;
		emu_mmu_account(w, pte, rsvd);
		if (level >= 4 && (pte & PTE_PS))
			w->rsvd = true;
		if (w->rsvd) {
			*gpa = 0; /* the walk stops at the first entry with reserved bits set */
			return 0;
		}
		if (level == 1 || (level <= 3 && (pte & PTE_PS))) {
			uint64_t page = 1ull << shift;

			/* Large pages: address bits below the page size are 0, bar PAT. */
			if (level > 1 && (pte & (page - 1) & ~0x1fffull & frame))
				w->rsvd = true;
			*gpa = (pte & frame & ~(page - 1)) | (la & (page - 1));
			return 0;
		}
		table = pte & frame;
	}
	return -EINVAL; /* not reached */
}

static bool emu_mmu_allowed(const struct emu_mmu *mmu, const struct emu_mmu_walk *w,
			    unsigned access)
{
	bool write = access & EMU_ACC_WRITE, fetch = access & EMU_ACC_FETCH;
	bool nx = w->nx && (mmu->efer & EMU_EFER_NXE);

	if (access & EMU_ACC_USER)
		return w->us && !(write && !w->rw) && !(fetch && nx);
	if (fetch)
		return !nx && !(w->us && (mmu->cr4 & EMU_CR4_SMEP));
	if (w->us && (mmu->cr4 & EMU_CR4_SMAP) &&
	    (!(mmu->rflags & EMU_RFLAGS_AC) || (access & EMU_ACC_IMPLICIT)))
		return false;
	return !(write && !w->rw && (mmu->cr0 & EMU_CR0_WP));
}

#define EMU_TLB_RW 1u
#define EMU_TLB_US 2u
#define EMU_TLB_NX 4u
#define EMU_TLB_DIRTY 8u

void emu_tlb_flush(struct emu_tlb *t)
{
	memset(t->e, 0, sizeof(t->e));
}

/* A TLB hit that allows this access: 0 with *gpa; 1 when the walk must decide. */
static int emu_tlb_lookup(const struct emu_mmu *mmu, uint64_t la, unsigned access, uint64_t *gpa)
{
	uint64_t vpn = la >> 12;
	const struct emu_tlb *t = mmu->tlb;
	unsigned i = vpn % EMU_TLB_SIZE, perm;
	struct emu_mmu_walk w;

	if (t->e[i].vpn != vpn + 1)
		return 1;
	perm = t->e[i].perm;
	if ((access & EMU_ACC_WRITE) && !(perm & EMU_TLB_DIRTY))
		return 1;
	w = (struct emu_mmu_walk){ .rw = perm & EMU_TLB_RW,
				   .us = perm & EMU_TLB_US,
				   .nx = perm & EMU_TLB_NX };
	if (!emu_mmu_allowed(mmu, &w, access))
		return 1;
	*gpa = t->e[i].gfn << 12 | (la & 0xfff);
	return 0;
}

static void emu_tlb_fill(const struct emu_mmu *mmu, uint64_t la, uint64_t gpa,
			 const struct emu_mmu_walk *w, bool write)
{
	uint64_t vpn = la >> 12;
	unsigned i = vpn % EMU_TLB_SIZE;
	bool dirty = write || (w->n && (w->e[w->n - 1].val & PTE_D));

	mmu->tlb->e[i].vpn = vpn + 1;
	mmu->tlb->e[i].gfn = gpa >> 12;
	mmu->tlb->e[i].perm = (uint8_t)((w->rw ? EMU_TLB_RW : 0) | (w->us ? EMU_TLB_US : 0) |
					(w->nx ? EMU_TLB_NX : 0) | (dirty ? EMU_TLB_DIRTY : 0));
}

int emu_mmu_translate(const struct emu_mmu *mmu, uint64_t la, unsigned access, uint64_t *gpa,
		      struct emu_pf *pf)
{
	unsigned ec = access & (EMU_ACC_WRITE | EMU_ACC_USER);
	bool cached = mmu->tlb && !(access & EMU_ACC_PEEK);

	if (!(mmu->cr0 & EMU_CR0_PG)) {
		*gpa = (mmu->efer & EMU_EFER_LMA) ? la : la & 0xffffffffull;
		return 0;
	}
	if (!(mmu->efer & EMU_EFER_LMA))
		la &= 0xffffffffull;
	if (cached && emu_tlb_lookup(mmu, la, access, gpa) == 0)
		return 0;
	/* I/D is reported only where execute-disable exists (NX with PAE/4-level paging, SMEP). */
	if ((access & EMU_ACC_FETCH) &&
	    ((mmu->cr4 & EMU_CR4_SMEP) || ((mmu->cr4 & EMU_CR4_PAE) && (mmu->efer & EMU_EFER_NXE))))
		ec |= EMU_PFEC_ID;
	for (unsigned tries = 0; tries < EMU_MMU_RETRIES; tries++) {
		struct emu_mmu_walk w = { .n = 0 };
		int ret = emu_mmu_walk(mmu, &w, la, gpa);

		if (ret < 0)
			return ret;
		pf->addr = la;
		if (ret == 1) {
			pf->error_code = ec;
			return EMU_MEM_FAULT;
		}
		if (w.rsvd) {
			pf->error_code = ec | EMU_PFEC_P | EMU_PFEC_RSVD;
			return EMU_MEM_FAULT;
		}
		if (access & EMU_ACC_PEEK)
			return 0;
		if (!emu_mmu_allowed(mmu, &w, access)) {
			pf->error_code = ec | EMU_PFEC_P;
			return EMU_MEM_FAULT;
		}
		ret = emu_mmu_set_ad(&w, access & EMU_ACC_WRITE);
		if (!ret && cached)
			emu_tlb_fill(mmu, la, *gpa, &w, access & EMU_ACC_WRITE);
		if (ret != -EAGAIN)
			return ret;
	}
	return -EAGAIN;
}
