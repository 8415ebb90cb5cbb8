/* The state byte stream: a growable writer and a bounds-checked, fail-once reader. */
#include "snapshot/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void state_writer_init(struct state_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->section = SIZE_MAX;
}

void state_writer_free(struct state_writer *w)
{
	free(w->buf);
	state_writer_init(w);
}

static uint8_t *state_reserve(struct state_writer *w, size_t n)
{
	if (w->error || !n)
		return NULL; /* !n: no pointer arithmetic on a still-NULL buffer */
	if (n > SIZE_MAX / 2 - w->len) {
		w->error = -ENOMEM;
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *p;

		while (cap < w->len + n)
			cap *= 2;
		p = realloc(w->buf, cap);
		if (!p) {
			w->error = -ENOMEM;
			return NULL;
		}
		w->buf = p;
		w->cap = cap;
	}
	w->len += n;
	return w->buf + w->len - n;
}

static void state_put_le(struct state_writer *w, uint64_t v, unsigned n)
{
	uint8_t *p = state_reserve(w, n);

	for (unsigned i = 0; p && i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void state_put_u8(struct state_writer *w, uint8_t v)
{
	state_put_le(w, v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t v)
{
	state_put_le(w, v, 2);
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
	state_put_le(w, v, 4);
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
	state_put_le(w, v, 8);
}

void state_put_bool(struct state_writer *w, bool v)
{
	state_put_le(w, v ? 1 : 0, 1);
}

void state_put_bytes(struct state_writer *w, const void *p, size_t n)
{
	uint8_t *d = state_reserve(w, n);

	if (d && n)
		memcpy(d, p, n);
}

void state_section_begin(struct state_writer *w, uint32_t tag, uint32_t version)
{
	if (w->section != SIZE_MAX && !w->error)
		w->error = -EINVAL; /* sections do not nest */
	state_put_u32(w, tag);
	state_put_u32(w, version);
	state_put_u32(w, 0);
	if (!w->error)
		w->section = w->len - 4;
}

void state_section_end_write(struct state_writer *w)
{
	size_t body;

	if (w->error)
		return;
	if (w->section == SIZE_MAX) {
		w->error = -EINVAL;
		return;
	}
	body = w->len - (w->section + 4);
	if (body > UINT32_MAX) {
		w->error = -EINVAL;
		return;
	}
	for (unsigned i = 0; i < 4; i++)
		w->buf[w->section + i] = (uint8_t)(body >> (8 * i));
	w->section = SIZE_MAX;
}

int state_writer_result(const struct state_writer *w)
{
	if (!w->error && w->section != SIZE_MAX)
		return -EINVAL; /* a section left open */
	return w->error;
}

void state_writer_fail(struct state_writer *w, int err)
{
	if (!w->error)
		w->error = err < 0 ? err : -EINVAL;
}

void state_reader_init(struct state_reader *r, const void *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	r->end = len;
}

void state_reader_fail(struct state_reader *r, const char *why)
{
	if (r->error)
		return;
	r->error = -EINVAL;
	r->why = why;
}

bool state_reader_ok(const struct state_reader *r)
{
	return !r->error;
}

/* n bytes at the cursor inside the open section, or NULL (and the reader fails). */
static const uint8_t *state_take(struct state_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->error || !n)
		return NULL;
	if (n > r->end - r->pos) {
		state_reader_fail(r, "truncated");
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

static uint64_t state_get_le(struct state_reader *r, unsigned n)
{
	const uint8_t *p = state_take(r, n);
	uint64_t v = 0;

	for (unsigned i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t state_get_u8(struct state_reader *r)
{
	return (uint8_t)state_get_le(r, 1);
}

uint16_t state_get_u16(struct state_reader *r)
{
	return (uint16_t)state_get_le(r, 2);
}

uint32_t state_get_u32(struct state_reader *r)
{
	return (uint32_t)state_get_le(r, 4);
}

uint64_t state_get_u64(struct state_reader *r)
{
	return state_get_le(r, 8);
}

bool state_get_bool(struct state_reader *r)
{
	uint8_t v = state_get_u8(r);

	if (v > 1)
		state_reader_fail(r, "a boolean that is neither 0 nor 1");
	return v == 1;
}

void state_get_bytes(struct state_reader *r, void *p, size_t n)
{
	const uint8_t *s = state_take(r, n);

	if (s)
		memcpy(p, s, n);
	else if (n)
		memset(p, 0, n);
}

uint32_t state_get_u32_below(struct state_reader *r, uint32_t limit, const char *what)
{
	uint32_t v = state_get_u32(r);

	if (v >= limit) {
		state_reader_fail(r, what);
		return 0;
	}
	return v;
}

void state_section_begin_read(struct state_reader *r, uint32_t tag, uint32_t max_version,
			      uint32_t *version)
{
	uint32_t t, v, len;

	*version = 0;
	if (r->in_section) {
		state_reader_fail(r, "section read inside a section");
		return;
	}
	t = state_get_u32(r);
	v = state_get_u32(r);
	len = state_get_u32(r);
	if (r->error)
		return;
	if (t != tag) {
		state_reader_fail(r, "unexpected section");
		return;
	}
	if (v < 1 || v > max_version) {
		state_reader_fail(r, "unknown section version");
		return;
	}
	if (len > r->len - r->pos) {
		state_reader_fail(r, "section runs past the end");
		return;
	}
	r->end = r->pos + len;
	r->in_section = true;
	*version = v;
}

int state_section_end(struct state_reader *r)
{
	if (!r->in_section)
		state_reader_fail(r, "section end without a section");
	else if (r->pos != r->end)
		state_reader_fail(r, "section longer than its contents");
	r->in_section = false;
	r->end = r->len;
	if (r->error)
		r->pos = r->len; /* nothing more is read from a failed stream */
	return r->error;
}
