/* The 8042 PS/2 controller and its keyboard (no mouse): Linux's probe, reset, Ctrl+Alt+Del. */
#ifndef KVMBOX_DEV_I8042_H
#define KVMBOX_DEV_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "dev/power.h"
#include "irq.h"
#include "snapshot/state.h"

/*
 * Two 1-port ranges share one struct i8042: register i8042_data_ops at I8042_PORT_DATA and
 * i8042_cmd_ops at I8042_PORT_CMD, each with length 1 and the same dev. The 8042 only exists on
 * PCs, so its fixed ports live here.
 */
#define I8042_PORT_DATA 0x60
#define I8042_PORT_CMD 0x64

extern const struct bus_ops i8042_data_ops; /* 0x60: output buffer / data and parameters */
extern const struct bus_ops i8042_cmd_ops;  /* 0x64: read status, write command */

/*
 * Snapshot section "8042", version 1 (little-endian), carried by i8042_data_ops (i8042_cmd_ops
 * has state_shared): the 32 bytes of controller RAM (command byte first); u8 output port, output
 * buffer; bool OBF, OBF from aux, OBF from the keyboard queue (not with aux; only with OBF),
 * last write was a command; u8 pending controller command (0, 0x60-0x7f, 0xd1-0xd4); the 16
 * keyboard queue bytes, u32 head (< 16), u32 count (<= 16; bytes queued behind an empty output
 * buffer only with the keyboard interface disabled); u8 pending keyboard command (0, 0xed,
 * 0xf0, 0xf3), last byte sent, LEDs (< 8), typematic (< 0x80); bool scanning. The IRQ levels
 * are not saved: load re-drives both lines from the output buffer and the command byte.
 */
#define I8042_STATE_TAG STATE_TAG('8', '0', '4', '2')
#define I8042_STATE_VERSION 1

/* The bus_ops snapshot hooks (struct bus_ops has the contract); dev is a struct i8042. */
void i8042_save(const void *dev, struct state_writer *w);
int i8042_load(void *dev, struct state_reader *r) __attribute__((warn_unused_result));

/*
 * Keyboard bytes waiting, the output buffer included: Linux's i8042_flush() gives up after 16.
 * Ctrl+Alt+Del pressed and released takes 8 bytes in set 1, 11 in set 2.
 */
#define I8042_KBD_QUEUE_SIZE 16

struct i8042 {
	pthread_mutex_t lock;
	struct power_sink power;
	struct irq_line kbd_irq, aux_irq;
	uint8_t ram[32];     /* controller RAM; ram[0] is the command byte (CTR) */
	uint8_t outport;     /* output port: bit 0 = CPU reset line (active low), bit 1 = A20 */
	uint8_t obuf;	     /* output buffer: one byte, as on the part */
	bool obf;	     /* obuf holds a byte for the host */
	bool obf_aux;	     /* ... and it came from the aux (mouse) side */
	bool obf_kbd;	     /* ... and it came from the keyboard queue */
	bool last_was_cmd;   /* status A2: the last write went to 0x64 */
	uint8_t pending_cmd; /* command awaiting its parameter on 0x60, or 0 */
	bool kbd_level, aux_level;

	/*
	 * The keyboard: what it has still to send, as the host will read it (scancodes already in
	 * set 1 when the CTR's translation bit was on as they were queued). A byte moves into obuf
	 * when obuf is empty and the keyboard interface is enabled.
	 */
	uint8_t kbd_queue[I8042_KBD_QUEUE_SIZE];
	uint8_t kbd_head, kbd_count;
	uint8_t kbd_pending; /* keyboard command awaiting its parameter (0xed, 0xf0, 0xf3), or 0 */
	uint8_t kbd_last;    /* last byte the keyboard sent, for the resend command */
	bool kbd_scanning;   /* key events are reported (0xf4 enables, 0xf5 disables) */
	uint8_t kbd_leds, kbd_typematic;
};

/* power receives POWER_RESET (command 0xfe, or output port bit 0 cleared); it may be NULL. */
void i8042_init(struct i8042 *k, const struct power_sink *power);

/*
 * Optional, before the guest runs: kbd (ISA IRQ 1) and aux (IRQ 12); either may be NULL. Without
 * aux, Linux's AUX interrupt delivery test times out after 250 ms and leaves the aux port
 * unregistered; wire IRQ 12 or boot with i8042.noaux to skip that wait.
 */
void i8042_set_irqs(struct i8042 *k, const struct irq_line *kbd, const struct irq_line *aux);

/*
 * Press and release Ctrl+Alt+Del on the keyboard (left Ctrl, left Alt, Delete; then the breaks in
 * reverse order): set 1 scancodes when the controller translates (Linux's default), set 2 when not,
 * and keyboard interrupts as the guest reads them. With a Linux guest, atkbd and the VT keymap turn
 * this into ctrl_alt_del(), which signals init (or reboots when init left C_A_D on). Any thread.
 * Returns 0, -EAGAIN when the guest has disabled keyboard scanning (0xf5: a real keyboard would
 * drop the keys), or -ENOSPC when the keyboard buffer cannot take the whole sequence.
 */
int i8042_send_ctrl_alt_del(struct i8042 *k) __attribute__((warn_unused_result));

void i8042_destroy(struct i8042 *k);

#endif
