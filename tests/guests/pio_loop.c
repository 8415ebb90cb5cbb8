/* pio_loop: benchmark guest (bench/run.sh). Does n=N `outb` instructions to port=P (default 0x80,
 * the POST port: unclaimed in kvmbox, a no-op dummy device in QEMU), so each is one port-I/O exit
 * to the VMM, then exits through debug-exit. Prints only before and after the loop. */
#include "guest.h"

#define GUEST_EXIT_PIO_LOOP 0x2f /* status 95 */

static char cmdline[512];

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("pio_loop", "eax=0x%08x, want 0x%08x", magic,
			   MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi_addr, cmdline, sizeof(cmdline));
	uint32_t n = guest_cmdline_uint(cmdline, "n", 0);
	uint32_t port = guest_cmdline_uint(cmdline, "port", 0x80);
	if (port > 0xffff || port == GUEST_PORT_DEBUG_EXIT)
		guest_fail("pio_loop", "bad port=0x%x", port);
	guest_printf("\npio_loop: n=%u port=0x%x\n", n, port);

	for (uint32_t i = 0; i < n; i++)
		outb((uint16_t)port, (uint8_t)i);

	guest_printf("PASS pio_loop\n");
	guest_exit(GUEST_EXIT_PIO_LOOP);
}
