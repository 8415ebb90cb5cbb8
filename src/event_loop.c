/* An I/O thread: one epoll loop per device, dispatching ready fds to callbacks. */
#include "event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "syscall_filter.h"

#define EVENT_LOOP_BATCH 32
#define EVENT_LOOP_WAKE_ID UINT64_MAX /* epoll data of the wake eventfd */

/*
 * epoll carries a (generation << 32 | slot + 1) id, never a pointer: an event already returned by
 * epoll_wait for an fd deleted meanwhile then names a dead generation and is dropped, instead of
 * dereferencing a freed entry.
 */
struct event_loop_entry {
	int fd; /* -1: free slot */
	uint32_t gen;
	void (*cb)(void *opaque, int fd, uint32_t events);
	void *opaque;
};

struct event_loop {
	int epfd;
	int wakefd;
	pthread_t thread;
	char name[16];
	bool stop;
	bool inline_mode; /* runs on the thread that calls event_loop_run, not its own */
	bool pause;	  /* event_loop_pause asked the thread to park between batches */
	bool parked;	  /* ... and it has */
	/* Protects entries and running; never held while a callback runs, so adding an fd never
	 * waits for a slow callback and only event_loop_del ever waits (for its own callback). */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	pthread_cond_t park; /* pause/parked changes */
	uint64_t running;    /* id of the callback being dispatched, 0 when none */
	struct event_loop_entry *entries;
	unsigned nentries;
};

/* Which loop this thread runs: callbacks calling add/del on their own loop must not wait. */
static __thread struct event_loop *event_loop_self;

static uint64_t event_loop_id(const struct event_loop *loop, unsigned slot)
{
	return (uint64_t)loop->entries[slot].gen << 32 | (slot + 1);
}

static int event_loop_find(const struct event_loop *loop, int fd)
{
	for (unsigned i = 0; i < loop->nentries; i++)
		if (loop->entries[i].fd == fd)
			return (int)i;
	return -1;
}

static void event_loop_dispatch(struct event_loop *loop, uint64_t id, uint32_t events)
{
	unsigned slot = (uint32_t)id - 1;
	void (*cb)(void *, int, uint32_t);
	void *opaque;
	int fd;

	pthread_mutex_lock(&loop->lock);
	if (slot >= loop->nentries || loop->entries[slot].fd < 0 ||
	    event_loop_id(loop, slot) != id) {
		pthread_mutex_unlock(&loop->lock);
		return; /* deleted after epoll_wait returned it */
	}
	cb = loop->entries[slot].cb;
	opaque = loop->entries[slot].opaque;
	fd = loop->entries[slot].fd;
	loop->running = id;
	pthread_mutex_unlock(&loop->lock);

	cb(opaque, fd, events);

	pthread_mutex_lock(&loop->lock);
	loop->running = 0;
	pthread_cond_broadcast(&loop->idle);
	pthread_mutex_unlock(&loop->lock);
}

/* Between batches: honour a pause request. Returns true when the loop must end. */
static bool event_loop_checkpoint(struct event_loop *loop)
{
	bool stop;

	pthread_mutex_lock(&loop->lock);
	while (loop->pause && !loop->stop) {
		loop->parked = true;
		pthread_cond_broadcast(&loop->park);
		pthread_cond_wait(&loop->park, &loop->lock);
	}
	loop->parked = false;
	stop = loop->stop;
	pthread_mutex_unlock(&loop->lock);
	return stop;
}

static void event_loop_body(struct event_loop *loop)
{
	struct epoll_event evs[EVENT_LOOP_BATCH];

	event_loop_self = loop;
	for (;;) {
		int n = epoll_wait(loop->epfd, evs, EVENT_LOOP_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: epoll_wait: %s", loop->name, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == EVENT_LOOP_WAKE_ID) {
				uint64_t v;

				if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("%s: wake eventfd: %s", loop->name,
						 strerror(errno));
				continue;
			}
			event_loop_dispatch(loop, evs[i].data.u64, evs[i].events);
		}
		/* Checked after the batch: destroy joins us, so no callback may be left behind. */
		if (event_loop_checkpoint(loop))
			break;
	}
	event_loop_self = NULL;
}

static void *event_loop_thread(void *arg)
{
	struct event_loop *loop = arg;

	prctl(PR_SET_NAME, loop->name, 0, 0, 0); /* itself: a jailed kvmbox has no /proc */
	/* Failing leaves the thread under the main thread's (wider) filter: logged, not fatal. */
	if (syscall_filter_install(SYSCALL_FILTER_IO))
		log_error("%s: cannot install the I/O thread's seccomp filter", loop->name);
	event_loop_body(loop);
	return NULL;
}

static void event_loop_wake(struct event_loop *loop)
{
	uint64_t one = 1;

	if (write(loop->wakefd, &one, sizeof(one)) < 0)
		log_warn("%s: cannot wake the loop: %s", loop->name, strerror(errno));
}

int event_loop_run(struct event_loop *loop)
{
	if (!loop->inline_mode)
		return -EINVAL;
	event_loop_body(loop);
	return 0;
}

void event_loop_quit(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	loop->stop = true;
	pthread_cond_broadcast(&loop->park);
	pthread_mutex_unlock(&loop->lock);
	event_loop_wake(loop);
}

int event_loop_pause(struct event_loop *loop)
{
	if (loop->inline_mode || event_loop_self == loop)
		return -EDEADLK;
	pthread_mutex_lock(&loop->lock);
	loop->pause = true;
	pthread_mutex_unlock(&loop->lock);
	event_loop_wake(loop);
	pthread_mutex_lock(&loop->lock);
	while (!loop->parked && !loop->stop)
		pthread_cond_wait(&loop->park, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

void event_loop_resume(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	loop->pause = false;
	pthread_cond_broadcast(&loop->park);
	pthread_mutex_unlock(&loop->lock);
}

static int event_loop_alloc(struct event_loop **out, const char *name, bool inline_mode)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EVENT_LOOP_WAKE_ID };
	struct event_loop *loop;
	sigset_t all, old;
	int ret;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	/* pthread names are at most 15 characters. */
	snprintf(loop->name, sizeof(loop->name), "%s", name ? name : "io");
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->idle, NULL);
	pthread_cond_init(&loop->park, NULL);
	loop->inline_mode = inline_mode;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		ret = -errno;
		goto err_free;
	}
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wakefd < 0) {
		ret = -errno;
		goto err_epoll;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
		ret = -errno;
		goto err_wake;
	}
	if (inline_mode) {
		*out = loop;
		return 0;
	}
	/*
	 * The I/O thread must never take a process signal (SIGINT for the console, the vCPU kick
	 * signal): block them all before creating it so it inherits the mask from its first
	 * instruction.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&loop->thread, NULL, event_loop_thread, loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err_wake;
	*out = loop;
	return 0;

err_wake:
	close(loop->wakefd);
err_epoll:
	close(loop->epfd);
err_free:
	pthread_cond_destroy(&loop->park);
	pthread_cond_destroy(&loop->idle);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
	return ret;
}

int event_loop_create(struct event_loop **out, const char *name)
{
	return event_loop_alloc(out, name, false);
}

int event_loop_create_inline(struct event_loop **out, const char *name)
{
	return event_loop_alloc(out, name, true);
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events,
		   void (*cb)(void *opaque, int fd, uint32_t events), void *opaque)
{
	struct epoll_event ev = { .events = events };
	int slot, ret = 0;

	if (fd < 0 || !cb)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	if (event_loop_find(loop, fd) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	slot = event_loop_find(loop, -1);
	if (slot < 0) {
		struct event_loop_entry *e;

		e = realloc(loop->entries, (loop->nentries + 1) * sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			goto out;
		}
		loop->entries = e;
		slot = (int)loop->nentries++;
		loop->entries[slot] = (struct event_loop_entry){ .fd = -1 };
	}
	ev.data.u64 = event_loop_id(loop, (unsigned)slot);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		goto out;
	}
	loop->entries[slot].fd = fd;
	loop->entries[slot].cb = cb;
	loop->entries[slot].opaque = opaque;
out:
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int event_loop_del(struct event_loop *loop, int fd)
{
	uint64_t id;
	int slot, ret = 0;

	pthread_mutex_lock(&loop->lock);
	slot = fd < 0 ? -1 : event_loop_find(loop, fd);
	if (slot < 0) {
		pthread_mutex_unlock(&loop->lock);
		return -ENOENT;
	}
	id = event_loop_id(loop, (unsigned)slot);
	/* Fails only if the owner closed fd already, which removed it from epoll anyway. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF && errno != ENOENT)
		ret = -errno;
	loop->entries[slot].fd = -1;
	loop->entries[slot].gen++;
	/*
	 * From another thread, wait for a dispatch of this very entry to end. On the loop thread
	 * the running callback is our caller (or another entry's): waiting would deadlock.
	 */
	if (event_loop_self != loop)
		while (loop->running == id)
			pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

void event_loop_destroy(struct event_loop *loop)
{
	if (!loop)
		return;
	event_loop_quit(loop);
	if (!loop->inline_mode)
		pthread_join(loop->thread, NULL);
	close(loop->wakefd);
	close(loop->epfd);
	pthread_cond_destroy(&loop->park);
	pthread_cond_destroy(&loop->idle);
	pthread_mutex_destroy(&loop->lock);
	free(loop->entries);
	free(loop);
}
