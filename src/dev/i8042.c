/* 8042 controller model: commands, command byte, output port reset, no devices behind it. */
#include "dev/i8042.h"

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

static void i8042_output(struct i8042 *k, uint8_t v, bool aux)
{
	/* One-byte buffer: a new byte overwrites an unread one, as on the part. */
	k->obuf = v;
	k->obf = true;
	k->obf_aux = aux;
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

/* A byte on 0x60: a pending command's parameter, else meant for the (absent) keyboard. */
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
	default:
		/* AUX_SEND or plain keyboard bytes: no device is there to answer. */
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
	i8042_update_irq(k);
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
	i8042_update_irq(k);
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
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	i8042_reset_if(k, reset);
}

const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

const struct bus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

void i8042_init(struct i8042 *k, const struct power_sink *power)
{
	memset(k, 0, sizeof(*k));
	/* The default attributes cannot fail to initialise on Linux, hence void. */
	pthread_mutex_init(&k->lock, NULL);
	if (power)
		k->power = *power;
	k->ram[0] = I8042_CTR_DEFAULT;
	k->outport = I8042_OUT_RESET | I8042_OUT_A20;
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
