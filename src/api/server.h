/* The API's unix socket: accepts connections on an event loop and serves them with api_handle. */
#ifndef KVMBOX_API_SERVER_H
#define KVMBOX_API_SERVER_H

#include "api/api.h"

#define API_SERVER_MAX_CONNS 32 /* more are accepted and closed at once */
#define API_SERVER_TIMEOUT_MS                                                                      \
	10000 /* a connection with a partial request (or unsent output)                            \
	       * that makes no progress for this long is dropped */

struct api_server;
struct event_loop;

/*
 * Listen on a unix socket at path (mode 0600) and serve it on loop; every callback runs on the
 * loop's thread, and so do the ops. A stale socket file at path (nothing listens) is replaced;
 * a live one gives -EADDRINUSE; any other file there gives -EEXIST and is left alone. Errors
 * are logged (log_error) as one line naming the path and the problem.
 */
int api_server_create(struct api_server **out, const char *path, struct event_loop *loop,
		      const struct api_ops *ops, void *opaque) __attribute__((warn_unused_result));
/*
 * Close every connection and the socket and unlink path (if it is still ours). Call it while
 * the loop dispatches nothing: from the loop's thread, after event_loop_run returned, or with a
 * threaded loop paused.
 */
void api_server_destroy(struct api_server *s);
/* For tests: the idle timeout (default API_SERVER_TIMEOUT_MS). */
void api_server_set_timeout(struct api_server *s, unsigned ms);

#endif
