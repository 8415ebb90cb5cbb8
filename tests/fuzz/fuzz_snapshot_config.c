/* libFuzzer target: arbitrary bytes as the configuration document inside a snapshot state file
 * (snapshot_config_import), which builds a VM configuration through the API's handlers. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/snapshot_config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	char *text = malloc(size + 1), err[512] = "";
	int ret;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	log_set_level(LOG_ERROR);
	config_init(&cfg);
	ret = snapshot_config_import(&cfg, text, err, sizeof(err));
	if (ret == 0) {
		/* Accepted: a machine kvmbox can build, and the document it exports reads back. */
		char *again;

		if (cfg.cpus < 1 || cfg.cpus > CONFIG_MAX_CPUS || (cfg.memory & 0xfff) ||
		    cfg.memory < CONFIG_MIN_MEMORY || cfg.ndisks > CONFIG_MAX_DISKS ||
		    cfg.nnics > CONFIG_MAX_NICS || !cfg.cpu_template)
			abort();
		for (unsigned i = 0; i < cfg.ndisks; i++)
			if (!cfg.disks[i].path)
				abort();
		for (unsigned i = 0; i < cfg.nnics; i++)
			if (!cfg.nics[i].tap)
				abort();
		again = snapshot_config_export(&cfg);
		if (again) {
			struct vm_config b;

			config_init(&b);
			if (snapshot_config_import(&b, again, err, sizeof(err)))
				abort();
			config_free(&b);
		}
		free(again);
	} else if (ret != -EINVAL || !err[0]) {
		abort(); /* a refusal says why */
	}
	config_free(&cfg);
	free(text);
	return 0;
}
