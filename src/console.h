/* The guest console on the host's stdin/stdout: escape keys, input pacing, signals. */
#ifndef KVMBOX_CONSOLE_H
#define KVMBOX_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmm;
struct event_loop;
struct console;

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A, as in QEMU */

enum console_action { CONSOLE_NONE, CONSOLE_QUIT, CONSOLE_HELP };

struct console_escape {
	bool pending; /* Ctrl-A seen, waiting for the command key */
};

/*
 * Feed one byte typed on the host. Bytes for the guest (0 or 1) go to *out with the count in *n;
 * the return value says what kvmbox itself must do.
 */
enum console_action console_escape_feed(struct console_escape *e, uint8_t c, uint8_t *out,
					size_t *n);

extern const char console_help_text[];

/*
 * The guest console on the main thread's event loop: stdin to the guest (COM1, or hvc0 with
 * --console virtio) while the VM runs, Ctrl-A keys, and host signals (SIGINT/SIGTERM/SIGHUP/
 * SIGQUIT stop the VM with 128+signo, or end kvmbox when no VM runs yet). The signals must be
 * blocked in every thread before any thread starts (console_signals_block).
 */
int console_create(struct console **out, struct event_loop *loop, struct vmm *vmm)
    __attribute__((warn_unused_result));
/* The VM started, paused or resumed: start or stop taking input. */
void console_update(struct console *c);
void console_destroy(struct console *c);
void console_signals_block(void);

#endif
