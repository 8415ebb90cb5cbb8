/* virtio-rng (entropy device, virtio 1.2 section 5.4): host getrandom() into guest buffers. */
#ifndef KVMBOX_VIRTIO_RNG_H
#define KVMBOX_VIRTIO_RNG_H

#include "guest_mem.h"
#include "virtio/virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE 64
#define VIRTIO_RNG_MAX_REQ_BYTES 65536	/* per request: a huge buffer gets a short fill */
#define VIRTIO_RNG_MAX_REQS_PER_KICK 32 /* then the I/O thread yields and comes back */

/* A device with one request queue; name ("virtio-rng0") is copied. Free with ops->destroy. */
int virtio_rng_create(struct virtio_dev **out, const struct guest_mem *gm, const char *name)
    __attribute__((warn_unused_result));

#endif
