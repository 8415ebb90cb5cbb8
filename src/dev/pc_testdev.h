/* QEMU's pc-testdev, as kvm-unit-tests uses it: a scratch port, a page-flush port, IRQ lines and
 * a 64 KiB RAM-like MMIO window. */
#ifndef KVMBOX_DEV_PC_TESTDEV_H
#define KVMBOX_DEV_PC_TESTDEV_H

#include <pthread.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"
#include "snapshot/state.h"

#define PC_TESTDEV_PORT_SCRATCH 0xe0 /* 4 ports: a 32-bit register, readable byte by byte */
#define PC_TESTDEV_PORT_FLUSH 0xe4   /* 4 ports: a 32-bit write names a guest page to flush */
#define PC_TESTDEV_PORT_IRQ 0x2000   /* 24 ports: a write to 0x2000+n sets ISA/IOAPIC line n */
#define PC_TESTDEV_NR_IRQS 24
/* MMIO that reads back what was written (kvm-unit-tests' IORAM: emulator.flat's memory operands
 * that are device accesses, so the instruction emulator, KVM's or kvmbox's, handles them). */
#define PC_TESTDEV_IOMEM_BASE 0xff000000ull
#define PC_TESTDEV_IOMEM_LEN 0x10000u

/*
 * Flushing a page drops the host's (and so KVM's) mappings of it, so the guest's next access
 * faults it back in: what event-injection tests use to make IDT or stack pages absent in the
 * shadow MMU. The VM implements it; the model only forwards the guest-physical address.
 */
struct pc_testdev_flush {
	void (*flush)(void *opaque, uint64_t gpa);
	void *opaque;
};

struct pc_testdev {
	pthread_mutex_t lock;
	uint32_t scratch;
	uint8_t iomem[PC_TESTDEV_IOMEM_LEN];
	struct pc_testdev_flush flush;
	struct irq_line irq; /* line n drives GSI irq.gsi + n */
};

void pc_testdev_init(struct pc_testdev *t, const struct pc_testdev_flush *flush,
		     const struct irq_line *irq);
void pc_testdev_destroy(struct pc_testdev *t);

extern const struct bus_ops pc_testdev_scratch_ops; /* at PC_TESTDEV_PORT_SCRATCH, 4 ports */
extern const struct bus_ops pc_testdev_flush_ops;   /* at PC_TESTDEV_PORT_FLUSH, 4 ports */
extern const struct bus_ops pc_testdev_irq_ops;	    /* at PC_TESTDEV_PORT_IRQ, 24 ports */
extern const struct bus_ops pc_testdev_iomem_ops;   /* MMIO at PC_TESTDEV_IOMEM_BASE */

/*
 * Snapshot section "TDEV", version 1 (little-endian), carried by pc_testdev_scratch_ops (the
 * flush and IRQ ports have state_shared): u32 scratch register. The flush port has no state, and
 * the IRQ ports pass levels straight to the lines without keeping them: those levels live in the
 * interrupt controller's state, not here.
 */
#define PC_TESTDEV_STATE_TAG STATE_TAG('T', 'D', 'E', 'V')
#define PC_TESTDEV_STATE_VERSION 1
/* Section "TDIO", version 1, carried by pc_testdev_iomem_ops: the window's 64 KiB. */
#define PC_TESTDEV_IOMEM_STATE_TAG STATE_TAG('T', 'D', 'I', 'O')
#define PC_TESTDEV_IOMEM_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct pc_testdev. */
void pc_testdev_save(const void *dev, struct state_writer *w);
int pc_testdev_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));
void pc_testdev_iomem_save(const void *dev, struct state_writer *w);
int pc_testdev_iomem_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

#endif
