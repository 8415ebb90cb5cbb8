/* The device manager: PCI bus, virtio devices and transports from the config, and their KVM wiring.
 */
#ifndef KVMBOX_DEVICES_H
#define KVMBOX_DEVICES_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct acpi_config;

/* Build every configured device (after the platform, before ACPI and the vCPUs). */
int devices_create(struct vm *vm) __attribute__((warn_unused_result));
/* Describe the PCI bus and virtio-mmio devices in the ACPI config. */
void devices_acpi(struct vm *vm, struct acpi_config *acpi);
/*
 * Pause support: complete in-flight I/O, then park every device's I/O thread so nothing writes
 * guest memory or takes host input; resume restarts them. Main thread, vCPUs parked.
 */
int devices_quiesce(struct vm *vm) __attribute__((warn_unused_result));
void devices_resume(struct vm *vm);
struct mmio_cmdline_dev;
/* The virtio-mmio devices, in creation order (for virtio_mmio.device=...). */
int devices_mmio_list(const struct vm *vm, struct mmio_cmdline_dev *out, unsigned max);
/* The index-th --disk gets a new backing file (PATCH /drives after start). */
int devices_update_disk(struct vm *vm, unsigned index, const char *path)
    __attribute__((warn_unused_result));
/* Stop the devices' I/O threads and free them (after the vCPUs are joined). */
void devices_destroy(struct vm *vm);
/* Console input for hvc0 when --console virtio; returns bytes accepted, or 0 if none. */
size_t devices_console_input(struct vm *vm, const uint8_t *buf, size_t len);
int devices_has_virtio_console(const struct vm *vm);

/* The virtio devices, in creation order (metrics, stats): index < devices_count, else NULL. The
 * list is fixed once devices_create returned; any thread may read it until devices_destroy. */
struct virtio_dev;
unsigned devices_count(const struct vm *vm);
struct virtio_dev *devices_get(const struct vm *vm, unsigned i);

#endif
