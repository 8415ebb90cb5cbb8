/* libFuzzer target: arbitrary bytes as a snapshot state file (header, lengths, checksum). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot_header h;
	struct snapshot_host here = { 2, 0x756e6547, 2688, 2, 0, 7 };
	char err[256];
	uint8_t *fixed;

	if (snapshot_file_parse(data, size, &h, err, sizeof(err)) == 0) {
		/* Accepted: the lengths must describe exactly this buffer. */
		if (h.payload_len != size - SNAPSHOT_HEADER_SIZE || !h.host.ncpus)
			abort();
		if (snapshot_host_check(&h.host, &here, err, sizeof(err)) && !err[0])
			abort(); /* a refusal always says why */
	} else if (!err[0]) {
		abort();
	}
	/* The same payload behind a header built for it must always parse. */
	if (size > SNAPSHOT_HEADER_SIZE && size - SNAPSHOT_HEADER_SIZE <= 65536) {
		fixed = malloc(size);
		if (!fixed)
			return 0;
		memcpy(fixed, data, size);
		snapshot_header_build(fixed, &here, fixed + SNAPSHOT_HEADER_SIZE,
				      size - SNAPSHOT_HEADER_SIZE);
		if (snapshot_file_parse(fixed, size, &h, err, sizeof(err)))
			abort();
		free(fixed);
	}
	return 0;
}
