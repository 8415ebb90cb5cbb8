/* Minimal, bounds-checked ELF32/ELF64 reading and PT_LOAD loading for the PVH and multiboot paths.
 */
#ifndef KVMBOX_X86_BOOT_ELF_H
#define KVMBOX_X86_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

/* A program header widened to 64 bits whatever the ELF class. */
struct boot_elf_phdr {
	uint32_t type;
	uint64_t offset;
	uint64_t vaddr;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
};

struct boot_elf {
	const uint8_t *data;
	size_t size;
	bool is64;
	uint16_t machine;
	uint64_t entry;
	uint64_t phoff;
	uint16_t phentsize;
	uint16_t phnum;
};

/* True if data starts with the ELF magic (the cheap check format detection needs). */
bool boot_elf_is_elf(const uint8_t *data, size_t size);

/*
 * Validate the ELF header and that the program header table lies inside the file. On failure
 * returns -ENOEXEC with a short reason in *why (not logged: callers log it with the file name).
 */
int boot_elf_parse(struct boot_elf *elf, const uint8_t *data, size_t size, const char **why)
    __attribute__((warn_unused_result));

/* Program header i (< elf->phnum) of a parsed ELF. */
void boot_elf_phdr(const struct boot_elf *elf, unsigned i, struct boot_elf_phdr *ph);

/*
 * Find the first note (in PT_NOTE segments) with this owner name and type; malformed notes end
 * the search of their segment. Returns 0 with desc and descsz set (pointing into the file), or
 * -ENOENT.
 */
int boot_elf_find_note(const struct boot_elf *elf, const char *name, uint32_t type,
		       const uint8_t **desc, uint32_t *descsz) __attribute__((warn_unused_result));

struct boot_range; /* boot_format.h */

/* Where boot_elf_load may put PT_LOAD segments. */
struct boot_elf_limits {
	uint64_t min, max_end;		   /* every segment lies in [min, max_end) */
	const struct boot_range *reserved; /* and overlaps none of these */
	size_t nreserved;
};

/*
 * Copy every PT_LOAD segment to guest RAM at its p_paddr and zero its bss, after checking all of
 * them against lim (so nothing is written for a file that is refused). *image_end is the highest
 * segment end. Logs one line with name; -ENOEXEC for a bad file or a segment outside lim (naming
 * the reserved range it overlaps), -ENOMEM when guest RAM is too small.
 */
int boot_elf_load(const struct boot_elf *elf, const struct guest_mem *gm, const char *name,
		  const struct boot_elf_limits *lim, uint64_t *image_end)
    __attribute__((warn_unused_result));

/* True if paddr lies inside a non-empty PT_LOAD segment's physical range. */
bool boot_elf_paddr_loaded(const struct boot_elf *elf, uint64_t paddr);

/* e_entry as a physical address: translated through the PT_LOAD whose vaddr range holds it. */
uint64_t boot_elf_entry_paddr(const struct boot_elf *elf);

#endif
