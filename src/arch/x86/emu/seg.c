/* Segment descriptors, system-table reads and stacks for the emulator's control transfers. */
#include "arch/x86/emu/seg.h"

#include <errno.h>
#include <string.h>

bool emu_seg_long(const struct emu_cpu *cpu)
{
	return cpu->efer & EMU_EFER_LMA;
}

/* A supervisor (implicit) access to a system table: IDT, GDT, LDT, TSS. */
int emu_seg_sys_read(struct emu_run *r, uint64_t la, void *dst, unsigned len)
{
	struct emu_pf pf;

	if (!emu_seg_long(r->cpu))
		la &= 0xffffffffull;
	else if (!emu_is_canonical(r->cpu, la) || !emu_is_canonical(r->cpu, la + len - 1))
		return emu_raise(r->exc, EMU_X_GP, 0);
	return emu_mem_result(r, r->ops->read(r->opaque, la, dst, len, EMU_ACC_IMPLICIT, &pf), &pf);
}

static void emu_seg_accessed_note(struct emu_seg_accessed *a, uint64_t la, const uint8_t d[8])
{
	/* Code and data descriptors only (S = 1), and only if the bit is clear. */
	if (a && a->n < 2 && (d[5] & 0x10) && !(d[5] & 1)) {
		a->la[a->n] = la;
		memcpy(a->desc[a->n++], d, 8);
	}
}

int emu_seg_accessed_commit(struct emu_run *r, const struct emu_seg_accessed *a)
{
	for (unsigned i = 0; i < a->n; i++) {
		uint8_t expected[8], desired[8];
		struct emu_pf pf;
		bool swapped;
		int ret;

		memcpy(expected, a->desc[i], 8);
		memcpy(desired, a->desc[i], 8);
		desired[5] |= 1;
		ret = r->ops->cmpxchg(r->opaque, a->la[i], expected, desired, 8,
				      EMU_ACC_WRITE | EMU_ACC_IMPLICIT, &swapped, &pf);
		if (ret)
			return emu_mem_result(r, ret, &pf);
	}
	return 0;
}

/* A segment descriptor as the hidden part of a segment register (granularity applied). */
static void emu_seg_from_desc(struct emu_seg *s, uint16_t sel, const uint8_t d[8])
{
	uint32_t limit = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)(d[6] & 0xf) << 16;

	if (d[6] & 0x80)
		limit = limit << 12 | 0xfff;
	*s = (struct emu_seg){
		.base = (uint64_t)d[2] | (uint64_t)d[3] << 8 | (uint64_t)d[4] << 16 |
			(uint64_t)d[7] << 24,
		.limit = limit,
		.selector = sel,
		.type = (uint8_t)((d[5] & 0xf) | EMU_TYPE_ACCESSED),
		.dpl = (d[5] >> 5) & 3,
		.s = (d[5] >> 4) & 1,
		.present = d[5] >> 7,
		.db = (d[6] >> 6) & 1,
		.l = (d[6] >> 5) & 1,
	};
}

/*
 * The descriptor sel names in the GDT or LDT. vec/err: what an index beyond the table raises
 * (#GP(sel) for most callers, #TS(sel) for a TSS's stack). *seg gets the accessed bit; the one in
 * memory is noted in acc, for emu_seg_accessed_commit once nothing can fault any more.
 */
uint64_t emu_seg_gate_offset(const uint8_t g[16], bool wide, bool lm)
{
	uint64_t off = (uint64_t)g[0] | (uint64_t)g[1] << 8;

	if (wide)
		off |= (uint64_t)g[6] << 16 | (uint64_t)g[7] << 24;
	if (lm)
		off |= emu_load_le(g + 8, 4) << 32;
	return off;
}

int emu_seg_read_desc(struct emu_run *r, uint16_t sel, uint8_t vec, uint8_t *d, unsigned len,
		      uint64_t *la)
{
	const struct emu_cpu *cpu = r->cpu;
	uint64_t base = cpu->gdt.base, limit = cpu->gdt.limit;

	if (sel & EMU_SEL_TI) {
		if (cpu->ldt.unusable || !cpu->ldt.present)
			return emu_raise(r->exc, vec, sel & ~EMU_SEL_RPL);
		base = cpu->ldt.base;
		limit = cpu->ldt.limit;
	}
	if ((uint64_t)(sel & EMU_SEL_INDEX) + len - 1 > limit)
		return emu_raise(r->exc, vec, sel & ~EMU_SEL_RPL);
	*la = base + (sel & EMU_SEL_INDEX);
	return emu_seg_sys_read(r, *la, d, len);
}

int emu_seg_load_desc(struct emu_run *r, uint16_t sel, uint8_t vec, struct emu_seg *seg,
		      struct emu_seg_accessed *acc)
{
	const struct emu_cpu *cpu = r->cpu;
	uint64_t la;
	uint8_t d[8];
	int ret;

	ret = emu_seg_read_desc(r, sel, vec, d, sizeof(d), &la);
	if (ret)
		return ret;
	emu_seg_from_desc(seg, sel, d);
	emu_seg_accessed_note(acc, emu_seg_long(cpu) ? la : la & 0xffffffffull, d);
	return 0;
}

/* The linear address of [off, off + len) in the stack segment, after the checks. */
static int emu_seg_stack_la(struct emu_run *r, const struct emu_seg_stack *st, uint64_t off,
			    unsigned len, uint64_t *la)
{
	const struct emu_cpu *cpu = r->cpu;

	if (st->sp_size == 8) {
		*la = off;
		if (!emu_is_canonical(cpu, off) || !emu_is_canonical(cpu, off + len - 1))
			return emu_raise(r->exc, st->vec, st->err);
		return 0;
	}
	if (!emu_real_or_v86(cpu) && (st->ss.type & 4))
		return -ENOTSUP; /* expand-down stacks: not worth it yet */
	if (off + len - 1 > st->ss.limit || off + len - 1 > emu_size_mask(st->sp_size))
		return emu_raise(r->exc, st->vec, st->err);
	*la = (st->ss.base + off) & 0xffffffffull;
	return 0;
}

int emu_seg_push_la(struct emu_run *r, const struct emu_seg_stack *st, unsigned size, uint64_t *la)
{
	uint64_t mask = emu_size_mask(st->sp_size);

	return emu_seg_stack_la(r, st, (st->sp - size) & mask, size, la);
}

/*
 * Push n values of size bytes each (first one first). Every slot is checked before any is
 * written, and each slot is addressed on its own, so a 16-bit SP wraps between slots as on the
 * CPU.
 */
int emu_seg_push(struct emu_run *r, struct emu_seg_stack *st, const uint64_t *v, unsigned n,
		 unsigned size)
{
	uint64_t mask = emu_size_mask(st->sp_size), la[EMU_SEG_PUSH_MAX];
	int ret;

	if (n > EMU_SEG_PUSH_MAX)
		return -EINVAL;

	for (unsigned i = 0; i < n; i++) {
		ret = emu_seg_stack_la(r, st, (st->sp - (uint64_t)(i + 1) * size) & mask, size,
				       &la[i]);
		if (!ret && st->user)
			ret = emu_check_alignment(r, la[i], size);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[8];
		struct emu_pf pf;

		emu_store_le(buf, v[i], size);
		ret = r->ops->write(r->opaque, la[i], buf, size, st->user | EMU_ACC_WRITE, &pf);
		ret = emu_mem_result(r, ret, &pf);
		if (ret)
			return ret;
	}
	st->sp = (st->sp & ~mask) | ((st->sp - (uint64_t)n * size) & mask);
	return 0;
}

/* Pop n values of size bytes each into v[] (first popped first). */
int emu_seg_pop(struct emu_run *r, struct emu_seg_stack *st, uint64_t *v, unsigned n, unsigned size)
{
	uint64_t mask = emu_size_mask(st->sp_size);
	int ret;

	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[8];
		struct emu_pf pf;
		uint64_t la;

		ret = emu_seg_stack_la(r, st, (st->sp + (uint64_t)i * size) & mask, size, &la);
		if (!ret && st->user)
			ret = emu_check_alignment(r, la, size);
		if (ret)
			return ret;
		ret = r->ops->read(r->opaque, la, buf, size, st->user, &pf);
		ret = emu_mem_result(r, ret, &pf);
		if (ret)
			return ret;
		v[i] = emu_load_le(buf, size);
	}
	st->sp = (st->sp & ~mask) | ((st->sp + (uint64_t)n * size) & mask);
	return 0;
}

/* The stack the instruction runs on. */
struct emu_seg_stack emu_seg_cur_stack(const struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;
	unsigned size = r->insn->code_size == 8 ? 8 : cpu->seg[EMU_SS].db ? 4 : 2;

	return (struct emu_seg_stack){ cpu->seg[EMU_SS], cpu->gpr[EMU_RSP], size,
				       r->user,		 EMU_X_SS,	    0 };
}

void emu_seg_real_cs(struct emu_cpu *cpu, uint16_t sel)
{
	cpu->seg[EMU_CS].selector = sel;
	cpu->seg[EMU_CS].base = (uint64_t)sel << 4;
	cpu->dirty |= EMU_DIRTY_SREGS;
}

void emu_seg_null_data(struct emu_cpu *cpu)
{
	static const unsigned segs[] = { EMU_ES, EMU_DS, EMU_FS, EMU_GS };

	for (unsigned i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		struct emu_seg *s = &cpu->seg[segs[i]];
		bool conforming_code = (s->type & (EMU_TYPE_CODE | EMU_TYPE_CONFORMING)) ==
				       (EMU_TYPE_CODE | EMU_TYPE_CONFORMING);

		if (s->unusable || conforming_code || s->dpl >= cpu->cpl)
			continue;
		/* The hidden base of FS/GS stays in 64-bit mode (MSR-set); the selector goes. */
		s->selector = 0;
		s->unusable = true;
		s->present = false;
	}
}

int emu_seg_load_return_cs(struct emu_run *r, uint16_t sel, struct emu_seg *cs,
			   struct emu_seg_accessed *acc)
{
	unsigned rpl = sel & EMU_SEL_RPL;
	int ret;

	if (!(sel & ~EMU_SEL_RPL))
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_seg_load_desc(r, sel, EMU_X_GP, cs, acc);
	if (ret)
		return ret;
	if (!cs->s || !(cs->type & EMU_TYPE_CODE) || rpl < r->cpu->cpl ||
	    ((cs->type & EMU_TYPE_CONFORMING) ? cs->dpl > rpl : cs->dpl != rpl))
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	if (!cs->present)
		return emu_raise(r->exc, EMU_X_NP, sel & ~EMU_SEL_RPL);
	if (emu_seg_long(r->cpu) && cs->l && cs->db)
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	return 0;
}

int emu_seg_load_return_ss(struct emu_run *r, uint16_t sel, unsigned rpl, bool to_64bit,
			   struct emu_seg *ss, struct emu_seg_accessed *acc)
{
	int ret;

	if (!(sel & ~EMU_SEL_RPL)) {
		/* A null SS is fine only for a 64-bit CS below CPL 3, with RPL = that level. */
		if (!to_64bit || rpl == 3 || (sel & EMU_SEL_RPL) != rpl)
			return emu_raise(r->exc, EMU_X_GP, 0);
		memset(ss, 0, sizeof(*ss));
		ss->selector = sel;
		ss->dpl = (uint8_t)rpl;
		ss->unusable = true;
		return 0;
	}
	ret = emu_seg_load_desc(r, sel, EMU_X_GP, ss, acc);
	if (ret)
		return ret;
	if ((sel & EMU_SEL_RPL) != rpl || ss->dpl != rpl || !ss->s ||
	    (ss->type & (EMU_TYPE_CODE | EMU_TYPE_WRITABLE)) != EMU_TYPE_WRITABLE)
		return emu_raise(r->exc, EMU_X_GP, sel & ~EMU_SEL_RPL);
	if (!ss->present)
		return emu_raise(r->exc, EMU_X_SS, sel & ~EMU_SEL_RPL);
	return 0;
}

int emu_seg_tss_stack(struct emu_run *r, unsigned dpl, unsigned ist, bool align16,
		      struct emu_seg_stack *st, struct emu_seg_accessed *acc)
{
	const struct emu_cpu *cpu = r->cpu;
	const struct emu_seg *tr = &cpu->tr;
	uint8_t buf[8];
	uint64_t off;
	int ret;

	if (emu_seg_long(cpu)) {
		off = ist ? 0x24 + 8 * (uint64_t)(ist - 1) : 4 + 8 * (uint64_t)dpl;
		if (tr->unusable || off + 7 > tr->limit)
			return emu_raise(r->exc, EMU_X_TS, tr->selector & ~EMU_SEL_RPL);
		ret = emu_seg_sys_read(r, tr->base + off, buf, 8);
		if (ret)
			return ret;
		/* SS becomes a null selector with RPL = the new CPL. */
		memset(&st->ss, 0, sizeof(st->ss));
		st->ss.selector = (uint16_t)dpl;
		st->ss.dpl = (uint8_t)dpl;
		st->ss.unusable = true;
		st->sp = emu_load_le(buf, 8) & (align16 ? ~0xfull : ~0ull);
		st->sp_size = 8;
		st->vec = EMU_X_SS;
		st->err = 0;
	} else {
		bool tss32 = tr->type & 8; /* 9, 11: 32-bit TSS; 1, 3: 16-bit */
		unsigned width = tss32 ? 4 : 2;
		uint16_t ss_sel;

		off = tss32 ? 4 + 8 * (uint64_t)dpl : 2 + 4 * (uint64_t)dpl;
		/* ESP (or SP) then SS: the last byte read is SS's second. */
		if (tr->unusable || off + width + 1 > tr->limit)
			return emu_raise(r->exc, EMU_X_TS, tr->selector & ~EMU_SEL_RPL);
		ret = emu_seg_sys_read(r, tr->base + off, buf, width + 2);
		if (ret)
			return ret;
		st->sp = emu_load_le(buf, width);
		ss_sel = (uint16_t)emu_load_le(buf + width, 2);
		if (!(ss_sel & ~EMU_SEL_RPL))
			return emu_raise(r->exc, EMU_X_TS, 0);
		ret = emu_seg_load_desc(r, ss_sel, EMU_X_TS, &st->ss, acc);
		if (ret)
			return ret;
		if ((ss_sel & EMU_SEL_RPL) != dpl || st->ss.dpl != dpl || !st->ss.s ||
		    (st->ss.type & (EMU_TYPE_CODE | EMU_TYPE_WRITABLE)) != EMU_TYPE_WRITABLE)
			return emu_raise(r->exc, EMU_X_TS, ss_sel & ~EMU_SEL_RPL);
		if (!st->ss.present)
			return emu_raise(r->exc, EMU_X_SS, ss_sel & ~EMU_SEL_RPL);
		st->sp_size = st->ss.db ? 4 : 2;
		st->vec = EMU_X_SS;
		st->err = ss_sel & ~EMU_SEL_RPL;
	}
	st->user = dpl == 3 ? EMU_ACC_USER : 0;
	return 0;
}
