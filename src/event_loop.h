/* An I/O thread: an epoll loop dispatching ready file descriptors to callbacks. */
#ifndef KVMBOX_EVENT_LOOP_H
#define KVMBOX_EVENT_LOOP_H

#include <stdint.h>

struct event_loop;

/* Start a thread named `name` (pthread_setname_np) running the loop. */
int event_loop_create(struct event_loop **out, const char *name)
    __attribute__((warn_unused_result));
/* A loop without a thread: the caller runs it with event_loop_run (the main thread's loop). */
int event_loop_create_inline(struct event_loop **out, const char *name)
    __attribute__((warn_unused_result));
/* Inline loops: dispatch on the calling thread until event_loop_quit (-EINVAL: not inline). */
int event_loop_run(struct event_loop *loop);
/* Make event_loop_run return after the current batch. Any thread, also from a callback. */
void event_loop_quit(struct event_loop *loop);
/*
 * Threaded loops: wait until the loop's thread is parked between batches (no callback running,
 * none will run) and keep it there until event_loop_resume. Not from the loop's own thread
 * (-EDEADLK). Fds may still be added or deleted meanwhile.
 */
int event_loop_pause(struct event_loop *loop) __attribute__((warn_unused_result));
void event_loop_resume(struct event_loop *loop);
/* Watch fd for events (EPOLLIN...); cb runs on the loop's thread. Any thread may call these. */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events,
		   void (*cb)(void *opaque, int fd, uint32_t events), void *opaque)
    __attribute__((warn_unused_result));
/*
 * After it returns, cb is not running and will not run again for fd (unless called from cb).
 * From another thread it waits for a running cb of this fd: do not call it holding a lock that
 * cb takes. Only del waits; add never does.
 */
int event_loop_del(struct event_loop *loop, int fd);
/* Stop and join the thread, free the loop (not from one of its callbacks). Fds are not closed. */
void event_loop_destroy(struct event_loop *loop);

#endif
