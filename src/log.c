/* Leveled, thread-safe logging to stderr, with per-call-site rate limiting. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#define LOG_RL_WINDOW_NS 1000000000ull
#define LOG_RL_BURST 5

static enum log_level log_level_cur = LOG_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* The last error this thread logged: the API answers a failed InstanceStart with it. */
static __thread char log_last[256];

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;
	int saved_errno = errno; /* callers log first, then return -errno */

	if (level == LOG_ERROR) {
		va_start(ap, fmt);
		vsnprintf(log_last, sizeof(log_last), fmt, ap);
		va_end(ap);
	}
	if (level > log_level_cur)
		return;
	pthread_mutex_lock(&log_lock);
	/* \r first: the console may be in raw mode, where \n does not return the carriage. */
	fprintf(stderr, "\rkvmbox: %s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\r\n", stderr);
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}

const char *log_last_error(void)
{
	return log_last;
}

void log_clear_last_error(void)
{
	log_last[0] = '\0';
}

static uint64_t log_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	uint64_t now = log_now_ns();
	bool ok;

	pthread_mutex_lock(&log_lock);
	if (now - rl->window_start_ns >= LOG_RL_WINDOW_NS) {
		uint32_t dropped = rl->suppressed;

		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
		if (dropped && log_level_cur >= LOG_WARN)
			fprintf(stderr, "\rkvmbox: warning: %u similar messages suppressed\r\n",
				dropped);
	}
	ok = rl->printed < LOG_RL_BURST;
	if (ok)
		rl->printed++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&log_lock);
	return ok;
}
