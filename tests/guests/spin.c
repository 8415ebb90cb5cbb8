/* spin: runs forever without exiting, busy in guest code (never halted), printing "@T tick=N" on
 * COM1 about every 2^shift TSC cycles (shift=N on the command line, default 27: ~50 ms at
 * 2.5 GHz), so a test can tell a running vCPU from a paused one (tests/integration/test_api.sh).
 * The TSC, not an iteration count: how fast a loop runs depends on the backend (kvm_pvm emulates
 * this 32-bit code) by orders of magnitude. */
#include "guest.h"

static char cmdline[512];

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	uint64_t next, period;
	uint32_t shift, tick = 0;

	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("spin", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi_addr, cmdline, sizeof(cmdline));
	shift = guest_cmdline_uint(cmdline, "shift", 27);
	if (shift > 40)
		shift = 40;
	period = 1ull << shift;
	guest_printf("\nspin: running (a tick every 2^%u TSC cycles)\n", shift);
	next = rdtsc() + period;
	for (;;) {
		uint64_t now = rdtsc();

		if ((int64_t)(now - next) >= 0) {
			guest_printf("@T tick=%u\n", tick++);
			next = now + period;
		}
	}
}
