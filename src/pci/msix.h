/* MSI-X for a PCI function: capability, vector table and PBA; delivery through an msi_sink. */
#ifndef KVMBOX_PCI_MSIX_H
#define KVMBOX_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci.h"

#define MSIX_MAX_VECTORS 64

/*
 * Where MSI messages go; implemented by the VM (KVM routes + irqfd, or KVM_SIGNAL_MSI) and by
 * fakes in tests. Device models never see KVM.
 */
struct msi_sink {
	/* Vector `vec` of this function now targets (addr, data); masked vectors are not routed. */
	void (*update)(void *opaque, unsigned vec, uint64_t addr, uint32_t data, bool masked);
	/* Deliver vector vec (unmasked, function enabled). Fast: e.g. an eventfd write. */
	void (*signal)(void *opaque, unsigned vec);
	void *opaque;
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: masked */
};

struct msix {
	struct pci_dev *dev;
	unsigned nvec;
	uint8_t cap_off;
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pba; /* pending bits */
	bool enabled;
	bool func_masked;
	struct msi_sink sink;
	pthread_mutex_t lock;
};

/*
 * Add the MSI-X capability to dev with nvec vectors whose table is at table_off and PBA at
 * pba_off in BAR bar (the caller's BAR handler forwards those ranges to msix_table_read/write).
 */
int msix_init(struct msix *m, struct pci_dev *dev, unsigned nvec, unsigned bar, uint32_t table_off,
	      uint32_t pba_off, const struct msi_sink *sink) __attribute__((warn_unused_result));
void msix_cleanup(struct msix *m);
/* The owning device calls this from its config_written hook (enable / function mask bits). */
void msix_config_written(struct msix *m, uint32_t off, unsigned len);
/* Table (off relative to table_off) and PBA accesses; hostile-safe for any off/len. */
void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned len);
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned len);
void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned len);
/* Raise vector vec: delivered now, or left pending while masked. Any thread. */
void msix_notify(struct msix *m, unsigned vec);
bool msix_enabled(struct msix *m);

struct state_writer;
struct state_reader;

/*
 * Snapshot of the vector table (programmed entries, mask bits) and pending bits, as fields of the
 * caller's open section. MSI-X Enable and Function Mask live in config space (Message Control)
 * and travel with it (pci_dev_save).
 */
void msix_save(struct msix *m, struct state_writer *w);
struct msix_state {
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pba;
};
/*
 * Read msix_save's fields into *s and check them against cfg, the config space they are loaded
 * with (pci_dev_state.cfg): the same table size, only bits a table write keeps, and no bit
 * pending for a vector that is deliverable there (it would have been sent). Fails r otherwise.
 */
void msix_load_prepare(struct msix *m, struct state_reader *r, const uint8_t *cfg,
		       struct msix_state *s);
/*
 * Apply it, after pci_dev_load_commit: Enable and Function Mask are taken from config space as
 * msix_config_written does, and the sink hears every vector's (address, data, masked), as when
 * the guest programs it. With the VM's sink (irq_routing.c) that re-creates the KVM MSI routes
 * and irqfds, so the VM has nothing to redo for MSI-X after a load.
 */
void msix_load_commit(struct msix *m, const struct msix_state *s);

#endif
