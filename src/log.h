/* Leveled logging to stderr; rate-limited variant for guest-triggered messages. */
#ifndef KVMBOX_LOG_H
#define KVMBOX_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Messages above this level are dropped. Default LOG_WARN; main sets it from the command line. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last log_error message ("" if none since log_clear_last_error). */
const char *log_last_error(void);
void log_clear_last_error(void);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* A token bucket per call site: a hostile guest cannot flood the host's log. */
struct log_ratelimit {
	uint64_t window_start_ns;
	uint32_t printed;
	uint32_t suppressed;
};

bool log_ratelimit_ok(struct log_ratelimit *rl);

/* For anything a guest can trigger: at most a few lines per second per call site. */
#define log_guest(...)                                                                             \
	do {                                                                                       \
		static struct log_ratelimit log_guest_rl_;                                         \
		if (log_ratelimit_ok(&log_guest_rl_))                                              \
			log_msg(LOG_WARN, __VA_ARGS__);                                            \
	} while (0)

#endif
