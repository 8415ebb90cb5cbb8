/* Shared support for the bare-metal test guests: COM1 output, printf, debug-exit, multiboot info.
 */
#ifndef KVMBOX_GUEST_H
#define KVMBOX_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Debug-exit values (the VMM exits with status (v << 1) | 1). Each guest has its own PASS value so
 * a test can tell which guest actually ran; every guest uses the same FAIL value. */
#define GUEST_EXIT_FAIL 0x30	 /* status 97 */
#define GUEST_EXIT_REALMODE 0x21 /* status 67 */
#define GUEST_EXIT_LONG64 0x22	 /* status 69 */
#define GUEST_EXIT_INT3 0x23	 /* status 71 */
#define GUEST_EXIT_SMP 0x24	 /* status 73 */
#define GUEST_EXIT_NMI 0x25	 /* status 75 */
#define GUEST_EXIT_USER3 0x26	 /* status 77 */
#define GUEST_EXIT_GDB 0x27	 /* status 79 */
#define GUEST_EXIT_HOSTILE 0x28	 /* status 81 */
#define GUEST_EXIT_BADRING 0x29	 /* status 83 */
#define GUEST_EXIT_INTR32 0x2a	 /* status 85 */
#define GUEST_EXIT_APIC32 0x2c	 /* status 89 */

#define GUEST_PORT_COM1 0x3f8
#define GUEST_PORT_DEBUG_EXIT 0xf4

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MEM_MAP (1u << 6)
#define MB_INFO_BOOT_LOADER_NAME (1u << 9)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size; /* of the rest of the entry, not counting this field */
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

/* Defined by each guest; called by the multiboot entry code with EAX and EBX as the loader left
 * them. */
void guest_main(uint32_t magic, uint32_t mbi);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* xorshift64*: the hostile guests' reproducible random numbers (seed=N on the command line). */
static inline uint64_t guest_rnd(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

void guest_serial_init(void);
void guest_putc(char c);
void guest_puts(const char *s);
/* %s %c %d %u %x %p, with an optional '0' flag, width, and 'l'/'ll' length. */
void guest_vprintf(const char *fmt, va_list ap);
void guest_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes v to the debug-exit port and halts forever if the VMM did not stop. */
void guest_exit(uint32_t v) __attribute__((noreturn));
/* Prints "FAIL <name>: <why>" and exits with GUEST_EXIT_FAIL. */
void guest_fail(const char *name, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
void guest_halt(void) __attribute__((noreturn));

/* Copies the multiboot command line (if any) into buf; returns buf ("" when there is none). The
 * loader keeps it in low memory that the guest may reuse, so guests copy it first. */
char *guest_cmdline(uint32_t mbi, char *buf, size_t size);
/* Value of the "key=N" token in cmdline (decimal or 0x-hex), or def when absent or malformed. */
uint32_t guest_cmdline_uint(const char *cmdline, const char *key, uint32_t def);

size_t guest_strlen(const char *s);
int guest_strncmp(const char *a, const char *b, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
