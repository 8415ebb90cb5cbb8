/* Snapshot state file: header, CRC-32C, atomic write, checked read. */
#include "snapshot/file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Header layout (little-endian). */
#define SNAPSHOT_OFF_MAGIC 0
#define SNAPSHOT_OFF_VERSION 8
#define SNAPSHOT_OFF_HEADER_SIZE 12
#define SNAPSHOT_OFF_PAYLOAD_LEN 16
#define SNAPSHOT_OFF_CRC 24
#define SNAPSHOT_OFF_FLAGS 28
#define SNAPSHOT_OFF_HOST 32 /* backend, vendor, xsave_size, ncpus, tsc_khz: 5 x u32 */
#define SNAPSHOT_OFF_ID 56   /* the snapshot's id: u64 */

uint32_t snapshot_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	static int ready;
	const uint8_t *p = buf;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u
					  : c >> 1; /* reflected Castagnoli */
			table[i] = c;
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void snapshot_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t snapshot_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void snapshot_header_build(uint8_t *out, const struct snapshot_host *host, const void *payload,
			   size_t len)
{
	memset(out, 0, SNAPSHOT_HEADER_SIZE);
	memcpy(out + SNAPSHOT_OFF_MAGIC, SNAPSHOT_MAGIC, 8);
	snapshot_put32(out + SNAPSHOT_OFF_VERSION, SNAPSHOT_VERSION);
	snapshot_put32(out + SNAPSHOT_OFF_HEADER_SIZE, SNAPSHOT_HEADER_SIZE);
	snapshot_put32(out + SNAPSHOT_OFF_PAYLOAD_LEN, (uint32_t)len);
	snapshot_put32(out + SNAPSHOT_OFF_PAYLOAD_LEN + 4, (uint32_t)((uint64_t)len >> 32));
	snapshot_put32(out + SNAPSHOT_OFF_CRC, snapshot_crc32c(0, payload, len));
	snapshot_put32(out + SNAPSHOT_OFF_HOST, host->backend);
	snapshot_put32(out + SNAPSHOT_OFF_HOST + 4, host->vendor);
	snapshot_put32(out + SNAPSHOT_OFF_HOST + 8, host->xsave_size);
	snapshot_put32(out + SNAPSHOT_OFF_HOST + 12, host->ncpus);
	snapshot_put32(out + SNAPSHOT_OFF_HOST + 16, host->tsc_khz);
	snapshot_put32(out + SNAPSHOT_OFF_ID, (uint32_t)host->id);
	snapshot_put32(out + SNAPSHOT_OFF_ID + 4, (uint32_t)(host->id >> 32));
}

int snapshot_file_parse(const void *buf, size_t len, struct snapshot_header *hdr, char *err,
			size_t errlen)
{
	const uint8_t *p = buf;
	uint32_t header_size, crc;

	memset(hdr, 0, sizeof(*hdr));
	if (len < SNAPSHOT_HEADER_SIZE || memcmp(p + SNAPSHOT_OFF_MAGIC, SNAPSHOT_MAGIC, 8)) {
		snprintf(err, errlen, "not a kvmbox snapshot state file (no %s header)",
			 SNAPSHOT_MAGIC);
		return -EINVAL;
	}
	hdr->version = snapshot_get32(p + SNAPSHOT_OFF_VERSION);
	if (hdr->version != SNAPSHOT_VERSION) {
		snprintf(err, errlen,
			 "snapshot format version %" PRIu32 " (this kvmbox reads version %u)",
			 hdr->version, SNAPSHOT_VERSION);
		return -EINVAL;
	}
	header_size = snapshot_get32(p + SNAPSHOT_OFF_HEADER_SIZE);
	if (header_size != SNAPSHOT_HEADER_SIZE || snapshot_get32(p + SNAPSHOT_OFF_FLAGS)) {
		snprintf(err, errlen, "snapshot header is malformed (size %" PRIu32 ", flags 0x%x)",
			 header_size, snapshot_get32(p + SNAPSHOT_OFF_FLAGS));
		return -EINVAL;
	}
	hdr->payload_len = snapshot_get32(p + SNAPSHOT_OFF_PAYLOAD_LEN) |
			   (uint64_t)snapshot_get32(p + SNAPSHOT_OFF_PAYLOAD_LEN + 4) << 32;
	if (hdr->payload_len > SNAPSHOT_MAX_PAYLOAD ||
	    hdr->payload_len != len - SNAPSHOT_HEADER_SIZE) {
		snprintf(err, errlen,
			 "snapshot state is truncated or padded: the header says %" PRIu64
			 " bytes, the file has %zu",
			 hdr->payload_len, len - SNAPSHOT_HEADER_SIZE);
		return -EINVAL;
	}
	hdr->crc = snapshot_get32(p + SNAPSHOT_OFF_CRC);
	crc = snapshot_crc32c(0, p + SNAPSHOT_HEADER_SIZE, (size_t)hdr->payload_len);
	if (crc != hdr->crc) {
		snprintf(err, errlen,
			 "snapshot state is corrupted: checksum 0x%08" PRIx32
			 ", the header says 0x%08" PRIx32,
			 crc, hdr->crc);
		return -EINVAL;
	}
	hdr->host.backend = snapshot_get32(p + SNAPSHOT_OFF_HOST);
	hdr->host.vendor = snapshot_get32(p + SNAPSHOT_OFF_HOST + 4);
	hdr->host.xsave_size = snapshot_get32(p + SNAPSHOT_OFF_HOST + 8);
	hdr->host.ncpus = snapshot_get32(p + SNAPSHOT_OFF_HOST + 12);
	hdr->host.tsc_khz = snapshot_get32(p + SNAPSHOT_OFF_HOST + 16);
	hdr->host.id = snapshot_get32(p + SNAPSHOT_OFF_ID) |
		       (uint64_t)snapshot_get32(p + SNAPSHOT_OFF_ID + 4) << 32;
	if (!hdr->host.ncpus || hdr->host.ncpus > 255) {
		snprintf(err, errlen, "snapshot header names %" PRIu32 " vCPUs", hdr->host.ncpus);
		return -EINVAL;
	}
	return 0;
}

int snapshot_host_check(const struct snapshot_host *saved, const struct snapshot_host *here,
			char *err, size_t errlen)
{
	if (saved->backend != here->backend) {
		snprintf(err, errlen,
			 "snapshot was taken on another kind of KVM (backend %" PRIu32
			 ", this host: %" PRIu32 ")",
			 saved->backend, here->backend);
		return -EINVAL;
	}
	if (saved->vendor != here->vendor) {
		snprintf(err, errlen, "snapshot was taken on a CPU of another vendor");
		return -EINVAL;
	}
	if (saved->xsave_size > here->xsave_size) {
		snprintf(err, errlen,
			 "snapshot's vCPUs have %" PRIu32 " bytes of XSAVE state, this host's KVM "
			 "only %" PRIu32,
			 saved->xsave_size, here->xsave_size);
		return -EINVAL;
	}
	return 0;
}

static int snapshot_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int snapshot_file_write(const char *path, const struct snapshot_host *host, const void *payload,
			size_t len, char *err, size_t errlen)
{
	uint8_t header[SNAPSHOT_HEADER_SIZE];
	char tmp[4096];
	int fd, ret;

	if (len > SNAPSHOT_MAX_PAYLOAD) {
		snprintf(err, errlen, "snapshot state of %zu bytes is too large", len);
		return -EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "snapshot path is too long");
		return -ENAMETOOLONG;
	}
	snapshot_header_build(header, host, payload, len);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-ret));
		return ret;
	}
	ret = snapshot_write_all(fd, header, sizeof(header));
	if (!ret)
		ret = snapshot_write_all(fd, payload, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
		unlink(tmp);
	}
	return ret;
}

int snapshot_file_read(const char *path, uint8_t **buf, size_t *len, struct snapshot_header *hdr,
		       char *err, size_t errlen)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	int fd, ret = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > SNAPSHOT_HEADER_SIZE + (uint64_t)SNAPSHOT_MAX_PAYLOAD) {
		snprintf(err, errlen, "%s: not a regular file of a snapshot's size", path);
		close(fd);
		return -EINVAL;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!p) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (ret) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-ret));
		free(p);
		return ret;
	}
	ret = snapshot_file_parse(p, got, hdr, err, errlen);
	if (ret) {
		free(p);
		return ret;
	}
	*buf = p;
	*len = got;
	return 0;
}
