/*
 * kb-tcp: one-way TCP bulk transfer, timed. Built static (bench/io.mk): the same binary runs in
 * the test guest and on the host side of the tap (inside bench/io.sh's network namespace), and
 * for the host's loopback reference.
 *
 * Servers (accept COUNT connections one after the other, one result line per connection):
 *   kb-tcp sink   PORT [COUNT]         read each connection until EOF
 *   kb-tcp source PORT BYTES [COUNT]   write BYTES, half-close, wait for the peer to close
 * Clients (retry the connect for up to 30 s, for a guest whose peer is not configured yet):
 *   kb-tcp send HOST PORT BYTES        write BYTES, half-close, wait for the peer to close
 *   kb-tcp recv HOST PORT              read until EOF, then close
 * Each side prints: role=R bytes=B secs=S mbps=MB/s(1e6). A sink's time runs from accept to EOF,
 * a source's from accept to the peer's close (every byte delivered), a client's from connect.
 * Exit status: 0, 1 on a socket error or a short transfer, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128 * 1024)

static char buf[CHUNK];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *role, uint64_t bytes, double secs)
{
	printf("role=%s bytes=%" PRIu64 " secs=%.4f mbps=%.2f\n", role, bytes, secs,
	       secs > 0 ? (double)bytes / secs / 1e6 : 0);
	fflush(stdout);
}

/* Read until EOF; the byte count, or -1 on an error. */
static int64_t drain(int fd)
{
	int64_t total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			return total;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("kb-tcp: read");
			return -1;
		}
		total += n;
	}
}

/* Write bytes, half-close, wait for the peer's close. 0 or -1. */
static int pour(int fd, uint64_t bytes)
{
	while (bytes) {
		ssize_t n = write(fd, buf, bytes < sizeof(buf) ? bytes : sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("kb-tcp: write");
			return -1;
		}
		bytes -= (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	return drain(fd) < 0 ? -1 : 0;
}

static int serve(const char *role, int port, uint64_t bytes, unsigned count)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0) {
		perror("kb-tcp: listen");
		return 1;
	}
	printf("listening port=%d\n", port);
	fflush(stdout);
	for (unsigned i = 0; i < count; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		double t0 = now_s();
		int64_t got;

		if (fd < 0) {
			perror("kb-tcp: accept");
			return 1;
		}
		if (!strcmp(role, "sink")) {
			got = drain(fd);
		} else {
			got = pour(fd, bytes) ? -1 : (int64_t)bytes;
		}
		close(fd);
		if (got < 0)
			return 1;
		report(role, (uint64_t)got, now_s() - t0);
	}
	close(lfd);
	return 0;
}

static int client(const char *role, const char *host, int port, uint64_t bytes)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	double t0, deadline = now_s() + 30;
	int64_t got;
	int fd;

	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "kb-tcp: bad IPv4 address %s\n", host);
		return 2;
	}
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			perror("kb-tcp: socket");
			return 1;
		}
		t0 = now_s();
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		close(fd);
		if (now_s() > deadline) {
			perror("kb-tcp: connect");
			return 1;
		}
		usleep(200 * 1000);
	}
	if (!strcmp(role, "send")) {
		got = pour(fd, bytes) ? -1 : (int64_t)bytes;
	} else {
		got = drain(fd);
	}
	close(fd);
	if (got < 0)
		return 1;
	report(role, (uint64_t)got, now_s() - t0);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: kb-tcp sink PORT [COUNT] | source PORT BYTES [COUNT] |"
			" send HOST PORT BYTES | recv HOST PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "sink") && argc <= 4)
		return serve("sink", atoi(argv[2]), 0, argc == 4 ? (unsigned)atoi(argv[3]) : 1);
	if (!strcmp(argv[1], "source") && (argc == 4 || argc == 5))
		return serve("source", atoi(argv[2]), strtoull(argv[3], NULL, 0),
			     argc == 5 ? (unsigned)atoi(argv[4]) : 1);
	if (!strcmp(argv[1], "send") && argc == 5)
		return client("send", argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0));
	if (!strcmp(argv[1], "recv") && argc == 4)
		return client("recv", argv[2], atoi(argv[3]), 0);
	usage();
	return 2;
}
