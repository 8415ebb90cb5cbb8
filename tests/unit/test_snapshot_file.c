/* Unit tests of the snapshot state file: CRC-32C, header build/parse and every refusal, the host
 * check, atomic write and checked read on a real file system. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/file.h"
#include "test.h"

static const struct snapshot_host host = { .backend = 2,
					   .vendor = 0x756e6547,
					   .xsave_size = 2688,
					   .ncpus = 2,
					   .tsc_khz = 2100000,
					   .id = 0x0123456789abcdefull };

/* header + payload in one buffer, as a file holds them. */
static uint8_t *image(const void *payload, size_t len, size_t *total)
{
	uint8_t *b = malloc(SNAPSHOT_HEADER_SIZE + len + 1);

	snapshot_header_build(b, &host, payload, len);
	memcpy(b + SNAPSHOT_HEADER_SIZE, payload, len);
	*total = SNAPSHOT_HEADER_SIZE + len;
	return b;
}

static void test_crc32c(void)
{
	/* The standard check value, and incremental use. */
	CHECK_EQ(snapshot_crc32c(0, "123456789", 9), 0xe3069283u);
	CHECK_EQ(snapshot_crc32c(snapshot_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	CHECK_EQ(snapshot_crc32c(0, "", 0), 0);
}

static void test_parse(void)
{
	static const char payload[] = "state sections would be here";
	struct snapshot_header h;
	char err[256];
	size_t len;
	uint8_t *b = image(payload, sizeof(payload), &len);

	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), 0);
	CHECK_EQ(h.version, SNAPSHOT_VERSION);
	CHECK_EQ(h.payload_len, sizeof(payload));
	CHECK_EQ(h.host.backend, 2);
	CHECK_EQ(h.host.vendor, 0x756e6547);
	CHECK_EQ(h.host.xsave_size, 2688);
	CHECK_EQ(h.host.tsc_khz, 2100000);
	CHECK_EQ(h.host.id, 0x0123456789abcdefull);
	CHECK_EQ(h.host.ncpus, 2);

	/* Every refusal, with its one-line reason. */
	CHECK_EQ(snapshot_file_parse(b, 10, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not a kvmbox snapshot") != NULL);
	b[0] = 'X';
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not a kvmbox snapshot") != NULL);
	b[0] = 'K';
	b[8] = 2;
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "format version 2 (this kvmbox reads version 1)") != NULL);
	b[8] = 1;
	b[12] = 65;
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "malformed") != NULL);
	b[12] = 64;
	b[28] = 1;
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	b[28] = 0;
	CHECK_EQ(snapshot_file_parse(b, len - 1, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "truncated") != NULL);
	CHECK_EQ(snapshot_file_parse(b, len + 1, &h, err, sizeof(err)), -EINVAL);
	b[20] = 1; /* a payload length of 2^32 + n */
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	b[20] = 0;
	b[SNAPSHOT_HEADER_SIZE + 3] ^= 0x10; /* one flipped bit */
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "corrupted: checksum") != NULL);
	b[SNAPSHOT_HEADER_SIZE + 3] ^= 0x10;
	b[44] = 0; /* ncpus 0 */
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "0 vCPUs") != NULL);
	b[44] = 2;
	CHECK_EQ(snapshot_file_parse(b, len, &h, err, sizeof(err)), 0);
	free(b);
}

static void test_host_check(void)
{
	struct snapshot_host here = host;
	char err[256];

	CHECK_EQ(snapshot_host_check(&host, &here, err, sizeof(err)), 0);
	here.xsave_size = 4096; /* a bigger XSAVE area can hold the saved one */
	CHECK_EQ(snapshot_host_check(&host, &here, err, sizeof(err)), 0);
	here.xsave_size = 832;
	CHECK_EQ(snapshot_host_check(&host, &here, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "2688 bytes of XSAVE state") != NULL);
	here = host;
	here.backend = 0;
	CHECK_EQ(snapshot_host_check(&host, &here, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "another kind of KVM") != NULL);
	here = host;
	here.vendor = 0x68747541;
	CHECK_EQ(snapshot_host_check(&host, &here, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "another vendor") != NULL);
}

static void test_write_read(void)
{
	char dir[] = "/tmp/kvmbox-snap.XXXXXX", path[128], err[256];
	static uint8_t payload[100000];
	struct snapshot_header h;
	uint8_t *buf;
	size_t len;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	snprintf(path, sizeof(path), "%s/state", dir);
	CHECK_EQ(snapshot_file_write(path, &host, payload, sizeof(payload), err, sizeof(err)), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_size, SNAPSHOT_HEADER_SIZE + sizeof(payload));
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(snapshot_file_read(path, &buf, &len, &h, err, sizeof(err)), 0);
	CHECK_EQ(len, SNAPSHOT_HEADER_SIZE + sizeof(payload));
	CHECK(!memcmp(buf + SNAPSHOT_HEADER_SIZE, payload, sizeof(payload)));
	free(buf);
	/* Overwriting replaces the file whole; no temporary file is left. */
	CHECK_EQ(snapshot_file_write(path, &host, payload, 10, err, sizeof(err)), 0);
	CHECK_EQ(snapshot_file_read(path, &buf, &len, &h, err, sizeof(err)), 0);
	CHECK_EQ(h.payload_len, 10);
	free(buf);
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
		CHECK(access(tmp, F_OK) != 0);
	}
	/* A truncated file is refused with the reason. */
	CHECK_EQ(truncate(path, SNAPSHOT_HEADER_SIZE + 5), 0);
	CHECK_EQ(snapshot_file_read(path, &buf, &len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "truncated") != NULL);
	CHECK(buf == NULL);
	/* Missing files, directories, unwritable places. */
	snprintf(path, sizeof(path), "%s/none", dir);
	CHECK_EQ(snapshot_file_read(path, &buf, &len, &h, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "cannot open") != NULL);
	CHECK_EQ(snapshot_file_read(dir, &buf, &len, &h, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not a regular file") != NULL);
	snprintf(path, sizeof(path), "%s/no/such/dir/state", dir);
	CHECK(snapshot_file_write(path, &host, payload, 10, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot create") != NULL);
	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN_TEST(test_crc32c);
	RUN_TEST(test_parse);
	RUN_TEST(test_host_check);
	RUN_TEST(test_write_read);
	TEST_EXIT();
}
