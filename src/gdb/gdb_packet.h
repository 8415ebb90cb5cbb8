/*
 * The GDB remote serial protocol's framing, for the gdb stub: `$payload#cs` packets with their
 * checksums and `}` escapes, `+`/`-` acknowledgements, the Ctrl-C interrupt byte, and the hex and
 * binary encodings that packets carry. Plain data in, plain data out: no sockets, no KVM.
 * The client is untrusted: every length is bounded and every digit checked here.
 */
#ifndef KVMBOX_GDB_PACKET_H
#define KVMBOX_GDB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest payload accepted (and advertised as PacketSize): an `X` packet of 8 KiB escaped. */
#define GDB_PACKET_MAX 16384

enum gdb_rx_event {
	GDB_RX_NONE,	  /* byte consumed, nothing complete yet */
	GDB_RX_PACKET,	  /* a packet with a good checksum: rx->buf[0..rx->len), NUL-terminated */
	GDB_RX_BAD_CSUM,  /* a complete packet whose checksum is wrong (answer '-') */
	GDB_RX_TOO_LONG,  /* a complete packet longer than GDB_PACKET_MAX (dropped; answer '-') */
	GDB_RX_INTERRUPT, /* 0x03 outside a packet: Ctrl-C */
	GDB_RX_ACK,	  /* '+' outside a packet */
	GDB_RX_NAK,	  /* '-' outside a packet: resend the last reply */
};

struct gdb_rx {
	int state;
	bool overflow;
	uint8_t sum;
	uint8_t csum; /* the two checksum digits, as received */
	size_t len;
	char buf[GDB_PACKET_MAX + 1];
};

void gdb_rx_init(struct gdb_rx *rx);
/* One byte from the client. Bytes outside packets other than the ones above are ignored. The
 * payload is left escaped, as it came: only binary data (X packets) is unescaped, by its command.
 */
enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t c);

/* `$payload#cs` into out (cap bytes), escaping `$`, `#`, `}` and `*` in the payload. Returns the
 * framed length, or -ENOSPC. */
ssize_t gdb_packet_frame(const void *payload, size_t len, char *out, size_t cap);

/* Lower-case hex of n bytes into out (2n chars, not terminated). Returns 2n. */
size_t gdb_hex_encode(const void *in, size_t n, char *out);
/* 2n hex digits into n bytes; -EINVAL on a non-hex digit. */
int gdb_hex_decode(const char *hex, size_t n, uint8_t *out);
/*
 * A hex number at *p (1 to 16 digits, stopping at the first non-hex character), advancing *p.
 * -EINVAL when there is no digit or more than 16.
 */
int gdb_hex_u64(const char **p, const char *end, uint64_t *v);
/* Undo `}` escapes in place (X packets' data). Returns the new length, or -EINVAL when the data
 * ends in a lone `}`. */
ssize_t gdb_binary_unescape(char *buf, size_t len);

#endif
