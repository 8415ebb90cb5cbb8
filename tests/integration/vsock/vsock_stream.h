/*
 * The test stream both vsock test programs speak (vsock_guest.c in the guest, vsock_host.c on the
 * host). Each direction carries an 8-byte little-endian length N, then N bytes of a deterministic
 * pattern, then end of file. The client sends pattern 1 and expects pattern 2 of the same length
 * back; the server reads, checks, and answers. Checksums are FNV-1a 64 of the N pattern bytes.
 */
#ifndef VSOCK_STREAM_H
#define VSOCK_STREAM_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CHUNK 65536

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

#define STREAM_FNV_INIT 0xcbf29ce484222325ull

struct stream_result {
	uint64_t sent, sent_sum;
	uint64_t recv, recv_sum;
	uint64_t send_ms; /* how long sending took (the client's request) */
	const char *mark; /* if set: a file created once `mark_after` bytes went out */
	uint64_t mark_after;
	int ok;	 /* what was received is the expected pattern, complete, followed by EOF */
	int err; /* errno of the first failure, 0 if none */
};

static int stream_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t stream_read_some(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Send the length and n bytes of pattern `seed`. */
static int stream_send(int fd, uint64_t n, uint64_t seed, struct stream_result *res)
{
	static uint8_t buf[STREAM_CHUNK];
	struct stream_gen g;
	uint8_t len[8];

	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(n >> (8 * i));
	if (stream_write_all(fd, len, 8) < 0)
		goto fail;
	stream_gen_init(&g, seed);
	res->sent_sum = STREAM_FNV_INIT;
	while (res->sent < n) {
		size_t c = n - res->sent < sizeof(buf) ? (size_t)(n - res->sent) : sizeof(buf);

		stream_gen_fill(&g, buf, c);
		res->sent_sum = stream_fnv(res->sent_sum, buf, c);
		if (stream_write_all(fd, buf, c) < 0)
			goto fail;
		res->sent += c;
		if (res->mark && res->sent >= res->mark_after) {
			int m = open(res->mark, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

			if (m >= 0)
				close(m);
			res->mark = NULL;
		}
	}
	return 0;
fail:
	if (!res->err)
		res->err = errno;
	return -1;
}

/* Receive a length and that many bytes, check them against pattern `seed`, then expect EOF. */
static int stream_recv(int fd, uint64_t seed, uint64_t *n, struct stream_result *res)
{
	static uint8_t buf[STREAM_CHUNK], want[STREAM_CHUNK];
	uint8_t len[8];
	size_t got = 0;
	struct stream_gen g;
	int same = 1;

	while (got < 8) {
		ssize_t r = stream_read_some(fd, len + got, 8 - got);

		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	*n = 0;
	for (int i = 0; i < 8; i++)
		*n |= (uint64_t)len[i] << (8 * i);
	stream_gen_init(&g, seed);
	res->recv_sum = STREAM_FNV_INIT;
	for (;;) {
		size_t want_n =
		    *n - res->recv < sizeof(buf) ? (size_t)(*n - res->recv) : sizeof(buf);
		ssize_t r = stream_read_some(fd, buf, want_n ? want_n : 1);

		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		if (!want_n) {
			same = 0; /* more than announced */
			res->recv += (uint64_t)r;
			break;
		}
		stream_gen_fill(&g, want, (size_t)r);
		same &= !memcmp(buf, want, (size_t)r);
		res->recv_sum = stream_fnv(res->recv_sum, buf, (size_t)r);
		res->recv += (uint64_t)r;
	}
	res->ok = same && res->recv == *n;
	return 0;
fail:
	if (!res->err)
		res->err = errno ? errno : EPIPE;
	return -1;
}

static uint64_t stream_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The initiator's side: send n bytes, half-close, read the answer. */
static void stream_client(int fd, uint64_t n, struct stream_result *res)
{
	uint64_t back = 0, t0 = stream_ms();

	if (stream_send(fd, n, 1, res) < 0)
		return;
	res->send_ms = stream_ms() - t0;
	shutdown(fd, SHUT_WR);
	if (stream_recv(fd, 2, &back, res) == 0 && back != n)
		res->ok = 0;
}

/* The acceptor's side: read the request (any length), answer a complete one with as many bytes. */
static void stream_server(int fd, struct stream_result *res)
{
	uint64_t n = 0;

	if (stream_recv(fd, 1, &n, res) < 0 || !res->ok)
		return;
	if (stream_send(fd, n, 2, res) < 0)
		res->ok = 0;
}

#endif
