/* Unit tests for virtio-console: a fake driver on fake guest memory, pipes as the host side. */
#include "virtio/console.h"
#include "log.h"
#include "state_check.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MEM_SIZE (1u << 20)
#define QSIZE 16
#define DATA_BASE 0x40000u
#define RXQ VIRTIO_CONSOLE_QUEUE_RX
#define TXQ VIRTIO_CONSOLE_QUEUE_TX
#define FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE))

static uint8_t *mem;
static struct guest_mem gm;
static atomic_uint config_irqs, ready_calls;

static void fake_notify_queue(void *t, unsigned q)
{
	(void)t, (void)q;
}

static void fake_notify_config(void *t)
{
	(void)t;
	config_irqs++;
}

static const struct virtio_transport_ops fake_tops = {
	.notify_queue = fake_notify_queue,
	.notify_config = fake_notify_config,
};

static struct {
	uint64_t desc, avail, used;
	uint16_t avail_idx, next_desc, used_seen;
} dq[2];
static uint64_t data_next;

static uint64_t drv_alloc(uint32_t len)
{
	uint64_t gpa = data_next;

	data_next += (len + 15) & ~15u;
	return gpa;
}

/* A chain of n buffers of lens[i] bytes at gpas[i], all device-writable or all readable. */
static uint16_t drv_add(struct virtio_dev *vdev, unsigned q, const uint64_t *gpas,
			const uint32_t *lens, unsigned n, bool write)
{
	uint16_t head = dq[q].next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % QSIZE), next = (uint16_t)((d + 1) % QSIZE);
		uint16_t flags = (uint16_t)((write ? 2 : 0) | (i + 1 < n));
		uint8_t *p = mem + dq[q].desc + 16u * d;

		memcpy(p, &gpas[i], 8);
		memcpy(p + 8, &lens[i], 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	dq[q].next_desc = (uint16_t)((head + n) % QSIZE);
	memcpy(mem + dq[q].avail + 4 + 2u * (dq[q].avail_idx % QSIZE), &head, 2);
	__atomic_store_n((uint16_t *)(void *)(mem + dq[q].avail + 2), ++dq[q].avail_idx,
			 __ATOMIC_RELEASE);
	virtio_queue_kick(vdev, q);
	return head;
}

static uint16_t used_idx(unsigned q)
{
	return __atomic_load_n((uint16_t *)(void *)(mem + dq[q].used + 2), __ATOMIC_ACQUIRE);
}

static bool drv_wait_used(unsigned q, uint16_t count)
{
	uint16_t want = (uint16_t)(dq[q].used_seen + count);

	for (int i = 0; i < 3000 && used_idx(q) != want; i++)
		usleep(1000);
	return used_idx(q) == want;
}

static uint32_t drv_used_len(unsigned q, unsigned i)
{
	uint32_t len;

	memcpy(&len, mem + dq[q].used + 4 + 8u * ((dq[q].used_seen + i) % QSIZE) + 4, 4);
	return len;
}

static void drv_init(struct virtio_dev *vdev)
{
	virtio_status_write(vdev, 0);
	memset(mem, 0, DATA_BASE);
	for (unsigned q = 0; q < 2; q++) {
		dq[q].desc = 0x1000 + 0x4000u * q;
		dq[q].avail = 0x2000 + 0x4000u * q;
		dq[q].used = 0x3000 + 0x4000u * q;
		dq[q].avail_idx = dq[q].next_desc = dq[q].used_seen = 0;
	}
	data_next = DATA_BASE;
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_features_write(vdev, 0, (uint32_t)FEATURES);
	virtio_features_write(vdev, 1, (uint32_t)(FEATURES >> 32));
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK);
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 2; q++) {
		struct virtq *vq = &vdev->vqs[q];

		vq->size = QSIZE;
		vq->desc_gpa = dq[q].desc;
		vq->avail_gpa = dq[q].avail;
		vq->used_gpa = dq[q].used;
		virtq_reset(vq);
		vq->ready = true;
	}
	pthread_mutex_unlock(&vdev->lock);
	virtio_status_write(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static struct virtio_dev *setup(int in_fd, int out_fd, bool init)
{
	struct virtio_dev *vdev = NULL;

	if (virtio_console_create(&vdev, &gm, in_fd, out_fd, "vcon-t") < 0)
		return NULL;
	vdev->transport_ops = &fake_tops;
	config_irqs = 0;
	if (init)
		drv_init(vdev);
	return vdev;
}

static ssize_t read_wait(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return read(fd, buf, len);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void test_config(void)
{
	struct virtio_console_dev_config c;
	struct virtio_dev *vdev = setup(-1, -1, false);

	CHECK(vdev);
	if (!vdev)
		return;
	CHECK_EQ(vdev->device_id, VIRTIO_ID_CONSOLE);
	CHECK_EQ(vdev->nqueues, 2);
	CHECK_EQ(vdev->config_size, 12);
	CHECK(vdev->host_features & (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE));
	CHECK(!(vdev->host_features & (1ull << VIRTIO_CONSOLE_F_MULTIPORT)));
	memset(&c, 0xaa, sizeof(c));
	for (unsigned off = 0; off < 12; off += 4)
		virtio_config_read(vdev, off, (uint8_t *)&c + off, 4);
	CHECK_EQ(c.max_nr_ports, 0);
	CHECK_EQ(c.emerg_wr, 0);
	/* Input before the driver is ready goes nowhere. */
	CHECK_EQ(virtio_console_input(vdev, (const uint8_t *)"x", 1), 0);
	vdev->ops->destroy(vdev);
}

/* Guest output: gathered from the chain's buffers, in order; emergency writes too. */
static void test_output(void)
{
	char got[64] = { 0 };
	int out[2];
	struct virtio_dev *vdev;
	uint64_t a, b;

	CHECK(!pipe2(out, O_CLOEXEC));
	vdev = setup(-1, out[1], true);
	CHECK(vdev);
	if (!vdev)
		return;
	a = drv_alloc(6);
	b = drv_alloc(5);
	memcpy(mem + a, "hello ", 6);
	memcpy(mem + b, "world", 5);
	{
		uint64_t g[] = { a, b, b };
		uint32_t l[] = { 6, 0, 5 };

		drv_add(vdev, TXQ, g, l, 3, false);
	}
	CHECK(drv_wait_used(TXQ, 1));
	CHECK_EQ(drv_used_len(TXQ, 0), 0);
	dq[TXQ].used_seen++;
	CHECK_EQ(read_wait(out[0], got, sizeof(got), 1000), 11);
	CHECK(!memcmp(got, "hello world", 11));
	CHECK_EQ(vdev->stats.requests, 1);
	CHECK_EQ(vdev->stats.bytes_out, 11);
	CHECK(vdev->stats.kicks >= 1);

	virtio_config_write(vdev, 8, "!\0\0\0", 4);
	CHECK_EQ(read_wait(out[0], got, sizeof(got), 1000), 1);
	CHECK_EQ(got[0], '!');
	vdev->ops->destroy(vdev);
	close(out[0]);
	close(out[1]);
}

/* Output to a full non-blocking pipe: given up after a while, never hangs the device. */
static void test_output_stuck(void)
{
	static char junk[1 << 16];
	int out[2];
	struct virtio_dev *vdev;
	uint64_t a;
	uint32_t l = 100;

	CHECK(!pipe2(out, O_CLOEXEC | O_NONBLOCK));
	while (write(out[1], junk, sizeof(junk)) > 0)
		;
	vdev = setup(-1, out[1], true);
	CHECK(vdev);
	if (!vdev)
		return;
	a = drv_alloc(l);
	for (unsigned i = 0; i < 3; i++)
		drv_add(vdev, TXQ, &a, &l, 1, false);
	CHECK(drv_wait_used(TXQ, 3));
	CHECK(!(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET));
	vdev->ops->destroy(vdev);
	close(out[0]);
	close(out[1]);
}

/* in_fd mode: input waits for buffers without spinning, then lands in them; EOF stops it. */
static void test_input_fd(void)
{
	int in[2], out[2];
	struct virtio_dev *vdev;
	uint64_t a;
	uint32_t l = 64;
	double t0;

	CHECK(!pipe2(in, O_CLOEXEC));
	CHECK(!pipe2(out, O_CLOEXEC));
	vdev = setup(in[0], out[1], true);
	CHECK(vdev);
	if (!vdev)
		return;
	CHECK_EQ(write(in[1], "abc", 3), 3);
	t0 = cpu_seconds();
	usleep(200000);
	CHECK(cpu_seconds() - t0 < 0.1);
	a = drv_alloc(l);
	drv_add(vdev, RXQ, &a, &l, 1, true);
	CHECK(drv_wait_used(RXQ, 1));
	CHECK_EQ(drv_used_len(RXQ, 0), 3);
	dq[RXQ].used_seen++;
	CHECK(!memcmp(mem + a, "abc", 3));

	/* A chain of two buffers takes what one read returns. */
	{
		uint64_t g[] = { drv_alloc(2), drv_alloc(8) };
		uint32_t ls[] = { 2, 8 };

		drv_add(vdev, RXQ, g, ls, 2, true);
		CHECK_EQ(write(in[1], "defgh", 5), 5);
		CHECK(drv_wait_used(RXQ, 1));
		CHECK_EQ(drv_used_len(RXQ, 0), 5);
		dq[RXQ].used_seen++;
		CHECK(!memcmp(mem + g[0], "de", 2) && !memcmp(mem + g[1], "fgh", 3));
	}
	/* End of input: no more reads, no spinning, output still works. */
	drv_add(vdev, RXQ, &a, &l, 1, true);
	close(in[1]);
	t0 = cpu_seconds();
	usleep(200000);
	CHECK(cpu_seconds() - t0 < 0.1);
	CHECK_EQ(used_idx(RXQ), dq[RXQ].used_seen);
	{
		char got[8];
		uint64_t b = drv_alloc(2);

		memcpy(mem + b, "ok", 2);
		l = 2;
		drv_add(vdev, TXQ, &b, &l, 1, false);
		CHECK_EQ(read_wait(out[0], got, sizeof(got), 1000), 2);
	}
	vdev->ops->destroy(vdev);
	close(in[0]);
	close(out[0]);
	close(out[1]);
}

static void ready_cb(void *opaque)
{
	(void)opaque;
	ready_calls++;
}

/* in_fd < 0: input fed through virtio_console_input, with a ready callback for pacing. */
static void test_input_api(void)
{
	struct virtio_dev *vdev = setup(-1, -1, true);
	uint64_t g[2];
	uint32_t l = 2;

	CHECK(vdev);
	if (!vdev)
		return;
	virtio_console_set_input_ready(vdev, ready_cb, NULL);
	ready_calls = 0;
	CHECK_EQ(virtio_console_input(vdev, (const uint8_t *)"hello", 5), 0);
	g[0] = drv_alloc(2);
	g[1] = drv_alloc(2);
	drv_add(vdev, RXQ, &g[0], &l, 1, true);
	for (int i = 0; i < 1000 && !ready_calls; i++)
		usleep(1000);
	CHECK_EQ(ready_calls, 1);
	drv_add(vdev, RXQ, &g[1], &l, 1, true);
	CHECK_EQ(virtio_console_input(vdev, (const uint8_t *)"hello", 5), 4);
	CHECK(drv_wait_used(RXQ, 2));
	CHECK(!memcmp(mem + g[0], "he", 2) && !memcmp(mem + g[1], "ll", 2));
	CHECK_EQ(drv_used_len(RXQ, 0), 2);
	CHECK_EQ(drv_used_len(RXQ, 1), 2);
	CHECK_EQ(vdev->stats.requests, 2);
	CHECK_EQ(vdev->stats.bytes_in, 4);
	CHECK_EQ(vdev->stats.errors, 0);
	vdev->ops->destroy(vdev);
}

/* Malformed rings: NEEDS_RESET, nothing else; a reset brings the device back. */
static void test_malformed(void)
{
	int out[2];
	struct virtio_dev *vdev;
	uint64_t bad = 1ull << 40, self_loop;
	uint32_t l = 16;
	char got[8];

	CHECK(!pipe2(out, O_CLOEXEC));
	vdev = setup(-1, out[1], true);
	CHECK(vdev);
	if (!vdev)
		return;
	drv_add(vdev, TXQ, &bad, &l, 1, false);
	for (int i = 0; i < 1000 && !(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	CHECK(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(config_irqs >= 1);
	CHECK_EQ(vdev->stats.errors, 1);
	CHECK(__atomic_load_n(&vdev->stats.interrupts, __ATOMIC_RELAXED) >= 1);

	drv_init(vdev);
	/* A receive descriptor that chains to itself. */
	self_loop = drv_alloc(16);
	drv_add(vdev, RXQ, &self_loop, &l, 1, true);
	memcpy(mem + dq[RXQ].desc + 12, "\x03\0\0\0", 4); /* WRITE|NEXT, next = 0 */
	CHECK_EQ(virtio_console_input(vdev, (const uint8_t *)"x", 1), 0);
	CHECK(virtio_status_read(vdev) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(vdev->stats.errors, 2);

	drv_init(vdev);
	{
		uint64_t b = drv_alloc(2);

		memcpy(mem + b, "ok", 2);
		l = 2;
		drv_add(vdev, TXQ, &b, &l, 1, false);
		CHECK_EQ(read_wait(out[0], got, sizeof(got), 1000), 2);
	}
	vdev->ops->destroy(vdev);
	close(out[0]);
	close(out[1]);
}

/* ---- snapshots ---- */

/*
 * Output, input and an emergency write, a receive buffer left posted; saved, and loaded into a
 * new console on new pipes: input lands in the posted buffer, output goes on.
 */
static void test_state_round_trip(void)
{
	int in[2], out[2], in2[2], out2[2];
	struct virtio_console_dev_config c0, c1;
	struct state_target st;
	struct state_blob blob = { 0 };
	struct virtio_dev *vdev;
	char got[16];
	uint64_t a, r1, r2;
	uint32_t l = 3, rl = 8;

	CHECK(!pipe2(in, O_CLOEXEC) && !pipe2(out, O_CLOEXEC));
	CHECK(!pipe2(in2, O_CLOEXEC) && !pipe2(out2, O_CLOEXEC));
	vdev = setup(in[0], out[1], true);
	CHECK(vdev);
	if (!vdev)
		return;
	a = drv_alloc(3);
	memcpy(mem + a, "one", 3);
	drv_add(vdev, TXQ, &a, &l, 1, false);
	CHECK(drv_wait_used(TXQ, 1));
	dq[TXQ].used_seen++;
	CHECK_EQ(read_wait(out[0], got, sizeof(got), 1000), 3);
	r1 = drv_alloc(rl);
	drv_add(vdev, RXQ, &r1, &rl, 1, true);
	CHECK_EQ(write(in[1], "abc", 3), 3);
	CHECK(drv_wait_used(RXQ, 1));
	dq[RXQ].used_seen++;
	r2 = drv_alloc(rl);
	drv_add(vdev, RXQ, &r2, &rl, 1, true); /* posted when the snapshot is taken */
	virtio_config_write(vdev, 8, "E\0\0\0", 4);
	CHECK_EQ(read_wait(out[0], got, sizeof(got), 1000), 1);
	for (unsigned off = 0; off < 12; off += 4)
		virtio_config_read(vdev, off, (uint8_t *)&c0 + off, 4);
	CHECK_EQ(virtio_dev_quiesce(vdev), 0);
	st = state_target_virtio(vdev);
	state_check_save(&st, &blob);
	virtio_dev_resume(vdev);
	vdev->ops->destroy(vdev);

	vdev = setup(in2[0], out2[1], false);
	CHECK(vdev);
	if (!vdev)
		goto out;
	st = state_target_virtio(vdev);
	CHECK_EQ(state_check_load(&st, &blob), 0);
	for (unsigned off = 0; off < 12; off += 4)
		virtio_config_read(vdev, off, (uint8_t *)&c1 + off, 4);
	CHECK(!memcmp(&c0, &c1, sizeof(c0)));
	CHECK(virtio_status_read(vdev) & VIRTIO_STATUS_DRIVER_OK);
	CHECK(state_check_same(&st, &blob));
	virtio_dev_resume(vdev); /* the receive queue's kick starts watching the new in_fd */
	CHECK_EQ(write(in2[1], "xyz", 3), 3);
	CHECK(drv_wait_used(RXQ, 1));
	CHECK_EQ(drv_used_len(RXQ, 0), 3);
	dq[RXQ].used_seen++;
	CHECK(!memcmp(mem + r2, "xyz", 3));
	CHECK_EQ(used_idx(RXQ), 2);
	memcpy(mem + a, "two", 3);
	drv_add(vdev, TXQ, &a, &l, 1, false);
	CHECK(drv_wait_used(TXQ, 1));
	dq[TXQ].used_seen++;
	CHECK_EQ(read_wait(out2[0], got, sizeof(got), 1000), 3);
	CHECK(!memcmp(got, "two", 3));
	CHECK_EQ(used_idx(TXQ), 2);
	vdev->ops->destroy(vdev);
out:
	state_blob_free(&blob);
	for (unsigned i = 0; i < 2; i++) {
		close(in[i]);
		close(out[i]);
		close(in2[i]);
		close(out2[i]);
	}
}

static void test_state_hostile(void)
{
	struct state_target st;
	struct state_blob good;
	struct virtio_dev *vdev;
	size_t vc;

	vdev = setup(-1, -1, true);
	CHECK(vdev);
	if (!vdev)
		return;
	st = state_target_virtio(vdev);
	state_check_save(&st, &good);
	vdev->ops->destroy(vdev);
	vdev = setup(-1, -1, false);
	CHECK(vdev);
	if (!vdev) {
		state_blob_free(&good);
		return;
	}
	st = state_target_virtio(vdev);
	state_check_hostile(&st, &good);
	vc = state_blob_section(&good, STATE_TAG('V', 'C', 'O', 'N'), 0);
	CHECK(vc != SIZE_MAX);
	if (vc != SIZE_MAX) /* a console of another size: nothing here sets one */
		state_check_rejects_field(&st, &good, vc, 80, 2, "80 columns");
	vdev->ops->destroy(vdev);
	state_blob_free(&good);
}

int main(int argc, char **argv)
{
	log_set_level(argc > 1 && !strcmp(argv[1], "-v") ? LOG_DEBUG : LOG_ERROR);
	mem = calloc(1, MEM_SIZE);
	if (!mem || guest_mem_add(&gm, 0, MEM_SIZE, mem) < 0)
		return 1;
	RUN_TEST(test_config);
	RUN_TEST(test_output);
	RUN_TEST(test_output_stuck);
	RUN_TEST(test_input_fd);
	RUN_TEST(test_input_api);
	RUN_TEST(test_malformed);
	RUN_TEST(test_state_round_trip);
	RUN_TEST(test_state_hostile);
	free(mem);
	TEST_EXIT();
}
