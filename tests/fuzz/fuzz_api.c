/* libFuzzer target: raw bytes on an API connection -> the HTTP parser -> the API's handlers with
 * fake VMM ops; or a config-file document through the same handlers.
 *
 * Input: byte 0 picks the mode. Bit 7 set: the rest is a config file (JSON), applied section by
 * section. Otherwise the rest is what a client sends on the socket, fed in pieces whose sizes
 * come from byte 0 (0: as much as the connection takes at once), then the client hangs up.
 *
 * Checked on every request: a status of 200, 204 or 400; a 204 has no body; any other body is
 * a JSON object (400: with a fault_message); a failed request leaves the configuration as it
 * was; the HTTP output only ever grows by whole responses. Handlers only stat/access host paths,
 * so the fuzzer creates and opens nothing but regular files read-only.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/http.h"
#include "log.h"

static int fuzz_trace = -1;

struct fuzz_vmm {
	struct vm_config cfg;
	enum vmm_state state;
};

static struct vm_config *fuzz_config(void *o)
{
	return &((struct fuzz_vmm *)o)->cfg;
}

static enum vmm_state fuzz_state(void *o)
{
	return ((struct fuzz_vmm *)o)->state;
}

static int fuzz_start(void *o, char *err, size_t len)
{
	struct fuzz_vmm *v = o;

	if (v->state != VMM_NOT_STARTED)
		abort(); /* the API lets InstanceStart through only before start */
	v->state = VMM_RUNNING;
	return 0;
}

static int fuzz_pause(void *o, char *err, size_t len)
{
	struct fuzz_vmm *v = o;

	if (v->state == VMM_NOT_STARTED)
		abort();
	v->state = VMM_PAUSED;
	return 0;
}

static int fuzz_resume(void *o, char *err, size_t len)
{
	struct fuzz_vmm *v = o;

	if (v->state == VMM_NOT_STARTED)
		abort();
	v->state = VMM_RUNNING;
	return 0;
}

static int fuzz_post_boot(void *o, char *err, size_t len)
{
	if (((struct fuzz_vmm *)o)->state == VMM_NOT_STARTED)
		abort();
	return 0;
}

static int fuzz_set_metrics(void *o, const char *path, char *err, size_t len)
{
	struct fuzz_vmm *v = o;

	if (v->state != VMM_NOT_STARTED)
		abort();
	v->cfg.metrics_path = config_strdup(&v->cfg, path);
	return v->cfg.metrics_path ? 0 : -ENOMEM;
}

static int fuzz_set_log(void *o, const char *path, char *err, size_t len)
{
	return 0;
}

static int fuzz_update_drive(void *o, unsigned index, const char *path, char *err, size_t len)
{
	struct fuzz_vmm *v = o;

	if (v->state == VMM_NOT_STARTED || index >= v->cfg.ndisks)
		abort();
	snprintf(err, len, "refused by the fake VMM");
	return -EINVAL; /* a failing op must leave the configuration alone */
}

static int fuzz_stop(void *o, int status, char *err, size_t len)
{
	if (status < 0 || status > 255)
		abort();
	return 0;
}

static char *fuzz_stats(void *o, char *err, size_t len)
{
	return strdup("{\"uptime_ms\":1}");
}

static const char *fuzz_id(void *o)
{
	return "fuzz";
}

static int fuzz_snapshot_create(void *o, const char *state_path, const char *mem_path, bool diff,
				char *err, size_t len)
{
	if (((struct fuzz_vmm *)o)->state != VMM_PAUSED || !state_path || !mem_path)
		abort(); /* the API lets a snapshot through only while Paused, with both paths */
	return 0;
}

static int fuzz_snapshot_load(void *o, const struct vmm_snapshot_load *req, char *err, size_t len)
{
	if (((struct fuzz_vmm *)o)->state != VMM_NOT_STARTED || !req->state_path ||
	    !req->mem_path || req->noverrides > CONFIG_MAX_NICS)
		abort();
	for (unsigned i = 0; i < req->noverrides; i++)
		if (!req->overrides[i].iface_id || !req->overrides[i].tap)
			abort();
	snprintf(err, len, "refused by the fake VMM");
	return -EINVAL; /* nothing changes: the configuration check below holds it to that */
}

static const struct api_ops fuzz_ops = {
	.config = fuzz_config,
	.state = fuzz_state,
	.start = fuzz_start,
	.pause = fuzz_pause,
	.resume = fuzz_resume,
	.ctrl_alt_del = fuzz_post_boot,
	.flush_metrics = fuzz_post_boot,
	.set_metrics = fuzz_set_metrics,
	.set_log = fuzz_set_log,
	.update_drive = fuzz_update_drive,
	.stop = fuzz_stop,
	.stats_json = fuzz_stats,
	.snapshot_create = fuzz_snapshot_create,
	.snapshot_load = fuzz_snapshot_load,
	.instance_id = fuzz_id,
	.version = fuzz_id,
};

static void fuzz_check_response(const struct api_response *r)
{
	json_t *o;

	if (r->status == 204) {
		if (r->body)
			abort();
		return;
	}
	if ((r->status != 200 && r->status != 400) || !r->body || strlen(r->body) != r->len)
		abort();
	o = json_loads(r->body, 0, NULL);
	if (!json_is_object(o) ||
	    (r->status == 400 && !json_is_string(json_object_get(o, "fault_message"))))
		abort();
	json_decref(o);
}

static void fuzz_serve(struct http_conn *c, struct fuzz_vmm *v)
{
	struct http_request req;
	struct api_response r;
	size_t before, after;
	int ret;

	while ((ret = http_conn_next(c, &req)) == 1) {
		char *cfg_before = api_config_export(&v->cfg), *cfg_after;

		api_handle(&fuzz_ops, v, req.method, req.url, req.body, req.body_len, &r);
		if (fuzz_trace) /* FUZZ_API_TRACE=1: what the kept inputs reach */
			fprintf(stderr, "%s %.60s -> %d %.100s\n", req.method, req.url, r.status,
				r.body ? r.body : "");
		fuzz_check_response(&r);
		cfg_after = api_config_export(&v->cfg);
		if (r.status == 400 && cfg_before && cfg_after && strcmp(cfg_before, cfg_after))
			abort(); /* a failed request changed the configuration */
		free(cfg_before);
		free(cfg_after);
		http_conn_out(c, &before);
		http_conn_respond(c, r.status, r.body, r.len);
		http_conn_out(c, &after);
		if (after <= before && !http_conn_closing(c))
			abort();
		api_response_free(&r);
	}
	if (ret != 0 && ret != -EPROTO)
		abort();
	/* The client reads everything: output never blocks the next requests here. */
	http_conn_out(c, &after);
	if (after) {
		const char *out = http_conn_out(c, &after);

		if (memcmp(out, "HTTP/1.1 ", 9))
			abort();
		http_conn_out_done(c, after);
	}
}

static void fuzz_stream(const uint8_t *data, size_t size, uint8_t mode)
{
	struct fuzz_vmm v = { .state = VMM_NOT_STARTED };
	struct http_conn *c;
	uint32_t x = mode * 2654435761u + 1;

	config_init(&v.cfg);
	if (http_conn_create(&c))
		abort();
	while (size) {
		size_t n = size, took;

		if (mode) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = 1 + x % (mode < 8 ? 8 : 700);
			if (n > size)
				n = size;
		}
		took = http_conn_feed(c, data, n);
		fuzz_serve(c, &v);
		if (!took)
			break; /* closing: the server stops reading */
		data += took;
		size -= took;
	}
	http_conn_eof(c);
	fuzz_serve(c, &v);
	http_conn_destroy(c);
	config_free(&v.cfg);
}

static void fuzz_config_doc(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	const char *key;
	json_t *val;
	char err[512];

	config_init(&cfg);
	json_object_foreach(root, key, val)
	{
		int ret = api_config_apply(&cfg, key, val, err, sizeof(err));

		if (ret && ret != -ENOENT && !err[0])
			abort(); /* an error always says what it is */
	}
	free(api_config_export(&cfg));
	json_decref(root);
	config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_set_level(LOG_ERROR);
	if (fuzz_trace < 0)
		fuzz_trace = getenv("FUZZ_API_TRACE") != NULL;
	if (!size)
		return 0;
	if (data[0] & 0x80)
		fuzz_config_doc(data + 1, size - 1);
	else
		fuzz_stream(data + 1, size - 1, data[0]);
	log_set_level(LOG_ERROR); /* PUT /logger may have changed it */
	return 0;
}
