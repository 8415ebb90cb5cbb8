/* virtio-console (device id 3): one port (hvc0) between the guest and host fds or a feeder. */
#include "virtio/console.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "snapshot/state.h"

/* Chains per wakeup, so a chatty guest cannot starve the rest of the loop. */
#define VCON_BUDGET 256
/* How long a non-blocking out_fd may stay full before guest output is dropped. */
#define VCON_OUT_WAIT_MS 1000
#define VCON_STATE_TAG STATE_TAG('V', 'C', 'O', 'N')
#define VCON_STATE_VERSION 1

struct vcon {
	struct virtio_dev vdev;
	char name[32];
	int in_fd;
	int out_fd;
	struct virtio_console_dev_config config;

	/* Protected by vdev.lock. */
	bool active;
	bool in_watching;   /* in_fd registered in vdev.loop; only the I/O thread changes it */
	bool in_done;	    /* end of file or a read error on in_fd: never watched again */
	bool out_failed;    /* a write error was logged; guest output is dropped quietly since */
	bool input_blocked; /* virtio_console_input ran out of buffers: call ready when some come */
	void (*ready)(void *opaque);
	void *ready_opaque;
	struct virtq_elem elem;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

static struct vcon *vcon_from(struct virtio_dev *vdev)
{
	return vdev->priv;
}

static void vcon_broken(struct vcon *c, const char *why)
{
	c->active = false;
	virtio_needs_reset(&c->vdev, why);
}

static void vcon_push(struct vcon *c, unsigned q, uint16_t head, uint32_t written)
{
	if (virtq_push(&c->vdev.vqs[q], c->vdev.mem, head, written) < 0)
		vcon_broken(c, "used ring unwritable");
}

/* Yield with work left: our own kick brings queue_notify back after the loop's other fds. */
static void vcon_requeue(struct vcon *c, unsigned q)
{
	uint64_t one = 1;

	if (write(c->vdev.kick_fds[q], &one, sizeof(one)) < 0)
		log_debug("%s: cannot re-kick queue %u", c->name, q);
}

/* ---- output: guest -> out_fd ---- */

/* Write all of iov (copied to c->iov, consumed as it goes); short writes and EAGAIN retried. */
static void vcon_output(struct vcon *c, const struct iovec *iov, unsigned n)
{
	struct iovec *v = c->iov;

	if (c->out_fd < 0 || c->out_failed || !n)
		return;
	memcpy(v, iov, n * sizeof(*iov));
	while (n) {
		ssize_t w = writev(c->out_fd, v, (int)n);

		if (w < 0) {
			struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			/* A full non-blocking terminal or pipe: wait a little, then give up. */
			if (errno == EAGAIN && poll(&p, 1, VCON_OUT_WAIT_MS) > 0)
				continue;
			log_warn("%s: output stopped: %s", c->name,
				 errno == EAGAIN ? "the reader does not keep up" : strerror(errno));
			c->out_failed = true;
			return;
		}
		while (n && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
}

static void vcon_tx(struct vcon *c)
{
	struct virtq *vq = &c->vdev.vqs[VIRTIO_CONSOLE_QUEUE_TX];
	unsigned done = 0;
	int r;

	while (c->active && done < VCON_BUDGET) {
		r = virtq_pop(vq, c->vdev.mem, &c->elem);
		if (r < 0)
			vcon_broken(c, "malformed transmitq");
		if (r <= 0)
			break;
		/* Device-writable parts of a transmit chain are ignored: nothing is written back.
		 */
		vcon_output(c, c->elem.out, c->elem.out_num);
		__atomic_fetch_add(&c->vdev.stats.requests, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->vdev.stats.bytes_out, c->elem.out_len, __ATOMIC_RELAXED);
		vcon_push(c, VIRTIO_CONSOLE_QUEUE_TX, c->elem.head, 0);
		done++;
	}
	if (done)
		virtio_notify(&c->vdev, VIRTIO_CONSOLE_QUEUE_TX);
	if (c->active && done == VCON_BUDGET)
		vcon_requeue(c, VIRTIO_CONSOLE_QUEUE_TX);
}

/* ---- input: in_fd or virtio_console_input -> guest ---- */

static void vcon_in_ready(void *opaque, int fd, uint32_t events);

/* Only the I/O thread registers or removes in_fd, so this never waits on a running callback. */
static void vcon_in_watch(struct vcon *c, bool on)
{
	if (on == c->in_watching)
		return;
	if (on) {
		if (event_loop_add(c->vdev.loop, c->in_fd, EPOLLIN, vcon_in_ready, c) < 0) {
			log_warn("%s: cannot watch the input fd: input stopped", c->name);
			c->in_done = true;
			return;
		}
	} else {
		event_loop_del(c->vdev.loop, c->in_fd);
	}
	c->in_watching = on;
}

static void vcon_in_ready(void *opaque, int fd, uint32_t events)
{
	struct vcon *c = opaque;
	struct virtq *vq = &c->vdev.vqs[VIRTIO_CONSOLE_QUEUE_RX];
	ssize_t r;
	int pr;

	(void)fd, (void)events;
	pthread_mutex_lock(&c->vdev.lock);
	if (!c->active || c->in_done)
		goto unwatch;
	pr = virtq_pop(vq, c->vdev.mem, &c->elem);
	if (pr < 0) {
		vcon_broken(c, "malformed receiveq");
		goto unwatch;
	}
	if (pr == 0)
		goto unwatch; /* queue_notify on the receiveq watches again */
	if (!c->elem.in_num) {
		log_guest("%s: receive buffer without writable space", c->name);
		__atomic_fetch_add(&c->vdev.stats.errors, 1, __ATOMIC_RELAXED);
		r = 0;
	} else {
		/* One read per wakeup: after EPOLLIN it does not block, even on a blocking fd. */
		r = readv(c->in_fd, c->elem.in, (int)c->elem.in_num);
		if (r <= 0) {
			/* Give the chain back: the driver cannot reuse it before we push it. */
			virtq_unpop(vq, 1);
			if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				log_info("%s: input %s: no more host input", c->name,
					 r == 0 ? "closed" : strerror(errno));
				c->in_done = true;
				goto unwatch;
			}
			pthread_mutex_unlock(&c->vdev.lock);
			return;
		}
	}
	__atomic_fetch_add(&c->vdev.stats.requests, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->vdev.stats.bytes_in, (uint64_t)r, __ATOMIC_RELAXED);
	vcon_push(c, VIRTIO_CONSOLE_QUEUE_RX, c->elem.head, (uint32_t)r);
	virtio_notify(&c->vdev, VIRTIO_CONSOLE_QUEUE_RX);
	pthread_mutex_unlock(&c->vdev.lock);
	return;

unwatch:
	vcon_in_watch(c, false);
	pthread_mutex_unlock(&c->vdev.lock);
}

size_t virtio_console_input(struct virtio_dev *vdev, const uint8_t *buf, size_t len)
{
	struct vcon *c = vcon_from(vdev);
	struct virtq *vq = &vdev->vqs[VIRTIO_CONSOLE_QUEUE_RX];
	size_t done = 0;
	bool pushed = false;

	pthread_mutex_lock(&vdev->lock);
	while (c->active && done < len) {
		size_t n;
		int r = virtq_pop(vq, vdev->mem, &c->elem);

		if (r < 0)
			vcon_broken(c, "malformed receiveq");
		if (r <= 0)
			break;
		n = virtq_iov_from_buf(c->elem.in, c->elem.in_num, 0, buf + done, len - done);
		if (!n) {
			log_guest("%s: receive buffer without writable space", c->name);
			__atomic_fetch_add(&vdev->stats.errors, 1, __ATOMIC_RELAXED);
		}
		__atomic_fetch_add(&vdev->stats.requests, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&vdev->stats.bytes_in, n, __ATOMIC_RELAXED);
		vcon_push(c, VIRTIO_CONSOLE_QUEUE_RX, c->elem.head, (uint32_t)n);
		pushed = true;
		done += n;
	}
	if (pushed)
		virtio_notify(vdev, VIRTIO_CONSOLE_QUEUE_RX);
	if (done < len)
		c->input_blocked = true;
	pthread_mutex_unlock(&vdev->lock);
	return done;
}

void virtio_console_set_input_ready(struct virtio_dev *vdev, void (*ready)(void *opaque),
				    void *opaque)
{
	struct vcon *c = vcon_from(vdev);

	pthread_mutex_lock(&vdev->lock);
	c->ready = ready;
	c->ready_opaque = opaque;
	pthread_mutex_unlock(&vdev->lock);
}

/* ---- virtio_dev_ops ---- */

static void vcon_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len)
{
	memcpy(data, (const uint8_t *)&vcon_from(vdev)->config + off, len);
}

static void vcon_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len)
{
	struct vcon *c = vcon_from(vdev);
	struct iovec iov;

	/* EMERG_WRITE: the low byte written to emerg_wr goes out at once, even before DRIVER_OK. */
	if (off == offsetof(struct virtio_console_dev_config, emerg_wr) && len >= 1) {
		iov = (struct iovec){ (void *)data, 1 };
		vcon_output(c, &iov, 1);
	}
}

static int vcon_activate(struct virtio_dev *vdev)
{
	struct vcon *c = vcon_from(vdev);

	c->active = true;
	/* Start reading in_fd from the I/O thread, which alone registers it. */
	if (c->in_fd >= 0)
		vcon_requeue(c, VIRTIO_CONSOLE_QUEUE_RX);
	return 0;
}

static void vcon_reset(struct virtio_dev *vdev)
{
	/* in_fd stays registered until its callback sees this: event_loop_del could wait here
	 * for a callback that is itself waiting for the lock we hold. */
	vcon_from(vdev)->active = false;
}

static void vcon_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct vcon *c = vcon_from(vdev);

	if (q == VIRTIO_CONSOLE_QUEUE_TX) {
		vcon_tx(c);
		return;
	}
	if (q != VIRTIO_CONSOLE_QUEUE_RX)
		return;
	if (c->in_fd >= 0)
		vcon_in_watch(c, c->active && !c->in_done);
	if (c->active && c->input_blocked) {
		c->input_blocked = false;
		if (c->ready)
			c->ready(c->ready_opaque);
	}
}

static void vcon_destroy(struct virtio_dev *vdev)
{
	/* Stops the I/O thread first: no callback runs on in_fd after this. The fds are not ours.
	 */
	virtio_dev_cleanup(vdev);
	free(vcon_from(vdev));
}

/*
 * The config space, all of it read-only (an emergency write goes straight out and leaves
 * nothing behind): saved so that a console set up otherwise is refused. Host-side state (end of
 * input, a failed output, input the feeder still holds) belongs to the fds of this process.
 */
static void vcon_save(const struct virtio_dev *vdev, struct state_writer *w)
{
	const struct vcon *c = vdev->priv;

	state_section_begin(w, VCON_STATE_TAG, VCON_STATE_VERSION);
	state_put_bytes(w, &c->config, sizeof(c->config));
	state_section_end_write(w);
}

static int vcon_load(struct virtio_dev *vdev, struct state_reader *r)
{
	struct vcon *c = vcon_from(vdev);
	struct virtio_console_dev_config cfg;
	uint32_t version;
	int ret;

	state_section_begin_read(r, VCON_STATE_TAG, VCON_STATE_VERSION, &version);
	state_get_bytes(r, &cfg, sizeof(cfg));
	if (memcmp(&cfg, &c->config, sizeof(cfg)))
		state_reader_fail(r, "a console with another configuration");
	ret = state_section_end(r);
	if (ret)
		return ret;
	/* What vcon_activate set (vcon_broken clears it with NEEDS_RESET). */
	c->active =
	    (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	return 0;
}

static const struct virtio_dev_ops vcon_ops = {
	.config_read = vcon_config_read,
	.config_write = vcon_config_write,
	.activate = vcon_activate,
	.reset = vcon_reset,
	.queue_notify = vcon_queue_notify,
	.destroy = vcon_destroy,
	.save = vcon_save,
	.load = vcon_load,
};

int virtio_console_create(struct virtio_dev **out, const struct guest_mem *gm, int in_fd,
			  int out_fd, const char *name)
{
	struct vcon *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "virtio-console");
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	err = virtio_dev_init(&c->vdev, &vcon_ops, c->name, VIRTIO_ID_CONSOLE,
			      1ull << VIRTIO_CONSOLE_F_EMERG_WRITE, sizeof(c->config), 2,
			      VIRTIO_CONSOLE_QUEUE_SIZE, gm);
	if (err) {
		log_error("%s: cannot create the device: %s", c->name, strerror(-err));
		free(c);
		return err;
	}
	c->vdev.priv = c;
	*out = &c->vdev;
	return 0;
}
