/* One API request through api_handle, for the unit tests with fake VMM ops: the HTTP status
 * (-1 when a 204 carries a body or another status none), the body left in api_last_body. */
#ifndef KVMBOX_TEST_API_REQ_H
#define KVMBOX_TEST_API_REQ_H

#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "test.h"

static char api_last_body[8192];

static int api_req(const struct api_ops *ops, void *opaque, const char *method, const char *url,
		   const char *body)
{
	struct api_response r;
	int status;

	api_handle(ops, opaque, method, url, body, body ? strlen(body) : 0, &r);
	snprintf(api_last_body, sizeof(api_last_body), "%s", r.body ? r.body : "");
	status = r.status;
	if ((status == 204) != (r.body == NULL))
		status = -1; /* a 204 has no body, everything else has one */
	api_response_free(&r);
	return status;
}

/* status, and (when given) a substring of the response body. */
#define API_EXPECT(ops, f, status, method, url, body, substr)                                      \
	do {                                                                                       \
		int st_ = api_req(ops, f, method, url, body);                                      \
		if (st_ != (status) ||                                                             \
		    ((substr) && !strstr(api_last_body, (substr) ? (substr) : ""))) {              \
			fprintf(stderr, "  %s:%d: %s %s -> %d %s (wanted %d, '%s')\n", __FILE__,   \
				__LINE__, method, url, st_, api_last_body, status,                 \
				(substr) ? (substr) : "");                                         \
			test_failed_++;                                                            \
		}                                                                                  \
	} while (0)

#endif
