/* The API's unix socket on an event loop: accept, bounded connections, timeouts, back-pressure. */
#include "api/server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "event_loop.h"
#include "log.h"

#define API_SERVER_BACKLOG 64
#define API_SERVER_ACCEPT_BATCH 16 /* per callback: other fds get their turn */
#define API_SERVER_READ_BATCH 8
/* After refusing a request mid-body: how much of the rest to read and drop before closing. */
#define API_SERVER_LINGER_BYTES (1u << 20)

struct api_server;

struct api_conn {
	struct api_server *srv;
	int fd;
	uint32_t events; /* what the loop watches for fd */
	struct http_conn *http;
	uint64_t progress_ns; /* last request completed, byte written, or start of a request */
	/*
	 * The answer is out and the connection is closing, but the client may still be sending a
	 * body we refused: closing now would make its send fail (EPIPE) before it reads our answer.
	 * So the write side is shut down and input is read and dropped until EOF, a limit or the
	 * timeout (a "lingering close", as HTTP servers do).
	 */
	bool lingering;
	uint32_t linger_bytes;
};

struct api_server {
	struct event_loop *loop;
	const struct api_ops *ops;
	void *opaque;
	int lfd, tfd;
	bool listening; /* lfd is on the loop (off for a tick after EMFILE) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	uint64_t timeout_ns;
	struct api_conn *conns[API_SERVER_MAX_CONNS];
	unsigned nconns;
	struct log_ratelimit refused_rl;
};

static uint64_t api_server_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void api_conn_close(struct api_conn *c)
{
	struct api_server *s = c->srv;

	event_loop_del(s->loop, c->fd);
	close(c->fd);
	http_conn_destroy(c->http);
	for (unsigned i = 0; i < s->nconns; i++)
		if (s->conns[i] == c) {
			s->conns[i] = s->conns[--s->nconns];
			break;
		}
	free(c);
}

/* Answer every complete request there is room for; returns how many. */
static unsigned api_conn_serve(struct api_conn *c)
{
	struct api_server *s = c->srv;
	struct http_request req;
	struct api_response resp;
	unsigned n = 0;

	while (http_conn_next(c->http, &req) == 1) {
		api_handle(s->ops, s->opaque, req.method, req.url, req.body, req.body_len, &resp);
		log_debug("api: %.16s %.128s -> %d", req.method, req.url, resp.status);
		http_conn_respond(c->http, resp.status, resp.body, resp.len);
		api_response_free(&resp);
		c->progress_ns = api_server_now();
		n++;
	}
	return n;
}

/* Write what the socket takes now. -1: the peer is gone. */
static int api_conn_flush(struct api_conn *c)
{
	for (;;) {
		size_t len;
		const void *p = http_conn_out(c->http, &len);
		ssize_t n;

		if (!len)
			return 0;
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			http_conn_out_done(c->http, (size_t)n);
			c->progress_ns = api_server_now();
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			return 0;
		} else {
			return -1;
		}
	}
}

static void api_conn_io(void *opaque, int fd, uint32_t events);

/* Watch for input while there is room for it, for output while some waits; close when done. */
static void api_conn_update(struct api_conn *c)
{
	uint32_t ev = 0;
	size_t out;

	http_conn_out(c->http, &out);
	if (http_conn_closing(c->http) && !out && !c->lingering) {
		if (shutdown(c->fd, SHUT_WR) < 0) {
			api_conn_close(c);
			return;
		}
		c->lingering = true;
		c->progress_ns = api_server_now();
	}
	if (http_conn_in_space(c->http) || c->lingering)
		ev |= EPOLLIN;
	if (out)
		ev |= EPOLLOUT;
	if (!ev) {
		api_conn_close(c);
		return;
	}
	if (ev == c->events)
		return;
	event_loop_del(c->srv->loop, c->fd);
	c->events = ev;
	if (event_loop_add(c->srv->loop, c->fd, ev, api_conn_io, c))
		api_conn_close(c);
}

/* A lingering connection: drop what the client still sends; close at EOF or past the limit. */
static void api_conn_linger(struct api_conn *c)
{
	char buf[4096];

	for (int i = 0; i < API_SERVER_READ_BATCH; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || (c->linger_bytes += (uint32_t)n) > API_SERVER_LINGER_BYTES) {
			api_conn_close(c);
			return;
		}
	}
	/* More may come: the loop calls back (level-triggered). */
}

static void api_conn_io(void *opaque, int fd, uint32_t events)
{
	struct api_conn *c = opaque;
	char buf[4096];

	if (c->lingering) {
		api_conn_linger(c);
		return;
	}
	for (int i = 0; i < API_SERVER_READ_BATCH && (events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	     i++) {
		size_t space = http_conn_in_space(c->http);
		ssize_t n;

		if (!space)
			break;
		n = recv(fd, buf, space < sizeof(buf) ? space : sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			if (!http_conn_busy(c->http))
				c->progress_ns = api_server_now(); /* a new request begins */
			http_conn_feed(c->http, buf, (size_t)n);
			api_conn_serve(c);
		} else if (n == 0) {
			http_conn_eof(c->http);
			break;
		} else if (errno != EINTR) {
			if (errno == EAGAIN)
				break;
			api_conn_close(c); /* ECONNRESET... */
			return;
		}
	}
	/* Pipelined requests wait while output is backed up: serve them as it drains. */
	for (;;) {
		unsigned served = api_conn_serve(c);
		size_t out;

		if (api_conn_flush(c) < 0) {
			api_conn_close(c);
			return;
		}
		http_conn_out(c->http, &out);
		if (!served || out)
			break;
	}
	api_conn_update(c);
}

static void api_server_accept(void *opaque, int fd, uint32_t events);

static void api_server_listen(struct api_server *s, bool on)
{
	if (on == s->listening)
		return;
	if (!on)
		event_loop_del(s->loop, s->lfd);
	else if (event_loop_add(s->loop, s->lfd, EPOLLIN, api_server_accept, s))
		return; /* the next tick tries again */
	s->listening = on;
}

static void api_server_accept(void *opaque, int fd, uint32_t events)
{
	struct api_server *s = opaque;

	for (int i = 0; i < API_SERVER_ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct api_conn *c;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN) {
				/* EMFILE...: the socket stays readable; pause until the next tick.
				 */
				if (log_ratelimit_ok(&s->refused_rl))
					log_warn("API socket: accept: %s", strerror(errno));
				api_server_listen(s, false);
			}
			return;
		}
		if (s->nconns == API_SERVER_MAX_CONNS) {
			if (log_ratelimit_ok(&s->refused_rl))
				log_warn("API socket: %d connections open; closing a new one",
					 API_SERVER_MAX_CONNS);
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || http_conn_create(&c->http)) {
			free(c);
			close(cfd);
			continue;
		}
		c->srv = s;
		c->fd = cfd;
		c->events = EPOLLIN;
		c->progress_ns = api_server_now();
		if (event_loop_add(s->loop, cfd, EPOLLIN, api_conn_io, c)) {
			http_conn_destroy(c->http);
			free(c);
			close(cfd);
			continue;
		}
		s->conns[s->nconns++] = c;
	}
}

/* Drop connections stuck in a partial request or unsent output; re-listen after EMFILE. */
static void api_server_tick(void *opaque, int fd, uint32_t events)
{
	struct api_server *s = opaque;
	uint64_t ticks, now = api_server_now();

	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("API timer: %s", strerror(errno));
	api_server_listen(s, true);
	for (unsigned i = s->nconns; i-- > 0;) {
		struct api_conn *c = s->conns[i];

		if (c->lingering && now - c->progress_ns > s->timeout_ns) {
			api_conn_close(c);
			continue;
		}
		if (http_conn_busy(c->http) && now - c->progress_ns > s->timeout_ns) {
			log_info("API socket: dropping a connection stuck for %llu ms in a request",
				 (unsigned long long)(s->timeout_ns / 1000000));
			api_conn_close(c);
		}
	}
}

static int api_server_arm(struct api_server *s)
{
	uint64_t period = s->timeout_ns / 4;
	struct itimerspec its;

	if (period > 1000000000ull)
		period = 1000000000ull;
	if (period < 10000000ull)
		period = 10000000ull;
	its.it_interval.tv_sec = (time_t)(period / 1000000000ull);
	its.it_interval.tv_nsec = (long)(period % 1000000000ull);
	its.it_value = its.it_interval;
	return timerfd_settime(s->tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

void api_server_set_timeout(struct api_server *s, unsigned ms)
{
	s->timeout_ns = (uint64_t)ms * 1000000ull;
	if (api_server_arm(s))
		log_warn("API socket: cannot re-arm the timer: %s", strerror(errno));
}

/* A socket file left at path: replace it only if nothing accepts connections on it. */
static int api_server_clear_path(const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		e = errno;
		log_error("API socket '%s': %s", path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("API socket '%s': the path exists and is not a socket; not replacing it",
			  path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		log_error("API socket '%s': socket: %s", path, strerror(e));
		return -e;
	}
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
		log_error("API socket '%s' is in use: another process accepts connections on it",
			  path);
		return -EADDRINUSE;
	}
	if (e != ECONNREFUSED) {
		log_error("API socket '%s': cannot tell whether it is in use: %s", path,
			  strerror(e));
		return -e;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		e = errno;
		log_error("API socket '%s': cannot remove the stale socket: %s", path, strerror(e));
		return -e;
	}
	log_info("API socket '%s': replaced a stale socket", path);
	return 0;
}

int api_server_create(struct api_server **out, const char *path, struct event_loop *loop,
		      const struct api_ops *ops, void *opaque)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct api_server *s;
	struct stat st;
	mode_t old;
	int ret, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("API socket '%s': path too long (at most %zu bytes)", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->ops = ops;
	s->opaque = opaque;
	s->timeout_ns = API_SERVER_TIMEOUT_MS * 1000000ull;
	s->tfd = -1;
	memcpy(s->path, sa.sun_path, sizeof(s->path));
	ret = api_server_clear_path(&sa);
	if (ret)
		goto err_free;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		ret = -errno;
		log_error("API socket '%s': socket: %s", path, strerror(-ret));
		goto err_free;
	}
	/* bind creates the file: with this umask it is born 0600, never briefly wider. */
	old = umask(0177);
	r = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa));
	ret = -errno;
	umask(old);
	if (r < 0) {
		log_error("API socket '%s': bind: %s", path, strerror(-ret));
		goto err_close;
	}
	if (stat(path, &st) < 0 || listen(s->lfd, API_SERVER_BACKLOG) < 0) {
		ret = -errno;
		log_error("API socket '%s': listen: %s", path, strerror(-ret));
		goto err_unlink;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ret = s->tfd < 0 ? -errno : api_server_arm(s);
	if (!ret)
		ret = event_loop_add(loop, s->tfd, EPOLLIN, api_server_tick, s);
	if (ret) {
		log_error("API socket '%s': timer: %s", path, strerror(-ret));
		goto err_unlink;
	}
	ret = event_loop_add(loop, s->lfd, EPOLLIN, api_server_accept, s);
	if (ret) {
		log_error("API socket '%s': event loop: %s", path, strerror(-ret));
		event_loop_del(loop, s->tfd);
		goto err_unlink;
	}
	s->listening = true;
	*out = s;
	return 0;

err_unlink:
	unlink(path);
	if (s->tfd >= 0)
		close(s->tfd);
err_close:
	close(s->lfd);
err_free:
	free(s);
	return ret;
}

void api_server_destroy(struct api_server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->nconns)
		api_conn_close(s->conns[s->nconns - 1]);
	if (s->listening)
		event_loop_del(s->loop, s->lfd);
	close(s->lfd);
	event_loop_del(s->loop, s->tfd);
	close(s->tfd);
	/* Only our own socket: another kvmbox may have replaced a path we left stale. */
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}
