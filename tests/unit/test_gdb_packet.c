/* Unit tests of the gdb remote protocol framing (src/gdb/gdb_packet.c): packets byte by byte,
 * checksums, escapes, acks and Ctrl-C, resynchronisation, overlong packets, hex and binary data.
 * No KVM. */
#include <errno.h>
#include <string.h>

#include "gdb/gdb_packet.h"
#include "test.h"

/* Feed s; return the last event that was not GDB_RX_NONE (GDB_RX_NONE if none). */
static enum gdb_rx_event feed(struct gdb_rx *rx, const char *s, size_t n)
{
	enum gdb_rx_event last = GDB_RX_NONE, e;

	for (size_t i = 0; i < n; i++)
		if ((e = gdb_rx_feed(rx, (uint8_t)s[i])) != GDB_RX_NONE)
			last = e;
	return last;
}
#define FEED(rx, lit) feed(rx, lit, sizeof(lit) - 1)

static struct gdb_rx rx;

static void test_packets(void)
{
	gdb_rx_init(&rx);
	/* "g": checksum 0x67. */
	CHECK_EQ(FEED(&rx, "$g#67"), GDB_RX_PACKET);
	CHECK_EQ(rx.len, 1);
	CHECK(!strcmp(rx.buf, "g"));
	/* Upper-case checksum digits, and noise before the packet. */
	CHECK_EQ(FEED(&rx, "xyz$qSupported:multiprocess+#C6"), GDB_RX_PACKET);
	CHECK(!strcmp(rx.buf, "qSupported:multiprocess+"));
	/* An empty packet. */
	CHECK_EQ(FEED(&rx, "$#00"), GDB_RX_PACKET);
	CHECK_EQ(rx.len, 0);
	/* Wrong checksum, then a non-hex checksum digit. */
	CHECK_EQ(FEED(&rx, "$g#68"), GDB_RX_BAD_CSUM);
	CHECK_EQ(FEED(&rx, "$g#6z"), GDB_RX_BAD_CSUM);
	CHECK_EQ(FEED(&rx, "$g#z"), GDB_RX_BAD_CSUM);
	/* After an error the next packet is fine. */
	CHECK_EQ(FEED(&rx, "$g#67"), GDB_RX_PACKET);
	/* A '$' inside a packet restarts it (the client resent). */
	CHECK_EQ(FEED(&rx, "$m10,4$g#67"), GDB_RX_PACKET);
	CHECK(!strcmp(rx.buf, "g"));
}

static void test_out_of_band(void)
{
	gdb_rx_init(&rx);
	CHECK_EQ(gdb_rx_feed(&rx, '+'), GDB_RX_ACK);
	CHECK_EQ(gdb_rx_feed(&rx, '-'), GDB_RX_NAK);
	CHECK_EQ(gdb_rx_feed(&rx, 0x03), GDB_RX_INTERRUPT);
	CHECK_EQ(gdb_rx_feed(&rx, 'x'), GDB_RX_NONE);
	/* Inside a packet, those bytes are data. */
	CHECK_EQ(FEED(&rx, "$+-\x03#"), GDB_RX_NONE);
	CHECK_EQ(FEED(&rx, "5b"), GDB_RX_PACKET); /* '+' 0x2b + '-' 0x2d + 0x03 = 0x5b */
	CHECK_EQ(rx.len, 3);
	CHECK(!memcmp(rx.buf, "+-\x03", 3));
}

static void test_escapes(void)
{
	char out[64];
	char data[] = { 'X', '#', '$', '}', '*', 0, 'a' };
	ssize_t n;

	gdb_rx_init(&rx);
	n = gdb_packet_frame(data, sizeof(data), out, sizeof(out));
	CHECK(n > 0);
	/* Every special byte went out escaped. */
	CHECK(!memcmp(out, "$X}\x03}\x04}]}\x0a", 10));
	/* What the stub frames, the parser takes back (escapes left in; unescape restores). */
	CHECK_EQ(feed(&rx, out, (size_t)n), GDB_RX_PACKET);
	n = gdb_binary_unescape(rx.buf, rx.len);
	CHECK_EQ(n, sizeof(data));
	CHECK(!memcmp(rx.buf, data, sizeof(data)));
	/* An escaped '#' inside a packet does not end it. */
	gdb_rx_init(&rx);
	CHECK_EQ(FEED(&rx, "$}\x03#"), GDB_RX_NONE);
	CHECK_EQ(FEED(&rx, "80"), GDB_RX_PACKET); /* '}' 0x7d + 0x03 = 0x80 */
	/* A lone trailing '}' is bad binary data. */
	strcpy(out, "ab}");
	CHECK_EQ(gdb_binary_unescape(out, 3), -EINVAL);
	/* Frames that do not fit. */
	CHECK_EQ(gdb_packet_frame("OK", 2, out, 5), -ENOSPC);
	CHECK_EQ(gdb_packet_frame("OK", 2, out, 6), 6);
	CHECK(!memcmp(out, "$OK#9a", 6));
	CHECK_EQ(gdb_packet_frame("#", 1, out, 5), -ENOSPC);
	CHECK_EQ(gdb_packet_frame("#", 1, out, 6), 6);
	CHECK_EQ(gdb_packet_frame("", 0, out, 3), -ENOSPC);
}

static void test_too_long(void)
{
	static char big[GDB_PACKET_MAX + 100];
	unsigned sum = 0;
	char tail[4];

	gdb_rx_init(&rx);
	memset(big, 'a', sizeof(big));
	CHECK_EQ(gdb_rx_feed(&rx, '$'), GDB_RX_NONE);
	CHECK_EQ(feed(&rx, big, sizeof(big)), GDB_RX_NONE);
	for (size_t i = 0; i < sizeof(big); i++)
		sum += 'a';
	snprintf(tail, sizeof(tail), "#%02x", sum & 0xff);
	CHECK_EQ(feed(&rx, tail, 3), GDB_RX_TOO_LONG);
	CHECK(rx.len <= GDB_PACKET_MAX);
	/* Exactly the maximum fits. */
	gdb_rx_init(&rx);
	gdb_rx_feed(&rx, '$');
	feed(&rx, big, GDB_PACKET_MAX);
	sum = (GDB_PACKET_MAX * (unsigned)'a') & 0xff;
	snprintf(tail, sizeof(tail), "#%02x", sum);
	CHECK_EQ(feed(&rx, tail, 3), GDB_RX_PACKET);
	CHECK_EQ(rx.len, GDB_PACKET_MAX);
	CHECK_EQ(rx.buf[GDB_PACKET_MAX], '\0');
}

static void test_hex(void)
{
	uint8_t bytes[4] = { 0x00, 0x7f, 0xa5, 0xff }, back[4];
	char hex[9] = { 0 };
	const char *p, *s;
	uint64_t v;

	CHECK_EQ(gdb_hex_encode(bytes, 4, hex), 8);
	CHECK(!strcmp(hex, "007fa5ff"));
	CHECK_EQ(gdb_hex_decode("007FA5ff", 4, back), 0);
	CHECK(!memcmp(back, bytes, 4));
	CHECK_EQ(gdb_hex_decode("0g", 1, back), -EINVAL);
	s = "ffffffff81000000,40";
	p = s;
	CHECK_EQ(gdb_hex_u64(&p, s + strlen(s), &v), 0);
	CHECK_EQ(v, 0xffffffff81000000ull);
	CHECK_EQ(*p, ',');
	p++;
	CHECK_EQ(gdb_hex_u64(&p, s + strlen(s), &v), 0);
	CHECK_EQ(v, 0x40);
	CHECK(p == s + strlen(s));
	/* No digit; 17 digits; the end bound is respected. */
	s = ",1";
	p = s;
	CHECK_EQ(gdb_hex_u64(&p, s + 2, &v), -EINVAL);
	CHECK(p == s);
	s = "10000000000000000";
	p = s;
	CHECK_EQ(gdb_hex_u64(&p, s + 17, &v), -EINVAL);
	s = "1234";
	p = s;
	CHECK_EQ(gdb_hex_u64(&p, s + 2, &v), 0);
	CHECK_EQ(v, 0x12);
}

int main(void)
{
	RUN_TEST(test_packets);
	RUN_TEST(test_out_of_band);
	RUN_TEST(test_escapes);
	RUN_TEST(test_too_long);
	RUN_TEST(test_hex);
	TEST_EXIT();
}
