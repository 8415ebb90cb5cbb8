/* PCI: one bus 0 with a host bridge, config mechanism #1 and ECAM, fixed BARs in the MMIO hole. */
#ifndef KVMBOX_PCI_PCI_H
#define KVMBOX_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"

/* PCIe extended config space (ECAM); mechanism #1 reaches the first 256 bytes. */
#define PCI_CFG_SIZE 4096
#define PCI_MAX_SLOTS 32
#define PCI_NUM_BARS 6

/* Type 0 header registers and bits used by more than one file. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_START 0x40 /* first capability */
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x8
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

struct pci_dev;
struct state_writer;
struct state_reader;

struct pci_bar {
	uint64_t size; /* 0 = unused; else a power of two >= 16 (I/O >= 4) */
	bool io;       /* I/O space BAR (else 32-bit non-prefetchable memory) */
	const struct bus_ops *ops;
	void *opaque;
	uint64_t addr;	       /* assigned by pci_bus_add */
	bool sizing;	       /* the driver wrote all-ones: reads return the size mask */
	struct pci_dev *owner; /* set by pci_dev_add_bar: decoding follows its command register */
};

struct pci_dev {
	const char *name;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the driver may write */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* write-1-to-clear bits (status register) */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t slot;
	uint8_t next_cap;     /* where the next capability goes */
	struct irq_line intx; /* wired by pci_bus_add: INTA# of this slot */
	int intx_level;
	/*
	 * Called after the driver wrote config space [off, off+len) (e.g. MSI-X enable bits), and
	 * before it reads [off, off+len) (to refresh emulated bytes such as virtio's pci_cfg
	 * window). Both run without dev->lock held, so they may use pci_config_read/write and
	 * pci_dev_set_intx. Either may be NULL.
	 */
	void (*config_written)(struct pci_dev *dev, uint32_t off, unsigned len);
	void (*config_read)(struct pci_dev *dev, uint32_t off, unsigned len);
	void *opaque; /* the transport */
	pthread_mutex_t lock;
};

/* Zeroes *dev first: set the hooks and opaque afterwards. INTA# is the interrupt pin. */
void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id);
void pci_dev_cleanup(struct pci_dev *dev);
/* Declare BAR idx (before pci_bus_add, which assigns the address and registers ops on a bus). */
int pci_dev_add_bar(struct pci_dev *dev, unsigned idx, uint64_t size, bool io,
		    const struct bus_ops *ops, void *opaque) __attribute__((warn_unused_result));
/*
 * Append a capability: body[0] must be the capability ID; body[1] (next pointer) is filled in.
 * Returns its config-space offset in *off. wmask for the body is left read-only: callers open
 * the bits the driver may write with pci_dev_set_wmask.
 */
int pci_dev_add_cap(struct pci_dev *dev, const void *body, unsigned len, uint8_t *off)
    __attribute__((warn_unused_result));
void pci_dev_set_wmask(struct pci_dev *dev, uint32_t off, const void *mask, unsigned len);
/* Drive INTA# (level). */
void pci_dev_set_intx(struct pci_dev *dev, int level);

/* Config-space accesses of any offset/length (clamped to PCI_CFG_SIZE; hostile-safe). */
void pci_config_read(struct pci_dev *dev, uint32_t off, void *data, unsigned len);
void pci_config_write(struct pci_dev *dev, uint32_t off, const void *data, unsigned len);

/*
 * Snapshot of a function's config space, as fields of the caller's open section: identity and
 * slot (checked at load), every byte with a bit the driver can write or clear (command, status
 * error bits, cache line size, latency timer, interrupt line, the capabilities' writable fields
 * such as MSI-X Message Control), and each BAR's address and sizing state. The rest is the
 * function's own (set up identically at creation) or derived: Status.Interrupt follows the
 * owner's pci_dev_set_intx. BARs never move (pci_bar_write), so an address is checked, not
 * applied, and no bus mapping has to be redone.
 */
void pci_dev_save(struct pci_dev *dev, struct state_writer *w);
/* A function's config space as a load sees it: checked whole before any of it is applied. */
struct pci_dev_state {
	uint8_t cfg[PCI_CFG_SIZE]; /* dev's config with the saved bytes in */
	bool sizing[PCI_NUM_BARS];
};
/* Read pci_dev_save's fields into *s; a byte whose read-only bits differ from dev's fails r. */
void pci_dev_load_prepare(struct pci_dev *dev, struct state_reader *r, struct pci_dev_state *s);
/*
 * Apply what pci_dev_load_prepare accepted. INTx follows Interrupt Disable as on a guest write;
 * no config_written hook runs: the owner re-derives what it keeps (msix_load_commit).
 */
void pci_dev_load_commit(struct pci_dev *dev, const struct pci_dev_state *s);

struct pci_bus {
	struct pci_dev host_bridge;
	struct pci_dev *devs[PCI_MAX_SLOTS];
	struct bus *pio;
	struct bus *mmio;
	uint32_t cf8; /* CONFIG_ADDRESS latch */
	uint64_t ecam_base;
	uint64_t mmio_next, mmio_end; /* BAR window allocator */
	uint32_t io_next, io_end;
	struct irq_line intx[4]; /* GSIs for INTA#..INTD# after swizzling, set by the VM */
	pthread_mutex_t lock;
};

/*
 * Register the host bridge, ports 0xcf8-0xcff on pio and ECAM on mmio; BARs are placed in
 * [mmio_base, mmio_base + mmio_size) and I/O BARs in [0xc000, 0x10000).
 * Snapshot: the ports' range carries the bus's state (section "PCIB": the CONFIG_ADDRESS latch
 * and the host bridge's config space); ECAM shares it. Each function's BAR range forwards to
 * its BAR's ops->save/load (a function keeps its config space with its own state: virtio-pci's
 * section), or is marked state_shared when those ops are.
 */
int pci_bus_init(struct pci_bus *pci, struct bus *pio, struct bus *mmio, uint64_t ecam_base,
		 uint64_t mmio_base, uint64_t mmio_size, const struct irq_line intx[4])
    __attribute__((warn_unused_result));
/* Put dev in the next free slot, place and register its BARs, wire INTA#. */
int pci_bus_add(struct pci_bus *pci, struct pci_dev *dev) __attribute__((warn_unused_result));
void pci_bus_cleanup(struct pci_bus *pci);
/* GSI of INTA# for a slot (slot swizzling) — the same mapping the ACPI _PRT describes. */
unsigned pci_bus_intx_index(unsigned slot);
/* Index into pci_bus.intx[] of pin (0 = INTA# .. 3 = INTD#) of a slot: the full swizzle. */
unsigned pci_bus_intx_pin_index(unsigned slot, unsigned pin);

#endif
