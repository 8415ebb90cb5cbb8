/*
 * libFuzzer target: a gdb client's byte stream into the stub's packet parser. Every complete packet
 * is checked against its own framing (re-framed and re-parsed, it comes back identical), and its
 * body goes through the hex-number, hex-data and binary decoders the commands use.
 */
#include "gdb/gdb_packet.h"

#include <stdlib.h>
#include <string.h>

static struct gdb_rx rx, rx2;
static char framed[2 * GDB_PACKET_MAX + 8];
static uint8_t bytes[GDB_PACKET_MAX / 2];

static void fuzz_decoders(char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	uint64_t v;
	ssize_t n;

	/* Like m/M/X/Z arguments: hex numbers separated by anything. */
	while (p < end) {
		const char *before = p;

		if (gdb_hex_u64(&p, end, &v) == 0) {
			if (p <= before || p > end || p - before > 16)
				abort();
		} else if (p != before) {
			abort(); /* a failure consumes nothing */
		} else {
			p++;
		}
	}
	if (len / 2 <= sizeof(bytes))
		(void)gdb_hex_decode(buf, len / 2, bytes);
	n = gdb_binary_unescape(buf, len);
	if (n > (ssize_t)len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gdb_rx_init(&rx);
	for (size_t i = 0; i < size; i++) {
		enum gdb_rx_event e = gdb_rx_feed(&rx, data[i]);
		ssize_t n;

		if (rx.len > GDB_PACKET_MAX)
			abort();
		if (e != GDB_RX_PACKET)
			continue;
		if (rx.buf[rx.len] != '\0')
			abort();
		/* The payload as received is already escaped: unescape, frame, parse back. */
		n = gdb_binary_unescape(rx.buf, rx.len);
		if (n < 0)
			continue;
		n = gdb_packet_frame(rx.buf, (size_t)n, framed, sizeof(framed));
		if (n < 0)
			abort(); /* twice the maximum always fits */
		gdb_rx_init(&rx2);
		enum gdb_rx_event e2 = GDB_RX_NONE;

		for (ssize_t j = 0; j < n; j++)
			e2 = gdb_rx_feed(&rx2, (uint8_t)framed[j]);
		if (rx2.len <= GDB_PACKET_MAX && e2 != GDB_RX_PACKET)
			abort();
		if (e2 == GDB_RX_PACKET)
			fuzz_decoders(rx2.buf, rx2.len);
	}
	return 0;
}
