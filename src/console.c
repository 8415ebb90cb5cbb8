/* Main-thread loop: host terminal input to the guest UART, Ctrl-A commands, and stop on signals. */
#include "console.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/x86/platform.h"
#include "devices.h"
#include "log.h"
#include "vm.h"

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
	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the VM */
}

int console_run(struct vm *vm)
{
	struct console_escape esc = { false };
	uint8_t pending[256];
	size_t npending = 0, sent = 0;
	bool stdin_open = true;
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	for (unsigned i = 0; i < sizeof(console_stop_signals) / sizeof(int); i++)
		sigaddset(&set, console_stop_signals[i]);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		int ret = -errno;

		/* Without this loop nothing could stop the guest: stop it now. */
		log_error("signalfd failed: %s", strerror(errno));
		vm_stop(vm, VM_EXIT_HOST_ERROR);
		return ret;
	}

	while (!vm_stopping(vm)) {
		struct pollfd fds[3] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			/* Stop reading while the UART cannot take what we already have. */
			{ .fd = (stdin_open && sent == npending) ? STDIN_FILENO : -1,
			  .events = POLLIN },
		};
		int timeout = sent < npending ? 2 : -1;

		if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
			log_error("poll failed: %s", strerror(errno));
			vm_stop(vm, VM_EXIT_HOST_ERROR);
			break;
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("signal %u: stopping the guest", si.ssi_signo);
				vm_stop(vm, 128 + (int)si.ssi_signo);
			}
		}
		if (sent < npending)
			sent +=
			    platform_console_input(vm->platform, pending + sent, npending - sent);
		if (fds[2].revents & (POLLIN | POLLHUP)) {
			uint8_t buf[128];
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r <= 0) {
				stdin_open = false; /* EOF: the guest keeps running without input */
				continue;
			}
			npending = sent = 0;
			for (ssize_t i = 0; i < r; i++) {
				size_t n;
				enum console_action a =
				    console_escape_feed(&esc, buf[i], &pending[npending], &n);

				npending += n;
				if (a == CONSOLE_QUIT) {
					log_info("Ctrl-A x: stopping the guest");
					vm_stop(vm, VM_EXIT_POWEROFF);
				} else if (a == CONSOLE_HELP) {
					if (write(STDOUT_FILENO, console_help_text,
						  sizeof(console_help_text) - 1) < 0)
						log_debug("console help write failed");
				}
			}
			sent = console_deliver(vm, pending, npending);
		}
	}
	close(sfd);
	return 0;
}
