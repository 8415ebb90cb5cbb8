/* Unit tests of virtio-blk end to end: hand-built rings on fake guest memory, a temp image. */
#include "backend/disk.h"
#include "log.h"
#include "state_check.h"
#include "test.h"
#include "virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define T_MEM (16u << 20)
#define T_QS 64		/* queue size the test driver picks */
#define T_SECTORS 2048	/* 1 MiB image */
#define T_DATA 0x100000 /* data buffers from here */
#define T_HDR 0x80000	/* per-queue, per-slot headers and status bytes */

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

struct t_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct t_buf {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

struct t {
	uint8_t *mem;
	struct guest_mem gm;
	struct virtio_dev *vdev;
	char path[64];
	unsigned nq;
	uint16_t avail_idx[4];
	uint16_t next_desc[4];
	unsigned interrupts;
	unsigned config_irqs;
};

static bool t_pool;
static struct t t_state;      /* the snapshot tests' device */
static uint64_t t_image_size; /* 0: the 1 MiB pattern image; else that pattern, then sparse */

static void t_notify_queue(void *opaque, unsigned q)
{
	__atomic_add_fetch(&((struct t *)opaque)->interrupts, 1, __ATOMIC_RELAXED);
}

static void t_notify_config(void *opaque)
{
	__atomic_add_fetch(&((struct t *)opaque)->config_irqs, 1, __ATOMIC_RELAXED);
}

static const struct virtio_transport_ops t_transport = {
	.notify_queue = t_notify_queue,
	.notify_config = t_notify_config,
};

static uint64_t t_desc_gpa(unsigned q)
{
	return 0x10000 * (q + 1);
}
static uint64_t t_avail_gpa(unsigned q)
{
	return t_desc_gpa(q) + 0x1000;
}
static uint64_t t_used_gpa(unsigned q)
{
	return t_desc_gpa(q) + 0x2000;
}

static uint16_t t_used_idx(struct t *t, unsigned q)
{
	return __atomic_load_n((uint16_t *)(t->mem + t_used_gpa(q) + 2), __ATOMIC_ACQUIRE);
}

static uint64_t t_features(struct virtio_dev *vdev)
{
	return virtio_features_read(vdev, 0) | (uint64_t)virtio_features_read(vdev, 1) << 32;
}

/* The driver's side of initialisation, as Linux does it, accepting `features`. */
static void t_driver_init(struct t *t, uint64_t features)
{
	struct virtio_dev *vdev = t->vdev;

	virtio_status_write(vdev, 0);
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_features_write(vdev, 0, (uint32_t)features);
	virtio_features_write(vdev, 1, (uint32_t)(features >> 32));
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK);
	CHECK(virtio_status_read(vdev) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < t->nq; q++) {
		struct virtq *vq = &vdev->vqs[q];

		memset(t->mem + t_desc_gpa(q), 0, 0x3000);
		t->avail_idx[q] = 0;
		t->next_desc[q] = 0;
		pthread_mutex_lock(&vdev->lock);
		vq->size = T_QS;
		vq->desc_gpa = t_desc_gpa(q);
		vq->avail_gpa = t_avail_gpa(q);
		vq->used_gpa = t_used_gpa(q);
		vq->ready = true;
		pthread_mutex_unlock(&vdev->lock);
	}
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	CHECK(virtio_status_read(vdev) & VIRTIO_STATUS_DRIVER_OK);
}

/* A 1 MiB image whose sector s is filled with (s & 0xff). */
static void t_make_image(struct t *t)
{
	uint8_t sec[512];
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/kvmbox-blk-XXXXXX");
	fd = mkstemp(t->path);
	CHECK(fd >= 0);
	for (unsigned s = 0; s < T_SECTORS; s++) {
		memset(sec, (int)(s & 0xff), sizeof(sec));
		CHECK_EQ(write(fd, sec, sizeof(sec)), sizeof(sec));
	}
	if (t_image_size)
		CHECK_EQ(ftruncate(fd, (off_t)t_image_size), 0);
	close(fd);
}

static void t_setup_cfg(struct t *t, bool ro, const char *serial, unsigned nq)
{
	struct virtio_blk_config cfg = {
		.readonly = ro, .serial = serial, .nqueues = nq, .name = "blk-test"
	};

	memset(t, 0, sizeof(*t));
	t_make_image(t);
	cfg.path = t->path;
	t->nq = nq;
	t->mem = aligned_alloc(4096, T_MEM);
	memset(t->mem, 0, T_MEM);
	memset(&t->gm, 0, sizeof(t->gm));
	CHECK_EQ(guest_mem_add(&t->gm, 0, T_MEM, t->mem), 0);
	if (t_pool)
		setenv("KVMBOX_DISK_NO_URING", "1", 1);
	else
		unsetenv("KVMBOX_DISK_NO_URING");
	t->vdev = NULL;
	CHECK_EQ(virtio_blk_create(&t->vdev, &t->gm, &cfg), 0);
	if (!t->vdev)
		abort();
	CHECK_EQ(disk_uses_uring(virtio_blk_disk(t->vdev)), !t_pool);
	t->vdev->transport_ops = &t_transport;
	t->vdev->transport = t;
	t_driver_init(t, t_features(t->vdev));
}

static void t_setup(struct t *t, bool ro, unsigned nq)
{
	t_setup_cfg(t, ro, NULL, nq);
}

static void t_teardown(struct t *t)
{
	t->vdev->ops->destroy(t->vdev);
	unlink(t->path);
	free(t->mem);
}

/* Write a chain of descriptors; returns its head. */
static uint16_t t_chain(struct t *t, unsigned q, const struct t_buf *b, unsigned n)
{
	struct t_desc *table = (struct t_desc *)(t->mem + t_desc_gpa(q));
	uint16_t head = t->next_desc[q];

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % T_QS);

		table[d].addr = b[i].gpa;
		table[d].len = b[i].len;
		table[d].flags =
		    (uint16_t)((b[i].w ? DESC_F_WRITE : 0) | (i + 1 < n ? DESC_F_NEXT : 0));
		table[d].next = (uint16_t)((d + 1) % T_QS);
	}
	t->next_desc[q] = (uint16_t)((head + n) % T_QS);
	return head;
}

static void t_avail(struct t *t, unsigned q, uint16_t head)
{
	uint8_t *avail = t->mem + t_avail_gpa(q);

	((uint16_t *)(avail + 4))[t->avail_idx[q] % T_QS] = head;
	t->avail_idx[q]++;
	__atomic_store_n((uint16_t *)(avail + 2), t->avail_idx[q], __ATOMIC_RELEASE);
}

static bool t_wait(struct t *t, unsigned q, uint16_t target)
{
	for (unsigned i = 0; i < 5000; i++) {
		if (t_used_idx(t, q) == target)
			return true;
		usleep(1000);
	}
	fprintf(stderr, "  timeout: used idx %u, want %u\n", t_used_idx(t, q), target);
	return false;
}

/* The used element for the n-th completion (0-based). */
static uint32_t t_used_len(struct t *t, unsigned q, uint16_t n)
{
	return *(uint32_t *)(t->mem + t_used_gpa(q) + 4 + 8 * (n % T_QS) + 4);
}

static uint64_t t_hdr_gpa(unsigned q, unsigned slot)
{
	return T_HDR + (q * T_QS + slot) * 32;
}

/* Header and status for a request in slot `slot`; returns the status byte's address. */
static uint8_t *t_hdr(struct t *t, unsigned q, unsigned slot, uint32_t type, uint64_t sector)
{
	struct virtio_blk_req_hdr h = { .type = type, .sector = sector };

	memcpy(t->mem + t_hdr_gpa(q, slot), &h, sizeof(h));
	t->mem[t_hdr_gpa(q, slot) + 16] = 0xff;
	return t->mem + t_hdr_gpa(q, slot) + 16;
}

/* One request in the usual three-part layout; waits; returns the status byte (or -1). */
static int t_req(struct t *t, unsigned q, uint32_t type, uint64_t sector, uint64_t data,
		 uint32_t len, bool dev_writes, uint32_t *used_len)
{
	uint8_t *status = t_hdr(t, q, 0, type, sector);
	struct t_buf b[3];
	unsigned n = 0;
	uint16_t before = t_used_idx(t, q);

	b[n++] = (struct t_buf){ t_hdr_gpa(q, 0), 16, false };
	if (len)
		b[n++] = (struct t_buf){ data, len, dev_writes };
	b[n++] = (struct t_buf){ t_hdr_gpa(q, 0) + 16, 1, true };
	t_avail(t, q, t_chain(t, q, b, n));
	virtio_queue_kick(t->vdev, q);
	if (!t_wait(t, q, (uint16_t)(before + 1)))
		return -1;
	if (used_len)
		*used_len = t_used_len(t, q, before);
	return *status;
}

static int t_read(struct t *t, uint64_t sector, uint64_t gpa, uint32_t len)
{
	return t_req(t, 0, VIRTIO_BLK_T_IN, sector, gpa, len, true, NULL);
}

static int t_write(struct t *t, uint64_t sector, uint64_t gpa, uint32_t len)
{
	return t_req(t, 0, VIRTIO_BLK_T_OUT, sector, gpa, len, false, NULL);
}

/* DISCARD / WRITE_ZEROES with one segment. */
static int t_dwz(struct t *t, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = { sector, num, flags };

	memcpy(t->mem + T_DATA, &seg, sizeof(seg));
	return t_req(t, 0, type, 0, T_DATA, sizeof(seg), false, NULL);
}

/* A device counter, as the metrics read it. */
static uint64_t t_stat(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Interrupts are counted just before the transport is called: wait for the fake to catch up. */
static bool t_irqs_match(struct t *t)
{
	for (unsigned i = 0; i < 1000; i++) {
		if (t_stat(&t->vdev->stats.interrupts) ==
		    __atomic_load_n(&t->interrupts, __ATOMIC_RELAXED) +
			__atomic_load_n(&t->config_irqs, __ATOMIC_RELAXED))
			return true;
		usleep(1000);
	}
	return false;
}

static bool t_filled(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_config(void)
{
	struct t t;
	struct virtio_blk_dev_config c;
	uint64_t f;

	t_setup(&t, false, 4);
	f = t_features(t.vdev);
	CHECK_EQ(t.vdev->device_id, VIRTIO_ID_BLOCK);
	CHECK(f & (1ull << VIRTIO_BLK_F_FLUSH));
	CHECK(f & (1ull << VIRTIO_BLK_F_DISCARD));
	CHECK(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK(f & (1ull << VIRTIO_BLK_F_MQ));
	CHECK(f & (1ull << VIRTIO_BLK_F_SEG_MAX));
	CHECK(f & (1ull << VIRTIO_BLK_F_SIZE_MAX));
	CHECK(f & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_RO)));
	CHECK_EQ(t.vdev->config_size, sizeof(c));
	for (unsigned off = 0; off < sizeof(c); off += 4)
		virtio_config_read(t.vdev, off, (uint8_t *)&c + off, 4);
	CHECK_EQ(c.capacity, T_SECTORS);
	CHECK_EQ(c.blk_size, 512);
	CHECK_EQ(c.seg_max, VIRTIO_BLK_SEG_MAX);
	CHECK_EQ(c.size_max, VIRTIO_BLK_SIZE_MAX);
	CHECK_EQ(c.max_write_zeroes_sectors, VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS);
	CHECK_EQ(c.num_queues, 4);
	CHECK_EQ(c.max_discard_seg, 1);
	CHECK_EQ(c.max_write_zeroes_seg, 1);
	CHECK(c.max_discard_sectors > 0);
	CHECK(c.discard_sector_alignment > 0);
	CHECK_EQ(c.write_zeroes_may_unmap, 1);
	/* Writes do nothing; reads past the end are the core's to refuse. */
	virtio_config_write(t.vdev, 0, "\xff\xff\xff\xff", 4);
	virtio_config_read(t.vdev, 0, &c.capacity, 8);
	CHECK_EQ(c.capacity, T_SECTORS);
	t_teardown(&t);

	t_setup(&t, true, 1);
	f = t_features(t.vdev);
	CHECK(f & (1ull << VIRTIO_BLK_F_RO));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_DISCARD)));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES)));
	t_teardown(&t);
}

static void test_read_write(void)
{
	struct t t;
	uint32_t used;
	int fd;
	uint8_t buf[1024];

	t_setup(&t, false, 1);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_IN, 5, T_DATA, 1024, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1025);
	CHECK(t_filled(t.mem + T_DATA, 512, 5));
	CHECK(t_filled(t.mem + T_DATA + 512, 512, 6));
	memset(t.mem + T_DATA, 0xab, 1024);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_OUT, T_SECTORS - 2, T_DATA, 1024, false, &used),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	memset(t.mem + T_DATA, 0, 2048);
	CHECK_EQ(t_read(&t, T_SECTORS - 3, T_DATA, 1536), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + T_DATA, 512, (T_SECTORS - 3) & 0xff));
	CHECK(t_filled(t.mem + T_DATA + 512, 1024, 0xab));
	/* It reached the file. */
	fd = open(t.path, O_RDONLY);
	CHECK_EQ(pread(fd, buf, sizeof(buf), (T_SECTORS - 2) * 512ull), sizeof(buf));
	CHECK(t_filled(buf, sizeof(buf), 0xab));
	close(fd);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	/* Zero-length reads and writes are fine, even at the very end. */
	CHECK_EQ(t_read(&t, T_SECTORS, 0, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_write(&t, 0, 0, 0), VIRTIO_BLK_S_OK);
	CHECK(t.interrupts > 0);
	/* Counters: six requests; in = the used lengths (data read + status bytes), out = six
	 * headers and the 1024 bytes written. */
	CHECK_EQ(t_stat(&t.vdev->stats.requests), 6);
	CHECK_EQ(t_stat(&t.vdev->stats.bytes_in), 1025 + 1 + 1537 + 1 + 1 + 1);
	CHECK_EQ(t_stat(&t.vdev->stats.bytes_out), 6 * 16 + 1024);
	CHECK_EQ(t_stat(&t.vdev->stats.errors), 0);
	CHECK(t_stat(&t.vdev->stats.kicks) >= 6);
	CHECK(t_irqs_match(&t));
	t_teardown(&t);
}

/* Odd layouts the spec allows: header and data in one buffer, data and status in one. */
static void test_layouts(void)
{
	struct t t;
	struct virtio_blk_req_hdr h = { .type = VIRTIO_BLK_T_OUT, .sector = 10 };
	struct t_buf b[6];
	uint16_t before;

	t_setup(&t, false, 1);
	/* OUT: header + 512 bytes in one readable buffer, status in a 4-byte writable one. */
	memcpy(t.mem + T_DATA, &h, sizeof(h));
	memset(t.mem + T_DATA + 16, 0x77, 512);
	t.mem[T_DATA + 0x1000 + 3] = 0xff;
	b[0] = (struct t_buf){ T_DATA, 16 + 512, false };
	b[1] = (struct t_buf){ T_DATA + 0x1000, 4, true };
	before = t_used_idx(&t, 0);
	t_avail(&t, 0, t_chain(&t, 0, b, 2));
	virtio_queue_kick(t.vdev, 0);
	CHECK(t_wait(&t, 0, (uint16_t)(before + 1)));
	CHECK_EQ(t.mem[T_DATA + 0x1000 + 3], VIRTIO_BLK_S_OK);

	/* IN: header split 10 + 6, data in 3 pieces with a zero-length one, status glued to the
	 * last data piece. */
	h.type = VIRTIO_BLK_T_IN;
	memcpy(t.mem + T_DATA, &h, sizeof(h));
	memset(t.mem + T_DATA + 0x2000, 0, 0x1000);
	b[0] = (struct t_buf){ T_DATA, 10, false };
	b[1] = (struct t_buf){ T_DATA + 10, 6, false };
	b[2] = (struct t_buf){ T_DATA + 0x2000, 100, true };
	b[3] = (struct t_buf){ T_DATA + 0x3000, 0, true };
	b[4] = (struct t_buf){ T_DATA + 0x2000 + 100, 412 + 512 + 1, true };
	before = t_used_idx(&t, 0);
	t_avail(&t, 0, t_chain(&t, 0, b, 5));
	virtio_queue_kick(t.vdev, 0);
	CHECK(t_wait(&t, 0, (uint16_t)(before + 1)));
	CHECK(t_filled(t.mem + T_DATA + 0x2000, 512, 0x77));
	CHECK(t_filled(t.mem + T_DATA + 0x2000 + 512, 512, 11));
	CHECK_EQ(t.mem[T_DATA + 0x2000 + 1024], VIRTIO_BLK_S_OK);
	CHECK_EQ(t_used_len(&t, 0, before), 1025);
	t_teardown(&t);
}

static void test_get_id(void)
{
	struct t t;
	uint32_t used;

	t_setup_cfg(&t, false, "serial-42", 1);
	memset(t.mem + T_DATA, 0xee, 32);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_GET_ID, 0, T_DATA, 20, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 21);
	CHECK(!memcmp(t.mem + T_DATA, "serial-42\0\0\0\0\0\0\0\0\0\0\0", 20));
	/* A short buffer gets what fits; the status byte stays last. */
	memset(t.mem + T_DATA, 0xee, 32);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_GET_ID, 0, T_DATA, 4, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 5);
	CHECK(!memcmp(t.mem + T_DATA, "seri\xee", 5));
	t_teardown(&t);

	/* Default: the image's file name. */
	t_setup(&t, false, 1);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_GET_ID, 0, T_DATA, 20, true, NULL), VIRTIO_BLK_S_OK);
	CHECK(!memcmp(t.mem + T_DATA, strrchr(t.path, '/') + 1, strlen(strrchr(t.path, '/') + 1)));
	t_teardown(&t);
}

static void test_discard_write_zeroes(void)
{
	struct t t;

	t_setup(&t, false, 1);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, 24, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		 VIRTIO_BLK_S_OK);
	memset(t.mem + 0x200000, 0xcc, 18 * 512);
	CHECK_EQ(t_read(&t, 15, 0x200000, 18 * 512), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + 0x200000, 512, 15));
	CHECK(t_filled(t.mem + 0x200000 + 512, 16 * 512, 0));
	CHECK(t_filled(t.mem + 0x200000 + 17 * 512, 512, 32));
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, 64, 64, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, 0, 0, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, T_SECTORS - 8, 8, 0), VIRTIO_BLK_S_OK);
	/* Flags: unmap makes no sense for discard; unknown bits are refused. */
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, 0, 8, 1), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), VIRTIO_BLK_S_UNSUPP);
	/* Ranges. */
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, T_SECTORS - 8, 9, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, T_SECTORS + 1, 0, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 3, 8, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, 0, UINT32_MAX, 0), VIRTIO_BLK_S_IOERR);
	/* Segment framing: none, two (max is 1), a partial one. */
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_DISCARD, 0, 0, 0, false, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_DISCARD, 0, T_DATA, 32, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, T_DATA, 15, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	t_teardown(&t);
}

/* A driver that did not negotiate DISCARD/WRITE_ZEROES (or FLUSH) gets UNSUPP / write-through. */
static void test_not_negotiated(void)
{
	struct t t;

	t_setup(&t, false, 1);
	t_driver_init(&t, t_features(t.vdev) & ~((1ull << VIRTIO_BLK_F_DISCARD) |
						 (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
						 (1ull << VIRTIO_BLK_F_FLUSH)));
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	memset(t.mem + T_DATA, 0x42, 4096);
	CHECK_EQ(t_write(&t, 100, T_DATA, 4096), VIRTIO_BLK_S_OK); /* RWF_DSYNC */
	memset(t.mem + T_DATA, 0, 4096);
	CHECK_EQ(t_read(&t, 100, T_DATA, 4096), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + T_DATA, 4096, 0x42));
	t_teardown(&t);
}

static void test_readonly(void)
{
	struct t t;
	int fd;
	uint8_t b;

	t_setup(&t, true, 1);
	memset(t.mem + T_DATA, 0x99, 512);
	CHECK_EQ(t_write(&t, 1, T_DATA, 512), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_read(&t, 1, T_DATA, 512), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + T_DATA, 512, 1));
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	fd = open(t.path, O_RDONLY);
	CHECK_EQ(pread(fd, &b, 1, 512), 1);
	CHECK_EQ(b, 1);
	close(fd);
	t_teardown(&t);
}

static void test_bad_requests(void)
{
	struct t t;

	t_setup(&t, false, 1);
	/* Out of range, and sector arithmetic that would wrap. */
	CHECK_EQ(t_read(&t, T_SECTORS, T_DATA, 512), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_read(&t, T_SECTORS - 1, T_DATA, 1024), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_write(&t, T_SECTORS + 1, 0, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_read(&t, UINT64_MAX, T_DATA, 512), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_write(&t, 1ull << 55, T_DATA, 512), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_write(&t, UINT64_MAX >> 9, T_DATA, 4096), VIRTIO_BLK_S_IOERR);
	/* Lengths that are not whole sectors. */
	CHECK_EQ(t_read(&t, 0, T_DATA, 511), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_write(&t, 0, T_DATA, 513), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_read(&t, 0, T_DATA, 1), VIRTIO_BLK_S_IOERR);
	/* Unsupported types. */
	CHECK_EQ(t_req(&t, 0, 2, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP); /* SCSI */
	CHECK_EQ(t_req(&t, 0, 10, 0, T_DATA, 16, true, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_req(&t, 0, 14, 0, T_DATA, 16, false, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_req(&t, 0, 0xffffffffu, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_req(&t, 0, 0x80000000u, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Still healthy. */
	CHECK(!(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET));
	CHECK_EQ(t_read(&t, 3, T_DATA, 512), VIRTIO_BLK_S_OK);
	/* Every failure was a completed request, and an error. */
	CHECK_EQ(t_stat(&t.vdev->stats.requests), 15);
	CHECK_EQ(t_stat(&t.vdev->stats.errors), 14);
	CHECK_EQ(t_stat(&t.vdev->stats.bytes_out), 15 * 16);
	t_teardown(&t);
}

/* Header too short or device-writable: IOERR in the status byte. */
static void test_bad_header(void)
{
	struct t t;
	struct t_buf b[3];
	uint16_t before;
	uint8_t *status;

	t_setup(&t, false, 1);
	for (unsigned c = 0; c < 3; c++) {
		status = t_hdr(&t, 0, 0, VIRTIO_BLK_T_IN, 0);
		if (c == 0) /* header writable */
			b[0] = (struct t_buf){ t_hdr_gpa(0, 0), 16, true };
		else if (c == 1) /* 15 bytes */
			b[0] = (struct t_buf){ t_hdr_gpa(0, 0), 15, false };
		else /* none at all */
			b[0] = (struct t_buf){ T_DATA, 512, true };
		b[1] = (struct t_buf){ T_DATA, 512, true };
		b[2] = (struct t_buf){ t_hdr_gpa(0, 0) + 16, 1, true };
		before = t_used_idx(&t, 0);
		t_avail(&t, 0, t_chain(&t, 0, b, 3));
		virtio_queue_kick(t.vdev, 0);
		CHECK(t_wait(&t, 0, (uint16_t)(before + 1)));
		CHECK_EQ(*status, VIRTIO_BLK_S_IOERR);
	}
	CHECK(!(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET));
	t_teardown(&t);
}

/* No writable byte for the status: the driver is broken; NEEDS_RESET, then a reset recovers. */
static void test_missing_status(void)
{
	struct t t;
	struct t_buf b[2];
	unsigned irqs;

	t_setup(&t, false, 1);
	t_hdr(&t, 0, 0, VIRTIO_BLK_T_OUT, 0);
	b[0] = (struct t_buf){ t_hdr_gpa(0, 0), 16, false };
	b[1] = (struct t_buf){ T_DATA, 512, false };
	irqs = t.config_irqs;
	t_avail(&t, 0, t_chain(&t, 0, b, 2));
	virtio_queue_kick(t.vdev, 0);
	for (unsigned i = 0; i < 2000 && !(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	     i++)
		usleep(1000);
	CHECK(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(t.config_irqs > irqs);
	CHECK_EQ(t_used_idx(&t, 0), 0);
	/* A reset and a new initialisation bring it back. */
	t_driver_init(&t, t_features(t.vdev));
	CHECK(!(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET));
	CHECK_EQ(t_read(&t, 7, T_DATA, 512), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + T_DATA, 512, 7));
	t_teardown(&t);
}

/* Indirect tables: a large request works; more data buffers than seg_max is an I/O error. */
static void test_indirect(void)
{
	struct t t;
	uint64_t tbl = 0x300000;
	struct t_buf b;
	uint16_t before;
	uint8_t *status;

	t_setup(&t, false, 1);
	for (unsigned nseg = 200; nseg <= 400; nseg += 200) {
		struct t_desc *d = (struct t_desc *)(t.mem + tbl);
		unsigned n = 0;

		status = t_hdr(&t, 0, 0, VIRTIO_BLK_T_IN, 0);
		d[n++] = (struct t_desc){ t_hdr_gpa(0, 0), 16, DESC_F_NEXT, 1 };
		for (unsigned i = 0; i < nseg; i++, n++)
			d[n] = (struct t_desc){ T_DATA + i * 512ull, 512,
						DESC_F_WRITE | DESC_F_NEXT, (uint16_t)(n + 1) };
		d[n++] = (struct t_desc){ t_hdr_gpa(0, 0) + 16, 1, DESC_F_WRITE, 0 };
		b = (struct t_buf){ tbl, n * 16, false };
		before = t_used_idx(&t, 0);
		t_avail(&t, 0, t_chain(&t, 0, &b, 1));
		/* t_chain wrote a plain descriptor: make it indirect. */
		((struct t_desc *)(t.mem + t_desc_gpa(0)))[t.next_desc[0] - 1].flags = 4;
		virtio_queue_kick(t.vdev, 0);
		CHECK(t_wait(&t, 0, (uint16_t)(before + 1)));
		if (nseg <= VIRTIO_BLK_SEG_MAX) {
			CHECK_EQ(*status, VIRTIO_BLK_S_OK);
			CHECK(t_filled(t.mem + T_DATA + 199 * 512, 512, 199));
		} else {
			CHECK_EQ(*status, VIRTIO_BLK_S_IOERR);
		}
	}
	t_teardown(&t);
}

/* A broken ring (head beyond the queue): NEEDS_RESET, and nothing is processed after it. */
static void test_malformed_ring(void)
{
	struct t t;

	t_setup(&t, false, 1);
	t_avail(&t, 0, T_QS + 3);
	virtio_queue_kick(t.vdev, 0);
	for (unsigned i = 0; i < 2000 && !(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	     i++)
		usleep(1000);
	CHECK(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(t_used_idx(&t, 0), 0);
	CHECK_EQ(t_stat(&t.vdev->stats.errors), 1);
	CHECK_EQ(t_stat(&t.vdev->stats.requests), 0);
	t_driver_init(&t, t_features(t.vdev));
	CHECK_EQ(t_read(&t, 2, T_DATA, 512), VIRTIO_BLK_S_OK);
	/* Counters outlive a device reset: they are the VM's, not the driver's. */
	CHECK_EQ(t_stat(&t.vdev->stats.errors), 1);
	CHECK_EQ(t_stat(&t.vdev->stats.requests), 1);
	CHECK(t_irqs_match(&t));
	t_teardown(&t);
}

static void test_backend_errors(void)
{
	struct t t;
	struct disk *d;
	struct rlimit old, lim;

	t_setup(&t, false, 1);
	d = virtio_blk_disk(t.vdev);
	/* Injected EIO on reads, ENOSPC on writes and flushes: IOERR, and the device lives on. */
	disk_inject_error(d, 1u << DISK_OP_READ, EIO, 1000);
	CHECK_EQ(t_read(&t, 0, T_DATA, 512), VIRTIO_BLK_S_IOERR);
	disk_inject_error(d, (1u << DISK_OP_WRITE) | (1u << DISK_OP_FLUSH), ENOSPC, 1000);
	CHECK_EQ(t_write(&t, 0, T_DATA, 512), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_req(&t, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_IOERR);
	disk_inject_error(d, 1u << DISK_OP_WRITE_ZEROES, EIO, 1000);
	CHECK_EQ(t_dwz(&t, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	disk_inject_error(d, 0, 0, 0);
	CHECK_EQ(t_read(&t, 9, T_DATA, 512), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + T_DATA, 512, 9));

	/* A real kernel error (EFBIG past RLIMIT_FSIZE), through io_uring or the pool. */
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){ 65536, old.rlim_max };
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_EQ(t_write(&t, 1024, T_DATA, 4096), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_write(&t, 8, T_DATA, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_EQ(t_write(&t, 1024, T_DATA, 4096), VIRTIO_BLK_S_OK);
	CHECK(!(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET));
	t_teardown(&t);
}

/* A full ring on every queue in flight at once, then checked piece by piece. */
static void test_many_in_flight(void)
{
	struct t t;
	enum { NQ = 4, PER = T_QS / 2 }; /* two-descriptor chains fill the 64-entry table */

	t_setup(&t, false, NQ);
	for (unsigned q = 0; q < NQ; q++) {
		for (unsigned i = 0; i < PER; i++) {
			unsigned sector = q * PER + i;
			uint64_t req = T_DATA + (uint64_t)sector * 1024;
			struct t_buf b[2] = { { req, 16 + 512, false },
					      { req + 16 + 512, 1, true } };
			struct virtio_blk_req_hdr h = { .type = VIRTIO_BLK_T_OUT,
							.sector = 512 + sector };

			memcpy(t.mem + req, &h, sizeof(h));
			memset(t.mem + req + 16, (int)sector, 512);
			t.mem[req + 16 + 512] = 0xff;
			t_avail(&t, q, t_chain(&t, q, b, 2));
		}
		virtio_queue_kick(t.vdev, q);
	}
	for (unsigned q = 0; q < NQ; q++)
		CHECK(t_wait(&t, q, PER));
	for (unsigned s = 0; s < NQ * PER; s++)
		CHECK_EQ(t.mem[T_DATA + s * 1024 + 16 + 512], VIRTIO_BLK_S_OK);
	memset(t.mem + 0x400000, 0, NQ * PER * 512);
	CHECK_EQ(t_read(&t, 512, 0x400000, NQ * PER * 512), VIRTIO_BLK_S_OK);
	for (unsigned s = 0; s < NQ * PER; s++)
		CHECK(t_filled(t.mem + 0x400000 + s * 512, 512, (uint8_t)s));
	t_teardown(&t);
}

/*
 * A hostile driver offering one head over and over, many rounds, without waiting: more chains
 * in flight than requests in the pool. Everything completes; nothing is lost or doubled.
 */
static void test_reused_heads(void)
{
	struct t t;
	struct t_buf b[3] = { { t_hdr_gpa(0, 0), 16, false },
			      { T_DATA, 256 * 1024, true },
			      { t_hdr_gpa(0, 0) + 16, 1, true } };
	uint16_t head;
	unsigned total = 0;

	t_setup(&t, false, 1);
	t_hdr(&t, 0, 0, VIRTIO_BLK_T_IN, 0);
	head = t_chain(&t, 0, b, 3);
	for (unsigned round = 0; round < 40; round++) {
		uint16_t last;

		/* The walker refuses an avail idx more than a ring ahead of what it took. */
		do {
			pthread_mutex_lock(&t.vdev->lock);
			last = t.vdev->vqs[0].last_avail;
			pthread_mutex_unlock(&t.vdev->lock);
		} while (last != t.avail_idx[0] && !usleep(50));
		for (unsigned i = 0; i < T_QS; i++)
			t_avail(&t, 0, head);
		total += T_QS;
		virtio_queue_kick(t.vdev, 0);
	}
	CHECK(t_wait(&t, 0, (uint16_t)total));
	t_teardown(&t);
}

/* Reset with I/O in flight: it returns with nothing in flight and no later ring writes. */
static void test_reset_inflight(void)
{
	struct t t;
	uint16_t used_after;
	uint8_t used_copy[8 + 8 * T_QS];

	t_setup(&t, false, 1);
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < T_QS / 3; i++) {
			uint64_t req = T_DATA + (uint64_t)i * 0x20000;
			struct t_buf b[3] = { { req, 16, false },
					      { req + 4096, 64 * 1024, (i & 1) != 0 },
					      { req + 16, 1, true } };
			struct virtio_blk_req_hdr h = { .type = i & 1 ? VIRTIO_BLK_T_IN
								      : VIRTIO_BLK_T_OUT,
							.sector = i * 128 };

			memcpy(t.mem + req, &h, sizeof(h));
			t_avail(&t, 0, t_chain(&t, 0, b, 3));
		}
		virtio_queue_kick(t.vdev, 0);
		usleep(round * 50);
		virtio_status_write(t.vdev, 0);
		CHECK_EQ(disk_inflight(virtio_blk_disk(t.vdev)), 0);
		used_after = t_used_idx(&t, 0);
		memcpy(used_copy, t.mem + t_used_gpa(0), sizeof(used_copy));
		usleep(2000);
		CHECK_EQ(t_used_idx(&t, 0), used_after);
		CHECK(!memcmp(used_copy, t.mem + t_used_gpa(0), sizeof(used_copy)));
		t_driver_init(&t, t_features(t.vdev));
	}
	CHECK_EQ(t_read(&t, 4, T_DATA, 512), VIRTIO_BLK_S_OK);
	t_teardown(&t);
}

/* Destroy with requests still in flight and no reset: nothing leaks, nothing crashes. */
static void test_destroy_inflight(void)
{
	struct t t;

	t_setup(&t, false, 2);
	for (unsigned i = 0; i < 20; i++) {
		uint64_t req = T_DATA + (uint64_t)i * 0x20000;
		struct t_buf b[3] = { { req, 16, false },
				      { req + 4096, 64 * 1024, true },
				      { req + 16, 1, true } };
		struct virtio_blk_req_hdr h = { .type = VIRTIO_BLK_T_IN, .sector = i * 64 };

		memcpy(t.mem + req, &h, sizeof(h));
		t_avail(&t, i & 1, t_chain(&t, i & 1, b, 3));
	}
	virtio_queue_kick(t.vdev, 0);
	virtio_queue_kick(t.vdev, 1);
	t_teardown(&t);
}

/*
 * A hostile driver queueing far more data than the bound at once (6 reads of 8 x 4 MiB each on a
 * sparse 1 GiB image, all into one 4 MiB buffer): at most 64 MiB (two of them) are ever in the
 * backend, the rest wait in the ring, and all complete. One request above seg_max x size_max is
 * refused. Reset and teardown thus never wait for more than the bound, whatever was queued.
 */
static void test_inflight_bound(void)
{
	enum { NREQ = 6, SEGS = 8 };
	const uint32_t seg = 4u << 20;
	const uint64_t buf = 0x800000;
	struct t t;

	t_image_size = 1ull << 30;
	t_setup(&t, false, 1);
	t_image_size = 0;
	CHECK_EQ(2 * (uint64_t)SEGS * seg, VIRTIO_BLK_INFLIGHT_BYTES_MAX);
	for (unsigned i = 0; i < NREQ; i++) {
		struct t_buf b[SEGS + 2];

		t_hdr(&t, 0, i, VIRTIO_BLK_T_IN, (uint64_t)i * (SEGS * seg / 512));
		b[0] = (struct t_buf){ t_hdr_gpa(0, i), 16, false };
		for (unsigned s = 0; s < SEGS; s++)
			b[1 + s] = (struct t_buf){ buf, seg, true };
		b[SEGS + 1] = (struct t_buf){ t_hdr_gpa(0, i) + 16, 1, true };
		t_avail(&t, 0, t_chain(&t, 0, b, SEGS + 2));
	}
	virtio_queue_kick(t.vdev, 0);
	CHECK(t_wait(&t, 0, NREQ));
	/* Two requests reach the bound; without it all six would be in the backend at once. */
	CHECK_EQ(virtio_blk_inflight_peak(t.vdev), VIRTIO_BLK_INFLIGHT_BYTES_MAX);
	for (unsigned i = 0; i < NREQ; i++)
		CHECK_EQ(t.mem[t_hdr_gpa(0, i) + 16], VIRTIO_BLK_S_OK);
	CHECK(t_filled(t.mem + buf, seg, 0));

	/* 64 MiB in one request: more than seg_max x size_max (254 x 256 KiB). */
	{
		struct t_buf b[18];

		CHECK(16 * (uint64_t)seg > VIRTIO_BLK_REQ_BYTES_MAX);
		t_hdr(&t, 0, 0, VIRTIO_BLK_T_IN, 0);
		b[0] = (struct t_buf){ t_hdr_gpa(0, 0), 16, false };
		for (unsigned s = 0; s < 16; s++)
			b[1 + s] = (struct t_buf){ buf, seg, true };
		b[17] = (struct t_buf){ t_hdr_gpa(0, 0) + 16, 1, true };
		t_avail(&t, 0, t_chain(&t, 0, b, 18));
		virtio_queue_kick(t.vdev, 0);
		CHECK(t_wait(&t, 0, NREQ + 1));
		CHECK_EQ(t.mem[t_hdr_gpa(0, 0) + 16], VIRTIO_BLK_S_IOERR);
	}
	CHECK(!(virtio_status_read(t.vdev) & VIRTIO_STATUS_NEEDS_RESET));
	t_teardown(&t);
}

static void test_create_errors(void)
{
	struct guest_mem gm = { 0 };
	struct virtio_dev *vdev = NULL;
	struct virtio_blk_config cfg = { .path = "/nonexistent/kvmbox.img" };
	struct t t;

	CHECK(virtio_blk_create(&vdev, &gm, &cfg) < 0);
	t_make_image(&t);
	cfg.path = t.path;
	cfg.nqueues = VIRTIO_BLK_MAX_QUEUES + 1;
	CHECK_EQ(virtio_blk_create(&vdev, &gm, &cfg), -EINVAL);
	cfg.nqueues = 1;
	cfg.serial = "123456789012345678901"; /* 21 bytes */
	CHECK_EQ(virtio_blk_create(&vdev, &gm, &cfg), -EINVAL);
	CHECK(vdev == NULL);
	unlink(t.path);
}

/* ---- snapshots: the common state and the device's, as a transport saves them ---- */

static struct state_target t_target(struct t *t)
{
	return state_target_virtio(t->vdev);
}

/* The restoring process: a new device on the same image and guest memory, no driver init. */
static void t_reopen(struct t *t, bool ro, unsigned nq)
{
	struct virtio_blk_config cfg = {
		.path = t->path, .readonly = ro, .nqueues = nq, .name = "blk-test"
	};

	t->vdev->ops->destroy(t->vdev);
	t->vdev = NULL;
	CHECK_EQ(virtio_blk_create(&t->vdev, &t->gm, &cfg), 0);
	if (!t->vdev)
		abort();
	t->vdev->transport_ops = &t_transport;
	t->vdev->transport = t;
}

static void t_config(struct t *t, struct virtio_blk_dev_config *c)
{
	for (unsigned off = 0; off < sizeof(*c); off += 4)
		virtio_config_read(t->vdev, off, (uint8_t *)c + off, 4);
}

/* Requests on two queues, saved, loaded into a new device: the rings go on where they were. */
static void test_state_round_trip(void)
{
	struct virtio_blk_dev_config c0, c1;
	struct virtq q0[2];
	struct state_target st;
	struct state_blob blob;
	uint64_t features;
	uint8_t status;

	t_setup(&t_state, false, 2);
	memset(t_state.mem + T_DATA, 0xcd, 1024);
	CHECK_EQ(t_req(&t_state, 1, VIRTIO_BLK_T_OUT, 100, T_DATA, 1024, false, NULL),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(t_req(&t_state, 0, VIRTIO_BLK_T_IN, 7, T_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_req(&t_state, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	t_config(&t_state, &c0);
	status = virtio_status_read(t_state.vdev);
	features = t_state.vdev->driver_features;
	CHECK_EQ(virtio_dev_quiesce(t_state.vdev), 0);
	st = t_target(&t_state);
	state_check_save(&st, &blob);
	memcpy(q0, t_state.vdev->vqs, sizeof(q0));
	virtio_dev_resume(t_state.vdev);

	t_reopen(&t_state, false, 2);
	st = t_target(&t_state);
	CHECK_EQ(state_check_load(&st, &blob), 0);
	CHECK_EQ(virtio_status_read(t_state.vdev), status);
	CHECK_EQ(t_state.vdev->driver_features, features);
	t_config(&t_state, &c1);
	CHECK(!memcmp(&c0, &c1, sizeof(c0)));
	for (unsigned q = 0; q < 2; q++) {
		const struct virtq *vq = &t_state.vdev->vqs[q];

		CHECK(vq->ready && vq->size == T_QS && vq->desc_gpa == t_desc_gpa(q));
		CHECK_EQ(vq->last_avail, q0[q].last_avail);
		CHECK_EQ(vq->used_idx, q0[q].used_idx);
		CHECK_EQ(vq->event_idx, q0[q].event_idx);
	}
	CHECK_EQ(t_state.vdev->vqs[0].used_idx, 2);
	CHECK(state_check_same(&st, &blob));
	virtio_dev_resume(t_state.vdev);

	memset(t_state.mem + T_DATA, 0, 1024);
	CHECK_EQ(t_req(&t_state, 0, VIRTIO_BLK_T_IN, 100, T_DATA, 1024, true, NULL),
		 VIRTIO_BLK_S_OK);
	CHECK(t_filled(t_state.mem + T_DATA, 1024, 0xcd)); /* written before the snapshot */
	CHECK_EQ(t_req(&t_state, 1, VIRTIO_BLK_T_IN, 9, T_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	CHECK(t_filled(t_state.mem + T_DATA, 512, 9));
	CHECK_EQ(t_used_idx(&t_state, 0), 3);
	CHECK_EQ(t_used_idx(&t_state, 1), 2);
	/* FLUSH was negotiated: writes are not forced to FUA (blk->features came back). */
	CHECK_EQ(t_req(&t_state, 1, VIRTIO_BLK_T_OUT, 3, T_DATA, 512, false, NULL),
		 VIRTIO_BLK_S_OK);
	state_blob_free(&blob);
	t_teardown(&t_state);
}

/* Requests the backend still holds: the save is refused, not silently short of them. */
static void test_state_refuses_inflight(void)
{
	struct t t;
	struct state_target st;
	struct state_writer w;
	struct state_blob blob;

	t_setup(&t, false, 1);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t req = T_DATA + (uint64_t)i * 0x20000;
		struct t_buf b[3] = { { req, 16, false },
				      { req + 4096, 64 * 1024, true },
				      { req + 16, 1, true } };
		struct virtio_blk_req_hdr h = { .type = VIRTIO_BLK_T_IN, .sector = i * 128 };

		memcpy(t.mem + req, &h, sizeof(h));
		t_avail(&t, 0, t_chain(&t, 0, b, 3));
	}
	/* The I/O thread parked: the requests go to the backend, their completions wait. */
	CHECK_EQ(event_loop_pause(t.vdev->loop), 0);
	pthread_mutex_lock(&t.vdev->lock);
	t.vdev->ops->queue_notify(t.vdev, 0);
	pthread_mutex_unlock(&t.vdev->lock);
	st = t_target(&t);
	CHECK_EQ(state_check_save_err(&st, &blob), -EBUSY);
	CHECK_EQ(blob.len, 0);
	state_blob_free(&blob);
	state_writer_init(&w); /* the device's own check, behind the core's */
	pthread_mutex_lock(&t.vdev->lock);
	t.vdev->ops->save(t.vdev, &w);
	pthread_mutex_unlock(&t.vdev->lock);
	CHECK_EQ(state_writer_result(&w), -EBUSY);
	state_writer_free(&w);
	event_loop_resume(t.vdev->loop);
	CHECK(t_wait(&t, 0, 4));
	CHECK_EQ(virtio_dev_quiesce(t.vdev), 0);
	state_check_save(&st, &blob);
	virtio_dev_resume(t.vdev);
	state_blob_free(&blob);
	t_teardown(&t);
}

static void test_state_hostile(void)
{
	struct state_target st;
	struct state_blob good;
	size_t vb;

	t_setup(&t_state, false, 2);
	CHECK_EQ(t_read(&t_state, 1, T_DATA, 512), VIRTIO_BLK_S_OK);
	st = t_target(&t_state);
	state_check_save(&st, &good);
	t_reopen(&t_state, false, 2);
	st = t_target(&t_state);
	state_check_hostile(&st, &good);
	vb = state_blob_section(&good, STATE_TAG('V', 'B', 'L', 'K'), 0);
	CHECK(vb != SIZE_MAX);
	/* The image has another size: refused after the common part was taken, and put back. */
	if (vb != SIZE_MAX)
		state_check_rejects_field(&st, &good, vb, T_SECTORS + 1, 8, "another image size");
	CHECK_EQ(virtio_status_read(t_state.vdev), 0);
	CHECK(!t_state.vdev->vqs[0].ready);
	/* Another device: read-only (other features), or another number of queues. */
	t_reopen(&t_state, true, 2);
	st = t_target(&t_state);
	CHECK_EQ(state_check_load(&st, &good), -EINVAL);
	CHECK_EQ(virtio_status_read(t_state.vdev), 0);
	t_reopen(&t_state, false, 1);
	st = t_target(&t_state);
	CHECK_EQ(state_check_load(&st, &good), -EINVAL);
	CHECK_EQ(virtio_status_read(t_state.vdev), 0);
	state_blob_free(&good);
	t_teardown(&t_state);
}

#define BOTH(fn)                                                                                   \
	static void fn##_uring(void)                                                               \
	{                                                                                          \
		t_pool = false;                                                                    \
		fn();                                                                              \
	}                                                                                          \
	static void fn##_pool(void)                                                                \
	{                                                                                          \
		t_pool = true;                                                                     \
		fn();                                                                              \
	}

BOTH(test_read_write)
BOTH(test_layouts)
BOTH(test_discard_write_zeroes)
BOTH(test_backend_errors)
BOTH(test_many_in_flight)
BOTH(test_reused_heads)
BOTH(test_reset_inflight)
BOTH(test_destroy_inflight)
BOTH(test_inflight_bound)

int main(void)
{
	/* Guest-triggered warnings are the point of several tests: keep the output to results. */
	log_set_level(getenv("T_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	RUN_TEST(test_config);
	RUN_TEST(test_get_id);
	RUN_TEST(test_not_negotiated);
	RUN_TEST(test_readonly);
	RUN_TEST(test_bad_requests);
	RUN_TEST(test_bad_header);
	RUN_TEST(test_missing_status);
	RUN_TEST(test_create_errors);
	RUN_TEST(test_indirect);
	RUN_TEST(test_malformed_ring);
	RUN_TEST(test_read_write_uring);
	RUN_TEST(test_read_write_pool);
	RUN_TEST(test_layouts_uring);
	RUN_TEST(test_layouts_pool);
	RUN_TEST(test_discard_write_zeroes_uring);
	RUN_TEST(test_discard_write_zeroes_pool);
	RUN_TEST(test_backend_errors_uring);
	RUN_TEST(test_backend_errors_pool);
	RUN_TEST(test_many_in_flight_uring);
	RUN_TEST(test_many_in_flight_pool);
	RUN_TEST(test_reused_heads_uring);
	RUN_TEST(test_reused_heads_pool);
	RUN_TEST(test_reset_inflight_uring);
	RUN_TEST(test_reset_inflight_pool);
	RUN_TEST(test_destroy_inflight_uring);
	RUN_TEST(test_destroy_inflight_pool);
	RUN_TEST(test_inflight_bound_uring);
	RUN_TEST(test_inflight_bound_pool);
	RUN_TEST(test_state_round_trip);
	RUN_TEST(test_state_refuses_inflight);
	RUN_TEST(test_state_hostile);
	TEST_EXIT();
}
