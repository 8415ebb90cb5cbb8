/* Whole-file reads for boot images: bounded, EINTR-safe, and loud about which file failed. */
#include "arch/x86/boot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int boot_file_read_fd(int fd, const char *path, const char *what, uint8_t *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			log_error("%s %s: read failed: %s", what, path, strerror(err));
			return -err;
		}
		if (n == 0) {
			/* Shrank under us: loading half a kernel would fail much later and
			 * obscurely. */
			log_error("%s %s: file shrank while being read", what, path);
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

int boot_file_read(const char *path, const char *what, uint64_t max, uint8_t **buf, size_t *size)
{
	struct stat st;
	uint8_t *data;
	int fd, ret;

	*buf = NULL;
	*size = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); reads of a
	 * regular file ignore the flag. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int err = errno;

		log_error("%s %s: %s", what, path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		log_error("%s %s: %s", what, path, strerror(-ret));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", what, path);
		ret = -EINVAL;
		goto err_close;
	}
	if ((uint64_t)st.st_size > max || (uint64_t)st.st_size >= SIZE_MAX) {
		log_error("%s %s: %lld bytes is more than the %llu bytes of guest RAM", what, path,
			  (long long)st.st_size, (unsigned long long)max);
		ret = -EFBIG;
		goto err_close;
	}
	/* +1 so that an empty file still gets a buffer and callers need no special case. */
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		log_error("%s %s: out of memory reading %lld bytes", what, path,
			  (long long)st.st_size);
		ret = -ENOMEM;
		goto err_close;
	}
	ret = boot_file_read_fd(fd, path, what, data, (size_t)st.st_size);
	if (ret) {
		free(data);
		goto err_close;
	}
	close(fd);
	*buf = data;
	*size = (size_t)st.st_size;
	return 0;

err_close:
	close(fd);
	return ret;
}
