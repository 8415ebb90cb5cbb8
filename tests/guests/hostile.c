/* hostile: a guest that attacks kvmbox's device models. With seed=N from the command line it
 *   1. writes a random value of a random width (1, 2, 4 bytes) to every I/O port and reads it back,
 *   2. makes random PCI configuration accesses through 0xcf8/0xcfc (BARs, command registers,
 *      MSI-X capabilities of whatever devices kvmbox was given),
 *   3. makes random accesses of every width (1-8 bytes) to random offsets of the PCI BAR window,
 *      the virtio-mmio windows, ECAM and unclaimed MMIO,
 * printing "@T hostile.PHASE=COUNT" after each phase, then "PASS hostile" and exits with
 * GUEST_EXIT_HOSTILE (status 81). It skips only the ports that end the VM by design (i8042 reset,
 * ACPI sleep/reset, 0xcf9, debug-exit) and the in-kernel LAPIC/IOAPIC (an INIT to itself would only
 * hang the guest). kvmbox must neither crash, hang nor leak (tests/integration/test_hostile.sh runs
 * it under ASan); whatever the guest does to its own devices is its business. */
#include "idt64.h"

static uint64_t rng_state;
static volatile uint64_t exceptions;
static char cmdline[256];

static uint64_t rnd(void)
{
	return guest_rnd(&rng_state);
}

void exc_handler(struct isr_frame *f)
{
	/* An NMI (a random MSI can be one) or anything else: count it and go on. */
	(void)f;
	exceptions++;
}

static void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

static uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void pio_random(uint16_t port, uint64_t r)
{
	switch (r & 3) {
	case 0:
		outb(port, (uint8_t)(r >> 8));
		(void)inb(port);
		break;
	case 1:
		outw(port, (uint16_t)(r >> 8));
		(void)inw(port);
		break;
	case 2:
		outl(port, (uint32_t)(r >> 8));
		(void)inl(port);
		break;
	default:
		(void)inl(port);
		break;
	}
}

static int port_ends_vm_1(uint32_t port)
{
	return port == 0x60 || port == 0x64 || (port >= GUEST_PORT_DEBUG_EXIT && port < 0xf8) ||
	       port == 0xcf9 || (port >= 0x600 && port < 0x610);
}

/* Whether an access of up to 4 bytes at port can reach one of those. */
static int port_ends_vm(uint32_t port)
{
	for (uint32_t p = port; p < port + 4; p++)
		if (port_ends_vm_1(p))
			return 1;
	return 0;
}

static void mmio_random(uint64_t addr, uint64_t r)
{
	switch (r & 7) {
	case 0:
		*(volatile uint8_t *)addr = (uint8_t)(r >> 8);
		(void)*(volatile uint8_t *)addr;
		break;
	case 1:
		*(volatile uint16_t *)(addr & ~1ull) = (uint16_t)(r >> 8);
		break;
	case 2:
		*(volatile uint32_t *)(addr & ~3ull) = (uint32_t)(r >> 8);
		(void)*(volatile uint32_t *)(addr & ~3ull);
		break;
	case 3:
		*(volatile uint64_t *)(addr & ~7ull) = r;
		break;
	case 4:
		(void)*(volatile uint64_t *)(addr & ~7ull);
		break;
	case 5:
		(void)*(volatile uint16_t *)(addr & ~1ull);
		break;
	default:
		(void)*(volatile uint32_t *)(addr & ~3ull);
		break;
	}
}

static const struct {
	const char *name;
	uint64_t base, size;
} mmio_ranges[] = {
	{ "pci_bars", 0xc0000000ull, 0x10000000ull },
	{ "virtio_mmio", 0xd0000000ull, 0x10000ull },
	{ "ecam", 0xe0000000ull, 0x100000ull },
	{ "unclaimed", 0xf0000000ull, 0x100000ull },
};

void guest_main(uint32_t magic, uint32_t mbi)
{
	uint32_t rounds, n = 0;

	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("hostile", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi, cmdline, sizeof(cmdline));
	rng_state = 0x9e3779b97f4a7c15ull ^ guest_cmdline_uint(cmdline, "seed", 1);
	rounds = guest_cmdline_uint(cmdline, "rounds", 4000);
	idt64_install();
	guest_printf("hostile: seed %u, %u rounds per MMIO range\n",
		     guest_cmdline_uint(cmdline, "seed", 1), rounds);

	for (uint32_t port = 0; port < 0x10000; port++) {
		if (port_ends_vm(port))
			continue;
		pio_random((uint16_t)port, rnd());
		n++;
	}
	guest_serial_init(); /* the storm reprogrammed COM1 too */
	guest_printf("@T hostile.pio=%u\n", n);

	/* The devices' own BARs first (the window is large and sparse), while they are where
	 * kvmbox put them: every memory BAR of every function on bus 0 gets `rounds` accesses in
	 * its first 16 KiB (virtio-pci's common, notify, ISR and device config, and MSI-X tables).
	 */
	n = 0;
	for (uint32_t fn = 0; fn < 256; fn++) {
		outl(0xcf8, 0x80000000u | fn << 8);
		if ((inl(0xcfc) & 0xffff) == 0xffff)
			continue;
		for (uint32_t bar = 0; bar < 6; bar++) {
			uint64_t base;
			uint32_t lo;

			outl(0xcf8, 0x80000000u | fn << 8 | (0x10 + 4 * bar));
			lo = inl(0xcfc);
			if ((lo & 1) || !(lo & ~0xfu))
				continue;
			base = lo & ~0xfull;
			if ((lo & 6) == 4) { /* 64-bit: the high half follows */
				outl(0xcf8, 0x80000000u | fn << 8 | (0x14 + 4 * bar));
				base |= (uint64_t)inl(0xcfc) << 32;
				bar++;
			}
			if (base >= 0x100000000ull)
				continue; /* only the first 4 GiB are mapped here */
			for (uint32_t i = 0; i < rounds; i++) {
				uint64_t r = rnd();

				mmio_random(base + (r >> 16) % 0x4000, rnd());
				n++;
			}
		}
	}
	guest_serial_init();
	guest_printf("@T hostile.bar_accesses=%u\n", n);

	for (n = 0; n < rounds; n++) {
		uint64_t r = rnd();

		/* bus 0, any device and function, any dword register; then one access there. */
		outl(0xcf8, 0x80000000u | ((uint32_t)r & 0xfffffcu));
		pio_random((uint16_t)(0xcfc + ((r >> 24) & 3)), rnd());
	}
	guest_serial_init();
	guest_printf("@T hostile.pci_config=%u\n", n);

	for (unsigned i = 0; i < sizeof(mmio_ranges) / sizeof(mmio_ranges[0]); i++) {
		for (n = 0; n < rounds; n++) {
			uint64_t r = rnd();

			mmio_random(mmio_ranges[i].base + (r >> 16) % mmio_ranges[i].size, rnd());
		}
		guest_serial_init();
		guest_printf("@T hostile.%s=%u\n", mmio_ranges[i].name, n);
	}
	guest_printf("@T hostile.exceptions=%llu\n", (unsigned long long)exceptions);
	guest_printf("PASS hostile\n");
	guest_exit(GUEST_EXIT_HOSTILE);
}
