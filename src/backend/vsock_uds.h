/* Host side of Firecracker's hybrid vsock: unix sockets, the CONNECT line, send backlogs. */
#ifndef KVMBOX_BACKEND_VSOCK_UDS_H
#define KVMBOX_BACKEND_VSOCK_UDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* "CONNECT 4294967295\r\n" is 20 bytes: anything longer than this is not a CONNECT line. */
#define VSOCK_UDS_LINE_MAX 32

/*
 * Listen on the unix stream socket `path` (mode 0600, non-blocking, close-on-exec). An existing
 * socket file is replaced only when it is stale (connect() to it fails with ECONNREFUSED);
 * something live listening there gives -EADDRINUSE, a file that is not a socket -EEXIST, each
 * after one error line naming the path. *ino receives the socket file's identity, for
 * vsock_uds_unlink. Returns the fd or negative errno.
 */
int vsock_uds_listen(const char *path, uint64_t ino[2]) __attribute__((warn_unused_result));

/* Remove path if it is still the socket file vsock_uds_listen created (same device and inode). */
void vsock_uds_unlink(const char *path, const uint64_t ino[2]);

/*
 * Start a non-blocking connect to "<path>_<port>". Returns the fd when connected at once, or
 * negative errno: -EINPROGRESS with the fd in *fd (wait for writability, then
 * vsock_uds_connect_result), -EAGAIN (the listener's backlog is full: try again later), or a
 * failure (-ENOENT, -ECONNREFUSED, -ENAMETOOLONG...).
 */
int vsock_uds_connect_port(const char *path, uint32_t port, int *fd)
    __attribute__((warn_unused_result));

/* The outcome of a connect that returned -EINPROGRESS: 0 or negative errno (SO_ERROR). */
int vsock_uds_connect_result(int fd) __attribute__((warn_unused_result));

/* Accept one pending connection: the fd (non-blocking, close-on-exec) or negative errno. */
int vsock_uds_accept(int lfd) __attribute__((warn_unused_result));

/*
 * Read the host's "CONNECT <port>\n" line into line[*len..], never past its newline (the bytes
 * after it are the stream's). 1: complete and valid, *port set. 0: incomplete, call again when
 * readable. Negative: close the connection (-EPROTO: not a CONNECT line or too long; -EPIPE: end
 * of file; other: read error).
 */
int vsock_uds_read_connect(int fd, char line[VSOCK_UDS_LINE_MAX], unsigned *len, uint32_t *port)
    __attribute__((warn_unused_result));

/* Parse a complete line ("CONNECT <port>\n"; blanks around the port and "\r\n" accepted): 0 and
 * *port, or -EPROTO. */
int vsock_uds_parse_connect(const char *line, size_t len, uint32_t *port)
    __attribute__((warn_unused_result));

/* Non-blocking, SIGPIPE-free gather send / scatter receive: bytes or negative errno. */
ssize_t vsock_uds_sendv(int fd, const struct iovec *iov, unsigned n);
ssize_t vsock_uds_recvv(int fd, const struct iovec *iov, unsigned n);

/*
 * Bytes the guest sent that the host socket did not take yet: a ring of fixed capacity, its
 * storage allocated when first needed and freed when it drains.
 */
struct vsock_uds_buf {
	uint8_t *data;
	uint32_t cap;
	uint32_t head; /* offset of the oldest byte */
	uint32_t len;
};

/*
 * Append len bytes of iov (after skipping skip bytes) to b, allocating cap bytes if b has no
 * storage. -ENOSPC if they do not fit (nothing appended), -ENOMEM.
 */
int vsock_uds_buf_append(struct vsock_uds_buf *b, uint32_t cap, const struct iovec *iov, unsigned n,
			 size_t skip, uint32_t len) __attribute__((warn_unused_result));
/* Send as much of b as fd takes; frees the storage once empty. Bytes sent, or negative errno. */
ssize_t vsock_uds_buf_flush(struct vsock_uds_buf *b, int fd);
void vsock_uds_buf_free(struct vsock_uds_buf *b);

#endif
