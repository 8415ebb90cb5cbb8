/* hello32: checks the multiboot hand-off (EAX magic, info flags, loader name, memory, command line)
 * and exits through debug-exit with the value given as exit=N on the command line (default 0). */
#include "guest.h"

static char cmdline[512];

/*
 * After the checks, the command line may ask for a way to end that tests kvmbox's exit paths:
 * then=hang (wait for a host signal), then=reset (i8042 reset), then=triple (triple fault),
 * then=taskgate (INT n through a task gate: a task switch, which a restricted backend's KVM cannot
 * emulate and kvmbox does not either).
 */
static void hello32_then(const char *args)
{
	static const struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) no_idt = { 0, 0 };
	const char *p = args;

	while (*p && guest_strncmp(p, "then=", 5))
		p++;
	if (!*p)
		return;
	p += 5;
	guest_printf("then: %s\n", p);
	if (!guest_strncmp(p, "hang", 4)) {
		for (;;)
			__asm__ volatile("cli; hlt");
	} else if (!guest_strncmp(p, "reset", 5)) {
		outb(0x64, 0xfe);
	} else if (!guest_strncmp(p, "triple", 6)) {
		/* An empty IDT: the #BP becomes #GP, then #DF, then a shutdown. */
		__asm__ volatile("lidt %0; int3" : : "m"(no_idt));
	} else if (!guest_strncmp(p, "taskgate", 8)) {
		static uint64_t idt[0x41] __attribute__((aligned(8)));
		struct {
			uint16_t limit;
			uint32_t base;
		} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };

		idt[0x40] = 0x0000850000280000ull; /* present task gate, DPL 0, TSS selector 0x28 */
		__asm__ volatile("lidt %0; int $0x40" : : "m"(idtr));
	}
	guest_printf("FAIL hello32-then: still running after then=%s\n", p);
	guest_exit(0x7f);
}

void guest_main(uint32_t magic, uint32_t mbi_addr)
{
	const struct mb_info *mbi = (const struct mb_info *)(uintptr_t)mbi_addr;
	const uint32_t want =
	    MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP | MB_INFO_BOOT_LOADER_NAME;

	guest_serial_init();
	guest_puts("\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("hello32", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_printf("hello32: eax=0x%08x ok, multiboot info at 0x%x\n", magic, mbi_addr);
	guest_puts("hello from multiboot\n");
	if (!mbi)
		guest_fail("hello32", "ebx is 0");
	guest_printf("flags: 0x%08x\n", mbi->flags);

	const char *name = "";
	if ((mbi->flags & MB_INFO_BOOT_LOADER_NAME) && mbi->boot_loader_name)
		name = (const char *)(uintptr_t)mbi->boot_loader_name;
	guest_printf("bootloader: %s\n", name);
	if (mbi->flags & MB_INFO_MEMORY)
		guest_printf("mem_lower: %u KiB\nmem_upper: %u KiB\n", mbi->mem_lower,
			     mbi->mem_upper);

	uint64_t ram = 0;
	if (mbi->flags & MB_INFO_MEM_MAP) {
		uint32_t p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
		for (int i = 0; p + sizeof(struct mb_mmap_entry) <= end && i < 64; i++) {
			const struct mb_mmap_entry *e = (const struct mb_mmap_entry *)(uintptr_t)p;
			guest_printf("mmap: base=0x%016llx len=0x%016llx type=%u\n",
				     (unsigned long long)e->addr, (unsigned long long)e->len,
				     e->type);
			if (e->type == 1)
				ram += e->len;
			p += e->size + 4;
		}
	}

	guest_cmdline(mbi_addr, cmdline, sizeof(cmdline));
	guest_printf("cmdline: \"%s\"\n", cmdline);
	uint32_t code = guest_cmdline_uint(cmdline, "exit", 0);
	guest_printf("cmdline: exit=%u\n", code);

	if ((mbi->flags & want) != want)
		guest_fail("hello32", "info flags 0x%08x lack 0x%08x", mbi->flags,
			   want & ~mbi->flags);
	if (!name[0])
		guest_fail("hello32", "empty boot loader name");
	if (mbi->mem_upper == 0)
		guest_fail("hello32", "mem_upper is 0");
	if (ram == 0)
		guest_fail("hello32", "memory map has no RAM");
	if (code > 127)
		guest_fail("hello32", "exit=%u does not fit a 7-bit status", code);

	guest_printf("PASS hello32\n");
	hello32_then(cmdline);
	guest_exit(code);
}
