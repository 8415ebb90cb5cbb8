/* Guest page-table walk for the emulator: linear to physical with the CPU's permission rules. */
#ifndef KVMBOX_X86_EMU_MMU_H
#define KVMBOX_X86_EMU_MMU_H

#include <stdint.h>

#include "arch/x86/emu/emu.h"

#define EMU_PFEC_P (1u << 0)
#define EMU_PFEC_W (1u << 1)
#define EMU_PFEC_U (1u << 2)
#define EMU_PFEC_RSVD (1u << 3)
#define EMU_PFEC_ID (1u << 4)

/*
 * A software TLB for a CPU that keeps running in the emulator (--accel emu): translations a walk
 * allowed, one per 4 KiB linear page, with the permissions the walk gathered. Its owner flushes it
 * where the CPU would (MOV to CR0/CR3/CR4, EFER, INVLPG, INVPCID). As on the CPU, a stale entry may
 * be used until then; an access the entry does not allow, or a write through an entry whose page
 * is not yet dirty, walks again (so a PTE made more permissive takes effect at once, and the
 * dirty bit is set).
 */
#define EMU_TLB_SIZE 256
struct emu_tlb {
	struct {
		uint64_t vpn, gfn; /* linear page (+1: 0 is empty), physical frame */
		uint8_t perm;	   /* EMU_TLB_RW, _US, _NX, _DIRTY */
	} e[EMU_TLB_SIZE];
	uint64_t cr0, cr3, cr4, efer; /* the context its entries were made in */
};
void emu_tlb_flush(struct emu_tlb *t);

struct emu_mmu {
	uint64_t cr0, cr3, cr4, efer, rflags; /* rflags: AC, for SMAP */
	unsigned maxphyaddr;		      /* physical address bits; 0 means 52 */
	/*
	 * Host pointer to len bytes of guest physical memory holding paging structures, or NULL
	 * when they are not RAM. Entries are updated in place (accessed/dirty bits), atomically.
	 */
	void *(*pt)(void *opaque, uint64_t gpa, unsigned len);
	void *opaque;
	struct emu_tlb *tlb; /* NULL: every translation walks */
};

/*
 * Translate linear address la for an access (EMU_ACC_* flags; supervisor unless EMU_ACC_USER) the
 * way the CPU does: 32-bit, PAE, 4- and 5-level paging; present, reserved-bit, R/W with CR0.WP,
 * U/S, NX, SMEP and SMAP checks; accessed and dirty bits set (atomically, only if the access is
 * allowed). Returns 0 with *gpa, EMU_MEM_FAULT with *pf (addr = la), -EFAULT if a paging structure
 * is not in RAM, -EAGAIN if other vCPUs kept changing the entries. Protection keys are not checked.
 */
int emu_mmu_translate(const struct emu_mmu *mmu, uint64_t la, unsigned access, uint64_t *gpa,
		      struct emu_pf *pf) __attribute__((warn_unused_result));

#endif
