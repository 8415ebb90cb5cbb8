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

struct emu_mmu {
	uint64_t cr0, cr3, cr4, efer, rflags; /* rflags: AC, for SMAP */
	unsigned maxphyaddr;		      /* physical address bits; 0 means 52 */
	/*
	 * Host pointer to len bytes of guest physical memory holding paging structures, or NULL
	 * when they are not RAM. Entries are updated in place (accessed/dirty bits), atomically.
	 */
	void *(*pt)(void *opaque, uint64_t gpa, unsigned len);
	void *opaque;
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
