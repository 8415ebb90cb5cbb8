/* virtio-net (device id 1) on a host tap: vnet header offloads, mergeable receive buffers. */
#ifndef KVMBOX_VIRTIO_NET_H
#define KVMBOX_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

#define VIRTIO_NET_QUEUE_RX 0
#define VIRTIO_NET_QUEUE_TX 1
#define VIRTIO_NET_QUEUE_SIZE 256

/* Little-endian on the wire (x86 hosts only, like the rest of kvmbox). */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len; /* ethernet + IP + TCP headers, for GSO */
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers; /* RX with MRG_RXBUF: chains this packet spans */
} __attribute__((packed));

/* The device config space (the part kvmbox offers: mac, status). */
struct virtio_net_dev_config {
	uint8_t mac[6];
	uint16_t status;
} __attribute__((packed));

struct virtio_net_config {
	const char *tap_name; /* opened, or created when absent (root) */
	bool has_mac;	      /* else a random locally administered 52:54:00:xx:xx:xx */
	uint8_t mac[6];
	const char *name; /* for logs and the I/O thread: "virtio-net0" */
};

/* Open the tap and create the device. Destroy with vdev->ops->destroy(vdev). */
int virtio_net_create(struct virtio_dev **out, const struct guest_mem *gm,
		      const struct virtio_net_config *cfg) __attribute__((warn_unused_result));

/*
 * The same on an fd the caller already has (ownership passes to the device, even on failure):
 * anything that moves one packet, vnet header first, per read and write, such as a tap fd or,
 * in tests, a SOCK_SEQPACKET socket. tap ioctls (header size, offloads) are made only when
 * is_tap; cfg->tap_name is then used only in log lines.
 */
int virtio_net_create_fd(struct virtio_dev **out, const struct guest_mem *gm,
			 const struct virtio_net_config *cfg, int fd, bool is_tap)
    __attribute__((warn_unused_result));

/*
 * TX-path header check, exposed for the fuzzer: may a packet with this header and `len` bytes
 * after the header be handed to the tap, given the features the driver accepted? Returns NULL
 * when it may, else why not (for a rate-limited log line).
 */
const char *virtio_net_hdr_check(const struct virtio_net_hdr_v1 *hdr, uint64_t len,
				 uint64_t features);

#endif
