/*
 * Device and VM state as bytes: the writer and the bounds-checked reader every save/load hook
 * uses. A snapshot file is hostile input, so reading is checked here, once: a read past the end
 * of a section, a section with the wrong tag or an unknown version, or a value a device rejects
 * makes the reader fail (sticky), and everything read after that is zero. A load hook checks
 * state_reader_ok() (or the -EINVAL from state_section_end) before it touches its device.
 *
 * Layout: little-endian, packed. A section is tag (u32, four ASCII characters), version (u32),
 * length (u32) and that many bytes; a hook writes one section per device instance.
 */
#ifndef KVMBOX_SNAPSHOT_STATE_H
#define KVMBOX_SNAPSHOT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_TAG(a, b, c, d)                                                                      \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

struct state_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t section; /* offset of the open section's length field, or SIZE_MAX */
	int error;	/* first error (-ENOMEM, -EINVAL for misuse), sticky */
};

struct state_reader {
	const uint8_t *buf;
	size_t len, pos;
	size_t end;	 /* end of the open section (len when none is open) */
	bool in_section; /* a section is open: end alone cannot tell when it ends at len */
	int error;	 /* first error (-EINVAL), sticky */
	const char *why; /* what went wrong first, for the one-line error */
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bool(struct state_writer *w, bool v);
void state_put_bytes(struct state_writer *w, const void *p, size_t n);
/* Open a section (sections do not nest) and close it, filling in its length. */
void state_section_begin(struct state_writer *w, uint32_t tag, uint32_t version);
void state_section_end_write(struct state_writer *w);
/* 0, or the first error; the bytes are w->buf[0, w->len). */
int state_writer_result(const struct state_writer *w);
/*
 * A save hook refusing to write a state it cannot describe (e.g. requests still in flight: the
 * VM was not quiesced): err (negative) becomes the writer's error unless one is already set.
 */
void state_writer_fail(struct state_writer *w, int err);

void state_reader_init(struct state_reader *r, const void *buf, size_t len);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/* A byte that must be 0 or 1 (anything else fails the reader). */
bool state_get_bool(struct state_reader *r);
void state_get_bytes(struct state_reader *r, void *p, size_t n);
/*
 * A value that must be below limit (an index, a count, an enum): fails the reader otherwise and
 * returns 0, so the caller can use the result as an index whatever happened.
 */
uint32_t state_get_u32_below(struct state_reader *r, uint32_t limit, const char *what);
/*
 * Open the next section: it must carry tag and a version in [1, max_version]; *version gets it.
 * The section must lie inside the buffer.
 */
void state_section_begin_read(struct state_reader *r, uint32_t tag, uint32_t max_version,
			      uint32_t *version);
/*
 * Close it: the hook must have consumed exactly its bytes (closing with none open fails the
 * reader too). Returns 0 or the reader's error.
 */
int state_section_end(struct state_reader *r);
/* Record a device's own rejection of a value (e.g. an inconsistent pair); sticky. */
void state_reader_fail(struct state_reader *r, const char *why);
bool state_reader_ok(const struct state_reader *r);

#endif
