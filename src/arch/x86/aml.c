/* AML byte-code emitter: encodings from ACPI 6.4 chapter 20 (AML) and 6.4 (resources). */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

#define AML_OP_ZERO 0x00
#define AML_OP_ONE 0x01
#define AML_OP_NAME 0x08
#define AML_OP_BYTE 0x0a
#define AML_OP_WORD 0x0b
#define AML_OP_DWORD 0x0c
#define AML_OP_STRING 0x0d
#define AML_OP_QWORD 0x0e
#define AML_OP_SCOPE 0x10
#define AML_OP_BUFFER 0x11
#define AML_OP_PACKAGE 0x12
#define AML_OP_EXT 0x5b
#define AML_OP_EXT_DEVICE 0x82
#define AML_PREFIX_ROOT 0x5c
#define AML_PREFIX_PARENT 0x5e
#define AML_PREFIX_DUAL 0x2e
#define AML_PREFIX_MULTI 0x2f

#define AML_RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define AML_RES_IO 0x47		 /* small item 0x08, length 7 */
#define AML_RES_END 0x79	 /* small item 0x0f, length 1 */
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_DWORD_ADDRESS 0x87
#define AML_RES_WORD_ADDRESS 0x88
#define AML_RES_EXT_IRQ 0x89

/* Address space descriptors (ACPI 6.4 6.4.3.5): resource type and general flags. */
#define AML_ADDR_MEMORY 0
#define AML_ADDR_IO 1
#define AML_ADDR_BUS 2
#define AML_ADDR_MIN_FIXED 0x04
#define AML_ADDR_MAX_FIXED 0x08
#define AML_ADDR_IO_ENTIRE_RANGE 0x03 /* _RNG: ISA and non-ISA ranges */
#define AML_ADDR_MEM_RW 0x01	      /* _RW; _MEM = 0: non-cacheable */
#define AML_IRQ_CONSUMER 0x01
#define AML_IRQ_EDGE 0x02
#define AML_IRQ_ACTIVE_LOW 0x04
#define AML_IRQ_SHARED 0x08

enum aml_kind { AML_KIND_PKGLEN, AML_KIND_BUFFER, AML_KIND_RESOURCE };

void aml_init(struct aml *aml, void *buf, size_t cap)
{
	memset(aml, 0, sizeof(*aml));
	aml->buf = buf;
	aml->cap = cap;
}

int aml_finish(struct aml *aml)
{
	if (!aml->err && aml->depth)
		aml->err = -EINVAL;
	return aml->err;
}

static void aml_fail(struct aml *aml, int err)
{
	if (!aml->err)
		aml->err = err;
}

static void aml_bytes(struct aml *aml, const void *p, size_t n)
{
	if (aml->err)
		return;
	if (n > aml->cap - aml->len) {
		aml_fail(aml, -ENOSPC);
		return;
	}
	memcpy(aml->buf + aml->len, p, n);
	aml->len += n;
}

static void aml_byte(struct aml *aml, uint8_t b)
{
	aml_bytes(aml, &b, 1);
}

/* Blocks are length-prefixed, and the length is only known at the end: insert it then. */
static void aml_insert(struct aml *aml, size_t at, const uint8_t *p, size_t n)
{
	if (aml->err)
		return;
	if (n > aml->cap - aml->len) {
		aml_fail(aml, -ENOSPC);
		return;
	}
	memmove(aml->buf + at + n, aml->buf + at, aml->len - at);
	memcpy(aml->buf + at, p, n);
	aml->len += n;
}

/* PkgLength counts its own bytes too, which is why the encoded size depends on itself. */
static size_t aml_pkglen_encode(size_t content, uint8_t out[4])
{
	size_t n, total;

	if (content + 1 <= 0x3f) {
		out[0] = (uint8_t)(content + 1);
		return 1;
	}
	for (n = 2; n <= 4; n++) {
		total = content + n;
		if (total < (1ull << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4)
		return 0;
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

static size_t aml_integer_encode(uint64_t v, uint8_t out[9])
{
	size_t n;

	if (v == 0 || v == 1) {
		out[0] = v ? AML_OP_ONE : AML_OP_ZERO;
		return 1;
	}
	if (v <= 0xff) {
		out[0] = AML_OP_BYTE;
		n = 1;
	} else if (v <= 0xffff) {
		out[0] = AML_OP_WORD;
		n = 2;
	} else if (v <= 0xffffffff) {
		out[0] = AML_OP_DWORD;
		n = 4;
	} else {
		out[0] = AML_OP_QWORD; /* needs a revision 2 DSDT (64-bit integers) */
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return n + 1;
}

static int aml_seg_char_ok(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* NameString: prefixes, then 1 segment plain, 2 with DualNamePrefix, more with MultiNamePrefix. */
static void aml_namestring(struct aml *aml, const char *name)
{
	uint8_t segs[255][4];
	unsigned nsegs = 0, i;
	const char *p = name;

	if (!name) {
		aml_fail(aml, -EINVAL);
		return;
	}
	if (*p == '\\') {
		aml_byte(aml, AML_PREFIX_ROOT);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(aml, AML_PREFIX_PARENT);
			p++;
		}
	}
	while (*p) {
		if (nsegs == 255) {
			aml_fail(aml, -EINVAL);
			return;
		}
		for (i = 0; i < 4 && *p && *p != '.'; i++, p++) {
			if (!aml_seg_char_ok(*p, i == 0)) {
				aml_fail(aml, -EINVAL);
				return;
			}
			segs[nsegs][i] = (uint8_t)*p;
		}
		if (i == 0 || (*p && *p != '.')) {
			aml_fail(aml, -EINVAL); /* empty or over-long segment */
			return;
		}
		for (; i < 4; i++)
			segs[nsegs][i] = '_';
		nsegs++;
		if (*p == '.' && !*++p) {
			aml_fail(aml, -EINVAL); /* trailing dot */
			return;
		}
	}
	if (nsegs == 0) {
		/* NullName: "\\" is the root scope; a bare "" or "^" names nothing. */
		if (name[0] != '\\') {
			aml_fail(aml, -EINVAL);
			return;
		}
		aml_byte(aml, 0x00);
		return;
	}
	if (nsegs == 2) {
		aml_byte(aml, AML_PREFIX_DUAL);
	} else if (nsegs > 2) {
		aml_byte(aml, AML_PREFIX_MULTI);
		aml_byte(aml, (uint8_t)nsegs);
	}
	aml_bytes(aml, segs, 4 * (size_t)nsegs);
}

static void aml_open(struct aml *aml, int kind)
{
	if (aml->err)
		return;
	if (aml->depth == AML_MAX_DEPTH) {
		aml_fail(aml, -EINVAL);
		return;
	}
	aml->open[aml->depth].start = aml->len;
	aml->open[aml->depth].kind = kind;
	aml->depth++;
}

void aml_end(struct aml *aml)
{
	uint8_t enc[9];
	size_t start, n;
	int kind;

	if (aml->err)
		return;
	if (!aml->depth) {
		aml_fail(aml, -EINVAL);
		return;
	}
	start = aml->open[aml->depth - 1].start;
	kind = aml->open[aml->depth - 1].kind;
	aml->depth--;
	if (kind == AML_KIND_RESOURCE) {
		/* EndTag; checksum 0 means "treat as valid", which is what iasl emits. */
		aml_byte(aml, AML_RES_END);
		aml_byte(aml, 0);
	}
	if (kind == AML_KIND_BUFFER || kind == AML_KIND_RESOURCE) {
		n = aml_integer_encode(aml->len - start, enc); /* BufferSize precedes the bytes */
		aml_insert(aml, start, enc, n);
	}
	n = aml_pkglen_encode(aml->len - start, enc);
	if (!n) {
		aml_fail(aml, -ENOSPC);
		return;
	}
	aml_insert(aml, start, enc, n);
}

void aml_name_decl(struct aml *aml, const char *name)
{
	aml_byte(aml, AML_OP_NAME);
	aml_namestring(aml, name);
}

void aml_integer(struct aml *aml, uint64_t value)
{
	uint8_t enc[9];

	aml_bytes(aml, enc, aml_integer_encode(value, enc));
}

void aml_string(struct aml *aml, const char *s)
{
	if (!s) {
		aml_fail(aml, -EINVAL);
		return;
	}
	for (const char *p = s; *p; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			aml_fail(aml, -EINVAL);
			return;
		}
	}
	aml_byte(aml, AML_OP_STRING);
	aml_bytes(aml, s, strlen(s) + 1);
}

static int aml_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *aml, const char *id)
{
	uint32_t v = 0;
	uint8_t b[4];

	if (!id || strlen(id) != 7) {
		aml_fail(aml, -EINVAL);
		return;
	}
	/* Three letters as 5-bit values ('A' = 1), then four hex digits, stored big-endian. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(aml, -EINVAL);
			return;
		}
		v = (v << 5) | (uint32_t)(id[i] - '@');
	}
	for (int i = 3; i < 7; i++) {
		int h = aml_hex(id[i]);

		if (h < 0) {
			aml_fail(aml, -EINVAL);
			return;
		}
		v = (v << 4) | (uint32_t)h;
	}
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
	/* Always a DWord, even when a shorter encoding would fit: that is how iasl and OSes expect
	 * it. */
	aml_byte(aml, AML_OP_DWORD);
	aml_bytes(aml, b, 4);
}

void aml_scope_begin(struct aml *aml, const char *name)
{
	aml_byte(aml, AML_OP_SCOPE);
	aml_open(aml, AML_KIND_PKGLEN);
	aml_namestring(aml, name);
}

void aml_device_begin(struct aml *aml, const char *name)
{
	aml_byte(aml, AML_OP_EXT);
	aml_byte(aml, AML_OP_EXT_DEVICE);
	aml_open(aml, AML_KIND_PKGLEN);
	aml_namestring(aml, name);
}

void aml_package_begin(struct aml *aml, unsigned nelems)
{
	if (nelems > 255) {
		aml_fail(aml, -EINVAL); /* would need VarPackageOp */
		return;
	}
	aml_byte(aml, AML_OP_PACKAGE);
	aml_open(aml, AML_KIND_PKGLEN);
	aml_byte(aml, (uint8_t)nelems);
}

void aml_resource_begin(struct aml *aml)
{
	aml_byte(aml, AML_OP_BUFFER);
	aml_open(aml, AML_KIND_RESOURCE);
}

static int aml_in_resource(struct aml *aml)
{
	if (aml->err)
		return 0;
	if (!aml->depth || aml->open[aml->depth - 1].kind != AML_KIND_RESOURCE) {
		aml_fail(aml, -EINVAL);
		return 0;
	}
	return 1;
}

void aml_res_io(struct aml *aml, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	/* Information bit 0: the device decodes all 16 address bits. */
	uint8_t d[8] = { AML_RES_IO,   0x01,
			 (uint8_t)min, (uint8_t)(min >> 8),
			 (uint8_t)max, (uint8_t)(max >> 8),
			 align,	       len };

	if (aml_in_resource(aml))
		aml_bytes(aml, d, sizeof(d));
}

void aml_res_irq_noflags(struct aml *aml, unsigned irq)
{
	uint8_t d[3];

	if (irq > 15) {
		aml_fail(aml, -EINVAL);
		return;
	}
	d[0] = AML_RES_IRQ_NOFLAGS;
	d[1] = (uint8_t)(1u << irq);
	d[2] = (uint8_t)((1u << irq) >> 8);
	if (aml_in_resource(aml))
		aml_bytes(aml, d, sizeof(d));
}

static void aml_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Word (n = 2) and DWord (n = 4) address space descriptors: a header, then granularity, min,
 * max, translation offset and length, each n bytes. No ResourceSource: the window is ours.
 */
static void aml_res_address(struct aml *aml, unsigned n, uint8_t type, uint8_t type_flags,
			    uint64_t min, uint64_t max)
{
	uint8_t d[3 + 3 + 5 * 4];
	uint64_t len = max - min + 1;
	size_t body = 3 + 5 * (size_t)n;

	if (max < min || len > (n == 2 ? 0xffffull : 0xffffffffull)) {
		aml_fail(aml, -EINVAL);
		return;
	}
	d[0] = n == 2 ? AML_RES_WORD_ADDRESS : AML_RES_DWORD_ADDRESS;
	aml_put(d + 1, body, 2);
	d[3] = type;
	d[4] = AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED; /* producer, positive decode */
	d[5] = type_flags;
	aml_put(d + 6, 0, n);
	aml_put(d + 6 + n, min, n);
	aml_put(d + 6 + 2 * n, max, n);
	aml_put(d + 6 + 3 * n, 0, n);
	aml_put(d + 6 + 4 * n, len, n);
	if (aml_in_resource(aml))
		aml_bytes(aml, d, 3 + body);
}

void aml_res_word_bus_number(struct aml *aml, uint16_t min, uint16_t max)
{
	aml_res_address(aml, 2, AML_ADDR_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *aml, uint16_t min, uint16_t max)
{
	aml_res_address(aml, 2, AML_ADDR_IO, AML_ADDR_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_memory(struct aml *aml, uint32_t min, uint32_t max)
{
	aml_res_address(aml, 4, AML_ADDR_MEMORY, AML_ADDR_MEM_RW, min, max);
}

void aml_res_memory32_fixed(struct aml *aml, uint32_t base, uint32_t len)
{
	uint8_t d[12] = { AML_RES_MEMORY32_FIXED, 9, 0, 0x01 /* read-write */ };

	aml_put(d + 4, base, 4);
	aml_put(d + 8, len, 4);
	if (aml_in_resource(aml))
		aml_bytes(aml, d, sizeof(d));
}

void aml_res_interrupt(struct aml *aml, uint32_t gsi, bool edge, bool active_low, bool shared)
{
	uint8_t d[9] = { AML_RES_EXT_IRQ, 6, 0 };

	d[3] = AML_IRQ_CONSUMER | (edge ? AML_IRQ_EDGE : 0) |
	       (active_low ? AML_IRQ_ACTIVE_LOW : 0) | (shared ? AML_IRQ_SHARED : 0);
	d[4] = 1; /* one interrupt in the table */
	aml_put(d + 5, gsi, 4);
	if (aml_in_resource(aml))
		aml_bytes(aml, d, sizeof(d));
}
