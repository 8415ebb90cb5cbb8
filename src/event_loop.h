/* An I/O thread: an epoll loop dispatching ready file descriptors to callbacks. */
#ifndef KVMBOX_EVENT_LOOP_H
#define KVMBOX_EVENT_LOOP_H

#include <stdint.h>

struct event_loop;

/* Start a thread named `name` (pthread_setname_np) running the loop. */
int event_loop_create(struct event_loop **out, const char *name)
    __attribute__((warn_unused_result));
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
