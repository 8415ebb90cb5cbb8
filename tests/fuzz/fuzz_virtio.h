/* Shared by the virtio device fuzz targets: the driver's side of feature negotiation. */
#ifndef KVMBOX_FUZZ_VIRTIO_H
#define KVMBOX_FUZZ_VIRTIO_H

#include "virtio/virtio.h"

/* The 64 feature bits the device offers. */
static inline uint64_t fuzz_virtio_offered(struct virtio_dev *vdev)
{
	return virtio_features_read(vdev, 0) | (uint64_t)virtio_features_read(vdev, 1) << 32;
}

/* ACKNOWLEDGE, DRIVER, the features written, FEATURES_OK: returns the status written last. */
static inline uint8_t fuzz_virtio_negotiate(struct virtio_dev *vdev, uint64_t features)
{
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	virtio_status_write(vdev, status);
	virtio_features_write(vdev, 0, (uint32_t)features);
	virtio_features_write(vdev, 1, (uint32_t)(features >> 32));
	status |= VIRTIO_STATUS_FEATURES_OK;
	virtio_status_write(vdev, status);
	return status;
}

#endif
