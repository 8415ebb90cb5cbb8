/* virtio-vsock (device id 19): guest streams <-> host unix sockets, Firecracker's hybrid way. */
#include "virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/vsock_uds.h"
#include "log.h"
#include "snapshot/state.h"

#define VSOCK_HDR_LEN sizeof(struct virtio_vsock_hdr)
#define VSOCK_BUDGET 256       /* chains per queue and wakeup, so nothing starves the loop */
#define VSOCK_EVENTS 64	       /* host socket events per wakeup */
#define VSOCK_ACCEPT_BUDGET 16 /* host connections accepted per wakeup */
#define VSOCK_RAW_RST_MAX 64   /* RSTs owed for packets that have no connection slot */
#define VSOCK_CREDIT_THRESHOLD (64 * 1024) /* forwarded bytes the guest has not heard of */
#define VSOCK_BACKLOG_TOTAL (64u << 20)	   /* every connection's send backlog together */
#define VSOCK_CONNECT_RETRY_MS 10	   /* a host listener with a full backlog: retry */
#define VSOCK_CONNECT_RETRY_MAX_MS 200
#define VSOCK_CONNECT_GIVEUP_MS 1500	/* under Linux's 2 s connect timeout */
#define VSOCK_LISTEN_PAUSE_MS 100	/* accept() failing (EMFILE...): breathe */
#define VSOCK_LOCAL_PORT_MIN (1u << 30) /* host-initiated local ports, as Firecracker */
#define VSOCK_HASH_BITS 11

#define VSOCK_ID_LISTEN UINT64_MAX /* epoll ids: these two, else gen << 32 | slot */
#define VSOCK_ID_TIMER (UINT64_MAX - 1)

/* Control packets a connection owes the guest, sent in this order of priority. */
#define VSOCK_PEND_RST 1u
#define VSOCK_PEND_REQUEST 2u
#define VSOCK_PEND_RESPONSE 4u
#define VSOCK_PEND_SHUTDOWN 8u
#define VSOCK_PEND_CREDIT 16u

#define MS 1000000ull

#define VSOCK_STATE_TAG STATE_TAG('V', 'S', 'C', 'K')
#define VSOCK_STATE_VERSION 1

enum vsock_state {
	VSOCK_FREE,
	VSOCK_HOST_LINE,   /* a host program connected to uds_path: reading its CONNECT line */
	VSOCK_LOCAL_INIT,  /* our REQUEST to the guest is queued or sent: waiting for its answer */
	VSOCK_CONNECTING,  /* the guest's REQUEST: connecting to <uds_path>_<port> */
	VSOCK_ESTABLISHED, /* a stream */
	VSOCK_CLOSING,	   /* the guest shut both ways: flushing what it sent, then RST */
	VSOCK_DEAD,	   /* host socket closed: only an RST for the guest is left */
};

struct vsock_conn {
	enum vsock_state state;
	uint32_t gen; /* bumped at free: epoll events for an old occupant are dropped */
	int fd;
	uint32_t events; /* registered in epfd for these; 0: not registered */
	uint32_t host_port, guest_port;
	bool hashed, queued;
	bool guest_knows; /* the guest has (or will have seen) the connection: RST it at the end */
	bool established;
	bool rd_ready;	   /* host socket believed readable (its EPOLLIN is off meanwhile) */
	bool rd_eof;	   /* end of file read from the host */
	bool guest_no_rcv; /* the guest's SHUTDOWN flags */
	bool guest_no_send;
	bool host_wr_shut; /* shutdown(SHUT_WR) done on the host socket */
	bool retrying;	   /* CONNECTING without an fd: the listener's backlog was full */
	bool backlog_counted;
	unsigned pend; /* VSOCK_PEND_* */
	unsigned retry_ms;
	uint64_t deadline, giveup;
	struct vsock_conn *hnext, *qprev, *qnext;
	/* guest -> host: received, forwarded to the host, forwarded as last told the guest */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;
	/* host -> guest: sent, and the guest's buffer as it last described it */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	struct vsock_uds_buf backlog; /* guest data the host socket did not take yet */
	char line[VSOCK_UDS_LINE_MAX];
	unsigned line_len;
};

/* An RST for a packet no connection slot stands for (its addresses, already swapped). */
struct vsock_raw_rst {
	uint64_t src_cid;
	uint32_t src_port, dst_port;
};

/* A packet header, read once from the guest and converted. */
struct vsock_pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
	uint16_t type, op;
};

struct vsock {
	struct virtio_dev vdev;
	char name[32];
	char *uds_path;
	uint64_t uds_ino[2];
	uint64_t guest_cid;
	uint8_t config[8];
	int lfd, epfd, tfd;

	/* Protected by vdev.lock. */
	bool active;
	bool reset_owed; /* restored from a snapshot: the driver gets TRANSPORT_RESET at a kick */
	bool listen_paused;
	uint64_t listen_resume;
	uint64_t timer_at; /* when tfd fires; 0: disarmed */
	struct vsock_conn *conns;
	unsigned *free_slots;
	unsigned nfree;
	struct vsock_conn *hash[1u << VSOCK_HASH_BITS];
	struct vsock_conn *qhead, *qtail; /* connections with packets for the guest */
	struct vsock_raw_rst raw[VSOCK_RAW_RST_MAX];
	unsigned raw_head, raw_len;
	uint32_t next_local_port;
	uint64_t backlog_bytes;
	unsigned rx_pushed; /* chains returned by this vsock_rx_run */
	struct virtio_vsock_stats stats;

	/* I/O-thread scratch. */
	struct virtq_elem elem;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

static struct vsock *vsock_from(struct virtio_dev *vdev)
{
	return vdev->priv;
}

static uint64_t vsock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vsock_broken(struct vsock *v, const char *why)
{
	v->active = false;
	virtio_needs_reset(&v->vdev, why);
}

/* The core's per-device counters (--stats, metrics) are read from other threads. */
static void vsock_count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* Connection events, some expected (a host program retrying while the guest boots): -v or -vv
 * only, and rate-limited as a guest triggers them. */
#define vsock_log_info(...)                                                                        \
	do {                                                                                       \
		static struct log_ratelimit vsock_rl_;                                             \
		if (log_get_level() >= LOG_INFO && log_ratelimit_ok(&vsock_rl_))                   \
			log_info(__VA_ARGS__);                                                     \
	} while (0)

#define vsock_log_debug(...)                                                                       \
	do {                                                                                       \
		static struct log_ratelimit vsock_rl_;                                             \
		if (log_get_level() >= LOG_DEBUG && log_ratelimit_ok(&vsock_rl_))                  \
			log_debug(__VA_ARGS__);                                                    \
	} while (0)

static void vsock_malformed(struct vsock *v, const char *why)
{
	v->stats.malformed++;
	vsock_count(&v->vdev.stats.errors, 1);
	log_guest("%s: packet dropped or reset: %s", v->name, why);
}

/* ---- connection bookkeeping ---- */

static unsigned vsock_hash(uint32_t host_port, uint32_t guest_port)
{
	return ((host_port * 0x9e3779b1u) ^ (guest_port * 0x85ebca77u)) >> (32 - VSOCK_HASH_BITS);
}

static struct vsock_conn *vsock_lookup(struct vsock *v, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_conn *c = v->hash[vsock_hash(host_port, guest_port)];

	while (c && (c->host_port != host_port || c->guest_port != guest_port))
		c = c->hnext;
	return c;
}

static void vsock_hash_add(struct vsock *v, struct vsock_conn *c)
{
	unsigned h = vsock_hash(c->host_port, c->guest_port);

	c->hnext = v->hash[h];
	v->hash[h] = c;
	c->hashed = true;
}

static void vsock_hash_del(struct vsock *v, struct vsock_conn *c)
{
	struct vsock_conn **p = &v->hash[vsock_hash(c->host_port, c->guest_port)];

	if (!c->hashed)
		return;
	while (*p != c)
		p = &(*p)->hnext;
	*p = c->hnext;
	c->hashed = false;
}

static void vsock_q_add(struct vsock *v, struct vsock_conn *c)
{
	if (c->queued)
		return;
	c->qnext = NULL;
	c->qprev = v->qtail;
	if (v->qtail)
		v->qtail->qnext = c;
	else
		v->qhead = c;
	v->qtail = c;
	c->queued = true;
}

static void vsock_q_del(struct vsock *v, struct vsock_conn *c)
{
	if (!c->queued)
		return;
	if (c->qprev)
		c->qprev->qnext = c->qnext;
	else
		v->qhead = c->qnext;
	if (c->qnext)
		c->qnext->qprev = c->qprev;
	else
		v->qtail = c->qprev;
	c->queued = false;
}

static uint64_t vsock_conn_id(const struct vsock *v, const struct vsock_conn *c)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - v->conns);
}

static struct vsock_conn *vsock_conn_alloc(struct vsock *v)
{
	struct vsock_conn *c;
	uint32_t gen;

	if (!v->nfree)
		return NULL;
	c = &v->conns[v->free_slots[--v->nfree]];
	gen = c->gen;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->fd = -1;
	return c;
}

static void vsock_backlog_account(struct vsock *v, struct vsock_conn *c)
{
	bool has = c->backlog.data != NULL;

	if (has != c->backlog_counted) {
		if (has)
			v->backlog_bytes += VIRTIO_VSOCK_BUF_ALLOC;
		else
			v->backlog_bytes -= VIRTIO_VSOCK_BUF_ALLOC;
		c->backlog_counted = has;
	}
}

static void vsock_close_fd(struct vsock *v, struct vsock_conn *c)
{
	if (c->fd >= 0) {
		if (c->events)
			epoll_ctl(v->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->events = 0;
	}
	vsock_uds_buf_free(&c->backlog);
	vsock_backlog_account(v, c);
	c->rd_ready = false;
}

static void vsock_conn_free(struct vsock *v, struct vsock_conn *c)
{
	vsock_close_fd(v, c);
	vsock_hash_del(v, c);
	vsock_q_del(v, c);
	if (c->established)
		v->stats.conns_closed++;
	c->state = VSOCK_FREE;
	c->gen++;
	v->free_slots[v->nfree++] = (unsigned)(c - v->conns);
}

/* End a connection: close the host side; the guest gets an RST if it knows the connection. */
static void vsock_conn_reset(struct vsock *v, struct vsock_conn *c, const char *why)
{
	if (c->state == VSOCK_DEAD || c->state == VSOCK_FREE)
		return;
	vsock_log_debug("%s: host port %u, guest port %u: reset (%s)", v->name, c->host_port,
			c->guest_port, why);
	v->stats.conns_reset++;
	if (!c->guest_knows) {
		vsock_conn_free(v, c);
		return;
	}
	vsock_close_fd(v, c);
	c->state = VSOCK_DEAD;
	c->pend = VSOCK_PEND_RST;
	c->deadline = 0;
	vsock_q_add(v, c);
}

static void vsock_timer_arm(struct vsock *v, uint64_t at)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at / 1000000000ull),
						.tv_nsec = (long)(at % 1000000000ull) } };

	if (timerfd_settime(v->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("%s: timerfd: %s", v->name, strerror(errno));
	v->timer_at = at;
}

static void vsock_set_deadline(struct vsock *v, struct vsock_conn *c, uint64_t at)
{
	c->deadline = at;
	if (at && (!v->timer_at || at < v->timer_at))
		vsock_timer_arm(v, at);
}

/* Host -> guest credit: what the guest's buffer still takes. */
static uint32_t vsock_credit(const struct vsock_conn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

static bool vsock_wants_read(const struct vsock_conn *c)
{
	return c->state == VSOCK_ESTABLISHED && c->fd >= 0 && !c->rd_eof && !c->guest_no_rcv &&
	       vsock_credit(c) > 0;
}

/*
 * Make the epoll registration and the send queue match the connection's state. Callers call it
 * last: when epoll refuses, the connection is reset.
 */
static void vsock_update(struct vsock *v, struct vsock_conn *c)
{
	uint32_t want = 0;

	if (c->state == VSOCK_FREE)
		return;
	if (c->fd >= 0) {
		if (c->state == VSOCK_HOST_LINE)
			want = EPOLLIN;
		else if (c->state == VSOCK_CONNECTING)
			want = EPOLLOUT;
		else if (c->state == VSOCK_ESTABLISHED || c->state == VSOCK_CLOSING)
			want = (c->backlog.len ? EPOLLOUT : 0) |
			       (!c->rd_ready && vsock_wants_read(c) ? EPOLLIN : 0);
	}
	/* Nothing wanted: out of epoll, else a hung-up socket would report EPOLLHUP forever. */
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.u64 = vsock_conn_id(v, c) };
		int op = !c->events ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

		if (epoll_ctl(v->epfd, op, c->fd, &ev) < 0) {
			log_guest("%s: cannot watch a host socket: %s", v->name, strerror(errno));
			vsock_conn_reset(v, c, "epoll");
			return;
		}
		c->events = want;
	}
	if (c->pend || (c->rd_ready && vsock_wants_read(c)))
		vsock_q_add(v, c);
	else
		vsock_q_del(v, c);
}

static void vsock_established(struct vsock *v, struct vsock_conn *c)
{
	c->state = VSOCK_ESTABLISHED;
	c->established = true;
	c->deadline = 0;
	v->stats.conns_opened++;
}

/* Forwarded bytes the guest has not heard of: tell it before it runs dry. */
static void vsock_credit_check(struct vsock_conn *c)
{
	if ((uint32_t)(c->fwd_cnt - c->fwd_cnt_sent) >= VSOCK_CREDIT_THRESHOLD)
		c->pend |= VSOCK_PEND_CREDIT;
}

/* After the guest's SHUTDOWN or a drained backlog: half-close the host side, or end it all. */
static void vsock_shut_check(struct vsock *v, struct vsock_conn *c)
{
	if (c->backlog.len || (c->state != VSOCK_ESTABLISHED && c->state != VSOCK_CLOSING))
		return;
	if (c->state == VSOCK_CLOSING || (c->guest_no_send && c->rd_eof)) {
		vsock_conn_reset(v, c, "both directions done");
		return;
	}
	if (c->guest_no_send && !c->host_wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->host_wr_shut = true;
	}
}

static void vsock_raw_rst(struct vsock *v, const struct vsock_pkt *p)
{
	struct vsock_raw_rst *r;

	if (p->op == VIRTIO_VSOCK_OP_RST)
		return; /* never answer an RST */
	if (v->raw_len == VSOCK_RAW_RST_MAX) {
		v->stats.control_dropped++;
		log_guest("%s: too many resets owed to the guest; one dropped", v->name);
		return;
	}
	r = &v->raw[(v->raw_head + v->raw_len++) % VSOCK_RAW_RST_MAX];
	r->src_cid = p->dst_cid;
	r->src_port = p->dst_port;
	r->dst_port = p->src_port;
}

/* ---- guest -> host ---- */

static void vsock_try_connect(struct vsock *v, struct vsock_conn *c)
{
	uint64_t now = vsock_now();
	int fd, r;

	r = vsock_uds_connect_port(v->uds_path, c->host_port, &fd);
	c->retrying = false;
	if (r >= 0) {
		c->fd = r;
		vsock_established(v, c);
		c->pend |= VSOCK_PEND_RESPONSE;
	} else if (r == -EINPROGRESS) {
		c->fd = fd;
		vsock_set_deadline(v, c, c->giveup);
	} else if (r == -EAGAIN && now < c->giveup) {
		/* Backing off: a guest cannot turn a stuck listener into a busy loop. */
		c->retry_ms = c->retry_ms ? c->retry_ms * 2 : VSOCK_CONNECT_RETRY_MS;
		if (c->retry_ms > VSOCK_CONNECT_RETRY_MAX_MS)
			c->retry_ms = VSOCK_CONNECT_RETRY_MAX_MS;
		c->retrying = true;
		vsock_set_deadline(v, c, now + c->retry_ms * MS);
	} else {
		if (r == -ECONNREFUSED || r == -ENOENT)
			v->stats.conns_refused++;
		vsock_conn_reset(v, c, strerror(-r));
		return;
	}
	vsock_update(v, c);
}

static void vsock_guest_request(struct vsock *v, const struct vsock_pkt *p)
{
	struct vsock_conn *c = vsock_conn_alloc(v);

	if (!c) {
		log_guest("%s: %u connections open: guest connect refused", v->name,
			  VIRTIO_VSOCK_MAX_CONNS);
		vsock_raw_rst(v, p);
		return;
	}
	c->host_port = p->dst_port;
	c->guest_port = p->src_port;
	c->guest_knows = true;
	c->peer_buf_alloc = p->buf_alloc;
	c->tx_cnt = c->peer_fwd_cnt = p->fwd_cnt;
	c->state = VSOCK_CONNECTING;
	c->giveup = vsock_now() + VSOCK_CONNECT_GIVEUP_MS * MS;
	vsock_hash_add(v, c);
	vsock_try_connect(v, c);
}

/* The guest accepted our REQUEST: tell the host program, whose stream it is from now on. */
static void vsock_host_established(struct vsock *v, struct vsock_conn *c, const struct vsock_pkt *p)
{
	char ok[24];
	struct iovec iov = { ok, 0 };

	iov.iov_len = (size_t)snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);
	/* A fresh socket takes a few bytes at once; anything else means the host went away. */
	if (vsock_uds_sendv(c->fd, &iov, 1) != (ssize_t)iov.iov_len) {
		vsock_conn_reset(v, c, "cannot write OK to the host");
		return;
	}
	c->peer_buf_alloc = p->buf_alloc;
	c->tx_cnt = c->peer_fwd_cnt = p->fwd_cnt;
	vsock_established(v, c);
	vsock_update(v, c);
}

/*
 * Credit fields of a guest packet. Linux may send an older fwd_cnt after a newer one (packets
 * built on two CPUs): such a count is ignored. A count acknowledging bytes never sent is a lie:
 * false, the connection is reset.
 */
static bool vsock_peer_credit(struct vsock *v, struct vsock_conn *c, const struct vsock_pkt *p)
{
	uint32_t ahead = p->fwd_cnt - c->peer_fwd_cnt, sent = c->tx_cnt - c->peer_fwd_cnt;

	if (ahead <= sent) {
		c->peer_fwd_cnt = p->fwd_cnt;
	} else if (ahead < 0x80000000u) {
		vsock_malformed(v, "credit acknowledges bytes never sent");
		vsock_conn_reset(v, c, "credit lie");
		return false;
	}
	c->peer_buf_alloc = p->buf_alloc;
	return true;
}

/* The part [skip, skip + len) of iov, as iovecs in out; returns how many. */
static unsigned vsock_iov_slice(struct iovec *out, const struct iovec *iov, unsigned n, size_t skip,
				size_t len)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		out[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, l };
		len -= l;
		skip = 0;
	}
	return k;
}

static void vsock_guest_data(struct vsock *v, struct vsock_conn *c, const struct virtq_elem *e,
			     uint32_t len)
{
	uint32_t unacked = c->rx_cnt - c->fwd_cnt_sent, done = 0;
	ssize_t w;
	int r;

	if (!len)
		return;
	/* It may have in flight what we offered: buf_alloc minus what it has not heard of. */
	if ((uint64_t)unacked + len > VIRTIO_VSOCK_BUF_ALLOC) {
		vsock_malformed(v, "guest sent beyond its credit");
		vsock_conn_reset(v, c, "beyond credit");
		return;
	}
	c->rx_cnt += len;
	v->stats.bytes_guest_to_host += len;
	if (!c->backlog.len) {
		unsigned n = vsock_iov_slice(v->iov, e->out, e->out_num, VSOCK_HDR_LEN, len);

		w = vsock_uds_sendv(c->fd, v->iov, n);
		if (w < 0 && w != -EAGAIN) {
			vsock_conn_reset(v, c, strerror((int)-w));
			return;
		}
		if (w > 0)
			done = (uint32_t)w;
	}
	if (done < len) {
		if (!c->backlog.data &&
		    v->backlog_bytes + VIRTIO_VSOCK_BUF_ALLOC > VSOCK_BACKLOG_TOTAL) {
			log_guest(
			    "%s: host programs do not read: %llu bytes held; connection reset",
			    v->name, (unsigned long long)v->backlog_bytes);
			vsock_conn_reset(v, c, "backlog budget");
			return;
		}
		r = vsock_uds_buf_append(&c->backlog, VIRTIO_VSOCK_BUF_ALLOC, e->out, e->out_num,
					 VSOCK_HDR_LEN + done, len - done);
		vsock_backlog_account(v, c);
		if (r) {
			vsock_conn_reset(v, c, strerror(-r));
			return;
		}
	}
	c->fwd_cnt += done;
	vsock_credit_check(c);
	vsock_update(v, c);
}

static void vsock_guest_shutdown(struct vsock *v, struct vsock_conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_no_rcv = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_no_send = true;
	if (c->guest_no_rcv && c->guest_no_send) {
		c->state = VSOCK_CLOSING;
		vsock_set_deadline(v, c, vsock_now() + VIRTIO_VSOCK_TIMEOUT_MS * MS);
	}
	vsock_shut_check(v, c);
	vsock_update(v, c);
}

/* A packet for an existing connection (c) or none. p->dst_cid is the host's. */
static void vsock_tx_conn(struct vsock *v, struct vsock_conn *c, const struct vsock_pkt *p,
			  const struct virtq_elem *e)
{
	if (c && c->state == VSOCK_LOCAL_INIT && !c->guest_knows) {
		/* Our REQUEST has not gone out: the guest cannot know the connection. */
		if (p->op != VIRTIO_VSOCK_OP_REQUEST) {
			vsock_raw_rst(v, p);
			return;
		}
		vsock_conn_free(v, c);
		c = NULL;
	}
	if (c && c->state == VSOCK_DEAD) {
		/* An RST is on its way; a new REQUEST on the same ports replaces it. */
		if (p->op != VIRTIO_VSOCK_OP_RST && p->op != VIRTIO_VSOCK_OP_REQUEST)
			return;
		vsock_conn_free(v, c);
		c = NULL;
		if (p->op == VIRTIO_VSOCK_OP_RST)
			return;
	}
	if (!c) {
		if (p->op == VIRTIO_VSOCK_OP_REQUEST)
			vsock_guest_request(v, p);
		else
			vsock_raw_rst(v, p);
		return;
	}
	switch (p->op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		vsock_malformed(v, "REQUEST for a connection that exists");
		vsock_conn_reset(v, c, "duplicate REQUEST");
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state == VSOCK_LOCAL_INIT) {
			vsock_host_established(v, c, p);
		} else {
			vsock_malformed(v, "unexpected RESPONSE");
			vsock_conn_reset(v, c, "unexpected RESPONSE");
		}
		return;
	case VIRTIO_VSOCK_OP_RST:
		vsock_log_debug("%s: host port %u, guest port %u: reset by the guest", v->name,
				c->host_port, c->guest_port);
		v->stats.conns_reset++;
		vsock_conn_free(v, c);
		return;
	default: /* SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST (the others are filtered) */
		break;
	}
	if (c->state != VSOCK_ESTABLISHED && c->state != VSOCK_CLOSING) {
		/* Before the handshake completed: only credit traffic is harmless. */
		if (p->op == VIRTIO_VSOCK_OP_SHUTDOWN || p->op == VIRTIO_VSOCK_OP_RW) {
			vsock_malformed(v, "data or shutdown before the connection was set up");
			vsock_conn_reset(v, c, "data before set-up");
		}
		return;
	}
	if (!vsock_peer_credit(v, c, p))
		return;
	switch (p->op) {
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state == VSOCK_ESTABLISHED)
			vsock_guest_shutdown(v, c, p->flags);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != VSOCK_ESTABLISHED || c->guest_no_send) {
			vsock_malformed(v, "data after the guest's SHUTDOWN");
			vsock_conn_reset(v, c, "data after SHUTDOWN");
			return;
		}
		vsock_guest_data(v, c, e, p->len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pend |= VSOCK_PEND_CREDIT;
		break;
	default:
		break;
	}
	vsock_update(v, c); /* new credit may let host data flow again */
}

static void vsock_tx_packet(struct vsock *v, const struct virtq_elem *e)
{
	struct virtio_vsock_hdr h;
	struct vsock_pkt p;
	struct vsock_conn *c;
	const char *why = NULL;

	/* Device-writable parts of a transmit chain are ignored: nothing is written back. */
	if (e->out_len < VSOCK_HDR_LEN) {
		vsock_malformed(v, "shorter than its header");
		return;
	}
	/* Read once, wherever the driver split it: every check and use below sees this copy. */
	virtq_iov_to_buf(e->out, e->out_num, 0, &h, VSOCK_HDR_LEN);
	p = (struct vsock_pkt){
		.src_cid = le64toh(h.src_cid),
		.dst_cid = le64toh(h.dst_cid),
		.src_port = le32toh(h.src_port),
		.dst_port = le32toh(h.dst_port),
		.len = le32toh(h.len),
		.type = le16toh(h.type),
		.op = le16toh(h.op),
		.flags = le32toh(h.flags),
		.buf_alloc = le32toh(h.buf_alloc),
		.fwd_cnt = le32toh(h.fwd_cnt),
	};
	if (p.src_cid != v->guest_cid) {
		vsock_malformed(v, "source CID is not the guest's");
		return; /* an answer would go to whoever it claims to be */
	}
	c = p.dst_cid == VIRTIO_VSOCK_HOST_CID ? vsock_lookup(v, p.dst_port, p.src_port) : NULL;
	if (p.dst_cid != VIRTIO_VSOCK_HOST_CID)
		why = "no such CID";
	else if (p.type != VIRTIO_VSOCK_TYPE_STREAM)
		why = "unknown socket type";
	else if (p.op == VIRTIO_VSOCK_OP_INVALID || p.op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		why = "unknown operation";
	else if (p.len > e->out_len - VSOCK_HDR_LEN)
		why = "length beyond its buffers";
	if (why) {
		/* Per 5.10.6: answered with an RST (never an RST with an RST). */
		vsock_malformed(v, why);
		if (c && c->guest_knows && p.op == VIRTIO_VSOCK_OP_RST)
			vsock_conn_free(v, c);
		else if (c && c->guest_knows)
			vsock_conn_reset(v, c, why);
		else
			vsock_raw_rst(v, &p);
		return;
	}
	vsock_tx_conn(v, c, &p, e);
}

static void vsock_tx(struct vsock *v)
{
	struct virtq *vq = &v->vdev.vqs[VIRTIO_VSOCK_QUEUE_TX];
	unsigned done = 0;
	int r;

	while (v->active && done < VSOCK_BUDGET) {
		r = virtq_pop(vq, v->vdev.mem, &v->elem);
		if (r < 0)
			vsock_broken(v, "malformed tx ring");
		if (r <= 0)
			break;
		vsock_count(&v->vdev.stats.requests, 1);
		vsock_count(&v->vdev.stats.bytes_out, v->elem.out_len);
		vsock_tx_packet(v, &v->elem);
		if (virtq_push(vq, v->vdev.mem, v->elem.head, 0) < 0) {
			vsock_broken(v, "tx used ring unwritable");
			break;
		}
		done++;
	}
	if (done)
		virtio_notify(&v->vdev, VIRTIO_VSOCK_QUEUE_TX);
	if (v->active && done == VSOCK_BUDGET)
		virtio_queue_kick(&v->vdev, VIRTIO_VSOCK_QUEUE_TX);
}

/* ---- host -> guest ---- */

static void vsock_hdr_fill(struct virtio_vsock_hdr *h, uint64_t src_cid, uint64_t dst_cid,
			   uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t flags,
			   uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	h->src_cid = htole64(src_cid);
	h->dst_cid = htole64(dst_cid);
	h->src_port = htole32(src_port);
	h->dst_port = htole32(dst_port);
	h->len = htole32(len);
	h->type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	h->flags = htole32(flags);
	h->buf_alloc = htole32(buf_alloc);
	h->fwd_cnt = htole32(fwd_cnt);
}

/* Return the popped receive chain with `written` bytes: 1, or -EFAULT (ring broken). */
static int vsock_rx_done(struct vsock *v, uint32_t written)
{
	if (virtq_push(&v->vdev.vqs[VIRTIO_VSOCK_QUEUE_RX], v->vdev.mem, v->elem.head, written) <
	    0) {
		vsock_broken(v, "rx used ring unwritable");
		return -EFAULT;
	}
	v->rx_pushed++;
	vsock_count(&v->vdev.stats.requests, 1);
	vsock_count(&v->vdev.stats.bytes_in, written);
	return 1;
}

/* A receive chain that cannot carry what we have goes back empty (the driver drops it). */
static int vsock_rx_unused(struct vsock *v)
{
	return vsock_rx_done(v, 0);
}

/* Pop a receive chain that can hold a header: 1, or 0 (none), or negative (ring broken). */
static int vsock_rx_pop(struct vsock *v)
{
	struct virtq *vq = &v->vdev.vqs[VIRTIO_VSOCK_QUEUE_RX];
	int r;

	/* Each pass consumes a chain of the ring: this ends. */
	for (;;) {
		r = virtq_pop(vq, v->vdev.mem, &v->elem);
		if (r < 0)
			vsock_broken(v, "malformed rx ring");
		if (r <= 0 || v->elem.in_len >= VSOCK_HDR_LEN)
			return r;
		log_guest("%s: receive buffer smaller than a packet header: returned unused",
			  v->name);
		r = vsock_rx_unused(v);
		if (r < 0)
			return r;
	}
}

static int vsock_rx_push(struct vsock *v, const struct virtio_vsock_hdr *h, uint32_t len)
{
	virtq_iov_from_buf(v->elem.in, v->elem.in_num, 0, h, VSOCK_HDR_LEN);
	return vsock_rx_done(v, (uint32_t)VSOCK_HDR_LEN + len);
}

static int vsock_rx_raw(struct vsock *v)
{
	struct vsock_raw_rst *raw = &v->raw[v->raw_head];
	struct virtio_vsock_hdr h;
	int r = vsock_rx_pop(v);

	if (r <= 0)
		return r ? r : -ENOBUFS;
	vsock_hdr_fill(&h, raw->src_cid, v->guest_cid, raw->src_port, raw->dst_port,
		       VIRTIO_VSOCK_OP_RST, 0, 0, 0, 0);
	v->raw_head = (v->raw_head + 1) % VSOCK_RAW_RST_MAX;
	v->raw_len--;
	return vsock_rx_push(v, &h, 0);
}

/* Host data straight into the chain's buffers after the header: bytes read, or negative errno. */
static ssize_t vsock_rx_read(struct vsock *v, struct vsock_conn *c)
{
	uint64_t room = v->elem.in_len - VSOCK_HDR_LEN;
	uint32_t credit = vsock_credit(c);
	unsigned n;

	if (room > credit)
		room = credit;
	if (room > VIRTIO_VSOCK_MAX_PKT)
		room = VIRTIO_VSOCK_MAX_PKT;
	if (!room)
		return -EMSGSIZE;
	n = vsock_iov_slice(v->iov, v->elem.in, v->elem.in_num, VSOCK_HDR_LEN, room);
	return vsock_uds_recvv(c->fd, v->iov, n);
}

/*
 * The next packet connection c owes the guest. 1: sent; 0: nothing owed; 2: state changed
 * without a packet (host EOF, EAGAIN, host error); -ENOBUFS: no receive buffer; other negative:
 * ring broken.
 */
static int vsock_rx_conn(struct vsock *v, struct vsock_conn *c)
{
	struct virtio_vsock_hdr h;
	uint32_t flags = 0, len = 0;
	uint16_t op;
	ssize_t n;
	int r;

	if (c->pend & VSOCK_PEND_RST)
		op = VIRTIO_VSOCK_OP_RST;
	else if (c->pend & VSOCK_PEND_REQUEST)
		op = VIRTIO_VSOCK_OP_REQUEST;
	else if (c->pend & VSOCK_PEND_RESPONSE)
		op = VIRTIO_VSOCK_OP_RESPONSE;
	else if (c->rd_ready && vsock_wants_read(c))
		op = VIRTIO_VSOCK_OP_RW;
	else if (c->pend & VSOCK_PEND_SHUTDOWN)
		op = VIRTIO_VSOCK_OP_SHUTDOWN, flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	else if (c->pend & VSOCK_PEND_CREDIT)
		op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	else
		return 0;
	r = vsock_rx_pop(v);
	if (r <= 0)
		return r ? r : -ENOBUFS;
	if (op == VIRTIO_VSOCK_OP_RW) {
		n = vsock_rx_read(v, c);
		if (n == -EMSGSIZE) {
			/* A buffer with room for a header only: it cannot carry data. */
			log_guest("%s: receive buffer without room for data: returned unused",
				  v->name);
			r = vsock_rx_unused(v);
			return r < 0 ? r : 2;
		}
		if (n <= 0) {
			virtq_unpop(&v->vdev.vqs[VIRTIO_VSOCK_QUEUE_RX], 1);
			c->rd_ready = false;
			if (n == 0) {
				c->rd_eof = true;
				c->pend |= VSOCK_PEND_SHUTDOWN;
				vsock_shut_check(v, c);
			} else if (n != -EAGAIN) {
				vsock_conn_reset(v, c, strerror((int)-n));
			}
			return 2;
		}
		len = (uint32_t)n;
		c->tx_cnt += len;
		v->stats.bytes_host_to_guest += len;
	}
	vsock_hdr_fill(&h, VIRTIO_VSOCK_HOST_CID, v->guest_cid, c->host_port, c->guest_port, op,
		       flags, len, VIRTIO_VSOCK_BUF_ALLOC, c->fwd_cnt);
	r = vsock_rx_push(v, &h, len);
	if (r < 0)
		return r;
	/* Every packet carries our credit. */
	c->fwd_cnt_sent = c->fwd_cnt;
	c->pend &= ~VSOCK_PEND_CREDIT;
	switch (op) {
	case VIRTIO_VSOCK_OP_RST:
		vsock_conn_free(v, c);
		break;
	case VIRTIO_VSOCK_OP_REQUEST:
		c->pend &= ~VSOCK_PEND_REQUEST;
		c->guest_knows = true;
		break;
	case VIRTIO_VSOCK_OP_RESPONSE:
		c->pend &= ~VSOCK_PEND_RESPONSE;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->pend &= ~VSOCK_PEND_SHUTDOWN;
		break;
	default:
		break;
	}
	return 1;
}

/* Fill the guest's receive buffers: owed RSTs first, then connections in turn. */
static void vsock_rx_run(struct vsock *v)
{
	unsigned done = 0, turns = 0;
	int r = 0;

	v->rx_pushed = 0;
	while (v->active && done < VSOCK_BUDGET && turns++ < 4 * VSOCK_BUDGET) {
		if (v->raw_len) {
			r = vsock_rx_raw(v);
		} else if (v->qhead) {
			struct vsock_conn *c = v->qhead;

			r = vsock_rx_conn(v, c);
			if (r >= 0 && c->state != VSOCK_FREE) {
				/* To the back of the queue if it has more: round robin. */
				vsock_q_del(v, c);
				vsock_update(v, c);
			}
		} else {
			break;
		}
		if (r < 0)
			break;
		done += r == 1;
	}
	if (v->rx_pushed)
		virtio_notify(&v->vdev, VIRTIO_VSOCK_QUEUE_RX);
	/* Out of buffers: the driver kicks when it adds some (virtq_pop re-armed that). */
	if (v->active && r != -ENOBUFS && (v->raw_len || v->qhead))
		virtio_queue_kick(&v->vdev, VIRTIO_VSOCK_QUEUE_RX);
}

/* ---- host sockets ---- */

static uint32_t vsock_local_port(struct vsock *v)
{
	for (;;) {
		uint32_t p = v->next_local_port++;
		bool used = false;

		if (!v->next_local_port)
			v->next_local_port = VSOCK_LOCAL_PORT_MIN;
		/* At most VIRTIO_VSOCK_MAX_CONNS ports are taken: this ends. */
		for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS && !used; i++)
			used = v->conns[i].state != VSOCK_FREE &&
			       v->conns[i].state != VSOCK_HOST_LINE && v->conns[i].host_port == p;
		if (!used)
			return p;
	}
}

static void vsock_host_line(struct vsock *v, struct vsock_conn *c)
{
	uint32_t port;
	int r = vsock_uds_read_connect(c->fd, c->line, &c->line_len, &port);

	if (r == 0)
		return;
	if (r < 0) {
		if (r == -EPROTO)
			log_guest("%s: a host connection on %s did not send 'CONNECT <port>\\n': "
				  "closed",
				  v->name, v->uds_path);
		vsock_conn_free(v, c);
		return;
	}
	c->host_port = vsock_local_port(v);
	c->guest_port = port;
	c->state = VSOCK_LOCAL_INIT;
	c->pend = VSOCK_PEND_REQUEST;
	vsock_hash_add(v, c);
	vsock_set_deadline(v, c, vsock_now() + VIRTIO_VSOCK_TIMEOUT_MS * MS);
	vsock_update(v, c);
}

static void vsock_listen_pause(struct vsock *v, bool pause)
{
	struct epoll_event ev = { .events = pause ? 0 : EPOLLIN, .data.u64 = VSOCK_ID_LISTEN };

	if (epoll_ctl(v->epfd, EPOLL_CTL_MOD, v->lfd, &ev) < 0)
		log_warn("%s: cannot watch %s: %s", v->name, v->uds_path, strerror(errno));
	v->listen_paused = pause;
	if (pause) {
		v->listen_resume = vsock_now() + VSOCK_LISTEN_PAUSE_MS * MS;
		if (!v->timer_at || v->listen_resume < v->timer_at)
			vsock_timer_arm(v, v->listen_resume);
	}
}

static void vsock_accept(struct vsock *v)
{
	for (unsigned i = 0; i < VSOCK_ACCEPT_BUDGET; i++) {
		struct vsock_conn *c;
		int fd = vsock_uds_accept(v->lfd);

		if (fd == -EAGAIN)
			return;
		if (fd == -EINTR || fd == -ECONNABORTED)
			continue;
		if (fd < 0) {
			log_guest("%s: accept on %s: %s", v->name, v->uds_path, strerror(-fd));
			vsock_listen_pause(v, true); /* level-triggered: it would fire at once */
			return;
		}
		c = vsock_conn_alloc(v);
		if (!c) {
			log_guest("%s: %u connections open: host connection refused", v->name,
				  VIRTIO_VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = VSOCK_HOST_LINE;
		vsock_set_deadline(v, c, vsock_now() + VIRTIO_VSOCK_TIMEOUT_MS * MS);
		vsock_update(v, c);
	}
}

static void vsock_flush(struct vsock *v, struct vsock_conn *c)
{
	ssize_t w = vsock_uds_buf_flush(&c->backlog, c->fd);

	vsock_backlog_account(v, c);
	if (w < 0 && w != -EAGAIN) {
		vsock_conn_reset(v, c, strerror((int)-w));
		return;
	}
	if (w > 0) {
		c->fwd_cnt += (uint32_t)w;
		vsock_credit_check(c);
	}
	vsock_shut_check(v, c);
}

static void vsock_conn_event(struct vsock *v, struct vsock_conn *c, uint32_t ev)
{
	int r;

	switch (c->state) {
	case VSOCK_HOST_LINE:
		vsock_host_line(v, c);
		return;
	case VSOCK_CONNECTING:
		if (c->fd < 0)
			return;
		r = vsock_uds_connect_result(c->fd);
		if (r) {
			if (r == -ECONNREFUSED || r == -ENOENT)
				v->stats.conns_refused++;
			vsock_conn_reset(v, c, strerror(-r));
			return;
		}
		vsock_established(v, c);
		c->pend |= VSOCK_PEND_RESPONSE;
		break;
	case VSOCK_ESTABLISHED:
	case VSOCK_CLOSING:
		if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->backlog.len) {
			vsock_flush(v, c);
			if (c->state == VSOCK_DEAD || c->state == VSOCK_FREE)
				return;
		}
		if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && vsock_wants_read(c))
			c->rd_ready = true;
		break;
	default:
		return;
	}
	vsock_update(v, c);
}

static void vsock_expire(struct vsock *v, struct vsock_conn *c)
{
	switch (c->state) {
	case VSOCK_HOST_LINE:
		vsock_log_info("%s: a host connection on %s sent no CONNECT line in time: closed",
			       v->name, v->uds_path);
		vsock_conn_free(v, c);
		break;
	case VSOCK_LOCAL_INIT:
		vsock_log_info("%s: the guest did not answer a connection to its port %u in time",
			       v->name, c->guest_port);
		vsock_conn_reset(v, c, "no answer");
		break;
	case VSOCK_CONNECTING:
		if (c->retrying) {
			vsock_try_connect(v, c);
			break;
		}
		vsock_conn_reset(v, c, "connect timed out");
		break;
	case VSOCK_CLOSING:
		vsock_conn_reset(v, c, "host did not take the guest's last data");
		break;
	default:
		break;
	}
}

static void vsock_timer(struct vsock *v)
{
	uint64_t count, now = vsock_now(), next = 0;

	if (read(v->tfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("%s: timerfd: %s", v->name, strerror(errno));
	v->timer_at = 0;
	if (v->listen_paused && now >= v->listen_resume)
		vsock_listen_pause(v, false);
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state == VSOCK_FREE || !c->deadline)
			continue;
		if (c->deadline <= now) {
			c->deadline = 0;
			vsock_expire(v, c);
		}
		if (c->state != VSOCK_FREE && c->deadline && (!next || c->deadline < next))
			next = c->deadline;
	}
	if (v->listen_paused && (!next || v->listen_resume < next))
		next = v->listen_resume;
	if (next)
		vsock_timer_arm(v, next);
}

static int vsock_transport_reset_locked(struct vsock *v);

/* The host side's epoll fd is readable: listener, timer, or connection sockets. */
static void vsock_host_cb(void *opaque, int fd, uint32_t events)
{
	struct vsock *v = opaque;
	struct epoll_event evs[VSOCK_EVENTS];
	int n;

	(void)fd, (void)events;
	pthread_mutex_lock(&v->vdev.lock);
	/*
	 * Restored from a snapshot: the driver must learn that its connections are gone before any
	 * packet from a new host connection reaches it (else the queue kick sends it later).
	 */
	if (v->reset_owed && vsock_transport_reset_locked(v) != -ENOBUFS)
		v->reset_owed = false;
	n = epoll_wait(v->epfd, evs, VSOCK_EVENTS, 0);
	for (int i = 0; i < n; i++) {
		uint64_t id = evs[i].data.u64;
		struct vsock_conn *c;

		if (id == VSOCK_ID_LISTEN) {
			vsock_accept(v);
			continue;
		}
		if (id == VSOCK_ID_TIMER) {
			vsock_timer(v);
			continue;
		}
		if ((uint32_t)id >= VIRTIO_VSOCK_MAX_CONNS)
			continue;
		c = &v->conns[(uint32_t)id];
		/* Freed (and maybe reused) by an earlier event of this batch: not this one's. */
		if (c->gen != (uint32_t)(id >> 32) || c->state == VSOCK_FREE || c->fd < 0)
			continue;
		vsock_conn_event(v, c, evs[i].events);
	}
	vsock_rx_run(v);
	pthread_mutex_unlock(&v->vdev.lock);
}

/* ---- virtio_dev_ops ---- */

static void vsock_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len)
{
	memcpy(data, vsock_from(vdev)->config + off, len);
}

static void vsock_config_write(struct virtio_dev *vdev, uint32_t off, const void *data,
			       unsigned len)
{
	(void)vdev, (void)off, (void)data, (void)len; /* guest_cid is read-only */
}

static int vsock_activate(struct virtio_dev *vdev)
{
	vsock_from(vdev)->active = true; /* the core then kicks each ready queue */
	return 0;
}

/* Every guest connection ends; host programs see their sockets close. */
static void vsock_drop_all(struct vsock *v)
{
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state != VSOCK_FREE && c->state != VSOCK_HOST_LINE)
			vsock_conn_free(v, c);
	}
	v->raw_len = v->raw_head = 0;
}

/* Driver reset: every guest connection ends (host sockets closed); CONNECT lines being read
 * stay, as they do not involve the guest yet. Closing a socket never blocks. */
static void vsock_reset(struct virtio_dev *vdev)
{
	struct vsock *v = vsock_from(vdev);

	v->active = false;
	v->reset_owed = false; /* the driver starts over anyway */
	vsock_drop_all(v);
}

static void vsock_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct vsock *v = vsock_from(vdev);

	if (!v->active)
		return;
	/* The first kick after a restore (the VM re-kicks every queue on resume) tells the driver
	 * its connections are gone; without an event buffer yet, the kick that brings one does. */
	if (v->reset_owed && vsock_transport_reset_locked(v) != -ENOBUFS)
		v->reset_owed = false;
	if (q == VIRTIO_VSOCK_QUEUE_TX)
		vsock_tx(v);
	/* Any kick may bring receive buffers or answers owed: try to deliver. The event queue's
	 * buffers otherwise stay with the driver: no other event is sent. */
	vsock_rx_run(v);
}

/*
 * Only the guest CID, which the driver read and its sockets are bound to: it must be this
 * device's. Connections cannot be saved (their other ends are host sockets of this process), so
 * a restored device has none, and sends the driver VIRTIO_VSOCK_EVENT_TRANSPORT_RESET at its
 * first kick (see vsock_queue_notify): the guest then resets its sockets and re-reads the CID.
 * Host programs see their sockets close when the saved process goes.
 */
static void vsock_save(const struct virtio_dev *vdev, struct state_writer *w)
{
	const struct vsock *v = vdev->priv;

	state_section_begin(w, VSOCK_STATE_TAG, VSOCK_STATE_VERSION);
	state_put_u64(w, v->guest_cid);
	state_section_end_write(w);
}

static int vsock_load(struct virtio_dev *vdev, struct state_reader *r)
{
	struct vsock *v = vsock_from(vdev);
	uint32_t version;
	int ret;

	state_section_begin_read(r, VSOCK_STATE_TAG, VSOCK_STATE_VERSION, &version);
	if (state_get_u64(r) != v->guest_cid)
		state_reader_fail(r, "a vsock device with another guest CID");
	ret = state_section_end(r);
	if (ret)
		return ret;
	/* What vsock_activate set (vsock_broken clears it with NEEDS_RESET). */
	v->active =
	    (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	v->reset_owed = v->active;
	return 0;
}

static void vsock_free(struct vsock *v)
{
	if (v->conns) {
		for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
			if (v->conns[i].fd >= 0)
				close(v->conns[i].fd);
			vsock_uds_buf_free(&v->conns[i].backlog);
		}
	}
	if (v->lfd >= 0) {
		close(v->lfd);
		vsock_uds_unlink(v->uds_path, v->uds_ino);
	}
	if (v->tfd >= 0)
		close(v->tfd);
	if (v->epfd >= 0)
		close(v->epfd);
	free(v->conns);
	free(v->free_slots);
	free(v->uds_path);
	free(v);
}

static void vsock_destroy(struct virtio_dev *vdev)
{
	/* Stops the I/O thread first: no callback runs after this. */
	virtio_dev_cleanup(vdev);
	vsock_free(vsock_from(vdev));
}

static const struct virtio_dev_ops vsock_ops = {
	.config_read = vsock_config_read,
	.config_write = vsock_config_write,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
	.destroy = vsock_destroy,
	.save = vsock_save,
	.load = vsock_load,
};

void virtio_vsock_get_stats(struct virtio_dev *vdev, struct virtio_vsock_stats *stats)
{
	struct vsock *v = vsock_from(vdev);

	pthread_mutex_lock(&vdev->lock);
	*stats = v->stats;
	stats->conns_active = VIRTIO_VSOCK_MAX_CONNS - v->nfree;
	pthread_mutex_unlock(&vdev->lock);
}

/* vdev.lock held. */
static int vsock_transport_reset_locked(struct vsock *v)
{
	struct virtio_dev *vdev = &v->vdev;
	struct virtq *vq = &vdev->vqs[VIRTIO_VSOCK_QUEUE_EVENT];
	uint32_t id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	int r;

	if (!v->active || !vq->ready || vq->broken)
		return -EIO;
	vsock_drop_all(v);
	r = virtq_pop(vq, vdev->mem, &v->elem);
	if (r < 0)
		vsock_broken(v, "malformed event ring");
	if (r <= 0)
		return r ? -EIO : -ENOBUFS;
	r = (int)virtq_iov_from_buf(v->elem.in, v->elem.in_num, 0, &id, sizeof(id));
	if (virtq_push(vq, vdev->mem, v->elem.head, (uint32_t)r) < 0) {
		vsock_broken(v, "event used ring unwritable");
		return -EIO;
	}
	virtio_notify(vdev, VIRTIO_VSOCK_QUEUE_EVENT);
	return r == sizeof(id) ? 0 : -EINVAL;
}

int virtio_vsock_transport_reset(struct virtio_dev *vdev)
{
	int ret;

	pthread_mutex_lock(&vdev->lock);
	ret = vsock_transport_reset_locked(vsock_from(vdev));
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

static int vsock_watch(struct vsock *v, int fd, uint64_t id)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = id };

	return epoll_ctl(v->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int virtio_vsock_create(struct virtio_dev **out, const struct guest_mem *mem, uint64_t guest_cid,
			const char *uds_path, const char *name)
{
	uint64_t cid_le = htole64(guest_cid);
	struct vsock *v;
	int ret;

	/* 0-2 are reserved (hypervisor, local, host); 2^32-1 is VMADDR_CID_ANY. */
	if (guest_cid < 3 || guest_cid >= UINT32_MAX || !uds_path || !mem)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->lfd = v->epfd = v->tfd = -1;
	snprintf(v->name, sizeof(v->name), "%s", name ? name : "virtio-vsock");
	v->guest_cid = guest_cid;
	memcpy(v->config, &cid_le, sizeof(v->config));
	v->next_local_port = VSOCK_LOCAL_PORT_MIN;
	v->uds_path = strdup(uds_path);
	v->conns = calloc(VIRTIO_VSOCK_MAX_CONNS, sizeof(*v->conns));
	v->free_slots = calloc(VIRTIO_VSOCK_MAX_CONNS, sizeof(*v->free_slots));
	if (!v->uds_path || !v->conns || !v->free_slots) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < VIRTIO_VSOCK_MAX_CONNS; i++) {
		v->conns[i].fd = -1;
		v->free_slots[v->nfree++] = VIRTIO_VSOCK_MAX_CONNS - 1 - i;
	}
	v->epfd = epoll_create1(EPOLL_CLOEXEC);
	v->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (v->epfd < 0 || v->tfd < 0) {
		ret = -errno;
		log_error("%s: %s", v->name, strerror(-ret));
		goto err;
	}
	v->lfd = vsock_uds_listen(v->uds_path, v->uds_ino);
	if (v->lfd < 0) {
		ret = v->lfd; /* logged */
		goto err;
	}
	ret = vsock_watch(v, v->lfd, VSOCK_ID_LISTEN);
	if (!ret)
		ret = vsock_watch(v, v->tfd, VSOCK_ID_TIMER);
	if (ret) {
		log_error("%s: epoll: %s", v->name, strerror(-ret));
		goto err;
	}
	v->vdev.priv = v;
	ret = virtio_dev_init(&v->vdev, &vsock_ops, v->name, VIRTIO_ID_VSOCK, 0, sizeof(v->config),
			      3, VIRTIO_VSOCK_QUEUE_SIZE, mem);
	if (ret) {
		log_error("%s: cannot create the device: %s", v->name, strerror(-ret));
		goto err;
	}
	ret = event_loop_add(v->vdev.loop, v->epfd, EPOLLIN, vsock_host_cb, v);
	if (ret) {
		log_error("%s: cannot watch its sockets: %s", v->name, strerror(-ret));
		virtio_dev_cleanup(&v->vdev);
		goto err;
	}
	*out = &v->vdev;
	return 0;
err:
	vsock_free(v);
	return ret;
}
