/* Unit tests for virtio-vsock: a fake driver on fake guest memory, real unix sockets on the host.
 */
#include "virtio/vsock.h"
#include "log.h"
#include "state_check.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (16u << 20)
#define QSIZE 256
#define RXQ VIRTIO_VSOCK_QUEUE_RX
#define TXQ VIRTIO_VSOCK_QUEUE_TX
#define EVQ VIRTIO_VSOCK_QUEUE_EVENT
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define RXBUF 4096 /* payload part of a receive buffer, as Linux posts them */
#define RX_BASE 0x100000u
#define RX_STRIDE 0x1100u
#define TX_BASE 0x300000u
#define CID 3
#define FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX))

static uint8_t *mem;
static struct guest_mem gm;
static atomic_uint config_irqs;
static char dir[32], uds[64];

static void fake_notify_queue(void *t, unsigned q)
{
	(void)t, (void)q;
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

/* ---- a fake driver: descriptor free lists, receive buffers re-posted as they are read ---- */

struct drv_q {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
	uint16_t free[QSIZE];
	unsigned nfree;
};

static struct drv_q dq[3];
static uint64_t tx_next;

struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt, used_len;
	uint16_t type, op;
	uint8_t data[RXBUF];
};

static void drv_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = mem + dq[q].desc + 16u * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static uint16_t desc_next(unsigned q, uint16_t i, uint16_t *flags)
{
	uint16_t next;

	memcpy(flags, mem + dq[q].desc + 16u * i + 12, 2);
	memcpy(&next, mem + dq[q].desc + 16u * i + 14, 2);
	return next;
}

static void drv_publish(struct virtio_dev *vdev, unsigned q, uint16_t head)
{
	memcpy(mem + dq[q].avail + 4 + 2u * (dq[q].avail_idx % QSIZE), &head, 2);
	__atomic_store_n((uint16_t *)(void *)(mem + dq[q].avail + 2), ++dq[q].avail_idx,
			 __ATOMIC_RELEASE);
	virtio_queue_kick(vdev, q);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
};

/* A chain of n segments (writable or not) made available on q; false if out of descriptors. */
static bool drv_add(struct virtio_dev *vdev, unsigned q, const struct seg *s, unsigned n,
		    bool write)
{
	uint16_t d[8];

	if (dq[q].nfree < n || n > 8)
		return false;
	for (unsigned i = 0; i < n; i++)
		d[i] = dq[q].free[--dq[q].nfree];
	for (unsigned i = 0; i < n; i++)
		drv_desc(q, d[i], s[i].gpa, s[i].len, (uint16_t)((write ? 2 : 0) | (i + 1 < n)),
			 i + 1 < n ? d[i + 1] : 0);
	drv_publish(vdev, q, d[0]);
	return true;
}

static void drv_free_chain(unsigned q, uint16_t head)
{
	uint16_t flags, i = head;

	for (unsigned n = 0; n < QSIZE; n++) {
		uint16_t next = desc_next(q, i, &flags);

		dq[q].free[dq[q].nfree++] = i;
		if (!(flags & 1))
			break;
		i = next;
	}
}

static uint16_t used_idx(unsigned q)
{
	return __atomic_load_n((uint16_t *)(void *)(mem + dq[q].used + 2), __ATOMIC_ACQUIRE);
}

/* Take the next used element of q, waiting up to ms. */
static bool drv_take_used(unsigned q, int ms, uint16_t *head, uint32_t *len)
{
	uint32_t id;
	uint64_t e;

	for (int i = 0; i < ms && used_idx(q) == dq[q].used_seen; i++)
		usleep(1000);
	if (used_idx(q) == dq[q].used_seen)
		return false;
	e = dq[q].used + 4 + 8u * (dq[q].used_seen % QSIZE);
	memcpy(&id, mem + e, 4);
	memcpy(len, mem + e + 4, 4);
	*head = (uint16_t)id;
	dq[q].used_seen++;
	return true;
}

/* Receive buffers as Linux 6.1 posts them: a 44-byte header buffer, then a 4 KiB one. */
static uint64_t rx_gpa(uint16_t head)
{
	return RX_BASE + RX_STRIDE * (uint64_t)head;
}

static bool rx_add(struct virtio_dev *vdev)
{
	uint16_t head;
	struct seg s[2];

	if (dq[RXQ].nfree < 2)
		return false;
	head = dq[RXQ].free[dq[RXQ].nfree - 1];
	s[0] = (struct seg){ rx_gpa(head), HDR };
	s[1] = (struct seg){ rx_gpa(head) + HDR, RXBUF };
	return drv_add(vdev, RXQ, s, 2, true);
}

static void rx_fill(struct virtio_dev *vdev, unsigned n)
{
	for (unsigned i = 0; i < n && rx_add(vdev); i++)
		;
}

/* The next packet the device sent, within ms; its buffer is posted again (refill). */
static bool rx_get(struct virtio_dev *vdev, struct pkt *p, int ms, bool refill)
{
	struct virtio_vsock_hdr h;
	uint16_t head;
	uint32_t len;

	if (!drv_take_used(RXQ, ms, &head, &len))
		return false;
	memset(p, 0, sizeof(*p));
	p->used_len = len;
	if (len >= HDR) {
		memcpy(&h, mem + rx_gpa(head), HDR);
		p->src_cid = h.src_cid;
		p->dst_cid = h.dst_cid;
		p->src_port = h.src_port;
		p->dst_port = h.dst_port;
		p->len = h.len;
		p->type = h.type;
		p->op = h.op;
		p->flags = h.flags;
		p->buf_alloc = h.buf_alloc;
		p->fwd_cnt = h.fwd_cnt;
		memcpy(p->data, mem + rx_gpa(head) + HDR, len - HDR < RXBUF ? len - HDR : RXBUF);
	}
	drv_free_chain(RXQ, head);
	if (refill)
		rx_add(vdev);
	return true;
}

static uint64_t tx_alloc(uint32_t len)
{
	uint64_t gpa;

	if (tx_next + len > MEM_SIZE)
		tx_next = TX_BASE;
	gpa = tx_next;
	tx_next = (tx_next + len + 15) & ~15ull;
	return gpa;
}

struct thdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

static struct thdr th(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	return (struct thdr){ .src_cid = CID,
			      .dst_cid = 2,
			      .src_port = src_port,
			      .dst_port = dst_port,
			      .type = VIRTIO_VSOCK_TYPE_STREAM,
			      .op = op,
			      .buf_alloc = 256 * 1024 };
}

/*
 * Send a packet: header (split after `split` bytes if 0 < split < 44), then len payload bytes in
 * one buffer; the header's len field is t->len. Waits until the device used the chain.
 */
static bool tx_send_split(struct virtio_dev *vdev, const struct thdr *t, const void *data,
			  uint32_t len, unsigned split)
{
	struct virtio_vsock_hdr h = { .src_cid = t->src_cid,
				      .dst_cid = t->dst_cid,
				      .src_port = t->src_port,
				      .dst_port = t->dst_port,
				      .len = t->len,
				      .type = t->type,
				      .op = t->op,
				      .flags = t->flags,
				      .buf_alloc = t->buf_alloc,
				      .fwd_cnt = t->fwd_cnt };
	uint64_t hg = tx_alloc(HDR), dg = len ? tx_alloc(len) : 0;
	struct seg s[3];
	unsigned n = 0;
	uint16_t head;
	uint32_t ulen;

	memcpy(mem + hg, &h, HDR);
	if (split && split < HDR) {
		s[n++] = (struct seg){ hg, split };
		s[n++] = (struct seg){ hg + split, HDR - split };
	} else {
		s[n++] = (struct seg){ hg, HDR };
	}
	if (len) {
		memcpy(mem + dg, data, len);
		s[n++] = (struct seg){ dg, len };
	}
	if (!drv_add(vdev, TXQ, s, n, false))
		return false;
	if (!drv_take_used(TXQ, 2000, &head, &ulen))
		return false;
	drv_free_chain(TXQ, head);
	return true;
}

static bool tx_send(struct virtio_dev *vdev, struct thdr t, const void *data, uint32_t len)
{
	t.len = len;
	return tx_send_split(vdev, &t, data, len, 0);
}

/* A header-only chain of `bytes` bytes (shorter than a header, for the malformed tests). */
static bool tx_raw(struct virtio_dev *vdev, const void *bytes, uint32_t n)
{
	uint64_t g = tx_alloc(n);
	struct seg s = { g, n };
	uint16_t head;
	uint32_t ulen;

	memcpy(mem + g, bytes, n);
	if (!drv_add(vdev, TXQ, &s, 1, false) || !drv_take_used(TXQ, 2000, &head, &ulen))
		return false;
	drv_free_chain(TXQ, head);
	return true;
}

static void drv_init(struct virtio_dev *vdev)
{
	virtio_status_write(vdev, 0);
	memset(mem, 0, RX_BASE);
	for (unsigned q = 0; q < 3; q++) {
		dq[q] = (struct drv_q){ .desc = 0x10000 + 0x10000u * q,
					.avail = 0x14000 + 0x10000u * q,
					.used = 0x18000 + 0x10000u * q };
		for (unsigned i = 0; i < QSIZE; i++)
			dq[q].free[dq[q].nfree++] = (uint16_t)(QSIZE - 1 - i);
	}
	tx_next = TX_BASE;
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_features_write(vdev, 0, (uint32_t)FEATURES);
	virtio_features_write(vdev, 1, (uint32_t)(FEATURES >> 32));
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK);
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 3; q++) {
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

static struct virtio_dev *setup(bool init)
{
	struct virtio_dev *vdev = NULL;

	if (virtio_vsock_create(&vdev, &gm, CID, uds, "vsock-t") < 0)
		return NULL;
	vdev->transport_ops = &fake_tops;
	config_irqs = 0;
	if (init)
		drv_init(vdev);
	return vdev;
}

/* ---- host side helpers ---- */

static int host_listen(uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void host_unlisten(int fd, uint32_t port)
{
	char p[160];

	snprintf(p, sizeof(p), "%s_%u", uds, port);
	unlink(p);
	close(fd);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

static int host_accept(int lfd)
{
	return readable(lfd, 2000) ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
}

static int host_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read exactly n bytes (or up to EOF) within ms. */
static ssize_t host_read(int fd, void *buf, size_t n, int ms)
{
	size_t got = 0;

	while (got < n && readable(fd, ms)) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);

		if (r <= 0)
			return r < 0 && !got ? -1 : (ssize_t)got;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The host end saw EOF (or a reset) within ms. */
static bool host_closed(int fd, int ms)
{
	char c;

	return readable(fd, ms) && read(fd, &c, 1) <= 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static struct virtio_vsock_stats stats(struct virtio_dev *vdev)
{
	struct virtio_vsock_stats s;

	virtio_vsock_get_stats(vdev, &s);
	return s;
}

/* Skip credit updates the device may slip in; the next other packet. */
static bool rx_next(struct virtio_dev *vdev, struct pkt *p, int ms)
{
	while (rx_get(vdev, p, ms, true))
		if (p->op != VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			return true;
	return false;
}

/* Guest connects its port gport to host port hport (a listener there): host fd or -1. */
static int guest_connect(struct virtio_dev *vdev, int lfd, uint32_t gport, uint32_t hport,
			 uint32_t buf_alloc)
{
	struct thdr t = th(VIRTIO_VSOCK_OP_REQUEST, gport, hport);
	struct pkt p;

	t.buf_alloc = buf_alloc;
	if (!tx_send(vdev, t, NULL, 0) || !rx_next(vdev, &p, 2000) ||
	    p.op != VIRTIO_VSOCK_OP_RESPONSE || p.dst_port != gport || p.src_port != hport)
		return -1;
	return host_accept(lfd);
}

/* ---- tests ---- */

static void test_config(void)
{
	struct virtio_dev *vdev = setup(false);
	uint64_t cid = 0;
	uint32_t lo = 0, hi = 0;
	struct stat st;

	CHECK(vdev);
	if (!vdev)
		return;
	CHECK_EQ(vdev->device_id, 19);
	CHECK_EQ(vdev->nqueues, 3);
	CHECK_EQ(vdev->config_size, 8);
	CHECK(vdev->host_features & (1ull << VIRTIO_F_VERSION_1));
	virtio_config_read(vdev, 0, &cid, 8);
	virtio_config_read(vdev, 0, &lo, 4);
	virtio_config_read(vdev, 4, &hi, 4);
	CHECK_EQ(cid, CID);
	CHECK_EQ(lo, CID);
	CHECK_EQ(hi, 0);
	virtio_config_write(vdev, 0, "\x09\0\0\0", 4); /* read-only */
	virtio_config_read(vdev, 0, &cid, 8);
	CHECK_EQ(cid, CID);
	CHECK(!lstat(uds, &st) && S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	vdev->ops->destroy(vdev);
	CHECK(lstat(uds, &st) < 0 && errno == ENOENT);
}

static void test_create_errors(void)
{
	struct virtio_dev *vdev = NULL, *v2 = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char longpath[200];
	struct stat st;
	int fd;

	CHECK_EQ(virtio_vsock_create(&vdev, &gm, 2, uds, "x"), -EINVAL);
	CHECK_EQ(virtio_vsock_create(&vdev, &gm, 0xffffffffu, uds, "x"), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	CHECK(virtio_vsock_create(&vdev, &gm, CID, longpath, "x") < 0);

	/* A live kvmbox there: refused, and its socket is left alone. */
	vdev = setup(false);
	CHECK(vdev);
	CHECK_EQ(virtio_vsock_create(&v2, &gm, CID, uds, "x"), -EADDRINUSE);
	CHECK(!lstat(uds, &st) && S_ISSOCK(st.st_mode));
	if (vdev)
		vdev->ops->destroy(vdev);

	/* A stale socket file (its owner died without removing it): replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
	CHECK(!bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);
	vdev = setup(false);
	CHECK(vdev);
	if (vdev) {
		fd = host_connect(uds);
		CHECK(fd >= 0);
		close(fd);
		vdev->ops->destroy(vdev);
	}

	/* Not a socket: refused and not removed. */
	fd = open(uds, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(virtio_vsock_create(&vdev, &gm, CID, uds, "x"), -EEXIST);
	CHECK(!lstat(uds, &st) && S_ISREG(st.st_mode));
	unlink(uds);
}

/* Guest -> host: connect, data both ways, half-closes, then RST and the host socket closed. */
static void test_guest_connect(void)
{
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(1234), hfd;
	struct thdr t = th(VIRTIO_VSOCK_OP_RW, 5555, 1234);
	struct virtio_vsock_stats s;
	struct pkt p;
	char buf[16];

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 16);
	hfd = guest_connect(vdev, lfd, 5555, 1234, 65536);
	CHECK(hfd >= 0);
	/* The RESPONSE's fields, checked once here. */
	{
		struct thdr r = th(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 5555, 1234);

		CHECK(tx_send(vdev, r, NULL, 0));
		CHECK(rx_get(vdev, &p, 2000, true));
		CHECK_EQ(p.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		CHECK_EQ(p.src_cid, 2);
		CHECK_EQ(p.dst_cid, CID);
		CHECK_EQ(p.src_port, 1234);
		CHECK_EQ(p.dst_port, 5555);
		CHECK_EQ(p.type, VIRTIO_VSOCK_TYPE_STREAM);
		CHECK_EQ(p.buf_alloc, VIRTIO_VSOCK_BUF_ALLOC);
		CHECK_EQ(p.fwd_cnt, 0);
		CHECK_EQ(p.used_len, HDR);
	}
	/* Header split across two descriptors: accepted like any other layout. */
	t.len = 5;
	CHECK(tx_send_split(vdev, &t, "hello", 5, 10));
	CHECK_EQ(host_read(hfd, buf, 5, 2000), 5);
	CHECK(!memcmp(buf, "hello", 5));

	CHECK_EQ(write(hfd, "world", 5), 5);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.len, 5);
	CHECK_EQ(p.used_len, HDR + 5);
	CHECK(!memcmp(p.data, "world", 5));

	/* Host half-close: SHUTDOWN(SEND) to the guest, which can still send. */
	shutdown(hfd, SHUT_WR);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	CHECK_EQ(p.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	CHECK(tx_send(vdev, t, "more", 4));
	CHECK_EQ(host_read(hfd, buf, 4, 2000), 4);
	CHECK(!memcmp(buf, "more", 4));

	/* The guest's half-close too: both directions done, RST, host socket closed. */
	t.op = VIRTIO_VSOCK_OP_SHUTDOWN;
	t.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(host_closed(hfd, 2000));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	s = stats(vdev);
	CHECK_EQ(s.conns_opened, 1);
	CHECK_EQ(s.conns_closed, 1);
	CHECK_EQ(s.conns_active, 0);
	CHECK_EQ(s.bytes_guest_to_host, 9);
	CHECK_EQ(s.bytes_host_to_guest, 5);
	CHECK_EQ(s.malformed, 0);
	close(hfd);

	/* The guest closing both ways at once (close()): RST, host sees the end. */
	hfd = guest_connect(vdev, lfd, 5556, 1234, 65536);
	CHECK(hfd >= 0);
	t = th(VIRTIO_VSOCK_OP_RW, 5556, 1234);
	CHECK(tx_send(vdev, t, "bye", 3));
	t.op = VIRTIO_VSOCK_OP_SHUTDOWN;
	t.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK_EQ(host_read(hfd, buf, 3, 2000), 3);
	CHECK(host_closed(hfd, 2000));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(p.dst_port, 5556);
	close(hfd);

	/* The guest half-closes first (a request), the host answers after its EOF, then closes. */
	hfd = guest_connect(vdev, lfd, 5558, 1234, 65536);
	CHECK(hfd >= 0);
	t = th(VIRTIO_VSOCK_OP_RW, 5558, 1234);
	CHECK(tx_send(vdev, t, "req", 3));
	t.op = VIRTIO_VSOCK_OP_SHUTDOWN;
	t.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK_EQ(host_read(hfd, buf, sizeof(buf), 2000), 3);
	CHECK_EQ(write(hfd, "answer", 6), 6);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK(p.op == VIRTIO_VSOCK_OP_RW && p.len == 6 && !memcmp(p.data, "answer", 6));
	close(hfd);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);

	/* A guest RST: the host socket closes, nothing is answered. */
	hfd = guest_connect(vdev, lfd, 5557, 1234, 65536);
	CHECK(hfd >= 0);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RST, 5557, 1234), NULL, 0));
	CHECK(host_closed(hfd, 2000));
	CHECK(!rx_next(vdev, &p, 100));
	close(hfd);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	host_unlisten(lfd, 1234);
	vdev->ops->destroy(vdev);
}

/* Host -> guest: "CONNECT <port>\n", the guest's REQUEST/RESPONSE, "OK <port>\n". */
static int host_initiate(struct virtio_dev *vdev, const char *line, uint32_t gport, uint32_t *lport)
{
	int fd = host_connect(uds);
	struct pkt p;

	if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
	    !rx_next(vdev, &p, 2000) || p.op != VIRTIO_VSOCK_OP_REQUEST || p.dst_port != gport ||
	    p.src_cid != 2 || p.dst_cid != CID || p.src_port < (1u << 30)) {
		close(fd);
		return -1;
	}
	*lport = p.src_port;
	return fd;
}

static void test_host_connect(void)
{
	struct virtio_dev *vdev = setup(true);
	uint32_t lport = 0, lport2 = 0;
	char buf[64], want[32];
	struct thdr t;
	struct pkt p;
	int fd;

	CHECK(vdev);
	if (!vdev)
		return;
	rx_fill(vdev, 32);
	fd = host_initiate(vdev, "CONNECT 5000\n", 5000, &lport);
	CHECK(fd >= 0);
	t = th(VIRTIO_VSOCK_OP_RESPONSE, 5000, lport);
	CHECK(tx_send(vdev, t, NULL, 0));
	snprintf(want, sizeof(want), "OK %u\n", lport);
	CHECK_EQ(host_read(fd, buf, strlen(want), 2000), (ssize_t)strlen(want));
	CHECK(!memcmp(buf, want, strlen(want)));
	CHECK_EQ(write(fd, "ping", 4), 4);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RW);
	CHECK(p.len == 4 && !memcmp(p.data, "ping", 4));
	t.op = VIRTIO_VSOCK_OP_RW;
	CHECK(tx_send(vdev, t, "pong", 4));
	CHECK_EQ(host_read(fd, buf, 4, 2000), 4);
	CHECK(!memcmp(buf, "pong", 4));
	t.op = VIRTIO_VSOCK_OP_RST;
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(host_closed(fd, 2000));
	close(fd);

	/* The line in pieces, data right behind it: the data is the guest's, not the line's. */
	fd = host_connect(uds);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "CONN", 4), 4);
	usleep(50000);
	CHECK_EQ(write(fd, "ECT 6000\r\nxyz", 13), 13);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.dst_port, 6000);
	lport2 = p.src_port;
	CHECK(lport2 >= (1u << 30) && lport2 != lport);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RESPONSE, 6000, lport2), NULL, 0));
	snprintf(want, sizeof(want), "OK %u\n", lport2);
	CHECK_EQ(host_read(fd, buf, strlen(want), 2000), (ssize_t)strlen(want));
	CHECK(!memcmp(buf, want, strlen(want)));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK(p.op == VIRTIO_VSOCK_OP_RW && p.len == 3 && !memcmp(p.data, "xyz", 3));
	close(fd);
	/* Host close: SHUTDOWN to the guest. */
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_SHUTDOWN);

	/* Blanks around the port, as Firecracker accepts them. */
	fd = host_initiate(vdev, "CONNECT \t 4294967295 \r\n", 4294967295u, &lport);
	CHECK(fd >= 0);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RST, 4294967295u, lport), NULL, 0));
	CHECK(host_closed(fd, 2000));
	close(fd);

	/* The guest refuses (RST): the host socket is closed without an OK. */
	fd = host_initiate(vdev, "CONNECT 7000\n", 7000, &lport);
	CHECK(fd >= 0);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RST, 7000, lport), NULL, 0));
	CHECK(host_closed(fd, 2000));
	close(fd);

	/* Bad lines: closed, nothing reaches the guest. */
	{
		static const char *bad[] = { "HELLO 1\n",
					     "CONNECT\n",
					     "CONNECT 99999999999\n",
					     "CONNECT 12a\n",
					     "CONNECT 5 6\n",
					     "CONNECT 4294967296\n",
					     "CONNECTX 5\n",
					     "connect 5\n",
					     "CONNECT -1\n",
					     "CONNECT 1234567890123456789012345678901234" };

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			fd = host_connect(uds);
			CHECK(fd >= 0);
			CHECK_EQ(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
			CHECK(host_closed(fd, 2000));
			close(fd);
		}
		CHECK(!rx_next(vdev, &p, 100));
	}
	CHECK_EQ(stats(vdev).conns_active, 1); /* the 6000 one, waiting for the guest */
	vdev->ops->destroy(vdev);
}

/* Host connections that never finish their line, and guests that never answer, time out. */
static void test_host_timeouts(void)
{
	struct virtio_dev *vdev = setup(true);
	uint32_t lport;
	int idle, unanswered;
	struct pkt p;

	CHECK(vdev);
	if (!vdev)
		return;
	rx_fill(vdev, 8);
	idle = host_connect(uds);
	CHECK(idle >= 0);
	CHECK_EQ(write(idle, "CONNECT 8", 9), 9);
	unanswered = host_initiate(vdev, "CONNECT 8000\n", 8000, &lport);
	CHECK(unanswered >= 0);
	CHECK(!host_closed(idle, VIRTIO_VSOCK_TIMEOUT_MS - 1000));
	CHECK(host_closed(idle, 3000));
	CHECK(host_closed(unanswered, 3000));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(p.dst_port, 8000);
	CHECK_EQ(stats(vdev).conns_active, 0);
	close(idle);
	close(unanswered);
	vdev->ops->destroy(vdev);
}

/* Nobody listens on the port: RST. */
static void test_refused(void)
{
	struct virtio_dev *vdev = setup(true);
	struct pkt p;

	CHECK(vdev);
	if (!vdev)
		return;
	rx_fill(vdev, 4);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_REQUEST, 4000, 4321), NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(p.src_port, 4321);
	CHECK_EQ(p.dst_port, 4000);
	CHECK_EQ(stats(vdev).conns_refused, 1);
	CHECK_EQ(stats(vdev).conns_active, 0);
	vdev->ops->destroy(vdev);
}

/* A host listener with a full backlog: the connect is retried, then given up (RST). */
static void test_listener_backlog(void)
{
	struct virtio_dev *vdev = setup(true);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), a;
	struct pkt p;

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_1100", uds);
	CHECK(!bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) && !listen(lfd, 0));
	rx_fill(vdev, 8);
	/* Backlog 0 holds one connection: the second waits for room. */
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_REQUEST, 1, 1100), NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RESPONSE);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_REQUEST, 2, 1100), NULL, 0));
	CHECK(!rx_next(vdev, &p, 200));
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(a >= 0);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK(p.op == VIRTIO_VSOCK_OP_RESPONSE && p.dst_port == 2);
	/* Nobody accepts any more: given up before the guest's own 2 s timeout. */
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_REQUEST, 3, 1100), NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK(p.op == VIRTIO_VSOCK_OP_RST && p.dst_port == 3);
	close(a);
	host_unlisten(lfd, 1100);
	vdev->ops->destroy(vdev);
}

/* Host -> guest data stops at the guest's buf_alloc and resumes with a CREDIT_UPDATE. */
static void test_credit(void)
{
	static uint8_t big[VIRTIO_VSOCK_BUF_ALLOC + 1];
	static uint8_t junk[65536];
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(1000), hfd;
	uint32_t got = 0;
	struct thdr t;
	struct pkt p;

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 64);
	hfd = guest_connect(vdev, lfd, 100, 1000, 8192);
	CHECK(hfd >= 0);
	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)i;
	CHECK_EQ(write(hfd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	while (rx_next(vdev, &p, 300)) {
		CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RW);
		CHECK(!memcmp(p.data, junk + got, p.len));
		got += p.len;
	}
	CHECK_EQ(got, 8192);
	t = th(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 100, 1000);
	t.buf_alloc = 8192;
	t.fwd_cnt = 8192;
	CHECK(tx_send(vdev, t, NULL, 0));
	while (rx_next(vdev, &p, 300)) {
		CHECK(!memcmp(p.data, junk + got, p.len));
		got += p.len;
	}
	CHECK_EQ(got, 16384);
	/* An older count (packets built on two CPUs) is ignored, not a lie. */
	t.fwd_cnt = 4096;
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(!rx_next(vdev, &p, 200));
	/* Acknowledging bytes never sent is a lie: reset. */
	t.fwd_cnt = 16384 + 1000;
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK(host_closed(hfd, 2000));
	close(hfd);

	/* The guest sending beyond the credit we gave it: reset. */
	hfd = guest_connect(vdev, lfd, 101, 1000, 65536);
	CHECK(hfd >= 0);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RW, 101, 1000), big, sizeof(big)));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK(host_closed(hfd, 2000));
	close(hfd);
	CHECK(stats(vdev).malformed >= 2);

	/* All the credit at once, the host not reading: held, then delivered in order. */
	hfd = guest_connect(vdev, lfd, 102, 1000, 65536);
	CHECK(hfd >= 0);
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	for (unsigned off = 0; off < VIRTIO_VSOCK_BUF_ALLOC; off += 65536)
		CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RW, 102, 1000), big + off, 65536));
	{
		static uint8_t back[VIRTIO_VSOCK_BUF_ALLOC];
		uint32_t fwd = 0;

		CHECK_EQ(host_read(hfd, back, sizeof(back), 2000), (ssize_t)sizeof(back));
		CHECK(!memcmp(back, big, sizeof(back)));
		/* The guest hears it may send again. */
		while (rx_get(vdev, &p, 300, true))
			if (p.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
				fwd = p.fwd_cnt;
		CHECK(fwd >= VIRTIO_VSOCK_BUF_ALLOC - 65536);
	}
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RW, 102, 1000), "x", 1));
	CHECK_EQ(host_read(hfd, junk, 1, 2000), 1);
	close(hfd);
	host_unlisten(lfd, 1000);
	vdev->ops->destroy(vdev);
}

/* Malformed packets: dropped or RST, counted, and the device keeps working. */
static void test_malformed(void)
{
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(2000), hfd;
	uint64_t m0;
	struct thdr t;
	struct pkt p;

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 16);
	m0 = stats(vdev).malformed;
	CHECK(tx_raw(vdev, "short", 5));
	CHECK_EQ(stats(vdev).malformed, m0 + 1);
	CHECK(!rx_next(vdev, &p, 100));

	t = th(VIRTIO_VSOCK_OP_REQUEST, 1, 2000);
	t.src_cid = 77; /* not the guest's: no answer to anyone */
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(!rx_next(vdev, &p, 100));

	t = th(VIRTIO_VSOCK_OP_REQUEST, 1, 2000);
	t.dst_cid = 5; /* another VM: RST from "5" so the guest's connect fails at once */
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK(p.op == VIRTIO_VSOCK_OP_RST && p.src_cid == 5 && p.dst_cid == CID);

	t = th(99, 1, 2000);
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);

	t = th(VIRTIO_VSOCK_OP_REQUEST, 1, 2000);
	t.type = 2; /* SEQPACKET, not offered */
	CHECK(tx_send(vdev, t, NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);

	t = th(VIRTIO_VSOCK_OP_RW, 1, 2000);
	t.len = 100; /* 10 bytes follow */
	CHECK(tx_send_split(vdev, &t, "0123456789", 10, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);

	/* Packets for no connection: RST, except for an RST. */
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RW, 9, 2000), NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RST, 9, 2000), NULL, 0));
	CHECK(!rx_next(vdev, &p, 100));
	CHECK_EQ(stats(vdev).malformed, m0 + 6);

	/* An established connection hit by a bad packet is reset; others are not touched. */
	hfd = guest_connect(vdev, lfd, 3, 2000, 65536);
	CHECK(hfd >= 0);
	t = th(VIRTIO_VSOCK_OP_RW, 3, 2000);
	t.len = 1000;
	CHECK(tx_send_split(vdev, &t, "abc", 3, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);
	CHECK(host_closed(hfd, 2000));
	close(hfd);
	/* Data before the connection exists, a RESPONSE out of the blue: RST. */
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RESPONSE, 4, 2000), NULL, 0));
	CHECK(rx_next(vdev, &p, 2000));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RST);

	/* Still working. */
	hfd = guest_connect(vdev, lfd, 5, 2000, 65536);
	CHECK(hfd >= 0);
	close(hfd);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	host_unlisten(lfd, 2000);
	vdev->ops->destroy(vdev);
}

/* A receive buffer too small for a header goes back unused; the next one is used. */
static void test_small_rx_buffer(void)
{
	struct virtio_dev *vdev = setup(true);
	struct seg s = { RX_BASE + RX_STRIDE * QSIZE, 20 };
	uint16_t head;
	uint32_t len;

	CHECK(vdev);
	if (!vdev)
		return;
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RW, 9, 2000), NULL, 0)); /* owes an RST */
	CHECK(drv_add(vdev, RXQ, &s, 1, true));
	CHECK(drv_take_used(RXQ, 2000, &head, &len));
	CHECK_EQ(len, 0);
	drv_free_chain(RXQ, head);
	/* Exactly a header: fine for the RST. */
	s.len = HDR;
	CHECK(drv_add(vdev, RXQ, &s, 1, true));
	CHECK(drv_take_used(RXQ, 2000, &head, &len));
	CHECK_EQ(len, HDR);
	drv_free_chain(RXQ, head);
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	vdev->ops->destroy(vdev);
}

/* No receive buffers: host data waits without the I/O thread spinning. */
static void test_rx_pause(void)
{
	static uint8_t data[10000];
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(3000), hfd;
	uint32_t got = 0;
	struct pkt p;
	double t0;

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 1); /* for the RESPONSE only */
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_REQUEST, 10, 3000), NULL, 0));
	CHECK(rx_get(vdev, &p, 2000, false));
	CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RESPONSE);
	hfd = host_accept(lfd);
	CHECK(hfd >= 0);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	CHECK_EQ(write(hfd, data, sizeof(data)), (ssize_t)sizeof(data));
	t0 = cpu_seconds();
	usleep(300000);
	CHECK(cpu_seconds() - t0 < 0.1);
	rx_fill(vdev, 8);
	while (got < sizeof(data) && rx_get(vdev, &p, 2000, true)) {
		CHECK_EQ(p.op, VIRTIO_VSOCK_OP_RW);
		CHECK(!memcmp(p.data, data + got, p.len));
		got += p.len;
	}
	CHECK_EQ(got, sizeof(data));
	close(hfd);
	host_unlisten(lfd, 3000);
	vdev->ops->destroy(vdev);
}

/* A driver reset drops every connection; the device works again afterwards. */
static void test_reset(void)
{
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(4000), g1, g2, h1, pending;
	uint32_t lport;
	struct pkt p;

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 16);
	g1 = guest_connect(vdev, lfd, 1, 4000, 65536);
	g2 = guest_connect(vdev, lfd, 2, 4000, 65536);
	h1 = host_initiate(vdev, "CONNECT 9\n", 9, &lport);
	CHECK(g1 >= 0 && g2 >= 0 && h1 >= 0);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RESPONSE, 9, lport), NULL, 0));
	{
		char ok[24], want[24];
		int n = snprintf(want, sizeof(want), "OK %u\n", lport);

		CHECK_EQ(host_read(h1, ok, (size_t)n, 2000), n);
		CHECK(!memcmp(ok, want, (size_t)n));
	}
	pending = host_connect(uds); /* its line not sent yet: not the guest's business */
	CHECK(pending >= 0);
	usleep(50000);
	CHECK_EQ(stats(vdev).conns_active, 4);
	drv_init(vdev);
	CHECK(host_closed(g1, 2000));
	CHECK(host_closed(g2, 2000));
	CHECK(host_closed(h1, 2000));
	CHECK_EQ(stats(vdev).conns_active, 1);
	rx_fill(vdev, 16);
	CHECK_EQ(write(pending, "CONNECT 10\n", 11), 11);
	CHECK(rx_next(vdev, &p, 2000));
	CHECK(p.op == VIRTIO_VSOCK_OP_REQUEST && p.dst_port == 10);
	close(g1);
	g1 = guest_connect(vdev, lfd, 1, 4000, 65536);
	CHECK(g1 >= 0);

	/* A transport reset (after a snapshot restore): connections dropped, the driver told. */
	{
		struct seg ev = { RX_BASE + RX_STRIDE * QSIZE, 4 };
		uint16_t head;
		uint32_t len, id = 0xdead;

		CHECK_EQ(virtio_vsock_transport_reset(vdev), -ENOBUFS);
		CHECK(host_closed(g1, 2000));
		close(g1);
		g1 = guest_connect(vdev, lfd, 1, 4000, 65536);
		CHECK(g1 >= 0);
		memcpy(mem + ev.gpa, &id, 4);
		CHECK(drv_add(vdev, EVQ, &ev, 1, true));
		CHECK_EQ(virtio_vsock_transport_reset(vdev), 0);
		CHECK(host_closed(g1, 2000));
		CHECK(drv_take_used(EVQ, 2000, &head, &len));
		CHECK_EQ(len, 4);
		memcpy(&id, mem + ev.gpa, 4);
		CHECK_EQ(id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
		CHECK_EQ(stats(vdev).conns_active, 0);
	}
	close(g1);
	close(g2);
	close(h1);
	close(pending);
	host_unlisten(lfd, 4000);
	vdev->ops->destroy(vdev);
}

/* Many connections at once, both directions. */
static void test_many(void)
{
	enum { N = 100 };
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(5000), g[N], h[N];
	uint32_t lport[N];
	unsigned seen[N] = { 0 }, ok = 0;
	struct pkt p;
	char buf[8];

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 128);
	for (unsigned i = 0; i < N; i++)
		g[i] = guest_connect(vdev, lfd, 10000 + i, 5000, 65536);
	for (unsigned i = 0; i < N; i++) {
		h[i] = host_initiate(vdev, "CONNECT 6000\n", 6000, &lport[i]);
		CHECK(h[i] >= 0);
		CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RESPONSE, 6000, lport[i]), NULL, 0));
		for (unsigned j = 0; j < i; j++)
			CHECK(lport[j] != lport[i]);
	}
	CHECK_EQ(stats(vdev).conns_active, 2 * N);
	for (unsigned i = 0; i < N; i++) {
		char want[24];
		int n = snprintf(want, sizeof(want), "OK %u\n", lport[i]);

		CHECK_EQ(host_read(h[i], buf, 3, 2000), 3); /* "OK " */
		CHECK_EQ(host_read(h[i], want, (size_t)n - 3, 2000), n - 3);
		CHECK(g[i] >= 0 && write(g[i], &i, sizeof(i)) == sizeof(i));
	}
	for (unsigned i = 0; i < N && rx_next(vdev, &p, 2000); i++) {
		unsigned v;

		memcpy(&v, p.data, sizeof(v));
		if (p.op == VIRTIO_VSOCK_OP_RW && p.len == 4 && v < N && p.src_port == 5000 &&
		    p.dst_port == 10000 + v && !seen[v]++)
			ok++;
	}
	CHECK_EQ(ok, N);
	for (unsigned i = 0; i < N; i++) {
		close(g[i]);
		close(h[i]);
	}
	/* Every host close becomes a SHUTDOWN for the guest. */
	ok = 0;
	while (rx_next(vdev, &p, 500))
		ok += p.op == VIRTIO_VSOCK_OP_SHUTDOWN;
	CHECK_EQ(ok, 2 * N);
	host_unlisten(lfd, 5000);
	vdev->ops->destroy(vdev);
}

/* ---- snapshots ---- */

/* The saving process is gone (its sockets with it); a new one makes the device again. */
static struct virtio_dev *replace(struct virtio_dev *vdev, const struct state_blob *blob)
{
	struct state_target st;

	vdev->ops->destroy(vdev);
	vdev = setup(false);
	CHECK(vdev);
	if (!vdev)
		return NULL;
	st = state_target_virtio(vdev);
	CHECK_EQ(state_check_load(&st, blob), 0);
	CHECK(state_check_same(&st, blob));
	return vdev;
}

/*
 * Connections do not survive: after the load the device tells the driver with a transport
 * reset event at its first kick (or, with no event buffer posted, once one is), and new
 * connections work on the restored rings.
 */
static void test_state_round_trip(void)
{
	struct state_target st;
	struct virtio_dev *vdev = setup(true);
	int lfd = host_listen(5000), g1;
	struct seg ev = { RX_BASE + RX_STRIDE * QSIZE, 4 };
	uint32_t len, id = 0xdead;
	struct state_blob blob;
	uint16_t head;

	CHECK(vdev && lfd >= 0);
	if (!vdev || lfd < 0)
		return;
	rx_fill(vdev, 16);
	g1 = guest_connect(vdev, lfd, 1, 5000, 65536);
	CHECK(g1 >= 0);
	memcpy(mem + ev.gpa, &id, 4);
	CHECK(drv_add(vdev, EVQ, &ev, 1, true));
	CHECK_EQ(virtio_dev_quiesce(vdev), 0);
	st = state_target_virtio(vdev);
	state_check_save(&st, &blob);
	virtio_dev_resume(vdev);
	vdev = replace(vdev, &blob);
	state_blob_free(&blob);
	CHECK(host_closed(g1, 2000)); /* the host end went with the old process */
	close(g1);
	if (!vdev)
		goto out;
	CHECK_EQ(used_idx(EVQ), 0);
	virtio_dev_resume(vdev);
	CHECK(drv_take_used(EVQ, 2000, &head, &len));
	CHECK_EQ(len, 4);
	memcpy(&id, mem + ev.gpa, 4);
	CHECK_EQ(id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	g1 = guest_connect(vdev, lfd, 2, 5000, 65536);
	CHECK(g1 >= 0);
	CHECK(tx_send(vdev, th(VIRTIO_VSOCK_OP_RW, 2, 5000), "hi", 2));
	{
		char got[2];

		CHECK_EQ(host_read(g1, got, 2, 2000), 2);
		CHECK(!memcmp(got, "hi", 2));
	}
	close(g1);

	/* No event buffer when restored: the event waits for the driver to post one. */
	CHECK_EQ(virtio_dev_quiesce(vdev), 0);
	st = state_target_virtio(vdev);
	state_check_save(&st, &blob);
	virtio_dev_resume(vdev);
	vdev = replace(vdev, &blob);
	state_blob_free(&blob);
	if (!vdev)
		goto out;
	virtio_dev_resume(vdev);
	usleep(20000);
	CHECK_EQ(used_idx(EVQ), dq[EVQ].used_seen);
	drv_free_chain(EVQ, head);
	id = 0xdead;
	memcpy(mem + ev.gpa, &id, 4);
	CHECK(drv_add(vdev, EVQ, &ev, 1, true));
	CHECK(drv_take_used(EVQ, 2000, &head, &len));
	memcpy(&id, mem + ev.gpa, 4);
	CHECK_EQ(id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	vdev->ops->destroy(vdev);
out:
	host_unlisten(lfd, 5000);
}

static void test_state_hostile(void)
{
	struct state_target st;
	struct virtio_dev *vdev = setup(true);
	struct state_blob good;
	size_t vs;

	CHECK(vdev);
	if (!vdev)
		return;
	st = state_target_virtio(vdev);
	state_check_save(&st, &good);
	vdev->ops->destroy(vdev);
	vdev = setup(false);
	CHECK(vdev);
	if (!vdev) {
		state_blob_free(&good);
		return;
	}
	st = state_target_virtio(vdev);
	state_check_hostile(&st, &good);
	vs = state_blob_section(&good, STATE_TAG('V', 'S', 'C', 'K'), 0);
	CHECK(vs != SIZE_MAX);
	if (vs != SIZE_MAX) /* the guest's sockets are bound to its CID: it must be the same */
		state_check_rejects_field(&st, &good, vs, CID + 1, 8, "another CID");
	vdev->ops->destroy(vdev);
	state_blob_free(&good);
}

int main(int argc, char **argv)
{
	log_set_level(argc > 1 && !strcmp(argv[1], "-v") ? LOG_DEBUG : LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/kvmbox-vsock-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	mem = calloc(1, MEM_SIZE);
	if (!mem || guest_mem_add(&gm, 0, MEM_SIZE, mem) < 0)
		return 1;
	RUN_TEST(test_config);
	RUN_TEST(test_create_errors);
	RUN_TEST(test_guest_connect);
	RUN_TEST(test_host_connect);
	RUN_TEST(test_host_timeouts);
	RUN_TEST(test_refused);
	RUN_TEST(test_listener_backlog);
	RUN_TEST(test_credit);
	RUN_TEST(test_malformed);
	RUN_TEST(test_small_rx_buffer);
	RUN_TEST(test_rx_pause);
	RUN_TEST(test_reset);
	RUN_TEST(test_many);
	RUN_TEST(test_state_round_trip);
	RUN_TEST(test_state_hostile);
	free(mem);
	rmdir(dir);
	TEST_EXIT();
}
