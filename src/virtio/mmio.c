/* virtio-mmio v2 transport: the register file, queue setup and the level interrupt. */
#include "virtio/mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot/state.h"

#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION_2 2
/* QEMU's vendor id: nothing in Linux checks it, and tools that print it recognise it. */
#define VIRTIO_MMIO_VENDOR 0x554d4551

#define VIRTIO_MMIO_STATE_TAG STATE_TAG('V', 'M', 'M', 'I')
#define VIRTIO_MMIO_STATE_VERSION 1

/* Drive the line from interrupt_status; irq_lock held. */
static void virtio_mmio_irq_update(struct virtio_mmio *m)
{
	bool level = m->interrupt_status != 0;

	if (level != m->irq_level) {
		m->irq_level = level;
		irq_line_set(&m->irq, level);
	}
}

static void virtio_mmio_raise(struct virtio_mmio *m, uint32_t bits)
{
	pthread_mutex_lock(&m->irq_lock);
	m->interrupt_status |= bits;
	virtio_mmio_irq_update(m);
	pthread_mutex_unlock(&m->irq_lock);
}

static void virtio_mmio_notify_queue(void *transport, unsigned q)
{
	(void)q;
	virtio_mmio_raise(transport, VIRTIO_MMIO_INT_VRING);
}

static void virtio_mmio_notify_config(void *transport)
{
	virtio_mmio_raise(transport, VIRTIO_MMIO_INT_CONFIG);
}

static const struct virtio_transport_ops virtio_mmio_transport_ops = {
	.notify_queue = virtio_mmio_notify_queue,
	.notify_config = virtio_mmio_notify_config,
};

/* The selected queue, or NULL if QueueSel names none. vdev->lock held. */
static struct virtq *virtio_mmio_vq(struct virtio_mmio *m)
{
	uint32_t q = __atomic_load_n(&m->queue_sel, __ATOMIC_RELAXED);

	return q < m->vdev->nqueues ? &m->vdev->vqs[q] : NULL;
}

static uint32_t virtio_mmio_queue_read(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_dev *vdev = m->vdev;
	uint32_t v = 0;
	struct virtq *vq;

	pthread_mutex_lock(&vdev->lock);
	vq = virtio_mmio_vq(m);
	if (vq && off == VIRTIO_MMIO_QUEUE_NUM_MAX)
		v = vq->max_size;
	else if (vq && off == VIRTIO_MMIO_QUEUE_READY)
		v = vq->ready;
	pthread_mutex_unlock(&vdev->lock);
	return v;
}

static void virtio_mmio_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct virtio_mmio *m = dev;
	struct virtio_dev *vdev = m->vdev;
	uint32_t v = 0;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG && off < VIRTIO_MMIO_SIZE) {
		virtio_config_read(vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
		return;
	}
	if (len != 4 || (off & 3) || off >= VIRTIO_MMIO_CONFIG) {
		log_guest("%s: virtio-mmio read of %u bytes at 0x%llx ignored", vdev->name, len,
			  (unsigned long long)off);
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		v = VIRTIO_MMIO_MAGIC;
		break;
	case VIRTIO_MMIO_VERSION:
		v = VIRTIO_MMIO_VERSION_2;
		break;
	case VIRTIO_MMIO_DEVICE_ID:
		v = vdev->device_id;
		break;
	case VIRTIO_MMIO_VENDOR_ID:
		v = VIRTIO_MMIO_VENDOR;
		break;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		v = virtio_features_read(
		    vdev, __atomic_load_n(&m->device_features_sel, __ATOMIC_RELAXED));
		break;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
	case VIRTIO_MMIO_QUEUE_READY:
		v = virtio_mmio_queue_read(m, off);
		break;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		pthread_mutex_lock(&m->irq_lock);
		v = m->interrupt_status;
		pthread_mutex_unlock(&m->irq_lock);
		break;
	case VIRTIO_MMIO_STATUS:
		v = virtio_status_read(vdev);
		break;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		v = 0xffffffff; /* length ~0: "no such shared memory region" (4.2.2) */
		break;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		pthread_mutex_lock(&vdev->lock);
		v = vdev->config_generation;
		pthread_mutex_unlock(&vdev->lock);
		break;
	default:
		break; /* write-only and reserved registers read 0 */
	}
	memcpy(data, &v, 4); /* x86 host: little-endian, as the guest expects */
}

/* Replace the low or high half of a 64-bit ring address. */
static void virtio_mmio_set_half(uint64_t *addr, bool high, uint32_t v)
{
	if (high)
		*addr = (*addr & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*addr = (*addr & ~0xffffffffull) | v;
}

static void virtio_mmio_queue_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtio_dev *vdev = m->vdev;
	struct virtq *vq;

	pthread_mutex_lock(&vdev->lock);
	vq = virtio_mmio_vq(m);
	if (!vq) {
		log_guest("%s: queue register 0x%llx written for missing queue %u", vdev->name,
			  (unsigned long long)off, m->queue_sel);
		goto out;
	}
	if (off == VIRTIO_MMIO_QUEUE_READY) {
		if (v == 1 && !vq->ready) {
			/* Progress starts over; the rings are checked when the device uses them. */
			virtq_reset(vq);
			vq->ready = true;
		} else if (v == 0) {
			vq->ready = false;
		} else if (v != 1) {
			log_guest("%s: QueueReady = 0x%x ignored", vdev->name, v);
		}
		goto out;
	}
	/* The device may be reading the rings of a ready queue: its layout is frozen (4.2.3.2). */
	if (vq->ready) {
		log_guest("%s: queue register 0x%llx written while the queue is ready; ignored",
			  vdev->name, (unsigned long long)off);
		goto out;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		if (!virtq_size_valid(vq, v))
			log_guest("%s: QueueNum %u is not a power of two <= %u; ignored",
				  vdev->name, v, vq->max_size);
		else
			vq->size = (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		virtio_mmio_set_half(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		virtio_mmio_set_half(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		virtio_mmio_set_half(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		break;
	}
out:
	pthread_mutex_unlock(&vdev->lock);
}

static void virtio_mmio_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct virtio_mmio *m = dev;
	struct virtio_dev *vdev = m->vdev;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG && off < VIRTIO_MMIO_SIZE) {
		virtio_config_write(vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
		return;
	}
	if (len != 4 || (off & 3) || off >= VIRTIO_MMIO_CONFIG) {
		log_guest("%s: virtio-mmio write of %u bytes at 0x%llx ignored", vdev->name, len,
			  (unsigned long long)off);
		return;
	}
	memcpy(&v, data, 4);
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		__atomic_store_n(&m->device_features_sel, v, __ATOMIC_RELAXED);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_features_write(
		    vdev, __atomic_load_n(&m->driver_features_sel, __ATOMIC_RELAXED), v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		__atomic_store_n(&m->driver_features_sel, v, __ATOMIC_RELAXED);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		__atomic_store_n(&m->queue_sel, v, __ATOMIC_RELAXED);
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		virtio_mmio_queue_write(m, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Reached only without an ioeventfd (or with a non-matching value). */
		virtio_queue_kick(vdev, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		pthread_mutex_lock(&m->irq_lock);
		m->interrupt_status &= ~v;
		virtio_mmio_irq_update(m);
		pthread_mutex_unlock(&m->irq_lock);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_status_write(vdev, (uint8_t)v);
		if (!(uint8_t)v) {
			/* Reset: the transport forgets its selectors and pending interrupts too. */
			__atomic_store_n(&m->device_features_sel, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&m->driver_features_sel, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&m->queue_sel, 0, __ATOMIC_RELAXED);
			pthread_mutex_lock(&m->irq_lock);
			m->interrupt_status = 0;
			virtio_mmio_irq_update(m);
			pthread_mutex_unlock(&m->irq_lock);
		}
		break;
	default:
		log_guest("%s: virtio-mmio write 0x%x to read-only or reserved 0x%llx ignored",
			  vdev->name, v, (unsigned long long)off);
		break;
	}
}

/*
 * The transport's registers (the selectors and InterruptStatus; QueueNotify has no state: the
 * VM re-kicks every queue on resume), then the device: virtio_dev_save.
 */
static void virtio_mmio_save(const void *dev, struct state_writer *w)
{
	/* Not const only for irq_lock. */
	struct virtio_mmio *m = (struct virtio_mmio *)(uintptr_t)dev;

	state_section_begin(w, VIRTIO_MMIO_STATE_TAG, VIRTIO_MMIO_STATE_VERSION);
	state_put_u32(w, __atomic_load_n(&m->device_features_sel, __ATOMIC_RELAXED));
	state_put_u32(w, __atomic_load_n(&m->driver_features_sel, __ATOMIC_RELAXED));
	state_put_u32(w, __atomic_load_n(&m->queue_sel, __ATOMIC_RELAXED));
	pthread_mutex_lock(&m->irq_lock);
	state_put_u32(w, m->interrupt_status);
	pthread_mutex_unlock(&m->irq_lock);
	state_section_end_write(w);
	virtio_dev_save(m->vdev, w);
}

/* Registers checked, then the device loaded (all-or-nothing), then the registers applied. */
static int virtio_mmio_load(void *dev, struct state_reader *r)
{
	struct virtio_mmio *m = dev;
	uint32_t version, dsel, gsel, qsel, isr;
	int ret;

	state_section_begin_read(r, VIRTIO_MMIO_STATE_TAG, VIRTIO_MMIO_STATE_VERSION, &version);
	/* Selectors hold whatever the driver wrote: any value reads back defined. */
	dsel = state_get_u32(r);
	gsel = state_get_u32(r);
	qsel = state_get_u32(r);
	isr = state_get_u32(r);
	if (isr & ~(uint32_t)(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		state_reader_fail(r, "interrupt status bits the transport never sets");
	ret = state_section_end(r);
	if (!ret)
		ret = virtio_dev_load(m->vdev, r, 0);
	if (ret)
		return ret;
	__atomic_store_n(&m->device_features_sel, dsel, __ATOMIC_RELAXED);
	__atomic_store_n(&m->driver_features_sel, gsel, __ATOMIC_RELAXED);
	__atomic_store_n(&m->queue_sel, qsel, __ATOMIC_RELAXED);
	pthread_mutex_lock(&m->irq_lock);
	m->interrupt_status = isr;
	virtio_mmio_irq_update(m); /* a pending interrupt drives the line again */
	pthread_mutex_unlock(&m->irq_lock);
	return 0;
}

const struct bus_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
	.save = virtio_mmio_save,
	.load = virtio_mmio_load,
};

int virtio_mmio_create(struct virtio_mmio **out, struct virtio_dev *vdev, uint64_t base,
		       const struct irq_line *irq)
{
	struct virtio_mmio *m;

	if (!vdev || !irq)
		return -EINVAL;
	/* The config window is 0x100 bytes: a larger config space does not fit this transport. */
	if (vdev->config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG)
		return -E2BIG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->vdev = vdev;
	m->base = base;
	m->irq = *irq;
	pthread_mutex_init(&m->irq_lock, NULL);
	pthread_mutex_lock(&vdev->lock);
	if (vdev->transport_ops) {
		pthread_mutex_unlock(&vdev->lock);
		pthread_mutex_destroy(&m->irq_lock);
		free(m);
		return -EBUSY;
	}
	vdev->transport = m;
	vdev->transport_ops = &virtio_mmio_transport_ops;
	pthread_mutex_unlock(&vdev->lock);
	*out = m;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	struct virtio_dev *vdev;

	if (!m)
		return;
	vdev = m->vdev;
	/* Under vdev->lock: a queue_notify in progress on the I/O thread finishes first. */
	pthread_mutex_lock(&vdev->lock);
	if (vdev->transport == m) {
		vdev->transport_ops = NULL;
		vdev->transport = NULL;
	}
	pthread_mutex_unlock(&vdev->lock);
	pthread_mutex_destroy(&m->irq_lock);
	free(m);
}

uint64_t virtio_mmio_notify_addr(const struct virtio_mmio *m)
{
	return m->base + VIRTIO_MMIO_QUEUE_NOTIFY;
}
