/* Shared by the device snapshot tests: save/load through bus_ops, and the malformed inputs every
 * load must refuse with its device unchanged. Include after test.h. */
#ifndef KVMBOX_TEST_STATE_CHECK_H
#define KVMBOX_TEST_STATE_CHECK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "snapshot/state.h"

#define STATE_CHECK_MAX 512
#define STATE_CHECK_HDR 12 /* tag, version, length */

struct state_blob {
	uint8_t b[STATE_CHECK_MAX];
	size_t len;
};

static inline void state_check_save(const struct bus_ops *ops, const void *dev,
				    struct state_blob *out)
{
	struct state_writer w;

	state_writer_init(&w);
	ops->save(dev, &w);
	CHECK_EQ(state_writer_result(&w), 0);
	CHECK(w.len <= sizeof(out->b));
	out->len = w.len <= sizeof(out->b) ? w.len : 0;
	if (out->len)
		memcpy(out->b, w.buf, out->len);
	state_writer_free(&w);
}

static inline int state_check_load(const struct bus_ops *ops, void *dev, const uint8_t *b,
				   size_t len)
{
	struct state_reader r;

	state_reader_init(&r, b, len);
	return ops->load(dev, &r);
}

static inline bool state_blob_eq(const struct state_blob *a, const struct state_blob *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

/* load must refuse b[0, len) with -EINVAL and leave dev saving as before does. */
static inline void state_check_rejects(const struct bus_ops *ops, void *dev, const uint8_t *b,
				       size_t len, const struct state_blob *before,
				       const char *what)
{
	struct state_blob after;
	int ret = state_check_load(ops, dev, b, len);

	state_check_save(ops, dev, &after);
	if (ret != -EINVAL || !state_blob_eq(&after, before)) {
		fprintf(stderr, "  %s (%zu bytes): load returned %d, device %s\n", what, len, ret,
			state_blob_eq(&after, before) ? "unchanged" : "CHANGED");
		test_failed_++;
	}
}

static inline void state_blob_put(struct state_blob *s, size_t off, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		s->b[off + i] = (uint8_t)(v >> (8 * i));
}

/* good with the body bytes at off replaced by v (width bytes, little-endian): refused. */
static inline void state_check_rejects_field(const struct bus_ops *ops, void *dev,
					     const struct state_blob *good, size_t off, uint64_t v,
					     unsigned width, const char *what)
{
	struct state_blob before, bad = *good;

	state_check_save(ops, dev, &before);
	state_blob_put(&bad, STATE_CHECK_HDR + off, v, width);
	state_check_rejects(ops, dev, bad.b, bad.len, &before, what);
}

/* ... and the same, but a value the device can hold: accepted (into fresh, a scratch device). */
static inline void state_check_accepts_field(const struct bus_ops *ops, void *fresh,
					     const struct state_blob *good, size_t off, uint64_t v,
					     unsigned width, const char *what)
{
	struct state_blob ok = *good, again;
	int ret;

	state_blob_put(&ok, STATE_CHECK_HDR + off, v, width);
	ret = state_check_load(ops, fresh, ok.b, ok.len);
	if (ret) {
		fprintf(stderr, "  %s: load returned %d\n", what, ret);
		test_failed_++;
		return;
	}
	state_check_save(ops, fresh, &again);
	CHECK(state_blob_eq(&again, &ok));
}

/*
 * The malformed variants of a good save that every load refuses, with dev (best in a state
 * unlike good's) unchanged: each truncation, each tag byte wrong, versions 0, 2 and 2^32-1, a
 * section length one past the buffer or 2^32-1, one short of the body, and one long with a byte
 * appended (the hook leaves it unread).
 */
static inline void state_check_hostile(const struct bus_ops *ops, void *dev,
				       const struct state_blob *good)
{
	static const uint32_t versions[] = { 0, 2, UINT32_MAX };
	struct state_blob before, bad;
	uint32_t body = (uint32_t)(good->len - STATE_CHECK_HDR);

	CHECK(good->len >= STATE_CHECK_HDR && good->len < STATE_CHECK_MAX);
	state_check_save(ops, dev, &before);
	CHECK(!state_blob_eq(&before, good) || good->len == STATE_CHECK_HDR);
	for (size_t n = 0; n < good->len; n++)
		state_check_rejects(ops, dev, good->b, n, &before, "truncated");
	for (unsigned i = 0; i < 4; i++) {
		bad = *good;
		bad.b[i] ^= 0x20;
		state_check_rejects(ops, dev, bad.b, bad.len, &before, "wrong tag");
	}
	for (unsigned i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		bad = *good;
		state_blob_put(&bad, 4, versions[i], 4);
		state_check_rejects(ops, dev, bad.b, bad.len, &before, "unknown version");
	}
	bad = *good;
	state_blob_put(&bad, 8, body + 1, 4);
	state_check_rejects(ops, dev, bad.b, bad.len, &before, "length past the buffer");
	state_blob_put(&bad, 8, UINT32_MAX, 4);
	state_check_rejects(ops, dev, bad.b, bad.len, &before, "length 2^32-1");
	if (body) {
		bad = *good;
		state_blob_put(&bad, 8, body - 1, 4);
		state_check_rejects(ops, dev, bad.b, bad.len, &before, "length one short");
	}
	bad = *good;
	state_blob_put(&bad, 8, body + 1, 4);
	bad.b[bad.len++] = 0;
	state_check_rejects(ops, dev, bad.b, bad.len, &before, "a byte the hook leaves unread");
	/* And a reader that already failed: nothing is applied. */
	{
		struct state_reader r;
		struct state_blob after;

		state_reader_init(&r, good->b, good->len);
		state_reader_fail(&r, "an earlier device");
		CHECK_EQ(ops->load(dev, &r), -EINVAL);
		state_check_save(ops, dev, &after);
		CHECK(state_blob_eq(&after, &before));
	}
}

/* The header a save starts with. */
static inline void state_check_header(const struct state_blob *s, uint32_t tag, uint32_t body)
{
	struct state_reader r;

	state_reader_init(&r, s->b, s->len);
	CHECK_EQ(state_get_u32(&r), tag);
	CHECK_EQ(state_get_u32(&r), 1);
	CHECK_EQ(state_get_u32(&r), body);
	CHECK_EQ(s->len, STATE_CHECK_HDR + body);
}

#endif
