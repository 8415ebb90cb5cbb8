/* Snapshot test helpers: a device's state as bytes, and the malformed variants a load refuses. */
#ifndef KVMBOX_TESTS_SNAP_CHECK_H
#define KVMBOX_TESTS_SNAP_CHECK_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/state.h"
#include "test.h"

/* What is saved and loaded: a bus_ops pair, or a wrapper around another save/load. */
struct snap_target {
	void (*save)(const void *dev, struct state_writer *w);
	int (*load)(void *dev, struct state_reader *r);
	void *dev;
};

/* The bytes of one save (malloc'd; *len set), or NULL if the save failed (*err set). */
static inline uint8_t *snap_take_err(const struct snap_target *t, size_t *len, int *err)
{
	struct state_writer w;
	uint8_t *copy = NULL;

	state_writer_init(&w);
	t->save(t->dev, &w);
	*err = state_writer_result(&w);
	*len = w.len;
	if (!*err) {
		copy = malloc(w.len ? w.len : 1);
		if (!copy)
			abort();
		memcpy(copy, w.buf, w.len);
	}
	state_writer_free(&w);
	return copy;
}

static inline uint8_t *snap_take(const struct snap_target *t, size_t *len)
{
	int err;
	uint8_t *b = snap_take_err(t, len, &err);

	CHECK_EQ(err, 0);
	if (!b)
		abort();
	return b;
}

/* Load buf[0, len); the reader must have failed exactly when the load did. */
static inline int snap_load(const struct snap_target *t, const uint8_t *buf, size_t len)
{
	struct state_reader r;
	int ret;

	state_reader_init(&r, buf, len);
	ret = t->load(t->dev, &r);
	if (ret == -EINVAL)
		CHECK(!state_reader_ok(&r));
	if (!ret) {
		CHECK(state_reader_ok(&r));
		CHECK_EQ(r.pos, len); /* everything consumed */
	}
	return ret;
}

/* Does the device save as expect[0, len)? (It did not change.) */
static inline bool snap_same(const struct snap_target *t, const uint8_t *expect, size_t len)
{
	size_t n;
	uint8_t *now = snap_take(t, &n);
	bool same = n == len && !memcmp(now, expect, len);

	free(now);
	return same;
}

/* Offset of the body of the index-th section with this tag, or SIZE_MAX. */
static inline size_t snap_section(const uint8_t *buf, size_t len, uint32_t tag, unsigned index)
{
	for (size_t pos = 0; pos + 12 <= len;) {
		uint32_t t, l;

		memcpy(&t, buf + pos, 4);
		memcpy(&l, buf + pos + 8, 4);
		if (t == tag && index-- == 0)
			return pos + 12;
		pos += 12 + (size_t)l;
	}
	return SIZE_MAX;
}

/*
 * good (a save of some device) loaded into t with one part patched: the load is refused with
 * -EINVAL, and t still saves as baseline. Returns whether both held.
 */
static inline bool snap_refused(const struct snap_target *t, const uint8_t *good, size_t len,
				size_t off, const void *patch, size_t plen, const uint8_t *baseline,
				size_t blen)
{
	uint8_t *bad = malloc(len ? len : 1);
	bool ok;
	int ret;

	if (!bad || off > len || plen > len - off)
		abort();
	memcpy(bad, good, len);
	memcpy(bad + off, patch, plen);
	ret = snap_load(t, bad, len);
	ok = ret == -EINVAL && snap_same(t, baseline, blen);
	if (!ok)
		fprintf(stderr, "  patch of %zu bytes at %zu: load returned %d\n", plen, off, ret);
	free(bad);
	return ok;
}

/*
 * The malformed variants of good every load must refuse with -EINVAL, leaving t as baseline
 * says: every truncation, and in each section a wrong tag, version 0 and an unknown version, and
 * a length one short or one long. Counts failures into the current test.
 */
static inline void snap_hostile(const struct snap_target *t, const uint8_t *good, size_t len,
				const uint8_t *baseline, size_t blen)
{
	unsigned bad = 0;

	for (size_t n = 0; n < len; n++) {
		int ret = snap_load(t, good, n);

		if (ret != -EINVAL || !snap_same(t, baseline, blen)) {
			fprintf(stderr, "  truncated to %zu of %zu bytes: load returned %d\n", n,
				len, ret);
			bad++;
		}
	}
	for (size_t pos = 0; pos + 12 <= len;) {
		uint32_t l, v0 = 0, vnext, tag;

		memcpy(&tag, good + pos, 4);
		memcpy(&vnext, good + pos + 4, 4);
		memcpy(&l, good + pos + 8, 4);
		vnext++;
		tag ^= 0x20;
		bad += !snap_refused(t, good, len, pos, &tag, 4, baseline, blen);
		bad += !snap_refused(t, good, len, pos + 4, &v0, 4, baseline, blen);
		bad += !snap_refused(t, good, len, pos + 4, &vnext, 4, baseline, blen);
		l--;
		bad += !snap_refused(t, good, len, pos + 8, &l, 4, baseline, blen);
		l += 2;
		bad += !snap_refused(t, good, len, pos + 8, &l, 4, baseline, blen);
		pos += 12 + (size_t)(l - 1);
	}
	CHECK_EQ(bad, 0);
}

#endif
