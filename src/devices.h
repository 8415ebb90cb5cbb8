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
/* Stop the devices' I/O threads and free them (after the vCPUs are joined). */
void devices_destroy(struct vm *vm);
/* Console input for hvc0 when --console virtio; returns bytes accepted, or 0 if none. */
size_t devices_console_input(struct vm *vm, const uint8_t *buf, size_t len);
int devices_has_virtio_console(const struct vm *vm);

#endif
