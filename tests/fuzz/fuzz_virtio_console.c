/* libFuzzer target: virtio-console on fuzzed rings, host input from a feeder or a pipe. */
#include "fuzz_virtio.h"
#include "log.h"
#include "virtio/console.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Input: byte 0 flags (bit 0: drop EVENT_IDX, bit 1: drop INDIRECT_DESC, bit 2: the pipe device,
 * whose in_fd is a non-blocking pipe read by its I/O thread and whose output is discarded
 * (out_fd -1), else the feeder device (in_fd -1, input through virtio_console_input, output to
 * /dev/null); bit 3: drop EMERG_WRITE), byte 1 the queue size of both queues (1 << (b % 8)),
 * byte 2 the number n of 4-byte ops that follow (kind, a, b, c). The rest, from byte 3 + 4n, is
 * guest RAM from GPA 0 (64 KiB, the rest zeroes): avail rings of receiveq and transmitq at 0x000
 * and 0x400, the shared descriptor table at 0x800 (so small seeds reach it), used rings at
 * 0xe000 and 0xf000.
 * The device is negotiated and made DRIVER_OK first. Ops (kind & 7):
 *   0, 7  the driver kicks queue a & 1;
 *   1     host input of (a | b << 8) & 0xfff bytes (c, c + 1, ...): virtio_console_input on the
 *         feeder device (or on the pipe device with b bit 7), else written into the pipe, then
 *         the I/O thread is given the time to move it into the receiveq;
 *   2, 3  config read / write (emergency write at offset 8) at offset a & 15, width
 *         1 << (b & 3), value c repeated;
 *   4     the guest writes c at RAM offset a | b << 8;
 *   5     device reset and the same negotiation again;
 *   6     status register write of c.
 * Kicks (the driver's, and the device's own re-kicks and activation kicks) are run on this
 * thread after every op, as the I/O thread would (up to 8 rounds, so a ring that never empties
 * stays cheap); the pipe device's in_fd callback still runs on its I/O thread.
 */
#define FUZZ_MEM (64 * 1024)
#define FUZZ_HDR 3
#define FUZZ_OP 4
#define FUZZ_ROUNDS 8
#define FUZZ_IN_MAX 0xfff

enum { FUZZ_FEEDER, FUZZ_PIPE };

static uint8_t fuzz_ram[FUZZ_MEM] __attribute__((aligned(4096)));
static uint8_t fuzz_in[FUZZ_IN_MAX];
static struct guest_mem fuzz_gm;
static struct virtio_dev *fuzz_dev[2];
static int fuzz_pipe[2] = { -1, -1 };
static unsigned fuzz_short_inputs, fuzz_ready_calls;

static void fuzz_irq(void *opaque, unsigned q)
{
	(void)opaque;
	if (q >= 2)
		abort(); /* receiveq and transmitq only */
}

static void fuzz_cfg_irq(void *opaque)
{
	(void)opaque;
}

static const struct virtio_transport_ops fuzz_transport = { fuzz_irq, fuzz_cfg_irq };

/* The feeder's wakeup: only after input came back short, and with the device lock held. */
static void fuzz_ready(void *opaque)
{
	struct virtio_dev *vdev = opaque;

	if (pthread_mutex_trylock(&vdev->lock) == 0)
		abort();
	if (++fuzz_ready_calls > fuzz_short_inputs)
		abort();
}

static struct virtio_dev *fuzz_create(int in_fd, int out_fd, const char *name)
{
	struct virtio_dev *vdev = NULL;

	if (virtio_console_create(&vdev, &fuzz_gm, in_fd, out_fd, name) < 0)
		abort();
	vdev->transport_ops = &fuzz_transport;
	/* Kicks reach the eventfds but not the I/O thread: fuzz_run_kicks runs the queues. */
	for (unsigned q = 0; q < 2; q++)
		if (event_loop_del(vdev->loop, vdev->kick_fds[q]))
			abort();
	return vdev;
}

static void fuzz_init(void)
{
	int null_fd;

	log_set_level(LOG_ERROR);
	if (guest_mem_add(&fuzz_gm, 0, FUZZ_MEM, fuzz_ram) < 0 ||
	    pipe2(fuzz_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0)
		abort();
	fuzz_dev[FUZZ_FEEDER] = fuzz_create(-1, null_fd, "fuzz-vcon-feeder");
	fuzz_dev[FUZZ_PIPE] = fuzz_create(fuzz_pipe[0], -1, "fuzz-vcon-pipe");
	virtio_console_set_input_ready(fuzz_dev[FUZZ_FEEDER], fuzz_ready, fuzz_dev[FUZZ_FEEDER]);
}

/* What virtio_kick_cb does on the I/O thread, for every queue with a pending kick. */
static void fuzz_run_kicks(struct virtio_dev *vdev)
{
	for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
		bool any = false;

		for (unsigned q = 0; q < 2; q++) {
			uint64_t n = 0;

			if (read(vdev->kick_fds[q], &n, sizeof(n)) != sizeof(n) || !n)
				continue;
			any = true;
			pthread_mutex_lock(&vdev->lock);
			if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
			    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vdev->vqs[q].ready &&
			    !vdev->vqs[q].broken)
				vdev->ops->queue_notify(vdev, q);
			pthread_mutex_unlock(&vdev->lock);
		}
		if (!any)
			break;
	}
}

static void fuzz_negotiate(struct virtio_dev *vdev, uint8_t sel, uint8_t qsize)
{
	uint64_t features;
	uint8_t status;

	features = fuzz_virtio_offered(vdev);
	if (sel & 1)
		features &= ~(1ull << VIRTIO_F_EVENT_IDX);
	if (sel & 2)
		features &= ~(1ull << VIRTIO_F_INDIRECT_DESC);
	if (sel & 8)
		features &= ~(1ull << VIRTIO_CONSOLE_F_EMERG_WRITE);
	status = fuzz_virtio_negotiate(vdev, features);
	pthread_mutex_lock(&vdev->lock);
	for (unsigned q = 0; q < 2; q++) {
		struct virtq *vq = &vdev->vqs[q];

		vq->size = (uint16_t)(1u << (qsize % 8));
		vq->desc_gpa = 0x800;
		vq->avail_gpa = 0x400 * q;
		vq->used_gpa = 0xe000 + 0x1000 * q;
		vq->ready = true;
	}
	pthread_mutex_unlock(&vdev->lock);
	virtio_status_write(vdev, status | VIRTIO_STATUS_DRIVER_OK);
}

static void fuzz_drain_pipe(void)
{
	uint8_t buf[4096];

	while (read(fuzz_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/*
 * Let the pipe device's I/O thread move what is in the pipe into the receiveq: until the pipe
 * is empty, the device stopped, the receiveq is empty, or nothing moved for a while (the device
 * stopped watching in_fd and was not kicked since).
 */
static void fuzz_wait_pipe(struct virtio_dev *vdev)
{
	int last_pending = -1, idle = 0;

	for (int spin = 0; spin < 2000 && idle < 100; spin++) {
		struct virtq *vq = &vdev->vqs[VIRTIO_CONSOLE_QUEUE_RX];
		int pending = 0;
		uint16_t avail_idx;
		bool stop;

		if (ioctl(fuzz_pipe[0], FIONREAD, &pending) < 0 || pending == 0)
			return;
		pthread_mutex_lock(&vdev->lock);
		memcpy(&avail_idx, fuzz_ram + vq->avail_gpa + 2, sizeof(avail_idx));
		stop = !(vdev->status & VIRTIO_STATUS_DRIVER_OK) ||
		       (vdev->status & VIRTIO_STATUS_NEEDS_RESET) || !vq->ready || vq->broken ||
		       avail_idx == vq->last_avail;
		pthread_mutex_unlock(&vdev->lock);
		if (stop)
			return;
		idle = pending == last_pending ? idle + 1 : 0;
		last_pending = pending;
		sched_yield();
	}
}

static void fuzz_input(struct virtio_dev *vdev, bool pipe_dev, const uint8_t *op)
{
	size_t len = (size_t)(op[1] | op[2] << 8) & FUZZ_IN_MAX, done;
	uint64_t before;
	uint8_t status;

	for (size_t j = 0; j < len; j++)
		fuzz_in[j] = (uint8_t)(op[3] + j);
	if (pipe_dev && !(op[2] & 0x80)) {
		if (len && write(fuzz_pipe[1], fuzz_in, len) < 0 && errno != EAGAIN)
			abort();
		fuzz_wait_pipe(vdev);
		return;
	}
	before = __atomic_load_n(&vdev->stats.bytes_in, __ATOMIC_RELAXED);
	status = virtio_status_read(vdev);
	done = virtio_console_input(vdev, fuzz_in, len);
	if (done > len)
		abort();
	if (!(status & VIRTIO_STATUS_DRIVER_OK) && done)
		abort(); /* accepted before the driver was ready */
	if (pipe_dev)
		return; /* its I/O thread adds to bytes_in too */
	if (__atomic_load_n(&vdev->stats.bytes_in, __ATOMIC_RELAXED) - before != done)
		abort(); /* what it reports is what reached the guest's buffers */
	if (done < len)
		fuzz_short_inputs++;
}

static void fuzz_config(struct virtio_dev *vdev, const uint8_t *op)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	unsigned off = op[1] & 15, len = lens[op[2] & 3];
	uint8_t buf[16];

	memset(buf, 0xa5, sizeof(buf));
	if ((op[0] & 7) == 3) {
		memset(buf, op[3], len);
		virtio_config_write(vdev, off, buf, len);
		return;
	}
	virtio_config_read(vdev, off, buf, len);
	for (unsigned j = 0; j < sizeof(buf); j++)
		if (buf[j] != (j < len ? 0 : 0xa5))
			abort(); /* no SIZE/MULTIPORT: all zero; nothing past the access */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct virtio_dev *vdev;
	size_t nops, ram_off;
	bool pipe_dev;
	uint8_t sel;

	if (!ready) {
		fuzz_init();
		ready = true;
	}
	if (size < FUZZ_HDR)
		return 0;
	sel = data[0];
	pipe_dev = sel & 4;
	vdev = fuzz_dev[pipe_dev ? FUZZ_PIPE : FUZZ_FEEDER];
	nops = data[2];
	if (nops > (size - FUZZ_HDR) / FUZZ_OP)
		nops = (size - FUZZ_HDR) / FUZZ_OP;
	ram_off = FUZZ_HDR + nops * FUZZ_OP;
	memset(fuzz_ram, 0, sizeof(fuzz_ram));
	memcpy(fuzz_ram, data + ram_off,
	       size - ram_off < sizeof(fuzz_ram) ? size - ram_off : sizeof(fuzz_ram));

	fuzz_negotiate(vdev, sel, data[1]);
	fuzz_run_kicks(vdev);
	for (size_t i = 0; i < nops; i++) {
		const uint8_t *op = data + FUZZ_HDR + i * FUZZ_OP;

		switch (op[0] & 7) {
		case 1:
			fuzz_input(vdev, pipe_dev, op);
			break;
		case 2:
		case 3:
			fuzz_config(vdev, op);
			break;
		case 4:
			/* A vCPU writing guest RAM while the device works on it. */
			__atomic_store_n(&fuzz_ram[op[1] | op[2] << 8], op[3], __ATOMIC_RELAXED);
			break;
		case 5:
			virtio_status_write(vdev, 0);
			fuzz_negotiate(vdev, sel, data[1]);
			break;
		case 6:
			virtio_status_write(vdev, op[3]);
			break;
		default:
			virtio_queue_kick(vdev, op[1] & 1);
			break;
		}
		fuzz_run_kicks(vdev);
		if (!pipe_dev && fuzz_ready_calls > fuzz_short_inputs)
			abort();
	}
	/* Reset, then drop what is left: pipe bytes and kicks the device had not run yet. */
	virtio_status_write(vdev, 0);
	fuzz_drain_pipe();
	fuzz_run_kicks(vdev);
	return 0;
}
