/* Firecracker's --config-file: read a bounded JSON file and apply its sections in a fixed order. */
#include "api/config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"

static int config_file_err(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int config_file_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* The whole file, NUL-terminated, at most CONFIG_FILE_MAX bytes. */
static int config_file_read(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO without a writer must not hang kvmbox; it is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	size_t n = 0;
	char *buf;
	int ret;

	if (fd < 0)
		return config_file_err(err, errlen, -errno, "cannot open it: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return config_file_err(err, errlen, -EINVAL, "not a regular file");
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		close(fd);
		return config_file_err(err, errlen, -EFBIG, "too big (%lld bytes, at most %u)",
				       (long long)st.st_size, CONFIG_FILE_MAX);
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return config_file_err(err, errlen, -ENOMEM, "out of memory");
	}
	/* Read up to the bound, not st_size: the file may grow meanwhile. */
	for (;;) {
		ssize_t r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = config_file_err(err, errlen, -errno, "cannot read it: %s",
					      strerror(errno));
			goto err_free;
		}
		if (!r)
			break;
		n += (size_t)r;
		if (n > CONFIG_FILE_MAX) {
			ret = config_file_err(err, errlen, -EFBIG, "too big (at most %u bytes)",
					      CONFIG_FILE_MAX);
			goto err_free;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;

err_free:
	free(buf);
	close(fd);
	return ret;
}

int config_file_load(struct vm_config *cfg, const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = NULL;
	int ret;

	ret = config_file_read(path, &text, &len, err, errlen);
	if (ret)
		return ret;
	ret = config_file_parse(cfg, text, len, err, errlen);
	free(text);
	return ret;
}

int config_file_parse(struct vm_config *cfg, const char *text, size_t len, char *err, size_t errlen)
{
	char known[512] = "", msg[512];
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	size_t off = 0;
	int ret;

	if (len > CONFIG_FILE_MAX)
		return config_file_err(err, errlen, -EINVAL,
				       "configuration of %zu bytes is larger "
				       "than %u",
				       len, CONFIG_FILE_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return config_file_err(err, errlen, -EINVAL,
				       "invalid JSON at line %d column %d: %s", jerr.line,
				       jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return config_file_err(err, errlen, -EINVAL, "expected a JSON object at the top");
	}
	for (unsigned i = 0; api_config_keys[i] && off < sizeof(known); i++)
		off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "",
					api_config_keys[i]);
	json_object_foreach(root, key, v)
	{
		unsigned i = 0;

		while (api_config_keys[i] && strcmp(api_config_keys[i], key))
			i++;
		if (!api_config_keys[i]) {
			ret = config_file_err(err, errlen, -EINVAL,
					      "unknown key \"%s\" (known: %s)", key, known);
			goto out;
		}
	}
	/* A fixed order, whatever the file's: the machine before the devices, as Firecracker. */
	for (unsigned i = 0; api_config_keys[i]; i++) {
		v = json_object_get(root, api_config_keys[i]);
		if (!v)
			continue;
		ret = api_config_apply(cfg, api_config_keys[i], v, msg, sizeof(msg));
		if (ret) {
			config_file_err(err, errlen, ret, "%s", msg);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}
