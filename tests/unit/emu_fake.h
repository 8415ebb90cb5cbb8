/* Shared by the emulator's unit tests: a fake CPU in each mode and fake guest memory (gva == gpa).
 */
#ifndef KVMBOX_TESTS_EMU_FAKE_H
#define KVMBOX_TESTS_EMU_FAKE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"
#include "guest_mem.h"
#include "test.h"
#define MEM_SIZE (1u << 20)
#define CODE 0x1000ull
#define PAGE 4096ull

/* Fake memory: identity-mapped RAM, a range of pages that fault, counters of what was asked. */
struct fake {
	struct guest_mem gm;
	uint8_t *mem;
	uint64_t fault_lo, fault_hi; /* pages in [lo, hi) fault */
	unsigned fault_access;	     /* only accesses with all these bits fault (0: any) */
	uint32_t fault_present;	     /* EMU_PFEC_P-style bit 0 to report */
	int error;		     /* negative errno every callback returns, if set */
	unsigned reads, writes, cmpxchgs, fetches;
	uint64_t last_la;
	unsigned last_len, last_access;
	/* Ports: reads return port_value's low bytes; the last access is kept. */
	unsigned pio_reads, pio_writes;
	uint16_t last_port;
	unsigned last_pio_len;
	uint32_t port_value, last_pio_data;
};

static struct fake fake;

static inline int fake_check(uint64_t la, unsigned len, unsigned access, struct emu_pf *pf)
{
	fake.last_la = la;
	fake.last_len = len;
	fake.last_access = access;
	if (fake.error)
		return fake.error;
	for (uint64_t p = la & ~(PAGE - 1); p < la + len; p += PAGE) {
		if (p >= fake.fault_lo && p < fake.fault_hi &&
		    (access & fake.fault_access) == fake.fault_access) {
			pf->addr = p > la ? p : la;
			pf->error_code = (access & (EMU_ACC_WRITE | EMU_ACC_USER | EMU_ACC_FETCH)) |
					 fake.fault_present;
			return EMU_MEM_FAULT;
		}
	}
	if (!guest_mem_ptr(&fake.gm, la, len))
		return -EFAULT;
	return 0;
}

static inline int fake_read(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
			    struct emu_pf *pf)
{
	int ret = fake_check(la, len, access, pf);

	(void)opaque;
	if (access & EMU_ACC_FETCH)
		fake.fetches++;
	else
		fake.reads++;
	if (!ret)
		memcpy(dst, guest_mem_ptr(&fake.gm, la, len), len);
	return ret;
}

static inline int fake_write(void *opaque, uint64_t la, const void *src, unsigned len,
			     unsigned access, struct emu_pf *pf)
{
	int ret = fake_check(la, len, access, pf);

	(void)opaque;
	fake.writes++;
	if (!ret)
		memcpy(guest_mem_ptr(&fake.gm, la, len), src, len);
	return ret;
}

static inline int fake_cmpxchg(void *opaque, uint64_t la, void *expected, const void *desired,
			       unsigned len, unsigned access, bool *swapped, struct emu_pf *pf)
{
	int ret = fake_check(la, len, access, pf);

	(void)opaque;
	fake.cmpxchgs++;
	if (ret)
		return ret;
	ret = emu_host_cmpxchg(guest_mem_ptr(&fake.gm, la, len), expected, desired, len);
	if (ret < 0)
		return ret;
	*swapped = ret;
	return 0;
}

static inline int fake_pio(void *opaque, uint16_t port, void *data, unsigned len, bool write)
{
	uint8_t *b = data;

	(void)opaque;
	fake.last_port = port;
	fake.last_pio_len = len;
	if (write) {
		fake.pio_writes++;
		fake.last_pio_data = 0;
		for (unsigned i = 0; i < len; i++)
			fake.last_pio_data |= (uint32_t)b[i] << (8 * i);
	} else {
		fake.pio_reads++;
		for (unsigned i = 0; i < len; i++)
			b[i] = (uint8_t)(fake.port_value >> (8 * i));
	}
	return 0;
}

static const struct emu_ops fake_ops __attribute__((
    unused)) = { .read = fake_read, .write = fake_write, .cmpxchg = fake_cmpxchg, .pio = fake_pio };

static inline void fake_reset(void)
{
	if (!fake.mem)
		fake.mem = aligned_alloc(PAGE, MEM_SIZE);
	memset(fake.mem, 0, MEM_SIZE);
	memset(&fake.gm, 0, sizeof(fake.gm));
	if (guest_mem_add(&fake.gm, 0, MEM_SIZE, fake.mem))
		abort();
	fake.fault_lo = fake.fault_hi = 0;
	fake.fault_access = 0;
	fake.fault_present = 0;
	fake.error = 0;
	fake.reads = fake.writes = fake.cmpxchgs = fake.fetches = 0;
}

static inline void put64(uint64_t gpa, uint64_t v)
{
	memcpy(fake.mem + gpa, &v, 8);
}

static inline uint64_t get64(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, fake.mem + gpa, 8);
	return v;
}

static inline void put32(uint64_t gpa, uint32_t v)
{
	memcpy(fake.mem + gpa, &v, 4);
}

static inline uint32_t get32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, fake.mem + gpa, 4);
	return v;
}

static inline struct emu_seg flat_data(void)
{
	return (struct emu_seg){ .limit = 0xffffffff, .type = 3, .s = 1, .present = 1, .db = 1 };
}

/* 64-bit long mode, CPL 0, SSE enabled, x87 idle, every flat. */
static inline struct emu_cpu cpu64(void)
{
	struct emu_cpu c;

	memset(&c, 0, sizeof(c));
	c.cr0 = EMU_CR0_PE | EMU_CR0_MP | EMU_CR0_NE | EMU_CR0_WP | EMU_CR0_PG;
	c.cr4 = EMU_CR4_PAE | EMU_CR4_OSFXSR;
	c.efer = EMU_EFER_LME | EMU_EFER_LMA | EMU_EFER_NXE;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++)
		c.seg[i] = flat_data();
	c.seg[EMU_CS] =
	    (struct emu_seg){ .limit = 0xffffffff, .type = 0xb, .s = 1, .present = 1, .l = 1 };
	c.rip = CODE;
	c.rflags = 0x2;
	c.mxcsr = 0x1f80;
	c.mxcsr_mask = 0xffff;
	c.fcw = 0x37f;
	return c;
}

/* 32-bit protected mode, flat, no paging. */
static inline struct emu_cpu cpu32(void)
{
	struct emu_cpu c = cpu64();

	c.cr0 &= ~EMU_CR0_PG;
	c.efer = 0;
	c.seg[EMU_CS].l = 0;
	c.seg[EMU_CS].db = 1;
	return c;
}

/* Real mode: 64 KiB segments. */
static inline struct emu_cpu cpu16(void)
{
	struct emu_cpu c = cpu32();

	c.cr0 = EMU_CR0_NE | EMU_CR0_MP;
	for (unsigned i = 0; i < EMU_NR_SREGS; i++) {
		c.seg[i].limit = 0xffff;
		c.seg[i].db = 0;
	}
	c.seg[EMU_CS].type = 0xb;
	return c;
}

/* An 8-byte code/data descriptor in the table at gdt: type (4 bits, with S = 1), DPL, L, D/B;
 * base 0, limit 4 GiB. */
static inline void fake_put_desc(uint64_t gdt, uint16_t sel, uint8_t type, unsigned dpl, bool l,
				 bool db, bool present)
{
	uint8_t *d = fake.mem + gdt + (sel & ~7u);

	d[0] = d[1] = 0xff; /* limit 15:0 */
	d[2] = d[3] = d[4] = d[7] = 0;
	d[5] = (uint8_t)(type | 0x10 | dpl << 5 | (present ? 0x80 : 0));
	d[6] = (uint8_t)(0x80 | (l ? 0x20 : 0) | (db ? 0x40 : 0) | 0xf); /* G, limit 19:16 */
}

/* A host page the differential tests run instruction bytes in (read, write, execute); NULL after
 * a failed check. munmap(page, PAGE) when done. */
static inline uint8_t *native_page(void)
{
	void *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(page != MAP_FAILED);
	return page == MAP_FAILED ? NULL : page;
}

/* Put the instruction at RIP in memory and hand all of it to the emulator, as KVM's exit does. */
static inline int run(struct emu_cpu *c, const uint8_t *bytes, unsigned n,
		      struct emu_exception *exc)
{
	memcpy(fake.mem + c->rip, bytes, n);
	return emu_step(c, bytes, n, &fake_ops, NULL, NULL, exc);
}

#define RUN(c, exc, ...)                                                                           \
	({                                                                                         \
		static const uint8_t b_[] = { __VA_ARGS__ };                                       \
		run((c), b_, sizeof(b_), (exc));                                                   \
	})

#define CHECK_EXC(exc, vec, ec)                                                                    \
	do {                                                                                       \
		CHECK((exc).valid);                                                                \
		CHECK_EQ((exc).vector, (vec));                                                     \
		CHECK_EQ((exc).has_error_code, (ec) >= 0);                                         \
		if ((ec) >= 0)                                                                     \
			CHECK_EQ((exc).error_code, (ec));                                          \
	} while (0)

#define ARITH_FLAGS                                                                                \
	(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF |           \
	 EMU_RFLAGS_OF)

#endif
