/* Main-thread loop: host terminal input to the guest UART, Ctrl-A commands, and stop on signals. */
#include "console.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/x86/platform.h"
#include "devices.h"
#include "event_loop.h"
#include "log.h"
#include "vm.h"
#include "vmm.h"

const char console_help_text[] = "\r\nC-a h    print this help\r\n"
				 "C-a x    exit kvmbox (the guest is stopped)\r\n"
				 "C-a a    send C-a to the guest\r\n";

static const int console_stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

enum console_action console_escape_feed(struct console_escape *e, uint8_t c, uint8_t *out,
					size_t *n)
{
	*n = 0;
	if (!e->pending) {
		if (c == CONSOLE_ESCAPE) {
			e->pending = true;
			return CONSOLE_NONE;
		}
		out[0] = c;
		*n = 1;
		return CONSOLE_NONE;
	}
	e->pending = false;
	switch (c) {
	case 'x':
	case 'X':
		return CONSOLE_QUIT;
	case 'h':
	case 'H':
	case '?':
		return CONSOLE_HELP;
	case 'a':
	case CONSOLE_ESCAPE:
		out[0] = CONSOLE_ESCAPE;
		*n = 1;
		return CONSOLE_NONE;
	default:
		return CONSOLE_NONE; /* unknown command: swallowed, as QEMU does */
	}
}

struct console {
	struct event_loop *loop;
	struct vmm *vmm;
	struct console_escape esc;
	uint8_t pending[256];
	size_t npending, sent;
	bool stdin_open;
	bool stdin_watched;
	int sfd;   /* signalfd */
	int retry; /* timerfd: the UART could not take everything yet */
};

/* Input goes to hvc0 with --console virtio, else to COM1. Returns the bytes taken now. */
static size_t console_deliver(struct vm *vm, const uint8_t *buf, size_t len)
{
	if (devices_has_virtio_console(vm))
		return devices_console_input(vm, buf, len);
	return platform_console_input(vm->platform, buf, len);
}

void console_signals_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (unsigned i = 0; i < sizeof(console_stop_signals) / sizeof(int); i++)
		sigaddset(&set, console_stop_signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout or API client must not kill the VM */
}

static void console_stdin_cb(void *opaque, int fd, uint32_t events);

static bool console_vm_running(struct console *c)
{
	return vmm_get_state(c->vmm) == VMM_RUNNING;
}

/* Read stdin only while the VM runs and everything read so far reached the guest. */
static void console_watch(struct console *c)
{
	bool want = c->stdin_open && c->sent == c->npending && console_vm_running(c);
	struct itimerspec its = { .it_value = { .tv_nsec = 2000000 } };

	if (want && !c->stdin_watched) {
		if (event_loop_add(c->loop, STDIN_FILENO, EPOLLIN, console_stdin_cb, c) == 0)
			c->stdin_watched = true;
		else
			c->stdin_open = false; /* not pollable (a regular file): no input */
	} else if (!want && c->stdin_watched) {
		event_loop_del(c->loop, STDIN_FILENO);
		c->stdin_watched = false;
	}
	if (c->sent < c->npending && console_vm_running(c) &&
	    timerfd_settime(c->retry, 0, &its, NULL) < 0)
		log_debug("console retry timer: %s", strerror(errno));
}

static void console_flush(struct console *c)
{
	if (c->sent < c->npending && console_vm_running(c))
		c->sent +=
		    console_deliver(&c->vmm->vm, c->pending + c->sent, c->npending - c->sent);
	console_watch(c);
}

static void console_retry_cb(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("console retry timer: %s", strerror(errno));
	console_flush(c);
}

static void console_stdin_cb(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	uint8_t buf[128];
	ssize_t r = read(fd, buf, sizeof(buf));

	(void)events;
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		c->stdin_open = false; /* EOF: the guest keeps running without input */
		console_watch(c);
		return;
	}
	c->npending = c->sent = 0;
	for (ssize_t i = 0; i < r; i++) {
		size_t n;
		enum console_action a =
		    console_escape_feed(&c->esc, buf[i], &c->pending[c->npending], &n);

		c->npending += n;
		if (a == CONSOLE_QUIT) {
			log_info("Ctrl-A x: stopping the guest");
			vmm_stop(c->vmm, VM_EXIT_POWEROFF);
		} else if (a == CONSOLE_HELP) {
			if (write(STDOUT_FILENO, console_help_text, sizeof(console_help_text) - 1) <
			    0)
				log_debug("console help write failed");
		}
	}
	console_flush(c);
}

static void console_signal_cb(void *opaque, int fd, uint32_t events)
{
	struct console *c = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("signal %u: stopping the guest", si.ssi_signo);
	vmm_stop(c->vmm, 128 + (int)si.ssi_signo);
}

int console_create(struct console **out, struct event_loop *loop, struct vmm *vmm)
{
	struct console *c = calloc(1, sizeof(*c));
	sigset_t set;
	int ret;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->vmm = vmm;
	c->stdin_open = true;
	sigemptyset(&set);
	for (unsigned i = 0; i < sizeof(console_stop_signals) / sizeof(int); i++)
		sigaddset(&set, console_stop_signals[i]);
	c->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	c->retry = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->sfd < 0 || c->retry < 0) {
		ret = -errno;
		log_error("signalfd/timerfd failed: %s", strerror(errno));
		goto err;
	}
	ret = event_loop_add(loop, c->sfd, EPOLLIN, console_signal_cb, c);
	if (!ret)
		ret = event_loop_add(loop, c->retry, EPOLLIN, console_retry_cb, c);
	if (ret)
		goto err;
	*out = c;
	return 0;
err:
	if (c->sfd >= 0) {
		event_loop_del(loop, c->sfd);
		close(c->sfd);
	}
	if (c->retry >= 0)
		close(c->retry);
	free(c);
	return ret;
}

void console_update(struct console *c)
{
	if (c)
		console_flush(c);
}

void console_destroy(struct console *c)
{
	if (!c)
		return;
	if (c->stdin_watched)
		event_loop_del(c->loop, STDIN_FILENO);
	event_loop_del(c->loop, c->sfd);
	event_loop_del(c->loop, c->retry);
	close(c->sfd);
	close(c->retry);
	free(c);
}
