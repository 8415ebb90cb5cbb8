/* virtio-rng: each device-writable buffer the driver offers is filled from getrandom(). */
#include "virtio/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "snapshot/state.h"

#define VIRTIO_RNG_STATE_TAG STATE_TAG('V', 'R', 'N', 'G')
#define VIRTIO_RNG_STATE_VERSION 1

struct virtio_rng {
	struct virtio_dev vdev;
	char name[32];
	struct virtq_elem elem; /* reused for every request: nothing is allocated per request */
};

/* Fill up to max bytes of the chain's writable buffers; returns the bytes written. */
static uint32_t virtio_rng_fill(const struct virtq_elem *elem, size_t max)
{
	size_t done = 0;

	for (unsigned i = 0; i < elem->in_num && done < max; i++) {
		size_t want = elem->in[i].iov_len, got = 0;

		if (want > max - done)
			want = max - done;
		while (got < want) {
			/* Flags 0: the host pool is initialised long before a guest runs; the I/O
			 * thread blocks every signal, so EINTR is not expected but retried. */
			ssize_t n = getrandom((char *)elem->in[i].iov_base + got, want - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				log_warn("virtio-rng: getrandom: %s", strerror(errno));
				return (uint32_t)(done + got);
			}
			got += (size_t)n;
		}
		done += got;
	}
	return (uint32_t)done;
}

static void virtio_rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *rng = vdev->priv;
	struct virtq *vq = &vdev->vqs[q];
	bool pushed = false;
	unsigned n;

	for (n = 0; n < VIRTIO_RNG_MAX_REQS_PER_KICK; n++) {
		int ret = virtq_pop(vq, vdev->mem, &rng->elem);
		uint32_t written;

		if (!ret)
			break;
		if (ret < 0) {
			virtio_needs_reset(vdev, "malformed request queue");
			break;
		}
		/* Device-readable buffers carry nothing for this device: ignored (5.4.6.1). */
		written = virtio_rng_fill(&rng->elem, VIRTIO_RNG_MAX_REQ_BYTES);
		__atomic_fetch_add(&vdev->stats.requests, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&vdev->stats.bytes_in, written, __ATOMIC_RELAXED);
		if (virtq_push(vq, vdev->mem, rng->elem.head, written)) {
			virtio_needs_reset(vdev, "cannot return a request");
			break;
		}
		pushed = true;
	}
	if (pushed)
		virtio_notify(vdev, q);
	/* Budget spent with requests possibly left: come back after the loop's other fds. With
	 * event idx the driver will not kick for what it already queued. */
	if (n == VIRTIO_RNG_MAX_REQS_PER_KICK)
		virtio_queue_kick(vdev, q);
}

static int virtio_rng_activate(struct virtio_dev *vdev)
{
	(void)vdev;
	return 0;
}

static void virtio_rng_reset(struct virtio_dev *vdev)
{
	(void)vdev; /* requests complete synchronously: nothing is in flight */
}

static void virtio_rng_destroy(struct virtio_dev *vdev)
{
	struct virtio_rng *rng = vdev->priv;

	virtio_dev_cleanup(vdev);
	free(rng);
}

/* Nothing beyond the common state (requests complete inside one kick): an empty section. */
static void virtio_rng_save(const struct virtio_dev *vdev, struct state_writer *w)
{
	(void)vdev;
	state_section_begin(w, VIRTIO_RNG_STATE_TAG, VIRTIO_RNG_STATE_VERSION);
	state_section_end_write(w);
}

static int virtio_rng_load(struct virtio_dev *vdev, struct state_reader *r)
{
	uint32_t version;

	(void)vdev;
	state_section_begin_read(r, VIRTIO_RNG_STATE_TAG, VIRTIO_RNG_STATE_VERSION, &version);
	return state_section_end(r);
}

static const struct virtio_dev_ops virtio_rng_ops = {
	.activate = virtio_rng_activate,
	.reset = virtio_rng_reset,
	.queue_notify = virtio_rng_queue_notify,
	.destroy = virtio_rng_destroy,
	.save = virtio_rng_save,
	.load = virtio_rng_load,
};

int virtio_rng_create(struct virtio_dev **out, const struct guest_mem *gm, const char *name)
{
	struct virtio_rng *rng;
	int ret;

	rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	snprintf(rng->name, sizeof(rng->name), "%s", name ? name : "virtio-rng");
	rng->vdev.priv = rng;
	ret = virtio_dev_init(&rng->vdev, &virtio_rng_ops, rng->name, VIRTIO_ID_RNG, 0, 0, 1,
			      VIRTIO_RNG_QUEUE_SIZE, gm);
	if (ret) {
		free(rng);
		return ret;
	}
	*out = &rng->vdev;
	return 0;
}
