/* Port I/O: IN and OUT, and the permission check every port access makes (IOPL, the TSS bitmap). */
#include <errno.h>

#include "arch/x86/emu/seg.h"

int emu_io_check(struct emu_run *r, uint16_t port, unsigned len)
{
	const struct emu_cpu *cpu = r->cpu;
	const struct emu_seg *tr = &cpu->tr;
	unsigned iopl = (unsigned)(cpu->rflags >> 12) & 3;
	uint8_t base_buf[2], bits[2];
	uint64_t base, byte;
	int ret;

	if (!(cpu->cr0 & EMU_CR0_PE) || (!(cpu->rflags & EMU_RFLAGS_VM) && cpu->cpl <= iopl))
		return 0;
	/* Beyond IOPL (or in virtual-8086 mode): the TSS's I/O bitmap must allow every byte. */
	if (tr->unusable || !(tr->type & 8) || tr->limit < 0x67)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_seg_sys_read(r, tr->base + 0x66, base_buf, 2);
	if (ret)
		return ret;
	base = (uint64_t)base_buf[0] | (uint64_t)base_buf[1] << 8;
	byte = base + port / 8;
	if (byte + 1 > tr->limit)
		return emu_raise(r->exc, EMU_X_GP, 0);
	ret = emu_seg_sys_read(r, tr->base + byte, bits, 2);
	if (ret)
		return ret;
	if (((uint32_t)bits[0] | (uint32_t)bits[1] << 8) >> (port & 7) & ((1u << len) - 1))
		return emu_raise(r->exc, EMU_X_GP, 0);
	return 0;
}

int emu_io_port(struct emu_run *r, uint16_t port, void *data, unsigned len, bool write)
{
	if (!r->ops->pio)
		return -ENOTSUP;
	return r->ops->pio(r->opaque, port, data, len, write);
}

/* The operand size of a port access: 1 for the byte forms, else 2 or 4 (never 8). */
unsigned emu_io_size(const struct emu_insn *insn)
{
	if (!(insn->opcode & 1))
		return 1;
	return insn->op_size == 2 ? 2 : 4;
}

int emu_io_execute(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned len = emu_io_size(insn);
	/* E4-E7 name the port in an imm8; EC-EF take it from DX. */
	uint16_t port = insn->opcode < 0xe8 ? (uint8_t)insn->imm : (uint16_t)cpu->gpr[EMU_RDX];
	uint8_t buf[4] = { 0 };
	int ret;

	ret = emu_io_check(r, port, len);
	if (ret)
		return ret;
	if (insn->op == EMU_OP_IN) {
		ret = emu_io_port(r, port, buf, len, false);
		if (ret)
			return ret;
		emu_set_gpr(cpu, EMU_RAX, len, emu_load_le(buf, len));
	} else {
		emu_store_le(buf, cpu->gpr[EMU_RAX], len);
		ret = emu_io_port(r, port, buf, len, true);
		if (ret)
			return ret;
	}
	emu_complete(r);
	return 0;
}
