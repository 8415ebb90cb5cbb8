/*
 * Saving and restoring the x87, SSE and extended state: FXSAVE, FXRSTOR, XSAVE, XSAVEOPT, XSAVEC,
 * XSAVES, XRSTOR (standard and compacted form) and XRSTORS. The vCPU's state is one standard-format
 * XSAVE image (cpu->xstate, KVM_GET_XSAVE's layout) whose XSTATE_BV says which components are in
 * use (XINUSE); a component not in use holds its initial values whatever the image's bytes say.
 * Where the SDM leaves room, this does what the AMD hosts the tests run on do (measured):
 * - XSAVE writes every requested component (initial values for those not in use) and MXCSR when
 *   SSE or AVX is requested; only the requested XSTATE_BV bits change in the header.
 * - XSAVEC and XSAVES skip components not in use (SSE is in use when MXCSR is not 0x1f80, whatever
 *   XSTATE_BV says), write MXCSR with SSE only when SSE is in use, and write XSTATE_BV and XCOMP_BV
 *   but not header bytes 16-63.
 * - XSAVEOPT is XSAVE (its optimisations only ever skip writing what is already there or unused).
 * - XRSTOR's standard form loads MXCSR whenever SSE or AVX is requested; the compacted form treats
 *   MXCSR as part of SSE (initialised with it).
 * Every page of the area is checked before the first byte is written, so a fault changes nothing.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/emu/exec.h"

#define XS_FCW 0
#define XS_FSW 2
#define XS_FTW 4 /* abridged; the byte after it is reserved */
#define XS_FOP 6
#define XS_MXCSR 24
#define XS_ST 32   /* ST0-7 / MM0-7, 16 bytes each */
#define XS_XMM 160 /* XMM0-15 */
#define XS_XMM_END 416
#define XS_XSTATE_BV 512
#define XS_XCOMP_BV 520
#define XS_EXT 576 /* the first byte after the header */
#define XS_MAX 12288
#define XS_X87 (1ull << 0)
#define XS_SSE (1ull << 1)
#define XS_AVX (1ull << 2)
#define XS_COMPACTED (1ull << 63)
#define XS_MXCSR_DEFAULT 0x1f80u
#define XS_MXCSR_MASK_DEFAULT 0xffbfu

static uint64_t xs_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void xs_put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/*
 * What the x87 unit makes of a loaded state: FCW's reserved bits read 6 = 1, 7 = 13-15 = 0; FSW's
 * ES (and B, its copy) say whether an unmasked exception is pending; the byte after FTW and FOP's
 * top 5 bits are zero.
 */
static void xs_x87_reserved(uint8_t *img)
{
	uint16_t fcw = (uint16_t)((img[XS_FCW] | img[XS_FCW + 1] << 8) & 0x1f3f) | 0x40;
	uint16_t fsw = (uint16_t)(img[XS_FSW] | img[XS_FSW + 1] << 8) & 0x7f7f;

	if (fsw & ~fcw & 0x3f)
		fsw |= 0x8080;
	img[XS_FCW] = (uint8_t)fcw, img[XS_FCW + 1] = (uint8_t)(fcw >> 8);
	img[XS_FSW] = (uint8_t)fsw, img[XS_FSW + 1] = (uint8_t)(fsw >> 8);
	img[XS_FTW + 1] = 0;
	img[XS_FOP + 1] &= 0x07;
}

/* Guest memory in pieces the callbacks take (at most 16 bytes). */
static int xs_access(struct emu_run *r, uint64_t la, uint8_t *buf, unsigned len, bool write)
{
	struct emu_pf pf;
	int ret;

	for (unsigned off = 0; off < len; off += 16) {
		unsigned n = len - off < 16 ? len - off : 16;

		if (write)
			ret = r->ops->write(r->opaque, la + off, buf + off, n,
					    r->user | EMU_ACC_WRITE, &pf);
		else
			ret = r->ops->read(r->opaque, la + off, buf + off, n, r->user, &pf);
		ret = emu_mem_result(r, ret, &pf);
		if (ret)
			return ret;
	}
	return 0;
}

/* Every page of [la, la + len) takes a write, or the instruction faults before writing. */
static int xs_probe_write(struct emu_run *r, uint64_t la, unsigned len)
{
	uint64_t end = la + len, p = la;

	while (p < end) {
		uint64_t next = (p | 4095) + 1;
		unsigned n = (unsigned)((next < end ? next : end) - p);
		uint8_t dummy[16];
		struct emu_pf pf;
		int ret;

		ret = r->ops->read(r->opaque, p, dummy, n < 16 ? n : 16,
				   r->user | EMU_ACC_WRITE | EMU_ACC_PROBE, &pf);
		ret = emu_mem_result(r, ret, &pf);
		if (ret)
			return ret;
		p = next;
	}
	return 0;
}

/* The bytes of component i in a standard-format image: up to two ranges. */
static unsigned xs_ranges(const struct emu_xlayout *l, unsigned i, unsigned off[2], unsigned len[2])
{
	if (i == 0) { /* FCW..FDP (MXCSR is apart), ST0-7 */
		off[0] = XS_FCW, len[0] = XS_MXCSR;
		off[1] = XS_ST, len[1] = XS_XMM - XS_ST;
		return 2;
	}
	if (i == 1) {
		off[0] = XS_XMM, len[0] = XS_XMM_END - XS_XMM;
		return 1;
	}
	off[0] = l->comp[i].offset, len[0] = l->comp[i].size;
	return 1;
}

/* The vCPU's state with initial values in every component not in use: what XSAVE reports. */
static void xs_current(const struct emu_cpu *cpu, uint8_t *img)
{
	const struct emu_xlayout *l = cpu->xlayout;
	uint64_t inuse = xs_get64(cpu->xstate + XS_XSTATE_BV);

	memcpy(img, cpu->xstate, l->size);
	for (unsigned i = 0; i < EMU_XSTATE_MAX; i++) {
		unsigned off[2], len[2], n;

		if ((inuse >> i) & 1)
			continue;
		if (i >= 2 && (!l->comp[i].size || !l->comp[i].offset))
			continue; /* not described, or a supervisor component: not in this image */
		n = xs_ranges(l, i, off, len);
		for (unsigned k = 0; k < n; k++)
			memset(img + off[k], 0, len[k]);
		if (i == 0)
			img[XS_FCW] = 0x7f, img[XS_FCW + 1] = 0x03;
	}
}

/* Component offsets in the compacted format for the components in xcomp_bv. */
static void xs_compacted(const struct emu_xlayout *l, uint64_t xcomp_bv, uint32_t off[],
			 uint32_t *end)
{
	uint32_t o = XS_EXT;

	for (unsigned i = 2; i < EMU_XSTATE_MAX; i++) {
		off[i] = 0;
		if (!((xcomp_bv >> i) & 1))
			continue;
		if (l->comp[i].align64)
			o = (o + 63) & ~63u;
		off[i] = o;
		o += l->comp[i].size;
	}
	*end = o;
}

/*
 * Whether bits names a component this layout cannot place in the vCPU's image: one CPUID does not
 * describe, or a supervisor component (KVM's image holds user components only).
 */
static bool xs_unplaceable(const struct emu_xlayout *l, uint64_t bits)
{
	for (unsigned i = 2; i < 64; i++)
		if (((bits >> i) & 1) && (i >= EMU_XSTATE_MAX || !l->comp[i].offset))
			return true;
	return false;
}

/* #UD/#NM/#GP checks the XSAVE family shares, and the requested-feature bitmap. */
static int xs_checks(struct emu_run *r, bool supervisor, uint64_t *rfbm)
{
	const struct emu_cpu *cpu = r->cpu;
	uint64_t mask = cpu->xcr0 | (supervisor ? cpu->xss : 0);

	if (!(cpu->cr4 & EMU_CR4_OSXSAVE) || !(cpu->features & EMU_FEAT_XSAVE))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cr0 & EMU_CR0_TS)
		return emu_raise(r->exc, EMU_X_NM, -1);
	if (supervisor && cpu->cpl)
		return emu_raise(r->exc, EMU_X_GP, 0);
	*rfbm = mask & ((cpu->gpr[EMU_RDX] & 0xffffffffull) << 32 | (uint32_t)cpu->gpr[EMU_RAX]);
	return 0;
}

/* The area's linear address: aligned to align bytes (#GP otherwise), len bytes within limits. */
static int xs_area(struct emu_run *r, unsigned len, unsigned align, bool write, uint64_t *la)
{
	int ret = emu_linear(r, len, write, la);

	if (ret)
		return ret;
	if (*la & (align - 1))
		return emu_raise(r->exc, EMU_X_GP, 0);
	return 0;
}

static int xs_save(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_xlayout *l = cpu->xlayout;
	enum emu_op op = r->insn->op;
	bool compact = op == EMU_OP_XSAVEC || op == EMU_OP_XSAVES;
	uint64_t rfbm, inuse, la, bv;
	uint32_t coff[EMU_XSTATE_MAX], end = XS_EXT;
	uint8_t cur[XS_MAX], out[XS_MAX], written[XS_MAX];
	int ret;

	ret = xs_checks(r, op == EMU_OP_XSAVES, &rfbm);
	if (ret)
		return ret;
	if (xs_unplaceable(l, rfbm))
		return -ENOTSUP;
	inuse = xs_get64(cpu->xstate + XS_XSTATE_BV) & l->supported;
	/* SSE is in its initial configuration only with MXCSR at its default too (what the init
	 * optimisation of XSAVEC/XSAVES goes by; the image's XSTATE_BV may say otherwise). */
	if (compact && (cpu->xstate[XS_MXCSR] | cpu->xstate[XS_MXCSR + 1] << 8 |
			cpu->xstate[XS_MXCSR + 2] << 16 |
			(uint32_t)cpu->xstate[XS_MXCSR + 3] << 24) != XS_MXCSR_DEFAULT)
		inuse |= XS_SSE;
	if (compact) {
		xs_compacted(l, rfbm, coff, &end);
	} else {
		for (unsigned i = 2; i < EMU_XSTATE_MAX; i++)
			if (((rfbm >> i) & 1) && l->comp[i].offset + l->comp[i].size > end)
				end = l->comp[i].offset + l->comp[i].size;
	}
	if (end > XS_MAX)
		return -ENOTSUP;
	ret = xs_area(r, end, 64, true, &la);
	if (ret)
		return ret;
	xs_current(cpu, cur);
	memset(written, 0, end);
	/* What goes where: written[] marks the bytes to store. */
	for (unsigned i = 0; i < EMU_XSTATE_MAX; i++) {
		unsigned off[2], len[2], n;

		if (!((rfbm >> i) & 1) || (compact && !((inuse >> i) & 1)))
			continue;
		n = xs_ranges(l, i, off, len);
		for (unsigned k = 0; k < n; k++) {
			unsigned to = compact && i >= 2 ? coff[i] : off[k];

			memcpy(out + to, cur + off[k], len[k]);
			memset(written + to, 1, len[k]);
		}
	}
	if (compact ? (rfbm & inuse & XS_SSE) : (rfbm & (XS_SSE | XS_AVX))) {
		memcpy(out + XS_MXCSR, cur + XS_MXCSR, 8); /* MXCSR, MXCSR_MASK */
		memset(written + XS_MXCSR, 1, 8);
	}
	if (compact) {
		xs_put64(out + XS_XSTATE_BV, rfbm & inuse);
		xs_put64(out + XS_XCOMP_BV, rfbm | XS_COMPACTED);
		memset(written + XS_XSTATE_BV, 1, 16);
	} else {
		uint8_t old[8];

		ret = xs_probe_write(r, la, end);
		if (!ret)
			ret = xs_access(r, la + XS_XSTATE_BV, old, 8, false);
		if (ret)
			return ret;
		bv = (xs_get64(old) & ~rfbm) | (inuse & rfbm);
		xs_put64(out + XS_XSTATE_BV, bv);
		memset(written + XS_XSTATE_BV, 1, 8);
	}
	ret = xs_probe_write(r, la, end);
	if (ret)
		return ret;
	for (unsigned a = 0; a < end;) {
		unsigned b = a;

		if (!written[a]) {
			a++;
			continue;
		}
		while (b < end && written[b])
			b++;
		ret = xs_access(r, la + a, out + a, b - a, true);
		if (ret)
			return ret;
		a = b;
	}
	return 0;
}

/* The MXCSR an area holds, if the bits are allowed; #GP otherwise. */
static int xs_check_mxcsr(struct emu_run *r, const uint8_t *area)
{
	uint32_t mxcsr, mask = r->cpu->mxcsr_mask ? r->cpu->mxcsr_mask : XS_MXCSR_MASK_DEFAULT;

	memcpy(&mxcsr, area + XS_MXCSR, 4);
	if (mxcsr & ~mask)
		return emu_raise(r->exc, EMU_X_GP, 0);
	return 0;
}

static int xs_restore(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	const struct emu_xlayout *l = cpu->xlayout;
	bool supervisor = r->insn->op == EMU_OP_XRSTORS, compact;
	uint64_t rfbm, la, bv, xcomp, allowed = cpu->xcr0 | (supervisor ? cpu->xss : 0), inuse;
	uint32_t coff[EMU_XSTATE_MAX], end = XS_EXT;
	uint8_t hdr[64], area[XS_MAX];
	int ret;

	ret = xs_checks(r, supervisor, &rfbm);
	if (!ret)
		ret = xs_area(r, XS_EXT, 64, false, &la);
	if (!ret)
		ret = xs_access(r, la + XS_XSTATE_BV, hdr, 64, false);
	if (ret)
		return ret;
	bv = xs_get64(hdr);
	xcomp = xs_get64(hdr + 8);
	compact = xcomp & XS_COMPACTED;
	if (compact) {
		static const uint8_t zero[48];

		if (!(cpu->features & (supervisor ? EMU_FEAT_XSAVES : EMU_FEAT_XSAVEC)) ||
		    (xcomp & ~XS_COMPACTED & ~allowed) || (bv & ~xcomp) ||
		    memcmp(hdr + 16, zero, 48))
			return emu_raise(r->exc, EMU_X_GP, 0);
		if (xs_unplaceable(l, xcomp & ~XS_COMPACTED & rfbm))
			return -ENOTSUP;
		xs_compacted(l, xcomp, coff, &end);
	} else {
		static const uint8_t zero[16];

		if (supervisor || (bv & ~cpu->xcr0) || memcmp(hdr + 8, zero, 16))
			return emu_raise(r->exc, EMU_X_GP, 0);
		for (unsigned i = 2; i < EMU_XSTATE_MAX; i++)
			if (((rfbm & bv) >> i & 1) && l->comp[i].offset + l->comp[i].size > end)
				end = l->comp[i].offset + l->comp[i].size;
	}
	if (end > XS_MAX || xs_unplaceable(l, rfbm))
		return -ENOTSUP;
	ret = xs_area(r, end, 64, false, &la);
	if (!ret)
		ret = xs_access(r, la, area, end, false);
	if (ret)
		return ret;
	/* MXCSR comes with SSE or AVX (standard form) or with SSE's data (compacted form). */
	if (compact ? (rfbm & bv & XS_SSE) : (rfbm & (XS_SSE | XS_AVX))) {
		ret = xs_check_mxcsr(r, area);
		if (ret)
			return ret;
		memcpy(cpu->xstate + XS_MXCSR, area + XS_MXCSR, 4);
	} else if (compact && (rfbm & XS_SSE)) {
		uint32_t def = XS_MXCSR_DEFAULT;

		memcpy(cpu->xstate + XS_MXCSR, &def, 4);
	}
	inuse = xs_get64(cpu->xstate + XS_XSTATE_BV);
	for (unsigned i = 0; i < EMU_XSTATE_MAX; i++) {
		unsigned off[2], len[2], n;

		if (!((rfbm >> i) & 1) || (i >= 2 && (!l->comp[i].size || !l->comp[i].offset)))
			continue;
		n = xs_ranges(l, i, off, len);
		for (unsigned k = 0; k < n; k++) {
			unsigned from = compact && i >= 2 ? coff[i] : off[k];

			if ((bv >> i) & 1)
				memcpy(cpu->xstate + off[k], area + from, len[k]);
			else
				memset(cpu->xstate + off[k], 0, len[k]);
		}
		if (!((bv >> i) & 1) && i == 0)
			cpu->xstate[XS_FCW] = 0x7f, cpu->xstate[XS_FCW + 1] = 0x03;
		if (i == 0)
			xs_x87_reserved(cpu->xstate);
		inuse = (inuse & ~(1ull << i)) | (bv & (1ull << i));
	}
	xs_put64(cpu->xstate + XS_XSTATE_BV, inuse);
	cpu->dirty |= EMU_DIRTY_XSTATE;
	return 0;
}

/*
 * FXSAVE/FXRSTOR: the legacy 512-byte area, 16-byte aligned. Without REX.W the instruction
 * pointer and data pointer are 32-bit offsets with a selector (written as 0: the vCPU's image
 * keeps only the 64-bit form). Bytes 416-511 are left alone.
 */
static int xs_fx(struct emu_run *r)
{
	struct emu_cpu *cpu = r->cpu;
	bool save = r->insn->op == EMU_OP_FXSAVE;
	uint8_t buf[512];
	uint64_t la, inuse;
	int ret;

	if ((cpu->cr0 & EMU_CR0_EM))
		return emu_raise(r->exc, EMU_X_UD, -1);
	if (cpu->cr0 & EMU_CR0_TS)
		return emu_raise(r->exc, EMU_X_NM, -1);
	ret = xs_area(r, XS_XMM_END, 16, save, &la);
	if (ret)
		return ret;
	if (save) {
		uint8_t cur[XS_MAX];

		xs_current(cpu, cur);
		memcpy(buf, cur, XS_XMM_END);
		if (!r->insn->rex_w) {
			memset(buf + 12, 0, 4); /* FCS, reserved */
			memset(buf + 20, 0, 4); /* FDS, reserved */
		}
		ret = xs_probe_write(r, la, XS_XMM_END);
		if (!ret)
			ret = xs_access(r, la, buf, XS_XMM_END, true);
		return ret;
	}
	ret = xs_access(r, la, buf, XS_XMM_END, false);
	if (!ret)
		ret = xs_check_mxcsr(r, buf);
	if (ret)
		return ret;
	if (!r->insn->rex_w) {
		memset(buf + 12, 0, 4);
		memset(buf + 20, 0, 4);
	}
	memcpy(cpu->xstate, buf, XS_MXCSR);
	xs_x87_reserved(cpu->xstate);
	memcpy(cpu->xstate + XS_MXCSR, buf + XS_MXCSR, 4);
	memcpy(cpu->xstate + XS_ST, buf + XS_ST, XS_XMM_END - XS_ST);
	inuse = xs_get64(cpu->xstate + XS_XSTATE_BV) | XS_X87 | XS_SSE;
	xs_put64(cpu->xstate + XS_XSTATE_BV, inuse);
	cpu->dirty |= EMU_DIRTY_XSTATE;
	return 0;
}

int emu_xsave_execute(struct emu_run *r)
{
	const struct emu_cpu *cpu = r->cpu;
	int ret;

	if (!cpu->xstate || !cpu->xlayout || cpu->xlayout->size > XS_MAX ||
	    cpu->xlayout->size < XS_EXT)
		return -ENOTSUP;
	switch (r->insn->op) {
	case EMU_OP_FXSAVE:
	case EMU_OP_FXRSTOR:
		ret = xs_fx(r);
		break;
	case EMU_OP_XSAVEOPT:
	case EMU_OP_XSAVEC:
	case EMU_OP_XSAVES:
		if (!(cpu->features & (r->insn->op == EMU_OP_XSAVEOPT ? EMU_FEAT_XSAVEOPT
				       : r->insn->op == EMU_OP_XSAVEC ? EMU_FEAT_XSAVEC
								      : EMU_FEAT_XSAVES)))
			return emu_raise(r->exc, EMU_X_UD, -1);
		/* fall through */
	case EMU_OP_XSAVE:
		ret = xs_save(r);
		break;
	case EMU_OP_XRSTORS:
		if (!(cpu->features & EMU_FEAT_XSAVES))
			return emu_raise(r->exc, EMU_X_UD, -1);
		/* fall through */
	case EMU_OP_XRSTOR:
		ret = xs_restore(r);
		break;
	default:
		return -ENOTSUP;
	}
	return emu_done(r, ret);
}

int emu_xlayout_from_cpuid(struct emu_xlayout *l,
			   int (*leaf)(void *opaque, uint32_t function, uint32_t index,
				       uint32_t out[4]),
			   void *opaque)
{
	uint32_t out[4];

	memset(l, 0, sizeof(*l));
	l->size = XS_EXT;
	if (leaf(opaque, 0xd, 0, out))
		return 0;
	l->supported = out[0] | (uint64_t)out[3] << 32;
	if (!leaf(opaque, 0xd, 1, out))
		l->supported |= out[2] | (uint64_t)out[3] << 32;
	for (unsigned i = 2; i < EMU_XSTATE_MAX; i++) {
		if (!((l->supported >> i) & 1) || leaf(opaque, 0xd, i, out) || !out[0])
			continue;
		/* A supervisor component (ECX[0]) has no standard-format offset: size only. */
		if (out[0] > XS_MAX)
			return -EINVAL;
		l->comp[i].size = out[0];
		l->comp[i].offset = (out[2] & 1) ? 0 : out[1];
		l->comp[i].align64 = (out[2] >> 1) & 1;
		if (!(out[2] & 1)) {
			if (out[1] < XS_EXT || (uint64_t)out[1] + out[0] > XS_MAX)
				return -EINVAL;
			for (unsigned k = 2; k < i; k++)
				if (l->comp[k].offset &&
				    out[1] < l->comp[k].offset + l->comp[k].size &&
				    l->comp[k].offset < out[1] + out[0])
					return -EINVAL;
			if (out[1] + out[0] > l->size)
				l->size = out[1] + out[0];
		}
	}
	return 0;
}
