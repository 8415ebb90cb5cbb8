/* Unit tests for the I/O thread: dispatch, add/del from callbacks, del waits for a running cb. */
#include "event_loop.h"
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct probe {
	int fd;
	int calls; /* atomics: written on the loop thread, read here */
	int running;
	int sleep_ms;  /* the callback sleeps this long while "running" is set */
	int drain;     /* read the eventfd in the callback */
	char name[16]; /* thread name seen by the callback */
	struct event_loop *loop;
	int del_self; /* delete its own fd from inside the callback */
	int add_fd;   /* add this fd (with add_probe) from inside the callback */
	struct probe *add_probe;
	int add_ret;
};

static void probe_cb(void *opaque, int fd, uint32_t events)
{
	struct probe *p = opaque;
	uint64_t v;

	(void)events;
	__atomic_store_n(&p->running, 1, __ATOMIC_SEQ_CST);
	if (fd != p->fd)
		__atomic_store_n(&p->calls, -1000, __ATOMIC_SEQ_CST);
	pthread_getname_np(pthread_self(), p->name, sizeof(p->name));
	if (p->drain && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		p->calls = -2000;
	if (p->sleep_ms) {
		struct timespec ts = { 0, p->sleep_ms * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (p->del_self)
		event_loop_del(p->loop, fd);
	if (p->add_probe) {
		p->add_ret = event_loop_add(p->loop, p->add_fd, EPOLLIN, probe_cb, p->add_probe);
		p->add_probe = NULL;
	}
	__atomic_fetch_add(&p->calls, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&p->running, 0, __ATOMIC_SEQ_CST);
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/* Wait up to 2 s for *v to reach at least want. */
static bool wait_for(int *v, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(v, __ATOMIC_SEQ_CST) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static void settle(void)
{
	usleep(50000);
}

static void test_dispatch(void)
{
	struct event_loop *loop;
	struct probe p = { .drain = 1 }, q = { .drain = 1 };

	CHECK_EQ(event_loop_create(&loop, "test-io-thread-long-name"), 0);
	p.fd = eventfd(0, EFD_NONBLOCK);
	q.fd = eventfd(0, EFD_NONBLOCK);
	CHECK_EQ(event_loop_add(loop, p.fd, EPOLLIN, probe_cb, &p), 0);
	CHECK_EQ(event_loop_add(loop, q.fd, EPOLLIN, probe_cb, &q), 0);
	CHECK_EQ(event_loop_add(loop, p.fd, EPOLLIN, probe_cb, &p), -EEXIST);
	CHECK(event_loop_add(loop, -1, EPOLLIN, probe_cb, &p) < 0);
	CHECK(event_loop_add(loop, 12345, EPOLLIN, probe_cb, &p) < 0); /* not open */
	CHECK(event_loop_add(loop, q.fd + 100, EPOLLIN, NULL, &p) < 0);
	kick(p.fd);
	CHECK(wait_for(&p.calls, 1));
	CHECK_EQ(strcmp(p.name, "test-io-thread-"), 0); /* truncated to 15 characters */
	kick(q.fd);
	kick(q.fd);
	CHECK(wait_for(&q.calls, 1));
	settle();
	CHECK_EQ(p.calls, 1);
	CHECK(q.calls >= 1 && q.calls <= 2);
	/* Deleted: no more callbacks; the slot is reused by the next add. */
	CHECK_EQ(event_loop_del(loop, p.fd), 0);
	CHECK_EQ(event_loop_del(loop, p.fd), -ENOENT);
	CHECK_EQ(event_loop_del(loop, -1), -ENOENT);
	kick(p.fd);
	settle();
	CHECK_EQ(p.calls, 1);
	{
		uint64_t v;

		CHECK_EQ(read(p.fd, &v, sizeof(v)), sizeof(v)); /* still ours to drain */
	}
	CHECK_EQ(event_loop_add(loop, p.fd, EPOLLIN, probe_cb, &p), 0);
	kick(p.fd);
	CHECK(wait_for(&p.calls, 2));
	event_loop_destroy(loop);
	/* fds belong to their owners: still open after destroy. */
	CHECK(write(p.fd, &(uint64_t){ 1 }, 8) == 8);
	close(p.fd);
	close(q.fd);
}

static void test_del_waits_for_callback(void)
{
	struct event_loop *loop;
	struct probe p = { .drain = 1, .sleep_ms = 200 };

	CHECK_EQ(event_loop_create(&loop, "t"), 0);
	p.fd = eventfd(0, EFD_NONBLOCK);
	CHECK_EQ(event_loop_add(loop, p.fd, EPOLLIN, probe_cb, &p), 0);
	kick(p.fd);
	CHECK(wait_for(&p.running, 1));
	/* The callback sleeps 200 ms: del must not return before it finished. */
	CHECK_EQ(event_loop_del(loop, p.fd), 0);
	CHECK_EQ(__atomic_load_n(&p.running, __ATOMIC_SEQ_CST), 0);
	CHECK_EQ(__atomic_load_n(&p.calls, __ATOMIC_SEQ_CST), 1);
	kick(p.fd);
	settle();
	CHECK_EQ(p.calls, 1);
	/* add never waits for a running callback (of another fd). */
	struct probe slow = { .drain = 1, .sleep_ms = 300 }, fast = { .drain = 1 };
	struct timespec t0, t1;

	slow.fd = eventfd(0, EFD_NONBLOCK);
	fast.fd = eventfd(0, EFD_NONBLOCK);
	CHECK_EQ(event_loop_add(loop, slow.fd, EPOLLIN, probe_cb, &slow), 0);
	kick(slow.fd);
	CHECK(wait_for(&slow.running, 1));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(event_loop_add(loop, fast.fd, EPOLLIN, probe_cb, &fast), 0);
	CHECK_EQ(event_loop_del(loop, fast.fd), 0); /* not running: no wait either */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 150);
	/* Destroy waits for the running callback (joins the thread). */
	event_loop_destroy(loop);
	CHECK_EQ(slow.calls, 1);
	CHECK_EQ(slow.running, 0);
	close(p.fd);
	close(slow.fd);
	close(fast.fd);
}

static void test_add_del_from_callback(void)
{
	struct event_loop *loop;
	struct probe a = { .drain = 0, .del_self = 1 }, b = { .drain = 1 }, c = { .drain = 1 };

	CHECK_EQ(event_loop_create(&loop, "t"), 0);
	a.loop = b.loop = c.loop = loop;
	a.fd = eventfd(0, EFD_NONBLOCK);
	b.fd = eventfd(0, EFD_NONBLOCK);
	c.fd = eventfd(0, EFD_NONBLOCK);
	/* a deletes itself without draining: level-triggered, it would fire forever otherwise. */
	CHECK_EQ(event_loop_add(loop, a.fd, EPOLLIN, probe_cb, &a), 0);
	kick(a.fd);
	CHECK(wait_for(&a.calls, 1));
	settle();
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(event_loop_del(loop, a.fd), -ENOENT);
	/* b adds c from its callback; c then works. */
	b.add_fd = c.fd;
	b.add_probe = &c;
	CHECK_EQ(event_loop_add(loop, b.fd, EPOLLIN, probe_cb, &b), 0);
	kick(b.fd);
	CHECK(wait_for(&b.calls, 1));
	CHECK_EQ(b.add_ret, 0);
	kick(c.fd);
	CHECK(wait_for(&c.calls, 1));
	event_loop_destroy(loop);
	close(a.fd);
	close(b.fd);
	close(c.fd);
}

/* Del from a callback of another entry, both ready in one batch. */
struct cross {
	struct event_loop *loop;
	int fd_self, fd_other;
	int other_calls;
	int deleted;
};

static void cross_cb(void *opaque, int fd, uint32_t events)
{
	struct cross *c = opaque;
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	if (fd == c->fd_other) {
		__atomic_fetch_add(&c->other_calls, 1, __ATOMIC_SEQ_CST);
		return;
	}
	if (event_loop_del(c->loop, c->fd_other) == 0)
		__atomic_store_n(&c->deleted, 1, __ATOMIC_SEQ_CST);
}

static void test_del_other_in_same_batch(void)
{
	struct event_loop *loop;
	struct cross c = { 0 };
	int runs = 0, clean = 0;

	CHECK_EQ(event_loop_create(&loop, "t"), 0);
	c.loop = loop;
	/* Whichever fires first: if self first, other must never run after its delete. */
	for (int i = 0; i < 20; i++) {
		c.fd_self = eventfd(1, EFD_NONBLOCK);
		c.fd_other = eventfd(1, EFD_NONBLOCK);
		c.other_calls = 0;
		c.deleted = 0;
		/* Both already readable: one epoll_wait returns both. */
		CHECK_EQ(event_loop_add(loop, c.fd_other, EPOLLIN, cross_cb, &c), 0);
		CHECK_EQ(event_loop_add(loop, c.fd_self, EPOLLIN, cross_cb, &c), 0);
		usleep(5000);
		int calls_at_delete = __atomic_load_n(&c.other_calls, __ATOMIC_SEQ_CST);

		if (__atomic_load_n(&c.deleted, __ATOMIC_SEQ_CST)) {
			kick(c.fd_other);
			usleep(5000);
			clean +=
			    __atomic_load_n(&c.other_calls, __ATOMIC_SEQ_CST) == calls_at_delete;
			runs++;
		}
		event_loop_del(loop, c.fd_self);
		event_loop_del(loop, c.fd_other);
		close(c.fd_self);
		close(c.fd_other);
	}
	CHECK(runs > 0);
	CHECK_EQ(clean, runs);
	CHECK(c.other_calls <= 1);
	event_loop_destroy(loop);
}

static void test_many_fds_and_churn(void)
{
	struct event_loop *loop;
	enum { N = 40 };
	static struct probe p[N];

	CHECK_EQ(event_loop_create(&loop, "t"), 0);
	for (int i = 0; i < N; i++) {
		p[i] = (struct probe){ .drain = 1, .fd = eventfd(0, EFD_NONBLOCK) };
		CHECK_EQ(event_loop_add(loop, p[i].fd, EPOLLIN, probe_cb, &p[i]), 0);
	}
	for (int i = 0; i < N; i++)
		kick(p[i].fd);
	for (int i = 0; i < N; i++)
		CHECK(wait_for(&p[i].calls, 1));
	/* Churn: delete and re-add while events are flowing. */
	for (int round = 0; round < 200; round++) {
		int i = round % N;

		kick(p[i].fd);
		CHECK_EQ(event_loop_del(loop, p[i].fd), 0);
		CHECK(!__atomic_load_n(&p[i].running, __ATOMIC_SEQ_CST));
		CHECK_EQ(event_loop_add(loop, p[i].fd, EPOLLIN, probe_cb, &p[i]), 0);
	}
	event_loop_destroy(loop);
	for (int i = 0; i < N; i++) {
		CHECK(p[i].calls >= 1);
		close(p[i].fd);
	}
	/* Create/destroy with nothing registered. */
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(event_loop_create(&loop, NULL), 0);
		event_loop_destroy(loop);
	}
	event_loop_destroy(NULL);
}

int main(void)
{
	RUN_TEST(test_dispatch);
	RUN_TEST(test_del_waits_for_callback);
	RUN_TEST(test_add_del_from_callback);
	RUN_TEST(test_del_other_in_same_batch);
	RUN_TEST(test_many_fds_and_churn);
	TEST_EXIT();
}
