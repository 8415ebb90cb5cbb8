/* QEMU's fw_cfg on the legacy I/O ports (0x510 selector, 0x511 data), for test guests that ask it.
 */
#ifndef KVMBOX_DEV_FW_CFG_H
#define KVMBOX_DEV_FW_CFG_H

#include <pthread.h>
#include <stdint.h>

#include "bus.h"
#include "snapshot/state.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_NR_PORTS 2 /* selector (16-bit write at +0), data (8-bit read at +1) */

/* The keys kvmbox answers; every other key reads as zeros, as in QEMU. */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19

/*
 * The traditional (non-DMA) interface: a 16-bit write to the selector chooses a key and rewinds
 * it; each read of the data port returns the key's next byte, then zeros past its end. A wider
 * read returns that many bytes in stream order, first byte at the lowest address (QEMU's MMIO
 * data register; its I/O port takes byte reads only). Reads of the selector port and all writes
 * to the data port are ignored (reads give zeros). The file directory is present and empty, so
 * a guest that looks for files finds none.
 */
struct fw_cfg {
	pthread_mutex_t lock; /* selector and offset: vCPUs may read concurrently */
	uint16_t selector;
	uint32_t offset;
	uint8_t signature[4], id[4], uuid[16], ram_size[8], nographic[2], nb_cpus[2], max_cpus[2],
	    file_dir[4];
};

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, unsigned nb_cpus);
void fw_cfg_destroy(struct fw_cfg *f);

extern const struct bus_ops fw_cfg_bus_ops;

/*
 * Snapshot section "FWCF", version 1 (little-endian): u16 selector; u32 offset in the selected
 * item (at most its length; 0 for a key kvmbox does not have). The items come from the VM's
 * configuration (RAM size, vCPUs), so they are not state: the restoring VM has the same.
 */
#define FW_CFG_STATE_TAG STATE_TAG('F', 'W', 'C', 'F')
#define FW_CFG_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct fw_cfg. */
void fw_cfg_save(const void *dev, struct state_writer *w);
int fw_cfg_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

#endif
