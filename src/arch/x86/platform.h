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

/*
 * Press and release Ctrl+Alt+Del on the guest's i8042 keyboard (Firecracker's SendCtrlAltDel):
 * a Linux guest with atkbd and a VT signals init. Any thread. Returns 0, -EAGAIN (the guest
 * disabled its keyboard) or -ENOSPC (the guest has not read the previous keys yet).
 */
int platform_ctrl_alt_del(struct platform *p) __attribute__((warn_unused_result));

#endif
