/* x86 instruction emulator core: addressing, memory access with faults, and the instructions. */
#include "arch/x86/emu/emu.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/exec.h"

#define EMU_MXCSR_MASK_DEFAULT 0xffbfu /* SDM: what a zero MXCSR_MASK in the FXSAVE image means */

uint32_t emu_features_from_cpuid(int (*leaf)(void *opaque, uint32_t function, uint32_t index,
					     uint32_t out[4]),
				 void *opaque)
{
	static const struct {
		uint32_t function, index;
		uint8_t reg, bit; /* reg: 0 EAX, 1 EBX, 2 ECX, 3 EDX */
		uint32_t feature;
	} map[] = {
		{ 1, 0, 3, 19, EMU_FEAT_CLFSH },	  { 1, 0, 2, 26, EMU_FEAT_XSAVE },
		{ 1, 0, 2, 17, EMU_FEAT_PCID },		  { 7, 0, 1, 10, EMU_FEAT_INVPCID },
		{ 7, 0, 1, 23, EMU_FEAT_CLFLUSHOPT },	  { 7, 0, 1, 24, EMU_FEAT_CLWB },
		{ 7, 0, 2, 22, EMU_FEAT_RDPID },	  { 0x80000001, 0, 3, 27, EMU_FEAT_RDTSCP },
		{ 0x80000008, 0, 1, 4, EMU_FEAT_RDPRU },  { 0xd, 1, 0, 2, EMU_FEAT_XGETBV1 },
		{ 0x80000001, 0, 2, 5, EMU_FEAT_LZCNT },  { 7, 0, 1, 3, EMU_FEAT_BMI1 },
		{ 0x80000001, 0, 2, 0, EMU_FEAT_LAHF64 }, { 0xd, 1, 0, 0, EMU_FEAT_XSAVEOPT },
		{ 0xd, 1, 0, 1, EMU_FEAT_XSAVEC },	  { 0xd, 1, 0, 3, EMU_FEAT_XSAVES },
		{ 1, 0, 2, 9, EMU_FEAT_SSSE3 },		  { 1, 0, 2, 1, EMU_FEAT_PCLMUL },
	};
	uint32_t features = 0, max_basic = 0, max_ext = 0, out[4];

	if (leaf(opaque, 0, 0, out) == 0)
		max_basic = out[0];
	if (leaf(opaque, 0x80000000, 0, out) == 0)
		max_ext = out[0];
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		uint32_t max = map[i].function >= 0x80000000 ? max_ext : max_basic;

		/* A leaf above the maximum the guest is told about does not exist for it. */
		if (map[i].function > max || leaf(opaque, map[i].function, map[i].index, out))
			continue;
		if (out[map[i].reg] & (1u << map[i].bit))
			features |= map[i].feature;
	}
	return features;
}

unsigned emu_code_size(const struct emu_cpu *cpu)
{
	/* The same rule KVM's own emulator uses: real and virtual-8086 mode are 16-bit. */
	if (!(cpu->cr0 & EMU_CR0_PE) || (cpu->rflags & EMU_RFLAGS_VM))
		return 2;
	if ((cpu->efer & EMU_EFER_LMA) && cpu->seg[EMU_CS].l)
		return 8;
	return cpu->seg[EMU_CS].db ? 4 : 2;
}

bool emu_real_or_v86(const struct emu_cpu *cpu)
{
	return !(cpu->cr0 & EMU_CR0_PE) || (cpu->rflags & EMU_RFLAGS_VM);
}

uint64_t emu_load_le(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void emu_store_le(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len && i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

bool emu_is_canonical(const struct emu_cpu *cpu, uint64_t la)
{
	unsigned shift = (cpu->cr4 & EMU_CR4_LA57) ? 64 - 57 : 64 - 48;

	return (uint64_t)((int64_t)(la << shift) >> shift) == la;
}

uint64_t emu_size_mask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* The memory operand's offset in its segment (RIP-relative counts from the next instruction). */
uint64_t emu_ea_of(const struct emu_cpu *cpu, const struct emu_insn *insn)
{
	uint64_t ea = (uint64_t)insn->disp;

	if (insn->rip_relative)
		ea += cpu->rip + insn->len;
	if (insn->base != EMU_NO_REG)
		ea += cpu->gpr[insn->base];
	if (insn->index != EMU_NO_REG)
		ea += cpu->gpr[insn->index] * insn->scale;
	return ea & emu_size_mask(insn->addr_size);
}

/*
 * Segmentation for a data access of len bytes at the memory operand: in 64-bit mode only FS/GS
 * bases and the canonical check; elsewhere base, type and limit (no checks in real mode beyond the
 * limit). Faults are #SS(0) for SS-relative accesses and #GP(0) otherwise.
 */
int emu_linear(struct emu_run *r, unsigned len, bool write, uint64_t *la)
{
	uint64_t ea =
	    (emu_ea_of(r->cpu, r->insn) + (uint64_t)r->ea_bias) & emu_size_mask(r->insn->addr_size);

	return emu_linear_at(r, r->insn->seg, ea, len, write, la);
}

int emu_linear_at(struct emu_run *r, unsigned segno, uint64_t ea, unsigned len, bool write,
		  uint64_t *la)
{
	const struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	const struct emu_seg *seg = &cpu->seg[segno];
	uint8_t vec = segno == EMU_SS ? EMU_X_SS : EMU_X_GP;
	uint64_t last = ea + len - 1;

	if (insn->code_size == 8) {
		*la = ea + (segno == EMU_FS || segno == EMU_GS ? seg->base : 0);
		if (!emu_is_canonical(cpu, *la) || !emu_is_canonical(cpu, *la + len - 1))
			return emu_raise(r->exc, vec, 0);
		return 0;
	}
	if (!emu_real_or_v86(cpu)) {
		bool code = seg->type & 8, rw = seg->type & 2;

		if (seg->unusable)
			return emu_raise(r->exc, vec, 0);
		if (code ? (write || !rw) : (write && !rw))
			return emu_raise(r->exc, vec, 0);
		if (!code && (seg->type & 4)) {
			/* Expand-down: valid offsets lie above the limit, up to 64K/4G by B. */
			if (ea <= seg->limit || last > (seg->db ? 0xffffffffull : 0xffffull))
				return emu_raise(r->exc, vec, 0);
			goto limit_ok;
		}
	}
	if (last > seg->limit)
		return emu_raise(r->exc, vec, 0);
limit_ok:
	*la = (seg->base + ea) & 0xffffffffull;
	/* An access that wraps the 4 GiB linear space: too odd to be worth emulating. */
	if (*la + len - 1 > 0xffffffffull)
		return -ENOTSUP;
	return 0;
}

/* #AC(0): alignment checking applies at CPL 3 with CR0.AM and RFLAGS.AC. */
int emu_check_alignment(struct emu_run *r, uint64_t la, unsigned align)
{
	const struct emu_cpu *cpu = r->cpu;

	if ((cpu->cr0 & EMU_CR0_AM) && (cpu->rflags & EMU_RFLAGS_AC) && cpu->cpl == 3 &&
	    (la & (align - 1)))
		return emu_raise(r->exc, EMU_X_AC, 0);
	return 0;
}

int emu_mem_result(struct emu_run *r, int ret, const struct emu_pf *pf)
{
	if (ret == EMU_MEM_FAULT) {
		emu_raise(r->exc, EMU_X_PF, pf->error_code);
		r->exc->cr2 = pf->addr;
		return EMU_RAISED;
	}
	if (ret > 0)
		return -EIO; /* a callback outside its contract */
	return ret;
}

int emu_mem_la(struct emu_run *r, unsigned len, bool write, unsigned align, uint64_t *la)
{
	int ret = emu_linear(r, len, write, la);

	return ret ? ret : emu_check_alignment(r, *la, align);
}

/* The memory operand: segmentation, alignment, then the access itself. */
int emu_mem_read(struct emu_run *r, void *dst, unsigned len, unsigned align)
{
	struct emu_pf pf;
	uint64_t la;
	int ret;

	ret = emu_mem_la(r, len, false, align, &la);
	if (ret)
		return ret;
	return emu_mem_result(r, r->ops->read(r->opaque, la, dst, len, r->user, &pf), &pf);
}

int emu_mem_write(struct emu_run *r, const void *src, unsigned len, unsigned align)
{
	struct emu_pf pf;
	uint64_t la;
	int ret;

	ret = emu_mem_la(r, len, true, align, &la);
	if (ret)
		return ret;
	return emu_mem_result(
	    r, r->ops->write(r->opaque, la, src, len, r->user | EMU_ACC_WRITE, &pf), &pf);
}

int emu_mem_at(struct emu_run *r, unsigned seg, uint64_t off, void *buf, unsigned len, bool write)
{
	struct emu_pf pf;
	uint64_t la;
	int ret;

	ret = emu_linear_at(r, seg, off, len, write, &la);
	if (!ret)
		ret = emu_check_alignment(r, la, len);
	if (ret)
		return ret;
	if (write)
		ret = r->ops->write(r->opaque, la, buf, len, r->user | EMU_ACC_WRITE, &pf);
	else
		ret = r->ops->read(r->opaque, la, buf, len, r->user, &pf);
	return emu_mem_result(r, ret, &pf);
}

void emu_set_gpr(struct emu_cpu *cpu, unsigned reg, unsigned size, uint64_t v)
{
	if (size == 8)
		cpu->gpr[reg] = v;
	else if (size == 4)
		cpu->gpr[reg] = (uint32_t)v; /* 32-bit writes zero-extend */
	else
		cpu->gpr[reg] = (cpu->gpr[reg] & ~emu_size_mask(size)) | (v & emu_size_mask(size));
}

/* The instruction finished: move past it. Any successful instruction clears RFLAGS.RF. */
void emu_complete(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;

	cpu->rip += r->insn->len;
	if (r->insn->code_size != 8)
		cpu->rip &= 0xffffffffull;
	cpu->rflags &= ~EMU_RFLAGS_RF;
}

static int emu_int3(struct emu_run *r)
{
	/* A trap: the guest's handler sees RIP after the int3, as with a real one. */
	emu_complete(r);
	return emu_raise(r->exc, EMU_X_BP, -1);
}

static int emu_fwait(struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;

	if ((cpu->cr0 & (EMU_CR0_MP | EMU_CR0_TS)) == (EMU_CR0_MP | EMU_CR0_TS))
		return emu_raise(r->exc, EMU_X_NM, -1);
	if (cpu->fsw & ~cpu->fcw & 0x3f) {
		/* With CR0.NE clear the error goes out as FERR#/IRQ 13: not ours to model. */
		if (!(cpu->cr0 & EMU_CR0_NE))
			return -ENOTSUP;
		return emu_raise(r->exc, EMU_X_MF, -1);
	}
	emu_complete(r);
	return 0;
}

static int emu_popcnt(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;
	unsigned size = insn->op_size;
	uint64_t src = 0;
	int ret;

	if (emu_insn_has_mem(insn)) {
		uint8_t buf[8];

		ret = emu_mem_read(r, buf, size, size);
		if (ret)
			return ret;
		for (unsigned i = 0; i < size; i++)
			src |= (uint64_t)buf[i] << (8 * i);
	} else {
		src = cpu->gpr[insn->rm] & emu_size_mask(size);
	}
	emu_set_gpr(cpu, insn->reg, size, (uint64_t)__builtin_popcountll(src));
	cpu->rflags &= ~(EMU_RFLAGS_OF | EMU_RFLAGS_SF | EMU_RFLAGS_ZF | EMU_RFLAGS_AF |
			 EMU_RFLAGS_CF | EMU_RFLAGS_PF);
	if (!src)
		cpu->rflags |= EMU_RFLAGS_ZF;
	emu_complete(r);
	return 0;
}

static int emu_clac_stac(struct emu_run *r)
{
	bool set = r->insn->op == EMU_OP_STAC;
	struct emu_cpu *cpu = r->cpu;

	if (cpu->cpl > 0)
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (set)
		cpu->rflags |= EMU_RFLAGS_AC;
	else
		cpu->rflags &= ~EMU_RFLAGS_AC;
	emu_complete(r);
	return 0;
}

/* The #UD and #NM checks of (V)LDMXCSR/(V)STMXCSR, which come before any memory access. */
static int emu_mxcsr_checks(struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;
	const struct emu_insn *insn = r->insn;

	if (insn->vex) {
		if (insn->vex_l || insn->vex_vvvv || !(cpu->cr4 & EMU_CR4_OSXSAVE) ||
		    (cpu->xcr0 & EMU_XCR0_SSE_AVX) != EMU_XCR0_SSE_AVX)
			return emu_raise(r->exc, EMU_X_UD, -1);
	} else if ((cpu->cr0 & EMU_CR0_EM) || !(cpu->cr4 & EMU_CR4_OSFXSR)) {
		return emu_raise(r->exc, EMU_X_UD, -1);
	}
	if (cpu->cr0 & EMU_CR0_TS)
		return emu_raise(r->exc, EMU_X_NM, -1);
	return 0;
}

static int emu_ldmxcsr(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	uint32_t mask = cpu->mxcsr_mask ? cpu->mxcsr_mask : EMU_MXCSR_MASK_DEFAULT;
	uint8_t buf[4];
	uint32_t v;
	int ret;

	ret = emu_mxcsr_checks(r);
	if (!ret)
		ret = emu_mem_read(r, buf, 4, 4);
	if (ret)
		return ret;
	v = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
	    (uint32_t)buf[3] << 24;
	if (v & ~mask)
		return emu_raise(r->exc, EMU_X_GP, 0);
	cpu->mxcsr = v;
	emu_complete(r);
	return 0;
}

static int emu_stmxcsr(struct emu_run *r)
{
	uint32_t v = r->cpu->mxcsr;
	uint8_t buf[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	int ret;

	ret = emu_mxcsr_checks(r);
	if (!ret)
		ret = emu_mem_write(r, buf, 4, 4);
	return emu_done(r, ret);
}

/*
 * CMPXCHG8B/16B: compare rDX:rAX with the memory operand, store rCX:rBX if equal, else load it
 * into rDX:rAX. The callback does the whole read-compare-write as one locked host instruction.
 */
static int emu_cmpxchg8b16b(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	bool wide = r->insn->op == EMU_OP_CMPXCHG16B;
	unsigned len = wide ? 16 : 8;
	uint8_t expected[16], desired[16];
	struct emu_pf pf;
	bool swapped = false;
	uint64_t la;
	int ret;

	ret = emu_linear(r, len, true, &la);
	if (ret)
		return ret;
	if (wide && (la & 15))
		return emu_raise(r->exc, EMU_X_GP, 0);
	if (!wide) {
		ret = emu_check_alignment(r, la, 8);
		if (ret)
			return ret;
		emu_store_le(
		    expected,
		    (uint32_t)cpu->gpr[EMU_RAX] | (uint64_t)(uint32_t)cpu->gpr[EMU_RDX] << 32, 8);
		emu_store_le(
		    desired,
		    (uint32_t)cpu->gpr[EMU_RBX] | (uint64_t)(uint32_t)cpu->gpr[EMU_RCX] << 32, 8);
	} else {
		emu_store_le(expected, cpu->gpr[EMU_RAX], 8);
		emu_store_le(expected + 8, cpu->gpr[EMU_RDX], 8);
		emu_store_le(desired, cpu->gpr[EMU_RBX], 8);
		emu_store_le(desired + 8, cpu->gpr[EMU_RCX], 8);
	}
	ret = r->ops->cmpxchg(r->opaque, la, expected, desired, len, r->user | EMU_ACC_WRITE,
			      &swapped, &pf);
	ret = emu_mem_result(r, ret, &pf);
	if (ret)
		return ret;
	if (swapped) {
		cpu->rflags |= EMU_RFLAGS_ZF;
	} else {
		cpu->rflags &= ~EMU_RFLAGS_ZF;
		if (wide) {
			cpu->gpr[EMU_RAX] = emu_load_le(expected, 8);
			cpu->gpr[EMU_RDX] = emu_load_le(expected + 8, 8);
		} else {
			uint64_t v = emu_load_le(expected, 8);

			emu_set_gpr(cpu, EMU_RAX, 4, v);
			emu_set_gpr(cpu, EMU_RDX, 4, v >> 32);
		}
	}
	emu_complete(r);
	return 0;
}

static int emu_ud(struct emu_run *r)
{
	return emu_raise(r->exc, EMU_X_UD, -1);
}

static int emu_nop(struct emu_run *r)
{
	/* 90 with REX.B is XCHG r8, rAX, not a NOP. */
	if (r->insn->map == EMU_MAP_LEGACY && r->insn->opcode == 0x90 && r->insn->rex_b)
		return emu_move_execute(r);
	emu_complete(r);
	return 0;
}

static int emu_fence(struct emu_run *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	emu_complete(r);
	return 0;
}

/* Every instruction: its name (for --stats), the state it needs, and the code that runs it. */
static const struct {
	const char *name;
	unsigned needs;
	int (*exec)(struct emu_run *r);
} emu_op_info[EMU_OP_COUNT] = {
	[EMU_OP_NONE] = { "(none)", 0, NULL },
	[EMU_OP_UNIMPL] = { "not-emulated", 0, NULL },
	[EMU_OP_UD] = { "ud", 0, emu_ud },
	[EMU_OP_NOP] = { "nop", 0, emu_nop },
	[EMU_OP_FENCE] = { "fence", 0, emu_fence },
	[EMU_OP_INT3] = { "int3", 0, emu_int3 },
	[EMU_OP_FWAIT] = { "fwait", EMU_NEED_FPU, emu_fwait },
	[EMU_OP_POPCNT] = { "popcnt", 0, emu_popcnt },
	[EMU_OP_CLAC] = { "clac", 0, emu_clac_stac },
	[EMU_OP_STAC] = { "stac", 0, emu_clac_stac },
	[EMU_OP_LDMXCSR] = { "ldmxcsr", EMU_NEED_FPU, emu_ldmxcsr },
	[EMU_OP_STMXCSR] = { "stmxcsr", EMU_NEED_FPU, emu_stmxcsr },
	[EMU_OP_VLDMXCSR] = { "vldmxcsr", EMU_NEED_FPU | EMU_NEED_XCR0, emu_ldmxcsr },
	[EMU_OP_VSTMXCSR] = { "vstmxcsr", EMU_NEED_FPU | EMU_NEED_XCR0, emu_stmxcsr },
	[EMU_OP_CMPXCHG8B] = { "cmpxchg8b", 0, emu_cmpxchg8b16b },
	[EMU_OP_CMPXCHG16B] = { "cmpxchg16b", 0, emu_cmpxchg8b16b },
	[EMU_OP_XGETBV] = { "xgetbv", EMU_NEED_XCR0 | EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_XSETBV] = { "xsetbv", EMU_NEED_XCR0 | EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_CLFLUSH] = { "clflush", EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_CLFLUSHOPT] = { "clflushopt", EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_CLWB] = { "clwb", EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_INVPCID] = { "invpcid", EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_WBINVD] = { "wbinvd", 0, emu_sys_execute },
	[EMU_OP_RDTSCP] = { "rdtscp", EMU_NEED_CPUID | EMU_NEED_TSC, emu_sys_execute },
	[EMU_OP_RDPID] = { "rdpid", EMU_NEED_CPUID | EMU_NEED_TSC, emu_sys_execute },
	[EMU_OP_RDPRU] = { "rdpru", EMU_NEED_CPUID, emu_sys_execute },
	[EMU_OP_INT] = { "int", 0, emu_intr_execute },
	[EMU_OP_INTO] = { "into", 0, emu_intr_execute },
	[EMU_OP_IRET] = { "iret", 0, emu_intr_execute },
	[EMU_OP_JMPF] = { "ljmp", 0, emu_far_execute },
	[EMU_OP_CALLF] = { "lcall", 0, emu_far_execute },
	[EMU_OP_RETF] = { "lret", 0, emu_far_execute },
	[EMU_OP_SGDT] = { "sgdt", 0, emu_dtab_execute },
	[EMU_OP_SIDT] = { "sidt", 0, emu_dtab_execute },
	[EMU_OP_LGDT] = { "lgdt", 0, emu_dtab_execute },
	[EMU_OP_LIDT] = { "lidt", 0, emu_dtab_execute },
	[EMU_OP_SMSW] = { "smsw", 0, emu_dtab_execute },
	[EMU_OP_LMSW] = { "lmsw", 0, emu_dtab_execute },
	[EMU_OP_SLDT] = { "sldt", 0, emu_dtab_execute },
	[EMU_OP_STR] = { "str", 0, emu_dtab_execute },
	[EMU_OP_LLDT] = { "lldt", 0, emu_dtab_execute },
	[EMU_OP_LTR] = { "ltr", 0, emu_dtab_execute },
	[EMU_OP_ALU] = { "alu", 0, emu_alu_execute },
	[EMU_OP_ALU_GRP1] = { "alu-imm", 0, emu_alu_execute },
	[EMU_OP_TEST] = { "test", 0, emu_alu_execute },
	[EMU_OP_MOV] = { "mov", 0, emu_alu_execute },
	[EMU_OP_LEA] = { "lea", 0, emu_alu_execute },
	[EMU_OP_IN] = { "in", 0, emu_io_execute },
	[EMU_OP_OUT] = { "out", 0, emu_io_execute },
	[EMU_OP_INS] = { "ins", 0, emu_string_execute },
	[EMU_OP_OUTS] = { "outs", 0, emu_string_execute },
	[EMU_OP_MOVS] = { "movs", 0, emu_string_execute },
	[EMU_OP_STOS] = { "stos", 0, emu_string_execute },
	[EMU_OP_LODS] = { "lods", 0, emu_string_execute },
	[EMU_OP_CMPS] = { "cmps", 0, emu_string_execute },
	[EMU_OP_SCAS] = { "scas", 0, emu_string_execute },
	[EMU_OP_MOVD_TO_XMM] = { "movd-to-xmm", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVD_FROM_XMM] = { "movd-from-xmm", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVQ_TO_XMM] = { "movq-to-xmm", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVQ_FROM_XMM] = { "movq-from-xmm", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVDQA_LOAD] = { "movdqa-load", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVDQU_LOAD] = { "movdqu-load", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVDQA_STORE] = { "movdqa-store", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVDQU_STORE] = { "movdqu-store", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVAPS_LOAD] = { "movaps-load", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVAPS_STORE] = { "movaps-store", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVUPS_LOAD] = { "movups-load", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVUPS_STORE] = { "movups-store", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_MOVNTDQ] = { "movntdq", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PXOR] = { "pxor", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_POR] = { "por", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PAND] = { "pand", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PANDN] = { "pandn", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PADDB] = { "paddb", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PADDW] = { "paddw", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PADDD] = { "paddd", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PADDQ] = { "paddq", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PSUBB] = { "psubb", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PSUBW] = { "psubw", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PSUBD] = { "psubd", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PSUBQ] = { "psubq", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PCMPEQB] = { "pcmpeqb", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PCMPEQW] = { "pcmpeqw", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PCMPEQD] = { "pcmpeqd", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PMOVMSKB] = { "pmovmskb", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PSHUFD] = { "pshufd", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PSHIFT_IMM] = { "pshift-imm", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_PUNPCK] = { "punpck", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_execute },
	[EMU_OP_BSF] = { "bsf", 0, emu_bits_execute },
	[EMU_OP_BSR] = { "bsr", 0, emu_bits_execute },
	[EMU_OP_TZCNT] = { "tzcnt", EMU_NEED_CPUID, emu_bits_execute },
	[EMU_OP_LZCNT] = { "lzcnt", EMU_NEED_CPUID, emu_bits_execute },
	[EMU_OP_BT] = { "bt", 0, emu_bits_execute },
	[EMU_OP_BTS] = { "bts", 0, emu_bits_execute },
	[EMU_OP_BTR] = { "btr", 0, emu_bits_execute },
	[EMU_OP_BTC] = { "btc", 0, emu_bits_execute },
	[EMU_OP_INC] = { "inc", 0, emu_alu_execute },
	[EMU_OP_DEC] = { "dec", 0, emu_alu_execute },
	[EMU_OP_NOT] = { "not", 0, emu_alu_execute },
	[EMU_OP_NEG] = { "neg", 0, emu_alu_execute },
	[EMU_OP_XADD] = { "xadd", 0, emu_alu_execute },
	[EMU_OP_CMPXCHG] = { "cmpxchg", 0, emu_alu_execute },
	[EMU_OP_MUL] = { "mul", 0, emu_muldiv_execute },
	[EMU_OP_IMUL1] = { "imul1", 0, emu_muldiv_execute },
	[EMU_OP_IMUL] = { "imul", 0, emu_muldiv_execute },
	[EMU_OP_DIV] = { "div", 0, emu_muldiv_execute },
	[EMU_OP_IDIV] = { "idiv", 0, emu_muldiv_execute },
	[EMU_OP_SHIFT] = { "shift", 0, emu_shift_execute },
	[EMU_OP_SHLD] = { "shld", 0, emu_shift_execute },
	[EMU_OP_SHRD] = { "shrd", 0, emu_shift_execute },
	[EMU_OP_MOVZX] = { "movzx", 0, emu_move_execute },
	[EMU_OP_MOVSX] = { "movsx", 0, emu_move_execute },
	[EMU_OP_MOVSXD] = { "movsxd", 0, emu_move_execute },
	[EMU_OP_CMOV] = { "cmovcc", 0, emu_move_execute },
	[EMU_OP_SETCC] = { "setcc", 0, emu_move_execute },
	[EMU_OP_XCHG] = { "xchg", 0, emu_move_execute },
	[EMU_OP_BSWAP] = { "bswap", 0, emu_move_execute },
	[EMU_OP_CBW] = { "cbw", 0, emu_move_execute },
	[EMU_OP_CWD] = { "cwd", 0, emu_move_execute },
	[EMU_OP_MOV_MOFFS] = { "mov-moffs", 0, emu_move_execute },
	[EMU_OP_XLAT] = { "xlat", 0, emu_move_execute },
	[EMU_OP_CLC] = { "clc", 0, emu_flag_execute },
	[EMU_OP_STC] = { "stc", 0, emu_flag_execute },
	[EMU_OP_CMC] = { "cmc", 0, emu_flag_execute },
	[EMU_OP_CLD] = { "cld", 0, emu_flag_execute },
	[EMU_OP_STD] = { "std", 0, emu_flag_execute },
	[EMU_OP_LAHF] = { "lahf", EMU_NEED_CPUID, emu_flag_execute },
	[EMU_OP_SAHF] = { "sahf", EMU_NEED_CPUID, emu_flag_execute },
	[EMU_OP_PUSHF] = { "pushf", 0, emu_flag_execute },
	[EMU_OP_POPF] = { "popf", 0, emu_flag_execute },
	[EMU_OP_PUSH] = { "push", 0, emu_stack_execute },
	[EMU_OP_POP] = { "pop", 0, emu_stack_execute },
	[EMU_OP_LEAVE] = { "leave", 0, emu_stack_execute },
	[EMU_OP_ENTER] = { "enter", 0, emu_stack_execute },
	[EMU_OP_JCC] = { "jcc", 0, emu_branch_execute },
	[EMU_OP_JMP] = { "jmp", 0, emu_branch_execute },
	[EMU_OP_CALL] = { "call", 0, emu_branch_execute },
	[EMU_OP_RET] = { "ret", 0, emu_branch_execute },
	[EMU_OP_LOOP] = { "loop", 0, emu_branch_execute },
	[EMU_OP_MOV_SREG] = { "mov-to-sreg", 0, emu_sreg_execute },
	[EMU_OP_MOV_FROM_SREG] = { "mov-from-sreg", 0, emu_sreg_execute },
	[EMU_OP_PUSH_SREG] = { "push-sreg", 0, emu_sreg_execute },
	[EMU_OP_POP_SREG] = { "pop-sreg", 0, emu_sreg_execute },
	[EMU_OP_LOAD_FAR] = { "lds-les-lss-lfs-lgs", 0, emu_sreg_execute },
	[EMU_OP_FXSAVE] = { "fxsave", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			    emu_xsave_execute },
	[EMU_OP_FXRSTOR] = { "fxrstor", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			     emu_xsave_execute },
	[EMU_OP_XSAVE] = { "xsave", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			   emu_xsave_execute },
	[EMU_OP_XRSTOR] = { "xrstor", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			    emu_xsave_execute },
	[EMU_OP_XSAVEOPT] = { "xsaveopt", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			      emu_xsave_execute },
	[EMU_OP_XRSTORS] = { "xrstors", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			     emu_xsave_execute },
	[EMU_OP_XSAVEC] = { "xsavec", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			    emu_xsave_execute },
	[EMU_OP_XSAVES] = { "xsaves", EMU_NEED_XSTATE | EMU_NEED_XCR0 | EMU_NEED_CPUID,
			    emu_xsave_execute },
	[EMU_OP_DAA] = { "daa", 0, emu_legacy_execute },
	[EMU_OP_DAS] = { "das", 0, emu_legacy_execute },
	[EMU_OP_AAA] = { "aaa", 0, emu_legacy_execute },
	[EMU_OP_AAS] = { "aas", 0, emu_legacy_execute },
	[EMU_OP_AAM] = { "aam", 0, emu_legacy_execute },
	[EMU_OP_AAD] = { "aad", 0, emu_legacy_execute },
	[EMU_OP_SALC] = { "salc", 0, emu_legacy_execute },
	[EMU_OP_PUSHA] = { "pusha", 0, emu_legacy_execute },
	[EMU_OP_POPA] = { "popa", 0, emu_legacy_execute },
	[EMU_OP_BOUND] = { "bound", 0, emu_legacy_execute },
	[EMU_OP_CLI] = { "cli", 0, emu_flag_execute },
	[EMU_OP_STI] = { "sti", 0, emu_flag_execute },
	[EMU_OP_CPUID] = { "cpuid", 0, emu_sys_execute },
	[EMU_OP_MOV_CR] = { "mov-cr", 0, emu_ctrl_execute },
	[EMU_OP_MOV_DR] = { "mov-dr", 0, emu_ctrl_execute },
	[EMU_OP_RDMSR] = { "rdmsr", 0, emu_ctrl_execute },
	[EMU_OP_WRMSR] = { "wrmsr", 0, emu_ctrl_execute },
	[EMU_OP_RDTSC] = { "rdtsc", EMU_NEED_TSC, emu_sys_execute },
	[EMU_OP_HLT] = { "hlt", 0, emu_sys_execute },
	[EMU_OP_INT1] = { "int1", 0, emu_sys_execute },
	[EMU_OP_INVLPG] = { "invlpg", 0, emu_sys_execute },
	[EMU_OP_INVD] = { "invd", 0, emu_sys_execute },
	[EMU_OP_CLTS] = { "clts", 0, emu_sys_execute },
	[EMU_OP_VMX] = { "vmx", 0, emu_sys_execute },
	[EMU_OP_RDPMC] = { "rdpmc", 0, emu_sys_execute },
	[EMU_OP_SVM] = { "svm", 0, emu_sys_execute },
	[EMU_OP_FNINIT] = { "fninit", EMU_NEED_FPU | EMU_NEED_XSTATE, emu_x87_execute },
	[EMU_OP_FNCLEX] = { "fnclex", EMU_NEED_FPU | EMU_NEED_XSTATE, emu_x87_execute },
	[EMU_OP_FLDCW] = { "fldcw", EMU_NEED_FPU | EMU_NEED_XSTATE, emu_x87_execute },
	[EMU_OP_FNSTCW] = { "fnstcw", EMU_NEED_FPU | EMU_NEED_XSTATE, emu_x87_execute },
	[EMU_OP_FNSTSW] = { "fnstsw", EMU_NEED_FPU | EMU_NEED_XSTATE, emu_x87_execute },
	[EMU_OP_SYSCALL] = { "syscall", 0, emu_syscall_execute },
	[EMU_OP_SYSRET] = { "sysret", 0, emu_syscall_execute },
	[EMU_OP_SWAPGS] = { "swapgs", 0, emu_syscall_execute },
	[EMU_OP_SSE_INT] = { "sse2-int", EMU_NEED_FPU | EMU_NEED_SSE, emu_sse_int_execute },
	[EMU_OP_PSHUFB] = { "pshufb", EMU_NEED_FPU | EMU_NEED_SSE | EMU_NEED_CPUID,
			    emu_sse_int_execute },
	[EMU_OP_PALIGNR] = { "palignr", EMU_NEED_FPU | EMU_NEED_SSE | EMU_NEED_CPUID,
			     emu_sse_int_execute },
	[EMU_OP_PCLMULQDQ] = { "pclmulqdq", EMU_NEED_FPU | EMU_NEED_SSE | EMU_NEED_CPUID,
			       emu_sse_int_execute },
	[EMU_OP_EMMS] = { "emms", EMU_NEED_FPU | EMU_NEED_XSTATE, emu_mmx_execute },
};

const char *emu_op_name(enum emu_op op)
{
	return (unsigned)op < EMU_OP_COUNT && emu_op_info[op].name ? emu_op_info[op].name : "?";
}

unsigned emu_op_needs(enum emu_op op)
{
	return (unsigned)op < EMU_OP_COUNT ? emu_op_info[op].needs : 0;
}

unsigned emu_insn_needs(const struct emu_insn *insn)
{
	return emu_op_needs(insn->op) | (insn->mmx ? EMU_NEED_FPU | EMU_NEED_XSTATE : 0);
}

int emu_execute(struct emu_cpu *cpu, const struct emu_insn *insn, const struct emu_ops *ops,
		void *opaque, struct emu_exception *exc)
{
	struct emu_run r = { cpu, insn, ops, opaque, exc, cpu->cpl == 3 ? EMU_ACC_USER : 0, 0 };
	bool single_step = cpu->rflags & EMU_RFLAGS_TF;
	int ret;

	memset(exc, 0, sizeof(*exc));
	if ((unsigned)insn->op >= EMU_OP_COUNT || !emu_op_info[insn->op].exec)
		return -ENOTSUP;
	ret = emu_op_info[insn->op].exec(&r);
	if (ret < 0)
		return ret;
	/* A delivered INT n/INTO clears TF: no single-step trap after it (the handler runs). */
	if ((insn->op == EMU_OP_INT || insn->op == EMU_OP_INTO) && !(cpu->rflags & EMU_RFLAGS_TF))
		single_step = false;
	/* SYSCALL and SYSRET trap on the TF they end with (FMASK may clear it, R11 set it). */
	if (insn->op == EMU_OP_SYSCALL || insn->op == EMU_OP_SYSRET)
		single_step = cpu->rflags & EMU_RFLAGS_TF;
	/* After a load of SS the trap waits one more instruction, which we cannot do: it is lost.
	 */
	if (cpu->dirty & EMU_DIRTY_SS_SHADOW)
		single_step = false;
	/* Single-step: a #DB trap once the instruction has completed (int3's #BP supersedes it). */
	if (!exc->valid && single_step) {
		emu_raise(exc, EMU_X_DB, -1);
		exc->dr6 = EMU_DR6_BS;
	}
	if (exc->valid && !(cpu->cr0 & EMU_CR0_PE))
		exc->has_error_code = false; /* real mode pushes no error codes */
	return 0;
}

int emu_step(struct emu_cpu *cpu, const uint8_t *bytes, unsigned nbytes, const struct emu_ops *ops,
	     void *opaque, struct emu_insn *insn, struct emu_exception *exc)
{
	struct emu_insn local;
	int ret;

	if (!insn)
		insn = &local;
	ret = emu_decode(insn, cpu, bytes, nbytes, ops, opaque, exc);
	if (ret || exc->valid)
		return ret;
	return emu_execute(cpu, insn, ops, opaque, exc);
}

int emu_host_cmpxchg(void *host, void *expected, const void *desired, unsigned len)
{
#if defined(__x86_64__)
	uint64_t e[2] = { 0, 0 }, d[2] = { 0, 0 };
	bool ok;

	if (len != 1 && len != 2 && len != 4 && len != 8 && len != 16)
		return -EINVAL;
	memcpy(e, expected, len);
	memcpy(d, desired, len);
	if (len < 16 && ((uintptr_t)host & 63) + len > 64) {
		/*
		 * A locked access across a cache line is a split lock: the host may SIGBUS us
		 * (split_lock_detect=fatal) or throttle the thread. Like KVM's own emulator,
		 * give up host atomicity here; the mutex still orders emulated accesses.
		 */
		static pthread_mutex_t split_lock = PTHREAD_MUTEX_INITIALIZER;

		pthread_mutex_lock(&split_lock);
		ok = !memcmp(host, e, len);
		if (ok)
			memcpy(host, d, len);
		else
			memcpy(e, host, len);
		pthread_mutex_unlock(&split_lock);
		if (!ok)
			memcpy(expected, e, len);
		return ok;
	}
	/* Byte-array lvalues: the operand may be misaligned (cmpxchg8b), which the ISA allows. */
	if (len == 1) {
		uint8_t a = (uint8_t)e[0];

		__asm__ volatile("lock cmpxchgb %[d], %[m]"
				 : "=@ccz"(ok), [m] "+m"(*(volatile uint8_t *)host), "+a"(a)
				 : [d] "q"((uint8_t)d[0])
				 : "memory");
		e[0] = a;
	} else if (len == 2) {
		uint16_t a = (uint16_t)e[0];

		__asm__ volatile("lock cmpxchgw %[d], %[m]"
				 : "=@ccz"(ok), [m] "+m"(*(volatile uint8_t(*)[2])host), "+a"(a)
				 : [d] "r"((uint16_t)d[0])
				 : "memory");
		e[0] = a;
	} else if (len == 4) {
		uint32_t a = (uint32_t)e[0];

		__asm__ volatile("lock cmpxchgl %[d], %[m]"
				 : "=@ccz"(ok), [m] "+m"(*(volatile uint8_t(*)[4])host), "+a"(a)
				 : [d] "r"((uint32_t)d[0])
				 : "memory");
		e[0] = a;
	} else if (len == 8) {
		uint32_t lo = (uint32_t)e[0], hi = (uint32_t)(e[0] >> 32);

		__asm__ volatile("lock cmpxchg8b %[m]"
				 : "=@ccz"(ok), [m] "+m"(*(volatile uint8_t(*)[8])host), "+a"(lo),
				   "+d"(hi)
				 : "b"((uint32_t)d[0]), "c"((uint32_t)(d[0] >> 32))
				 : "memory");
		e[0] = lo | (uint64_t)hi << 32;
	} else {
		if ((uintptr_t)host & 15)
			return -EINVAL;
		__asm__ volatile("lock cmpxchg16b %[m]"
				 : "=@ccz"(ok), [m] "+m"(*(volatile uint8_t(*)[16])host),
				   "+a"(e[0]), "+d"(e[1])
				 : "b"(d[0]), "c"(d[1])
				 : "memory");
	}
	if (!ok)
		memcpy(expected, e, len);
	return ok;
#else
	(void)host;
	(void)expected;
	(void)desired;
	(void)len;
	return -ENOTSUP;
#endif
}
