/* Unit tests for boot_load: format detection, file errors, the e820 map and bzImage loading. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/boot_bzimage.h"
#include "arch/x86/boot_e820.h"
#include "arch/x86/layout.h"
#include "guest_mem.h"
#include "test.h"

#define MiB (1ull << 20)
#define GUEST_SIZE (64 * MiB)
#define FAKE_PM_SIZE 0x10000
#define FAKE_SETUP_SECTS 4
#define FAKE_SETUP_SIZE ((FAKE_SETUP_SECTS + 1) * 512)
#define FAKE_PREF (16 * MiB)
#define FAKE_INIT_SIZE (8 * MiB)

static uint8_t *guest_buf;
static struct guest_mem gm;
static char tmpdir[] = "/tmp/kvmbox-test-boot-XXXXXX";

/* A fresh 64 MiB guest at GPA 0, filled with a marker so untouched bytes are recognisable. */
static void guest_reset(uint64_t size)
{
	memset(&gm, 0, sizeof(gm));
	memset(guest_buf, 0xa5, size);
	if (guest_mem_add(&gm, 0, size, guest_buf))
		abort();
}

static uint64_t rd(uint64_t gpa, unsigned len)
{
	uint64_t v = 0;

	if (guest_mem_read(&gm, gpa, &v, len))
		return 0xdeadbeefdeadbeefull;
	return v;
}

/* stderr capture, to check that errors are one clear line naming the file and problem. */
static int saved_stderr = -1;
static FILE *capture_file;
static char captured[4096];

static void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	saved_stderr = dup(2);
	dup2(fileno(capture_file), 2);
}

static const char *capture_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(capture_file);
	n = fread(captured, 1, sizeof(captured) - 1, capture_file);
	captured[n] = 0;
	fclose(capture_file);
	return captured;
}

#define CHECK_MSG(msg, s)                                                                          \
	do {                                                                                       \
		if (!strstr((msg), (s))) {                                                         \
			fprintf(stderr, "  %s:%d: message lacks \"%s\": %s\n", __FILE__, __LINE__, \
				(s), (msg));                                                       \
			test_failed_++;                                                            \
		}                                                                                  \
	} while (0)

struct fake_bz {
	uint16_t version;
	uint8_t relocatable;
	uint16_t xloadflags;
	uint8_t loadflags;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	size_t pm_size;
	uint32_t syssize; /* 0 = from pm_size */
};

static const struct fake_bz fake_default = {
	.version = 0x020f,
	.relocatable = 1,
	.xloadflags = BOOT_XLF_KERNEL_64 | BOOT_XLF_CAN_BE_LOADED_ABOVE_4G,
	.loadflags = BOOT_LOADFLAGS_LOADED_HIGH,
	.initrd_addr_max = 0x7fffffff,
	.cmdline_size = 2047,
	.pm_size = FAKE_PM_SIZE,
};

/* A synthetic bzImage: real-mode sectors with a setup header, then a patterned kernel body. */
static uint8_t *make_bzimage(const struct fake_bz *f, size_t *size)
{
	struct boot_setup_header h;
	uint8_t *buf;

	*size = FAKE_SETUP_SIZE + f->pm_size;
	buf = calloc(1, *size);
	memset(&h, 0, sizeof(h));
	h.setup_sects = FAKE_SETUP_SECTS;
	h.syssize = f->syssize ? f->syssize : (uint32_t)(f->pm_size / 16);
	h.root_dev = 0x0801;
	h.boot_flag = BOOT_FLAG_MAGIC;
	h.jump = 0x6aeb; /* jmp short to 0x26c: the header ends at 0x202 + 0x6a */
	h.header = BOOT_HDR_MAGIC;
	h.version = f->version;
	h.loadflags = f->loadflags;
	h.code32_start = 0x100000;
	h.initrd_addr_max = f->initrd_addr_max;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = f->relocatable;
	h.xloadflags = f->xloadflags;
	h.cmdline_size = f->cmdline_size;
	h.setup_data = 0x12345678; /* must not survive into the zero page */
	h.pref_address = FAKE_PREF;
	h.init_size = FAKE_INIT_SIZE;
	memcpy(buf + BOOT_HDR_OFFSET, &h, sizeof(h));
	for (size_t i = 0; i < f->pm_size; i++)
		buf[FAKE_SETUP_SIZE + i] = (uint8_t)(i * 7 + 3);
	return buf;
}

static uint8_t *make_initrd(size_t size)
{
	uint8_t *p = malloc(size);

	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i ^ 0x5c);
	return p;
}

static int load_buf(const void *k, size_t ksize, const void *rd_buf, size_t rd_size,
		    const char *cmdline, uint64_t rsdp, struct boot_entry *e)
{
	struct boot_config cfg = { "fake-kernel", rd_buf ? "fake-initrd" : NULL, cmdline, rsdp,
				   NULL };

	return boot_load_buffer(&gm, &cfg, k, ksize, rd_buf, rd_size, e);
}

static void test_bzimage_full(void)
{
	size_t ksize, rd_size = 300000;
	uint8_t *k = make_bzimage(&fake_default, &ksize), *initrd = make_initrd(rd_size);
	const char *cmdline = "console=ttyS0 root=/dev/vda rw";
	struct boot_entry e;
	uint64_t bp = LAYOUT_BOOT_PARAMS, rd_gpa;
	char got[64] = { 0 };

	guest_reset(GUEST_SIZE);
	CHECK_EQ(load_buf(k, ksize, initrd, rd_size, cmdline, 0xe0000, &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_LINUX64);
	CHECK(e.format && !strcmp(e.format, "bzImage"));
	/* Relocatable and it fits: loaded at pref_address, entered at the 64-bit entry. */
	CHECK_EQ(e.rip, FAKE_PREF + 0x200);
	CHECK_EQ(e.rsi, LAYOUT_BOOT_PARAMS);
	CHECK(!memcmp(guest_buf + FAKE_PREF, k + FAKE_SETUP_SIZE, FAKE_PM_SIZE));
	/* Zero page, read at raw boot.rst offsets rather than through our own struct. */
	CHECK_EQ(rd(bp + 0x202, 4), BOOT_HDR_MAGIC);
	CHECK_EQ(rd(bp + 0x206, 2), 0x020f);
	CHECK_EQ(rd(bp + 0x1fc, 2), 0x0801); /* root_dev copied from the file */
	CHECK_EQ(rd(bp + 0x210, 1), 0xff);   /* type_of_loader */
	CHECK_EQ(rd(bp + 0x211, 1), BOOT_LOADFLAGS_LOADED_HIGH | BOOT_LOADFLAGS_CAN_USE_HEAP);
	CHECK_EQ(rd(bp + 0x214, 4), FAKE_PREF); /* code32_start */
	CHECK_EQ(rd(bp + 0x224, 2), 0xfe00);	/* heap_end_ptr */
	CHECK_EQ(rd(bp + 0x228, 4), LAYOUT_CMDLINE);
	CHECK_EQ(rd(bp + 0x250, 8), 0); /* setup_data cleared */
	CHECK_EQ(rd(bp + 0x070, 8), 0xe0000);
	rd_gpa = rd(bp + 0x218, 4);
	CHECK_EQ(rd(bp + 0x21c, 4), rd_size);
	CHECK_EQ(rd(bp + 0x0c0, 4), 0);
	CHECK_EQ(rd(bp + 0x0c4, 4), 0);
	/* Initrd: page-aligned, at the top of RAM, clear of the kernel's init_size footprint. */
	CHECK_EQ(rd_gpa & 0xfff, 0);
	CHECK_EQ(rd_gpa, (GUEST_SIZE - rd_size) & ~0xfffull);
	CHECK(rd_gpa >= FAKE_PREF + FAKE_INIT_SIZE);
	CHECK(!memcmp(guest_buf + rd_gpa, initrd, rd_size));
	/* Command line. */
	CHECK_EQ(guest_mem_read(&gm, LAYOUT_CMDLINE, got, strlen(cmdline) + 1), 0);
	CHECK(!strcmp(got, cmdline));
	/* e820 at 0x1e8 / 0x2d0, 20 bytes an entry. */
	CHECK_EQ(rd(bp + 0x1e8, 1), 4);
	CHECK_EQ(rd(bp + 0x2d0, 8), 0);
	CHECK_EQ(rd(bp + 0x2d8, 8), LAYOUT_EBDA);
	CHECK_EQ(rd(bp + 0x2e0, 4), BOOT_E820_RAM);
	CHECK_EQ(rd(bp + 0x2e4, 8), LAYOUT_EBDA);
	CHECK_EQ(rd(bp + 0x2ec, 8), MiB - LAYOUT_EBDA);
	CHECK_EQ(rd(bp + 0x2f4, 4), BOOT_E820_RESERVED);
	CHECK_EQ(rd(bp + 0x2f8, 8), MiB);
	CHECK_EQ(rd(bp + 0x300, 8), GUEST_SIZE - MiB);
	CHECK_EQ(rd(bp + 0x308, 4), BOOT_E820_RAM);
	CHECK_EQ(rd(bp + 0x30c, 8), LAYOUT_KVM_IDENTITY_MAP);
	CHECK_EQ(rd(bp + 0x31c, 4), BOOT_E820_RESERVED);
	/* Nothing written past the e820 table. */
	CHECK_EQ(rd(bp + 0x2d0 + 4 * 20, 8), 0);
	free(k);
	free(initrd);
}

static void test_bzimage_nonrelocatable_no_initrd(void)
{
	struct fake_bz f = fake_default;
	size_t ksize;
	uint8_t *k;
	struct boot_entry e;

	f.relocatable = 0;
	f.version = 0x020d; /* before acpi_rsdp_addr */
	k = make_bzimage(&f, &ksize);
	guest_reset(GUEST_SIZE);
	CHECK_EQ(load_buf(k, ksize, NULL, 0, NULL, 0xe0000, &e), 0);
	CHECK_EQ(e.rip, LAYOUT_HIMEM + 0x200);
	CHECK(!memcmp(guest_buf + LAYOUT_HIMEM, k + FAKE_SETUP_SIZE, FAKE_PM_SIZE));
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x070, 8), 0);
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x218, 4), 0);
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x21c, 4), 0);
	CHECK_EQ(rd(LAYOUT_CMDLINE, 1), 0); /* empty command line, still terminated */
	free(k);
}

static void test_bzimage_initrd_addr_max(void)
{
	struct fake_bz f = fake_default;
	size_t ksize, rd_size = 100000;
	uint8_t *k, *initrd = make_initrd(rd_size);
	struct boot_entry e;
	uint64_t gpa;
	const char *msg;

	f.initrd_addr_max = 30 * MiB - 1;
	k = make_bzimage(&f, &ksize);
	guest_reset(GUEST_SIZE);
	CHECK_EQ(load_buf(k, ksize, initrd, rd_size, "", 0, &e), 0);
	gpa = rd(LAYOUT_BOOT_PARAMS + 0x218, 4);
	CHECK_EQ(gpa, (30 * MiB - rd_size) & ~0xfffull);
	CHECK(gpa + rd_size - 1 <= f.initrd_addr_max);
	CHECK(gpa >= FAKE_PREF + FAKE_INIT_SIZE);
	free(k);

	/* No room between the kernel's footprint and initrd_addr_max, and not loadable above 4G. */
	f.initrd_addr_max = FAKE_PREF + FAKE_INIT_SIZE + 0x10000;
	f.xloadflags = BOOT_XLF_KERNEL_64;
	k = make_bzimage(&f, &ksize);
	guest_reset(GUEST_SIZE);
	capture_begin();
	CHECK_EQ(load_buf(k, ksize, initrd, rd_size, "", 0, &e), -ENOMEM);
	msg = capture_end();
	CHECK_MSG(msg, "fake-initrd");
	CHECK_MSG(msg, "do not fit");
	CHECK_EQ(e.rip, 0);
	free(k);
	free(initrd);
}

static void test_bzimage_initrd_above_4g(void)
{
	struct fake_bz f = fake_default;
	size_t ksize, rd_size = 2 * MiB;
	uint8_t *k, *initrd = make_initrd(rd_size), *high = malloc(4 * MiB);
	struct boot_entry e;

	/* Low RAM holds the kernel but not the initrd; the kernel can take it above 4 GiB. */
	f.initrd_addr_max = FAKE_PREF + FAKE_INIT_SIZE + 0x10000;
	k = make_bzimage(&f, &ksize);
	guest_reset(GUEST_SIZE);
	CHECK_EQ(guest_mem_add(&gm, LAYOUT_4G, 4 * MiB, high), 0);
	CHECK_EQ(load_buf(k, ksize, initrd, rd_size, "", 0, &e), 0);
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x218, 4), 2 * MiB);
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x0c0, 4), 1);
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x21c, 4), rd_size);
	CHECK(!memcmp(high + 2 * MiB, initrd, rd_size));
	CHECK_EQ(rd(LAYOUT_BOOT_PARAMS + 0x1e8, 1), 5); /* RAM above 4 GiB is in the map too */
	free(k);
	free(initrd);
	free(high);
}

/* Expect failure with ret, a message naming the fake kernel and containing what. */
static void expect_bz_error(const struct fake_bz *f, const char *cmdline, int ret, const char *what)
{
	size_t ksize;
	uint8_t *k = make_bzimage(f, &ksize);
	struct boot_entry e;
	const char *msg;

	capture_begin();
	CHECK_EQ(load_buf(k, ksize, NULL, 0, cmdline, 0, &e), ret);
	msg = capture_end();
	CHECK_MSG(msg, "fake-kernel");
	CHECK_MSG(msg, what);
	CHECK(!strchr(msg, '\n') || strchr(msg, '\n') == msg + strlen(msg) - 1);
	free(k);
}

static void test_bzimage_errors(void)
{
	struct fake_bz f = fake_default;
	char longcmd[3000];
	size_t ksize;
	uint8_t *k;
	struct boot_entry e;

	guest_reset(GUEST_SIZE);
	f.version = 0x0205;
	expect_bz_error(&f, "", -ENOEXEC, "2.05 is too old");
	f = fake_default;
	f.xloadflags = 0;
	expect_bz_error(&f, "", -ENOEXEC, "64-bit");
	f = fake_default;
	f.loadflags = 0;
	expect_bz_error(&f, "", -ENOEXEC, "zImage");
	f = fake_default;
	f.syssize = FAKE_PM_SIZE / 16 + 1;
	expect_bz_error(&f, "", -ENOEXEC, "truncated");
	memset(longcmd, 'x', sizeof(longcmd) - 1);
	longcmd[sizeof(longcmd) - 1] = 0;
	expect_bz_error(&fake_default, longcmd, -EINVAL, "command line");
	/* Exactly cmdline_size bytes is fine. */
	longcmd[2047] = 0;
	k = make_bzimage(&fake_default, &ksize);
	CHECK_EQ(load_buf(k, ksize, NULL, 0, longcmd, 0, &e), 0);
	CHECK_EQ(rd(LAYOUT_CMDLINE + 2047, 1), 0);
	/* Truncated inside the setup code, and inside the header itself. */
	capture_begin();
	CHECK_EQ(load_buf(k, FAKE_SETUP_SIZE - 100, NULL, 0, "", 0, &e), -ENOEXEC);
	CHECK_MSG(capture_end(), "truncated");
	capture_begin();
	CHECK_EQ(load_buf(k, 0x210, NULL, 0, "", 0, &e), -ENOEXEC);
	CHECK_MSG(capture_end(), "truncated");
	/* Guest too small for init_size: -ENOMEM saying how much is needed. */
	guest_reset(20 * MiB);
	capture_begin();
	CHECK_EQ(load_buf(k, ksize, NULL, 0, "", 0, &e), -ENOMEM);
	CHECK_MSG(capture_end(), "24 MiB");
	free(k);
}

static char *write_tmp(const char *name, const void *data, size_t size)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		abort();
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		abort();
	return path;
}

static void expect_file_error(const char *kernel, const char *initrd, int ret, const char *what)
{
	struct boot_config cfg = { kernel, initrd, "", 0, NULL };
	struct boot_entry e;
	const char *msg;

	capture_begin();
	CHECK_EQ(boot_load(&gm, &cfg, &e), ret);
	msg = capture_end();
	CHECK_MSG(msg, initrd && ret != -ENOEXEC ? initrd : kernel);
	CHECK_MSG(msg, what);
	CHECK_EQ(e.rip, 0);
}

static void test_files(void)
{
	static const char text[] = "#!/bin/sh\necho this is not a kernel\n";
	uint8_t random_bytes[16384];
	size_t ksize, rd_size = 5000;
	uint8_t *k = make_bzimage(&fake_default, &ksize), *initrd = make_initrd(rd_size);
	char *kpath = write_tmp("bzImage", k, ksize),
	     *rpath = write_tmp("initrd.img", initrd, rd_size);
	char *txt = write_tmp("text", text, sizeof(text) - 1), *empty = write_tmp("empty", "", 0);
	char *missing = write_tmp("gone", "", 0), *rnd;
	struct boot_config cfg = { kpath, rpath, "quiet", 0, NULL };
	struct boot_entry e;

	srand(42);
	for (size_t i = 0; i < sizeof(random_bytes); i++)
		random_bytes[i] = (uint8_t)rand();
	rnd = write_tmp("random", random_bytes, sizeof(random_bytes));
	unlink(missing);
	guest_reset(GUEST_SIZE);
	CHECK_EQ(boot_load(&gm, &cfg, &e), 0);
	CHECK_EQ(e.rip, FAKE_PREF + 0x200);
	CHECK(!memcmp(guest_buf + rd(LAYOUT_BOOT_PARAMS + 0x218, 4), initrd, rd_size));

	expect_file_error(missing, NULL, -ENOENT, "No such file");
	expect_file_error(kpath, missing, -ENOENT, "initrd");
	expect_file_error(txt, NULL, -ENOEXEC, "not a bootable kernel");
	expect_file_error(rnd, NULL, -ENOEXEC, "not a bootable kernel");
	expect_file_error(empty, NULL, -ENOEXEC, "empty");
	expect_file_error(kpath, empty, -EINVAL, "empty");
	expect_file_error(tmpdir, NULL, -EINVAL, "not a regular file");
	/* Larger than guest RAM: refused before reading it all. */
	guest_reset(MiB + 4096);
	expect_file_error(rnd, NULL, -ENOEXEC, "not a bootable");
	gm.ram_size = 1000;
	expect_file_error(rnd, NULL, -EFBIG, "guest RAM");
	unlink(kpath);
	unlink(rpath);
	unlink(txt);
	unlink(empty);
	unlink(rnd);
	free(kpath);
	free(rpath);
	free(txt);
	free(empty);
	free(missing);
	free(rnd);
	free(k);
	free(initrd);
}

static void test_e820(void)
{
	struct boot_e820_entry map[BOOT_E820_MAX];
	uint8_t *high = malloc(MiB);
	int n;

	guest_reset(GUEST_SIZE);
	CHECK_EQ(guest_mem_add(&gm, LAYOUT_4G, MiB, high), 0);
	n = boot_e820_build(&gm, map, BOOT_E820_MAX);
	CHECK_EQ(n, 5);
	CHECK_EQ(map[0].addr, 0);
	CHECK_EQ(map[0].size, LAYOUT_EBDA);
	CHECK_EQ(map[1].type, BOOT_E820_RESERVED);
	CHECK_EQ(map[2].addr, MiB);
	CHECK_EQ(map[2].size, GUEST_SIZE - MiB);
	CHECK_EQ(map[3].addr, LAYOUT_KVM_IDENTITY_MAP);
	CHECK_EQ(map[4].addr, LAYOUT_4G);
	CHECK_EQ(map[4].size, MiB);
	CHECK_EQ(map[4].type, BOOT_E820_RAM);
	CHECK_EQ(boot_e820_build(&gm, map, 3), -ENOSPC);

	/* Two adjacent regions are merged; a region inside [EBDA, 1 MiB) yields no RAM. */
	memset(&gm, 0, sizeof(gm));
	CHECK_EQ(guest_mem_add(&gm, 2 * MiB, MiB, high), 0);
	CHECK_EQ(guest_mem_add(&gm, 0, 2 * MiB, guest_buf), 0);
	CHECK_EQ(guest_mem_add(&gm, 0x400000, 0x1000, guest_buf + 4 * MiB), 0);
	n = boot_e820_build(&gm, map, BOOT_E820_MAX);
	CHECK_EQ(n, 5);
	CHECK_EQ(map[2].addr, MiB);
	CHECK_EQ(map[2].size, 2 * MiB);
	CHECK_EQ(map[3].addr, 0x400000);
	free(high);
}

/* A distribution kernel, when one is around: $KVMBOX_TEST_BZIMAGE or /boot/vmlinuz-*. */
static char real_kernel[4096];

static const char *real_bzimage_path(void)
{
	const char *path = getenv("KVMBOX_TEST_BZIMAGE");
	glob_t g = { 0 };

	if (!path && !glob("/boot/vmlinuz-*", 0, NULL, &g) && g.gl_pathc)
		path = g.gl_pathv[0];
	if (path && !access(path, R_OK))
		snprintf(real_kernel, sizeof(real_kernel), "%s", path);
	globfree(&g);
	return real_kernel[0] ? real_kernel : NULL;
}

static void test_real_bzimage(void)
{
	uint64_t size = 512 * MiB;
	struct guest_mem real = { 0 };
	struct boot_config cfg = { real_kernel, NULL, "console=ttyS0", 0xe0000, NULL };
	struct boot_entry e;
	uint8_t *ram;

	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (ram == MAP_FAILED) {
		CHECK(0);
		return;
	}
	CHECK_EQ(guest_mem_add(&real, 0, size, ram), 0);
	CHECK_EQ(boot_load(&real, &cfg, &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_LINUX64);
	CHECK_EQ(e.rip & 0xfff, 0x200);
	CHECK(ram[LAYOUT_BOOT_PARAMS + 0x206] >= 0x06 && ram[LAYOUT_BOOT_PARAMS + 0x207] == 2);
	CHECK_EQ(ram[LAYOUT_BOOT_PARAMS + 0x1e8], 4);
	CHECK_EQ(ram[LAYOUT_BOOT_PARAMS + 0x210], 0xff);
	printf("  %s: protocol 2.%02u, entry 0x%llx\n", real_kernel,
	       ram[LAYOUT_BOOT_PARAMS + 0x206], (unsigned long long)e.rip);
	munmap(ram, size);
}

int main(void)
{
	guest_buf = malloc(GUEST_SIZE);
	if (!guest_buf || !mkdtemp(tmpdir))
		return 1;
	RUN_TEST(test_bzimage_full);
	RUN_TEST(test_bzimage_nonrelocatable_no_initrd);
	RUN_TEST(test_bzimage_initrd_addr_max);
	RUN_TEST(test_bzimage_initrd_above_4g);
	RUN_TEST(test_bzimage_errors);
	RUN_TEST(test_files);
	RUN_TEST(test_e820);
	if (real_bzimage_path())
		RUN_TEST(test_real_bzimage);
	else
		printf("SKIP test_real_bzimage: no /boot/vmlinuz-* (set KVMBOX_TEST_BZIMAGE)\n");
	rmdir(tmpdir);
	free(guest_buf);
	TEST_EXIT();
}
