/* The x86 PC platform devices of a VM (UART, RTC, i8042, ACPI PM, debug-exit) and their wiring. */
#ifndef KVMBOX_X86_PLATFORM_H
#define KVMBOX_X86_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct platform;

/* Create the devices and register them on vm->pio; sets vm->platform. */
int platform_create(struct vm *vm) __attribute__((warn_unused_result));
void platform_destroy(struct vm *vm);

/* Host console input for the guest's COM1; returns the bytes accepted now. */
size_t platform_console_input(struct platform *p, const uint8_t *buf, size_t len);

#endif
