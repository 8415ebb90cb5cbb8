/* Host tap devices for virtio-net: open with a vnet header, set offloads, classify errors. */
#ifndef KVMBOX_BACKEND_TAP_H
#define KVMBOX_BACKEND_TAP_H

#include <net/if.h>
#include <stdbool.h>

/* Offload bits for tap_set_offload (what the reader of the tap, i.e. the guest, accepts). */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_ECN 0x08

/*
 * Open (creating it when absent, which needs CAP_NET_ADMIN) the tap interface `name` with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a vnet header of vnet_hdr_len bytes (10 or 12), no
 * offloads yet, non-blocking and close-on-exec. Returns the fd, or negative errno after one error
 * line naming the problem (no /dev/net/tun, no permission, bad name, busy...). ifname (may be
 * NULL, else IFNAMSIZ bytes) receives the kernel's name for the interface.
 */
int tap_open(const char *name, int vnet_hdr_len, char *ifname) __attribute__((warn_unused_result));

/* Set the vnet header size the tap reads and writes (10, or 12 with num_buffers). */
int tap_set_vnet_hdr_len(int fd, int len) __attribute__((warn_unused_result));

/* Tell the kernel which offloads (TAP_OFFLOAD_*) it may hand us on reads; 0 = none. */
int tap_set_offload(int fd, unsigned offloads) __attribute__((warn_unused_result));

/*
 * Does this read/write error (negative errno) mean the interface went away, rather than that one
 * packet was refused? EBADFD/ENODEV/ENXIO (deleted: the fd never carries packets again) and EIO
 * (interface down: writes may work again once it is up) are; EAGAIN, EINVAL, ENOBUFS are not.
 */
bool tap_error_is_gone(int err);

#endif
