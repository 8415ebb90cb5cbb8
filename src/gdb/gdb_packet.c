/* GDB remote serial protocol framing and encodings (gdb_packet.h). */
#include "gdb/gdb_packet.h"

#include <errno.h>

enum { RX_IDLE, RX_DATA, RX_ESCAPE, RX_CSUM_HI, RX_CSUM_LO };

static int gdb_hex_digit(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void gdb_rx_init(struct gdb_rx *rx)
{
	rx->state = RX_IDLE;
	rx->overflow = false;
	rx->sum = 0;
	rx->csum = 0;
	rx->len = 0;
	rx->buf[0] = '\0';
}

static void gdb_rx_store(struct gdb_rx *rx, uint8_t c)
{
	rx->sum = (uint8_t)(rx->sum + c);
	if (rx->len < GDB_PACKET_MAX)
		rx->buf[rx->len++] = (char)c;
	else
		rx->overflow = true;
}

enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t c)
{
	int d;

	switch (rx->state) {
	case RX_IDLE:
		if (c == '$') {
			gdb_rx_init(rx);
			rx->state = RX_DATA;
		} else if (c == 0x03) {
			return GDB_RX_INTERRUPT;
		} else if (c == '+') {
			return GDB_RX_ACK;
		} else if (c == '-') {
			return GDB_RX_NAK;
		}
		return GDB_RX_NONE;
	case RX_DATA:
		if (c == '#') {
			rx->state = RX_CSUM_HI;
		} else if (c == '$') {
			/* An unescaped '$' only starts a packet: the client gave up on the last
			 * one. */
			gdb_rx_init(rx);
			rx->state = RX_DATA;
		} else {
			gdb_rx_store(rx, c);
			if (c == '}')
				rx->state = RX_ESCAPE;
		}
		return GDB_RX_NONE;
	case RX_ESCAPE:
		gdb_rx_store(rx, c);
		rx->state = RX_DATA;
		return GDB_RX_NONE;
	case RX_CSUM_HI:
		d = gdb_hex_digit(c);
		if (d < 0) {
			rx->state = RX_IDLE;
			return GDB_RX_BAD_CSUM;
		}
		rx->csum = (uint8_t)(d << 4);
		rx->state = RX_CSUM_LO;
		return GDB_RX_NONE;
	default: /* RX_CSUM_LO */
		rx->state = RX_IDLE;
		d = gdb_hex_digit(c);
		if (d < 0)
			return GDB_RX_BAD_CSUM;
		rx->csum |= (uint8_t)d;
		if (rx->overflow)
			return GDB_RX_TOO_LONG;
		if (rx->csum != rx->sum)
			return GDB_RX_BAD_CSUM;
		rx->buf[rx->len] = '\0';
		return GDB_RX_PACKET;
	}
}

ssize_t gdb_packet_frame(const void *payload, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = payload;
	size_t o = 0;
	uint8_t sum = 0;

	if (cap < 4)
		return -ENOSPC;
	out[o++] = '$';
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		bool esc = c == '$' || c == '#' || c == '}' || c == '*';

		if (o + (esc ? 2 : 1) + 3 > cap)
			return -ENOSPC;
		if (esc) {
			out[o++] = '}';
			sum = (uint8_t)(sum + '}');
			c ^= 0x20;
		}
		out[o++] = (char)c;
		sum = (uint8_t)(sum + c);
	}
	out[o++] = '#';
	out[o++] = hex[sum >> 4];
	out[o++] = hex[sum & 15];
	return (ssize_t)o;
}

size_t gdb_hex_encode(const void *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	return 2 * n;
}

int gdb_hex_decode(const char *hex, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = gdb_hex_digit((uint8_t)hex[2 * i]),
		    lo = gdb_hex_digit((uint8_t)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int gdb_hex_u64(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	unsigned n = 0;
	int d;

	while (s < end && (d = gdb_hex_digit((uint8_t)*s)) >= 0) {
		if (++n > 16)
			return -EINVAL;
		x = x << 4 | (uint64_t)d;
		s++;
	}
	if (!n)
		return -EINVAL;
	*v = x;
	*p = s;
	return 0;
}

ssize_t gdb_binary_unescape(char *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '}') {
			if (++i == len)
				return -EINVAL;
			buf[o++] = (char)(buf[i] ^ 0x20);
		} else {
			buf[o++] = buf[i];
		}
	}
	return (ssize_t)o;
}
