/* virtio-pci modern transport: capabilities, common cfg, ISR, notify, MSI-X and INTx delivery. */
#include "virtio/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot/state.h"

#define VIRTIO_PCI_CAP_LEN 16
#define VIRTIO_PCI_NOTIFY_CAP_LEN 20 /* + notify_off_multiplier */
#define VIRTIO_PCI_CFG_CAP_LEN 20    /* + pci_cfg_data */
/* Offsets inside struct virtio_pci_cap */
#define VIRTIO_PCI_CAP_BAR 4
#define VIRTIO_PCI_CAP_OFFSET 8
#define VIRTIO_PCI_CAP_LENGTH 12
#define VIRTIO_PCI_CFG_DATA 16

#define VIRTIO_PCI_STATE_TAG STATE_TAG('V', 'P', 'C', 'I')
#define VIRTIO_PCI_STATE_VERSION 1

static uint64_t virtio_pci_get(const void *data, unsigned len)
{
	const uint8_t *d = data;
	uint64_t v = 0;

	for (unsigned i = 0; i < len && i < 8; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void virtio_pci_put(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- interrupts ---- */

/*
 * INTx follows ISR, but only while MSI-X is off (4.1.4.5): a function with MSI-X enabled must
 * not assert INTx. irq_lock held.
 */
static void virtio_pci_update_intx(struct virtio_pci *p)
{
	pci_dev_set_intx(&p->pci, p->isr && !msix_enabled(&p->msix));
}

static void virtio_pci_notify_queue(void *transport, unsigned q)
{
	struct virtio_pci *p = transport;
	uint16_t vec;

	if (q >= p->vdev->nqueues)
		return;
	if (msix_enabled(&p->msix)) {
		/* NO_VECTOR with MSI-X on means the driver wants no interrupt for this queue. */
		vec = __atomic_load_n(&p->vdev->vqs[q].msix_vector, __ATOMIC_RELAXED);
		if (vec != VIRTIO_PCI_NO_VECTOR)
			msix_notify(&p->msix, vec);
		return;
	}
	pthread_mutex_lock(&p->irq_lock);
	p->isr |= VIRTIO_PCI_ISR_QUEUE;
	virtio_pci_update_intx(p);
	pthread_mutex_unlock(&p->irq_lock);
}

static void virtio_pci_notify_config(void *transport)
{
	struct virtio_pci *p = transport;
	uint16_t vec = __atomic_load_n(&p->config_msix_vector, __ATOMIC_RELAXED);

	/* The config bit is set even with MSI-X: the spec asks for it before every change event. */
	pthread_mutex_lock(&p->irq_lock);
	p->isr |= VIRTIO_PCI_ISR_CONFIG;
	virtio_pci_update_intx(p);
	pthread_mutex_unlock(&p->irq_lock);
	if (msix_enabled(&p->msix) && vec != VIRTIO_PCI_NO_VECTOR)
		msix_notify(&p->msix, vec);
}

static const struct virtio_transport_ops virtio_pci_transport_ops = {
	.notify_queue = virtio_pci_notify_queue,
	.notify_config = virtio_pci_notify_config,
};

/* ---- common configuration ---- */

/* A vector the driver may use, or NO_VECTOR, which it reads back as "refused" (4.1.5.1.2). */
static uint16_t virtio_pci_vector(struct virtio_pci *p, uint64_t v)
{
	return v < p->msix.nvec ? (uint16_t)v : VIRTIO_PCI_NO_VECTOR;
}

/*
 * Reads have no side effects, so the structure is rendered whole under vdev->lock and the
 * requested bytes copied out: any offset and width gives a consistent, defined answer.
 */
static void virtio_pci_common_read(struct virtio_pci *p, uint64_t off, void *data, unsigned len)
{
	struct virtio_dev *vdev = p->vdev;
	uint8_t img[VIRTIO_PCI_COMMON_LEN] = { 0 };
	uint32_t dsel = __atomic_load_n(&p->device_feature_select, __ATOMIC_RELAXED);
	uint32_t gsel = __atomic_load_n(&p->driver_feature_select, __ATOMIC_RELAXED);
	uint16_t qsel = __atomic_load_n(&p->queue_select, __ATOMIC_RELAXED);
	uint32_t df = virtio_features_read(vdev, dsel), gf = 0;

	pthread_mutex_lock(&vdev->lock);
	if (gsel < 2)
		gf = (uint32_t)(vdev->driver_features >> (32 * gsel));
	virtio_pci_put(img + VIRTIO_PCI_COMMON_DFSELECT, dsel, 4);
	virtio_pci_put(img + VIRTIO_PCI_COMMON_DF, df, 4);
	virtio_pci_put(img + VIRTIO_PCI_COMMON_GFSELECT, gsel, 4);
	virtio_pci_put(img + VIRTIO_PCI_COMMON_GF, gf, 4);
	virtio_pci_put(img + VIRTIO_PCI_COMMON_MSIX,
		       __atomic_load_n(&p->config_msix_vector, __ATOMIC_RELAXED), 2);
	virtio_pci_put(img + VIRTIO_PCI_COMMON_NUMQ, vdev->nqueues, 2);
	img[VIRTIO_PCI_COMMON_STATUS] = vdev->status;
	img[VIRTIO_PCI_COMMON_CFGGENERATION] =
	    __atomic_load_n(&vdev->config_generation, __ATOMIC_RELAXED);
	virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_SELECT, qsel, 2);
	/* A selector naming no queue reads queue_size 0: "not available" (4.1.4.3.2). */
	if (qsel < vdev->nqueues) {
		const struct virtq *vq = &vdev->vqs[qsel];

		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_SIZE, vq->size, 2);
		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_MSIX, vq->msix_vector, 2);
		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_ENABLE, vq->ready, 2);
		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_NOFF, qsel, 2);
		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc_gpa, 8);
		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail_gpa, 8);
		virtio_pci_put(img + VIRTIO_PCI_COMMON_Q_USEDLO, vq->used_gpa, 8);
	}
	pthread_mutex_unlock(&vdev->lock);
	if (off < sizeof(img))
		memcpy(data, img + off, len < sizeof(img) - off ? len : sizeof(img) - off);
}

/* 64-bit ring addresses arrive as two dwords (or one qword); set the half or halves written. */
static void virtio_pci_set_addr(uint64_t *gpa, unsigned half, uint64_t v, unsigned len)
{
	if (half == 0 && len >= 8)
		*gpa = v;
	else if (half == 0)
		*gpa = (*gpa & ~0xffffffffull) | (uint32_t)v;
	else
		*gpa = (*gpa & 0xffffffffull) | (uint64_t)(uint32_t)v << 32;
}

/* Queue registers; vdev->lock held. The ring's layout is frozen once the queue is enabled. */
static void virtio_pci_queue_write(struct virtio_pci *p, struct virtq *vq, unsigned q, uint64_t off,
				   uint64_t v, unsigned len)
{
	const char *name = p->vdev->name;

	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		v &= 0xffff;
		if (vq->ready || !virtq_size_valid(vq, (uint32_t)v))
			log_guest("%s: queue %u size %llu refused (max %u%s)", name, q,
				  (unsigned long long)v, vq->max_size,
				  vq->ready ? ", queue enabled" : "");
		else
			vq->size = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		__atomic_store_n(&vq->msix_vector, virtio_pci_vector(p, v & 0xffff),
				 __ATOMIC_RELAXED);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* Only 1 is defined: a queue is disabled by a device reset, not by writing 0. */
		if ((v & 0xffff) != 1 || vq->ready) {
			if ((v & 0xffff) != 1)
				log_guest("%s: queue_enable %llu ignored", name,
					  (unsigned long long)(v & 0xffff));
			break;
		}
		virtq_reset(vq);
		vq->ready = true;
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI: {
		uint64_t *gpa = off < VIRTIO_PCI_COMMON_Q_AVAILLO  ? &vq->desc_gpa
				: off < VIRTIO_PCI_COMMON_Q_USEDLO ? &vq->avail_gpa
								   : &vq->used_gpa;

		if (vq->ready)
			log_guest("%s: queue %u address written while enabled; ignored", name, q);
		else
			virtio_pci_set_addr(gpa, (off & 4) != 0, v, len);
		break;
	}
	default:
		break;
	}
}

static void virtio_pci_reset(struct virtio_pci *p)
{
	/* The core reset the device and its queues (vectors included); these are ours. */
	__atomic_store_n(&p->device_feature_select, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->driver_feature_select, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->queue_select, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->config_msix_vector, VIRTIO_PCI_NO_VECTOR, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->irq_lock);
	p->isr = 0;
	virtio_pci_update_intx(p);
	pthread_mutex_unlock(&p->irq_lock);
}

/*
 * Writes are decoded by the field's offset, the value truncated to the field: drivers must use
 * each field's width (4.1.3.1), and whatever else a guest does lands on a defined register.
 * Writes inside a field (not at its start) are dropped.
 */
static void virtio_pci_common_write(struct virtio_pci *p, uint64_t off, const void *data,
				    unsigned len)
{
	struct virtio_dev *vdev = p->vdev;
	uint64_t v = virtio_pci_get(data, len);
	uint16_t qsel;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		__atomic_store_n(&p->device_feature_select, (uint32_t)v, __ATOMIC_RELAXED);
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		__atomic_store_n(&p->driver_feature_select, (uint32_t)v, __ATOMIC_RELAXED);
		return;
	case VIRTIO_PCI_COMMON_GF:
		virtio_features_write(vdev,
				      __atomic_load_n(&p->driver_feature_select, __ATOMIC_RELAXED),
				      (uint32_t)v);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		__atomic_store_n(&p->config_msix_vector, virtio_pci_vector(p, v & 0xffff),
				 __ATOMIC_RELAXED);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_status_write(vdev, (uint8_t)v);
		if (!(uint8_t)v)
			virtio_pci_reset(p);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		__atomic_store_n(&p->queue_select, (uint16_t)v, __ATOMIC_RELAXED);
		return;
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		qsel = __atomic_load_n(&p->queue_select, __ATOMIC_RELAXED);
		pthread_mutex_lock(&vdev->lock);
		if (qsel < vdev->nqueues)
			virtio_pci_queue_write(p, &vdev->vqs[qsel], qsel, off, v, len);
		else
			log_guest("%s: write to queue %u of %u ignored", vdev->name, qsel,
				  vdev->nqueues);
		pthread_mutex_unlock(&vdev->lock);
		return;
	default:
		/* Read-only fields (device_feature, num_queues, generation, notify_off...). */
		log_guest("%s: common cfg write of %u bytes at 0x%llx ignored", vdev->name, len,
			  (unsigned long long)off);
		return;
	}
}

/* ---- the BAR ---- */

static void virtio_pci_bar_read(void *opaque, uint64_t off, void *data, unsigned len)
{
	struct virtio_pci *p = opaque;

	memset(data, 0, len);
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
		virtio_pci_common_read(p, off - VIRTIO_PCI_COMMON_OFF, data, len);
	} else if (off == VIRTIO_PCI_ISR_OFF && len) {
		/* Reading ISR acknowledges it: the bits clear and INTx drops (4.1.4.5). */
		pthread_mutex_lock(&p->irq_lock);
		*(uint8_t *)data = p->isr;
		p->isr = 0;
		virtio_pci_update_intx(p);
		pthread_mutex_unlock(&p->irq_lock);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF &&
		   off < VIRTIO_PCI_DEVICE_OFF + VIRTIO_PCI_DEVICE_MAX) {
		virtio_config_read(p->vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data, len);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		msix_table_read(&p->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
	} else if (off >= VIRTIO_PCI_MSIX_PBA_OFF && off < VIRTIO_PCI_BAR_SIZE) {
		msix_pba_read(&p->msix, off - VIRTIO_PCI_MSIX_PBA_OFF, data, len);
	}
	/* Anything else (notify doorbells, gaps) reads as zero. */
}

static void virtio_pci_bar_write(void *opaque, uint64_t off, const void *data, unsigned len)
{
	struct virtio_pci *p = opaque;
	uint64_t n;

	if (!len)
		return;
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
		virtio_pci_common_write(p, off - VIRTIO_PCI_COMMON_OFF, data, len);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF &&
		   off < VIRTIO_PCI_DEVICE_OFF + VIRTIO_PCI_DEVICE_MAX) {
		virtio_config_write(p->vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_MSIX_TABLE_OFF) {
		/*
		 * Only reached when no ioeventfd caught the write. The address names the queue;
		 * the value (the queue index without NOTIFICATION_DATA) is not needed.
		 */
		n = off - VIRTIO_PCI_NOTIFY_OFF;
		if (n % VIRTIO_PCI_NOTIFY_MULTIPLIER)
			log_guest("%s: misaligned notify at 0x%llx ignored", p->vdev->name,
				  (unsigned long long)off);
		else
			virtio_queue_kick(p->vdev, (unsigned)(n / VIRTIO_PCI_NOTIFY_MULTIPLIER));
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		msix_table_write(&p->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
	}
	/* ISR, the PBA and the gaps are read-only. */
}

/* ---- snapshots ---- */

/*
 * The function: its config space (pci_dev_save), MSI-X table and PBA (msix_save), the common
 * cfg selectors, the config vector and ISR; then the device (virtio_dev_save). The notify area
 * has no state (kicks are re-sent on resume).
 */
static void virtio_pci_save(const void *opaque, struct state_writer *w)
{
	/* Not const only for the locks. */
	struct virtio_pci *p = (struct virtio_pci *)(uintptr_t)opaque;

	state_section_begin(w, VIRTIO_PCI_STATE_TAG, VIRTIO_PCI_STATE_VERSION);
	pci_dev_save(&p->pci, w);
	msix_save(&p->msix, w);
	state_put_u32(w, __atomic_load_n(&p->device_feature_select, __ATOMIC_RELAXED));
	state_put_u32(w, __atomic_load_n(&p->driver_feature_select, __ATOMIC_RELAXED));
	state_put_u16(w, __atomic_load_n(&p->queue_select, __ATOMIC_RELAXED));
	state_put_u16(w, __atomic_load_n(&p->config_msix_vector, __ATOMIC_RELAXED));
	pthread_mutex_lock(&p->irq_lock);
	state_put_u8(w, p->isr);
	pthread_mutex_unlock(&p->irq_lock);
	state_section_end_write(w);
	virtio_dev_save(p->vdev, w);
}

/* What the function's section holds, checked before any of it is applied. */
struct virtio_pci_state {
	struct pci_dev_state pci;
	struct msix_state msix;
	uint32_t dsel, gsel;
	uint16_t qsel, config_vector;
	uint8_t isr;
};

static int virtio_pci_load(void *opaque, struct state_reader *r)
{
	struct virtio_pci *p = opaque;
	struct virtio_pci_state *s = malloc(sizeof(*s)); /* 5 KiB: not on a vCPU-sized stack */
	uint32_t version;
	int ret;

	if (!s)
		return -ENOMEM;
	state_section_begin_read(r, VIRTIO_PCI_STATE_TAG, VIRTIO_PCI_STATE_VERSION, &version);
	pci_dev_load_prepare(&p->pci, r, &s->pci);
	msix_load_prepare(&p->msix, r, s->pci.cfg, &s->msix);
	/* Selectors hold whatever the driver wrote: any value reads back defined. */
	s->dsel = state_get_u32(r);
	s->gsel = state_get_u32(r);
	s->qsel = state_get_u16(r);
	s->config_vector = state_get_u16(r);
	s->isr = state_get_u8(r);
	/* The register keeps only vectors the table has (virtio_pci_vector). */
	if (s->config_vector != VIRTIO_PCI_NO_VECTOR && s->config_vector >= p->msix.nvec)
		state_reader_fail(r, "config vector beyond the MSI-X table");
	if (s->isr & ~(VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG))
		state_reader_fail(r, "ISR bits the transport never sets");
	ret = state_section_end(r);
	if (!ret)
		ret = virtio_dev_load(p->vdev, r, p->msix.nvec);
	if (ret)
		goto out;
	pci_dev_load_commit(&p->pci, &s->pci);
	msix_load_commit(&p->msix, &s->msix); /* after the config: Message Control is there */
	__atomic_store_n(&p->device_feature_select, s->dsel, __ATOMIC_RELAXED);
	__atomic_store_n(&p->driver_feature_select, s->gsel, __ATOMIC_RELAXED);
	__atomic_store_n(&p->queue_select, s->qsel, __ATOMIC_RELAXED);
	__atomic_store_n(&p->config_msix_vector, s->config_vector, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->irq_lock);
	p->isr = s->isr;
	virtio_pci_update_intx(p); /* a pending INTx is asserted again (unless MSI-X is on) */
	pthread_mutex_unlock(&p->irq_lock);
out:
	free(s);
	return ret;
}

const struct bus_ops virtio_pci_bar_ops = {
	.read = virtio_pci_bar_read,
	.write = virtio_pci_bar_write,
	.save = virtio_pci_save,
	.load = virtio_pci_load,
};

/* ---- config space hooks ---- */

/*
 * VIRTIO_PCI_CAP_PCI_CFG: a window into the BAR through config space, for drivers that cannot
 * map it. The driver chooses bar/offset/length, then reads or writes pci_cfg_data. Returns the
 * BAR offset and length if the window is valid (our BAR, 1/2/4 bytes, aligned, inside).
 */
static bool virtio_pci_cfg_window(struct virtio_pci *p, uint32_t off, unsigned len,
				  uint32_t *bar_off, unsigned *bar_len)
{
	uint32_t data = p->pci_cfg_cap + VIRTIO_PCI_CFG_DATA;
	uint8_t cap[VIRTIO_PCI_CFG_CAP_LEN];

	if (!p->pci_cfg_cap || off >= data + 4 || (uint64_t)off + len <= data)
		return false;
	pthread_mutex_lock(&p->pci.lock);
	memcpy(cap, p->pci.cfg + p->pci_cfg_cap, sizeof(cap));
	pthread_mutex_unlock(&p->pci.lock);
	*bar_off = (uint32_t)virtio_pci_get(cap + VIRTIO_PCI_CAP_OFFSET, 4);
	*bar_len = (unsigned)virtio_pci_get(cap + VIRTIO_PCI_CAP_LENGTH, 4);
	if (cap[VIRTIO_PCI_CAP_BAR] != VIRTIO_PCI_BAR ||
	    (*bar_len != 1 && *bar_len != 2 && *bar_len != 4) || *bar_off % *bar_len ||
	    *bar_off >= VIRTIO_PCI_BAR_SIZE) {
		log_guest("%s: pci_cfg window bar %u offset 0x%x length %u refused", p->vdev->name,
			  cap[VIRTIO_PCI_CAP_BAR], *bar_off, *bar_len);
		return false;
	}
	return true;
}

static void virtio_pci_config_read(struct pci_dev *dev, uint32_t off, unsigned len)
{
	struct virtio_pci *p = dev->opaque;
	uint8_t buf[4] = { 0 };
	uint32_t bar_off;
	unsigned bar_len;

	if (!virtio_pci_cfg_window(p, off, len, &bar_off, &bar_len))
		return;
	virtio_pci_bar_read(p, bar_off, buf, bar_len);
	pthread_mutex_lock(&dev->lock);
	memcpy(dev->cfg + p->pci_cfg_cap + VIRTIO_PCI_CFG_DATA, buf, sizeof(buf));
	pthread_mutex_unlock(&dev->lock);
}

static void virtio_pci_config_written(struct pci_dev *dev, uint32_t off, unsigned len)
{
	struct virtio_pci *p = dev->opaque;
	uint8_t buf[4];
	uint32_t bar_off;
	unsigned bar_len;

	msix_config_written(&p->msix, off, len);
	/* MSI-X may just have been switched on or off: INTx follows. */
	pthread_mutex_lock(&p->irq_lock);
	virtio_pci_update_intx(p);
	pthread_mutex_unlock(&p->irq_lock);
	if (!virtio_pci_cfg_window(p, off, len, &bar_off, &bar_len))
		return;
	pthread_mutex_lock(&dev->lock);
	memcpy(buf, dev->cfg + p->pci_cfg_cap + VIRTIO_PCI_CFG_DATA, sizeof(buf));
	pthread_mutex_unlock(&dev->lock);
	virtio_pci_bar_write(p, bar_off, buf, bar_len);
}

/* ---- construction ---- */

static uint32_t virtio_pci_class(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 0x018000; /* mass storage, other */
	case VIRTIO_ID_NET:
		return 0x020000; /* Ethernet */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	default:
		return 0x00ff00; /* unclassified */
	}
}

static int virtio_pci_add_cap(struct virtio_pci *p, uint8_t cfg_type, uint32_t offset,
			      uint32_t length, unsigned cap_len, uint32_t extra, uint8_t *pos)
{
	uint8_t cap[VIRTIO_PCI_CFG_CAP_LEN] = { PCI_CAP_ID_VNDR };

	cap[2] = (uint8_t)cap_len;
	cap[3] = cfg_type;
	cap[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_BAR;
	virtio_pci_put(cap + VIRTIO_PCI_CAP_OFFSET, offset, 4);
	virtio_pci_put(cap + VIRTIO_PCI_CAP_LENGTH, length, 4);
	virtio_pci_put(cap + 16, extra, 4);
	return pci_dev_add_cap(&p->pci, cap, cap_len, pos);
}

static int virtio_pci_add_caps(struct virtio_pci *p)
{
	static const uint8_t ones[4] = { 0xff, 0xff, 0xff, 0xff };
	const struct virtio_dev *vdev = p->vdev;
	int err;

	err = virtio_pci_add_cap(p, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
				 VIRTIO_PCI_COMMON_LEN, VIRTIO_PCI_CAP_LEN, 0, NULL);
	if (!err)
		err = virtio_pci_add_cap(p, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1,
					 VIRTIO_PCI_CAP_LEN, 0, NULL);
	if (!err)
		err = virtio_pci_add_cap(p, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
					 vdev->nqueues * VIRTIO_PCI_NOTIFY_MULTIPLIER,
					 VIRTIO_PCI_NOTIFY_CAP_LEN, VIRTIO_PCI_NOTIFY_MULTIPLIER,
					 NULL);
	/* A device without config space (rng) has no device cfg structure: it is optional. */
	if (!err && vdev->config_size)
		err = virtio_pci_add_cap(p, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
					 vdev->config_size, VIRTIO_PCI_CAP_LEN, 0, NULL);
	/* The window's bar, offset, length and data are the driver's to write. */
	if (!err)
		err = virtio_pci_add_cap(p, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VIRTIO_PCI_CFG_CAP_LEN, 0,
					 &p->pci_cfg_cap);
	if (err)
		return err;
	pci_dev_set_wmask(&p->pci, p->pci_cfg_cap + VIRTIO_PCI_CAP_BAR, ones, 1);
	pci_dev_set_wmask(&p->pci, p->pci_cfg_cap + VIRTIO_PCI_CAP_OFFSET, ones, 4);
	pci_dev_set_wmask(&p->pci, p->pci_cfg_cap + VIRTIO_PCI_CAP_LENGTH, ones, 4);
	pci_dev_set_wmask(&p->pci, p->pci_cfg_cap + VIRTIO_PCI_CFG_DATA, ones, 4);
	return 0;
}

int virtio_pci_create(struct virtio_pci **out, struct virtio_dev *vdev, struct pci_bus *bus,
		      const struct msi_sink *sink)
{
	struct virtio_pci *p;
	unsigned nvec;
	int err;

	if (!out || !vdev || !bus || !vdev->nqueues || vdev->nqueues > VIRTIO_PCI_MAX_QUEUES ||
	    vdev->config_size > VIRTIO_PCI_DEVICE_MAX ||
	    vdev->device_id > 0xffff - VIRTIO_PCI_DEVICE_BASE)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vdev = vdev;
	p->config_msix_vector = VIRTIO_PCI_NO_VECTOR;
	pthread_mutex_init(&p->irq_lock, NULL);
	pci_dev_init(&p->pci, vdev->name, VIRTIO_PCI_VENDOR,
		     (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->device_id),
		     virtio_pci_class(vdev->device_id), 1 /* revision 1: modern only */,
		     VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
	p->pci.opaque = p;
	p->pci.config_written = virtio_pci_config_written;
	p->pci.config_read = virtio_pci_config_read;
	err = pci_dev_add_bar(&p->pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, false,
			      &virtio_pci_bar_ops, p);
	if (err)
		goto err_pci;
	/* One vector per queue and one for config changes: Linux's first choice. */
	nvec = vdev->nqueues + 1 < MSIX_MAX_VECTORS ? vdev->nqueues + 1 : MSIX_MAX_VECTORS;
	err = msix_init(&p->msix, &p->pci, nvec, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE_OFF,
			VIRTIO_PCI_MSIX_PBA_OFF, sink);
	if (err)
		goto err_pci;
	err = virtio_pci_add_caps(p);
	if (err)
		goto err_msix;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->transport) {
		pthread_mutex_unlock(&vdev->lock);
		err = -EBUSY;
		goto err_msix;
	}
	vdev->transport = p;
	vdev->transport_ops = &virtio_pci_transport_ops;
	pthread_mutex_unlock(&vdev->lock);
	err = pci_bus_add(bus, &p->pci);
	if (err)
		goto err_detach;
	*out = p;
	return 0;
err_detach:
	pthread_mutex_lock(&vdev->lock);
	vdev->transport = NULL;
	vdev->transport_ops = NULL;
	pthread_mutex_unlock(&vdev->lock);
err_msix:
	msix_cleanup(&p->msix);
err_pci:
	pci_dev_cleanup(&p->pci);
	pthread_mutex_destroy(&p->irq_lock);
	free(p);
	return err;
}

uint64_t virtio_pci_notify_addr(const struct virtio_pci *p, unsigned q)
{
	if (q >= p->vdev->nqueues)
		return 0;
	return p->pci.bars[VIRTIO_PCI_BAR].addr + VIRTIO_PCI_NOTIFY_OFF +
	       (uint64_t)q * VIRTIO_PCI_NOTIFY_MULTIPLIER;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
	struct virtio_dev *vdev;

	if (!p)
		return;
	vdev = p->vdev;
	/* Under vdev->lock: a queue_notify in progress on the I/O thread finishes first. */
	pthread_mutex_lock(&vdev->lock);
	if (vdev->transport == p) {
		vdev->transport_ops = NULL;
		vdev->transport = NULL;
	}
	pthread_mutex_unlock(&vdev->lock);
	msix_cleanup(&p->msix);
	pci_dev_cleanup(&p->pci);
	pthread_mutex_destroy(&p->irq_lock);
	free(p);
}
