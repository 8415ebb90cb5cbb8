/* virtio-blk (device id 2) on a raw image: read, write, flush, discard, write-zeroes, get-id, MQ.
 */
#ifndef KVMBOX_VIRTIO_BLK_H
#define KVMBOX_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX (VIRTIO_BLK_QUEUE_SIZE - 2) /* data buffers; + header + status */
#define VIRTIO_BLK_MAX_QUEUES 16
/* Bytes in one data buffer (size_max): with seg_max, what one read or write may move. */
#define VIRTIO_BLK_SIZE_MAX (256u << 10)
#define VIRTIO_BLK_REQ_BYTES_MAX ((uint64_t)VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX)
/*
 * Bytes of reads, writes and write-zeroes a device has in the backend at once. A driver that
 * queues more waits (the chains stay in the ring): reset, pause and teardown wait for what is in
 * flight, and this bounds that to tens of milliseconds, whatever a guest queues.
 */
#define VIRTIO_BLK_INFLIGHT_BYTES_MAX (64ull << 20)
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)      /* 2 GiB per discard (a hint: cheap) */
#define VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS (1u << 17) /* 64 MiB: may be written as zeroes */
#define VIRTIO_BLK_DISCARD_ALIGNMENT 8		       /* sectors: 4 KiB, the usual fs block */

/* Little-endian on the wire (x86 hosts only, like the rest of kvmbox). */
struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
} __attribute__((packed));

struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
} __attribute__((packed));

/* The device config space (virtio 1.2 5.2.4), up to write_zeroes_may_unmap. */
struct virtio_blk_dev_config {
	uint64_t capacity; /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

struct virtio_blk_config {
	const char *path; /* raw image: regular file or block device */
	bool readonly;
	const char *serial; /* GET_ID (at most 20 bytes used); NULL: the image's file name */
	unsigned nqueues;   /* 1..VIRTIO_BLK_MAX_QUEUES (0 means 1), e.g. min(4, host CPUs) */
	const char *name;   /* for logs and the I/O thread: "virtio-blk0" */
};

/*
 * Open the image (one error line naming it on failure: missing, unreadable, read-only without
 * ro=on...) and create the device. Destroy with vdev->ops->destroy(vdev).
 */
int virtio_blk_create(struct virtio_dev **out, const struct guest_mem *gm,
		      const struct virtio_blk_config *cfg) __attribute__((warn_unused_result));

/* The most bytes of data (and write-zeroes) the disk has had in its backend at once. */
uint64_t virtio_blk_inflight_peak(struct virtio_dev *vdev);

/* Test hook: the device's backend, e.g. for disk_inject_error. */
/* PATCH /drives after start: switch to the image at path (same read-only mode), finishing the
 * requests in flight on the old one, and tell the driver the new capacity. Not from the device's
 * I/O thread. */
int virtio_blk_set_backing(struct virtio_dev *vdev, const char *path)
    __attribute__((warn_unused_result));
struct disk *virtio_blk_disk(struct virtio_dev *vdev);

#endif
