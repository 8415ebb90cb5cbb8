/*
 * kvmbox ctl SOCKET snapshot DIR [--diff] and restore DIR [--paused]: a snapshot as a directory
 * holding vmstate and memory (what `kvmbox run --restore DIR` reads). The paths sent are absolute:
 * the server resolves them from its own working directory.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl_internal.h"

/* DIR made absolute (created first when create): out[PATH_MAX]. */
static int ctl_snapshot_dir(struct ctl *c, const char *dir, bool create, char *out)
{
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ctl_error(c, CTL_USAGE, "cannot create '%s': %s", dir, strerror(errno));
	if (!realpath(dir, out))
		return ctl_error(c, CTL_USAGE, "'%s': %s", dir, strerror(errno));
	if (strlen(out) + sizeof("/vmstate") > 4000)
		return ctl_error(c, CTL_USAGE, "'%s': path too long", dir);
	return CTL_OK;
}

/* The VM's state as GET / says it ("Running", "Paused", "Not started"), in out[32]. */
static int ctl_snapshot_state(struct ctl *c, char *out, size_t len)
{
	const char *s;
	int ret;
	json_t *root = ctl_get_object(c, "/", "status", &ret);

	if (!root)
		return ret;
	s = json_string_value(json_object_get(root, "state"));
	snprintf(out, len, "%s", s ? s : "");
	json_decref(root);
	return s ? CTL_OK : ctl_error(c, CTL_FAILED, "status: the answer has no \"state\"");
}

/* Writing or mapping GiBs of guest RAM (fsync included) outlasts ctl's usual 5 s answer time. */
#define CTL_SNAPSHOT_TIMEOUT_MS (30 * 60 * 1000)

static int ctl_snapshot_body(struct ctl *c, json_t *o, const char *method, const char *path)
{
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int ret, timeout = c->timeout_ms;

	json_decref(o);
	if (!body)
		return ctl_error(c, CTL_USAGE, "the path is not valid UTF-8");
	if (c->timeout_ms < CTL_SNAPSHOT_TIMEOUT_MS)
		c->timeout_ms = CTL_SNAPSHOT_TIMEOUT_MS;
	ret = ctl_simple(c, method, path, body);
	c->timeout_ms = timeout;
	free(body);
	return ret;
}

int ctl_snapshot(struct ctl *c, int argc, char **argv)
{
	char dir[PATH_MAX], state[PATH_MAX + 16], mem[PATH_MAX + 16], vm_state[32];
	bool diff = argc == 3 && !strcmp(argv[2], "--diff");
	int ret, ret2;

	if (argc < 2 || argc > 3 || (argc == 3 && !diff))
		return ctl_error(c, CTL_USAGE, "usage: snapshot DIR [--diff]");
	ret = ctl_snapshot_dir(c, argv[1], !diff, dir);
	if (ret)
		return ret;
	snprintf(state, sizeof(state), "%s/vmstate", dir);
	snprintf(mem, sizeof(mem), "%s/memory", dir);
	ret = ctl_snapshot_state(c, vm_state, sizeof(vm_state));
	if (ret)
		return ret;
	/* A running VM is paused for the snapshot and runs on afterwards, whatever happened. */
	if (!strcmp(vm_state, "Running")) {
		ret = ctl_simple(c, "PATCH", "/vm", "{\"state\":\"Paused\"}");
		if (ret)
			return ret;
	}
	ret =
	    ctl_snapshot_body(c,
			      json_pack("{s:s, s:s, s:s}", "snapshot_path", state, "mem_file_path",
					mem, "snapshot_type", diff ? "Diff" : "Full"),
			      "PUT", "/snapshot/create");
	if (!strcmp(vm_state, "Running")) {
		ret2 = ctl_simple(c, "PATCH", "/vm", "{\"state\":\"Resumed\"}");
		if (!ret)
			ret = ret2;
	}
	if (!ret)
		fprintf(c->out, "snapshot: %s\n", dir);
	return ret;
}

int ctl_restore(struct ctl *c, int argc, char **argv)
{
	char dir[PATH_MAX], state[PATH_MAX + 16], mem[PATH_MAX + 16];
	bool paused = argc == 3 && !strcmp(argv[2], "--paused");
	int ret;

	if (argc < 2 || argc > 3 || (argc == 3 && !paused))
		return ctl_error(c, CTL_USAGE, "usage: restore DIR [--paused]");
	ret = ctl_snapshot_dir(c, argv[1], false, dir);
	if (ret)
		return ret;
	snprintf(state, sizeof(state), "%s/vmstate", dir);
	snprintf(mem, sizeof(mem), "%s/memory", dir);
	return ctl_snapshot_body(c,
				 json_pack("{s:s, s:{s:s, s:s}, s:b}", "snapshot_path", state,
					   "mem_backend", "backend_path", mem, "backend_type",
					   "File", "resume_vm", !paused),
				 "PUT", "/snapshot/load");
}
