/* realmode: drops from the 32-bit multiboot entry to real mode, prints from there through port I/O,
 * checks segment:offset addressing, a far call, INT n through the IVT with IRET, and a 32-bit IRET,
 * comes back to protected mode and exits. */
#include "guest.h"
#include "guest_asm.h"

#define RM_OK_PE_CLEAR 1u /* CR0.PE read as 0 in real mode */
#define RM_OK_SEGMENTS 2u /* ES:DI write seen through another segment */
#define RM_OK_FARCALL 4u  /* far call saw the CS it was given */
#define RM_OK_INT 8u	  /* int $0x30 through the IVT, IF clear in the handler, iret back */
#define RM_OK_IRETD 16u	  /* a 32-bit iret (66 cf) in real mode */
#define RM_OK_ALL 31u
#define RM_PATTERN_PHYS 0x31234u
#define RM_PATTERN 0x5a17c0deu

uint32_t realmode_run(void);
extern const char rm_blob[], rm_blob_end[];

void guest_main(uint32_t magic, uint32_t mbi)
{
	(void)mbi;
	guest_serial_init();
	guest_puts("\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("realmode", "eax=0x%08x, want 0x%08x", magic,
			   MULTIBOOT_BOOTLOADER_MAGIC);
	if ((uint32_t)(rm_blob_end - rm_blob) > LOW_BLOB_MAX)
		guest_fail("realmode", "real-mode code is %u bytes",
			   (uint32_t)(rm_blob_end - rm_blob));

	volatile uint32_t *pattern = (volatile uint32_t *)RM_PATTERN_PHYS;
	*pattern = 0;
	guest_printf(
	    "protected mode: copying %u bytes of 16-bit code to 0x%x, entering real mode\n",
	    (uint32_t)(rm_blob_end - rm_blob), LOW_BLOB_BASE);
	uint32_t r = realmode_run();

	uint32_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	guest_printf("protected mode again: cr0=0x%08x, real-mode result 0x%x, [0x%x]=0x%08x\n",
		     cr0, r, RM_PATTERN_PHYS, *pattern);
	if (!(cr0 & 1))
		guest_fail("realmode", "CR0.PE clear after the return to protected mode");
	if (!(r & RM_OK_PE_CLEAR))
		guest_fail("realmode", "CR0.PE was still set in real mode");
	if (!(r & RM_OK_SEGMENTS))
		guest_fail("realmode", "segment:offset write/read mismatch");
	if (!(r & RM_OK_FARCALL))
		guest_fail("realmode", "far call did not load CS");
	if (!(r & RM_OK_INT))
		guest_fail("realmode", "int $0x30 / iret through the IVT went wrong");
	if (!(r & RM_OK_IRETD))
		guest_fail("realmode", "32-bit iret in real mode went wrong");
	if (r & ~RM_OK_ALL)
		guest_fail("realmode", "garbage result 0x%x", r);
	if (*pattern != RM_PATTERN)
		guest_fail("realmode", "real-mode write to 3000:1234 not at physical 0x%x",
			   RM_PATTERN_PHYS);
	guest_printf("PASS realmode\n");
	guest_exit(GUEST_EXIT_REALMODE);
}
