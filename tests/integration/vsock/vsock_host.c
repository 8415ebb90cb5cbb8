/*
 * Host side of the vsock integration test (tests/integration/test_vsock.sh), speaking the stream
 * of vsock_stream.h over Firecracker-style hybrid vsock unix sockets. Prints "TAG.KEY=VALUE" lines.
 *   vsock_host serve PATH N TAG              listen on PATH (the guest connects to the host port P
 *                                            as "<uds>_P"), serve N connections at once
 *   vsock_host connect UDS PORT BYTES N TAG  N connections at once to the guest's PORT through UDS
 *                                            ("CONNECT PORT\n", "OK <local port>\n"), each retried
 *                                            until the guest listens (420 s at most)
 *   vsock_host stale PATH                    leave a socket file nobody listens on at PATH
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vsock_stream.h"

#define RETRY_SECONDS 420

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write: the test appends every process's lines to one file (O_APPEND). */
	if (write(1, buf, (size_t)n) < 0)
		_exit(3);
}

static int unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static int do_serve(const char *path, unsigned n, const char *tag)
{
	struct sockaddr_un sa;
	struct stream *s = calloc(n, sizeof(*s));
	unsigned ok = 0, got = 0, left = n;
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (!s || lfd < 0 || unix_addr(&sa, path) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
		out("%s.error=listen:%s", tag, strerror(errno));
		return 1;
	}
	if (stream_run(s, &got, lfd, &left) < 0)
		out("%s.error=poll:%s", tag, strerror(errno));
	close(lfd);
	unlink(path);
	for (unsigned i = 0; i < got; i++) {
		ok += s[i].ok;
		close(s[i].fd);
	}
	if (n == 1 && got == 1)
		out("%s.recv=%" PRIu64 "\n%s.recv_sum=%016" PRIx64 "\n%s.sent_sum=%016" PRIx64
		    "\n%s.error=%d",
		    tag, s[0].recv, tag, s[0].recv_sum, tag, s[0].sent_sum, tag, s[0].err);
	out("%s.ok=%u", tag, ok);
	return ok == n ? 0 : 1;
}

/*
 * Connect through the hybrid socket: the stream fd once the guest accepted; -1 when kvmbox
 * closed the connection without an OK (the guest does not listen yet: worth a retry); -2 when
 * nothing listens at uds (kvmbox is gone).
 */
static int hybrid_connect(const char *uds, unsigned port, unsigned *lport)
{
	struct sockaddr_un sa;
	char line[64];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || unix_addr(&sa, uds) < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -2;
	}
	len = (size_t)snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto fail;
	/* Byte by byte: what follows the line is the guest's stream. */
	for (len = 0; len < sizeof(line) - 1; len++) {
		if (read(fd, line + len, 1) != 1)
			goto fail; /* closed: the guest does not listen (yet) */
		if (line[len] == '\n')
			break;
	}
	line[len] = 0;
	if (sscanf(line, "OK %u", lport) != 1)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The stream fd once the guest accepted (retrying while it does not listen), or -1. */
static int connect_retry(const char *uds, unsigned port, const char *tag, unsigned *attempts)
{
	time_t end = time(NULL) + RETRY_SECONDS;
	unsigned lport = 0;
	int fd;

	while ((fd = hybrid_connect(uds, port, &lport)) < 0) {
		++*attempts;
		if (fd == -2) {
			out("%s.error=cannot connect to %s", tag, uds);
			return -1;
		}
		if (time(NULL) >= end) {
			out("%s.error=no OK after %u attempts", tag, *attempts);
			return -1;
		}
		sleep(1);
	}
	out("%s.lport=%u", tag, lport);
	return fd;
}

/* n connections open at once (all connected first), then all streams run together. */
static int do_connect(const char *uds, unsigned port, uint64_t bytes, unsigned n, const char *tag)
{
	struct stream *s = calloc(n, sizeof(*s));
	unsigned ok = 0, open_n = 0, attempts = 0;

	if (!s)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		int fd = connect_retry(uds, port, tag, &attempts);

		if (fd >= 0)
			stream_init(&s[open_n++], fd, 0, bytes);
	}
	stream_run(s, &open_n, -1, NULL);
	for (unsigned i = 0; i < open_n; i++) {
		ok += s[i].ok;
		close(s[i].fd);
	}
	if (n == 1 && open_n == 1)
		out("%s.sent=%" PRIu64 "\n%s.sent_sum=%016" PRIx64 "\n%s.recv=%" PRIu64
		    "\n%s.recv_sum=%016" PRIx64 "\n%s.error=%d\n%s.attempts=%u",
		    tag, s[0].sent, tag, s[0].sent_sum, tag, s[0].recv, tag, s[0].recv_sum, tag,
		    s[0].err, tag, attempts);
	out("%s.ok=%u", tag, ok);
	return ok == n ? 0 : 1;
}

static int do_stale(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* Bound, never listened on, closed without unlink: what a crashed server leaves. */
	if (fd < 0 || unix_addr(&sa, path) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	alarm(900);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return do_serve(argv[2], (unsigned)strtoul(argv[3], NULL, 0), argv[4]);
	if (argc == 7 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
				  strtoull(argv[4], NULL, 0), (unsigned)strtoul(argv[5], NULL, 0),
				  argv[6]);
	if (argc == 3 && !strcmp(argv[1], "stale"))
		return do_stale(argv[2]);
	fprintf(stderr, "usage: vsock_host serve PATH N TAG | connect UDS PORT BYTES N TAG |"
			" stale PATH\n");
	return 2;
}
