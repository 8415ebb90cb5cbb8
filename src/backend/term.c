/* Raw-mode handling of the host terminal, restored on normal exit, error exit and fatal signals. */
#include "backend/term.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios term_saved;
static int term_fd = -1;

void term_restore(void)
{
	int fd = term_fd;

	if (fd < 0)
		return;
	tcsetattr(fd, TCSAFLUSH, &term_saved);
	term_fd = -1;
}

static void term_fatal_signal(int sig)
{
	term_restore();
	/* SA_RESETHAND put the default action back: re-raise for the core dump / status. */
	raise(sig);
}

int term_raw_enter(int fd)
{
	/* Every signal whose default action ends the process and that kvmbox does not handle
	 * (SIGSYS has the seccomp reporter, which restores the terminal itself). */
	static const int fatal[] = { SIGSEGV, SIGBUS,  SIGILL,	  SIGFPE,  SIGABRT,
				     SIGTRAP, SIGSYS,  SIGALRM,	  SIGUSR2, SIGXCPU,
				     SIGXFSZ, SIGPROF, SIGVTALRM, SIGPWR,  SIGSTKFLT };
	struct termios raw;
	struct sigaction sa;

	if (tcgetattr(fd, &term_saved) < 0)
		return -errno;
	raw = term_saved;
	/* Every key, Ctrl-C included, goes to the guest; Ctrl-A x is ours. */
	cfmakeraw(&raw);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSAFLUSH, &raw) < 0)
		return -errno;
	term_fd = fd;
	atexit(term_restore);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction old;

		if (sigaction(fatal[i], NULL, &old) == 0 && old.sa_handler != SIG_DFL)
			continue;
		sigaction(fatal[i], &sa, NULL);
	}
	return 0;
}
