/* virtio-vsock (device id 19, virtio 1.2 section 5.10) over Firecracker's hybrid unix sockets. */
#ifndef KVMBOX_VIRTIO_VSOCK_H
#define KVMBOX_VIRTIO_VSOCK_H

#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"

#ifndef VIRTIO_ID_VSOCK
#define VIRTIO_ID_VSOCK 19
#endif

#define VIRTIO_VSOCK_QUEUE_RX 0 /* device -> driver packets */
#define VIRTIO_VSOCK_QUEUE_TX 1 /* driver -> device packets */
#define VIRTIO_VSOCK_QUEUE_EVENT 2
#define VIRTIO_VSOCK_QUEUE_SIZE 256

#define VIRTIO_VSOCK_HOST_CID 2

#define VIRTIO_VSOCK_TYPE_STREAM 1

#define VIRTIO_VSOCK_OP_INVALID 0
#define VIRTIO_VSOCK_OP_REQUEST 1
#define VIRTIO_VSOCK_OP_RESPONSE 2
#define VIRTIO_VSOCK_OP_RST 3
#define VIRTIO_VSOCK_OP_SHUTDOWN 4
#define VIRTIO_VSOCK_OP_RW 5
#define VIRTIO_VSOCK_OP_CREDIT_UPDATE 6
#define VIRTIO_VSOCK_OP_CREDIT_REQUEST 7

#define VIRTIO_VSOCK_SHUTDOWN_RCV 1
#define VIRTIO_VSOCK_SHUTDOWN_SEND 2

#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0

/* Every packet starts with this header (all fields little-endian), then len payload bytes. */
struct virtio_vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

/* Limits: what a guest (or host programs) can make kvmbox hold. */
#define VIRTIO_VSOCK_MAX_CONNS 1024	    /* connections, host CONNECTs being read included */
#define VIRTIO_VSOCK_BUF_ALLOC (256 * 1024) /* credit we give each connection (guest -> host) */
#define VIRTIO_VSOCK_MAX_PKT (64 * 1024)    /* payload of one packet we send the guest */
#define VIRTIO_VSOCK_TIMEOUT_MS 5000	    /* CONNECT line, guest's answer, closing flush */

/* Counters since creation (device resets do not clear them). */
struct virtio_vsock_stats {
	uint64_t conns_active;	      /* connections now, host CONNECTs being read included */
	uint64_t conns_opened;	      /* streams established, either direction */
	uint64_t conns_closed;	      /* established streams that ended, any way */
	uint64_t conns_reset;	      /* connections ended by a reset (RST either way) */
	uint64_t conns_refused;	      /* guest connects to a host port nobody listens on */
	uint64_t bytes_guest_to_host; /* payload the guest sent (accepted into a stream) */
	uint64_t bytes_host_to_guest; /* payload placed in the guest's receive buffers */
	uint64_t malformed;	      /* packets dropped or answered with RST as malformed */
	uint64_t control_dropped;     /* RSTs not sent because the bounded queue was full */
};

/*
 * Create the device: config space le64 guest_cid (>= 3), and a unix socket listening at uds_path
 * (mode 0600) for host-initiated connections ("CONNECT <port>\n", answered "OK <local port>\n").
 * Guest connections to the host's port P go to the unix socket "<uds_path>_<P>". A live listener
 * at uds_path gives -EADDRINUSE (after an error line); a stale socket file there is replaced.
 * name ("virtio-vsock0") and uds_path are copied. ops->destroy closes every socket and removes
 * uds_path.
 */
int virtio_vsock_create(struct virtio_dev **out, const struct guest_mem *mem, uint64_t guest_cid,
			const char *uds_path, const char *name) __attribute__((warn_unused_result));

/* A consistent snapshot of the counters; any thread. */
void virtio_vsock_get_stats(struct virtio_dev *vdev, struct virtio_vsock_stats *stats);

/*
 * Drop every connection (host sockets closed, as a driver reset does) and tell the driver with a
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET event: the guest then resets its own sockets and re-reads
 * guest_cid. -ENOBUFS if the driver posted no event buffer, -EIO if the device is not live. Any
 * thread but the device's I/O thread. A device restored from a snapshot (ops->load: only the
 * guest CID is state, connections are not) sends this event by itself at its first kick after
 * virtio_dev_resume, or at the kick that brings an event buffer.
 */
int virtio_vsock_transport_reset(struct virtio_dev *vdev) __attribute__((warn_unused_result));

#endif
