/*
 * The test stream both vsock test programs speak (vsock_guest.c in the guest, vsock_host.c on the
 * host). Each direction carries an 8-byte little-endian length N, then N bytes of a deterministic
 * pattern, then end of file. The client sends pattern 1 and expects pattern 2 of the same length
 * back; the server reads and checks the request, then answers a complete one. Checksums are
 * FNV-1a 64 of the N pattern bytes. Many streams run at once in one process (poll): a slow guest
 * pays for no fork per connection.
 */
#ifndef VSOCK_STREAM_H
#define VSOCK_STREAM_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CHUNK 16384
#define STREAM_FNV_INIT 0xcbf29ce484222325ull

struct stream_gen {
	uint64_t s;
	uint8_t cache[8];
	unsigned left;
};

static void stream_gen_init(struct stream_gen *g, uint64_t seed)
{
	g->s = 0x9e3779b97f4a7c15ull * (seed + 1);
	g->left = 0;
}

static void stream_gen_fill(struct stream_gen *g, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!g->left) {
			g->s ^= g->s << 13;
			g->s ^= g->s >> 7;
			g->s ^= g->s << 17;
			memcpy(g->cache, &g->s, 8);
			g->left = 8;
		}
		buf[i] = g->cache[8 - g->left--];
	}
}

static uint64_t stream_fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t stream_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum { STREAM_SEND_LEN, STREAM_SEND_DATA, STREAM_RECV_LEN, STREAM_RECV_DATA, STREAM_DONE };

struct stream {
	int fd;
	int server; /* receives first, answers a complete request with as many bytes */
	int state;
	uint64_t n;    /* bytes to send */
	uint64_t made; /* bytes of the pattern generated so far */
	uint64_t expect;
	struct stream_gen gout, gin;
	uint8_t len[8];
	unsigned lpos;
	uint8_t buf[STREAM_CHUNK];
	size_t boff, blen;
	int same;
	uint64_t t0;
	const char *mark; /* if set: a file created once mark_after bytes went out */
	uint64_t mark_after;
	/* Results. */
	uint64_t sent, sent_sum, recv, recv_sum, send_ms;
	int ok;	 /* received the expected pattern, complete, then EOF (and sent all, if asked) */
	int err; /* errno of the first failure, 0 if none */
};

static void stream_len_put(struct stream *s, uint64_t n)
{
	for (int i = 0; i < 8; i++)
		s->len[i] = (uint8_t)(n >> (8 * i));
	s->lpos = 0;
}

/* fd is made non-blocking; client: sends n bytes first. */
static void stream_init(struct stream *s, int fd, int server, uint64_t n)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->server = server;
	s->n = n;
	s->same = 1;
	s->sent_sum = s->recv_sum = STREAM_FNV_INIT;
	s->t0 = stream_ms();
	stream_gen_init(&s->gout, server ? 2 : 1);
	stream_gen_init(&s->gin, server ? 1 : 2);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (server) {
		s->state = STREAM_RECV_LEN;
	} else {
		stream_len_put(s, n);
		s->state = STREAM_SEND_LEN;
	}
}

static int stream_fail(struct stream *s, int err)
{
	s->err = err ? err : EPIPE;
	s->ok = 0;
	s->state = STREAM_DONE;
	return 1;
}

/* Progress without blocking: 1 when the stream is done, 0 when it must wait (poll). */
static int stream_step(struct stream *s)
{
	static uint8_t want[STREAM_CHUNK];
	ssize_t r;

	for (;;) {
		switch (s->state) {
		case STREAM_SEND_LEN:
			while (s->lpos < 8) {
				r = send(s->fd, s->len + s->lpos, 8 - s->lpos, MSG_NOSIGNAL);
				if (r < 0)
					return errno == EAGAIN || errno == EINTR
						   ? 0
						   : stream_fail(s, errno);
				s->lpos += (unsigned)r;
			}
			s->state = STREAM_SEND_DATA;
			break;
		case STREAM_SEND_DATA:
			if (s->boff == s->blen) {
				size_t c;

				if (s->made == s->n) {
					s->send_ms = stream_ms() - s->t0;
					if (s->server) {
						/* The end of the answer: the client's EOF. */
						shutdown(s->fd, SHUT_WR);
						s->state = STREAM_DONE;
					} else {
						shutdown(s->fd, SHUT_WR);
						s->lpos = 0;
						s->state = STREAM_RECV_LEN;
					}
					break;
				}
				c = s->n - s->made < STREAM_CHUNK ? (size_t)(s->n - s->made)
								  : STREAM_CHUNK;
				stream_gen_fill(&s->gout, s->buf, c);
				s->sent_sum = stream_fnv(s->sent_sum, s->buf, c);
				s->made += c;
				s->boff = 0;
				s->blen = c;
			}
			r = send(s->fd, s->buf + s->boff, s->blen - s->boff, MSG_NOSIGNAL);
			if (r < 0)
				return errno == EAGAIN || errno == EINTR ? 0
									 : stream_fail(s, errno);
			s->boff += (size_t)r;
			s->sent += (uint64_t)r;
			if (s->mark && s->sent >= s->mark_after) {
				int m = open(s->mark, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

				if (m >= 0)
					close(m);
				s->mark = NULL;
			}
			break;
		case STREAM_RECV_LEN:
			while (s->lpos < 8) {
				r = recv(s->fd, s->len + s->lpos, 8 - s->lpos, 0);
				if (r < 0)
					return errno == EAGAIN || errno == EINTR
						   ? 0
						   : stream_fail(s, errno);
				if (r == 0)
					return stream_fail(s, EPIPE);
				s->lpos += (unsigned)r;
			}
			s->expect = 0;
			for (int i = 0; i < 8; i++)
				s->expect |= (uint64_t)s->len[i] << (8 * i);
			s->state = STREAM_RECV_DATA;
			break;
		case STREAM_RECV_DATA: {
			uint64_t left = s->expect > s->recv ? s->expect - s->recv : 0;
			size_t w = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;

			/* Past the announced length: read on to see the end (or surplus). */
			r = recv(s->fd, s->buf, w ? w : 1, 0);
			if (r < 0)
				return errno == EAGAIN || errno == EINTR ? 0
									 : stream_fail(s, errno);
			if (r == 0) {
				s->ok = s->same && s->recv == s->expect;
				if (s->server && s->ok) {
					s->n = s->expect;
					stream_len_put(s, s->n);
					s->state = STREAM_SEND_LEN;
				} else {
					if (!s->server && s->expect != s->n)
						s->ok = 0;
					s->state = STREAM_DONE;
				}
				break;
			}
			if (!w) {
				s->same = 0;
			} else {
				stream_gen_fill(&s->gin, want, (size_t)r);
				s->same &= !memcmp(s->buf, want, (size_t)r);
				s->recv_sum = stream_fnv(s->recv_sum, s->buf, (size_t)r);
			}
			s->recv += (uint64_t)r;
			break;
		}
		default:
			return 1;
		}
	}
}

/*
 * Run streams until all are done. lfd >= 0: also accept up to *to_accept more server streams
 * into s[*n...] (the caller sized s for them). Returns 0, or -1 if poll failed.
 */
static int stream_run(struct stream *s, unsigned *n, int lfd, unsigned *to_accept)
{
	struct pollfd *p = calloc(*n + (to_accept ? *to_accept : 0) + 1, sizeof(*p));

	if (!p)
		return -1;
	for (;;) {
		unsigned np = 0, live = 0;

		for (unsigned i = 0; i < *n; i++) {
			if (s[i].state == STREAM_DONE || stream_step(&s[i]))
				continue;
			live++;
			p[np].fd = s[i].fd;
			p[np++].events = s[i].state <= STREAM_SEND_DATA ? POLLOUT : POLLIN;
		}
		if (lfd >= 0 && to_accept && *to_accept) {
			p[np].fd = lfd;
			p[np++].events = POLLIN;
		} else if (!live) {
			break;
		}
		if (poll(p, np, -1) < 0 && errno != EINTR) {
			free(p);
			return -1;
		}
		if (lfd >= 0 && to_accept && *to_accept && (p[np - 1].revents & POLLIN)) {
			int fd = accept(lfd, NULL, NULL);

			if (fd >= 0) {
				stream_init(&s[(*n)++], fd, 1, 0);
				(*to_accept)--;
			}
		}
	}
	free(p);
	return 0;
}

#endif
