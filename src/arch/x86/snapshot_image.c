/* The snapshot state file's payload: configuration, VM state, vCPUs, devices. */
#include "arch/x86/snapshot_image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_IMAGE_CONFIG_TAG STATE_TAG('C', 'O', 'N', 'F')
#define SNAPSHOT_IMAGE_CPUS_TAG STATE_TAG('C', 'P', 'U', 'S')
#define SNAPSHOT_IMAGE_VERSION 1

int snapshot_image_write(const char *path, const struct snapshot_host *host,
			 const struct snapshot_image *image, char *err, size_t errlen)
{
	size_t clen = image->config ? strlen(image->config) : 0;
	struct state_writer w;
	int ret;

	if (clen > SNAPSHOT_IMAGE_MAX_CONFIG || image->ncpus != host->ncpus || !image->ncpus) {
		snprintf(err, errlen, "snapshot image is inconsistent (%u vCPUs, header %u)",
			 image->ncpus, host->ncpus);
		return -EINVAL;
	}
	state_writer_init(&w);
	state_section_begin(&w, SNAPSHOT_IMAGE_CONFIG_TAG, SNAPSHOT_IMAGE_VERSION);
	state_put_u32(&w, (uint32_t)clen);
	state_put_bytes(&w, image->config, clen);
	state_section_end_write(&w);
	vm_state_save(&image->vm, &w);
	state_section_begin(&w, SNAPSHOT_IMAGE_CPUS_TAG, SNAPSHOT_IMAGE_VERSION);
	state_put_u32(&w, image->ncpus);
	state_section_end_write(&w);
	for (unsigned i = 0; i < image->ncpus; i++)
		cpu_state_save(&image->cpus[i], &w);
	state_put_bytes(&w, image->devices, image->devices_len);
	ret = state_writer_result(&w);
	if (ret)
		snprintf(err, errlen, "cannot build the snapshot state: %s", strerror(-ret));
	else
		ret = snapshot_file_write(path, host, w.buf, w.len, err, errlen);
	state_writer_free(&w);
	return ret;
}

void snapshot_image_free(struct snapshot_image *image)
{
	free(image->config);
	free(image->cpus);
	free(image->devices);
	memset(image, 0, sizeof(*image));
}

int snapshot_image_read(const char *path, struct snapshot_host *host, struct snapshot_image *image,
			char *err, size_t errlen)
{
	struct snapshot_header hdr;
	uint8_t *buf;
	size_t len;
	int ret;

	memset(image, 0, sizeof(*image));
	ret = snapshot_file_read(path, &buf, &len, &hdr, err, errlen);
	if (ret)
		return ret;
	*host = hdr.host;
	ret = snapshot_image_parse(buf + SNAPSHOT_HEADER_SIZE, (size_t)hdr.payload_len, &hdr.host,
				   image, err, errlen);
	free(buf);
	if (ret) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
	}
	return ret;
}

int snapshot_image_parse(const uint8_t *payload, size_t len, const struct snapshot_host *host,
			 struct snapshot_image *image, char *err, size_t errlen)
{
	struct state_reader r;
	uint32_t version, clen;
	int ret;

	memset(image, 0, sizeof(*image));
	state_reader_init(&r, payload, len);
	state_section_begin_read(&r, SNAPSHOT_IMAGE_CONFIG_TAG, SNAPSHOT_IMAGE_VERSION, &version);
	clen = state_get_u32_below(&r, SNAPSHOT_IMAGE_MAX_CONFIG + 1, "configuration too large");
	image->config = calloc(1, (size_t)clen + 1);
	if (!image->config) {
		ret = -ENOMEM;
		goto fail;
	}
	state_get_bytes(&r, image->config, clen);
	if (memchr(image->config, 0, clen))
		state_reader_fail(&r, "configuration with a NUL byte");
	ret = state_section_end(&r);
	if (!ret)
		ret = vm_state_load(&r, &image->vm);
	if (ret)
		goto fail;
	state_section_begin_read(&r, SNAPSHOT_IMAGE_CPUS_TAG, SNAPSHOT_IMAGE_VERSION, &version);
	image->ncpus = state_get_u32_below(&r, 256, "too many vCPUs");
	if (image->ncpus != host->ncpus)
		state_reader_fail(&r, "vCPU count differs from the header's");
	ret = state_section_end(&r);
	if (ret)
		goto fail;
	image->cpus = calloc(image->ncpus, sizeof(*image->cpus));
	if (!image->cpus) {
		ret = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; !ret && i < image->ncpus; i++)
		ret = cpu_state_load(&r, &image->cpus[i]);
	if (ret)
		goto fail;
	image->devices_len = r.len - r.pos;
	image->devices = malloc(image->devices_len ? image->devices_len : 1);
	if (!image->devices) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(image->devices, r.buf + r.pos, image->devices_len);
	return 0;
fail:
	if (ret == -EINVAL)
		snprintf(err, errlen, "snapshot state is malformed: %s",
			 r.why ? r.why : "unexpected contents");
	else
		snprintf(err, errlen, "%s", strerror(-ret));
	snapshot_image_free(image);
	return ret;
}
