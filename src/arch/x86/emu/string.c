/*
 * String instructions: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS, with REP/REPE/REPNE, every address
 * size and direction. A repeated instruction runs at most EMU_STRING_BATCH iterations per call and
 * leaves RIP on itself while rCX is not exhausted, as an interrupted REP does on the CPU; a fault
 * after some iterations ends the batch before the faulting one, so the fault itself is raised
 * (with nothing of its iteration done) when the guest runs the instruction again.
 */
#include <errno.h>

#include "arch/x86/emu/exec.h"

#define EMU_STRING_BATCH 1024u

/* The arithmetic flags of a - b (CMPS, SCAS) at size bytes. */
static uint64_t emu_string_sub_flags(uint64_t rflags, uint64_t a, uint64_t b, unsigned size)
{
	uint64_t mask = emu_size_mask(size), sign = 1ull << (size * 8 - 1);
	uint64_t res = (a - b) & mask;
	uint8_t low = (uint8_t)res;

	rflags &= ~(EMU_RFLAGS_CF | EMU_RFLAGS_PF | EMU_RFLAGS_AF | EMU_RFLAGS_ZF | EMU_RFLAGS_SF |
		    EMU_RFLAGS_OF);
	if ((a & mask) < (b & mask))
		rflags |= EMU_RFLAGS_CF;
	if (!(__builtin_popcount(low) & 1))
		rflags |= EMU_RFLAGS_PF;
	if ((a ^ b ^ res) & 0x10)
		rflags |= EMU_RFLAGS_AF;
	if (!res)
		rflags |= EMU_RFLAGS_ZF;
	if (res & sign)
		rflags |= EMU_RFLAGS_SF;
	if ((a ^ b) & (a ^ res) & sign)
		rflags |= EMU_RFLAGS_OF;
	return rflags;
}

/* Whether seg:off can take a write of len bytes, without writing (INS checks before the port). */
static int emu_string_probe_write(struct emu_run *r, unsigned seg, uint64_t off, unsigned len)
{
	struct emu_pf pf;
	uint8_t dummy[8];
	uint64_t la;
	int ret;

	ret = emu_linear_at(r, seg, off, len, true, &la);
	if (!ret)
		ret = emu_check_alignment(r, la, len);
	if (ret)
		return ret;
	ret = r->ops->read(r->opaque, la, dummy, len, r->user | EMU_ACC_WRITE | EMU_ACC_PROBE, &pf);
	return emu_mem_result(r, ret, &pf);
}

int emu_string_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	enum emu_op op = insn->op;
	unsigned size = (insn->opcode & 1) ? (op == EMU_OP_INS || op == EMU_OP_OUTS
						  ? (insn->op_size == 2 ? 2u : 4u)
						  : insn->op_size)
					   : 1u;
	unsigned ad = insn->addr_size;
	uint64_t amask = emu_size_mask(ad);
	bool rep = insn->rep_f2 || insn->rep_f3;
	unsigned src_seg = insn->seg_override >= 0 ? (unsigned)insn->seg_override : EMU_DS;
	int64_t step = (cpu->rflags & EMU_RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
	uint16_t port = (uint16_t)cpu->gpr[EMU_RDX];
	unsigned done = 0;
	int ret = 0;

	if (op == EMU_OP_INS || op == EMU_OP_OUTS) {
		ret = emu_io_check(r, port, size);
		if (ret)
			return ret;
	}
	for (;;) {
		uint64_t si = cpu->gpr[EMU_RSI] & amask, di = cpu->gpr[EMU_RDI] & amask;
		uint8_t a[8] = { 0 }, b[8] = { 0 };
		bool stop = false;

		if (rep && !(cpu->gpr[EMU_RCX] & amask))
			break; /* count exhausted (or zero to begin with): done */
		if (done == EMU_STRING_BATCH)
			return 0; /* more later: RIP stays on the instruction */
		switch (op) {
		case EMU_OP_MOVS:
			ret = emu_mem_at(r, src_seg, si, a, size, false);
			if (!ret)
				ret = emu_mem_at(r, EMU_ES, di, a, size, true);
			break;
		case EMU_OP_STOS:
			emu_store_le(a, cpu->gpr[EMU_RAX], size);
			ret = emu_mem_at(r, EMU_ES, di, a, size, true);
			break;
		case EMU_OP_LODS:
			ret = emu_mem_at(r, src_seg, si, a, size, false);
			break;
		case EMU_OP_CMPS:
			ret = emu_mem_at(r, src_seg, si, a, size, false);
			if (!ret)
				ret = emu_mem_at(r, EMU_ES, di, b, size, false);
			break;
		case EMU_OP_SCAS:
			emu_store_le(a, cpu->gpr[EMU_RAX], size);
			ret = emu_mem_at(r, EMU_ES, di, b, size, false);
			break;
		case EMU_OP_INS:
			ret = emu_string_probe_write(r, EMU_ES, di, size);
			if (!ret)
				ret = emu_io_port(r, port, a, size, false);
			if (!ret)
				ret = emu_mem_at(r, EMU_ES, di, a, size, true);
			break;
		case EMU_OP_OUTS:
			ret = emu_mem_at(r, src_seg, si, a, size, false);
			if (!ret)
				ret = emu_io_port(r, port, a, size, true);
			break;
		default:
			return -ENOTSUP;
		}
		if (ret) {
			if (!done)
				return ret; /* the first iteration: the fault, nothing done */
			/* Later ones: stop short; the guest runs into the fault next time. */
			*r->exc = (struct emu_exception){ 0 };
			return 0;
		}
		/* The element is done: commit its register effects. */
		if (op == EMU_OP_LODS)
			emu_set_gpr(cpu, EMU_RAX, size, emu_load_le(a, size));
		if (op == EMU_OP_CMPS || op == EMU_OP_SCAS) {
			cpu->rflags = emu_string_sub_flags(cpu->rflags, emu_load_le(a, size),
							   emu_load_le(b, size), size);
			/* REPE stops on a difference, REPNE on equality. */
			stop = insn->rep_f3 ? !(cpu->rflags & EMU_RFLAGS_ZF)
					    : insn->rep_f2 && (cpu->rflags & EMU_RFLAGS_ZF);
		}
		if (op == EMU_OP_MOVS || op == EMU_OP_LODS || op == EMU_OP_CMPS ||
		    op == EMU_OP_OUTS)
			emu_set_gpr(cpu, EMU_RSI, ad, (si + (uint64_t)step) & amask);
		if (op != EMU_OP_LODS && op != EMU_OP_OUTS)
			emu_set_gpr(cpu, EMU_RDI, ad, (di + (uint64_t)step) & amask);
		done++;
		if (!rep)
			break;
		emu_set_gpr(cpu, EMU_RCX, ad, (cpu->gpr[EMU_RCX] - 1) & amask);
		if (stop)
			break;
		/* A data breakpoint hit: its #DB comes after this iteration, RIP on the
		 * instruction unless the count ran out. */
		if (cpu->db_hit && (cpu->gpr[EMU_RCX] & amask))
			return 0;
	}
	emu_complete(r);
	return 0;
}
