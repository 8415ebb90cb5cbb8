/* Unit tests for virtio_mmio.device= formatting, read back the way Linux's vm_cmdline_set does. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "test.h"
#include "virtio/mmio_cmdline.h"

/* lib/cmdline.c memparse(). */
static unsigned long long memparse(const char *p, char **end)
{
	unsigned long long v = strtoull(p, end, 0);

	switch (**end) {
	case 'T':
	case 't':
		v <<= 10;
		/* fallthrough */
	case 'G':
	case 'g':
		v <<= 10;
		/* fallthrough */
	case 'M':
	case 'm':
		v <<= 10;
		/* fallthrough */
	case 'K':
	case 'k':
		v <<= 10;
		(*end)++;
		break;
	default:
		break;
	}
	return v;
}

struct found {
	unsigned long long base, size;
	unsigned irq;
};

/* drivers/virtio/virtio_mmio.c vm_cmdline_set(): 0 or -EINVAL. */
static int vm_cmdline_set(const char *device, struct found *f)
{
	char *str;
	long long base;
	unsigned irq;
	int processed, consumed = 0, id;

	f->size = memparse(device, &str);
	processed = sscanf(str, "@%lli:%u%n:%d%n", &base, &irq, &consumed, &id, &consumed);
	if (processed < 2 || str[consumed] || irq == 0)
		return -EINVAL;
	f->base = (unsigned long long)base;
	f->irq = irq;
	return 0;
}

/* Split at spaces as parse_args() does for unquoted words; collect virtio_mmio.device= values. */
static int parse(const char *cmdline, struct found *out, unsigned max, unsigned *others)
{
	char *copy = strdup(cmdline), *save = NULL;
	unsigned n = 0;
	int bad = 0;

	*others = 0;
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		static const char key[] = "virtio_mmio.device=";

		if (strncmp(w, key, sizeof(key) - 1)) {
			(*others)++;
			continue;
		}
		if (n == max || vm_cmdline_set(w + sizeof(key) - 1, &out[n]))
			bad = 1;
		else
			n++;
	}
	free(copy);
	return bad ? -1 : (int)n;
}

static void test_format(void)
{
	const struct mmio_cmdline_dev devs[] = {
		{ LAYOUT_VIRTIO_MMIO, 0x1000, LAYOUT_GSI_VIRTIO_MMIO },
		{ LAYOUT_VIRTIO_MMIO + 0x1000, 0x1000, LAYOUT_GSI_VIRTIO_MMIO + 1 },
	};
	char *s = NULL;

	CHECK_EQ(mmio_cmdline_append("console=ttyS0 pci=off", devs, 2, MMIO_CMDLINE_LINUX_MAX, &s),
		 0);
	CHECK(s && strcmp(s, "console=ttyS0 pci=off virtio_mmio.device=4K@0xd0000000:20 "
			     "virtio_mmio.device=4K@0xd0001000:21") == 0);
	free(s);
	s = NULL;
	/* Empty or absent command line: no leading space. */
	CHECK_EQ(mmio_cmdline_append(NULL, devs, 1, MMIO_CMDLINE_LINUX_MAX, &s), 0);
	CHECK(s && strcmp(s, "virtio_mmio.device=4K@0xd0000000:20") == 0);
	free(s);
	s = NULL;
	CHECK_EQ(mmio_cmdline_append("", devs, 1, MMIO_CMDLINE_LINUX_MAX, &s), 0);
	CHECK(s && strcmp(s, "virtio_mmio.device=4K@0xd0000000:20") == 0);
	free(s);
	s = NULL;
	/* No devices: a copy. */
	CHECK_EQ(mmio_cmdline_append("quiet", devs, 0, MMIO_CMDLINE_LINUX_MAX, &s), 0);
	CHECK(s && strcmp(s, "quiet") == 0);
	free(s);
}

static void test_sizes(void)
{
	static const struct {
		uint64_t size;
		const char *text;
	} cases[] = {
		{ 1, "1" },
		{ 0x200, "512" },
		{ 0x1000, "4K" },
		{ 0x1800, "6K" },
		{ 0x100000, "1M" },
		{ 0x100400, "1025K" },
		{ 0x200000, "2M" },
		{ 0x40000000, "1G" },
		{ 0x10000000000ull, "1T" },
		{ 0x100000000000ull, "16T" },
		{ 0x1001, "4097" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mmio_cmdline_dev d = { 0x1000000000ull, cases[i].size, 5 };
		char want[128], *s = NULL;
		struct found f;
		unsigned others;

		snprintf(want, sizeof(want), "virtio_mmio.device=%s@0x1000000000:5", cases[i].text);
		CHECK_EQ(mmio_cmdline_append(NULL, &d, 1, MMIO_CMDLINE_LINUX_MAX, &s), 0);
		if (!s)
			continue;
		CHECK(strcmp(s, want) == 0);
		CHECK_EQ(parse(s, &f, 1, &others), 1);
		CHECK_EQ(f.size, cases[i].size);
		CHECK_EQ(f.base, 0x1000000000ull);
		CHECK_EQ(f.irq, 5);
		free(s);
	}
}

/* Every device comes back from Linux's parser with its base, size and IRQ. */
static void test_round_trip(void)
{
	struct mmio_cmdline_dev devs[24];
	struct found f[24];
	unsigned others;
	char *s = NULL;

	for (unsigned i = 0; i < 24; i++)
		devs[i] = (struct mmio_cmdline_dev){ LAYOUT_VIRTIO_MMIO + i * 0x1000ull,
						     i & 1 ? 0x200 : 0x1000, 1 + i };
	CHECK_EQ(
	    mmio_cmdline_append("root=/dev/vda rw acpi=off", devs, 24, MMIO_CMDLINE_LINUX_MAX, &s),
	    0);
	if (!s)
		return;
	CHECK_EQ(parse(s, f, 24, &others), 24);
	CHECK_EQ(others, 3);
	for (unsigned i = 0; i < 24; i++) {
		CHECK_EQ(f[i].base, devs[i].base);
		CHECK_EQ(f[i].size, devs[i].size);
		CHECK_EQ(f[i].irq, devs[i].gsi);
	}
	CHECK(strlen(s) <= MMIO_CMDLINE_LINUX_MAX);
	free(s);
}

static void test_limits(void)
{
	struct mmio_cmdline_dev d = { LAYOUT_VIRTIO_MMIO, 0x1000, 20 };
	const char *entry = " virtio_mmio.device=4K@0xd0000000:20";
	size_t elen = strlen(entry);
	char base[64], *s = (char *)1;

	memset(base, 'a', sizeof(base));
	base[10] = '\0';
	/* Exactly at the limit fits; one byte less does not, and *out stays untouched. */
	CHECK_EQ(mmio_cmdline_append(base, &d, 1, 10 + elen, &s), 0);
	CHECK(s != (char *)1 && strlen(s) == 10 + elen);
	if (s != (char *)1)
		free(s);
	s = (char *)1;
	CHECK_EQ(mmio_cmdline_append(base, &d, 1, 10 + elen - 1, &s), -E2BIG);
	CHECK(s == (char *)1);
	CHECK_EQ(mmio_cmdline_append(base, &d, 0, 9, &s), -E2BIG);
	CHECK_EQ(mmio_cmdline_append(base, &d, 0, 10, &s), 0);
	if (s != (char *)1)
		free(s);
	s = (char *)1;
	/* The second device overflows the Linux limit. */
	{
		char *big = malloc(MMIO_CMDLINE_LINUX_MAX + 1);
		struct mmio_cmdline_dev two[2] = { d, d };

		memset(big, 'x', MMIO_CMDLINE_LINUX_MAX);
		big[MMIO_CMDLINE_LINUX_MAX - elen - 2] = '\0';
		CHECK_EQ(mmio_cmdline_append(big, two, 1, MMIO_CMDLINE_LINUX_MAX, &s), 0);
		if (s != (char *)1)
			free(s);
		s = (char *)1;
		CHECK_EQ(mmio_cmdline_append(big, two, 2, MMIO_CMDLINE_LINUX_MAX, &s), -E2BIG);
		CHECK(s == (char *)1);
		free(big);
	}
	/* Bad devices. */
	d.size = 0;
	CHECK_EQ(mmio_cmdline_append("", &d, 1, MMIO_CMDLINE_LINUX_MAX, &s), -EINVAL);
	d.size = 0x1000;
	d.gsi = 0;
	CHECK_EQ(mmio_cmdline_append("", &d, 1, MMIO_CMDLINE_LINUX_MAX, &s), -EINVAL);
	d.gsi = 5;
	d.base = UINT64_MAX - 0xffe;
	CHECK_EQ(mmio_cmdline_append("", &d, 1, MMIO_CMDLINE_LINUX_MAX, &s), -EINVAL);
	d.base = UINT64_MAX - 0xfff; /* ends exactly at 2^64 - 1 */
	CHECK_EQ(mmio_cmdline_append("", &d, 1, MMIO_CMDLINE_LINUX_MAX, &s), 0);
	CHECK(s != (char *)1 && strcmp(s, "virtio_mmio.device=4K@0xfffffffffffff000:5") == 0);
	if (s != (char *)1)
		free(s);
	/* A huge bound does not mean a huge allocation. */
	s = NULL;
	CHECK_EQ(mmio_cmdline_append("x", &d, 1, SIZE_MAX, &s), 0);
	free(s);
}

int main(void)
{
	RUN_TEST(test_format);
	RUN_TEST(test_sizes);
	RUN_TEST(test_round_trip);
	RUN_TEST(test_limits);
	TEST_EXIT();
}
