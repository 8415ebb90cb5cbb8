/* libFuzzer target: virtio-pci BAR and config-space accesses against the virtio core + virtio-rng.
 */
#include "bus.h"
#include "log.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#include <stdlib.h>
#include <string.h>

#define RAM_SIZE 0x10000
#define ECAM 0xe0000000ull

static int fuzz_level, fuzz_redundant;
static struct virtio_pci *fuzz_p;

static void fuzz_irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	if (level == __atomic_load_n(&fuzz_level, __ATOMIC_SEQ_CST))
		__atomic_store_n(&fuzz_redundant, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fuzz_level, level, __ATOMIC_SEQ_CST);
}

static void fuzz_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	(void)opaque;
	(void)addr;
	(void)data;
	(void)masked;
	if (vec >= 2)
		abort(); /* rng: one queue + config */
}

static void fuzz_signal(void *opaque, unsigned vec)
{
	(void)opaque;
	if (vec >= 2 || !fuzz_p->msix.enabled)
		abort();
}

/* The kick callback's work, run here synchronously so an input replays deterministically. */
static void fuzz_process(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vdev->vqs[0].ready &&
	    !vdev->vqs[0].broken)
		vdev->ops->queue_notify(vdev, 0);
	pthread_mutex_unlock(&vdev->lock);
}

/*
 * Guest RAM starts as a copy of the whole input, so rings and descriptors come from it too. The
 * first two bytes give the length of the op list that follows (the rest is only RAM); each op is
 * 7 bytes: kind/width, offset (16 bits), value (32 bits). Kinds: BAR read/write (directly, so
 * the memory-decode bit does not hide the registers), config read/write through ECAM, run the
 * queue, poke guest RAM.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	const struct msi_sink sink = { .update = fuzz_update, .signal = fuzz_signal };
	struct irq_line intx[4];
	struct guest_mem gm = { 0 };
	struct bus pio, mmio;
	struct pci_bus pci;
	struct virtio_dev *vdev;
	struct virtio_pci *p;
	uint8_t *ram, buf[16];
	size_t ops_end;

	log_set_level(LOG_ERROR);
	fuzz_level = fuzz_redundant = 0;
	for (unsigned i = 0; i < 4; i++)
		intx[i] = (struct irq_line){ .set = fuzz_irq_set, .gsi = 16 + i };
	ram = calloc(1, RAM_SIZE);
	if (!ram || guest_mem_add(&gm, 0, RAM_SIZE, ram))
		abort();
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	bus_init(&pio, "pio", 0xff);
	bus_init(&mmio, "mmio", 0);
	if (pci_bus_init(&pci, &pio, &mmio, ECAM, 0xc0000000, 0x10000000, intx) ||
	    virtio_rng_create(&vdev, &gm, "fuzz-rng") || virtio_pci_create(&p, vdev, &pci, &sink))
		abort();
	fuzz_p = p;
	/* Kicks reach the eventfd but not the I/O thread: fuzz_process runs the queue instead. */
	if (event_loop_del(vdev->loop, vdev->kick_fds[0]))
		abort();
	ops_end = size < 2 ? 0 : 2 + (size_t)(data[0] | data[1] << 8);
	if (ops_end > size)
		ops_end = size;
	for (size_t i = 2; i + 7 <= ops_end; i += 7) {
		uint8_t op = data[i];
		uint64_t off = (uint64_t)(data[i + 1] | data[i + 2] << 8);
		unsigned len = lens[(op >> 3) & 3];
		uint32_t val;

		memcpy(&val, data + i + 3, 4);
		memset(buf, 0xaa, sizeof(buf));
		switch (op & 7) {
		case 0:
		case 1:
			/* Bias towards the structures: common cfg, ISR, notify, MSI-X. */
			off = (op & 0x20) ? off % (VIRTIO_PCI_BAR_SIZE + 0x40)
					  : (off & 0x3f) | (off & 0x3000) | (off & 0x0800);
			if (op & 1) {
				memcpy(buf, &val, 4);
				memcpy(buf + 4, &val, 4);
				virtio_pci_bar_ops.write(p, off, buf, len);
				break;
			}
			virtio_pci_bar_ops.read(p, off, buf, len);
			for (unsigned j = len; j < sizeof(buf); j++)
				if (buf[j] != 0xaa)
					abort(); /* wrote past the access */
			break;
		case 2:
			off = ECAM + (p->pci.slot << 15) + (off & ((op & 0x20) ? 0xfff : 0xff));
			bus_read(&mmio, off, buf, len);
			for (unsigned j = len; j < sizeof(buf); j++)
				if (buf[j] != 0xaa)
					abort();
			break;
		case 3:
			off = ECAM + (p->pci.slot << 15) + (off & ((op & 0x20) ? 0xfff : 0xff));
			memcpy(buf, &val, 4);
			memcpy(buf + 4, &val, 4);
			bus_write(&mmio, off, buf, len);
			break;
		case 4:
			fuzz_process(vdev);
			break;
		default:
			/* Let the fuzzer edit guest RAM between accesses, as a vCPU would. */
			memcpy(ram + (val % (RAM_SIZE - 1)), &data[i + 1], 1);
			break;
		}
		/* INTx is ISR while MSI-X is off, masked by Interrupt Disable; changes only. */
		pthread_mutex_lock(&p->irq_lock);
		if (fuzz_redundant || (p->isr & ~3u) ||
		    p->pci.intx_level != (p->isr && !msix_enabled(&p->msix)) ||
		    fuzz_level != (p->pci.intx_level && !(p->pci.cfg[PCI_COMMAND + 1] & 4)))
			abort();
		pthread_mutex_unlock(&p->irq_lock);
		pthread_mutex_lock(&vdev->lock);
		for (unsigned q = 0; q < vdev->nqueues; q++) {
			const struct virtq *vq = &vdev->vqs[q];

			if (!vq->size || vq->size > vq->max_size || (vq->size & (vq->size - 1)))
				abort(); /* the transport let a bad queue_size through */
			if (vq->msix_vector != 0xffff && vq->msix_vector >= p->msix.nvec)
				abort();
		}
		if (p->config_msix_vector != 0xffff && p->config_msix_vector >= p->msix.nvec)
			abort();
		if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
		    (!(vdev->status & VIRTIO_STATUS_FEATURES_OK) ||
		     !(vdev->driver_features & (1ull << VIRTIO_F_VERSION_1)) ||
		     (vdev->driver_features & ~vdev->host_features)))
			abort(); /* DRIVER_OK without a valid negotiation */
		pthread_mutex_unlock(&vdev->lock);
		if (p->pci.bars[VIRTIO_PCI_BAR].addr != 0xc0000000)
			abort(); /* BARs never move */
	}
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	pci_bus_cleanup(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	free(ram);
	return 0;
}
