/*
 * Shared by the device snapshot tests: a device's state as bytes, loads checked against the
 * reader, and the malformed states every load must refuse with its device unchanged.
 */
#ifndef KVMBOX_TEST_STATE_CHECK_H
#define KVMBOX_TEST_STATE_CHECK_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "snapshot/state.h"
#include "test.h"
#include "virtio/virtio.h"

#define STATE_CHECK_HDR 12 /* a section's tag, version and length */

/*
 * What is saved and loaded: a register file's bus_ops hooks (state_target_bus), a virtio device
 * (state_target_virtio), or a test's own pair (e.g. a section around pci_dev_save).
 */
struct state_target {
	void (*save)(const void *dev, struct state_writer *w);
	int (*load)(void *dev, struct state_reader *r);
	void *dev;
};

/* One save's bytes, any size (malloc'd: state_blob_free). */
struct state_blob {
	uint8_t *b;
	size_t len;
};

static inline struct state_target state_target_bus(const struct bus_ops *ops, void *dev)
{
	return (struct state_target){ ops->save, ops->load, dev };
}

static inline void state_check_virtio_save_(const void *dev, struct state_writer *w)
{
	virtio_dev_save((struct virtio_dev *)(uintptr_t)dev, w);
}

static inline int state_check_virtio_load_(void *dev, struct state_reader *r)
{
	return virtio_dev_load(dev, r, 0);
}

/* The common state and the device model's, as a transport without MSI-X saves them. */
static inline struct state_target state_target_virtio(struct virtio_dev *vdev)
{
	return (struct state_target){ state_check_virtio_save_, state_check_virtio_load_, vdev };
}

/* ---- blobs ---- */

static inline struct state_blob state_blob_from_(const uint8_t *b, size_t len, size_t room)
{
	struct state_blob s = { malloc(room ? room : 1), len };

	if (!s.b)
		abort();
	if (len)
		memcpy(s.b, b, len);
	return s;
}

static inline struct state_blob state_blob_copy(const struct state_blob *s)
{
	return state_blob_from_(s->b, s->len, s->len);
}

static inline void state_blob_free(struct state_blob *s)
{
	free(s->b);
	s->b = NULL;
	s->len = 0;
}

static inline bool state_blob_eq(const struct state_blob *a, const struct state_blob *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->b, b->b, a->len));
}

/* Bytes [off, off + width) of s become v, little-endian (width up to 8). */
static inline void state_blob_put(struct state_blob *s, size_t off, uint64_t v, unsigned width)
{
	if (width > 8 || off > s->len || width > s->len - off) {
		fprintf(stderr, "  state_blob_put: %u bytes at %zu of a %zu-byte save\n", width,
			off, s->len);
		abort();
	}
	for (unsigned i = 0; i < width; i++)
		s->b[off + i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t state_blob_u32_(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Offset of the body of the index-th section with this tag (0: the first), or SIZE_MAX. */
static inline size_t state_blob_section(const struct state_blob *s, uint32_t tag, unsigned index)
{
	for (size_t pos = 0; s->len - pos >= STATE_CHECK_HDR;) {
		size_t body = state_blob_u32_(s->b + pos + 8);

		if (state_blob_u32_(s->b + pos) == tag && index-- == 0)
			return pos + STATE_CHECK_HDR;
		if (body > s->len - pos - STATE_CHECK_HDR)
			break;
		pos += STATE_CHECK_HDR + body;
	}
	return SIZE_MAX;
}

/* ---- save and load ---- */

/* Save t into *out: returns 0, or the writer's error (and *out is empty). */
static inline int state_check_save_err(const struct state_target *t, struct state_blob *out)
{
	struct state_writer w;
	int err;

	state_writer_init(&w);
	t->save(t->dev, &w);
	err = state_writer_result(&w);
	*out = state_blob_from_(w.buf, err ? 0 : w.len, err ? 0 : w.len);
	state_writer_free(&w);
	return err;
}

/* ... and the save must succeed: the test cannot go on without the bytes, so it stops here. */
static inline void state_check_save(const struct state_target *t, struct state_blob *out)
{
	int err = state_check_save_err(t, out);

	CHECK_EQ(err, 0);
	if (err)
		abort();
}

/* Load b[0, len): the reader must have failed exactly when the load refused (-EINVAL), and a
 * load that took the state must have read all of it. */
static inline int state_check_load_bytes_(const struct state_target *t, const uint8_t *b,
					  size_t len)
{
	struct state_reader r;
	int ret;

	state_reader_init(&r, b, len);
	ret = t->load(t->dev, &r);
	if (ret == -EINVAL)
		CHECK(!state_reader_ok(&r));
	if (!ret) {
		CHECK(state_reader_ok(&r));
		CHECK_EQ(r.pos, len);
	}
	return ret;
}

static inline int state_check_load(const struct state_target *t, const struct state_blob *s)
{
	return state_check_load_bytes_(t, s->b, s->len);
}

/* Does t save as expect? (A round trip came back whole, or a refused load changed nothing.) */
static inline bool state_check_same(const struct state_target *t, const struct state_blob *expect)
{
	struct state_blob now;
	bool same;

	state_check_save(t, &now);
	same = state_blob_eq(&now, expect);
	if (!same) {
		size_t i = 0;

		while (i < now.len && i < expect->len && now.b[i] == expect->b[i])
			i++;
		fprintf(stderr, "  saves %zu bytes, expected %zu: first difference at %zu\n",
			now.len, expect->len, i);
	}
	state_blob_free(&now);
	return same;
}

/* The header a one-section save starts with (version 1). */
static inline void state_check_header(const struct state_blob *s, uint32_t tag, uint32_t body)
{
	struct state_reader r;

	state_reader_init(&r, s->b, s->len);
	CHECK_EQ(state_get_u32(&r), tag);
	CHECK_EQ(state_get_u32(&r), 1);
	CHECK_EQ(state_get_u32(&r), body);
	CHECK_EQ(s->len, STATE_CHECK_HDR + body);
}

/* ---- what a load refuses ---- */

/* Load must refuse b[0, len) with -EINVAL and leave t saving as before. Counts a failure. */
static inline void state_check_rejects_(const struct state_target *t, const uint8_t *b, size_t len,
					const struct state_blob *before, const char *what)
{
	struct state_blob after;
	int ret = state_check_load_bytes_(t, b, len);
	bool same;

	state_check_save(t, &after);
	same = state_blob_eq(&after, before);
	if (ret != -EINVAL || !same) {
		fprintf(stderr, "  %s (%zu bytes): load returned %d, device %s\n", what, len, ret,
			same ? "unchanged" : "CHANGED");
		test_failed_++;
	}
	state_blob_free(&after);
}

/* bad (a malformed save) is refused with -EINVAL, t unchanged. */
static inline void state_check_rejects(const struct state_target *t, const struct state_blob *bad,
				       const char *what)
{
	struct state_blob before;

	state_check_save(t, &before);
	state_check_rejects_(t, bad->b, bad->len, &before, what);
	state_blob_free(&before);
}

/* good with bytes [off, off + width) replaced by v (little-endian): refused, t unchanged. */
static inline void state_check_rejects_field(const struct state_target *t,
					     const struct state_blob *good, size_t off, uint64_t v,
					     unsigned width, const char *what)
{
	struct state_blob bad = state_blob_copy(good);

	state_blob_put(&bad, off, v, width);
	state_check_rejects(t, &bad, what);
	state_blob_free(&bad);
}

/* ... and the same, but a value the device can hold: accepted by fresh (a scratch device),
 * which then saves exactly the patched bytes. */
static inline void state_check_accepts_field(const struct state_target *fresh,
					     const struct state_blob *good, size_t off, uint64_t v,
					     unsigned width, const char *what)
{
	struct state_blob ok = state_blob_copy(good);
	int ret;

	state_blob_put(&ok, off, v, width);
	ret = state_check_load(fresh, &ok);
	if (ret) {
		fprintf(stderr, "  %s: load returned %d\n", what, ret);
		test_failed_++;
	} else {
		CHECK(state_check_same(fresh, &ok));
	}
	state_blob_free(&ok);
}

/* good with its header field at off (a u32) set to v: refused, t as before. */
static inline void state_check_rejects_hdr_(const struct state_target *t,
					    const struct state_blob *good, size_t off, uint32_t v,
					    const struct state_blob *before, const char *what)
{
	struct state_blob bad = state_blob_copy(good);

	state_blob_put(&bad, off, v, 4);
	state_check_rejects_(t, bad.b, bad.len, before, what);
	state_blob_free(&bad);
}

/*
 * The malformed variants of a good save that every load refuses, with t (best in a state unlike
 * good's) unchanged: each truncation; in each section each tag byte wrong, versions 0, one past
 * the saved one and 2^32-1, a length one short of the body, one long (into the next section, or
 * past the buffer), 2^32-1, and one long with a byte inserted at the body's end (the hook leaves
 * it unread); and a reader that already failed.
 */
static inline void state_check_hostile(const struct state_target *t, const struct state_blob *good)
{
	struct state_blob before;
	bool bodies = false;
	char what[96];
	unsigned sec = 0;
	size_t pos;

	CHECK(good->len >= STATE_CHECK_HDR);
	if (good->len < STATE_CHECK_HDR)
		return;
	state_check_save(t, &before);
	for (size_t n = 0; n < good->len; n++)
		state_check_rejects_(t, good->b, n, &before, "truncated");
	for (pos = 0; good->len - pos >= STATE_CHECK_HDR; sec++) {
		const uint32_t version = state_blob_u32_(good->b + pos + 4);
		const uint32_t body = state_blob_u32_(good->b + pos + 8);
		const uint32_t versions[] = { 0, version + 1, UINT32_MAX };
		const uint32_t lengths[] = { body - 1, body + 1, UINT32_MAX };
		struct state_blob bad;

		if (body > good->len - pos - STATE_CHECK_HDR)
			break;
		bodies |= body != 0;
		for (unsigned i = 0; i < 4; i++) {
			bad = state_blob_copy(good);
			bad.b[pos + i] ^= 0x20;
			snprintf(what, sizeof(what), "section %u: tag byte %u wrong", sec, i);
			state_check_rejects_(t, bad.b, bad.len, &before, what);
			state_blob_free(&bad);
		}
		for (unsigned i = 0; i < 3; i++) {
			snprintf(what, sizeof(what), "section %u: version %u", sec, versions[i]);
			state_check_rejects_hdr_(t, good, pos + 4, versions[i], &before, what);
		}
		for (unsigned i = body ? 0 : 1; i < 3; i++) {
			snprintf(what, sizeof(what), "section %u: length %u of %u", sec, lengths[i],
				 body);
			state_check_rejects_hdr_(t, good, pos + 8, lengths[i], &before, what);
		}
		/* A byte more in the section, the sections after it intact. */
		bad = state_blob_from_(good->b, good->len, good->len + 1);
		memmove(bad.b + pos + STATE_CHECK_HDR + body + 1,
			bad.b + pos + STATE_CHECK_HDR + body,
			good->len - pos - STATE_CHECK_HDR - body);
		bad.b[pos + STATE_CHECK_HDR + body] = 0;
		bad.len++;
		state_blob_put(&bad, pos + 8, body + 1, 4);
		snprintf(what, sizeof(what), "section %u: a byte the hook leaves unread", sec);
		state_check_rejects_(t, bad.b, bad.len, &before, what);
		state_blob_free(&bad);
		pos += STATE_CHECK_HDR + body;
	}
	CHECK_EQ(pos, good->len); /* the walk covered every section */
	/* t in good's state would not show a refused load that was applied all the same. */
	CHECK(!state_blob_eq(&before, good) || !bodies);
	{
		struct state_reader r;
		struct state_blob after;

		state_reader_init(&r, good->b, good->len);
		state_reader_fail(&r, "an earlier device");
		CHECK_EQ(t->load(t->dev, &r), -EINVAL);
		state_check_save(t, &after);
		CHECK(state_blob_eq(&after, &before));
		state_blob_free(&after);
	}
	state_blob_free(&before);
}

#endif
