/* Host side of Firecracker's hybrid vsock: unix sockets, the CONNECT line, send backlogs. */
#include "backend/vsock_uds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define VSOCK_UDS_BACKLOG 128

static int vsock_uds_addr(struct sockaddr_un *sa, const char *path)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!len || len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len);
	return 0;
}

static int vsock_uds_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

/*
 * Something exists at path: is it a socket nobody listens on? 0: yes (stale, may be removed);
 * -EADDRINUSE: live; -EEXIST: not a socket. A full backlog (EAGAIN) means live too.
 */
static int vsock_uds_probe(const struct sockaddr_un *sa, const char *path)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = vsock_uds_socket();
	if (fd < 0)
		return fd;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	close(fd);
	if (ret == -ECONNREFUSED)
		return 0;
	return -EADDRINUSE;
}

int vsock_uds_listen(const char *path, uint64_t ino[2])
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	ret = vsock_uds_addr(&sa, path);
	if (ret) {
		log_error("vsock: unix socket path '%s' is empty or too long (%zu bytes at most)",
			  path, sizeof(sa.sun_path) - 1);
		return ret;
	}
	fd = vsock_uds_socket();
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		if (ret == -EADDRINUSE)
			ret = vsock_uds_probe(&sa, path);
		if (ret == -EADDRINUSE) {
			log_error("vsock: something is already listening on '%s'", path);
			goto err;
		}
		if (ret == -EEXIST) {
			log_error("vsock: '%s' exists and is not a unix socket", path);
			goto err;
		}
		if (ret) {
			log_error("vsock: cannot bind '%s': %s", path, strerror(-ret));
			goto err;
		}
		/* Stale: a previous run's socket nobody listens on any more. */
		if (unlink(path) < 0 && errno != ENOENT) {
			ret = -errno;
			log_error("vsock: cannot remove the stale socket '%s': %s", path,
				  strerror(-ret));
			goto err;
		}
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			ret = -errno;
			log_error("vsock: cannot bind '%s': %s", path, strerror(-ret));
			goto err;
		}
	}
	/* Before listen(), nobody can connect: the mode is right before anyone can use it. */
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0 || listen(fd, VSOCK_UDS_BACKLOG) < 0) {
		ret = -errno;
		log_error("vsock: cannot listen on '%s': %s", path, strerror(-ret));
		unlink(path);
		goto err;
	}
	ino[0] = st.st_dev;
	ino[1] = st.st_ino;
	return fd;
err:
	close(fd);
	return ret;
}

void vsock_uds_unlink(const char *path, const uint64_t ino[2])
{
	struct stat st;

	/* Another kvmbox may have replaced a socket it found stale: leave that one alone. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == ino[0] &&
	    st.st_ino == ino[1])
		unlink(path);
}

int vsock_uds_connect_port(const char *path, uint32_t port, int *fdp)
{
	struct sockaddr_un sa;
	char name[sizeof(sa.sun_path) + 16];
	int fd, ret;

	*fdp = -1;
	if ((size_t)snprintf(name, sizeof(name), "%s_%u", path, port) >= sizeof(name))
		return -ENAMETOOLONG;
	ret = vsock_uds_addr(&sa, name);
	if (ret)
		return ret;
	fd = vsock_uds_socket();
	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	ret = -errno;
	if (ret == -EINPROGRESS) {
		*fdp = fd;
		return ret;
	}
	close(fd);
	return ret;
}

int vsock_uds_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

int vsock_uds_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int vsock_uds_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT";
	uint64_t v = 0;
	size_t i = sizeof(verb) - 1, digits = 0;

	/* As Firecracker reads it: the verb, blanks, a decimal port, optional blanks, newline. */
	if (len <= i || memcmp(line, verb, i) || line[len - 1] != '\n')
		return -EPROTO;
	len--;
	if (line[i] != ' ' && line[i] != '\t')
		return -EPROTO;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++) {
		if (digits == 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (!digits || i != len || v > UINT32_MAX)
		return -EPROTO;
	*port = (uint32_t)v;
	return 0;
}

int vsock_uds_read_connect(int fd, char line[VSOCK_UDS_LINE_MAX], unsigned *len, uint32_t *port)
{
	char peek[VSOCK_UDS_LINE_MAX];
	size_t room = VSOCK_UDS_LINE_MAX - *len, take;
	ssize_t n;
	char *nl;

	if (!room)
		return -EPROTO;
	/* Peek first: data the host sent right behind the line must stay in the socket. */
	n = recv(fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	nl = memchr(peek, '\n', (size_t)n);
	take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	n = recv(fd, line + *len, take, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if ((size_t)n != take)
		return -EIO; /* we alone read this socket: what was peeked is there */
	*len += (unsigned)n;
	if (!nl)
		return *len == VSOCK_UDS_LINE_MAX ? -EPROTO : 0;
	return vsock_uds_parse_connect(line, *len, port) ? -EPROTO : 1;
}

ssize_t vsock_uds_sendv(int fd, const struct iovec *iov, unsigned n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	do
		r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t vsock_uds_recvv(int fd, const struct iovec *iov, unsigned n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	do
		r = recvmsg(fd, &m, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int vsock_uds_buf_append(struct vsock_uds_buf *b, uint32_t cap, const struct iovec *iov, unsigned n,
			 size_t skip, uint32_t len)
{
	uint32_t got = 0;

	if (!b->data) {
		b->data = malloc(cap);
		if (!b->data)
			return -ENOMEM;
		b->cap = cap;
		b->head = b->len = 0;
	}
	if (len > b->cap - b->len)
		return -ENOSPC;
	for (unsigned i = 0; i < n && got < len; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p += skip;
		l -= skip;
		skip = 0;
		if (l > len - got)
			l = len - got;
		/* At most two pieces: up to the end of the storage, then from its start. */
		while (l) {
			uint32_t pos = (b->head + b->len + got) % b->cap;
			uint32_t chunk = b->cap - pos < l ? b->cap - pos : (uint32_t)l;

			memcpy(b->data + pos, p, chunk);
			p += chunk;
			l -= chunk;
			got += chunk;
		}
	}
	b->len += got;
	return 0;
}

ssize_t vsock_uds_buf_flush(struct vsock_uds_buf *b, int fd)
{
	struct iovec iov[2];
	unsigned n = 0;
	uint32_t first;
	ssize_t r;

	if (!b->len)
		return 0;
	first = b->cap - b->head < b->len ? b->cap - b->head : b->len;
	iov[n++] = (struct iovec){ b->data + b->head, first };
	if (first < b->len)
		iov[n++] = (struct iovec){ b->data, b->len - first };
	r = vsock_uds_sendv(fd, iov, n);
	if (r <= 0)
		return r;
	b->head = (uint32_t)((b->head + (size_t)r) % b->cap);
	b->len -= (uint32_t)r;
	if (!b->len)
		vsock_uds_buf_free(b);
	return r;
}

void vsock_uds_buf_free(struct vsock_uds_buf *b)
{
	free(b->data);
	*b = (struct vsock_uds_buf){ 0 };
}
