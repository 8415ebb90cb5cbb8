/* Formats virtio_mmio.device= options: Linux's memparse() size, "@0x" base, ":" IRQ. */
#include "virtio/mmio_cmdline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* " virtio_mmio.device=" + 20 digits + suffix + "@0x" + 16 hex digits + ":" + 10 digits. */
#define MMIO_CMDLINE_ENTRY_MAX 80

/* The size as memparse() reads it back: the largest binary suffix that divides it exactly. */
static int mmio_cmdline_size(char *buf, size_t len, uint64_t size)
{
	static const char suffix[] = "KMGT";
	int shift = -1;

	while (shift < 3 && !(size & ((1ull << (10 * (shift + 2))) - 1)))
		shift++;
	if (shift < 0)
		return snprintf(buf, len, "%" PRIu64, size);
	return snprintf(buf, len, "%" PRIu64 "%c", size >> (10 * (shift + 1)), suffix[shift]);
}

int mmio_cmdline_append(const char *cmdline, const struct mmio_cmdline_dev *devs, unsigned ndevs,
			size_t max_len, char **out)
{
	size_t len = cmdline ? strlen(cmdline) : 0, need, cap;
	char *s;

	for (unsigned i = 0; i < ndevs; i++)
		if (!devs[i].size || !devs[i].gsi || devs[i].base > UINT64_MAX - (devs[i].size - 1))
			return -EINVAL;
	if (len > max_len)
		return -E2BIG;
	/* Never more than max_len + 1, however large the caller's bound or device list. */
	need = len + (size_t)ndevs * MMIO_CMDLINE_ENTRY_MAX;
	cap = (need < max_len ? need : max_len) + 1;
	s = malloc(cap);
	if (!s)
		return -ENOMEM;
	if (len)
		memcpy(s, cmdline, len);
	for (unsigned i = 0; i < ndevs; i++) {
		char entry[MMIO_CMDLINE_ENTRY_MAX], size[32];
		int n;

		mmio_cmdline_size(size, sizeof(size), devs[i].size);
		n = snprintf(entry, sizeof(entry), "%svirtio_mmio.device=%s@0x%" PRIx64 ":%u",
			     len ? " " : "", size, devs[i].base, devs[i].gsi);
		if (n < 0 || (size_t)n >= sizeof(entry) || (size_t)n > max_len - len) {
			free(s);
			return -E2BIG;
		}
		memcpy(s + len, entry, (size_t)n);
		len += (size_t)n;
	}
	s[len] = '\0';
	*out = s;
	return 0;
}
