/* libFuzzer target: arbitrary bytes as a snapshot state payload (configuration, VM state, vCPUs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/snapshot_image.h"

static void fuzz_one(const uint8_t *data, size_t size, unsigned ncpus)
{
	struct snapshot_host host = { .backend = 2, .ncpus = ncpus };
	struct snapshot_image im;
	char err[256] = "";

	if (snapshot_image_parse(data, size, &host, &im, err, sizeof(err)) == 0) {
		/* Accepted: everything it claims is there and consistent. */
		if (!im.config || strlen(im.config) > SNAPSHOT_IMAGE_MAX_CONFIG ||
		    im.ncpus != host.ncpus || !im.cpus || im.devices_len > size)
			abort();
		for (unsigned i = 0; i < im.ncpus; i++)
			if (im.cpus[i].nmsrs > CPU_STATE_MAX_MSRS ||
			    im.cpus[i].ncpuid > CPU_STATE_MAX_CPUID)
				abort();
		snapshot_image_free(&im);
	} else if (!err[0] || im.config || im.cpus || im.devices) {
		abort(); /* a refusal says why and leaves nothing behind */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The header's vCPU count: the one the payload names, and one it does not. */
	fuzz_one(data, size, 1);
	fuzz_one(data, size, 2);
	return 0;
}
