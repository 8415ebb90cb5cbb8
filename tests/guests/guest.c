/* Guest support library: 16550 output, a small printf, debug-exit and command-line parsing
 * (32/64-bit). */
#include "guest.h"

#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_THRE 0x20

void guest_serial_init(void)
{
	outb(GUEST_PORT_COM1 + UART_IER, 0x00);
	outb(GUEST_PORT_COM1 + UART_LCR, 0x80); /* DLAB: divisor 1 = 115200 baud */
	outb(GUEST_PORT_COM1 + 0, 0x01);
	outb(GUEST_PORT_COM1 + 1, 0x00);
	outb(GUEST_PORT_COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(GUEST_PORT_COM1 + UART_FCR, 0x07);
	outb(GUEST_PORT_COM1 + UART_MCR, 0x03);
}

void guest_putc(char c)
{
	/* Bounded, so a VMM whose LSR never reports THRE still gets the bytes (and a visible
	 * failure). */
	for (int i = 0; i < 100000; i++)
		if (inb(GUEST_PORT_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(GUEST_PORT_COM1 + UART_THR, (uint8_t)c);
}

void guest_puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			guest_putc('\r');
		guest_putc(*s);
	}
}

static void put_padded(const char *digits, int len, int width, char pad)
{
	for (; width > len; width--)
		guest_putc(pad);
	while (len > 0)
		guest_putc(digits[--len]);
}

/* *v /= 10, returning the remainder; by shift and subtract, since the -m32 build has no libgcc for
 * a 64-bit division. */
static unsigned divmod10(uint64_t *v)
{
	uint64_t q = 0, r = 0;
	for (int i = 63; i >= 0; i--) {
		r = (r << 1) | ((*v >> i) & 1);
		if (r >= 10) {
			r -= 10;
			q |= 1ull << i;
		}
	}
	*v = q;
	return (unsigned)r;
}

void guest_vprintf(const char *fmt, va_list ap)
{
	char buf[24];
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			if (*fmt == '\n')
				guest_putc('\r');
			guest_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0, n = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			guest_puts(s ? s : "(null)");
			break;
		}
		case 'c':
			guest_putc((char)va_arg(ap, int));
			break;
		case 'd':
		case 'u': {
			uint64_t v;
			int neg = 0;
			if (*fmt == 'd') {
				int64_t sv = lng >= 2 ? va_arg(ap, long long)
					     : lng    ? va_arg(ap, long)
						      : va_arg(ap, int);
				neg = sv < 0;
				v = neg ? -(uint64_t)sv : (uint64_t)sv;
			} else {
				v = lng >= 2 ? va_arg(ap, unsigned long long)
				    : lng    ? va_arg(ap, unsigned long)
					     : va_arg(ap, unsigned int);
			}
			do {
				buf[n++] = (char)('0' + divmod10(&v));
			} while (v);
			if (neg)
				buf[n++] = '-';
			put_padded(buf, n, width, pad);
			break;
		}
		case 'p':
		case 'x': {
			uint64_t v;
			if (*fmt == 'p')
				v = (uintptr_t)va_arg(ap, void *);
			else if (lng >= 2)
				v = va_arg(ap, unsigned long long);
			else if (lng == 1)
				v = va_arg(ap, unsigned long);
			else
				v = va_arg(ap, unsigned int);
			do {
				buf[n++] = "0123456789abcdef"[v & 15];
				v >>= 4;
			} while (v);
			put_padded(buf, n, width, pad);
			break;
		}
		case '%':
			guest_putc('%');
			break;
		default:
			guest_putc('?');
			break;
		}
	}
}

void guest_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	guest_vprintf(fmt, ap);
	va_end(ap);
}

void guest_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_exit(uint32_t v)
{
	outl(GUEST_PORT_DEBUG_EXIT, v);
	/* No debug-exit port (kvmbox without --debug-exit): ACPI S5 through PM1a_CNT instead. */
	guest_puts("debug-exit did not stop the VM; powering off\n");
	outl(0x604, (5u << 10) | (1u << 13));
	guest_halt();
}

void guest_fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	guest_printf("FAIL %s: ", name);
	va_start(ap, fmt);
	guest_vprintf(fmt, ap);
	va_end(ap);
	guest_puts("\n");
	guest_exit(GUEST_EXIT_FAIL);
}

char *guest_cmdline(uint32_t mbi_addr, char *buf, size_t size)
{
	const struct mb_info *mbi = (const struct mb_info *)(uintptr_t)mbi_addr;
	size_t n = 0;
	if (mbi && (mbi->flags & MB_INFO_CMDLINE) && mbi->cmdline) {
		const char *s = (const char *)(uintptr_t)mbi->cmdline;
		while (s[n] && n + 1 < size) {
			buf[n] = s[n];
			n++;
		}
	}
	buf[n] = 0;
	return buf;
}

uint32_t guest_cmdline_uint(const char *s, const char *key, uint32_t def)
{
	size_t klen = guest_strlen(key);
	while (*s) {
		while (*s == ' ')
			s++;
		const char *tok = s;
		while (*s && *s != ' ')
			s++;
		if ((size_t)(s - tok) <= klen || guest_strncmp(tok, key, klen) || tok[klen] != '=')
			continue;
		const char *p = tok + klen + 1;
		uint32_t v = 0, base = 10;
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
			base = 16;
			p += 2;
		}
		if (p == s)
			return def;
		for (; p < s; p++) {
			uint32_t d;
			if (*p >= '0' && *p <= '9')
				d = (uint32_t)(*p - '0');
			else if (base == 16 && *p >= 'a' && *p <= 'f')
				d = (uint32_t)(*p - 'a' + 10);
			else if (base == 16 && *p >= 'A' && *p <= 'F')
				d = (uint32_t)(*p - 'A' + 10);
			else
				return def;
			v = v * base + d;
		}
		return v;
	}
	return def;
}

size_t guest_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int guest_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

/* The compiler may emit calls to these even in freestanding code. */
void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}
