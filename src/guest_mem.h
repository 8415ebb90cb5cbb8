/* Guest physical memory: a region table and the one bounds-checked way to reach guest RAM. */
#ifndef KVMBOX_GUEST_MEM_H
#define KVMBOX_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned nregions;
	uint64_t ram_size; /* sum of region sizes */
	void *mapping;	   /* one anonymous mapping holding all regions (guest_mem_alloc) */
	size_t mapping_size;
	/*
	 * Pages kvmbox itself wrote (virtio rings and buffers, the emulator, the gdb stub), one bit
	 * per 4 KiB page in region order, for Diff snapshots: KVM's dirty log sees only the guest's
	 * own writes. NULL unless guest_mem_track_dirty was called. Bits are set atomically.
	 */
	uint64_t *dirty;
	uint64_t dirty_words;
};

#define GUEST_MEM_PAGE 4096u

/*
 * Allocate ram_size bytes of guest RAM (anonymous, MAP_NORESERVE) placed from GPA 0, split around
 * the 32-bit MMIO hole [hole_start, 4 GiB): RAM above hole_start continues at 4 GiB.
 */
int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size, uint64_t hole_start)
    __attribute__((warn_unused_result));
void guest_mem_free(struct guest_mem *gm);

/* Register caller-owned memory as guest RAM (unit tests and fuzzers use this with a plain buffer).
 */
int guest_mem_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host)
    __attribute__((warn_unused_result));

/*
 * Host pointer to [gpa, gpa+len) if the whole range lies inside one RAM region, else NULL.
 * Overflow-safe: gpa + len wrapping past 2^64 is rejected. len 0 is treated as 1.
 * Every access to guest memory goes through this (or the helpers below).
 */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Start recording the pages kvmbox writes (guest_mem_mark_dirty); 0 or -ENOMEM. */
int guest_mem_track_dirty(struct guest_mem *gm) __attribute__((warn_unused_result));
/* Record that kvmbox wrote [gpa, gpa+len): a no-op without tracking or outside RAM. Any thread. */
void guest_mem_mark_dirty(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/*
 * Move the recorded pages into out (ORed in; one bit per page in region order, out holding
 * ram_size / GUEST_MEM_PAGE bits) and forget them. Nothing may write meanwhile (VM paused).
 */
void guest_mem_take_dirty(const struct guest_mem *gm, uint64_t *out);
/* The page index of gpa in region order (the memory file's order), or -1 outside RAM. */
int64_t guest_mem_page_index(const struct guest_mem *gm, uint64_t gpa);

/* Copy helpers: 0 or -EFAULT when any byte is outside guest RAM (nothing copied then). */
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
    __attribute__((warn_unused_result));
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
    __attribute__((warn_unused_result));

#endif
