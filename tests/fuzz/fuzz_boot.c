/* libFuzzer target: arbitrary bytes as a kernel image through format detection and every loader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "guest_mem.h"

/* Small enough that a segment's memset per input stays cheap, big enough for real layouts. */
#define FUZZ_LOW_RAM (32u << 20)
#define FUZZ_HIGH_RAM (1u << 20)

static struct guest_mem fuzz_gm;
static uint8_t fuzz_initrd[3 * 4096 + 17];

/* Exact-size heap buffers: ASan flags any access guest_mem_ptr should have refused. */
static void fuzz_boot_init(void)
{
	uint8_t *low = malloc(FUZZ_LOW_RAM), *high = malloc(FUZZ_HIGH_RAM);

	if (!low || !high || guest_mem_add(&fuzz_gm, 0, FUZZ_LOW_RAM, low) ||
	    guest_mem_add(&fuzz_gm, LAYOUT_4G, FUZZ_HIGH_RAM, high))
		abort();
	memset(fuzz_initrd, 0x5a, sizeof(fuzz_initrd));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Options come from the size so every byte of the input is the kernel image itself. */
	struct boot_config cfg = {
		.kernel_path = "fuzz-kernel",
		.initrd_path = (size & 1) ? "fuzz-initrd" : NULL,
		.cmdline = (size & 2) ? "console=ttyS0 root=/dev/vda" : NULL,
		.rsdp_gpa = (size & 4) ? LAYOUT_ACPI : 0,
	};
	struct boot_entry entry;

	if (!fuzz_gm.nregions)
		fuzz_boot_init();
	if (!boot_load_buffer(&fuzz_gm, &cfg, data, size, cfg.initrd_path ? fuzz_initrd : NULL,
			      sizeof(fuzz_initrd), &entry)) {
		/* A successful load must hand back a usable entry. */
		if (!entry.format || !guest_mem_ptr(&fuzz_gm, entry.rip, 1))
			abort();
	}
	return 0;
}
