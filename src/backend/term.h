/* The host terminal: raw mode for the guest console, restored on every exit path. */
#ifndef KVMBOX_BACKEND_TERM_H
#define KVMBOX_BACKEND_TERM_H

/* Put fd (a terminal) in raw mode; restored by term_restore, at exit, and on fatal signals. */
int term_raw_enter(int fd) __attribute__((warn_unused_result));
/* Idempotent and async-signal-safe. */
void term_restore(void);

#endif
