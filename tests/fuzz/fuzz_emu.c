/* libFuzzer target: arbitrary instruction bytes, CPU state and memory through the x86 emulator. */
#include "arch/x86/emu/decode.h"
#include "arch/x86/emu/emu.h"
#include "arch/x86/emu/mmu.h"
#include "guest_mem.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MEM 0x10000u /* 64 KiB of RAM at 0; everything else is "MMIO" (-EFAULT) */

struct fuzz_env {
	struct guest_mem gm;
	uint8_t *mem;
	uint64_t fault_page; /* accesses touching this page fault */
	bool use_mmu;	     /* translate through the page walker, with guest page tables in mem */
	struct emu_mmu mmu;
};

static struct fuzz_env env;

static void *fuzz_pt(void *opaque, uint64_t gpa, unsigned len)
{
	return guest_mem_ptr(opaque, gpa, len);
}

/* Host pointer for [la, la+len) or a fault/error, one page at a time like the real glue. */
static int fuzz_map(uint64_t la, unsigned len, unsigned access, uint8_t **host, struct emu_pf *pf)
{
	uint8_t *first = NULL;

	if (!len || len > 16)
		abort(); /* the emulator promised at most 16 bytes */
	for (unsigned off = 0; off < len;) {
		uint64_t a = la + off, gpa = a;
		unsigned chunk = 4096 - (unsigned)(a & 4095);
		uint8_t *p;
		int ret;

		if (chunk > len - off)
			chunk = len - off;
		if ((a & ~4095ull) == env.fault_page) {
			pf->addr = a;
			pf->error_code = access;
			return EMU_MEM_FAULT;
		}
		if (env.use_mmu) {
			ret = emu_mmu_translate(&env.mmu, a, access, &gpa, pf);
			if (ret)
				return ret;
		}
		p = guest_mem_ptr(&env.gm, gpa, chunk);
		if (!p)
			return -EFAULT;
		if (!first)
			first = p;
		else if (p != first + off)
			return -ENOTSUP; /* discontiguous: keep the test simple */
		off += chunk;
	}
	*host = first;
	return 0;
}

static int fuzz_read(void *opaque, uint64_t la, void *dst, unsigned len, unsigned access,
		     struct emu_pf *pf)
{
	uint8_t *p;
	int ret = fuzz_map(la, len, access, &p, pf);

	(void)opaque;
	if (!ret)
		memcpy(dst, p, len);
	return ret;
}

static int fuzz_write(void *opaque, uint64_t la, const void *src, unsigned len, unsigned access,
		      struct emu_pf *pf)
{
	uint8_t *p;
	int ret = fuzz_map(la, len, access, &p, pf);

	(void)opaque;
	if (!(access & EMU_ACC_WRITE))
		abort();
	if (!ret)
		memcpy(p, src, len);
	return ret;
}

static int fuzz_cmpxchg(void *opaque, uint64_t la, void *expected, const void *desired,
			unsigned len, unsigned access, bool *swapped, struct emu_pf *pf)
{
	uint8_t *p;
	int ret = fuzz_map(la, len, access, &p, pf);

	(void)opaque;
	if (len != 1 && len != 2 && len != 4 && len != 8 && len != 16)
		abort();
	if (ret)
		return ret;
	ret = emu_host_cmpxchg(p, expected, desired, len);
	if (ret < 0)
		return ret;
	*swapped = ret;
	return 0;
}

/* Ports read as a fixed pattern; writes vanish. */
static int fuzz_pio(void *opaque, uint16_t port, void *data, unsigned len, bool write)
{
	(void)opaque;
	if (len != 1 && len != 2 && len != 4)
		abort(); /* port accesses are 1, 2 or 4 bytes */
	if (!write)
		memset(data, (uint8_t)port, len);
	return 0;
}

static const struct emu_ops fuzz_ops = {
	.read = fuzz_read, .write = fuzz_write, .cmpxchg = fuzz_cmpxchg, .pio = fuzz_pio
};
/* The same with the decoder's page-at-once fetches (struct emu_ops.prefetch). */
static const struct emu_ops fuzz_ops_prefetch = { .read = fuzz_read,
						  .write = fuzz_write,
						  .cmpxchg = fuzz_cmpxchg,
						  .pio = fuzz_pio,
						  .prefetch = true };

/* CPUID leaf 0xd of a CPU with AVX, AVX-512 and XSAVES (supervisor component 11, CET_U). */
static int fuzz_leaf(void *opaque, uint32_t function, uint32_t index, uint32_t out[4])
{
	static const uint32_t d[][4] = {
		[0] = { 0xe7, 0x980, 0x980, 0 }, [1] = { 0xf, 0x988, 0x800, 0 },
		[2] = { 0x100, 0x240, 0, 0 },	 [5] = { 0x40, 0x340, 0, 0 },
		[6] = { 0x200, 0x380, 0, 0 },	 [7] = { 0x400, 0x580, 0, 0 },
		[11] = { 0x10, 0, 1, 0 },
	};

	(void)opaque;
	if (function != 0xd || index >= sizeof(d) / sizeof(d[0]))
		return -1;
	memcpy(out, d[index], sizeof(d[0]));
	return 0;
}

static uint64_t fuzz_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/*
 * Input: bytes 0-122 CPU state (registers, control bits, segments, paging), byte 123 how many
 * instruction bytes the "exit" carries, 124-138 those bytes, then memory contents. The first
 * bytes of memory double as the rest of the state (so older inputs keep their meaning): CPUID
 * features (u32 at 0), GDT/IDT limits (u16 at 4 and 6), TSS limit (u16 at 8); the tables sit
 * at fixed addresses, XMM registers are loaded from 0xb000.
 */
#define FUZZ_GDT 0x8000u
#define FUZZ_IDT 0x9000u
#define FUZZ_TSS 0xa000u
#define FUZZ_XMM 0xb000u
#define FUZZ_XSTATE 0xc000u /* the vCPU's XSAVE image is loaded from here */
#define FUZZ_INSN 124
#define FUZZ_HDR (FUZZ_INSN + EMU_MAX_INSN_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emu_cpu cpu, before;
	struct emu_exception exc;
	struct emu_insn insn;
	uint8_t mode, nbytes;
	int ret;

	if (size < FUZZ_HDR)
		return 0;
	log_set_level(LOG_ERROR);
	if (!env.mem) {
		env.mem = aligned_alloc(4096, FUZZ_MEM);
		if (!env.mem || guest_mem_add(&env.gm, 0, FUZZ_MEM, env.mem))
			abort();
	}
	memset(env.mem, 0, FUZZ_MEM);
	memcpy(env.mem, data + FUZZ_HDR, size - FUZZ_HDR < FUZZ_MEM ? size - FUZZ_HDR : FUZZ_MEM);

	memset(&cpu, 0, sizeof(cpu));
	for (unsigned i = 0; i < EMU_NR_GPRS; i++)
		cpu.gpr[i] =
		    data[i] & 0x80 ? fuzz_u64(data + 16 + (i & 7) * 8) : data[i] * 0x101ull;
	mode = data[80];
	cpu.rip = fuzz_u64(data + 81) & (mode & 0x80 ? ~0ull : 0xfff0);
	cpu.rflags = 2 | (fuzz_u64(data + 89) & 0x3f7fd5);
	cpu.cr0 = (mode & 1 ? EMU_CR0_PE : 0) | (mode & 2 ? EMU_CR0_PG : 0) | (data[97] & 0x2f) |
		  (data[98] & 4 ? EMU_CR0_AM | EMU_CR0_WP : 0);
	cpu.cr4 = (data[99] & 1 ? EMU_CR4_PAE : 0) | (data[99] & 2 ? EMU_CR4_OSFXSR : 0) |
		  (data[99] & 4 ? EMU_CR4_LA57 : 0) | (data[99] & 8 ? EMU_CR4_OSXSAVE : 0) |
		  (data[99] & 16 ? EMU_CR4_SMEP : 0) | (data[99] & 32 ? EMU_CR4_SMAP : 0) |
		  (data[99] & 64 ? EMU_CR4_PSE : 0);
	cpu.efer = (mode & 4 ? EMU_EFER_LMA | EMU_EFER_LME : 0) | (mode & 8 ? EMU_EFER_NXE : 0);
	cpu.xcr0 = data[100] & 7;
	cpu.cpl = data[101] & 3;
	cpu.mxcsr = data[102] | (uint32_t)data[103] << 8;
	cpu.mxcsr_mask = data[104] & 1 ? 0xffff : 0;
	cpu.fcw = data[105] | 0x340;
	cpu.fsw = data[106];
	for (unsigned i = 0; i < EMU_NR_SREGS; i++) {
		uint8_t s = data[107 + i];

		cpu.seg[i] = (struct emu_seg){
			.base = s & 0x80 ? (uint64_t)(s & 0x70) << 8 : 0,
			.limit = s & 8 ? 0xffffffff : (s & 4 ? 0xffff : 0xfff),
			.type = (uint8_t)((s & 3) | (i == EMU_CS ? 0xa : (s & 0x40) >> 4)),
			.s = 1,
			.present = 1,
			.db = (s >> 4) & 1,
			.l = i == EMU_CS && (s & 0x20),
			.unusable = (s & 0xf3) == 0x03,
		};
	}
	env.fault_page = data[113] & 0x80 ? (uint64_t)(data[113] & 0xf) << 12 : ~0ull;
	env.use_mmu = data[114] & 1;
	env.mmu = (struct emu_mmu){ .cr0 = cpu.cr0,
				    .cr3 = fuzz_u64(data + 115) & 0xffff,
				    .cr4 = cpu.cr4,
				    .efer = cpu.efer,
				    .rflags = cpu.rflags,
				    .maxphyaddr = 36 + (data[114] >> 4),
				    .pt = fuzz_pt,
				    .opaque = &env.gm };
	nbytes = data[123] % 16;
	{
		uint32_t features;
		uint16_t gdt_limit, idt_limit, tss_limit;

		memcpy(&features, env.mem, 4);
		memcpy(&gdt_limit, env.mem + 4, 2);
		memcpy(&idt_limit, env.mem + 6, 2);
		memcpy(&tss_limit, env.mem + 8, 2);
		cpu.features = features;
		cpu.xcr0_supported = 0xe7;
		cpu.gdt = (struct emu_dtable){ FUZZ_GDT, gdt_limit };
		cpu.idt = (struct emu_dtable){ FUZZ_IDT, idt_limit };
		cpu.tr = (struct emu_seg){ .base = FUZZ_TSS,
					   .limit = tss_limit,
					   .selector = 0x28,
					   .type = data[106] & 1 ? 0x3 : 0xb,
					   .present = 1 };
		cpu.ldt = (struct emu_seg){ .base = FUZZ_GDT,
					    .limit = gdt_limit,
					    .unusable = !(data[106] & 2),
					    .present = 1 };
		memcpy(cpu.xmm, env.mem + FUZZ_XMM, sizeof(cpu.xmm));
		{
			static struct emu_xlayout xl;
			static uint8_t xstate[4096] __attribute__((aligned(64)));

			if (!xl.size && emu_xlayout_from_cpuid(&xl, fuzz_leaf, NULL))
				abort();
			memcpy(xstate, env.mem + FUZZ_XSTATE, sizeof(xstate));
			cpu.xstate = xstate;
			cpu.xlayout = &xl;
			cpu.xss = data[106] & 4 ? 1u << 11 : 0;
		}
		cpu.tsc = fuzz_u64(data + 16);
		cpu.tsc_aux = fuzz_u64(data + 24);
	}

	before = cpu;
	ret = emu_step(&cpu, data + FUZZ_INSN, nbytes,
		       (data[101] & 0x80) ? &fuzz_ops_prefetch : &fuzz_ops, NULL, &insn, &exc);
	if (ret > 0)
		abort();
	if (ret < 0 || (exc.valid && exc.vector != EMU_X_BP && exc.vector != EMU_X_DB)) {
		/* Refusals and faults leave the CPU as it was. */
		if (memcmp(&cpu, &before, sizeof(cpu)))
			abort();
		return 0;
	}
	if (insn.len < 1 || insn.len > EMU_MAX_INSN_LEN || insn.op == EMU_OP_NONE)
		abort();
	if (insn.op == EMU_OP_INTO && !(cpu.dirty & EMU_DIRTY_SREGS) &&
	    !(before.rflags & EMU_RFLAGS_OF)) {
		/* INTO without OF: nothing but the next instruction. */
	} else if (insn.op == EMU_OP_INT || insn.op == EMU_OP_INTO || insn.op == EMU_OP_IRET ||
		   insn.op == EMU_OP_JMPF || insn.op == EMU_OP_CALLF || insn.op == EMU_OP_RETF) {
		/* A control transfer: wherever it went, the CPU it left is a possible one. */
		if (cpu.cpl > 3 || !(cpu.dirty & EMU_DIRTY_SREGS) ||
		    ((cpu.cr0 & EMU_CR0_PE) && !(cpu.seg[EMU_CS].type & 8)))
			abort();
		return 0;
	}
	if (insn.op == EMU_OP_JCC || insn.op == EMU_OP_JMP || insn.op == EMU_OP_CALL ||
	    insn.op == EMU_OP_RET || insn.op == EMU_OP_LOOP) {
		/* A near branch falls through, or lands where CS allows within the operand size. */
		uint64_t next =
		    (before.rip + insn.len) & (insn.code_size == 8 ? ~0ull : 0xffffffffull);

		bool lands_ok = insn.code_size == 8
				    ? emu_is_canonical(&cpu, cpu.rip)
				    : cpu.rip <= cpu.seg[EMU_CS].limit &&
					  cpu.rip <= (insn.op_size == 2 ? 0xffffu : 0xffffffffu);

		if (cpu.rip != next && !lands_ok)
			abort();
		if (memcmp(&cpu.seg, &before.seg, sizeof(cpu.seg)) || cpu.cpl != before.cpl)
			abort();
		return 0;
	}
	/* A repeated string instruction may stop short and run again: RIP stays. */
	if (cpu.rip != ((before.rip + insn.len) & (insn.code_size == 8 ? ~0ull : 0xffffffffull)) &&
	    !((insn.rep_f2 || insn.rep_f3) && cpu.rip == before.rip))
		abort();
	/* #DB comes from single-stepping, or from INT1 itself. */
	if (exc.valid && exc.vector == EMU_X_DB && !(before.rflags & EMU_RFLAGS_TF) &&
	    insn.op != EMU_OP_INT1)
		abort();
	return 0;
}
