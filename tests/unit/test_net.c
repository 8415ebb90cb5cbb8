/* Unit tests for virtio-net: a fake driver on fake guest memory, a socketpair or a real tap. */
#include "virtio/net.h"
#include "backend/tap.h"
#include "log.h"
#include "state_check.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (4u << 20)
#define QSIZE 64
#define DATA_BASE 0x100000u
#define RX VIRTIO_NET_QUEUE_RX
#define TX VIRTIO_NET_QUEUE_TX
#define HDR sizeof(struct virtio_net_hdr_v1)
#define F(bit) (1ull << (bit))
#define BASE_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))
#define ALL_FEATURES                                                                               \
	(BASE_FEATURES | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |                       \
	 F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) |        \
	 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN) |     \
	 F(VIRTIO_NET_F_MRG_RXBUF))

static uint8_t *mem;
static struct guest_mem gm;
static atomic_uint irqs[2], config_irqs;

/* ---- a fake transport and a fake driver ---- */

static void fake_notify_queue(void *t, unsigned q)
{
	(void)t;
	if (q < 2)
		irqs[q]++;
}

static void fake_notify_config(void *t)
{
	(void)t;
	config_irqs++;
}

static const struct virtio_transport_ops fake_tops = {
	.notify_queue = fake_notify_queue,
	.notify_config = fake_notify_config,
};

struct drv_q {
	uint64_t desc, avail, used;
	uint16_t avail_idx, next_desc, used_seen;
};

static struct drv_q dq[2];
static uint64_t data_next;

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static uint64_t drv_alloc(uint32_t len)
{
	uint64_t gpa = data_next;

	data_next = (data_next + len + 15) & ~15ull;
	return gpa;
}

static void put16(uint64_t gpa, uint16_t v)
{
	memcpy(mem + gpa, &v, 2);
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, mem + gpa, 4);
	return v;
}

static void drv_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = mem + dq[q].desc + 16u * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void drv_publish(struct virtio_dev *vdev, unsigned q, uint16_t head)
{
	put16(dq[q].avail + 4 + 2u * (dq[q].avail_idx % QSIZE), head);
	__atomic_store_n((uint16_t *)(void *)(mem + dq[q].avail + 2), ++dq[q].avail_idx,
			 __ATOMIC_RELEASE);
	virtio_queue_kick(vdev, q);
}

/* Make a chain of n segments available on queue q and kick. Returns its head. */
static uint16_t drv_add(struct virtio_dev *vdev, unsigned q, const struct seg *s, unsigned n)
{
	uint16_t head = dq[q].next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % QSIZE);

		drv_desc(q, d, s[i].gpa, s[i].len, (uint16_t)((s[i].write ? 2 : 0) | (i + 1 < n)),
			 (uint16_t)((d + 1) % QSIZE));
	}
	dq[q].next_desc = (uint16_t)((head + n) % QSIZE);
	drv_publish(vdev, q, head);
	return head;
}

static uint16_t used_idx(unsigned q)
{
	return __atomic_load_n((uint16_t *)(void *)(mem + dq[q].used + 2), __ATOMIC_ACQUIRE);
}

/* Wait (up to 2 s) until the device has used `count` more chains on q. */
static bool drv_wait_used(unsigned q, uint16_t count)
{
	uint16_t want = (uint16_t)(dq[q].used_seen + count);

	for (int i = 0; i < 2000; i++) {
		if ((uint16_t)(used_idx(q) - dq[q].used_seen) >= count)
			break;
		usleep(1000);
	}
	if (used_idx(q) != want)
		return false;
	return true;
}

/* The i-th used element since the last drv_consume. */
static void drv_used(unsigned q, unsigned i, uint32_t *id, uint32_t *len)
{
	uint64_t e = dq[q].used + 4 + 8u * ((dq[q].used_seen + i) % QSIZE);

	*id = get32(e);
	*len = get32(e + 4);
}

static void drv_consume(unsigned q, uint16_t n)
{
	dq[q].used_seen = (uint16_t)(dq[q].used_seen + n);
}

static void drv_init(struct virtio_dev *vdev, uint64_t features)
{
	virtio_status_write(vdev, 0);
	memset(mem, 0, DATA_BASE);
	for (unsigned q = 0; q < 2; q++) {
		dq[q] = (struct drv_q){ .desc = 0x10000 + 0x10000u * q,
					.avail = 0x14000 + 0x10000u * q,
					.used = 0x18000 + 0x10000u * q };
	}
	data_next = DATA_BASE;
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_features_write(vdev, 0, (uint32_t)features);
	virtio_features_write(vdev, 1, (uint32_t)(features >> 32));
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK);
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 2; q++) {
		struct virtq *vq = &vdev->vqs[q];

		vq->size = QSIZE;
		vq->desc_gpa = dq[q].desc;
		vq->avail_gpa = dq[q].avail;
		vq->used_gpa = dq[q].used;
		virtq_reset(vq);
		vq->ready = true;
	}
	pthread_mutex_unlock(&vdev->lock);
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* A device on one end of a SOCK_SEQPACKET pair (one message = one vnet-framed packet). */
static struct virtio_dev *setup(uint64_t features, int *host)
{
	struct virtio_net_config cfg = {
		.tap_name = "fake0", .has_mac = true, .mac = { 2, 0, 0, 0, 0, 1 }, .name = "vnet-t"
	};
	struct virtio_dev *vdev = NULL;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (virtio_net_create_fd(&vdev, &gm, &cfg, sv[1], false) < 0) {
		close(sv[0]);
		return NULL;
	}
	vdev->transport_ops = &fake_tops;
	irqs[0] = irqs[1] = config_irqs = 0;
	drv_init(vdev, features);
	*host = sv[0];
	return vdev;
}

static void teardown(struct virtio_dev *vdev, int host)
{
	if (vdev)
		vdev->ops->destroy(vdev);
	if (host >= 0)
		close(host);
}

/* Receive one message from the host end, waiting up to ms. -1 when none. */
static ssize_t host_recv(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* ---- tests ---- */

static void test_config_and_features(void)
{
	struct virtio_net_config cfg = { .tap_name = "x", .name = "vnet-c" };
	struct virtio_dev *vdev = NULL;
	uint8_t mac[6];
	uint16_t status;
	int sv[2], host = -1;

	vdev = setup(BASE_FEATURES, &host);
	CHECK(vdev);
	if (!vdev)
		return;
	CHECK_EQ(vdev->device_id, VIRTIO_ID_NET);
	CHECK((vdev->host_features & ALL_FEATURES) == ALL_FEATURES);
	CHECK(!(vdev->host_features & F(17))); /* no CTRL_VQ */
	virtio_config_read(vdev, 0, mac, 6);
	CHECK(!memcmp(mac, "\x02\0\0\0\0\x01", 6));
	virtio_config_read(vdev, 6, &status, 2);
	CHECK_EQ(status, VIRTIO_NET_S_LINK_UP);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	teardown(vdev, host);

	/* No mac given: a random locally administered unicast one. */
	CHECK(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	vdev = NULL;
	CHECK_EQ(virtio_net_create_fd(&vdev, &gm, &cfg, sv[1], false), 0);
	if (vdev) {
		virtio_config_read(vdev, 0, mac, 6);
		CHECK(!memcmp(mac, "\x52\x54\x00", 3));
		vdev->ops->destroy(vdev);
	}
	close(sv[0]);

	/* A multicast mac is refused, and the fd is closed all the same. */
	cfg.has_mac = true;
	memcpy(cfg.mac, "\x01\0\0\0\0\x01", 6);
	CHECK(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	CHECK_EQ(virtio_net_create_fd(&vdev, &gm, &cfg, sv[1], false), -EINVAL);
	CHECK(fcntl(sv[1], F_GETFD) < 0);
	close(sv[0]);
}

/* TX: the header split over two descriptors and the data over three come out as one packet. */
static void test_tx_gather(void)
{
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					 .csum_start = 34,
					 .csum_offset = 16 };
	uint8_t pkt[HDR + 300], got[70000];
	uint64_t a = 0;
	uint32_t id, len;
	int host = -1;
	struct virtio_dev *vdev = setup(ALL_FEATURES, &host);

	CHECK(vdev);
	if (!vdev)
		return;
	memcpy(pkt, &hdr, HDR);
	fill(pkt + HDR, 300, 1);
	a = drv_alloc(sizeof(pkt));
	memcpy(mem + a, pkt, sizeof(pkt));
	{
		struct seg s[] = { { a, 5, false },
				   { a + 5, 7, false },
				   { a + 12, 100, false },
				   { a + 112, 0, false }, /* empty descriptors carry nothing */
				   { a + 112, 200, false } };
		uint16_t head = drv_add(vdev, TX, s, 5);

		CHECK(drv_wait_used(TX, 1));
		drv_used(TX, 0, &id, &len);
		CHECK_EQ(id, head);
		CHECK_EQ(len, 0);
		drv_consume(TX, 1);
	}
	CHECK_EQ(host_recv(host, got, sizeof(got), 1000), sizeof(pkt));
	CHECK(!memcmp(got, pkt, sizeof(pkt)));
	CHECK(irqs[TX] >= 1);
	/* One packet: the whole chain (vnet header included) read from guest memory. */
	CHECK_EQ(vdev->stats.requests, 1);
	CHECK_EQ(vdev->stats.bytes_out, sizeof(pkt));
	CHECK_EQ(vdev->stats.bytes_in, 0);
	CHECK_EQ(vdev->stats.errors, 0);
	CHECK(vdev->stats.kicks >= 1);
	CHECK(__atomic_load_n(&vdev->stats.interrupts, __ATOMIC_RELAXED) >= 1);

	/* A TSO4 packet of 60 KiB with the header in the same buffer as the data. */
	{
		struct virtio_net_hdr_v1 g = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 |
							   VIRTIO_NET_HDR_GSO_ECN,
					       .hdr_len = 54,
					       .gso_size = 1448,
					       .csum_start = 34,
					       .csum_offset = 16,
					       .num_buffers = 0x5555 };
		uint32_t plen = 60000;
		uint64_t b = drv_alloc(HDR + plen);
		struct seg s = { b, (uint32_t)HDR + plen, false };

		memcpy(mem + b, &g, HDR);
		fill(mem + b + HDR, plen, 9);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		CHECK_EQ(host_recv(host, got, sizeof(got), 1000), HDR + plen);
		g.num_buffers = 0; /* the device does not pass the guest's value through */
		CHECK(!memcmp(got, &g, HDR));
		CHECK(!memcmp(got + HDR, mem + b + HDR, plen));
	}
	teardown(vdev, host);
}

/* Each bad header is dropped (chain returned, nothing sent); the device keeps working. */
static void test_tx_bad_headers(void)
{
	struct bad {
		struct virtio_net_hdr_v1 h;
		uint32_t data_len;
	} cases[] = {
		{ { .flags = 0x80 }, 60 },				    /* unknown flag */
		{ { .flags = VIRTIO_NET_HDR_F_DATA_VALID }, 60 },	    /* rx-only flag */
		{ { 0 }, 10 },						    /* runt */
		{ { 0 }, 70000 },					    /* over 64 KiB */
		{ { .flags = 1, .csum_start = 50, .csum_offset = 9 }, 60 }, /* csum past end */
		{ { .flags = 1, .csum_start = 0xffff, .csum_offset = 0xffff }, 60 },
		{ { .flags = 1, .gso_type = 1, .gso_size = 0, .hdr_len = 54 }, 200 },
		{ { .flags = 1, .gso_type = 1, .gso_size = 100, .hdr_len = 300 }, 200 },
		{ { .flags = 0, .gso_type = 1, .gso_size = 100, .hdr_len = 54 }, 200 },
		{ { .flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_UDP, .gso_size = 100 }, 200 },
		{ { .flags = 1, .gso_type = 5, .gso_size = 100 }, 200 },
		{ { .gso_type = VIRTIO_NET_HDR_GSO_ECN }, 60 },
	};
	uint8_t got[100];
	int host = -1;
	struct virtio_dev *vdev = setup(ALL_FEATURES, &host);

	CHECK(vdev);
	if (!vdev)
		return;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t len = (uint32_t)HDR + cases[i].data_len;
		uint64_t a = drv_alloc(len);
		struct seg s = { a, len, false };

		memcpy(mem + a, &cases[i].h, HDR);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		if (host_recv(host, got, sizeof(got), 0) >= 0)
			fprintf(stderr, "  bad header case %u was sent\n", i), test_failed_++;
	}
	/* Shorter than the header, an empty chain, and a writable buffer in a tx chain. */
	{
		uint64_t a = drv_alloc(200);
		struct seg s1 = { a, 11, false };
		struct seg s2 = { a, 0, false };
		struct seg s3[] = { { a, 100, false }, { a + 100, 100, true } };

		drv_add(vdev, TX, &s1, 1);
		drv_add(vdev, TX, &s2, 1);
		drv_add(vdev, TX, s3, 2);
		CHECK(drv_wait_used(TX, 3));
		drv_consume(TX, 3);
		CHECK(host_recv(host, got, sizeof(got), 0) < 0);
	}
	/* Offloads the driver did not accept are refused too. */
	drv_init(vdev, BASE_FEATURES);
	{
		struct virtio_net_hdr_v1 h = { .flags = 1, .csum_start = 20, .csum_offset = 6 };
		uint64_t a = drv_alloc(HDR + 60);
		struct seg s = { a, HDR + 60, false };

		memcpy(mem + a, &h, HDR);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		CHECK(host_recv(host, got, sizeof(got), 0) < 0);
		h.flags = 0; /* and the same packet without offload goes */
		memcpy(mem + a, &h, HDR);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		CHECK_EQ(host_recv(host, got, sizeof(got), 1000), HDR + 60);
	}
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	/* Every dropped packet is an error; only the last one went out. */
	CHECK_EQ(vdev->stats.errors, sizeof(cases) / sizeof(cases[0]) + 3 + 1);
	CHECK_EQ(vdev->stats.requests, 1);
	CHECK_EQ(vdev->stats.bytes_out, HDR + 60);
	teardown(vdev, host);
}

/* The host side sends one packet: vnet header + payload. */
static void host_send(int host, size_t payload, uint8_t seed, uint8_t *copy)
{
	static uint8_t buf[HDR + 70000];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID,
				       .num_buffers = 0xeeee };

	memcpy(buf, &h, HDR);
	fill(buf + HDR, payload, seed);
	if (copy)
		memcpy(copy, buf, HDR + payload);
	CHECK_EQ(send(host, buf, HDR + payload, 0), (ssize_t)(HDR + payload));
}

static void test_rx_single(void)
{
	static uint8_t sent[HDR + 2000];
	struct virtio_net_hdr_v1 h;
	uint32_t id, len;
	int host = -1;
	struct virtio_dev *vdev = setup(BASE_FEATURES, &host);
	uint64_t a;

	CHECK(vdev);
	if (!vdev)
		return;
	/* One chain of two buffers: header + start of data, rest of data. */
	a = drv_alloc(2048);
	{
		struct seg s[] = { { a, 100, true }, { a + 100, 1948, true } };
		uint16_t head = drv_add(vdev, RX, s, 2);

		host_send(host, 1500, 3, sent);
		CHECK(drv_wait_used(RX, 1));
		drv_used(RX, 0, &id, &len);
		drv_consume(RX, 1);
		CHECK_EQ(id, head);
		CHECK_EQ(len, HDR + 1500);
	}
	memcpy(&h, mem + a, HDR);
	CHECK_EQ(h.num_buffers, 1);
	CHECK_EQ(h.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK(!memcmp(mem + a + HDR, sent + HDR, 1500));
	CHECK(irqs[RX] >= 1);

	/* Larger than the buffer without MRG_RXBUF: dropped, the buffer stays for the next. */
	a = drv_alloc(600);
	{
		struct seg s = { a, 600, true };
		uint16_t head = drv_add(vdev, RX, &s, 1);

		host_send(host, 1000, 4, NULL);
		usleep(50000);
		CHECK_EQ(used_idx(RX), dq[RX].used_seen);
		host_send(host, 500, 5, sent);
		CHECK(drv_wait_used(RX, 1));
		drv_used(RX, 0, &id, &len);
		drv_consume(RX, 1);
		CHECK_EQ(id, head);
		CHECK_EQ(len, HDR + 500);
		CHECK(!memcmp(mem + a + HDR, sent + HDR, 500));
	}
	/* A buffer too small for the header, and one with nothing writable, come back empty. */
	{
		struct seg s1 = { drv_alloc(8), 8, true };
		struct seg s2 = { drv_alloc(100), 100, false };
		struct seg s3 = { drv_alloc(2048), 2048, true };

		drv_add(vdev, RX, &s1, 1);
		drv_add(vdev, RX, &s2, 1);
		drv_add(vdev, RX, &s3, 1);
		host_send(host, 64, 6, NULL);
		CHECK(drv_wait_used(RX, 3));
		drv_used(RX, 0, &id, &len);
		CHECK_EQ(len, 0);
		drv_used(RX, 1, &id, &len);
		CHECK_EQ(len, 0);
		drv_used(RX, 2, &id, &len);
		CHECK_EQ(len, HDR + 64);
		drv_consume(RX, 3);
	}
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	/* Three packets delivered; one too large and two unusable buffers are errors. */
	CHECK_EQ(vdev->stats.requests, 3);
	CHECK_EQ(vdev->stats.bytes_in, 3 * HDR + 1500 + 500 + 64);
	CHECK_EQ(vdev->stats.errors, 3);
	teardown(vdev, host);
}

static void test_rx_mergeable(void)
{
	static uint8_t sent[HDR + 70000], got[HDR + 70000];
	uint64_t bufs[200];
	uint32_t id, len, total = 0;
	struct virtio_net_hdr_v1 h;
	int host = -1;
	struct virtio_dev *vdev = setup(ALL_FEATURES | F(VIRTIO_F_EVENT_IDX), &host);
	uint16_t heads[4];

	CHECK(vdev);
	if (!vdev)
		return;
	for (unsigned i = 0; i < 4; i++) {
		struct seg s = { bufs[i] = drv_alloc(512), 512, true };

		heads[i] = drv_add(vdev, RX, &s, 1);
	}
	host_send(host, 1200, 7, sent);
	CHECK(drv_wait_used(RX, 3));
	memcpy(&h, mem + bufs[0], HDR);
	CHECK_EQ(h.num_buffers, 3);
	for (unsigned i = 0; i < 3; i++) {
		drv_used(RX, i, &id, &len);
		CHECK_EQ(id, heads[i]);
		CHECK_EQ(len, i < 2 ? 512 : HDR + 1200 - 1024);
		memcpy(got + total, mem + bufs[i], len);
		total += len;
	}
	drv_consume(RX, 3);
	CHECK_EQ(total, HDR + 1200);
	CHECK(!memcmp(got + HDR, sent + HDR, 1200));

	/* A 64 KiB GSO packet over 1.5 KiB buffers: first the one left plus 40, too few. */
	for (unsigned i = 0; i < 40; i++) {
		struct seg s = { bufs[i] = drv_alloc(1536), 1536, true };

		drv_add(vdev, RX, &s, 1);
	}
	host_send(host, 65000, 8, sent);
	usleep(50000);
	CHECK_EQ(used_idx(RX), dq[RX].used_seen); /* 512 + 40 * 1536 < 65012: dropped whole */
	for (unsigned i = 0; i < 4; i++) {
		struct seg s = { drv_alloc(1536), 1536, true };

		drv_add(vdev, RX, &s, 1);
	}
	/* Now 512 + 42 * 1536 >= 65012: 43 chains, published together. */
	host_send(host, 65000, 9, sent);
	CHECK(drv_wait_used(RX, 43));
	total = 0;
	for (unsigned i = 0; i < 43; i++) {
		uint64_t addr;

		drv_used(RX, i, &id, &len);
		memcpy(&addr, mem + dq[RX].desc + 16u * id, 8); /* id names the buffer */
		if (total + len <= sizeof(got))
			memcpy(got + total, mem + addr, len);
		total += len;
	}
	drv_consume(RX, 43);
	CHECK_EQ(total, HDR + 65000);
	memcpy(&h, got, HDR);
	CHECK_EQ(h.num_buffers, 43);
	CHECK(!memcmp(got + HDR, sent + HDR, 65000));
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	teardown(vdev, host);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* No buffers: packets wait in the fd, the device sleeps; buffers arrive: all delivered. */
static void test_rx_backpressure(void)
{
	uint32_t id, len;
	double t0;
	int host = -1;
	struct virtio_dev *vdev = setup(BASE_FEATURES, &host);

	CHECK(vdev);
	if (!vdev)
		return;
	for (unsigned i = 0; i < 3; i++)
		host_send(host, 100 + i, (uint8_t)i, NULL);
	t0 = cpu_seconds();
	usleep(300000);
	CHECK(cpu_seconds() - t0 < 0.1); /* not spinning on a readable fd */
	CHECK_EQ(used_idx(RX), 0);
	for (unsigned i = 0; i < 3; i++) {
		struct seg s = { drv_alloc(2048), 2048, true };

		drv_add(vdev, RX, &s, 1);
	}
	CHECK(drv_wait_used(RX, 3));
	for (unsigned i = 0; i < 3; i++) {
		drv_used(RX, i, &id, &len);
		CHECK_EQ(len, HDR + 100 + i); /* in order */
	}
	drv_consume(RX, 3);

	/* More packets than one wakeup's budget, all delivered in the end. */
	for (unsigned round = 0; round < 10; round++) {
		for (unsigned i = 0; i < 40; i++) {
			struct seg s = { DATA_BASE + 2048u * i, 2048, true };

			drv_add(vdev, RX, &s, 1);
			host_send(host, 60, (uint8_t)i, NULL);
		}
		CHECK(drv_wait_used(RX, 40));
		drv_consume(RX, 40);
	}
	teardown(vdev, host);
}

static bool wait_status(struct virtio_dev *vdev, uint8_t bit)
{
	for (int i = 0; i < 2000 && !(virtio_status_read(vdev) & bit); i++)
		usleep(1000);
	return virtio_status_read(vdev) & bit;
}

/* Malformed rings: NEEDS_RESET and a config interrupt, no crash; a reset brings it back. */
static void test_malformed_rings(void)
{
	uint8_t got[200];
	int host = -1;
	struct virtio_dev *vdev = setup(ALL_FEATURES, &host);

	CHECK(vdev);
	if (!vdev)
		return;
	/* TX: a descriptor that chains to itself. */
	drv_desc(TX, 0, DATA_BASE, 100, 1, 0);
	drv_publish(vdev, TX, 0);
	CHECK(wait_status(vdev, VIRTIO_STATUS_NEEDS_RESET));
	CHECK(config_irqs >= 1);

	/* RX: a buffer outside guest RAM, and one wrapping around 2^64. */
	drv_init(vdev, ALL_FEATURES);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	{
		struct seg s = { 1ull << 40, 4096, true };

		drv_add(vdev, RX, &s, 1);
		host_send(host, 60, 1, NULL);
		CHECK(wait_status(vdev, VIRTIO_STATUS_NEEDS_RESET));
	}
	drv_init(vdev, ALL_FEATURES | F(VIRTIO_F_INDIRECT_DESC));
	{
		struct seg s = { ~0ull - 100, 4096, true };

		drv_add(vdev, RX, &s, 1);
		CHECK(wait_status(vdev, VIRTIO_STATUS_NEEDS_RESET));
	}
	/* Mergeable: the second chain of a packet is broken (head index beyond the queue). */
	drv_init(vdev, ALL_FEATURES);
	{
		struct seg s = { drv_alloc(256), 256, true };

		drv_add(vdev, RX, &s, 1); /* takes the packet the broken rings left unread */
		CHECK(drv_wait_used(RX, 1));
		drv_consume(RX, 1);
		drv_add(vdev, RX, &s, 1);
		put16(dq[RX].avail + 4 + 2u * dq[RX].avail_idx, 999);
		__atomic_store_n((uint16_t *)(void *)(mem + dq[RX].avail + 2), ++dq[RX].avail_idx,
				 __ATOMIC_RELEASE);
		host_send(host, 1000, 2, NULL);
		CHECK(wait_status(vdev, VIRTIO_STATUS_NEEDS_RESET));
		CHECK_EQ(used_idx(RX), 1); /* nothing half-delivered */
	}
	/* avail->idx far ahead of the ring. */
	drv_init(vdev, ALL_FEATURES);
	put16(dq[TX].avail + 2, 1000);
	virtio_queue_kick(vdev, TX);
	CHECK(wait_status(vdev, VIRTIO_STATUS_NEEDS_RESET));

	/* After a reset, all is well again (the packet sent above was consumed with the bad
	 * ring, or is delivered now). */
	drv_init(vdev, ALL_FEATURES);
	while (host_recv(host, got, sizeof(got), 0) >= 0)
		;
	{
		uint64_t a = drv_alloc(HDR + 60);
		struct seg s = { a, HDR + 60, false };

		memset(mem + a, 0, HDR + 60);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		CHECK_EQ(host_recv(host, got, sizeof(got), 1000), HDR + 60);
	}
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	teardown(vdev, host);
}

/* The backend goes away: packets dropped, link down, config interrupt, device alive. */
static void test_backend_gone(void)
{
	uint16_t status = 0xffff;
	int host = -1;
	struct virtio_dev *vdev = setup(ALL_FEATURES, &host);

	CHECK(vdev);
	if (!vdev)
		return;
	{
		struct seg s = { drv_alloc(2048), 2048, true };

		drv_add(vdev, RX, &s, 1);
	}
	close(host);
	for (int i = 0; i < 2000 && status; i++) {
		virtio_config_read(vdev, 6, &status, 2);
		usleep(1000);
	}
	CHECK_EQ(status, 0);
	CHECK(config_irqs >= 1);
	for (unsigned i = 0; i < 5; i++) {
		uint64_t a = drv_alloc(HDR + 60);
		struct seg s = { a, HDR + 60, false };

		drv_add(vdev, TX, &s, 1);
	}
	CHECK(drv_wait_used(TX, 5));
	CHECK_EQ(used_idx(RX), 0);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	teardown(vdev, -1);
}

/* ---- the real tap, inside a network namespace of our own ---- */

static int if_up(const char *name, bool up)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		ret = -errno;
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (!ret && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0)
			fprintf(stderr, "  %s: %s\n", path, strerror(errno));
		close(fd);
	}
}

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental: nothing else sends it */

/* Runs in the child, in a fresh network namespace. Returns the number of failed checks. */
static int real_tap_child(void)
{
	struct virtio_net_config cfg = { .tap_name = "kvmbt0", .name = "vnet-tap" };
	struct virtio_dev *vdev = NULL;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	uint8_t frame[HDR + 200], got[4096];
	uint16_t status = 0;
	int ps, fd;

	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	/* Clear errors before the device exists. */
	fd = tap_open("bad/name", 12, NULL);
	CHECK_EQ(fd, -EINVAL);
	CHECK_EQ(virtio_net_create(&vdev, &gm, &cfg), 0);
	if (!vdev)
		return test_failed_;
	vdev->transport_ops = &fake_tops;
	drv_init(vdev, ALL_FEATURES);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET)); /* offloads accepted */
	sll.sll_ifindex = (int)if_nametoindex("kvmbt0");
	CHECK(sll.sll_ifindex > 0);

	/* Guest -> host while the interface is down: dropped, device fine. */
	{
		struct virtio_net_hdr_v1 h = { 0 };
		uint64_t a = drv_alloc(HDR + 60);
		struct seg s = { a, HDR + 60, false };

		memcpy(mem + a, &h, HDR);
		memset(mem + a + HDR, 0xff, 6);
		memcpy(mem + a + HDR + 6, "\x02\0\0\0\0\x07\x88\xb5", 8);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
	}
	CHECK_EQ(if_up("kvmbt0", true), 0);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	CHECK(ps >= 0);
	CHECK_EQ(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	/* Guest -> host: a frame the guest sends shows up on the interface. */
	{
		struct virtio_net_hdr_v1 h = { 0 };
		uint64_t a = drv_alloc(HDR + 100);
		struct seg s[] = { { a, HDR, false }, { a + HDR, 100, false } };
		bool seen = false;

		memcpy(mem + a, &h, HDR);
		memset(mem + a + HDR, 0xff, 6);
		memcpy(mem + a + HDR + 6, "\x02\0\0\0\0\x07\x88\xb5", 8);
		fill(mem + a + HDR + 14, 86, 42);
		drv_add(vdev, TX, s, 2);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		for (int i = 0; i < 20 && !seen; i++) {
			ssize_t r = host_recv(ps, got, sizeof(got), 200);

			seen = r == 100 && !memcmp(got, mem + a + HDR, 100);
		}
		CHECK(seen);
	}
	/* Host -> guest: a frame sent out of the interface lands in a receive buffer. */
	{
		uint64_t a = drv_alloc(4096);
		struct seg s = { a, 4096, true };
		bool seen = false;

		drv_add(vdev, RX, &s, 1);
		memcpy(frame, "\x02\0\0\0\0\x01\x02\0\0\0\0\x09\x88\xb5", 14);
		fill(frame + 14, 100, 77);
		CHECK_EQ(sendto(ps, frame, 114, 0, (struct sockaddr *)&sll, sizeof(sll)), 114);
		for (int i = 0; i < 20 && !seen; i++) {
			uint32_t id, len;

			if (!drv_wait_used(RX, 1))
				break;
			drv_used(RX, 0, &id, &len);
			drv_consume(RX, 1);
			seen = len == HDR + 114 && !memcmp(mem + a + HDR, frame, 114);
			if (!seen)
				drv_add(vdev, RX, &s, 1);
		}
		CHECK(seen);
	}
	/* The interface is deleted under us: link down, packets dropped, device alive. */
	if (!access("/usr/sbin/ip", X_OK) || !access("/sbin/ip", X_OK) ||
	    !access("/usr/bin/ip", X_OK)) {
		struct seg s = { drv_alloc(4096), 4096, true };

		drv_add(vdev, RX, &s, 1);
		CHECK_EQ(system("ip link del kvmbt0"), 0);
		for (int i = 0; i < 2000; i++) {
			virtio_config_read(vdev, 6, &status, 2);
			if (!status)
				break;
			usleep(1000);
		}
		CHECK_EQ(status, 0);
		{
			uint64_t a = drv_alloc(HDR + 60);
			struct seg t = { a, HDR + 60, false };

			memset(mem + a, 0, HDR + 60);
			drv_add(vdev, TX, &t, 1);
			CHECK(drv_wait_used(TX, 1));
		}
		CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	} else {
		printf("SKIP test_real_tap_deleted: no ip command\n");
	}
	close(ps);
	vdev->ops->destroy(vdev);
	return test_failed_;
}

#define SKIP_STATUS 77

/* In a child: the namespace (and the tap in it) vanish with it, whatever happens. */
static void test_real_tap(void)
{
	int status = 0;
	pid_t pid;

	test_failed_ = 0;
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			printf("SKIP test_real_tap: unshare(CLONE_NEWNET): %s\n", strerror(errno));
			fflush(stdout);
			_exit(SKIP_STATUS);
		}
		_exit(real_tap_child() ? 1 : 0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
		return;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("%s test_real_tap\n", test_failed_ ? "FAIL" : "PASS");
	test_total_fail_ += !!test_failed_;
}

/* ---- snapshots ---- */

/* The restoring process's device: a fresh fd, and no MAC configured (a random one). */
static struct virtio_dev *setup_fresh(int *host)
{
	struct virtio_net_config cfg = { .tap_name = "fake1", .name = "vnet-r" };
	struct virtio_dev *vdev = NULL;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (virtio_net_create_fd(&vdev, &gm, &cfg, sv[1], false) < 0) {
		close(sv[0]);
		return NULL;
	}
	vdev->transport_ops = &fake_tops;
	*host = sv[0];
	return vdev;
}

/*
 * A packet each way, a receive buffer left posted, saved; a new device (another fd, another MAC
 * of its own) loaded: it has the driver's MAC, fills the posted buffer with mergeable buffers
 * (the negotiated features came back) and transmits from where the ring was.
 */
static void test_state_round_trip(void)
{
	static uint8_t sent[HDR + 1500], got[HDR + 1500];
	struct virtio_net_hdr_v1 h;
	struct state_target st;
	struct state_blob blob = { 0 };
	struct virtio_dev *vdev;
	uint8_t mac[6];
	uint64_t a, rx1, rx2;
	uint32_t id, len;
	int host = -1;

	vdev = setup(BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF), &host);
	CHECK(vdev);
	if (!vdev)
		return;
	a = drv_alloc(HDR + 100);
	memset(mem + a, 0, HDR);
	fill(mem + a + HDR, 100, 1);
	{
		struct seg s = { a, HDR + 100, false };

		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		CHECK_EQ(host_recv(host, got, sizeof(got), 1000), HDR + 100);
	}
	rx1 = drv_alloc(2048);
	{
		struct seg s = { rx1, 2048, true };

		drv_add(vdev, RX, &s, 1);
		host_send(host, 200, 2, NULL);
		CHECK(drv_wait_used(RX, 1));
		drv_consume(RX, 1);
	}
	rx1 = drv_alloc(1000);
	{
		struct seg s = { rx1, 1000, true };

		drv_add(vdev, RX, &s, 1); /* posted, not used when the snapshot is taken */
	}
	CHECK_EQ(virtio_dev_quiesce(vdev), 0);
	st = state_target_virtio(vdev);
	state_check_save(&st, &blob);
	virtio_dev_resume(vdev);
	teardown(vdev, host);

	vdev = setup_fresh(&host);
	CHECK(vdev);
	if (!vdev)
		goto out;
	st = state_target_virtio(vdev);
	CHECK_EQ(state_check_load(&st, &blob), 0);
	virtio_config_read(vdev, 0, mac, 6);
	CHECK(!memcmp(mac, "\x02\0\0\0\0\x01", 6));
	CHECK_EQ(virtio_status_read(vdev), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	CHECK(state_check_same(&st, &blob));
	virtio_dev_resume(vdev);
	/* 1500 bytes: the posted 1000-byte buffer and one more, merged. */
	rx2 = drv_alloc(1000);
	{
		struct seg s = { rx2, 1000, true };

		drv_add(vdev, RX, &s, 1);
	}
	host_send(host, 1500, 3, sent);
	CHECK(drv_wait_used(RX, 2));
	drv_used(RX, 0, &id, &len);
	CHECK_EQ(len, 1000);
	drv_used(RX, 1, &id, &len);
	CHECK_EQ(len, HDR + 1500 - 1000);
	drv_consume(RX, 2);
	memcpy(&h, mem + rx1, HDR);
	CHECK_EQ(h.num_buffers, 2);
	CHECK(!memcmp(mem + rx1 + HDR, sent + HDR, 1000 - HDR));
	{
		struct seg s = { a, HDR + 100, false };

		fill(mem + a + HDR, 100, 4);
		drv_add(vdev, TX, &s, 1);
		CHECK(drv_wait_used(TX, 1));
		drv_consume(TX, 1);
		CHECK_EQ(host_recv(host, got, sizeof(got), 1000), HDR + 100);
		CHECK(!memcmp(got + HDR, mem + a + HDR, 100));
	}
	CHECK_EQ(used_idx(TX), 2);
	CHECK_EQ(used_idx(RX), 3);
	teardown(vdev, host);
out:
	state_blob_free(&blob);
}

static void test_state_hostile(void)
{
	struct state_target st;
	struct state_blob good;
	struct virtio_dev *vdev;
	size_t vn;
	int host = -1, host2 = -1;

	vdev = setup(BASE_FEATURES, &host);
	CHECK(vdev);
	if (!vdev)
		return;
	st = state_target_virtio(vdev);
	state_check_save(&st, &good);
	teardown(vdev, host);
	vdev = setup_fresh(&host2);
	CHECK(vdev);
	if (!vdev) {
		state_blob_free(&good);
		return;
	}
	st = state_target_virtio(vdev);
	state_check_hostile(&st, &good);
	vn = state_blob_section(&good, STATE_TAG('V', 'N', 'E', 'T'), 0);
	CHECK(vn != SIZE_MAX);
	if (vn != SIZE_MAX) {
		/* MAC 03:00:00:00:00:01: its bytes in order are the value little-endian */
		state_check_rejects_field(&st, &good, vn, 0x010000000003ull, 6, "a multicast MAC");
		state_check_rejects_field(&st, &good, vn + 6, 3, 2, "link status 3");
	}
	teardown(vdev, host2);
	state_blob_free(&good);
}

int main(int argc, char **argv)
{
	log_set_level(argc > 1 && !strcmp(argv[1], "-v") ? LOG_DEBUG : LOG_ERROR);
	mem = calloc(1, MEM_SIZE);
	if (!mem || guest_mem_add(&gm, 0, MEM_SIZE, mem) < 0)
		return 1;
	RUN_TEST(test_config_and_features);
	RUN_TEST(test_tx_gather);
	RUN_TEST(test_tx_bad_headers);
	RUN_TEST(test_rx_single);
	RUN_TEST(test_rx_mergeable);
	RUN_TEST(test_rx_backpressure);
	RUN_TEST(test_malformed_rings);
	RUN_TEST(test_backend_gone);
	RUN_TEST(test_state_round_trip);
	RUN_TEST(test_state_hostile);
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK))
		printf("SKIP test_real_tap: needs root and /dev/net/tun\n");
	else
		test_real_tap(); /* prints PASS, FAIL or SKIP itself */
	free(mem);
	TEST_EXIT();
}
