/* The virtio device core: features, the status machine, config space, kicks and interrupts. */
#include "virtio/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "snapshot/state.h"

#define VIRTIO_MSI_NO_VECTOR VIRTQ_NO_VECTOR
#define VIRTIO_STATE_TAG STATE_TAG('V', 'D', 'E', 'V')
#define VIRTIO_STATE_VERSION 1
#define VIRTIO_CORE_FEATURES                                                                       \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) |                         \
	 (1ull << VIRTIO_F_EVENT_IDX))

/* A queue's eventfd fired (KVM ioeventfd or virtio_queue_kick). Runs on the device's I/O thread. */
static void virtio_kick_cb(void *opaque, int fd, uint32_t events)
{
	struct virtio_dev *vdev = opaque;
	struct virtq *vq;
	uint64_t count = 0;
	unsigned q;

	(void)events;
	/* One read drains every kick so far: the device then looks at the whole ring anyway. */
	if (read(fd, &count, sizeof(count)) < 0) {
		count = 0;
		if (errno != EAGAIN)
			log_warn("%s: kick eventfd: %s", vdev->name, strerror(errno));
	}
	for (q = 0; q < vdev->nqueues && vdev->kick_fds[q] != fd; q++)
		;
	if (q == vdev->nqueues)
		return;
	vq = &vdev->vqs[q];
	pthread_mutex_lock(&vdev->lock);
	/* A kick before DRIVER_OK or after a reset is the guest's mistake (or a stale eventfd
	 * count): there is nothing valid to process, so it is dropped. */
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vq->ready && !vq->broken &&
	    vdev->ops->queue_notify) {
		/* The eventfd counted every notification since the last wakeup (the driver's, and
		 * the device's own re-kicks when it yields). */
		__atomic_fetch_add(&vdev->stats.kicks, count, __ATOMIC_RELAXED);
		vdev->ops->queue_notify(vdev, q);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void virtio_queue_defaults(struct virtq *vq)
{
	virtq_reset(vq);
	vq->size = vq->max_size;
	vq->ready = false;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
	vq->event_idx = false;
	vq->indirect = false;
}

int virtio_dev_init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, const char *name,
		    uint32_t device_id, uint64_t features, uint32_t config_size, unsigned nqueues,
		    uint16_t queue_max, const struct guest_mem *mem)
{
	int ret;

	if (!ops || !mem || !nqueues || !queue_max || (queue_max & (queue_max - 1)) ||
	    queue_max > VIRTQ_MAX_SIZE)
		return -EINVAL;
	vdev->ops = ops;
	vdev->name = name ? name : "virtio";
	vdev->device_id = device_id;
	vdev->host_features = features | VIRTIO_CORE_FEATURES;
	vdev->driver_features = 0;
	vdev->config_size = config_size;
	vdev->status = 0;
	vdev->config_generation = 0;
	vdev->nqueues = nqueues;
	vdev->mem = mem;
	vdev->loop = NULL;
	vdev->transport_ops = NULL;
	vdev->transport = NULL;
	vdev->stats = (struct virtio_dev_stats){ 0 };
	vdev->vqs = calloc(nqueues, sizeof(*vdev->vqs));
	vdev->kick_fds = malloc(nqueues * sizeof(*vdev->kick_fds));
	if (!vdev->vqs || !vdev->kick_fds) {
		free(vdev->vqs);
		free(vdev->kick_fds);
		return -ENOMEM;
	}
	for (unsigned q = 0; q < nqueues; q++) {
		vdev->vqs[q].max_size = queue_max;
		virtio_queue_defaults(&vdev->vqs[q]);
		vdev->kick_fds[q] = -1;
	}
	pthread_mutex_init(&vdev->lock, NULL);
	for (unsigned q = 0; q < nqueues; q++) {
		/* Non-blocking: the callback's read must never stall the I/O thread. */
		vdev->kick_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vdev->kick_fds[q] < 0) {
			ret = -errno;
			goto err;
		}
	}
	ret = event_loop_create(&vdev->loop, vdev->name);
	if (ret)
		goto err;
	for (unsigned q = 0; q < nqueues; q++) {
		ret = event_loop_add(vdev->loop, vdev->kick_fds[q], EPOLLIN, virtio_kick_cb, vdev);
		if (ret)
			goto err;
	}
	return 0;
err:
	virtio_dev_cleanup(vdev);
	return ret;
}

void virtio_dev_cleanup(struct virtio_dev *vdev)
{
	/* The I/O thread goes first: after this no callback can touch what is freed below. */
	event_loop_destroy(vdev->loop);
	vdev->loop = NULL;
	if (vdev->kick_fds)
		for (unsigned q = 0; q < vdev->nqueues; q++)
			if (vdev->kick_fds[q] >= 0)
				close(vdev->kick_fds[q]);
	free(vdev->kick_fds);
	free(vdev->vqs);
	vdev->kick_fds = NULL;
	vdev->vqs = NULL;
	vdev->nqueues = 0;
	pthread_mutex_destroy(&vdev->lock);
}

int virtio_dev_quiesce(struct virtio_dev *vdev)
{
	int ret = event_loop_pause(vdev->loop);

	if (ret)
		return ret;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->quiesce)
		vdev->ops->quiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

void virtio_dev_resume(struct virtio_dev *vdev)
{
	bool live;

	event_loop_resume(vdev->loop);
	pthread_mutex_lock(&vdev->lock);
	live = vdev->status & VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned q = 0; live && q < vdev->nqueues; q++)
		virtio_queue_kick(vdev, q);
}

void virtio_dev_save(struct virtio_dev *vdev, struct state_writer *w)
{
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		/* Their completions would be lost: the driver would wait for them forever. */
		if (virtq_in_flight(&vdev->vqs[q])) {
			log_error("%s: queue %u has %u requests in flight: not saved (quiesce "
				  "first)",
				  vdev->name, q, virtq_in_flight(&vdev->vqs[q]));
			state_writer_fail(w, -EBUSY);
			goto out;
		}
	}
	state_section_begin(w, VIRTIO_STATE_TAG, VIRTIO_STATE_VERSION);
	state_put_u32(w, vdev->device_id);
	state_put_u64(w, vdev->host_features);
	state_put_u64(w, vdev->driver_features);
	state_put_u8(w, vdev->status);
	state_put_u8(w, vdev->config_generation);
	state_put_u32(w, vdev->nqueues);
	for (unsigned q = 0; q < vdev->nqueues; q++)
		virtq_save(&vdev->vqs[q], w);
	state_section_end_write(w);
	if (vdev->ops->save)
		vdev->ops->save(vdev, w);
	else
		state_writer_fail(w, -EOPNOTSUPP);
out:
	pthread_mutex_unlock(&vdev->lock);
}

/* The common state being loaded, checked whole before it replaces the device's. */
struct virtio_dev_state {
	uint64_t driver_features;
	uint8_t status;
	uint8_t config_generation;
	struct virtq *vqs;
};

static void virtio_state_swap(struct virtio_dev *vdev, struct virtio_dev_state *s)
{
	struct virtio_dev_state old = { vdev->driver_features, vdev->status,
					vdev->config_generation, NULL };

	vdev->driver_features = s->driver_features;
	vdev->status = s->status;
	vdev->config_generation = s->config_generation;
	s->driver_features = old.driver_features;
	s->status = old.status;
	s->config_generation = old.config_generation;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtq t = vdev->vqs[q];

		vdev->vqs[q] = s->vqs[q];
		s->vqs[q] = t;
	}
}

/* The status and features a driver can leave behind (virtio_status_write's rules). */
static void virtio_state_check(const struct virtio_dev *vdev, const struct virtio_dev_state *s,
			       struct state_reader *r)
{
	uint64_t f = s->driver_features;

	if ((s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK))
		state_reader_fail(r, "DRIVER_OK without FEATURES_OK");
	/* Before FEATURES_OK the driver may have written any bits; they are checked then. */
	if ((s->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((f & ~vdev->host_features) || !(f & (1ull << VIRTIO_F_VERSION_1))))
		state_reader_fail(r, "accepted features the device does not offer");
}

int virtio_dev_load(struct virtio_dev *vdev, struct state_reader *r, unsigned msix_vectors)
{
	struct virtio_dev_state s = { 0 };
	uint32_t version;
	int ret;

	s.vqs = calloc(vdev->nqueues, sizeof(*s.vqs));
	if (!s.vqs)
		return -ENOMEM;
	/* Held throughout: register writes and the I/O thread see the old state or the new. */
	pthread_mutex_lock(&vdev->lock);
	/* A driver is using it: restoring under it would pull its rings away. */
	if (vdev->status) {
		ret = -EBUSY;
		goto out;
	}
	state_section_begin_read(r, VIRTIO_STATE_TAG, VIRTIO_STATE_VERSION, &version);
	if (state_get_u32(r) != vdev->device_id)
		state_reader_fail(r, "a different virtio device type");
	if (state_get_u64(r) != vdev->host_features)
		state_reader_fail(r, "the device offers other features than the snapshot's");
	s.driver_features = state_get_u64(r);
	s.status = state_get_u8(r);
	s.config_generation = state_get_u8(r);
	if (state_get_u32(r) != vdev->nqueues)
		state_reader_fail(r, "a different number of queues");
	for (unsigned q = 0; q < vdev->nqueues && state_reader_ok(r); q++) {
		virtq_load(&s.vqs[q], &vdev->vqs[q], r, vdev->mem, msix_vectors);
		/* What virtio_status_write sets at DRIVER_OK, from the features it then had. */
		s.vqs[q].event_idx = (s.status & VIRTIO_STATUS_DRIVER_OK) &&
				     (s.driver_features & (1ull << VIRTIO_F_EVENT_IDX));
		s.vqs[q].indirect = (s.status & VIRTIO_STATUS_DRIVER_OK) &&
				    (s.driver_features & (1ull << VIRTIO_F_INDIRECT_DESC));
	}
	if (state_reader_ok(r))
		virtio_state_check(vdev, &s, r);
	ret = state_section_end(r);
	if (ret)
		goto out;
	virtio_state_swap(vdev, &s);
	if (!vdev->ops->load)
		state_reader_fail(r, "the device model keeps no state");
	ret = vdev->ops->load ? vdev->ops->load(vdev, r) : -EINVAL;
	if (!ret && !state_reader_ok(r))
		ret = -EINVAL; /* a hook that forgot to say */
	if (ret)
		virtio_state_swap(vdev, &s); /* s holds the device's own state again */
out:
	pthread_mutex_unlock(&vdev->lock);
	free(s.vqs);
	return ret;
}

uint32_t virtio_features_read(struct virtio_dev *vdev, unsigned select)
{
	uint64_t f = vdev->host_features; /* constant after init: no lock needed */

	return select == 0 ? (uint32_t)f : select == 1 ? (uint32_t)(f >> 32) : 0;
}

void virtio_features_write(struct virtio_dev *vdev, unsigned select, uint32_t value)
{
	pthread_mutex_lock(&vdev->lock);
	/* After FEATURES_OK the negotiated set is fixed (3.1.1); later writes are ignored. */
	if (vdev->status & VIRTIO_STATUS_FEATURES_OK)
		log_guest("%s: driver features written after FEATURES_OK; ignored", vdev->name);
	else if (select == 0)
		vdev->driver_features = (vdev->driver_features & ~0xffffffffull) | value;
	else if (select == 1)
		vdev->driver_features =
		    (vdev->driver_features & 0xffffffffull) | ((uint64_t)value << 32);
	/* Higher selects name no feature bits we offer; a non-zero write there is refused at
	 * FEATURES_OK time only if it named bits, and it cannot, so it is simply dropped. */
	pthread_mutex_unlock(&vdev->lock);
}

/* Device reset (status 0): what 2.4 asks the device to forget. vdev->lock held. */
static void virtio_reset_locked(struct virtio_dev *vdev)
{
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned q = 0; q < vdev->nqueues; q++)
		virtio_queue_defaults(&vdev->vqs[q]);
	vdev->driver_features = 0;
	vdev->status = 0;
}

static void virtio_needs_reset_locked(struct virtio_dev *vdev, const char *why)
{
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return; /* already told the driver (and the log) */
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	/* One error per episode: a broken ring, an unwritable used ring, a failed activation. */
	__atomic_fetch_add(&vdev->stats.errors, 1, __ATOMIC_RELAXED);
	log_guest("%s: %s; the device needs a reset", vdev->name, why);
	if (vdev->transport_ops && vdev->transport_ops->notify_config) {
		__atomic_fetch_add(&vdev->stats.interrupts, 1, __ATOMIC_RELAXED);
		vdev->transport_ops->notify_config(vdev->transport);
	}
}

/* FEATURES_OK: accept only a subset of what we offered, and only modern (VERSION_1) drivers. */
static bool virtio_features_ok(struct virtio_dev *vdev)
{
	if (vdev->driver_features & ~vdev->host_features) {
		log_guest("%s: driver accepted features 0x%llx that were not offered", vdev->name,
			  (unsigned long long)(vdev->driver_features & ~vdev->host_features));
		return false;
	}
	if (!(vdev->driver_features & (1ull << VIRTIO_F_VERSION_1))) {
		log_guest("%s: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not "
			  "supported)",
			  vdev->name);
		return false;
	}
	return true;
}

void virtio_status_write(struct virtio_dev *vdev, uint8_t status)
{
	uint8_t old, added;
	int ret;

	pthread_mutex_lock(&vdev->lock);
	if (!status) {
		virtio_reset_locked(vdev);
		goto out;
	}
	old = vdev->status;
	/* NEEDS_RESET belongs to the device: the driver may write back what it read. */
	status =
	    (uint8_t)((status & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
	if (old & ~status) {
		/* Only a reset clears bits (2.1.2); anything else would undo negotiation. */
		log_guest("%s: status 0x%x -> 0x%x clears bits without a reset; ignored",
			  vdev->name, old, status);
		goto out;
	}
	added = status & ~old;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !virtio_features_ok(vdev)) {
		/* The driver reads status back, sees no FEATURES_OK and gives up (3.1.1). */
		status &= ~VIRTIO_STATUS_FEATURES_OK;
		added &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK)) {
		log_guest("%s: DRIVER_OK without FEATURES_OK; ignored", vdev->name);
		status &= ~VIRTIO_STATUS_DRIVER_OK;
		added &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	vdev->status = status;
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		bool event_idx = vdev->driver_features & (1ull << VIRTIO_F_EVENT_IDX);
		bool indirect = vdev->driver_features & (1ull << VIRTIO_F_INDIRECT_DESC);

		for (unsigned q = 0; q < vdev->nqueues; q++) {
			vdev->vqs[q].event_idx = event_idx;
			vdev->vqs[q].indirect = indirect;
		}
		ret = vdev->ops->activate ? vdev->ops->activate(vdev) : 0;
		if (ret < 0) {
			virtio_needs_reset_locked(vdev, "device activation failed");
		} else {
			/*
			 * Some drivers queue buffers (and kick, which we drop) before DRIVER_OK;
			 * one kick per ready queue makes the device look at what is there.
			 */
			for (unsigned q = 0; q < vdev->nqueues; q++)
				if (vdev->vqs[q].ready)
					virtio_queue_kick(vdev, q);
		}
	}
out:
	pthread_mutex_unlock(&vdev->lock);
}

uint8_t virtio_status_read(struct virtio_dev *vdev)
{
	uint8_t s;

	pthread_mutex_lock(&vdev->lock);
	s = vdev->status;
	pthread_mutex_unlock(&vdev->lock);
	return s;
}

/* off + len inside the config space, without an addition that could wrap. */
static bool virtio_config_in_range(const struct virtio_dev *vdev, uint32_t off, unsigned len)
{
	return len && len <= 8 && off <= vdev->config_size && len <= vdev->config_size - off;
}

void virtio_config_read(struct virtio_dev *vdev, uint32_t off, void *data, unsigned len)
{
	memset(data, 0, len);
	if (!virtio_config_in_range(vdev, off, len)) {
		log_guest("%s: config read of %u bytes at 0x%x outside its %u bytes", vdev->name,
			  len, off, vdev->config_size);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->config_read)
		vdev->ops->config_read(vdev, off, data, len);
	pthread_mutex_unlock(&vdev->lock);
}

void virtio_config_write(struct virtio_dev *vdev, uint32_t off, const void *data, unsigned len)
{
	if (!virtio_config_in_range(vdev, off, len)) {
		log_guest("%s: config write of %u bytes at 0x%x outside its %u bytes", vdev->name,
			  len, off, vdev->config_size);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->config_write)
		vdev->ops->config_write(vdev, off, data, len);
	pthread_mutex_unlock(&vdev->lock);
}

void virtio_queue_kick(struct virtio_dev *vdev, unsigned q)
{
	uint64_t one = 1;

	if (q >= vdev->nqueues) {
		log_guest("%s: notify for queue %u of %u", vdev->name, q, vdev->nqueues);
		return;
	}
	/* EAGAIN only if the counter is about to overflow: a kick is pending anyway. */
	if (write(vdev->kick_fds[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: kick eventfd: %s", vdev->name, strerror(errno));
}

void virtio_notify(struct virtio_dev *vdev, unsigned q)
{
	if (q >= vdev->nqueues)
		return;
	if (virtq_should_notify(&vdev->vqs[q], vdev->mem) && vdev->transport_ops &&
	    vdev->transport_ops->notify_queue) {
		__atomic_fetch_add(&vdev->stats.interrupts, 1, __ATOMIC_RELAXED);
		vdev->transport_ops->notify_queue(vdev->transport, q);
	}
}

void virtio_needs_reset(struct virtio_dev *vdev, const char *why)
{
	virtio_needs_reset_locked(vdev, why);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	if (vdev->transport_ops && vdev->transport_ops->notify_config) {
		__atomic_fetch_add(&vdev->stats.interrupts, 1, __ATOMIC_RELAXED);
		vdev->transport_ops->notify_config(vdev->transport);
	}
}
