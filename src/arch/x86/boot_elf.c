/* ELF header, program header and note parsing with every offset checked against the file size. */
#include "arch/x86/boot_elf.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86/boot_format.h"
#include "log.h"

/* Linux vmlinux has a handful; a huge count is a hostile file, not a kernel. */
#define BOOT_ELF_MAX_PHNUM 512

bool boot_elf_is_elf(const uint8_t *data, size_t size)
{
	return size >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG);
}

int boot_elf_parse(struct boot_elf *elf, const uint8_t *data, size_t size, const char **why)
{
	uint64_t table;

	memset(elf, 0, sizeof(*elf));
	elf->data = data;
	elf->size = size;
	if (size < EI_NIDENT || memcmp(data, ELFMAG, SELFMAG)) {
		*why = "no ELF magic";
		return -ENOEXEC;
	}
	if (data[EI_DATA] != ELFDATA2LSB || data[EI_VERSION] != EV_CURRENT) {
		*why = "not a little-endian ELF version 1 file";
		return -ENOEXEC;
	}
	if (data[EI_CLASS] == ELFCLASS64 && size >= sizeof(Elf64_Ehdr)) {
		Elf64_Ehdr eh;

		memcpy(&eh, data, sizeof(eh));
		elf->is64 = true;
		elf->machine = eh.e_machine;
		elf->entry = eh.e_entry;
		elf->phoff = eh.e_phoff;
		elf->phentsize = eh.e_phentsize;
		elf->phnum = eh.e_phnum;
		if (eh.e_type != ET_EXEC || eh.e_phentsize < sizeof(Elf64_Phdr)) {
			*why = "not an ELF executable";
			return -ENOEXEC;
		}
	} else if (data[EI_CLASS] == ELFCLASS32 && size >= sizeof(Elf32_Ehdr)) {
		Elf32_Ehdr eh;

		memcpy(&eh, data, sizeof(eh));
		elf->machine = eh.e_machine;
		elf->entry = eh.e_entry;
		elf->phoff = eh.e_phoff;
		elf->phentsize = eh.e_phentsize;
		elf->phnum = eh.e_phnum;
		if (eh.e_type != ET_EXEC || eh.e_phentsize < sizeof(Elf32_Phdr)) {
			*why = "not an ELF executable";
			return -ENOEXEC;
		}
	} else {
		*why = "truncated ELF header or unknown ELF class";
		return -ENOEXEC;
	}
	if (!elf->phnum || elf->phnum > BOOT_ELF_MAX_PHNUM) {
		*why = "no program headers or too many of them";
		return -ENOEXEC;
	}
	table = (uint64_t)elf->phnum * elf->phentsize;
	if (elf->phoff > size || table > size - elf->phoff) {
		*why = "program header table lies beyond the end of the file (truncated?)";
		return -ENOEXEC;
	}
	return 0;
}

void boot_elf_phdr(const struct boot_elf *elf, unsigned i, struct boot_elf_phdr *ph)
{
	const uint8_t *p = elf->data + elf->phoff + (uint64_t)i * elf->phentsize;

	if (elf->is64) {
		Elf64_Phdr h;

		memcpy(&h, p, sizeof(h));
		*ph = (struct boot_elf_phdr){ h.p_type,	 h.p_offset, h.p_vaddr,
					      h.p_paddr, h.p_filesz, h.p_memsz };
	} else {
		Elf32_Phdr h;

		memcpy(&h, p, sizeof(h));
		*ph = (struct boot_elf_phdr){ h.p_type,	 h.p_offset, h.p_vaddr,
					      h.p_paddr, h.p_filesz, h.p_memsz };
	}
}

/* [off, off+len) inside the file, without overflowing. */
static bool boot_elf_in_file(const struct boot_elf *elf, uint64_t off, uint64_t len)
{
	return off <= elf->size && len <= elf->size - off;
}

static int boot_elf_find_note_in(const uint8_t *p, uint64_t len, const char *name, uint32_t type,
				 const uint8_t **desc, uint32_t *descsz)
{
	uint64_t name_len = strlen(name) + 1;

	while (len >= sizeof(Elf64_Nhdr)) {
		/* Elf32_Nhdr and Elf64_Nhdr are the same three 32-bit words. */
		Elf64_Nhdr nh;
		uint64_t name_pad, desc_pad;

		memcpy(&nh, p, sizeof(nh));
		name_pad = ((uint64_t)nh.n_namesz + 3) & ~3ull;
		desc_pad = ((uint64_t)nh.n_descsz + 3) & ~3ull;
		if (name_pad > len - sizeof(nh) || desc_pad > len - sizeof(nh) - name_pad)
			return -ENOENT;
		if (nh.n_type == type && nh.n_namesz == name_len &&
		    !memcmp(p + sizeof(nh), name, name_len)) {
			*desc = p + sizeof(nh) + name_pad;
			*descsz = nh.n_descsz;
			return 0;
		}
		p += sizeof(nh) + name_pad + desc_pad;
		len -= sizeof(nh) + name_pad + desc_pad;
	}
	return -ENOENT;
}

int boot_elf_find_note(const struct boot_elf *elf, const char *name, uint32_t type,
		       const uint8_t **desc, uint32_t *descsz)
{
	for (unsigned i = 0; i < elf->phnum; i++) {
		struct boot_elf_phdr ph;

		boot_elf_phdr(elf, i, &ph);
		if (ph.type != PT_NOTE || !boot_elf_in_file(elf, ph.offset, ph.filesz))
			continue;
		if (!boot_elf_find_note_in(elf->data + ph.offset, ph.filesz, name, type, desc,
					   descsz))
			return 0;
	}
	return -ENOENT;
}

static int boot_elf_check_one(const struct boot_elf *elf, const struct guest_mem *gm,
			      const char *name, const struct boot_elf_limits *lim,
			      const struct boot_elf_phdr *ph)
{
	const struct boot_range *r;
	uint64_t end;

	if (ph->filesz > ph->memsz || !boot_elf_in_file(elf, ph->offset, ph->filesz)) {
		log_error("kernel %s: ELF segment at file offset 0x%" PRIx64 " (0x%" PRIx64
			  " bytes) is truncated or larger than its memory size",
			  name, ph->offset, ph->filesz);
		return -ENOEXEC;
	}
	if (ph->paddr < lim->min || ph->paddr >= lim->max_end ||
	    ph->memsz > lim->max_end - ph->paddr) {
		log_error("kernel %s: ELF segment [0x%" PRIx64 ", +0x%" PRIx64
			  ") is outside [0x%" PRIx64 ", 0x%" PRIx64
			  ") where kvmbox can load this kernel",
			  name, ph->paddr, ph->memsz, lim->min, lim->max_end);
		return -ENOEXEC;
	}
	end = ph->paddr + ph->memsz; /* cannot wrap: below max_end */
	r = boot_range_overlap(lim->reserved, lim->nreserved, ph->paddr, end);
	if (r) {
		log_error("kernel %s: ELF segment [0x%" PRIx64 ", 0x%" PRIx64
			  ") overlaps %s at [0x%" PRIx64 ", 0x%" PRIx64 ")",
			  name, ph->paddr, end, r->what, r->start, r->end);
		return -ENOEXEC;
	}
	if (!guest_mem_ptr(gm, ph->paddr, ph->memsz)) {
		log_error("kernel %s: ELF segment [0x%" PRIx64 ", 0x%" PRIx64
			  ") is not in guest RAM: the guest needs more memory",
			  name, ph->paddr, end);
		return -ENOMEM;
	}
	return 0;
}

/* PT_LOAD segment i, if it is one with memory to fill. */
static bool boot_elf_loadable(const struct boot_elf *elf, unsigned i, struct boot_elf_phdr *ph)
{
	boot_elf_phdr(elf, i, ph);
	return ph->type == PT_LOAD && ph->memsz;
}

int boot_elf_load(const struct boot_elf *elf, const struct guest_mem *gm, const char *name,
		  const struct boot_elf_limits *lim, uint64_t *image_end)
{
	struct boot_elf_phdr ph;
	unsigned loaded = 0;

	*image_end = 0;
	for (unsigned i = 0; i < elf->phnum; i++) {
		int ret;

		if (!boot_elf_loadable(elf, i, &ph))
			continue;
		ret = boot_elf_check_one(elf, gm, name, lim, &ph);
		if (ret)
			return ret;
		loaded++;
		if (ph.paddr + ph.memsz > *image_end)
			*image_end = ph.paddr + ph.memsz;
	}
	if (!loaded) {
		log_error("kernel %s: ELF file has no loadable segments", name);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < elf->phnum; i++) {
		uint8_t *dst;

		if (!boot_elf_loadable(elf, i, &ph))
			continue;
		dst = guest_mem_ptr(gm, ph.paddr, ph.memsz); /* checked above */
		memcpy(dst, elf->data + ph.offset, ph.filesz);
		memset(dst + ph.filesz, 0, ph.memsz - ph.filesz);
	}
	return 0;
}

uint64_t boot_elf_entry_paddr(const struct boot_elf *elf)
{
	/* GRUB does the same, so kernels linked at a high vaddr with a low paddr just work. */
	for (unsigned i = 0; i < elf->phnum; i++) {
		struct boot_elf_phdr ph;

		boot_elf_phdr(elf, i, &ph);
		if (ph.type == PT_LOAD && elf->entry >= ph.vaddr &&
		    elf->entry - ph.vaddr < ph.memsz)
			return ph.paddr + (elf->entry - ph.vaddr);
	}
	return elf->entry;
}

bool boot_elf_paddr_loaded(const struct boot_elf *elf, uint64_t paddr)
{
	for (unsigned i = 0; i < elf->phnum; i++) {
		struct boot_elf_phdr ph;

		boot_elf_phdr(elf, i, &ph);
		if (ph.type == PT_LOAD && paddr >= ph.paddr && paddr - ph.paddr < ph.memsz)
			return true;
	}
	return false;
}
