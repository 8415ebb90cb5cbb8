/* Unit tests for the ELF-based boot paths: PVH (Xen PHYS32_ENTRY note) and Multiboot v1. */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/boot_e820.h"
#include "arch/x86/boot_multiboot.h"
#include "arch/x86/boot_pvh.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "guest_mem.h"
#include "test.h"

#define MiB (1ull << 20)
#define GUEST_SIZE (64 * MiB)
#define SEG_OFF 0x1000 /* file offset of the loadable segment in the synthetic images */
#define SEG_FILESZ 0x2000
#define SEG_MEMSZ 0x3000

static uint8_t *guest_buf;
static struct guest_mem gm;

static void guest_reset(void)
{
	memset(&gm, 0, sizeof(gm));
	memset(guest_buf, 0xa5, GUEST_SIZE);
	if (guest_mem_add(&gm, 0, GUEST_SIZE, guest_buf))
		abort();
}

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

struct fake_elf {
	int is64;
	uint64_t paddr, vaddr, entry;
	uint64_t filesz, memsz, offset;
	int pvh_note; /* add a Xen PHYS32_ENTRY note (after an unrelated GNU note) */
	uint32_t pvh_entry;
	int mb_header; /* add a multiboot header at 0x100 */
	uint32_t mb_flags;
	uint32_t mb_checksum_delta;
	uint16_t machine; /* 0 = the class's x86 */
	/* Non-zero: the second program header is a PT_LOAD of the same bytes at this paddr (and
	 * vaddr) instead of the note segment. */
	uint64_t paddr2;
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Notes at 0x200: a GNU build-id-ish note first, so the search must step over it. */
static size_t put_notes(uint8_t *p, uint32_t entry)
{
	static const uint32_t gnu[3] = { 4, 8, 3 }; /* namesz, descsz, type */
	const uint32_t xen[3] = { 4, 4, BOOT_PVH_NOTE_PHYS32_ENTRY };

	memcpy(p, gnu, sizeof(gnu));
	memcpy(p + 12, "GNU", 4);
	memset(p + 16, 0x11, 8);
	memcpy(p + 24, xen, sizeof(xen));
	memcpy(p + 36, "Xen", 4);
	put32(p + 40, entry);
	return 44;
}

static void put_mb_header(uint8_t *p, uint32_t flags, uint32_t delta)
{
	put32(p, BOOT_MB_HEADER_MAGIC);
	put32(p + 4, flags);
	put32(p + 8, -(BOOT_MB_HEADER_MAGIC + flags) + delta);
}

static uint8_t *make_elf(const struct fake_elf *f, size_t *size)
{
	uint8_t *buf;
	size_t notes_len = 0;

	*size = SEG_OFF + SEG_FILESZ;
	buf = calloc(1, *size);
	for (size_t i = 0; i < SEG_FILESZ; i++)
		buf[SEG_OFF + i] = (uint8_t)(i * 13 + 1);
	if (f->pvh_note)
		notes_len = put_notes(buf + 0x200, f->pvh_entry);
	if (f->mb_header)
		put_mb_header(buf + 0x100, f->mb_flags, f->mb_checksum_delta);
	if (f->is64) {
		Elf64_Ehdr eh = { .e_type = ET_EXEC,
				  .e_machine = f->machine ? f->machine : EM_X86_64,
				  .e_version = EV_CURRENT,
				  .e_entry = f->entry,
				  .e_phoff = 64,
				  .e_ehsize = 64,
				  .e_phentsize = sizeof(Elf64_Phdr),
				  .e_phnum = 2 };
		Elf64_Phdr ph[2] = {
			{ .p_type = PT_LOAD,
			  .p_offset = f->offset,
			  .p_vaddr = f->vaddr,
			  .p_paddr = f->paddr,
			  .p_filesz = f->filesz,
			  .p_memsz = f->memsz },
			{ .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = notes_len },
		};

		if (f->paddr2)
			ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD,
					      .p_offset = f->offset,
					      .p_vaddr = f->paddr2,
					      .p_paddr = f->paddr2,
					      .p_filesz = f->filesz,
					      .p_memsz = f->memsz };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(buf, &eh, sizeof(eh));
		memcpy(buf + 64, ph, sizeof(ph));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_EXEC,
				  .e_machine = f->machine ? f->machine : EM_386,
				  .e_version = EV_CURRENT,
				  .e_entry = (uint32_t)f->entry,
				  .e_phoff = 52,
				  .e_ehsize = 52,
				  .e_phentsize = sizeof(Elf32_Phdr),
				  .e_phnum = 2 };
		Elf32_Phdr ph[2] = {
			{ .p_type = PT_LOAD,
			  .p_offset = (uint32_t)f->offset,
			  .p_vaddr = (uint32_t)f->vaddr,
			  .p_paddr = (uint32_t)f->paddr,
			  .p_filesz = (uint32_t)f->filesz,
			  .p_memsz = (uint32_t)f->memsz },
			{ .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = (uint32_t)notes_len },
		};

		if (f->paddr2)
			ph[1] = (Elf32_Phdr){ .p_type = PT_LOAD,
					      .p_offset = (uint32_t)f->offset,
					      .p_vaddr = (uint32_t)f->paddr2,
					      .p_paddr = (uint32_t)f->paddr2,
					      .p_filesz = (uint32_t)f->filesz,
					      .p_memsz = (uint32_t)f->memsz };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(buf, &eh, sizeof(eh));
		memcpy(buf + 52, ph, sizeof(ph));
	}
	return buf;
}

static const struct fake_elf pvh_default = {
	.is64 = 1,
	.paddr = 16 * MiB,
	.vaddr = 0xffffffff81000000ull,
	.entry = 0xffffffff81000000ull,
	.filesz = SEG_FILESZ,
	.memsz = SEG_MEMSZ,
	.offset = SEG_OFF,
	.pvh_note = 1,
	.pvh_entry = 16 * MiB + 0x100,
};

static uint8_t *make_initrd(size_t size)
{
	uint8_t *p = malloc(size);

	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i ^ 0x3a);
	return p;
}

static int load(const void *k, size_t ksize, const void *rd_buf, size_t rd_size,
		const char *cmdline, struct boot_entry *e)
{
	struct boot_config cfg = { "fake-elf", rd_buf ? "/boot/fake-initrd.img" : NULL, cmdline,
				   0xe0000, NULL };

	return boot_load_buffer(&gm, &cfg, k, ksize, rd_buf, rd_size, e);
}

static void expect_error(const uint8_t *k, size_t ksize, int ret, const char *what)
{
	struct boot_entry e;
	const char *msg;

	capture_begin();
	CHECK_EQ(load(k, ksize, NULL, 0, "", &e), ret);
	msg = capture_end();
	CHECK_MSG(msg, "fake-elf");
	CHECK_MSG(msg, what);
	CHECK_EQ(e.rip, 0);
}

static void check_segment_loaded(uint64_t paddr)
{
	uint8_t zeros[SEG_MEMSZ - SEG_FILESZ] = { 0 };

	for (size_t i = 0; i < SEG_FILESZ; i++) {
		if (guest_buf[paddr + i] != (uint8_t)(i * 13 + 1)) {
			CHECK(0 && "segment contents");
			break;
		}
	}
	CHECK(!memcmp(guest_buf + paddr + SEG_FILESZ, zeros, sizeof(zeros))); /* bss zeroed */
	CHECK_EQ(guest_buf[paddr + SEG_MEMSZ], 0xa5); /* and nothing beyond */
}

static void test_pvh(void)
{
	size_t ksize, rd_size = 123457;
	uint8_t *k = make_elf(&pvh_default, &ksize), *initrd = make_initrd(rd_size);
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	struct hvm_memmap_table_entry mm[4];
	struct boot_entry e;
	char cmd[32] = { 0 };

	guest_reset();
	CHECK_EQ(load(k, ksize, initrd, rd_size, "console=hvc0", &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_PVH);
	CHECK(e.format && !strcmp(e.format, "ELF vmlinux (PVH)"));
	CHECK_EQ(e.rip, 16 * MiB + 0x100);
	CHECK_EQ(e.rbx, LAYOUT_BOOT_INFO);
	check_segment_loaded(16 * MiB);
	CHECK_EQ(guest_mem_read(&gm, LAYOUT_BOOT_INFO, &si, sizeof(si)), 0);
	CHECK_EQ(si.magic, 0x336ec578);
	CHECK_EQ(si.version, 1);
	CHECK_EQ(si.flags, 0);
	CHECK_EQ(si.cmdline_paddr, LAYOUT_CMDLINE);
	CHECK_EQ(si.rsdp_paddr, 0xe0000);
	CHECK_EQ(si.nr_modules, 1);
	CHECK_EQ(si.memmap_entries, 4);
	CHECK_EQ(guest_mem_read(&gm, si.cmdline_paddr, cmd, sizeof(cmd)), 0);
	CHECK(!strcmp(cmd, "console=hvc0"));
	CHECK_EQ(guest_mem_read(&gm, si.modlist_paddr, &mod, sizeof(mod)), 0);
	CHECK_EQ(mod.size, rd_size);
	CHECK_EQ(mod.paddr & 0xfff, 0);
	CHECK_EQ(mod.paddr, (GUEST_SIZE - rd_size) & ~0xfffull);
	CHECK(!memcmp(guest_buf + mod.paddr, initrd, rd_size));
	CHECK_EQ(guest_mem_read(&gm, si.memmap_paddr, mm, sizeof(mm)), 0);
	CHECK_EQ(mm[0].addr, 0);
	CHECK_EQ(mm[0].size, LAYOUT_EBDA);
	CHECK_EQ(mm[0].type, BOOT_E820_RAM);
	CHECK_EQ(mm[1].addr, LAYOUT_EBDA);
	CHECK_EQ(mm[1].type, BOOT_E820_RESERVED);
	CHECK_EQ(mm[2].addr, MiB);
	CHECK_EQ(mm[2].size, GUEST_SIZE - MiB);
	CHECK_EQ(mm[2].type, BOOT_E820_RAM);
	CHECK_EQ(mm[3].type, BOOT_E820_RESERVED);
	CHECK_EQ(mm[3].reserved, 0);

	/* No initrd: no module list. */
	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "", &e), 0);
	CHECK_EQ(guest_mem_read(&gm, LAYOUT_BOOT_INFO, &si, sizeof(si)), 0);
	CHECK_EQ(si.nr_modules, 0);
	CHECK_EQ(si.modlist_paddr, 0);
	free(k);
	free(initrd);
}

static void test_pvh_bad_segments(void)
{
	struct fake_elf f;
	size_t ksize;
	uint8_t *k;

	guest_reset();
	f = pvh_default;
	f.paddr = 256 * MiB; /* beyond the 64 MiB guest */
	f.pvh_entry = 256 * MiB;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOMEM, "more memory");
	free(k);

	f = pvh_default;
	f.paddr = 0xfffffffffffff000ull; /* paddr + memsz wraps */
	f.pvh_entry = 0xfffff000;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "outside");
	free(k);

	f = pvh_default;
	f.paddr = 0x8000; /* Linux kernels stay above 1 MiB, unlike multiboot ones */
	f.pvh_entry = 0x8000;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "outside [0x100000, 0x100000000)");
	free(k);

	f = pvh_default;
	f.memsz = f.filesz - 1;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "larger than its memory size");
	free(k);

	f = pvh_default;
	f.offset = 0xfffffffffffff000ull; /* p_offset + filesz wraps */
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "truncated");
	free(k);

	f = pvh_default;
	f.pvh_entry = 0x2000000; /* not inside the loaded segment */
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "PVH entry");
	free(k);

	/* Truncated program header table: no longer recognisable, so "not bootable". */
	k = make_elf(&pvh_default, &ksize);
	expect_error(k, 64 + 56, -ENOEXEC, "not a bootable kernel");
	/* An ELF with neither a PVH note nor a multiboot header. */
	f = pvh_default;
	f.pvh_note = 0;
	free(k);
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "not a bootable kernel");
	free(k);
}

static const struct fake_elf mb_default = {
	.is64 = 0,
	.paddr = MiB,
	.vaddr = 0xc0100000,
	.entry = 0xc0100010,
	.filesz = SEG_FILESZ,
	.memsz = SEG_MEMSZ,
	.offset = SEG_OFF,
	.mb_header = 1,
	.mb_flags = BOOT_MB_PAGE_ALIGN | BOOT_MB_MEMORY_INFO,
};

/* The multiboot info as a 32-bit kernel would walk it. */
static void check_mb_info(int with_module, size_t rd_size, const uint8_t *initrd)
{
	struct multiboot_info info;
	struct multiboot_mmap_entry mm[4];
	struct multiboot_mod_list mod;
	char s[64] = { 0 };
	uint32_t want = BOOT_MB_INFO_MEMORY | BOOT_MB_INFO_CMDLINE | BOOT_MB_INFO_MEM_MAP |
			BOOT_MB_INFO_BOOT_LOADER_NAME | (with_module ? BOOT_MB_INFO_MODS : 0);

	CHECK_EQ(guest_mem_read(&gm, LAYOUT_BOOT_INFO, &info, sizeof(info)), 0);
	CHECK_EQ(info.flags, want);
	CHECK_EQ(info.mem_lower, 639);
	CHECK_EQ(info.mem_upper, (GUEST_SIZE - MiB) / 1024);
	CHECK_EQ(guest_mem_read(&gm, info.cmdline, s, sizeof(s)), 0);
	CHECK(!strcmp(s, "fake-elf mb args")); /* the path first, as GRUB and QEMU do */
	CHECK_EQ(guest_mem_read(&gm, info.boot_loader_name, s, sizeof(s)), 0);
	CHECK(!strcmp(s, "kvmbox"));
	CHECK_EQ(info.mmap_length, 4 * 24);
	CHECK_EQ(guest_mem_read(&gm, info.mmap_addr, mm, sizeof(mm)), 0);
	CHECK_EQ(mm[0].size, 20);
	CHECK_EQ(mm[0].addr, 0);
	CHECK_EQ(mm[0].len, LAYOUT_EBDA);
	CHECK_EQ(mm[0].type, BOOT_E820_RAM);
	CHECK_EQ(mm[1].type, BOOT_E820_RESERVED);
	CHECK_EQ(mm[2].addr, MiB);
	CHECK_EQ(mm[2].len, GUEST_SIZE - MiB);
	CHECK_EQ(mm[3].size, 20);
	CHECK_EQ(mm[3].addr, LAYOUT_KVM_IDENTITY_MAP);
	if (!with_module) {
		CHECK_EQ(info.mods_count, 0);
		return;
	}
	CHECK_EQ(info.mods_count, 1);
	CHECK_EQ(guest_mem_read(&gm, info.mods_addr, &mod, sizeof(mod)), 0);
	CHECK_EQ(mod.mod_start & 0xfff, 0);
	CHECK_EQ(mod.mod_end, mod.mod_start + rd_size);
	CHECK_EQ(mod.mod_start, (GUEST_SIZE - rd_size) & ~0xfffull);
	CHECK(!memcmp(guest_buf + mod.mod_start, initrd, rd_size));
	CHECK_EQ(guest_mem_read(&gm, mod.cmdline, s, sizeof(s)), 0);
	CHECK(!strcmp(s, "/boot/fake-initrd.img"));
}

static void test_multiboot_elf32(void)
{
	size_t ksize, rd_size = 7777;
	uint8_t *k = make_elf(&mb_default, &ksize), *initrd = make_initrd(rd_size);
	struct boot_entry e;

	guest_reset();
	CHECK_EQ(load(k, ksize, initrd, rd_size, "mb args", &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_MULTIBOOT);
	CHECK(e.format && !strcmp(e.format, "multiboot ELF32"));
	CHECK_EQ(e.rip, MiB + 0x10); /* e_entry translated from vaddr to paddr */
	CHECK_EQ(e.rax, 0x2badb002);
	CHECK_EQ(e.rbx, LAYOUT_BOOT_INFO);
	check_segment_loaded(MiB);
	check_mb_info(1, rd_size, initrd);

	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
	check_mb_info(0, 0, NULL);
	free(k);
	free(initrd);
}

static void test_multiboot_elf64(void)
{
	struct fake_elf f = mb_default;
	size_t ksize;
	uint8_t *k;
	struct boot_entry e;

	f.is64 = 1;
	f.paddr = 2 * MiB;
	f.vaddr = 2 * MiB;
	f.entry = 2 * MiB + 0x40;
	k = make_elf(&f, &ksize);
	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
	CHECK(e.format && !strcmp(e.format, "multiboot ELF64"));
	CHECK_EQ(e.rip, 2 * MiB + 0x40);
	check_segment_loaded(2 * MiB);
	free(k);

	/* Segments above 4 GiB cannot be reached by a 32-bit entry. */
	f.paddr = 0x100000000ull;
	f.vaddr = f.paddr;
	f.entry = f.paddr;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "outside");
	free(k);
}

/* A flat binary: 0x40 bytes of code, the header, more code (0x1000 bytes); loaded at base via
 * the kludge. */
static uint8_t *make_flat_at(uint32_t base, uint32_t flags, uint32_t load_end, uint32_t bss_end,
			     size_t *size)
{
	uint8_t *buf;

	*size = 0x1000;
	buf = malloc(*size);
	for (size_t i = 0; i < *size; i++)
		buf[i] = (uint8_t)(i * 5 + 9);
	put_mb_header(buf + 0x40, flags, 0);
	put32(buf + 0x4c, base + 0x40); /* header_addr */
	put32(buf + 0x50, base);	/* load_addr */
	put32(buf + 0x54, load_end);	/* load_end_addr */
	put32(buf + 0x58, bss_end);	/* bss_end_addr */
	put32(buf + 0x5c, base + 0x80); /* entry_addr */
	return buf;
}

static uint8_t *make_flat(uint32_t flags, uint32_t load_end, uint32_t bss_end, size_t *size)
{
	return make_flat_at(0x200000, flags, load_end, bss_end, size);
}

static void test_multiboot_kludge(void)
{
	uint32_t flags = BOOT_MB_AOUT_KLUDGE | BOOT_MB_MEMORY_INFO;
	size_t ksize, rd_size = 4096 * 3;
	uint8_t *k = make_flat(flags, 0, 0x204000, &ksize), *initrd = make_initrd(rd_size);
	uint8_t zeros[0x3000] = { 0 };
	struct boot_entry e;

	guest_reset();
	CHECK_EQ(load(k, ksize, initrd, rd_size, "mb args", &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_MULTIBOOT);
	CHECK(e.format && !strcmp(e.format, "multiboot a.out kludge"));
	CHECK_EQ(e.rip, 0x200080);
	CHECK_EQ(e.rax, 0x2badb002);
	CHECK(!memcmp(guest_buf + 0x200000, k, ksize));
	CHECK(!memcmp(guest_buf + 0x201000, zeros, sizeof(zeros)));
	CHECK_EQ(guest_buf[0x204000], 0xa5);
	check_mb_info(1, rd_size, initrd);
	free(k);

	/* Explicit load_end_addr: only that much of the file is loaded. */
	k = make_flat(flags, 0x200800, 0, &ksize);
	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
	CHECK(!memcmp(guest_buf + 0x200000, k, 0x800));
	CHECK_EQ(guest_buf[0x200800], 0xa5);
	free(k);

	k = make_flat(flags, 0x300000, 0, &ksize); /* load_end_addr past the end of the file */
	expect_error(k, ksize, -ENOEXEC, "truncated");
	free(k);
	k = make_flat(flags, 0, 0x100000, &ksize); /* bss_end before the image end */
	expect_error(k, ksize, -ENOEXEC, "bss_end_addr");
	free(k);
	k = make_flat(flags, 0, 0, &ksize);
	put32(k + 0x4c, 0x300040); /* header_addr - load_addr > the header's file offset */
	expect_error(k, ksize, -ENOEXEC, "header_addr");
	free(k);
	/* Without bit 16 a flat binary cannot be loaded. */
	k = make_flat(BOOT_MB_MEMORY_INFO, 0, 0, &ksize);
	expect_error(k, ksize, -ENOEXEC, "must be ELF");
	free(k);
	free(initrd);
}

/*
 * A multiboot kernel below 1 MiB shaped like kvm-unit-tests' realmode.flat: PT_LOADs at 0x8000
 * and 0xb000 (together over 0x9000-0xdfff, where 64-bit boots get their page tables), entry
 * 0x8018.
 */
static const struct fake_elf mb_low = {
	.paddr = 0x8000,
	.vaddr = 0x8000,
	.entry = 0x8018,
	.filesz = SEG_FILESZ,
	.memsz = SEG_MEMSZ,
	.offset = SEG_OFF,
	.mb_header = 1,
	.mb_flags = BOOT_MB_PAGE_ALIGN | BOOT_MB_MEMORY_INFO,
	.paddr2 = 0xb000,
};

/* Both segments of a mb_low-like image hold the same bytes. */
static void check_low_segments(uint64_t paddr, uint64_t paddr2)
{
	check_segment_loaded(paddr2);
	CHECK(!memcmp(guest_buf + paddr, guest_buf + paddr2, SEG_MEMSZ));
}

static void test_multiboot_low(void)
{
	size_t ksize, rd_size = 7777;
	uint8_t *k = make_elf(&mb_low, &ksize), *initrd = make_initrd(rd_size);
	struct boot_entry e;
	uint64_t v;

	guest_reset();
	CHECK_EQ(load(k, ksize, initrd, rd_size, "mb args", &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_MULTIBOOT);
	CHECK(e.format && !strcmp(e.format, "multiboot ELF32"));
	CHECK_EQ(e.rip, 0x8018);
	CHECK_EQ(e.rax, 0x2badb002);
	CHECK_EQ(e.rbx, LAYOUT_BOOT_INFO);
	check_low_segments(0x8000, 0xb000);
	check_mb_info(1, rd_size, initrd); /* the module still goes to the top of RAM */
	/* What vm.c writes after the kernel: the GDT, and no page tables over the kernel. */
	CHECK_EQ(cpu_write_boot_tables(&gm, e.mode), 0);
	check_low_segments(0x8000, 0xb000);
	memcpy(&v, guest_buf + LAYOUT_GDT + 0x10, sizeof(v));
	CHECK_EQ(v, 0x00af9b000000ffffull); /* the 64-bit code descriptor */
	/* A 64-bit boot still gets them. */
	guest_reset();
	CHECK_EQ(cpu_write_boot_tables(&gm, BOOT_MODE_LINUX64), 0);
	memcpy(&v, guest_buf + LAYOUT_PML4, sizeof(v));
	CHECK_EQ(v, LAYOUT_PDPT | 3);
	free(k);

	/* Right up to the edges of what kvmbox writes or reserves. */
	{
		static const uint64_t ok[][2] = {
			{ 0x530, 0x30000 },		     /* after the GDT, the command line */
			{ 0x6000 - SEG_MEMSZ, 0x7000 },	     /* around the multiboot info */
			{ 0x1000, LAYOUT_EBDA - SEG_MEMSZ }, /* up to the EBDA */
		};
		struct fake_elf f = mb_low;

		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			f.paddr = f.vaddr = ok[i][0];
			f.entry = ok[i][0] + 0x18;
			f.paddr2 = ok[i][1];
			k = make_elf(&f, &ksize);
			guest_reset();
			CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
			CHECK_EQ(e.rip, ok[i][0] + 0x18);
			check_low_segments(ok[i][0], ok[i][1]);
			free(k);
		}
	}
	free(initrd);
}

/* Loading fails with exactly this one-line error and writes nothing to guest RAM. */
static void expect_low_error(const uint8_t *k, size_t ksize, const char *msg)
{
	struct boot_entry e;
	char want[512];
	uint8_t *fresh = malloc(GUEST_SIZE);

	snprintf(want, sizeof(want), "\rkvmbox: error: kernel fake-elf: %s\r\n", msg);
	guest_reset();
	capture_begin();
	CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), -ENOEXEC);
	if (strcmp(capture_end(), want)) {
		fprintf(stderr, "  %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, captured,
			want);
		test_failed_++;
	}
	memset(fresh, 0xa5, GUEST_SIZE);
	CHECK(!memcmp(guest_buf, fresh, GUEST_SIZE));
	free(fresh);
}

static void expect_low_elf_error(uint64_t paddr, uint64_t paddr2, const char *msg)
{
	struct fake_elf f = mb_low;
	size_t ksize;
	uint8_t *k;

	f.paddr = f.vaddr = paddr;
	f.entry = paddr + 0x18;
	f.paddr2 = paddr2;
	k = make_elf(&f, &ksize);
	expect_low_error(k, ksize, msg);
	free(k);
}

static void test_multiboot_low_overlaps(void)
{
	expect_low_elf_error(0x5000, 0xb000,
			     "ELF segment [0x5000, 0x8000) overlaps the multiboot information "
			     "kvmbox writes at [0x6000, 0x7000)");
	expect_low_elf_error(0x0, 0xb000,
			     "ELF segment [0x0, 0x3000) overlaps the boot GDT kvmbox writes at "
			     "[0x500, 0x530)");
	/* The second segment is the bad one: the first is not loaded either. */
	expect_low_elf_error(0x10000, 0x2e000,
			     "ELF segment [0x2e000, 0x31000) overlaps the command line and module "
			     "names kvmbox writes at [0x20000, 0x30000)");
	expect_low_elf_error(0x8000, 0x9d000,
			     "ELF segment [0x9d000, 0xa0000) overlaps the EBDA, MP table, ACPI "
			     "tables and BIOS area kvmbox reserves at [0x9fc00, 0x100000)");
	expect_low_elf_error(0xff000, 0x200000,
			     "ELF segment [0xff000, 0x102000) overlaps the EBDA, MP table, ACPI "
			     "tables and BIOS area kvmbox reserves at [0x9fc00, 0x100000)");
}

static void test_multiboot_kludge_low(void)
{
	uint32_t flags = BOOT_MB_AOUT_KLUDGE | BOOT_MB_MEMORY_INFO;
	uint8_t zeros[0x3000] = { 0 };
	struct boot_entry e;
	size_t ksize;
	uint8_t *k;

	k = make_flat_at(0x10000, flags, 0, 0x14000, &ksize);
	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
	CHECK(e.format && !strcmp(e.format, "multiboot a.out kludge"));
	CHECK_EQ(e.rip, 0x10080);
	CHECK(!memcmp(guest_buf + 0x10000, k, ksize));
	CHECK(!memcmp(guest_buf + 0x11000, zeros, sizeof(zeros)));
	CHECK_EQ(guest_buf[0x14000], 0xa5);
	check_mb_info(0, 0, NULL);
	free(k);

	k = make_flat_at(0x5000, flags, 0, 0, &ksize); /* ends where the multiboot info starts */
	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
	CHECK(!memcmp(guest_buf + 0x5000, k, ksize));
	free(k);

	k = make_flat_at(0x5800, flags, 0, 0, &ksize);
	expect_low_error(
	    k, ksize,
	    "multiboot image [0x5800, 0x6800) overlaps the multiboot information kvmbox "
	    "writes at [0x6000, 0x7000)");
	free(k);
	k = make_flat_at(0x0, flags, 0, 0, &ksize);
	expect_low_error(k, ksize,
			 "multiboot image [0x0, 0x1000) overlaps the boot GDT kvmbox writes at "
			 "[0x500, 0x530)");
	free(k);
	k = make_flat_at(0x1f000, flags, 0, 0x21000, &ksize);
	expect_low_error(k, ksize,
			 "multiboot image [0x1f000, 0x21000) overlaps the command line and module "
			 "names kvmbox writes at [0x20000, 0x30000)");
	free(k);
	k = make_flat_at(0x9f000, flags, 0, 0, &ksize);
	expect_low_error(k, ksize,
			 "multiboot image [0x9f000, 0xa0000) overlaps the EBDA, MP table, ACPI "
			 "tables and BIOS area kvmbox reserves at [0x9fc00, 0x100000)");
	free(k);
}

/* A module never goes below 1 MiB, even after a kernel there and with little RAM. */
static void test_multiboot_low_module(void)
{
	size_t ksize;
	uint8_t *k = make_elf(&mb_low, &ksize), *initrd = make_initrd(MiB + 0x1000);
	struct multiboot_info info;
	struct multiboot_mod_list mod;
	struct boot_entry e;

	memset(&gm, 0, sizeof(gm));
	memset(guest_buf, 0xa5, GUEST_SIZE);
	CHECK_EQ(guest_mem_add(&gm, 0, 2 * MiB, guest_buf), 0);
	CHECK_EQ(load(k, ksize, initrd, MiB, "mb args", &e), 0);
	CHECK_EQ(guest_mem_read(&gm, LAYOUT_BOOT_INFO, &info, sizeof(info)), 0);
	CHECK_EQ(guest_mem_read(&gm, info.mods_addr, &mod, sizeof(mod)), 0);
	CHECK_EQ(mod.mod_start, MiB);
	CHECK_EQ(mod.mod_end, 2 * MiB);
	capture_begin();
	CHECK_EQ(load(k, ksize, initrd, MiB + 0x1000, "mb args", &e), -ENOMEM);
	CHECK_MSG(capture_end(), "do not fit in guest RAM between 0x100000");
	free(k);
	free(initrd);
}

static void test_multiboot_header_errors(void)
{
	struct fake_elf f = mb_default;
	size_t ksize;
	uint8_t *k;

	guest_reset();
	f.mb_checksum_delta = 1;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "bad checksum");
	free(k);

	f = mb_default;
	f.mb_flags |= 1u << 3; /* an unknown required feature */
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "unsupported features (flags 0x0008)");
	free(k);

	f = mb_default;
	f.mb_flags |= BOOT_MB_VIDEO_MODE;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "video mode");
	free(k);

	/* Unknown optional bits (16-31, other than 16) are ignored. */
	f = mb_default;
	f.mb_flags |= 1u << 20;
	k = make_elf(&f, &ksize);
	guest_reset();
	{
		struct boot_entry e;

		CHECK_EQ(load(k, ksize, NULL, 0, "mb args", &e), 0);
	}
	free(k);

	f = mb_default;
	f.machine = EM_ARM;
	k = make_elf(&f, &ksize);
	expect_error(k, ksize, -ENOEXEC, "not x86");
	free(k);

	/* A header beyond the first 8 KiB does not count. */
	k = calloc(1, 0x3000);
	put_mb_header(k + 0x2000, BOOT_MB_MEMORY_INFO, 0);
	expect_error(k, 0x3000, -ENOEXEC, "not a bootable kernel");
	free(k);
}

/* A PVH note wins over a multiboot header in the same ELF (Linux vmlinux has only the note). */
static void test_pvh_preferred(void)
{
	struct fake_elf f = pvh_default;
	size_t ksize;
	uint8_t *k;
	struct boot_entry e;

	f.mb_header = 1;
	f.mb_flags = BOOT_MB_MEMORY_INFO;
	k = make_elf(&f, &ksize);
	guest_reset();
	CHECK_EQ(load(k, ksize, NULL, 0, "", &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_PVH);
	free(k);
}

/* A real Linux vmlinux (e.g. extracted from a distribution bzImage): $KVMBOX_TEST_VMLINUX. */
static void test_real_vmlinux(void)
{
	uint64_t size = 512 * MiB;
	struct guest_mem real = { 0 };
	struct boot_config cfg = { getenv("KVMBOX_TEST_VMLINUX"), NULL, "console=hvc0", 0xe0000,
				   NULL };
	struct boot_entry e;
	struct hvm_start_info si;
	uint8_t *ram;

	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (ram == MAP_FAILED) {
		CHECK(0);
		return;
	}
	CHECK_EQ(guest_mem_add(&real, 0, size, ram), 0);
	CHECK_EQ(boot_load(&real, &cfg, &e), 0);
	CHECK_EQ(e.mode, BOOT_MODE_PVH);
	CHECK(e.rip >= MiB && e.rip < 4096 * MiB);
	memcpy(&si, ram + LAYOUT_BOOT_INFO, sizeof(si));
	CHECK_EQ(si.magic, BOOT_PVH_MAGIC);
	CHECK_EQ(si.memmap_entries, 4);
	printf("  %s: PVH entry 0x%llx\n", cfg.kernel_path, (unsigned long long)e.rip);
	munmap(ram, size);
}

int main(void)
{
	guest_buf = malloc(GUEST_SIZE);
	if (!guest_buf)
		return 1;
	RUN_TEST(test_pvh);
	RUN_TEST(test_pvh_bad_segments);
	RUN_TEST(test_pvh_preferred);
	RUN_TEST(test_multiboot_elf32);
	RUN_TEST(test_multiboot_elf64);
	RUN_TEST(test_multiboot_kludge);
	RUN_TEST(test_multiboot_low);
	RUN_TEST(test_multiboot_low_overlaps);
	RUN_TEST(test_multiboot_kludge_low);
	RUN_TEST(test_multiboot_low_module);
	RUN_TEST(test_multiboot_header_errors);
	if (getenv("KVMBOX_TEST_VMLINUX"))
		RUN_TEST(test_real_vmlinux);
	else
		printf(
		    "SKIP test_real_vmlinux: set KVMBOX_TEST_VMLINUX to a PVH-capable vmlinux\n");
	free(guest_buf);
	TEST_EXIT();
}
