/* A tiny AML (ACPI Machine Language) emitter for the DSDT: names, integers, packages, devices. */
#ifndef KVMBOX_X86_AML_H
#define KVMBOX_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

/*
 * Emission into a caller-owned buffer. The emit functions return nothing: the first error
 * (-ENOSPC, -EINVAL for a bad name or misuse) is sticky and further emits are no-ops, so a
 * table is written straight through and checked once with aml_finish(). This keeps table
 * code as readable as the ASL it stands for.
 */
struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	unsigned depth;
	struct {
		size_t start; /* where the block's PkgLength goes */
		int kind;
	} open[AML_MAX_DEPTH];
};

void aml_init(struct aml *aml, void *buf, size_t cap);

/* 0 and the AML in buf[0, aml->len), or the first error (-EINVAL if a block is still open). */
int aml_finish(struct aml *aml) __attribute__((warn_unused_result));

/*
 * Name(name, <next object>): the caller emits the object next. Names are ASL-style: an optional
 * "\\" or "^" prefixes, then dot-separated segments of 1-4 of [A-Z0-9_] (padded with '_').
 */
void aml_name_decl(struct aml *aml, const char *name);

/* Data objects. aml_integer picks the shortest encoding (Zero, One, Byte..QWord). */
void aml_integer(struct aml *aml, uint64_t value);
void aml_string(struct aml *aml, const char *s);  /* printable ASCII only */
void aml_eisaid(struct aml *aml, const char *id); /* "PNP0501" -> compressed DWord */

/* Blocks, each closed by aml_end(). */
void aml_scope_begin(struct aml *aml, const char *name);
void aml_device_begin(struct aml *aml, const char *name);
void aml_package_begin(struct aml *aml, unsigned nelems); /* nelems <= 255 */
void aml_resource_begin(struct aml *aml); /* ResourceTemplate(): a Buffer ending in EndTag */
void aml_end(struct aml *aml);

/* Small resource descriptors, only inside aml_resource_begin/aml_end. */
void aml_res_io(struct aml *aml, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_irq_noflags(struct aml *aml, unsigned irq); /* edge, active-high, exclusive; 0-15 */

/*
 * Large resource descriptors. The address-space ones describe windows a bridge decodes
 * (ResourceProducer, MinFixed, MaxFixed, PosDecode, no translation, granularity 0, length
 * max - min + 1); -EINVAL if max < min or the length does not fit the field.
 */
void aml_res_word_bus_number(struct aml *aml, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *aml, uint16_t min, uint16_t max);	   /* EntireRange */
void aml_res_dword_memory(struct aml *aml, uint32_t min, uint32_t max);	   /* NonCacheable, RW */
void aml_res_memory32_fixed(struct aml *aml, uint32_t base, uint32_t len); /* ReadWrite */
/* Interrupt(ResourceConsumer, Level/Edge, ActiveHigh/Low, Exclusive/Shared) { gsi } */
void aml_res_interrupt(struct aml *aml, uint32_t gsi, bool edge, bool active_low, bool shared);

#endif
