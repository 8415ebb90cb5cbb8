/* The 8042 PS/2 controller with nothing attached: enough for Linux's probe and for reset. */
#ifndef KVMBOX_DEV_I8042_H
#define KVMBOX_DEV_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "dev/power.h"
#include "irq.h"

/*
 * Two 1-port ranges share one struct i8042: register i8042_data_ops at I8042_PORT_DATA and
 * i8042_cmd_ops at I8042_PORT_CMD, each with length 1 and the same dev. The 8042 only exists on
 * PCs, so its fixed ports live here.
 */
#define I8042_PORT_DATA 0x60
#define I8042_PORT_CMD 0x64

extern const struct bus_ops i8042_data_ops; /* 0x60: output buffer / data and parameters */
extern const struct bus_ops i8042_cmd_ops;  /* 0x64: read status, write command */

struct i8042 {
	pthread_mutex_t lock;
	struct power_sink power;
	struct irq_line kbd_irq, aux_irq;
	uint8_t ram[32];     /* controller RAM; ram[0] is the command byte (CTR) */
	uint8_t outport;     /* output port: bit 0 = CPU reset line (active low), bit 1 = A20 */
	uint8_t obuf;	     /* output buffer */
	bool obf;	     /* obuf holds a byte for the host */
	bool obf_aux;	     /* ... and it came from the aux (mouse) side */
	bool last_was_cmd;   /* status A2: the last write went to 0x64 */
	uint8_t pending_cmd; /* command awaiting its parameter on 0x60, or 0 */
	bool kbd_level, aux_level;
};

/* power receives POWER_RESET (command 0xfe, or output port bit 0 cleared); it may be NULL. */
void i8042_init(struct i8042 *k, const struct power_sink *power);

/*
 * Optional, before the guest runs: kbd (ISA IRQ 1) and aux (IRQ 12); either may be NULL. Without
 * aux, Linux's AUX interrupt delivery test times out after 250 ms and leaves the aux port
 * unregistered; wire IRQ 12 or boot with i8042.noaux to skip that wait.
 */
void i8042_set_irqs(struct i8042 *k, const struct irq_line *kbd, const struct irq_line *aux);
void i8042_destroy(struct i8042 *k);

#endif
