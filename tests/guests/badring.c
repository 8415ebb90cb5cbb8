/* badring: a guest that drives kvmbox's virtio-mmio block devices with malicious rings. For every
 * virtio-mmio device it finds (kvmbox run --disk ...,transport=mmio) it negotiates features, sets
 * up queue 0 and then, for `rounds` rounds (seed=N, rounds=N on the command line):
 *   - descriptor loops, self-referencing and nested indirect tables, lengths of 0 and 4 GiB - 1,
 *     addresses beyond RAM and wrapping past 2^64, head indices beyond the queue, an avail index
 *     jumping further than the queue size, random garbage descriptors;
 *   - a valid 60 MiB read (240 segments of 256 KiB, the size_max kvmbox advertises) followed at
 *     once by a device reset (status 0): kvmbox must not keep the vCPU waiting for long (the
 *     reset's MMIO write returns when kvmbox has reset; the longest is printed);
 *   - notify storms on valid and invalid queue indices, queue addresses rewritten while running;
 * printing "@T badring.DEVICE.KIND=COUNT", the longest reset in TSC ticks, and "PASS badring";
 * exits with GUEST_EXIT_BADRING (status 83). Whatever kvmbox does with the rings (NEEDS_RESET, an
 * error status, ignoring them), it must neither crash, hang nor leak
 * (tests/integration/test_hostile.sh runs it in the plain and ASan builds). */
#include <stdbool.h>

#include "idt64.h"

#define VMMIO_BASE 0xd0000000ull
#define VMMIO_STRIDE 0x1000ull
#define VMMIO_SLOTS 8

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_AVAIL_LO 0x090
#define R_AVAIL_HI 0x094
#define R_USED_LO 0x0a0
#define R_USED_HI 0x0a4

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

/* Guest RAM used for rings and buffers (the test gives the guest 512 MiB). */
#define RING_DESC 0x2000000ull
#define RING_AVAIL 0x2100000ull
#define RING_USED 0x2200000ull
#define REQ_HDR 0x2300000ull
#define BUF 0x4000000ull /* 64 MiB: the buffer every segment reuses */
#define QSIZE 256u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
} __attribute__((packed));

static volatile struct desc *const descs = (volatile struct desc *)RING_DESC;
static volatile uint16_t *const avail = (volatile uint16_t *)RING_AVAIL; /* flags, idx, ring[] */
static uint16_t avail_idx;
static uint64_t rng_state, longest_reset;
static volatile uint64_t exceptions;
static char cmdline[256];

static uint64_t rnd(void)
{
	return guest_rnd(&rng_state);
}

void exc_handler(struct isr_frame *f)
{
	(void)f;
	exceptions++;
}

static uint32_t rd(uint64_t base, uint32_t reg)
{
	return *(volatile uint32_t *)(base + reg);
}

static void wr(uint64_t base, uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(base + reg) = v;
}

static void reset(uint64_t base)
{
	uint64_t t0 = rdtsc(), dt;

	wr(base, R_STATUS, 0);
	dt = rdtsc() - t0;
	if (dt > longest_reset)
		longest_reset = dt;
	avail_idx = 0;
}

/* Feature negotiation (keeping what picks selects of INDIRECT_DESC and EVENT_IDX) and queue 0 at
 * the fixed rings; false if the device refused. */
static bool setup(uint64_t base, uint32_t picks)
{
	uint32_t lo, hi, max;

	reset(base);
	wr(base, R_STATUS, S_ACK);
	wr(base, R_STATUS, S_ACK | S_DRIVER);
	wr(base, R_DEV_FEATURES_SEL, 0);
	lo = rd(base, R_DEV_FEATURES);
	wr(base, R_DEV_FEATURES_SEL, 1);
	hi = rd(base, R_DEV_FEATURES);
	if (picks & 1)
		lo &= ~(1u << 28); /* VIRTIO_F_INDIRECT_DESC */
	if (picks & 2)
		lo &= ~(1u << 29); /* VIRTIO_F_EVENT_IDX */
	wr(base, R_DRV_FEATURES_SEL, 0);
	wr(base, R_DRV_FEATURES, lo);
	wr(base, R_DRV_FEATURES_SEL, 1);
	wr(base, R_DRV_FEATURES, hi);
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(base, R_STATUS) & S_FEATURES_OK))
		return false;
	wr(base, R_QUEUE_SEL, 0);
	max = rd(base, R_QUEUE_NUM_MAX);
	if (!max)
		return false;
	wr(base, R_QUEUE_NUM, max < QSIZE ? max : QSIZE);
	memset((void *)RING_DESC, 0, 16 * QSIZE);
	memset((void *)RING_AVAIL, 0, 0x1000);
	memset((void *)RING_USED, 0, 0x1000);
	wr(base, R_DESC_LO, (uint32_t)RING_DESC);
	wr(base, R_DESC_HI, 0);
	wr(base, R_AVAIL_LO, (uint32_t)RING_AVAIL);
	wr(base, R_AVAIL_HI, 0);
	wr(base, R_USED_LO, (uint32_t)RING_USED);
	wr(base, R_USED_HI, 0);
	wr(base, R_QUEUE_READY, 1);
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return true;
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	descs[i % QSIZE].addr = addr;
	descs[i % QSIZE].len = len;
	descs[i % QSIZE].flags = flags;
	descs[i % QSIZE].next = next;
}

/* Put head on the avail ring and notify queue 0. */
static void kick(uint64_t base, uint16_t head)
{
	avail[2 + avail_idx % QSIZE] = head;
	__asm__ volatile("" ::: "memory");
	avail_idx++;
	avail[1] = avail_idx;
	wr(base, R_QUEUE_NOTIFY, 0);
	wr(base, R_INT_ACK, rd(base, R_INT_STATUS));
}

/* A virtio-blk read of nseg segments of seglen bytes, all into BUF; chain at descriptor first. */
static uint16_t blk_read(unsigned first, unsigned nseg, uint32_t seglen, uint64_t sector)
{
	volatile uint32_t *hdr = (volatile uint32_t *)(REQ_HDR + 16 * (first % QSIZE));

	hdr[0] = 0; /* VIRTIO_BLK_T_IN */
	hdr[1] = 0;
	*(volatile uint64_t *)&hdr[2] = sector;
	set_desc(first, (uint64_t)(uintptr_t)hdr, 16, F_NEXT, (uint16_t)((first + 1) % QSIZE));
	for (unsigned s = 0; s < nseg; s++)
		set_desc(first + 1 + s, BUF, seglen, F_NEXT | F_WRITE,
			 (uint16_t)((first + 2 + s) % QSIZE));
	set_desc(first + 1 + nseg, REQ_HDR + 0x100000 + (first % QSIZE), 1, F_WRITE, 0);
	return (uint16_t)(first % QSIZE);
}

static unsigned attack(uint64_t base, unsigned kind)
{
	unsigned n = 1;

	switch (kind) {
	case 0: /* a two-descriptor loop */
		set_desc(0, BUF, 512, F_NEXT, 1);
		set_desc(1, BUF, 512, F_NEXT | F_WRITE, 0);
		kick(base, 0);
		break;
	case 1: /* lengths 0 and 4 GiB - 1 */
		set_desc(2, REQ_HDR, 16, F_NEXT, 3);
		set_desc(3, BUF, (rnd() & 1) ? 0 : 0xffffffffu, F_NEXT | F_WRITE, 4);
		set_desc(4, BUF, 1, F_WRITE, 0);
		kick(base, 2);
		break;
	case 2: /* addresses wrapping past 2^64 and far beyond RAM */
		set_desc(5, 0xfffffffffffff000ull + (rnd() & 0xfff), 0x2000, F_NEXT, 6);
		set_desc(6, 0x100000000000ull + (rnd() & 0xffffff), 4096, F_WRITE, 0);
		kick(base, 5);
		break;
	case 3: /* an indirect table that is the descriptor table itself (nested indirect) */
		set_desc(7, RING_DESC, 16 * 8, F_INDIRECT, 0);
		kick(base, 7);
		break;
	case 4: /* head indices beyond the queue */
		kick(base, (uint16_t)(QSIZE + (rnd() & 0x7fff)));
		break;
	case 5: /* the avail index running further ahead than the queue has entries */
		avail_idx = (uint16_t)(avail_idx + QSIZE + 1 + (rnd() & 0xff));
		avail[1] = avail_idx;
		wr(base, R_QUEUE_NOTIFY, 0);
		break;
	case 6: /* garbage descriptors */
		for (unsigned i = 0; i < 16; i++)
			set_desc(i, rnd(), (uint32_t)rnd(), (uint16_t)rnd(), (uint16_t)rnd());
		for (unsigned i = 0; i < 8; i++)
			kick(base, (uint16_t)(rnd() % 16));
		n = 8;
		break;
	case 7: /* a 60 MiB read (240 segments of size_max, 256 KiB), then a reset in flight */
		kick(base, blk_read(0, 240, 256u << 10, rnd() & 0xffff));
		reset(base);
		break;
	case 8: /* a notify storm on queue 0 and on queues that do not exist */
		for (unsigned i = 0; i < 2000; i++)
			wr(base, R_QUEUE_NOTIFY, (i & 7) ? 0 : (uint32_t)rnd());
		n = 2000;
		break;
	case 9: /* the rings moved while the device runs */
		set_desc(0, REQ_HDR, 16, 0, 0);
		wr(base, R_DESC_LO, (uint32_t)rnd());
		wr(base, R_AVAIL_HI, (uint32_t)rnd());
		kick(base, 0);
		break;
	default: /* a valid small read, the device must still serve */
		kick(base, blk_read(100, 1, 4096, 0));
		break;
	}
	return n;
}

#define KINDS 11

void guest_main(uint32_t magic, uint32_t mbi)
{
	static const char *const names[KINDS] = { "loop",   "length", "address", "indirect",
						  "head",   "avail",  "garbage", "reset",
						  "notify", "moved",  "valid" };
	unsigned counts[KINDS] = { 0 }, devices = 0;
	uint32_t rounds;

	guest_serial_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("badring", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi, cmdline, sizeof(cmdline));
	rng_state = 0x9e3779b97f4a7c15ull ^ guest_cmdline_uint(cmdline, "seed", 1);
	rounds = guest_cmdline_uint(cmdline, "rounds", 200);
	idt64_install();
	for (unsigned slot = 0; slot < VMMIO_SLOTS; slot++) {
		uint64_t base = VMMIO_BASE + slot * VMMIO_STRIDE;

		if (rd(base, R_MAGIC) != 0x74726976 || rd(base, R_VERSION) != 2 ||
		    rd(base, R_DEVICE_ID) != 2)
			continue;
		devices++;
		for (uint32_t r = 0; r < rounds; r++) {
			unsigned kind = (unsigned)(rnd() % KINDS);

			if (r % 8 == 0 || (rd(base, R_STATUS) & S_NEEDS_RESET))
				if (!setup(base, (uint32_t)rnd()))
					guest_fail("badring", "device %u refused a plain set-up",
						   slot);
			counts[kind] += attack(base, kind);
		}
		reset(base);
	}
	if (!devices)
		guest_fail("badring",
			   "no virtio-mmio block device (give --disk ...,transport=mmio)");
	for (unsigned k = 0; k < KINDS; k++)
		guest_printf("@T badring.%s=%u\n", names[k], counts[k]);
	guest_printf("@T badring.devices=%u\n", devices);
	guest_printf("@T badring.longest_reset_tsc=%llu\n", (unsigned long long)longest_reset);
	guest_printf("@T badring.exceptions=%llu\n", (unsigned long long)exceptions);
	guest_printf("PASS badring\n");
	guest_exit(GUEST_EXIT_BADRING);
}
