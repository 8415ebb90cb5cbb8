/* Constants shared by the test guests' assembly sources. */
#ifndef KVMBOX_GUEST_ASM_H
#define KVMBOX_GUEST_ASM_H

#define MB_HEADER_MAGIC 0x1badb002
#define MB_HEADER_FLAGS 0x00000003 /* page-align modules, want memory info */

/* GDT selectors (entry32.S and entry64.S use the same first three). */
#define SEL_CODE32 0x08
#define SEL_DATA32 0x10
#define SEL_CODE16 0x18 /* entry32.S only */
#define SEL_DATA16 0x20 /* entry32.S only */
#define SEL_CODE64 0x18 /* entry64.S only */

/* Where the realmode guest and the SMP trampoline copy their real-mode code: page-aligned, below 1
 * MiB and clear of what kvmbox's loader uses (0x500-0xffff boot structures, 0x20000 command line).
 * Real-mode segment LOW_BLOB_BASE >> 4; SIPI vector LOW_BLOB_BASE >> 12. */
#define LOW_BLOB_BASE 0x10000
#define LOW_BLOB_MAX 0x1000

#endif
