/* kvmbox ctl: a command-line client for the API socket (its own small HTTP/1.1 client). */
#ifndef KVMBOX_CTL_H
#define KVMBOX_CTL_H

#include <stdio.h>

/* Exit statuses of `kvmbox ctl`. */
enum ctl_status {
	CTL_OK = 0,
	CTL_FAILED = 1, /* the request failed: the API's fault_message (or why) on stderr */
	CTL_USAGE = 2,	/* bad command line, or the socket cannot be reached */
};

/* Where a run writes, and how long it waits for the server (connect, then the whole response). */
struct ctl_io {
	FILE *out;
	FILE *err;
	int timeout_ms;
};

#define CTL_TIMEOUT_MS 5000

/*
 * `kvmbox ctl SOCKET COMMAND [ARGS]`: argv[0] is COMMAND. Commands: status, pause, resume, stop,
 * ctrl-alt-del, flush-metrics, stats, top [-d SECONDS] [-n COUNT], raw METHOD PATH [BODY], help.
 * Errors are one line on stderr, "kvmbox ctl: error: ...". Returns an enum ctl_status.
 */
int ctl_main(const char *socket_path, int argc, char **argv);
/* The same with explicit streams and timeout (unit tests). */
int ctl_run(const char *socket_path, int argc, char **argv, const struct ctl_io *io);

#endif
