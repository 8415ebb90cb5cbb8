/*
 * vsock test program for the Linux test guest (static: gcc -static -O2). Results are console
 * lines "@T vsock.KEY=VALUE" (tests/integration/lib.sh's gval). Streams: vsock_stream.h.
 *   vsock_guest cid                       this guest's CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID)
 *   vsock_guest listen PORT N             serve N connections on PORT at once:
 *                                         vsock.listen.PORT.ok=<complete and correct>
 *   vsock_guest connect PORT BYTES TAG [MARK]
 *                                         connect to the host (CID 2), send BYTES, read the answer:
 *                                         vsock.TAG.{ok,sent,sent_sum,recv,recv_sum,ms,error};
 *                                         the file MARK is created once 64 KiB went out
 *   vsock_guest many PORT N BYTES         N such connections at once: vsock.many.PORT.ok=<count>
 *   vsock_guest refused PORT              a connect nobody answers: vsock.refused.PORT=<errno>
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vsock_stream.h"

#define HOST_CID 2

/* One write per call (lines may be several): output of concurrent processes does not interleave
 * inside it. Each line ends with a newline added here. */
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
	if (write(1, buf, (size_t)n) < 0)
		_exit(3);
}

static const char *errname(int e)
{
	switch (e) {
	case 0:
		return "none";
	case ECONNRESET:
		return "ECONNRESET";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EPIPE:
		return "EPIPE";
	case ENODEV:
		return "ENODEV";
	case EAFNOSUPPORT:
		return "EAFNOSUPPORT";
	default: {
		static char num[24];

		snprintf(num, sizeof(num), "errno%d", e);
		return num;
	}
	}
}

static int vsock_connect(unsigned port, int *err)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = HOST_CID, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* Linux gives up after 2 s by default: too short for a guest on a loaded software-KVM
	 * host. A refused connect still ends at once (the device answers with an RST). */
	struct timeval tmo = { .tv_sec = 60 };

	if (fd >= 0)
		setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tmo, sizeof(tmo));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*err = errno;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int do_cid(void)
{
	unsigned cid = 0;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0) {
		out("@T vsock.cid=error:%s", errname(errno));
		return 1;
	}
	out("@T vsock.cid=%u", cid);
	return 0;
}

static int do_listen(unsigned port, unsigned n)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	struct stream *s = calloc(n, sizeof(*s));
	unsigned ok = 0, got = 0, left = n;
	int lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (!s || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 64) < 0) {
		out("@T vsock.listen.%u.error=%s", port, errname(errno));
		return 1;
	}
	out("@T vsock.listen.%u=ready", port);
	if (stream_run(s, &got, lfd, &left) < 0)
		out("@T vsock.listen.%u.error=poll:%s", port, errname(errno));
	for (unsigned i = 0; i < got; i++) {
		ok += s[i].ok;
		close(s[i].fd);
	}
	if (n == 1 && got == 1)
		out("@T vsock.listen.%u.recv=%" PRIu64 "\n@T vsock.listen.%u.recv_sum=%016" PRIx64
		    "\n@T vsock.listen.%u.sent_sum=%016" PRIx64 "\n@T vsock.listen.%u.error=%s",
		    port, s[0].recv, port, s[0].recv_sum, port, s[0].sent_sum, port,
		    errname(s[0].err));
	out("@T vsock.listen.%u.ok=%u", port, ok);
	return ok == n ? 0 : 1;
}

static int do_connect(unsigned port, uint64_t bytes, const char *tag, const char *mark)
{
	static struct stream s;
	unsigned one = 1;
	int err = 0, fd = vsock_connect(port, &err);

	if (fd < 0) {
		out("@T vsock.%s.error=connect:%s", tag, errname(err));
		return 1;
	}
	stream_init(&s, fd, 0, bytes);
	s.mark = mark;
	s.mark_after = 65536;
	stream_run(&s, &one, -1, NULL);
	close(fd);
	out("@T vsock.%s.sent=%" PRIu64 "\n@T vsock.%s.sent_sum=%016" PRIx64
	    "\n@T vsock.%s.recv=%" PRIu64 "\n@T vsock.%s.recv_sum=%016" PRIx64
	    "\n@T vsock.%s.ms=%" PRIu64 "\n@T vsock.%s.send_ms=%" PRIu64
	    "\n@T vsock.%s.error=%s\n@T vsock.%s.ok=%d",
	    tag, s.sent, tag, s.sent_sum, tag, s.recv, tag, s.recv_sum, tag, stream_ms() - s.t0,
	    tag, s.send_ms, tag, errname(s.err), tag, s.ok);
	return s.ok ? 0 : 1;
}

/* n connections open at once (all connected first), then all streams run together. */
static int do_many(unsigned port, unsigned n, uint64_t bytes)
{
	struct stream *s = calloc(n, sizeof(*s));
	unsigned ok = 0, open_n = 0;
	int err = 0;

	if (!s)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		int fd = vsock_connect(port, &err);

		if (fd < 0) {
			out("@T vsock.many.%u.error=connect:%s", port, errname(err));
			continue;
		}
		stream_init(&s[open_n++], fd, 0, bytes);
	}
	stream_run(s, &open_n, -1, NULL);
	for (unsigned i = 0; i < open_n; i++) {
		ok += s[i].ok;
		close(s[i].fd);
	}
	out("@T vsock.many.%u.ok=%u", port, ok);
	return ok == n ? 0 : 1;
}

static int do_refused(unsigned port)
{
	int err = 0, fd = vsock_connect(port, &err);

	if (fd >= 0) {
		out("@T vsock.refused.%u=connected", port);
		close(fd);
		return 1;
	}
	out("@T vsock.refused.%u=%s", port, errname(err));
	return 0;
}

int main(int argc, char **argv)
{
	/* Never outlive the test: a peer that never comes must not hang the guest's script. */
	alarm(420);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "cid"))
		return do_cid();
	if (argc >= 4 && !strcmp(argv[1], "listen"))
		return do_listen((unsigned)strtoul(argv[2], NULL, 0),
				 (unsigned)strtoul(argv[3], NULL, 0));
	if (argc >= 5 && !strcmp(argv[1], "connect"))
		return do_connect((unsigned)strtoul(argv[2], NULL, 0), strtoull(argv[3], NULL, 0),
				  argv[4], argc >= 6 ? argv[5] : NULL);
	if (argc >= 5 && !strcmp(argv[1], "many"))
		return do_many((unsigned)strtoul(argv[2], NULL, 0),
			       (unsigned)strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	if (argc >= 3 && !strcmp(argv[1], "refused"))
		return do_refused((unsigned)strtoul(argv[2], NULL, 0));
	fprintf(stderr, "usage: vsock_guest cid | listen PORT N | connect PORT BYTES TAG [MARK] |"
			" many PORT N BYTES | refused PORT\n");
	return 2;
}
