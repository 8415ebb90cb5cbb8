/* Unit tests of the emulator's guest page-table walk: paging modes, permissions, A/D bits. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emu/mmu.h"
#include "guest_mem.h"
#include "test.h"

#define MEM_SIZE (4u << 20)
#define PT_BASE 0x100000ull /* page tables are allocated from here */

#define P (1ull << 0)
#define RW (1ull << 1)
#define US (1ull << 2)
#define A (1ull << 5)
#define D (1ull << 6)
#define PS (1ull << 7)
#define NX (1ull << 63)

static struct guest_mem gm;
static uint8_t *mem;
static uint64_t next_table;

static void *pt_ptr(void *opaque, uint64_t gpa, unsigned len)
{
	return guest_mem_ptr(opaque, gpa, len);
}

static void reset(void)
{
	if (!mem)
		mem = aligned_alloc(4096, MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	memset(&gm, 0, sizeof(gm));
	if (guest_mem_add(&gm, 0, MEM_SIZE, mem))
		abort();
	next_table = PT_BASE;
}

static uint64_t new_table(void)
{
	uint64_t t = next_table;

	next_table += 4096;
	return t;
}

static uint64_t *e64(uint64_t gpa)
{
	return (uint64_t *)(mem + gpa);
}

static uint32_t *e32(uint64_t gpa)
{
	return (uint32_t *)(mem + gpa);
}

static struct emu_mmu mmu_long(uint64_t cr3)
{
	return (struct emu_mmu){
		.cr0 = EMU_CR0_PE | EMU_CR0_PG | EMU_CR0_WP,
		.cr3 = cr3,
		.cr4 = EMU_CR4_PAE,
		.efer = EMU_EFER_LME | EMU_EFER_LMA | EMU_EFER_NXE,
		.maxphyaddr = 46,
		.pt = pt_ptr,
		.opaque = &gm,
	};
}

/*
 * Map la with a leaf at the given level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) in a 4- or 5-level tree
 * rooted at cr3; upper entries get `upper` flags. Returns the leaf entry's gpa.
 */
static uint64_t map(uint64_t cr3, unsigned levels, uint64_t la, uint64_t pa, unsigned leaf_level,
		    uint64_t leaf, uint64_t upper)
{
	uint64_t table = cr3;

	for (unsigned level = levels; level > leaf_level; level--) {
		uint64_t slot = table + ((la >> (12 + 9 * (level - 1))) & 511) * 8;

		if (!(*e64(slot) & P))
			*e64(slot) = new_table() | upper;
		else
			*e64(slot) |= upper;
		table = *e64(slot) & 0x000ffffffffff000ull;
	}
	table += ((la >> (12 + 9 * (leaf_level - 1))) & 511) * 8;
	*e64(table) = pa | leaf | (leaf_level > 1 ? PS : 0);
	return table;
}

/*
 * The software TLB: a cached translation is used until a flush, even after its PTE changed (as a
 * CPU's may be); what it does not allow, or a write through a clean entry, walks again, so a PTE
 * made writable takes effect at once and the dirty bit is set; not-present entries are never
 * cached; a debugger's peek bypasses it.
 */
static void test_tlb(void)
{
	const uint64_t la = 0x00007f1234567abcull;
	struct emu_tlb tlb;
	uint64_t cr3, leaf, gpa = 0;
	struct emu_mmu m;
	struct emu_pf pf;

	reset();
	emu_tlb_flush(&tlb);
	cr3 = new_table();
	m = mmu_long(cr3);
	m.tlb = &tlb;
	leaf = map(cr3, 4, la, 0x200000, 1, P | US, P | RW | US); /* a read-only user page */
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_USER, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x200abc);
	*e64(leaf) = 0x300000 | P | US | A; /* moved, no flush: the cached translation stays */
	CHECK_EQ(emu_mmu_translate(&m, la + 1, EMU_ACC_USER, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x200abd);
	/* The cached U/S bit still meets SMAP: a supervisor read walks, and faults. */
	m.cr4 |= EMU_CR4_SMAP;
	CHECK_EQ(emu_mmu_translate(&m, la, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P);
	m.cr4 &= ~EMU_CR4_SMAP;
	/* A write through the read-only entry walks: the new PTE is read-only too. */
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_WRITE | EMU_ACC_USER, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_W | EMU_PFEC_U);
	/* Made writable (no flush): the write walks, succeeds, sets D, and is cached. */
	*e64(leaf) = 0x300000 | P | US | RW;
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_WRITE | EMU_ACC_USER, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x300abc);
	CHECK_EQ(*e64(leaf) & (A | D), A | D);
	*e64(leaf) = 0x400000 | P | US | RW;
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x300abc); /* from the cache */
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_PEEK, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x400abc); /* a peek walks */
	emu_tlb_flush(&tlb);
	/* A read fills a clean entry; the write after it walks to set D. */
	CHECK_EQ(emu_mmu_translate(&m, la, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x400abc);
	CHECK_EQ(*e64(leaf) & D, 0);
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(*e64(leaf) & D, D);
	/* Not present: not cached, so a PTE filled in later is seen without a flush. */
	emu_tlb_flush(&tlb);
	*e64(leaf) = 0;
	CHECK_EQ(emu_mmu_translate(&m, la, 0, &gpa, &pf), EMU_MEM_FAULT);
	*e64(leaf) = 0x500000 | P;
	CHECK_EQ(emu_mmu_translate(&m, la, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x500abc);
}

static void test_paging_off(void)
{
	struct emu_mmu m = { .cr0 = EMU_CR0_PE, .pt = pt_ptr, .opaque = &gm };
	struct emu_pf pf;
	uint64_t gpa = 0;

	reset();
	CHECK_EQ(emu_mmu_translate(&m, 0x12345678, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x12345678);
	CHECK_EQ(emu_mmu_translate(&m, 0x1ffffffffull, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0xffffffff);
}

static void test_long_4k(void)
{
	uint64_t cr3, leaf, gpa = 0;
	struct emu_mmu m;
	struct emu_pf pf;
	const uint64_t la = 0x00007f1234567abcull;

	reset();
	cr3 = new_table();
	m = mmu_long(cr3);
	leaf = map(cr3, 4, la, 0x200000, 1, P | RW, P | RW);
	CHECK_EQ(emu_mmu_translate(&m, la, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x200abc);
	/* A set at every level, D not on a read. */
	CHECK_EQ(*e64(leaf) & (A | D), A);
	CHECK(*e64(cr3 + ((la >> 39) & 511) * 8) & A);
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(*e64(leaf) & (A | D), A | D);
	/* Bits above 48 are not looked at by the walk (the canonical check is the emulator's). */
	CHECK_EQ(emu_mmu_translate(&m, la | 0xffff000000000000ull, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x200abc);

	/* Not present: P=0, CR2 = la, nothing marked accessed. */
	*e64(leaf) = 0x200000 | RW;
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_WRITE, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_W);
	CHECK_EQ(pf.addr, la);
	CHECK_EQ(emu_mmu_translate(&m, la + 0x1000, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, 0);
	CHECK_EQ(emu_mmu_translate(&m, 0x1000, EMU_ACC_USER, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_U); /* PML4E missing */
	CHECK_EQ(*e64(leaf), 0x200000 | RW);

	/* Paging structures outside RAM. */
	m.cr3 = 0x40000000;
	CHECK_EQ(emu_mmu_translate(&m, la, 0, &gpa, &pf), -EFAULT);
}

static void test_long_permissions(void)
{
	uint64_t cr3, gpa = 0, leaf;
	struct emu_mmu m;
	struct emu_pf pf;
	const uint64_t ro_sup = 0x400000, ro_user = 0x401000, rw_user = 0x402000, nx = 0x403000;
	const uint64_t user_in_sup_dir = 0x40000000;

	reset();
	cr3 = new_table();
	m = mmu_long(cr3);
	map(cr3, 4, ro_sup, 0x1000, 1, P, P | RW | US);
	map(cr3, 4, ro_user, 0x2000, 1, P | US, P | RW | US);
	leaf = map(cr3, 4, rw_user, 0x3000, 1, P | RW | US, P | RW | US);
	map(cr3, 4, nx, 0x4000, 1, P | RW | NX, P | RW | US);
	map(cr3, 4, user_in_sup_dir, 0x5000, 1, P | RW | US, P | RW); /* U/S=0 above */

	/* Supervisor write to read-only: faults with CR0.WP, allowed without. */
	CHECK_EQ(emu_mmu_translate(&m, ro_sup, EMU_ACC_WRITE, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_W);
	m.cr0 &= ~EMU_CR0_WP;
	CHECK_EQ(emu_mmu_translate(&m, ro_sup, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x1000);
	m.cr0 |= EMU_CR0_WP;
	/* User: supervisor pages and read-only writes fault whatever WP says. */
	CHECK_EQ(emu_mmu_translate(&m, ro_sup, EMU_ACC_USER, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_U);
	CHECK_EQ(emu_mmu_translate(&m, ro_user, EMU_ACC_USER, &gpa, &pf), 0);
	m.cr0 &= ~EMU_CR0_WP;
	CHECK_EQ(emu_mmu_translate(&m, ro_user, EMU_ACC_USER | EMU_ACC_WRITE, &gpa, &pf),
		 EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_W | EMU_PFEC_U);
	m.cr0 |= EMU_CR0_WP;
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_USER | EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(*e64(leaf) & (A | D), A | D);
	CHECK_EQ(emu_mmu_translate(&m, user_in_sup_dir, EMU_ACC_USER, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_U);

	/* NX: fetch faults with I/D; reads are fine; without EFER.NXE bit 63 is reserved. */
	CHECK_EQ(emu_mmu_translate(&m, nx, EMU_ACC_FETCH, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_ID);
	CHECK_EQ(emu_mmu_translate(&m, nx, 0, &gpa, &pf), 0);
	m.efer &= ~EMU_EFER_NXE;
	CHECK_EQ(emu_mmu_translate(&m, nx, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_RSVD);
	/* Without NXE (and SMEP) a fetch fault has no I/D bit. */
	CHECK_EQ(emu_mmu_translate(&m, nx + 0x10000, EMU_ACC_FETCH, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, 0);
	m.efer |= EMU_EFER_NXE;

	/* SMEP: supervisor fetch from a user page. */
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_FETCH, &gpa, &pf), 0);
	m.cr4 |= EMU_CR4_SMEP;
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_FETCH, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_ID);
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_FETCH | EMU_ACC_USER, &gpa, &pf), 0);
	m.cr4 &= ~EMU_CR4_SMEP;

	/* SMAP: supervisor data access to a user page unless RFLAGS.AC. */
	m.cr4 |= EMU_CR4_SMAP;
	CHECK_EQ(emu_mmu_translate(&m, rw_user, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P);
	CHECK_EQ(emu_mmu_translate(&m, ro_sup, 0, &gpa, &pf), 0);
	m.rflags |= EMU_RFLAGS_AC;
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(emu_mmu_translate(&m, ro_user, EMU_ACC_WRITE, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_W);
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_USER, &gpa, &pf), 0);
	/* Implicit supervisor accesses (descriptor tables, TSS) are blocked whatever AC says. */
	CHECK_EQ(emu_mmu_translate(&m, rw_user, EMU_ACC_IMPLICIT, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P);
	CHECK_EQ(emu_mmu_translate(&m, ro_sup, EMU_ACC_IMPLICIT, &gpa, &pf), 0);
}

static void test_long_large_pages(void)
{
	uint64_t cr3, gpa = 0, leaf;
	struct emu_mmu m;
	struct emu_pf pf;

	reset();
	cr3 = new_table();
	m = mmu_long(cr3);
	leaf = map(cr3, 4, 0xffff800000200000ull, 0x80000000ull, 2, P | RW, P | RW);
	CHECK_EQ(emu_mmu_translate(&m, 0xffff8000002fedcbull, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x800fedcbull);
	CHECK_EQ(*e64(leaf) & (A | D), A | D);
	/* PAT (bit 12) is allowed in a large page; bit 13 is reserved. */
	*e64(leaf) |= 1ull << 12;
	CHECK_EQ(emu_mmu_translate(&m, 0xffff8000002fedcbull, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x800fedcbull);
	*e64(leaf) |= 1ull << 13;
	CHECK_EQ(emu_mmu_translate(&m, 0xffff8000002fedcbull, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_RSVD);

	leaf = map(cr3, 4, 0x0000004000000000ull, 0x1c0000000ull, 3, P, P | RW);
	CHECK_EQ(emu_mmu_translate(&m, 0x0000004012345678ull, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x1d2345678ull);
	*e64(leaf) |= 1ull << 20;
	CHECK_EQ(emu_mmu_translate(&m, 0x0000004012345678ull, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_RSVD);

	/* PS in a PML4E is reserved. */
	*e64(cr3 + 8 * 1) = 0x40000000ull | P | RW | PS;
	CHECK_EQ(emu_mmu_translate(&m, 1ull << 39, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_RSVD);

	/* Frame bits beyond MAXPHYADDR are reserved. */
	leaf = map(cr3, 4, 0x5000, 1ull << 46, 1, P | RW, P | RW);
	CHECK_EQ(emu_mmu_translate(&m, 0x5000, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_RSVD);
	m.maxphyaddr = 52;
	CHECK_EQ(emu_mmu_translate(&m, 0x5000, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 1ull << 46);
	(void)leaf;
}

static void test_five_level(void)
{
	uint64_t cr3, gpa = 0;
	struct emu_mmu m;
	struct emu_pf pf;
	const uint64_t la = 0x00ff123456789000ull;

	reset();
	cr3 = new_table();
	m = mmu_long(cr3);
	m.cr4 |= EMU_CR4_LA57;
	map(cr3, 5, la, 0x7000, 1, P | RW, P | RW);
	CHECK_EQ(emu_mmu_translate(&m, la + 0x10, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x7010);
	/* A different PML5 index is a different, empty tree. */
	CHECK_EQ(emu_mmu_translate(&m, la ^ (1ull << 48), 0, &gpa, &pf), EMU_MEM_FAULT);
}

static void test_pae(void)
{
	uint64_t pdpt = 0x1020, pd, pt, gpa = 0; /* PAE CR3: 32-byte aligned */
	struct emu_mmu m = {
		.cr0 = EMU_CR0_PE | EMU_CR0_PG | EMU_CR0_WP,
		.cr3 = pdpt,
		.cr4 = EMU_CR4_PAE,
		.efer = EMU_EFER_NXE,
		.maxphyaddr = 36,
		.pt = pt_ptr,
		.opaque = &gm,
	};
	struct emu_pf pf;

	reset();
	pd = new_table();
	pt = new_table();
	*e64(pdpt + 3 * 8) = pd | P;
	*e64(pd + 1 * 8) = pt | P | RW;
	*e64(pt + 2 * 8) = 0x9000 | P | RW | NX;
	*e64(pd + 2 * 8) = 0x600000 | P | PS; /* 2 MiB */
	CHECK_EQ(emu_mmu_translate(&m, 0xc0202123, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x9123);
	CHECK_EQ(*e64(pdpt + 3 * 8), pd | P); /* no accessed bit in a PDPTE */
	CHECK_EQ(*e64(pt + 2 * 8) & (A | D), A | D);
	CHECK_EQ(emu_mmu_translate(&m, 0xc0202123, EMU_ACC_FETCH, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_ID);
	CHECK_EQ(emu_mmu_translate(&m, 0xc0512345, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x712345);
	CHECK_EQ(emu_mmu_translate(&m, 0x00001000, 0, &gpa, &pf), EMU_MEM_FAULT); /* PDPTE 0 */
	CHECK_EQ(pf.error_code, 0);
}

static void test_legacy_32bit(void)
{
	uint64_t pd, pt, gpa = 0;
	struct emu_mmu m;
	struct emu_pf pf;

	reset();
	pd = new_table();
	pt = new_table();
	m = (struct emu_mmu){
		.cr0 = EMU_CR0_PE | EMU_CR0_PG,
		.cr3 = pd,
		.efer = EMU_EFER_NXE, /* no effect without PAE */
		.maxphyaddr = 40,
		.pt = pt_ptr,
		.opaque = &gm,
	};
	*e32(pd + 0x300 * 4) = (uint32_t)(pt | P | RW | US);
	*e32(pt + 0x45 * 4) = 0xabc000 | P | US;
	*e32(pd + 0x301 * 4) = 0x00c00000 | (0x12 << 13) | P | RW | PS; /* 4 MiB, PA bits 39:32 */
	CHECK_EQ(emu_mmu_translate(&m, 0xc0045678, EMU_ACC_USER, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0xabc678);
	CHECK_EQ(*e32(pt + 0x45 * 4) & A, A);
	CHECK_EQ(*e32(pd + 0x300 * 4) & A, A);
	/* CR0.WP clear: supervisor may write the read-only page; user may not. */
	CHECK_EQ(emu_mmu_translate(&m, 0xc0045678, EMU_ACC_WRITE, &gpa, &pf), 0);
	CHECK_EQ(*e32(pt + 0x45 * 4) & D, D);
	CHECK_EQ(emu_mmu_translate(&m, 0xc0045678, EMU_ACC_WRITE | EMU_ACC_USER, &gpa, &pf),
		 EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_W | EMU_PFEC_U);
	/* A fetch fault under 32-bit paging has no I/D bit (no NX there) unless SMEP. */
	*e32(pt + 0x46 * 4) = 0;
	CHECK_EQ(emu_mmu_translate(&m, 0xc0046000, EMU_ACC_FETCH, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, 0);
	m.cr4 |= EMU_CR4_SMEP;
	CHECK_EQ(emu_mmu_translate(&m, 0xc0046000, EMU_ACC_FETCH, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_ID);
	m.cr4 &= ~EMU_CR4_SMEP;
	/* 4 MiB pages need CR4.PSE; without it the PDE points to a page table. */
	m.cr4 |= EMU_CR4_PSE;
	CHECK_EQ(emu_mmu_translate(&m, 0xc0654321, 0, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x1200e54321ull);
	m.maxphyaddr = 36;
	CHECK_EQ(emu_mmu_translate(&m, 0xc0654321, 0, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_RSVD);
	m.cr4 &= ~EMU_CR4_PSE;
	CHECK_EQ(emu_mmu_translate(&m, 0xc0400000, 0, &gpa, &pf), -EFAULT); /* PT outside RAM */
}

/* A debugger's look (EMU_ACC_PEEK): any present mapping, no accessed/dirty bits, faults still. */
static void test_peek(void)
{
	uint64_t cr3, leaf, gpa = 0;
	struct emu_mmu m;
	struct emu_pf pf;
	const uint64_t la = 0xffffffff81000123ull;

	reset();
	cr3 = new_table();
	m = mmu_long(cr3);
	m.cr4 |= EMU_CR4_SMAP | EMU_CR4_SMEP;
	/* Read-only, supervisor-only, no-execute: every ordinary access below would fault. */
	leaf = map(cr3, 4, la, 0x300000, 1, P | NX, P | RW);
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_USER | EMU_ACC_WRITE, &gpa, &pf), EMU_MEM_FAULT);
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_PEEK, &gpa, &pf), 0);
	CHECK_EQ(gpa, 0x300123);
	CHECK_EQ(*e64(leaf) & (A | D), 0);
	CHECK_EQ(*e64(cr3 + ((la >> 39) & 511) * 8) & A, 0);
	/* Not present is still not there. */
	*e64(leaf) &= ~P;
	CHECK_EQ(emu_mmu_translate(&m, la, EMU_ACC_PEEK, &gpa, &pf), EMU_MEM_FAULT);
}

int main(void)
{
	RUN_TEST(test_paging_off);
	RUN_TEST(test_long_4k);
	RUN_TEST(test_long_permissions);
	RUN_TEST(test_long_large_pages);
	RUN_TEST(test_five_level);
	RUN_TEST(test_pae);
	RUN_TEST(test_legacy_32bit);
	RUN_TEST(test_peek);
	RUN_TEST(test_tlb);
	free(mem);
	TEST_EXIT();
}
