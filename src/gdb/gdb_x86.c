/* The x86-64 register set as gdb sees it: target description and register-file conversion. */
#include "gdb/gdb_x86.h"

#include <errno.h>
#include <string.h>

/*
 * gdb's standard feature names and register names (gdb/features/i386/64bit-*.xml): gdb's amd64
 * support validates them by name. The types are gdb's built-in ones plus the flag and vector types
 * defined here, so `info registers` shows EFLAGS and MXCSR by bit and XMM by lane.
 */
const char gdb_x86_target_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target version=\"1.0\">\n"
    "<architecture>i386:x86-64</architecture>\n"
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "<flags id=\"i386_eflags\" size=\"4\">\n"
    "<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>\n"
    "<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>\n"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>\n"
    "<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>\n"
    "<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>\n"
    "<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>\n"
    "<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>\n"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
    "<field name=\"ID\" start=\"21\" end=\"21\"/>\n"
    "</flags>\n"
    "<reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
    "<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
    "<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
    "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "</feature>\n"
    "<feature name=\"org.gnu.gdb.i386.sse\">\n"
    "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
    "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
    "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
    "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
    "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
    "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
    "<union id=\"vec128\">\n"
    "<field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>\n"
    "<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>\n"
    "<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>\n"
    "<field name=\"uint128\" type=\"uint128\"/>\n"
    "</union>\n"
    "<flags id=\"i386_mxcsr\" size=\"4\">\n"
    "<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>\n"
    "<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>\n"
    "<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>\n"
    "<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>\n"
    "<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>\n"
    "<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>\n"
    "<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/>\n"
    "</flags>\n"
    "<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\" regnum=\"40\"/>\n"
    "<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"mxcsr\" bitsize=\"32\" type=\"i386_mxcsr\" group=\"vector\"/>\n"
    "</feature>\n"
    "<feature name=\"org.gnu.gdb.i386.segments\">\n"
    "<reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n"
    "</feature>\n"
    "<feature name=\"org.kvmbox.x86.sys\">\n"
    "<reg name=\"cr0\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
    "<reg name=\"cr2\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
    "<reg name=\"cr3\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
    "<reg name=\"cr4\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
    "<reg name=\"cr8\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
    "<reg name=\"efer\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
    "</feature>\n"
    "</target>\n";

/* gdb's rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8-r15 in the register file's encoding order. */
static const uint8_t gdb_x86_gpr[16] = {
	EMU_RAX, EMU_RBX, EMU_RCX, EMU_RDX, EMU_RSI, EMU_RDI, EMU_RBP, EMU_RSP,
	EMU_R8,	 EMU_R9,  EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15,
};
/* gdb's cs, ss, ds, es, fs, gs. */
static const uint8_t gdb_x86_sreg[6] = { EMU_CS, EMU_SS, EMU_DS, EMU_ES, EMU_FS, EMU_GS };

size_t gdb_x86_reg_size(unsigned n)
{
	if (n < GDB_X86_RIP + 1)
		return 8;
	if (n < GDB_X86_ST0)
		return 4; /* eflags, selectors */
	if (n < GDB_X86_FCTRL)
		return 10;
	if (n < GDB_X86_XMM0)
		return 4;
	if (n < GDB_X86_MXCSR)
		return 16;
	if (n == GDB_X86_MXCSR)
		return 4;
	return n < GDB_X86_NR_REGS ? 8 : 0;
}

size_t gdb_x86_regs_size(void)
{
	size_t total = 0;

	for (unsigned n = 0; n < GDB_X86_NR_REGS; n++)
		total += gdb_x86_reg_size(n);
	return total;
}

/* The full x87 tag word from FXSAVE's abridged one: 0 valid, 1 zero, 2 special, 3 empty. */
static uint16_t gdb_x86_ftag(const struct x86_fpu *f)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint16_t tag = 0;

	for (unsigned p = 0; p < 8; p++) {
		const uint8_t *st = f->st[(p - top) & 7];
		uint64_t mant;
		unsigned exp = (st[8] | st[9] << 8) & 0x7fff, t;

		memcpy(&mant, st, 8);
		if (!(f->ftw & (1u << p)))
			t = 3;
		else if (exp == 0x7fff)
			t = 2;
		else if (exp == 0)
			t = mant ? 2 : 1;
		else
			t = (mant >> 63) ? 0 : 2;
		tag |= (uint16_t)(t << (2 * p));
	}
	return tag;
}

static void gdb_x86_put(uint8_t *out, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t gdb_x86_take(const uint8_t *in, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return v;
}

/* The value of a register that fits 64 bits (all but st0-7 and xmm0-15). */
static uint64_t gdb_x86_scalar(const struct x86_regs *r, unsigned n)
{
	const struct x86_fpu *f = &r->fpu;

	if (n < 16)
		return r->gpr[gdb_x86_gpr[n]];
	switch (n) {
	case GDB_X86_RIP:
		return r->rip;
	case GDB_X86_EFLAGS:
		return (uint32_t)r->rflags;
	case GDB_X86_FCTRL:
		return f->fcw;
	case GDB_X86_FCTRL + 1:
		return f->fsw;
	case GDB_X86_FCTRL + 2:
		return gdb_x86_ftag(f);
	case GDB_X86_FCTRL + 3:
		return f->fip >> 32; /* gdb's amd64: the upper half of the 64-bit FIP */
	case GDB_X86_FCTRL + 4:
		return (uint32_t)f->fip;
	case GDB_X86_FCTRL + 5:
		return f->fdp >> 32;
	case GDB_X86_FCTRL + 6:
		return (uint32_t)f->fdp;
	case GDB_X86_FCTRL + 7:
		return f->fop & 0x7ff;
	case GDB_X86_MXCSR:
		return f->mxcsr;
	case GDB_X86_FS_BASE:
		return r->seg[EMU_FS].base;
	case GDB_X86_GS_BASE:
		return r->seg[EMU_GS].base;
	case GDB_X86_CR0:
		return r->cr0;
	case GDB_X86_CR0 + 1:
		return r->cr2;
	case GDB_X86_CR0 + 2:
		return r->cr3;
	case GDB_X86_CR0 + 3:
		return r->cr4;
	case GDB_X86_CR0 + 4:
		return r->cr8;
	case GDB_X86_CR0 + 5:
		return r->efer;
	default: /* selectors */
		return r->seg[gdb_x86_sreg[n - GDB_X86_CS]].selector;
	}
}

int gdb_x86_reg_get(const struct x86_regs *r, unsigned n, uint8_t *out)
{
	size_t size = gdb_x86_reg_size(n);

	if (!size)
		return -EINVAL;
	if (n >= GDB_X86_ST0 && n < GDB_X86_FCTRL)
		memcpy(out, r->fpu.st[n - GDB_X86_ST0], 10);
	else if (n >= GDB_X86_XMM0 && n < GDB_X86_MXCSR)
		memcpy(out, r->fpu.xmm[n - GDB_X86_XMM0], 16);
	else
		gdb_x86_put(out, gdb_x86_scalar(r, n), size);
	return 0;
}

int gdb_x86_reg_set(struct x86_regs *r, unsigned n, const uint8_t *in)
{
	struct x86_fpu *f = &r->fpu;
	size_t size = gdb_x86_reg_size(n);
	uint64_t v;

	if (!size)
		return -EINVAL;
	if (n >= GDB_X86_ST0 && n < GDB_X86_FCTRL) {
		memcpy(f->st[n - GDB_X86_ST0], in, 10);
		return 0;
	}
	if (n >= GDB_X86_XMM0 && n < GDB_X86_MXCSR) {
		memcpy(f->xmm[n - GDB_X86_XMM0], in, 16);
		return 0;
	}
	v = gdb_x86_take(in, size);
	if (n < 16) {
		r->gpr[gdb_x86_gpr[n]] = v;
		return 0;
	}
	switch (n) {
	case GDB_X86_RIP:
		r->rip = v;
		return 0;
	case GDB_X86_EFLAGS:
		/* Bit 1 is always set; the upper half of RFLAGS is reserved. */
		r->rflags = (v & 0x3f7fd7) | 2;
		return 0;
	case GDB_X86_FCTRL:
		f->fcw = (uint16_t)v;
		return 0;
	case GDB_X86_FCTRL + 1:
		f->fsw = (uint16_t)v;
		return 0;
	case GDB_X86_FCTRL + 2:
		f->ftw = 0;
		for (unsigned p = 0; p < 8; p++)
			if (((v >> (2 * p)) & 3) != 3)
				f->ftw |= (uint8_t)(1u << p);
		return 0;
	case GDB_X86_FCTRL + 3:
		f->fip = (f->fip & 0xffffffffull) | (v & 0xffffffffull) << 32;
		return 0;
	case GDB_X86_FCTRL + 4:
		f->fip = (f->fip & ~0xffffffffull) | (uint32_t)v;
		return 0;
	case GDB_X86_FCTRL + 5:
		f->fdp = (f->fdp & 0xffffffffull) | (v & 0xffffffffull) << 32;
		return 0;
	case GDB_X86_FCTRL + 6:
		f->fdp = (f->fdp & ~0xffffffffull) | (uint32_t)v;
		return 0;
	case GDB_X86_FCTRL + 7:
		f->fop = v & 0x7ff;
		return 0;
	case GDB_X86_MXCSR:
		/* Reserved bits would make the vCPU's FXRSTOR fault: refuse them. */
		if (v & ~0xffffull)
			return -EPERM;
		f->mxcsr = (uint32_t)v;
		return 0;
	case GDB_X86_FS_BASE:
	case GDB_X86_GS_BASE:
		if ((uint64_t)((int64_t)(v << 16) >> 16) != v)
			return -EPERM; /* not canonical */
		r->seg[n == GDB_X86_FS_BASE ? EMU_FS : EMU_GS].base = v;
		return 0;
	default: /* selectors, control registers, EFER */
		return v == gdb_x86_scalar(r, n) ? 0 : -EPERM;
	}
}
