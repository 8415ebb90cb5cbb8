/* 8042 controller model: commands, command byte, output port reset, and a PS/2 keyboard. */
#include "dev/i8042.h"

#include <errno.h>
#include <string.h>

#include "log.h"

#define I8042_STR_OBF 0x01
#define I8042_STR_SYS 0x04
#define I8042_STR_CMDDAT 0x08  /* A2: last write was a command */
#define I8042_STR_KEYLOCK 0x10 /* 1 = keyboard not inhibited */
#define I8042_STR_AUXDATA 0x20

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40
/* As firmware leaves it with no mouse: keyboard interrupt, POST passed, scancode translation. */
#define I8042_CTR_DEFAULT (I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE)

#define I8042_OUT_RESET 0x01 /* active low: clearing it resets the CPU */
#define I8042_OUT_A20 0x02

#define I8042_CMD_READ_RAM 0x20	 /* 0x20-0x3f; 0x20 reads the CTR */
#define I8042_CMD_WRITE_RAM 0x60 /* 0x60-0x7f; 0x60 writes the CTR */
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_CTL_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_READ_OUTPORT 0xd0
#define I8042_CMD_WRITE_OUTPORT 0xd1
#define I8042_CMD_KBD_LOOP 0xd2
#define I8042_CMD_AUX_LOOP 0xd3
#define I8042_CMD_AUX_SEND 0xd4
#define I8042_CMD_A20_DISABLE 0xdd
#define I8042_CMD_A20_ENABLE 0xdf
#define I8042_CMD_PULSE 0xf0 /* 0xf0-0xff: low nibble bits clear = pulse those outport lines */

#define I8042_SELFTEST_OK 0x55
#define I8042_IFTEST_OK 0x00

/* Keyboard commands (the byte on 0x60 with no controller command pending) and replies. */
#define I8042_KBD_CMD_SET_LEDS 0xed
#define I8042_KBD_CMD_ECHO 0xee
#define I8042_KBD_CMD_SCANSET 0xf0
#define I8042_KBD_CMD_GET_ID 0xf2
#define I8042_KBD_CMD_TYPEMATIC 0xf3
#define I8042_KBD_CMD_ENABLE 0xf4
#define I8042_KBD_CMD_DISABLE 0xf5 /* also restores the defaults */
#define I8042_KBD_CMD_DEFAULTS 0xf6
#define I8042_KBD_CMD_SET3_FIRST                                                                   \
	0xf7 /* 0xf7-0xfd: set 3 key attributes, acknowledged and ignored */
#define I8042_KBD_CMD_SET3_LAST 0xfd
#define I8042_KBD_CMD_RESEND 0xfe
#define I8042_KBD_CMD_RESET 0xff

#define I8042_KBD_REPLY_BAT_OK 0xaa
#define I8042_KBD_REPLY_ECHO 0xee
#define I8042_KBD_REPLY_ACK 0xfa
#define I8042_KBD_REPLY_RESEND 0xfe
#define I8042_KBD_ID_0 0xab
#define I8042_KBD_ID_1 0x83		 /* MF2 keyboard */
#define I8042_KBD_ID_1_XLATE 0x41	 /* ... as a translating controller delivers it */
#define I8042_KBD_SCANSET 2		 /* the only set this keyboard speaks */
#define I8042_KBD_SCANSET_XLATE 0x41	 /* ... and how the translated answer reads */
#define I8042_KBD_TYPEMATIC_DEFAULT 0x2b /* 10.9 characters/s after 500 ms */

#define I8042_KBD_SET1_BREAK 0x80
#define I8042_KBD_SET2_BREAK 0xf0
#define I8042_KBD_EXTENDED 0xe0

/* A key as each scancode set sends it (what the controller's translation maps between). */
struct i8042_key {
	uint8_t set1, set2;
	bool extended;
};

static const struct i8042_key i8042_key_lctrl = { 0x1d, 0x14, false };
static const struct i8042_key i8042_key_lalt = { 0x38, 0x11, false };
static const struct i8042_key i8042_key_delete = { 0x53, 0x71, true };

static void i8042_kbd_defaults(struct i8042 *k)
{
	k->kbd_head = k->kbd_count = 0;
	k->kbd_pending = 0;
	k->kbd_leds = 0;
	k->kbd_typematic = I8042_KBD_TYPEMATIC_DEFAULT;
	k->kbd_scanning = true;
}

/*
 * Room for the keyboard to send: the queue and the output buffer hold 16 bytes together at most,
 * because Linux's i8042_flush() reads 16 and declares the controller absent if there is a 17th.
 */
static unsigned i8042_kbd_space(const struct i8042 *k)
{
	unsigned used = k->kbd_count + (k->obf ? 1u : 0u);

	return used < I8042_KBD_QUEUE_SIZE ? I8042_KBD_QUEUE_SIZE - used : 0;
}

/* The keyboard sends a byte; a full buffer drops it (the guest reads too slowly to notice). */
static void i8042_kbd_put(struct i8042 *k, uint8_t v)
{
	if (!i8042_kbd_space(k))
		return;
	k->kbd_queue[(k->kbd_head + k->kbd_count) % I8042_KBD_QUEUE_SIZE] = v;
	k->kbd_count++;
}

static bool i8042_xlate(const struct i8042 *k)
{
	return k->ram[0] & I8042_CTR_XLATE;
}

static void i8042_kbd_key(struct i8042 *k, const struct i8042_key *key, bool release)
{
	if (key->extended)
		i8042_kbd_put(k, I8042_KBD_EXTENDED);
	if (i8042_xlate(k)) {
		i8042_kbd_put(k, key->set1 | (release ? I8042_KBD_SET1_BREAK : 0));
		return;
	}
	if (release)
		i8042_kbd_put(k, I8042_KBD_SET2_BREAK);
	i8042_kbd_put(k, key->set2);
}

/*
 * A controller byte (command reply, loopback) takes the output buffer. A keyboard byte still
 * sitting there goes back to the head of the keyboard queue, so the command's reply is what the
 * host's next read returns and no keystroke is lost.
 */
static void i8042_output(struct i8042 *k, uint8_t v, bool aux)
{
	if (k->obf && k->obf_kbd && k->kbd_count < I8042_KBD_QUEUE_SIZE) {
		k->kbd_head =
		    (uint8_t)((k->kbd_head + I8042_KBD_QUEUE_SIZE - 1) % I8042_KBD_QUEUE_SIZE);
		k->kbd_queue[k->kbd_head] = k->obuf;
		k->kbd_count++;
	}
	k->obuf = v;
	k->obf = true;
	k->obf_aux = aux;
	k->obf_kbd = false;
}

/* The next keyboard byte moves into an empty output buffer unless the interface is disabled. */
static void i8042_refill(struct i8042 *k)
{
	if (k->obf || !k->kbd_count || (k->ram[0] & I8042_CTR_KBDDIS))
		return;
	k->obuf = k->kbd_queue[k->kbd_head];
	k->kbd_head = (uint8_t)((k->kbd_head + 1) % I8042_KBD_QUEUE_SIZE);
	k->kbd_count--;
	k->obf = true;
	k->obf_aux = false;
	k->obf_kbd = true;
}

/* Called with the lock held so that line changes reach the interrupt controller in order. */
static void i8042_update_irq(struct i8042 *k)
{
	bool kbd = k->obf && !k->obf_aux && (k->ram[0] & I8042_CTR_KBDINT);
	bool aux = k->obf && k->obf_aux && (k->ram[0] & I8042_CTR_AUXINT);

	if (kbd != k->kbd_level) {
		k->kbd_level = kbd;
		irq_line_set(&k->kbd_irq, kbd);
	}
	if (aux != k->aux_level) {
		k->aux_level = aux;
		irq_line_set(&k->aux_irq, aux);
	}
}

/* Every state change ends here: feed the output buffer, then drive the lines. */
static void i8042_finish(struct i8042 *k)
{
	i8042_refill(k);
	i8042_update_irq(k);
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = I8042_STR_KEYLOCK;

	if (k->obf)
		s |= I8042_STR_OBF | (k->obf_aux ? I8042_STR_AUXDATA : 0);
	if (k->ram[0] & I8042_CTR_SYS)
		s |= I8042_STR_SYS;
	if (k->last_was_cmd)
		s |= I8042_STR_CMDDAT;
	return s;
}

/* Returns true when the command asks for a CPU reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	if (cmd >= I8042_CMD_READ_RAM && cmd < I8042_CMD_READ_RAM + 0x20) {
		i8042_output(k, k->ram[cmd & 0x1f], false);
		return false;
	}
	if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + 0x20) {
		k->pending_cmd = cmd;
		return false;
	}
	if (cmd >= I8042_CMD_PULSE)
		return !(cmd & I8042_OUT_RESET); /* 0xfe: Linux's reboot=k */
	switch (cmd) {
	case I8042_CMD_AUX_DISABLE:
		k->ram[0] |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->ram[0] &= ~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_TEST:
	case I8042_CMD_KBD_TEST:
		/* An empty port's lines idle high, which the interface test reports as fine. */
		i8042_output(k, I8042_IFTEST_OK, false);
		break;
	case I8042_CMD_CTL_TEST:
		i8042_output(k, I8042_SELFTEST_OK, false);
		break;
	case I8042_CMD_KBD_DISABLE:
		k->ram[0] |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->ram[0] &= ~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_READ_OUTPORT:
		i8042_output(k, k->outport, false);
		break;
	case I8042_CMD_WRITE_OUTPORT:
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		k->pending_cmd = cmd;
		break;
	case I8042_CMD_A20_DISABLE:
		k->outport &= ~I8042_OUT_A20;
		break;
	case I8042_CMD_A20_ENABLE:
		k->outport |= I8042_OUT_A20;
		break;
	default:
		log_guest("i8042: unsupported command 0x%02x ignored", cmd);
		break;
	}
	return false;
}

/* The keyboard's reply; remembered for the resend command. */
static void i8042_kbd_reply(struct i8042 *k, uint8_t v)
{
	i8042_kbd_put(k, v);
	k->kbd_last = v;
}

/* A byte that reached the keyboard: a parameter of its pending command, or a new command. */
static void i8042_kbd_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->kbd_pending;

	k->kbd_pending = 0;
	/* A command byte in place of a parameter abandons the old command, as keyboards do. */
	if (cmd && v < I8042_KBD_CMD_SET_LEDS) {
		switch (cmd) {
		case I8042_KBD_CMD_SET_LEDS:
			k->kbd_leds = v & 7;
			break;
		case I8042_KBD_CMD_TYPEMATIC:
			k->kbd_typematic = v & 0x7f;
			break;
		default: /* I8042_KBD_CMD_SCANSET: 0 asks; a request for set 1 or 3 leaves set 2 */
			break;
		}
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		if (cmd == I8042_KBD_CMD_SCANSET && v == 0)
			i8042_kbd_reply(k, i8042_xlate(k) ? I8042_KBD_SCANSET_XLATE
							  : I8042_KBD_SCANSET);
		return;
	}
	switch (v) {
	case I8042_KBD_CMD_SET_LEDS:
	case I8042_KBD_CMD_SCANSET:
	case I8042_KBD_CMD_TYPEMATIC:
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		k->kbd_pending = v;
		break;
	case I8042_KBD_CMD_ECHO:
		i8042_kbd_reply(k, I8042_KBD_REPLY_ECHO);
		break;
	case I8042_KBD_CMD_GET_ID:
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		i8042_kbd_reply(k, I8042_KBD_ID_0);
		i8042_kbd_reply(k, i8042_xlate(k) ? I8042_KBD_ID_1_XLATE : I8042_KBD_ID_1);
		break;
	case I8042_KBD_CMD_ENABLE:
		/* Enabling clears the keyboard's buffer, as DISABLE, DEFAULTS and RESET do. */
		k->kbd_head = k->kbd_count = 0;
		k->kbd_scanning = true;
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		break;
	case I8042_KBD_CMD_DISABLE:
		i8042_kbd_defaults(k);
		k->kbd_scanning = false;
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		break;
	case I8042_KBD_CMD_DEFAULTS:
		i8042_kbd_defaults(k);
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		break;
	case I8042_KBD_CMD_RESEND:
		i8042_kbd_put(k, k->kbd_last);
		break;
	case I8042_KBD_CMD_RESET:
		i8042_kbd_defaults(k);
		i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		i8042_kbd_reply(k, I8042_KBD_REPLY_BAT_OK);
		break;
	default:
		if (v >= I8042_KBD_CMD_SET3_FIRST && v <= I8042_KBD_CMD_SET3_LAST)
			i8042_kbd_reply(k, I8042_KBD_REPLY_ACK);
		else
			i8042_kbd_reply(k, I8042_KBD_REPLY_RESEND); /* unknown: Linux falls back */
		break;
	}
}

/* A byte on 0x60: a pending command's parameter, else meant for the keyboard. */
static bool i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + 0x20) {
		k->ram[cmd & 0x1f] = v;
		return false;
	}
	switch (cmd) {
	case I8042_CMD_WRITE_OUTPORT:
		k->outport = v;
		return !(v & I8042_OUT_RESET);
	case I8042_CMD_KBD_LOOP:
		i8042_output(k, v, false);
		break;
	case I8042_CMD_AUX_LOOP:
		/* Linux's AUX IRQ delivery test: the byte must come back as aux data. */
		i8042_output(k, v, true);
		break;
	case I8042_CMD_AUX_SEND:
		/* No mouse: nobody answers, and Linux's psmouse probe times out. */
		break;
	default:
		/* Sending to the keyboard re-enables its interface, as 8042 firmware does. */
		k->ram[0] &= ~I8042_CTR_KBDDIS;
		i8042_kbd_write(k, v);
		break;
	}
	return false;
}

static void i8042_reset_if(struct i8042 *k, bool reset)
{
	/* Outside the lock: the VM may stop vCPUs, one of which could be waiting for it. */
	if (reset)
		power_request(&k->power, POWER_RESET, 0);
}

/* Each range is one port: only the first byte of an access at offset 0 reaches the controller. */
static void i8042_data_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct i8042 *k = dev;
	uint8_t *bytes = data;

	if (off || !len)
		return;
	pthread_mutex_lock(&k->lock);
	bytes[0] = k->obf ? k->obuf : 0;
	k->obf = false;
	k->obf_kbd = false;
	/*
	 * Drop the line before the next byte raises it again: ISA IRQ 1 is edge-triggered on the
	 * IOAPIC, and Linux's handler takes one byte per interrupt.
	 */
	i8042_update_irq(k);
	i8042_finish(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_data_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct i8042 *k = dev;
	bool reset;

	if (off || !len)
		return;
	pthread_mutex_lock(&k->lock);
	k->last_was_cmd = false;
	reset = i8042_data(k, *(const uint8_t *)data);
	i8042_finish(k);
	pthread_mutex_unlock(&k->lock);
	i8042_reset_if(k, reset);
}

static void i8042_cmd_read(void *dev, uint64_t off, void *data, unsigned len)
{
	struct i8042 *k = dev;
	uint8_t *bytes = data;

	if (off || !len)
		return;
	pthread_mutex_lock(&k->lock);
	bytes[0] = i8042_status(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_write(void *dev, uint64_t off, const void *data, unsigned len)
{
	struct i8042 *k = dev;
	bool reset;

	if (off || !len)
		return;
	pthread_mutex_lock(&k->lock);
	k->last_was_cmd = true;
	reset = i8042_command(k, *(const uint8_t *)data);
	i8042_finish(k);
	pthread_mutex_unlock(&k->lock);
	i8042_reset_if(k, reset);
}

const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
	.save = i8042_save,
	.load = i8042_load,
};

const struct bus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
	.state_shared = true, /* one controller: i8042_data_ops saves it */
};

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	unsigned need;
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	/* Three makes and three breaks; Delete is E0-prefixed, and its set 2 break E0 F0 71. */
	need = i8042_xlate(k) ? 8 : 11;
	if (!k->kbd_scanning) {
		ret = -EAGAIN;
	} else if (i8042_kbd_space(k) < need) {
		ret = -ENOSPC;
	} else {
		i8042_kbd_key(k, &i8042_key_lctrl, false);
		i8042_kbd_key(k, &i8042_key_lalt, false);
		i8042_kbd_key(k, &i8042_key_delete, false);
		i8042_kbd_key(k, &i8042_key_delete, true);
		i8042_kbd_key(k, &i8042_key_lalt, true);
		i8042_kbd_key(k, &i8042_key_lctrl, true);
		i8042_finish(k);
	}
	pthread_mutex_unlock(&k->lock);
	return ret;
}

/* What a snapshot carries: read and checked whole before any of it reaches the device. */
struct i8042_state {
	uint8_t ram[32];
	uint8_t outport, obuf;
	bool obf, obf_aux, obf_kbd, last_was_cmd;
	uint8_t pending_cmd;
	uint8_t kbd_queue[I8042_KBD_QUEUE_SIZE];
	uint32_t kbd_head, kbd_count;
	uint8_t kbd_pending, kbd_last, kbd_leds, kbd_typematic;
	bool kbd_scanning;
};

void i8042_save(const void *dev, struct state_writer *w)
{
	/* Locked: i8042_send_ctrl_alt_del() may come from the host while the VM is paused. */
	struct i8042 *k = (struct i8042 *)dev;

	pthread_mutex_lock(&k->lock);
	state_section_begin(w, I8042_STATE_TAG, I8042_STATE_VERSION);
	state_put_bytes(w, k->ram, sizeof(k->ram));
	state_put_u8(w, k->outport);
	state_put_u8(w, k->obuf);
	state_put_bool(w, k->obf);
	state_put_bool(w, k->obf_aux);
	state_put_bool(w, k->obf_kbd);
	state_put_bool(w, k->last_was_cmd);
	state_put_u8(w, k->pending_cmd);
	state_put_bytes(w, k->kbd_queue, sizeof(k->kbd_queue));
	state_put_u32(w, k->kbd_head);
	state_put_u32(w, k->kbd_count);
	state_put_u8(w, k->kbd_pending);
	state_put_u8(w, k->kbd_last);
	state_put_u8(w, k->kbd_leds);
	state_put_u8(w, k->kbd_typematic);
	state_put_bool(w, k->kbd_scanning);
	state_section_end_write(w);
	pthread_mutex_unlock(&k->lock);
}

/* The commands i8042_command() leaves waiting for a parameter. */
static bool i8042_valid_pending_cmd(uint8_t cmd)
{
	return cmd == 0 || (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + 0x20) ||
	       (cmd >= I8042_CMD_WRITE_OUTPORT && cmd <= I8042_CMD_AUX_SEND);
}

/* The keyboard commands i8042_kbd_write() leaves waiting for a parameter. */
static bool i8042_valid_kbd_pending(uint8_t cmd)
{
	return cmd == 0 || cmd == I8042_KBD_CMD_SET_LEDS || cmd == I8042_KBD_CMD_SCANSET ||
	       cmd == I8042_KBD_CMD_TYPEMATIC;
}

int i8042_load(void *dev, struct state_reader *r)
{
	struct i8042 *k = dev;
	struct i8042_state st;
	uint32_t version;

	state_section_begin_read(r, I8042_STATE_TAG, I8042_STATE_VERSION, &version);
	state_get_bytes(r, st.ram, sizeof(st.ram));
	st.outport = state_get_u8(r);
	st.obuf = state_get_u8(r);
	st.obf = state_get_bool(r);
	st.obf_aux = state_get_bool(r);
	st.obf_kbd = state_get_bool(r);
	/* A keyboard byte in the buffer is never aux data, and is there only while OBF is. */
	if (st.obf_kbd && (st.obf_aux || !st.obf))
		state_reader_fail(r, "i8042: output buffer source flags disagree");
	st.last_was_cmd = state_get_bool(r);
	st.pending_cmd = state_get_u8(r);
	if (!i8042_valid_pending_cmd(st.pending_cmd))
		state_reader_fail(r, "i8042: pending controller command it never waits on");
	state_get_bytes(r, st.kbd_queue, sizeof(st.kbd_queue));
	st.kbd_head = state_get_u32_below(r, I8042_KBD_QUEUE_SIZE, "i8042: keyboard queue head");
	st.kbd_count =
	    state_get_u32_below(r, I8042_KBD_QUEUE_SIZE + 1, "i8042: keyboard queue count");
	st.kbd_pending = state_get_u8(r);
	if (!i8042_valid_kbd_pending(st.kbd_pending))
		state_reader_fail(r, "i8042: pending keyboard command it never waits on");
	/* Any byte: what the resend command repeats. */
	st.kbd_last = state_get_u8(r);
	st.kbd_leds = state_get_u8(r);
	if (st.kbd_leds > 7)
		state_reader_fail(r, "i8042: keyboard LED bits beyond the three");
	st.kbd_typematic = state_get_u8(r);
	if (st.kbd_typematic > 0x7f)
		state_reader_fail(r, "i8042: typematic byte with bit 7 set");
	st.kbd_scanning = state_get_bool(r);
	/* i8042_refill() leaves the buffer empty with bytes queued only while KBDDIS holds them. */
	if (!st.obf && st.kbd_count && !(st.ram[0] & I8042_CTR_KBDDIS))
		state_reader_fail(r, "i8042: keyboard bytes queued behind an empty output buffer");
	if (state_section_end(r))
		return -EINVAL;

	pthread_mutex_lock(&k->lock);
	memcpy(k->ram, st.ram, sizeof(k->ram));
	k->outport = st.outport;
	k->obuf = st.obuf;
	k->obf = st.obf;
	k->obf_aux = st.obf_aux;
	k->obf_kbd = st.obf_kbd;
	k->last_was_cmd = st.last_was_cmd;
	k->pending_cmd = st.pending_cmd;
	memcpy(k->kbd_queue, st.kbd_queue, sizeof(k->kbd_queue));
	k->kbd_head = (uint8_t)st.kbd_head;
	k->kbd_count = (uint8_t)st.kbd_count;
	k->kbd_pending = st.kbd_pending;
	k->kbd_last = st.kbd_last;
	k->kbd_leds = st.kbd_leds;
	k->kbd_typematic = st.kbd_typematic;
	k->kbd_scanning = st.kbd_scanning;
	/* Only the lines: the checks above leave nothing for i8042_refill() to move. */
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

void i8042_init(struct i8042 *k, const struct power_sink *power)
{
	memset(k, 0, sizeof(*k));
	/* The default attributes cannot fail to initialise on Linux, hence void. */
	pthread_mutex_init(&k->lock, NULL);
	if (power)
		k->power = *power;
	k->ram[0] = I8042_CTR_DEFAULT;
	k->outport = I8042_OUT_RESET | I8042_OUT_A20;
	/* Power-on self-test passed, as firmware found it; the BAT byte was consumed then. */
	i8042_kbd_defaults(k);
	k->kbd_last = I8042_KBD_REPLY_BAT_OK;
}

void i8042_set_irqs(struct i8042 *k, const struct irq_line *kbd, const struct irq_line *aux)
{
	pthread_mutex_lock(&k->lock);
	k->kbd_irq = kbd ? *kbd : (struct irq_line){ 0 };
	k->aux_irq = aux ? *aux : (struct irq_line){ 0 };
	k->kbd_level = k->aux_level = false;
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}
