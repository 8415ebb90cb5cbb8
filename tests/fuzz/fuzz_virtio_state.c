/* libFuzzer target: snapshot loads of virtio devices and the PCI bus from hostile bytes. */
#include "fuzz_virtio.h"
#include "bus.h"
#include "log.h"
#include "pci/pci.h"
#include "snapshot/state.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Input: byte 0 picks what loads the rest (% 3): a fresh virtio-mmio + virtio-blk (2 queues, a
 * 64 KiB image), a fresh virtio-pci + virtio-rng on its own PCI bus (through the BAR's bus
 * range, as the VM reaches it), or that PCI bus itself (the config ports' range). Guest RAM
 * (64 KiB at 0) starts as a copy of the input, so loaded rings point at fuzzer bytes.
 * Oracles: a refusal is -EINVAL with the reader failed and the device saving as before; an
 * accepted state saves back to exactly the bytes it was loaded from, passes the checks every
 * register write keeps, and survives its queues being run and its registers read.
 */
#define FUZZ_RAM 0x10000
#define FUZZ_IMAGE (64 * 1024)
#define FUZZ_ECAM 0xe0000000ull
#define FUZZ_WIN 0xc0000000ull

static uint8_t fuzz_ram[FUZZ_RAM] __attribute__((aligned(4096)));
static struct guest_mem fuzz_gm;
static char fuzz_image[] = "/tmp/kvmbox-fuzz-state-XXXXXX";

static void fuzz_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque, (void)gsi, (void)level;
}

static void fuzz_msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked)
{
	(void)opaque, (void)addr, (void)data, (void)masked;
	if (vec >= 2)
		abort(); /* rng: one queue + config */
}

static void fuzz_msi_signal(void *opaque, unsigned vec)
{
	(void)opaque;
	if (vec >= 2)
		abort();
}

static void fuzz_cleanup(void)
{
	unlink(fuzz_image);
}

static void fuzz_init(void)
{
	int fd;

	log_set_level(LOG_ERROR);
	if (guest_mem_add(&fuzz_gm, 0, FUZZ_RAM, fuzz_ram) < 0)
		abort();
	fd = mkstemp(fuzz_image);
	if (fd < 0 || ftruncate(fd, FUZZ_IMAGE) < 0)
		abort();
	close(fd);
	atexit(fuzz_cleanup);
}

static uint8_t *fuzz_save(const struct bus_ops *ops, void *dev, size_t *len)
{
	struct state_writer w;
	uint8_t *copy;

	state_writer_init(&w);
	ops->save(dev, &w);
	if (state_writer_result(&w))
		abort(); /* a fresh or loaded device has nothing in flight */
	copy = malloc(w.len ? w.len : 1);
	if (!copy)
		abort();
	memcpy(copy, w.buf, w.len);
	*len = w.len;
	state_writer_free(&w);
	return copy;
}

/* Load data into dev, then hold the device to the oracles above. 1: accepted. */
static int fuzz_load(const struct bus_ops *ops, void *dev, const uint8_t *data, size_t size)
{
	struct state_reader r;
	uint8_t *before, *after;
	size_t blen, alen;
	int ret;

	before = fuzz_save(ops, dev, &blen);
	state_reader_init(&r, data, size);
	ret = ops->load(dev, &r);
	after = fuzz_save(ops, dev, &alen);
	if (ret == 0) {
		if (!state_reader_ok(&r) || alen != r.pos || memcmp(after, data, alen))
			abort(); /* what was taken is what is there */
	} else if (ret != -EINVAL || state_reader_ok(&r) || alen != blen ||
		   memcmp(after, before, blen)) {
		abort(); /* refused without a reason, or half-loaded */
	}
	free(before);
	free(after);
	return ret == 0;
}

/* What the transports' register writes guarantee must hold; then the queues run once. */
static void fuzz_check(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	    (!(vdev->status & VIRTIO_STATUS_FEATURES_OK) ||
	     !(vdev->driver_features & (1ull << VIRTIO_F_VERSION_1)) ||
	     (vdev->driver_features & ~vdev->host_features)))
		abort();
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		const struct virtq *vq = &vdev->vqs[q];

		/* A ready queue's rings may lie anywhere: running it below breaks it then. */
		if (!virtq_size_valid(vq, vq->size))
			abort();
	}
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vdev->vqs[q].ready &&
		    !vdev->vqs[q].broken)
			vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static void fuzz_mmio_blk(const uint8_t *data, size_t size)
{
	struct virtio_blk_config cfg = {
		.path = fuzz_image, .serial = "fuzz", .nqueues = 2, .name = "fuzz-blk"
	};
	struct irq_line line = { .set = fuzz_irq };
	struct virtio_dev *vdev = NULL;
	struct virtio_mmio *m;
	uint32_t v;

	if (virtio_blk_create(&vdev, &fuzz_gm, &cfg) < 0 ||
	    virtio_mmio_create(&m, vdev, 0xd0000000, &line))
		abort();
	if (fuzz_load(&virtio_mmio_bus_ops, m, data, size)) {
		for (uint64_t off = 0; off < VIRTIO_MMIO_SIZE; off += 4)
			virtio_mmio_bus_ops.read(m, off, &v, 4);
		fuzz_check(vdev);
	}
	virtio_mmio_destroy(m);
	vdev->ops->destroy(vdev);
}

static void fuzz_pci(const uint8_t *data, size_t size, bool bus_state)
{
	const struct msi_sink sink = { .update = fuzz_msi_update, .signal = fuzz_msi_signal };
	struct irq_line intx[4];
	const struct bus_range *range;
	struct virtio_dev *vdev;
	struct virtio_pci *p;
	struct bus pio, mmio;
	struct pci_bus pci;
	uint8_t buf[8];

	for (unsigned i = 0; i < 4; i++)
		intx[i] = (struct irq_line){ .set = fuzz_irq, .gsi = 16 + i };
	bus_init(&pio, "pio", 0xff);
	bus_init(&mmio, "mmio", 0);
	if (pci_bus_init(&pci, &pio, &mmio, FUZZ_ECAM, FUZZ_WIN, 0x10000000, intx) ||
	    virtio_rng_create(&vdev, &fuzz_gm, "fuzz-rng") ||
	    virtio_pci_create(&p, vdev, &pci, &sink))
		abort();
	range =
	    bus_state ? bus_find(&pio, 0xcf8) : bus_find(&mmio, p->pci.bars[VIRTIO_PCI_BAR].addr);
	if (!range || !range->ops->load)
		abort();
	if (fuzz_load(range->ops, range->dev, data, size)) {
		/* Config space through ECAM, then the BAR (common cfg, ISR, MSI-X) as a driver. */
		for (uint64_t off = 0; off < 0x100; off += 4)
			bus_read(&mmio, FUZZ_ECAM + (1 << 15) + off, buf, 4);
		for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off += 4)
			if (off != VIRTIO_PCI_ISR_OFF)
				virtio_pci_bar_ops.read(p, off, buf, 4);
		virtio_pci_bar_ops.read(p, VIRTIO_PCI_ISR_OFF, buf, 1);
		fuzz_check(vdev);
	}
	virtio_pci_destroy(p);
	vdev->ops->destroy(vdev);
	pci_bus_cleanup(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		fuzz_init();
		ready = true;
	}
	if (size < 1)
		return 0;
	memset(fuzz_ram, 0, sizeof(fuzz_ram));
	memcpy(fuzz_ram, data, size < sizeof(fuzz_ram) ? size : sizeof(fuzz_ram));
	switch (data[0] % 3) {
	case 0:
		fuzz_mmio_blk(data + 1, size - 1);
		break;
	case 1:
		fuzz_pci(data + 1, size - 1, false);
		break;
	default:
		fuzz_pci(data + 1, size - 1, true);
		break;
	}
	return 0;
}
