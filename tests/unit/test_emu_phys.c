/*
 * Unit tests of the emulator's memory callbacks over guest RAM and the MMIO bus: operands in RAM,
 * in a device's registers (bus accesses of at most 8 bytes), straddling both, probes, locked
 * accesses, and a page fault from the page walk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/phys.h"
#include "bus.h"
#include "guest_mem.h"
#include "test.h"

#define RAM_SIZE 0x100000ull
#define MMIO_BASE 0x100000ull /* right after RAM, so an access can straddle the two */

struct fake_dev {
	uint8_t regs[64];
	unsigned reads, writes;
	uint64_t last_off;
	unsigned last_len;
};

static void dev_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct fake_dev *d = dev;

	d->reads++;
	d->last_off = off;
	d->last_len = len;
	memcpy(data, d->regs + off, len);
}

static void dev_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct fake_dev *d = dev;

	d->writes++;
	d->last_off = off;
	d->last_len = len;
	memcpy(d->regs + off, data, len);
}

static const struct bus_ops dev_ops = { .read = dev_read, .write = dev_write };

static uint8_t *ram;
static struct guest_mem gm;
static struct bus mmio;
static struct fake_dev dev;
static struct emu_phys phys;

static void setup(bool with_mmio)
{
	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	memset(&gm, 0, sizeof(gm));
	if (guest_mem_add(&gm, 0, RAM_SIZE, ram))
		abort();
	bus_destroy(&mmio);
	bus_init(&mmio, "mmio", 0);
	memset(&dev, 0, sizeof(dev));
	if (bus_add(&mmio, MMIO_BASE, sizeof(dev.regs), &dev_ops, &dev, "fake"))
		abort();
	phys = (struct emu_phys){ .gm = &gm, .mmio = with_mmio ? &mmio : NULL };
	phys.mmu = (struct emu_mmu){ .cr0 = EMU_CR0_PE, .pt = emu_phys_pt, .opaque = &gm };
}

static void test_ram(void)
{
	uint8_t buf[16], out[16];
	struct emu_pf pf;

	setup(true);
	for (unsigned i = 0; i < 16; i++)
		buf[i] = (uint8_t)(i + 1);
	CHECK_EQ(emu_phys_ops.write(&phys, 0x1ff8, buf, 16, EMU_ACC_WRITE, &pf), 0);
	CHECK(!memcmp(ram + 0x1ff8, buf, 16)); /* across a page boundary */
	CHECK_EQ(emu_phys_ops.read(&phys, 0x1ff8, out, 16, 0, &pf), 0);
	CHECK(!memcmp(out, buf, 16));
	CHECK_EQ(dev.reads + dev.writes, 0);
	/* Without paging, a 32-bit CPU's linear addresses wrap to 32 bits. */
	CHECK_EQ(emu_phys_ops.read(&phys, 0x100000000ull + 0x1ff8, out, 8, 0, &pf), 0);
	CHECK(!memcmp(out, buf, 8));
	/* Bad lengths are the caller's bug. */
	CHECK_EQ(emu_phys_ops.read(&phys, 0, out, 0, 0, &pf), -EINVAL);
	CHECK_EQ(emu_phys_ops.read(&phys, 0, out, 17, 0, &pf), -EINVAL);
}

static void test_mmio(void)
{
	uint8_t buf[16], out[16];
	struct emu_pf pf;

	setup(true);
	for (unsigned i = 0; i < 16; i++)
		buf[i] = (uint8_t)(0xa0 + i);
	/* A 4-byte store to a register is one 4-byte bus write. */
	CHECK_EQ(emu_phys_ops.write(&phys, MMIO_BASE + 8, buf, 4, EMU_ACC_WRITE, &pf), 0);
	CHECK_EQ(dev.writes, 1);
	CHECK_EQ(dev.last_off, 8);
	CHECK_EQ(dev.last_len, 4);
	CHECK(!memcmp(dev.regs + 8, buf, 4));
	/* A 16-byte SSE store: two 8-byte writes, in address order. */
	dev.writes = 0;
	CHECK_EQ(emu_phys_ops.write(&phys, MMIO_BASE + 16, buf, 16, EMU_ACC_WRITE, &pf), 0);
	CHECK_EQ(dev.writes, 2);
	CHECK_EQ(dev.last_off, 24);
	CHECK(!memcmp(dev.regs + 16, buf, 16));
	/* 7 bytes: 4 + 2 + 1. */
	dev.reads = 0;
	CHECK_EQ(emu_phys_ops.read(&phys, MMIO_BASE + 16, out, 7, 0, &pf), 0);
	CHECK_EQ(dev.reads, 3);
	CHECK_EQ(dev.last_len, 1);
	CHECK(!memcmp(out, buf, 7));
	/* Straddling RAM's end and the device: the RAM part from RAM, the rest from the bus. */
	memset(ram + RAM_SIZE - 4, 0x55, 4);
	dev.reads = 0;
	CHECK_EQ(emu_phys_ops.read(&phys, RAM_SIZE - 4, out, 8, 0, &pf), 0);
	CHECK_EQ(out[0], 0x55);
	CHECK_EQ(out[3], 0x55);
	CHECK_EQ(out[4], dev.regs[0]);
	CHECK_EQ(dev.reads, 1);
	/* Nobody at that address: reads give the bus's fill (0), writes vanish. */
	CHECK_EQ(emu_phys_ops.read(&phys, 0x200000, out, 4, 0, &pf), 0);
	CHECK_EQ(out[0] | out[1] | out[2] | out[3], 0);
	/* Locked accesses must be to RAM. */
	{
		uint8_t expected[8] = { 0 }, desired[8] = { 1 };
		bool swapped = false;

		CHECK_EQ(emu_phys_ops.cmpxchg(&phys, MMIO_BASE, expected, desired, 8, EMU_ACC_WRITE,
					      &swapped, &pf),
			 -ENOTSUP);
		CHECK_EQ(emu_phys_ops.cmpxchg(&phys, 0x3000, expected, desired, 8, EMU_ACC_WRITE,
					      &swapped, &pf),
			 0);
		CHECK(swapped);
		CHECK_EQ(ram[0x3000], 1);
	}
	/* A probe touches nothing, RAM or device. */
	dev.reads = dev.writes = 0;
	CHECK_EQ(emu_phys_ops.read(&phys, MMIO_BASE, out, 1, EMU_ACC_PROBE, &pf), 0);
	CHECK_EQ(dev.reads + dev.writes, 0);
	/* A prefetch (optional instruction bytes) reads RAM only: a device answers -EAGAIN. */
	CHECK_EQ(emu_phys_ops.read(&phys, MMIO_BASE, out, 8, EMU_ACC_FETCH | EMU_ACC_PREFETCH, &pf),
		 -EAGAIN);
	CHECK_EQ(dev.reads + dev.writes, 0);
	ram[0x3000] = 0x90;
	CHECK_EQ(emu_phys_ops.read(&phys, 0x3000, out, 8, EMU_ACC_FETCH | EMU_ACC_PREFETCH, &pf),
		 0);
	CHECK_EQ(out[0], 0x90);
	/* Without an MMIO bus an operand outside RAM cannot be emulated. */
	setup(false);
	CHECK_EQ(emu_phys_ops.read(&phys, MMIO_BASE, out, 4, 0, &pf), -EFAULT);
	CHECK_EQ(emu_phys_ops.write(&phys, MMIO_BASE, buf, 4, EMU_ACC_WRITE, &pf), -EFAULT);
	CHECK_EQ(dev.reads + dev.writes, 0);
}

/* 32-bit paging with one page table: linear 0x400000-0x7fffff maps 4 KiB pages. */
static void test_page_fault(void)
{
	uint32_t *pd, *pt;
	uint8_t out[8] = { 0 };
	struct emu_pf pf;

	setup(true);
	pd = (uint32_t *)(void *)(ram + 0x10000);
	pt = (uint32_t *)(void *)(ram + 0x11000);
	pd[1] = 0x11000 | 0x7;		   /* linear 4 MiB: present, writable, user */
	pt[0] = 0x20000 | 0x5;		   /* read-only, user */
	pt[1] = (uint32_t)MMIO_BASE | 0x7; /* a device page mapped into the guest's space */
	phys.mmu.cr0 = EMU_CR0_PE | EMU_CR0_PG | EMU_CR0_WP;
	phys.mmu.cr3 = 0x10000;
	ram[0x20000] = 0x42;
	CHECK_EQ(emu_phys_ops.read(&phys, 0x400000, out, 1, 0, &pf), 0);
	CHECK_EQ(out[0], 0x42);
	/* A write to the read-only page: a fault with P and W, and nothing written. */
	CHECK_EQ(emu_phys_ops.write(&phys, 0x400000, out, 1, EMU_ACC_WRITE, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.addr, 0x400000);
	CHECK_EQ(pf.error_code, EMU_PFEC_P | EMU_PFEC_W);
	CHECK_EQ(ram[0x20000], 0x42);
	/* An 8-byte write across into a not-present page faults before the first byte lands. */
	CHECK_EQ(emu_phys_ops.write(&phys, 0x401ffc, out, 8, EMU_ACC_WRITE, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.addr, 0x402000);
	CHECK_EQ(dev.writes, 0);
	/* Through the mapping, a device register. */
	CHECK_EQ(emu_phys_ops.write(&phys, 0x401004, out, 1, EMU_ACC_WRITE, &pf), 0);
	CHECK_EQ(dev.writes, 1);
	CHECK_EQ(dev.last_off, 4);
	/* A probe faults like a read. */
	CHECK_EQ(emu_phys_ops.read(&phys, 0x403000, out, 1, EMU_ACC_PROBE, &pf), EMU_MEM_FAULT);
	CHECK_EQ(pf.error_code, 0);
	/* ... also at the very top of the address space, where la + len wraps to 0. */
	CHECK_EQ(emu_phys_ops.read(&phys, ~0ull, out, 1, EMU_ACC_PROBE, &pf), EMU_MEM_FAULT);
}

int main(void)
{
	bus_init(&mmio, "mmio", 0);
	RUN_TEST(test_ram);
	RUN_TEST(test_mmio);
	RUN_TEST(test_page_fault);
	bus_destroy(&mmio);
	free(ram);
	TEST_EXIT();
}
