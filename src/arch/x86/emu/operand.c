/*
 * Operands of the integer instructions: general registers by size (AH-BH without REX), the ModRM
 * r/m operand in a register or memory, and the read-modify-write of it, atomic under LOCK.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/exec.h"

/* How often a locked update recomputes after losing a race before it gives up. */
#define EMU_OPERAND_RETRIES 100000u

uint64_t emu_operand_reg(const struct emu_run *r, unsigned reg, unsigned size)
{
	const struct emu_cpu *cpu = r->cpu;

	if (size == 1 && !r->insn->rex && reg >= 4 && reg < 8)
		return (cpu->gpr[reg - 4] >> 8) & 0xff;
	return cpu->gpr[reg] & emu_size_mask(size);
}

void emu_operand_set_reg(struct emu_run *r, unsigned reg, unsigned size, uint64_t v)
{
	struct emu_cpu *cpu = r->cpu;

	if (size == 1 && !r->insn->rex && reg >= 4 && reg < 8) {
		cpu->gpr[reg - 4] = (cpu->gpr[reg - 4] & ~0xff00ull) | ((v & 0xff) << 8);
		return;
	}
	emu_set_gpr(cpu, reg, size, v);
}

int emu_operand_read(struct emu_run *r, unsigned size, uint64_t *v)
{
	uint8_t buf[8];
	int ret;

	if (!emu_insn_has_mem(r->insn)) {
		*v = emu_operand_reg(r, r->insn->rm, size);
		return 0;
	}
	ret = emu_mem_read(r, buf, size, size);
	if (!ret)
		*v = emu_load_le(buf, size);
	return ret;
}

int emu_operand_write(struct emu_run *r, unsigned size, uint64_t v)
{
	uint8_t buf[8];

	if (!emu_insn_has_mem(r->insn)) {
		emu_operand_set_reg(r, r->insn->rm, size, v);
		return 0;
	}
	emu_store_le(buf, v, size);
	return emu_mem_write(r, buf, size, size);
}

/* The locked form: read, compute, compare-and-exchange; again from the new value on a lost race. */
static int emu_operand_update_locked(struct emu_run *r, unsigned size, emu_update_fn *fn,
				     const void *ctx, uint64_t *old_out, uint64_t *flags_out)
{
	unsigned access = r->user | EMU_ACC_WRITE;
	uint8_t cur[8], desired[8];
	struct emu_pf pf;
	uint64_t la;
	int ret;

	ret = emu_mem_la(r, size, true, size, &la);
	if (ret)
		return ret;
	/*
	 * The first value through the compare-and-exchange too (0 for 0 changes nothing): a plain
	 * read would reach a device before the callback refuses a locked access to MMIO.
	 */
	memset(cur, 0, sizeof(cur));
	memset(desired, 0, sizeof(desired));
	{
		bool swapped;

		ret = r->ops->cmpxchg(r->opaque, la, cur, desired, size, access | EMU_ACC_RMW_FIRST,
				      &swapped, &pf);
		ret = emu_mem_result(r, ret, &pf);
		if (ret)
			return ret;
	}
	for (unsigned tries = 0; tries < EMU_OPERAND_RETRIES; tries++) {
		uint64_t old = emu_load_le(cur, size), flags = r->cpu->rflags;
		bool store = true, swapped = false;
		uint64_t v = fn(ctx, old, &flags, &store);

		/* A locked instruction always writes: the old value when it changes nothing. */
		emu_store_le(desired, store ? v : old, size);
		ret = r->ops->cmpxchg(r->opaque, la, cur, desired, size, access, &swapped, &pf);
		ret = emu_mem_result(r, ret, &pf);
		if (ret)
			return ret;
		if (swapped) {
			*old_out = old;
			*flags_out = flags;
			return 0;
		}
	}
	return -EBUSY;
}

/* The memory operand, read for a write that follows: a read-only page or segment faults now. */
static int emu_operand_read_for_write(struct emu_run *r, unsigned size, uint64_t *v)
{
	uint8_t buf[8];
	struct emu_pf pf;
	uint64_t la;
	int ret;

	ret = emu_mem_la(r, size, true, size, &la);
	if (!ret)
		ret = emu_mem_result(
		    r, r->ops->read(r->opaque, la, buf, size, r->user | EMU_ACC_WRITE, &pf), &pf);
	if (!ret)
		*v = emu_load_le(buf, size);
	return ret;
}

int emu_operand_update(struct emu_run *r, unsigned size, unsigned how, emu_update_fn *fn,
		       const void *ctx, uint64_t *old_out)
{
	bool mem = emu_insn_has_mem(r->insn), store = true;
	uint64_t old, v, flags = r->cpu->rflags;
	int ret;

	if (mem && (how & EMU_UPDATE_LOCKED)) {
		ret = emu_operand_update_locked(r, size, fn, ctx, &old, &flags);
		if (ret)
			return ret;
	} else {
		ret = mem && !(how & EMU_UPDATE_READ_ONLY)
			  ? emu_operand_read_for_write(r, size, &old)
			  : emu_operand_read(r, size, &old);
		if (ret)
			return ret;
		v = fn(ctx, old, &flags, &store);
		if (store && (ret = emu_operand_write(r, size, v)))
			return ret;
	}
	r->cpu->rflags = flags;
	if (old_out)
		*old_out = old;
	return 0;
}
