/* The guest console on the host's stdin/stdout: escape keys, input pacing, signals. */
#ifndef KVMBOX_CONSOLE_H
#define KVMBOX_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

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
 * The main thread's loop while the guest runs: stdin to the guest console, host signals
 * (SIGINT/SIGTERM/SIGHUP stop the VM with 128+signo), until the VM stops. The signals must be
 * blocked in every thread before the vCPUs start (console_signals_block).
 */
int console_run(struct vm *vm) __attribute__((warn_unused_result));
void console_signals_block(void);

#endif
