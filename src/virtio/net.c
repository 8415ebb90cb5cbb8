/* virtio-net (device id 1) on a host tap: vnet header offloads, mergeable receive buffers. */
#include "virtio/net.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "backend/tap.h"
#include "log.h"
#include "snapshot/state.h"

#define NET_ETH_HLEN 14
/* The core admits only VERSION_1 drivers, whose header always has num_buffers: 12 bytes. */
#define NET_HDR_LEN sizeof(struct virtio_net_hdr_v1)
/* Largest frame either way: 64 KiB of GSO payload plus link headers (tap's own limit). */
#define NET_MAX_FRAME (65536 + 256)
/* Room for the part of a received packet beyond the first chain; never smaller than a frame. */
#define NET_SPILL_LEN (NET_MAX_FRAME + sizeof(struct virtio_net_hdr_v1))
/* Packets per wakeup and queue, so one busy queue cannot starve the other or the loop. */
#define NET_BUDGET 256
/* readv/writev refuse more iovecs than this (the kernel's UIO_MAXIOV). */
#define NET_MAX_IOV 1024
#define NET_STATE_TAG STATE_TAG('V', 'N', 'E', 'T')
#define NET_STATE_VERSION 1

#define NET_FEATURES                                                                               \
	((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |                         \
	 (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_GUEST_TSO4) |                          \
	 (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN) |                    \
	 (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |                     \
	 (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |                      \
	 (1ull << VIRTIO_NET_F_STATUS))

struct net {
	struct virtio_dev vdev;
	char name[32];
	char tap_name[IFNAMSIZ];
	int fd;
	bool is_tap;
	struct virtio_net_dev_config config;

	/* Protected by vdev.lock. */
	bool mrg_rxbuf;
	bool active;	  /* between activate and reset */
	bool rx_watching; /* fd registered in vdev.loop; only the I/O thread changes it */
	bool tap_gone;	  /* the fd is dead (interface deleted, peer closed): drop everything */
	bool tap_down;	  /* writes fail with EIO (interface down); logged once per episode */
	uint64_t rx_packets, rx_dropped, tx_packets, tx_dropped;

	/* I/O-thread scratch. */
	struct virtq_elem first; /* an RX packet's first chain; TX chains */
	struct virtq_elem more;	 /* RX: the chains a mergeable packet spills into */
	struct iovec iov[NET_MAX_IOV];
	struct virtq_used_elem used[VIRTQ_MAX_SIZE]; /* RX: the chains of one packet */
	uint8_t *spill; /* NET_SPILL_LEN bytes: RX overflow, and TX bounce for very long chains */
};

const char *virtio_net_hdr_check(const struct virtio_net_hdr_v1 *hdr, uint64_t len,
				 uint64_t features)
{
	uint8_t gso = hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (hdr->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return "unknown header flags";
	if (len < NET_ETH_HLEN)
		return "shorter than an ethernet header";
	if (len > NET_MAX_FRAME)
		return "longer than 64 KiB";
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(features & (1ull << VIRTIO_NET_F_CSUM)))
			return "checksum offload not negotiated";
		/* 16-bit fields: the sum cannot overflow 32 bits. */
		if ((uint32_t)hdr->csum_start + hdr->csum_offset + 2 > len)
			return "checksum field outside the packet";
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (hdr->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return "ECN without GSO";
		return NULL;
	}
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4) {
		if (!(features & (1ull << VIRTIO_NET_F_HOST_TSO4)))
			return "TSO4 not negotiated";
	} else if (gso == VIRTIO_NET_HDR_GSO_TCPV6) {
		if (!(features & (1ull << VIRTIO_NET_F_HOST_TSO6)))
			return "TSO6 not negotiated";
	} else {
		return "unsupported GSO type";
	}
	if ((hdr->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    !(features & (1ull << VIRTIO_NET_F_HOST_ECN)))
		return "ECN not negotiated";
	/* Segmentation needs the transport header located: drivers always send it with GSO. */
	if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return "GSO without checksum offload";
	if (hdr->gso_size == 0)
		return "GSO with a zero segment size";
	if (hdr->hdr_len > len)
		return "GSO header length beyond the packet";
	return NULL;
}

static struct net *net_from(struct virtio_dev *vdev)
{
	return vdev->priv;
}

/* The fd will never carry packets again: say so once, tell the driver the link is down. */
static void net_tap_gone(struct net *n, int err)
{
	if (n->tap_gone)
		return;
	n->tap_gone = true;
	log_warn("%s: tap %s went away (%s): dropping its packets, the device stays", n->name,
		 n->tap_name, err ? strerror(-err) : "closed");
	if (n->config.status & VIRTIO_NET_S_LINK_UP) {
		n->config.status &= ~VIRTIO_NET_S_LINK_UP;
		virtio_config_changed(&n->vdev);
	}
}

/* Ring broken: stop touching it until the driver resets the device. */
static void net_broken(struct net *n, const char *why)
{
	n->active = false;
	virtio_needs_reset(&n->vdev, why);
}

static void net_push(struct net *n, unsigned q, uint16_t head, uint32_t written)
{
	if (virtq_push(&n->vdev.vqs[q], n->vdev.mem, head, written) < 0)
		net_broken(n, q == VIRTIO_NET_QUEUE_RX ? "rx used ring unwritable"
						       : "tx used ring unwritable");
}

/*
 * Return the k chains of one received packet (n->used) with one used->idx store: pushed one by
 * one, a driver polling the ring (NAPI) could see the first chain, whose num_buffers says k,
 * before the others, drop the packet and then parse the rest of its payload as packet headers.
 */
static void net_push_rx(struct net *n, unsigned k)
{
	if (virtq_push_batch(&n->vdev.vqs[VIRTIO_NET_QUEUE_RX], n->vdev.mem, n->used, k) < 0)
		net_broken(n, "rx used ring unwritable");
}

/* Yield with work left: our own kick brings queue_notify back after the loop's other fds. */
static void net_requeue(struct net *n, unsigned q)
{
	uint64_t one = 1;

	if (write(n->vdev.kick_fds[q], &one, sizeof(one)) < 0)
		log_debug("%s: cannot re-kick queue %u", n->name, q);
}

/* ---- TX: guest -> tap ---- */

/* One chain -> one packet. 1: a chain was consumed; 0: ring empty; negative: ring broken. */
static int net_tx_one(struct net *n)
{
	struct virtq *vq = &n->vdev.vqs[VIRTIO_NET_QUEUE_TX];
	struct virtq_elem *e = &n->first;
	struct virtio_net_hdr_v1 hdr;
	const char *why = NULL;
	unsigned niov = 0, i;
	size_t skip;
	ssize_t w;
	int r;

	r = virtq_pop(vq, n->vdev.mem, e);
	if (r <= 0)
		return r;
	if (e->in_num)
		why = "device-writable buffers in a tx chain";
	else if (e->out_len < NET_HDR_LEN)
		why = "shorter than the vnet header";
	if (!why) {
		/* Checked and sent from a host copy: the guest cannot change it after the check. */
		virtq_iov_to_buf(e->out, e->out_num, 0, &hdr, NET_HDR_LEN);
		hdr.num_buffers = 0;
		why = virtio_net_hdr_check(&hdr, e->out_len - NET_HDR_LEN, n->vdev.driver_features);
	}
	if (why) {
		log_guest("%s: tx packet dropped: %s", n->name, why);
		goto drop;
	}
	if (n->tap_gone)
		goto drop;

	n->iov[niov++] = (struct iovec){ &hdr, NET_HDR_LEN };
	skip = NET_HDR_LEN;
	for (i = 0; i < e->out_num && niov < NET_MAX_IOV; i++) {
		if (skip >= e->out[i].iov_len) {
			skip -= e->out[i].iov_len;
			continue;
		}
		n->iov[niov++] = (struct iovec){ (uint8_t *)e->out[i].iov_base + skip,
						 e->out[i].iov_len - skip };
		skip = 0;
	}
	if (i < e->out_num) {
		/* More pieces than writev takes (hdr_check bounded the length): flatten. */
		size_t len = e->out_len - NET_HDR_LEN;

		virtq_iov_to_buf(e->out, e->out_num, NET_HDR_LEN, n->spill, len);
		n->iov[1] = (struct iovec){ n->spill, len };
		niov = 2;
	}
	w = writev(n->fd, n->iov, (int)niov);
	if (w < 0) {
		int err = -errno;

		if (err == -EIO) {
			if (!n->tap_down)
				log_warn("%s: tap %s is down: dropping guest packets", n->name,
					 n->tap_name);
			n->tap_down = true;
		} else if (tap_error_is_gone(err)) {
			net_tap_gone(n, err);
		} else {
			log_guest("%s: tx packet refused by tap %s: %s", n->name, n->tap_name,
				  strerror(-err));
		}
		goto drop;
	}
	if (n->tap_down) {
		log_info("%s: tap %s is up again", n->name, n->tap_name);
		n->tap_down = false;
	}
	n->tx_packets++;
	__atomic_fetch_add(&n->vdev.stats.requests, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&n->vdev.stats.bytes_out, e->out_len, __ATOMIC_RELAXED);
	net_push(n, VIRTIO_NET_QUEUE_TX, e->head, 0);
	return 1;

drop:
	n->tx_dropped++;
	__atomic_fetch_add(&n->vdev.stats.errors, 1, __ATOMIC_RELAXED);
	net_push(n, VIRTIO_NET_QUEUE_TX, e->head, 0);
	return 1;
}

static void net_tx(struct net *n)
{
	unsigned done = 0;
	int r = 0;

	while (n->active && done < NET_BUDGET) {
		r = net_tx_one(n);
		if (r <= 0)
			break;
		done++;
	}
	if (r < 0)
		net_broken(n, "malformed tx ring");
	if (done)
		virtio_notify(&n->vdev, VIRTIO_NET_QUEUE_TX);
	if (n->active && done == NET_BUDGET)
		net_requeue(n, VIRTIO_NET_QUEUE_TX);
}

/* ---- RX: tap -> guest ---- */

static void net_rx_ready(void *opaque, int fd, uint32_t events);

/* Only the I/O thread registers or removes the fd, so these never wait on a running callback. */
static void net_rx_watch(struct net *n, bool on)
{
	if (on == n->rx_watching)
		return;
	if (on) {
		if (event_loop_add(n->vdev.loop, n->fd, EPOLLIN, net_rx_ready, n) < 0) {
			log_warn("%s: cannot watch tap %s: receive stopped", n->name, n->tap_name);
			return;
		}
	} else {
		event_loop_del(n->vdev.loop, n->fd);
	}
	n->rx_watching = on;
}

/*
 * Read one packet straight into the next chain's buffers, spilling what does not fit into
 * n->spill and from there into further chains (MRG_RXBUF). Chains are pushed only once the
 * whole packet is placed. 1: a packet was delivered or dropped; 0: nothing to read;
 * -ENOBUFS: no receive buffers; other negative: fd dead or ring broken (already handled).
 */
static int net_rx_one(struct net *n)
{
	struct virtq *vq = &n->vdev.vqs[VIRTIO_NET_QUEUE_RX];
	struct virtq_elem *e = &n->first;
	unsigned niov = 0, k = 1;
	uint64_t cap = 0;
	uint16_t nbufs;
	size_t placed, left;
	ssize_t r;
	int pr;

	pr = virtq_pop(vq, n->vdev.mem, e);
	if (pr < 0) {
		net_broken(n, "malformed rx ring");
		return -EPROTO;
	}
	if (pr == 0)
		return -ENOBUFS;
	if (e->in_len < NET_HDR_LEN) {
		log_guest("%s: rx buffer smaller than the vnet header: returned unused", n->name);
		__atomic_fetch_add(&n->vdev.stats.errors, 1, __ATOMIC_RELAXED);
		net_push(n, VIRTIO_NET_QUEUE_RX, e->head, 0);
		return 1;
	}
	for (unsigned i = 0; i < e->in_num && niov < NET_MAX_IOV - 1; i++) {
		n->iov[niov++] = e->in[i];
		cap += e->in[i].iov_len;
	}
	n->iov[niov++] = (struct iovec){ n->spill, NET_SPILL_LEN };
	r = readv(n->fd, n->iov, (int)niov);
	if (r <= 0) {
		int err = r < 0 ? -errno : 0;

		virtq_unpop(vq, 1);
		if (err == -EAGAIN || err == -EINTR)
			return 0;
		/* Anything else would only repeat on every wakeup of a level-triggered loop. */
		net_tap_gone(n, err);
		return -ENODEV;
	}
	/* A tap reports the whole packet's length even when it copied less: catch truncation. */
	if ((uint64_t)r < NET_HDR_LEN || (uint64_t)r > cap + NET_SPILL_LEN) {
		virtq_unpop(vq, 1);
		n->rx_dropped++;
		__atomic_fetch_add(&n->vdev.stats.errors, 1, __ATOMIC_RELAXED);
		return 1;
	}
	n->used[0].head = e->head;
	if ((uint64_t)r <= cap) {
		n->used[0].written = (uint32_t)r;
	} else {
		if (!n->mrg_rxbuf) {
			log_guest("%s: rx packet of %zd bytes dropped: buffer holds %llu", n->name,
				  r, (unsigned long long)cap);
			goto drop;
		}
		n->used[0].written = (uint32_t)cap;
		placed = 0;
		left = (size_t)((uint64_t)r - cap);
		while (left) {
			size_t c;

			/* A driver holds no more than size chains; one re-offering heads we hold
			 * could go on: such a packet does not fit either way. */
			pr = k < vq->size ? virtq_pop(vq, n->vdev.mem, &n->more) : 0;
			if (pr < 0) {
				virtq_unpop(vq, k);
				net_broken(n, "malformed rx ring");
				return -EPROTO;
			}
			if (pr == 0) {
				log_guest("%s: rx packet of %zd bytes dropped: not enough buffers",
					  n->name, r);
				goto drop;
			}
			c = virtq_iov_from_buf(n->more.in, n->more.in_num, 0, n->spill + placed,
					       left);
			n->used[k].head = n->more.head;
			n->used[k++].written = (uint32_t)c;
			placed += c;
			left -= c;
		}
	}
	/* The tap leaves num_buffers alone (it writes the 10-byte header); it is ours to set. */
	nbufs = (uint16_t)k;
	virtq_iov_from_buf(e->in, e->in_num, offsetof(struct virtio_net_hdr_v1, num_buffers),
			   &nbufs, sizeof(nbufs));
	__atomic_fetch_add(&n->vdev.stats.requests, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&n->vdev.stats.bytes_in, (uint64_t)r, __ATOMIC_RELAXED);
	net_push_rx(n, k);
	n->rx_packets++;
	return 1;

drop:
	virtq_unpop(vq, k);
	n->rx_dropped++;
	__atomic_fetch_add(&n->vdev.stats.errors, 1, __ATOMIC_RELAXED);
	return 1;
}

static void net_rx(struct net *n)
{
	unsigned done = 0;
	int r = 0;

	while (n->active && !n->tap_gone && done < NET_BUDGET) {
		r = net_rx_one(n);
		if (r <= 0)
			break;
		done++;
	}
	/* Nowhere to put packets: sleep until the driver adds buffers (queue_notify). */
	if (r == -ENOBUFS || !n->active || n->tap_gone)
		net_rx_watch(n, false);
	if (done)
		virtio_notify(&n->vdev, VIRTIO_NET_QUEUE_RX);
}

static void net_rx_ready(void *opaque, int fd, uint32_t events)
{
	struct net *n = opaque;

	(void)fd;
	pthread_mutex_lock(&n->vdev.lock);
	/* A deleted tap polls as EPOLLERR forever: stop watching rather than spin. */
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		net_tap_gone(n, -ENODEV);
	net_rx(n);
	pthread_mutex_unlock(&n->vdev.lock);
}

/* ---- virtio_dev_ops ---- */

static void net_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len)
{
	memcpy(data, (const uint8_t *)&net_from(vdev)->config + off, len);
}

static void net_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len)
{
	/* mac and status are read-only for a VERSION_1 driver. */
	(void)vdev, (void)off, (void)data, (void)len;
}

static unsigned net_offloads(uint64_t f)
{
	unsigned o = 0;

	if (f & (1ull << VIRTIO_NET_F_GUEST_CSUM))
		o |= TAP_OFFLOAD_CSUM;
	if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
		o |= TAP_OFFLOAD_TSO4;
	if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
		o |= TAP_OFFLOAD_TSO6;
	if (f & (1ull << VIRTIO_NET_F_GUEST_ECN))
		o |= TAP_OFFLOAD_ECN;
	return o;
}

static int net_activate(struct virtio_dev *vdev)
{
	struct net *n = net_from(vdev);
	uint64_t f = vdev->driver_features;
	int err;

	n->mrg_rxbuf = f & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	if (n->is_tap && !n->tap_gone) {
		err = tap_set_offload(n->fd, net_offloads(f));
		if (tap_error_is_gone(err)) {
			net_tap_gone(n, err);
		} else if (err) {
			/* Offloads the guest did not accept would reach it anyway: refuse. */
			log_error("%s: tap %s: cannot set offloads: %s", n->name, n->tap_name,
				  strerror(-err));
			return err;
		}
	}
	n->active = true;
	/* Start receiving from the I/O thread, which alone registers the fd. */
	net_requeue(n, VIRTIO_NET_QUEUE_RX);
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct net *n = net_from(vdev);

	/* The fd stays registered until its callback sees this: event_loop_del could wait here for
	 * a callback that is itself waiting for the lock we hold. */
	n->active = false;
}

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct net *n = net_from(vdev);

	if (q == VIRTIO_NET_QUEUE_TX) {
		net_tx(n);
	} else if (q == VIRTIO_NET_QUEUE_RX) {
		if (n->active && !n->tap_gone)
			net_rx_watch(n, true);
		else
			net_rx_watch(n, false);
	}
}

static void net_destroy(struct virtio_dev *vdev)
{
	struct net *n = net_from(vdev);

	/* Stops the I/O thread first: no callback can run on the fd after this. */
	virtio_dev_cleanup(vdev);
	close(n->fd);
	free(n->spill);
	free(n);
}

/*
 * The MAC the driver read (a random one differs on each start, and the guest's stack has this
 * one) and the link status. Packets in the tap or in flight are not device state: TX completes
 * inside one kick, RX is read from the tap only into buffers the driver posted.
 */
static void net_save(const struct virtio_dev *vdev, struct state_writer *w)
{
	const struct net *n = vdev->priv;

	state_section_begin(w, NET_STATE_TAG, NET_STATE_VERSION);
	state_put_bytes(w, n->config.mac, sizeof(n->config.mac));
	state_put_u16(w, n->config.status);
	state_section_end_write(w);
}

static int net_load(struct virtio_dev *vdev, struct state_reader *r)
{
	static const uint8_t zero[6];
	struct net *n = net_from(vdev);
	uint8_t mac[6];
	uint16_t status;
	uint32_t version;
	bool active;
	int ret;

	state_section_begin_read(r, NET_STATE_TAG, NET_STATE_VERSION, &version);
	state_get_bytes(r, mac, sizeof(mac));
	status = state_get_u16(r);
	if ((mac[0] & 1) || !memcmp(mac, zero, sizeof(mac)))
		state_reader_fail(r, "a MAC that is not a unicast address");
	if (status & ~VIRTIO_NET_S_LINK_UP)
		state_reader_fail(r, "link status bits the device never sets");
	ret = state_section_end(r);
	if (ret)
		return ret;
	/* What net_activate set up (a failed activation left NEEDS_RESET and active clear). */
	active =
	    (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	if (active && n->is_tap && !n->tap_gone) {
		ret = tap_set_offload(n->fd, net_offloads(vdev->driver_features));
		if (ret) {
			log_error("%s: tap %s: cannot set offloads: %s", n->name, n->tap_name,
				  strerror(-ret));
			return ret;
		}
	}
	memcpy(n->config.mac, mac, sizeof(mac));
	/* The link status stays this host's (the tap is); a difference is not signalled. */
	n->mrg_rxbuf = vdev->driver_features & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	n->active = active;
	return 0;
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
	.destroy = net_destroy,
	.save = net_save,
	.load = net_load,
};

static int net_mac_init(struct net *n, const struct virtio_net_config *cfg)
{
	static const uint8_t zero[6];

	if (cfg->has_mac) {
		/* Bit 0 of the first byte is the group bit: a multicast address cannot be a NIC's.
		 */
		if ((cfg->mac[0] & 1) || !memcmp(cfg->mac, zero, 6)) {
			log_error("%s: mac %02x:%02x:%02x:%02x:%02x:%02x is not a unicast address",
				  n->name, cfg->mac[0], cfg->mac[1], cfg->mac[2], cfg->mac[3],
				  cfg->mac[4], cfg->mac[5]);
			return -EINVAL;
		}
		memcpy(n->config.mac, cfg->mac, 6);
		return 0;
	}
	/* QEMU's locally administered prefix, random tail: distinct guests on one bridge. */
	n->config.mac[0] = 0x52;
	n->config.mac[1] = 0x54;
	n->config.mac[2] = 0x00;
	if (getrandom(&n->config.mac[3], 3, 0) != 3)
		return -EIO;
	return 0;
}

int virtio_net_create_fd(struct virtio_dev **out, const struct guest_mem *gm,
			 const struct virtio_net_config *cfg, int fd, bool is_tap)
{
	struct net *n;
	int err;

	n = calloc(1, sizeof(*n));
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	n->fd = fd;
	n->is_tap = is_tap;
	snprintf(n->name, sizeof(n->name), "%s", cfg->name ? cfg->name : "virtio-net");
	snprintf(n->tap_name, sizeof(n->tap_name), "%s", cfg->tap_name ? cfg->tap_name : "?");
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->spill = malloc(NET_SPILL_LEN);
	err = n->spill ? net_mac_init(n, cfg) : -ENOMEM;
	if (err)
		goto err_free;
	err = virtio_dev_init(&n->vdev, &net_ops, n->name, VIRTIO_ID_NET, NET_FEATURES,
			      sizeof(n->config), 2, VIRTIO_NET_QUEUE_SIZE, gm);
	if (err) {
		log_error("%s: cannot create the device: %s", n->name, strerror(-err));
		goto err_free;
	}
	n->vdev.priv = n;
	*out = &n->vdev;
	return 0;

err_free:
	close(fd);
	free(n->spill);
	free(n);
	return err;
}

int virtio_net_create(struct virtio_dev **out, const struct guest_mem *gm,
		      const struct virtio_net_config *cfg)
{
	char ifname[IFNAMSIZ];
	struct virtio_net_config c = *cfg;
	int fd;

	fd = tap_open(cfg->tap_name, NET_HDR_LEN, ifname);
	if (fd < 0)
		return fd;
	c.tap_name = ifname;
	return virtio_net_create_fd(out, gm, &c, fd, true);
}
