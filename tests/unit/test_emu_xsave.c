/*
 * Unit tests of FXSAVE/FXRSTOR and the XSAVE family against the host CPU: the same random x87,
 * SSE, AVX and AVX-512 state is saved (XSAVE, XSAVEC, FXSAVE64) and restored (XRSTOR in standard
 * and compacted form, FXRSTOR64) natively and through the emulator, with the emulator's vCPU image
 * being what the host's own XSAVE wrote (as KVM_GET_XSAVE gives it); then every fault path.
 */
#include <cpuid.h>

#include "emu_fake.h"

#define AREA 0x10000ull
#define XS_SIZE 4096

static struct emu_xlayout layout;
static uint64_t host_xcr0;
static uint32_t host_mxcsr_mask;
static bool host_ok;

static int host_leaf(void *opaque, uint32_t function, uint32_t index, uint32_t out[4])
{
	(void)opaque;
	__cpuid_count(function, index, out[0], out[1], out[2], out[3]);
	return 0;
}

static uint8_t saved_state[XS_SIZE] __attribute__((aligned(64)));

/* Run xrstor(state) then op, with the test's own state kept around it. */
#define NATIVE(asm_op, state, mask, out)                                                           \
	do {                                                                                       \
		__asm__ volatile("xsave %0" : "=m"(saved_state) : "a"(~0u), "d"(~0u) : "memory");  \
		__asm__ volatile("xrstor %[st]\n\t"                                                \
				 "mov %k[m], %%eax\n\t"                                            \
				 "mov %[mh], %%edx\n\t" asm_op " %[o]\n\t"                         \
				 : [o] "=m"(*(uint8_t(*)[XS_SIZE])(out))                           \
				 : [st] "m"(*(const uint8_t(*)[XS_SIZE])(state)), "a"(~0u),        \
				   "d"(~0u), [m] "r"((uint32_t)(mask)),                            \
				   [mh] "r"((uint32_t)((uint64_t)(mask) >> 32))                    \
				 : "memory");                                                      \
		__asm__ volatile("xrstor %0" ::"m"(saved_state), "a"(~0u), "d"(~0u) : "memory");   \
	} while (0)

static uint64_t seed = 0x0123456789abcdefull;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static void fill_random(uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* A valid standard-format image with random contents and a random XSTATE_BV within XCR0. */
static void random_image(uint8_t *img)
{
	uint32_t mxcsr = (uint32_t)rnd() & host_mxcsr_mask;
	uint64_t bv = rnd() & host_xcr0;

	memset(img, 0, XS_SIZE);
	fill_random(img, 24);
	memcpy(img + 24, &mxcsr, 4);
	fill_random(img + 32, 416 - 32);
	for (unsigned i = 0; i < 8; i++)
		memset(img + 32 + 16 * i + 10, 0, 6); /* ST register padding */
	for (unsigned i = 2; i < EMU_XSTATE_MAX; i++)
		if ((host_xcr0 >> i) & 1)
			fill_random(img + layout.comp[i].offset, layout.comp[i].size);
	memcpy(img + 512, &bv, 8);
}

static struct emu_cpu xcpu(uint8_t *image)
{
	struct emu_cpu c = cpu64();

	c.cr4 |= EMU_CR4_OSXSAVE;
	c.xcr0 = host_xcr0;
	c.features = EMU_FEAT_XSAVE | EMU_FEAT_XSAVEOPT | EMU_FEAT_XSAVEC;
	c.xstate = image;
	c.xlayout = &layout;
	c.mxcsr_mask = host_mxcsr_mask;
	c.gpr[EMU_RBX] = AREA;
	return c;
}

static void set_mask(struct emu_cpu *c, uint64_t mask)
{
	c->gpr[EMU_RAX] = (uint32_t)mask | 0xdead000000000000ull; /* upper halves ignored */
	c->gpr[EMU_RDX] = mask >> 32;
}

/* Component contents with not-in-use components at their initial values, header cleared. */
static void normalize(uint8_t *img)
{
	uint64_t bv;

	memcpy(&bv, img + 512, 8);
	if (!(bv & 1)) {
		memset(img, 0, 24);
		img[0] = 0x7f, img[1] = 0x03;
		memset(img + 32, 0, 128);
	}
	if (!(bv & 2))
		memset(img + 160, 0, 256);
	for (unsigned i = 2; i < EMU_XSTATE_MAX; i++)
		if (((host_xcr0 >> i) & 1) && !((bv >> i) & 1))
			memset(img + layout.comp[i].offset, 0, layout.comp[i].size);
	memset(img + 416, 0, 576 - 416);
	for (unsigned i = 0; i < 8; i++)
		memset(img + 32 + 16 * i + 10, 0, 6);
}

/* The emulator's save (3 instruction bytes) into garbage, against the CPU's in out. */
static void compare_save(const char *name, const uint8_t insn[3], uint8_t *image, uint64_t mask,
			 const uint8_t *garbage, const uint8_t *out)
{
	struct emu_cpu c = xcpu(image);
	struct emu_exception exc;

	memcpy(fake.mem + AREA, garbage, XS_SIZE);
	set_mask(&c, mask);
	CHECK_EQ(run(&c, insn, 3, &exc), 0);
	CHECK(!exc.valid);
	for (unsigned i = 0; i < layout.size; i++)
		if (fake.mem[AREA + i] != out[i]) {
			CHECK(!"save differs");
			fprintf(stderr, "  %s mask %#llx: byte %u emu %02x cpu %02x\n", name,
				(unsigned long long)mask, i, fake.mem[AREA + i], out[i]);
			break;
		}
}

static void test_save_differential(void)
{
	static uint8_t state[XS_SIZE] __attribute__((aligned(64))),
	    image[XS_SIZE] __attribute__((aligned(64))), out[XS_SIZE] __attribute__((aligned(64))),
	    garbage[XS_SIZE];
	unsigned compared = 0;

	for (unsigned round = 0; round < 300; round++) {
		uint64_t mask = rnd() % 4 ? rnd() : ~0ull;
		struct emu_cpu c;
		struct emu_exception exc;

		random_image(state);
		/* The vCPU image: what the host's XSAVE of that state gives (KVM_GET_XSAVE). */
		memset(image, 0, sizeof(image));
		NATIVE("xsave", state, ~0ull, image);
		fill_random(garbage, sizeof(garbage));

		/* XSAVE, XSAVEC */
		memcpy(out, garbage, XS_SIZE);
		NATIVE("xsave", state, mask, out);
		compare_save("xsave", (const uint8_t[]){ 0x0f, 0xae, 0x23 }, image, mask, garbage,
			     out);
		memcpy(out, garbage, XS_SIZE);
		NATIVE("xsavec", state, mask, out);
		compare_save("xsavec", (const uint8_t[]){ 0x0f, 0xc7, 0x23 }, image, mask, garbage,
			     out);
		/* FXSAVE64 */
		memcpy(out, garbage, XS_SIZE);
		NATIVE("fxsaveq", state, 0, out);
		memcpy(fake.mem + AREA, garbage, XS_SIZE);
		c = xcpu(image);
		CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xae, 0x03), 0);
		CHECK(!exc.valid);
		/* AMD CPUs store only 32 bits of FIP and FDP here (Intel's and XSAVE's format has
		 * 64): the upper halves are not compared. */
		memset(out + 12, 0, 4);
		memset(out + 20, 0, 4);
		memset(fake.mem + AREA + 12, 0, 4);
		memset(fake.mem + AREA + 20, 0, 4);
		CHECK(!memcmp(fake.mem + AREA, out, 512));
		/* XSAVEOPT writes what XSAVE writes (its optimisations are optional). */
		memcpy(out, fake.mem + AREA, XS_SIZE);
		c = xcpu(image);
		set_mask(&c, mask);
		CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x33), 0);
		CHECK(!exc.valid);
		compared += 4;
	}
	CHECK_EQ(compared, 1200);
}

static void test_restore_differential(void)
{
	static uint8_t base[XS_SIZE] __attribute__((aligned(64))),
	    image[XS_SIZE] __attribute__((aligned(64))), src[XS_SIZE] __attribute__((aligned(64))),
	    state2[XS_SIZE] __attribute__((aligned(64))),
	    after[XS_SIZE] __attribute__((aligned(64)));
	unsigned compared = 0;

	for (unsigned round = 0; round < 300; round++) {
		uint64_t mask = rnd() % 4 ? rnd() : ~0ull, cmask = rnd() & host_xcr0;
		bool compacted = round & 1, fx = round % 5 == 4;
		struct emu_cpu c;
		struct emu_exception exc;
		uint64_t start_bv;

		random_image(base);
		memset(image, 0, sizeof(image));
		NATIVE("xsave", base, ~0ull, image);
		/* The area to restore from: a standard image, or a compacted one the CPU wrote. */
		random_image(state2);
		if (compacted) {
			fill_random(src, XS_SIZE);
			NATIVE("xsavec", state2, cmask, src);
			memset(src + 512 + 16, 0, 48);
		} else {
			memcpy(src, state2, XS_SIZE);
		}
		/* FCW's reserved bits (6 reads as 1, 13-15 as 0): AMD's FXRSTOR sometimes
		 * normalises them, XRSTOR does not; the emulator keeps what it is given. */
		if (fx) {
			uint32_t mx;

			src[0] |= 0x40;
			src[1] &= 0x1f;
			/* A valid MXCSR even in an area XSAVEC left as it was. */
			memcpy(&mx, src + 24, 4);
			mx &= host_mxcsr_mask;
			memcpy(src + 24, &mx, 4);
		}
		/* Native: the base state, then the restore, then a full XSAVE to see the result. */
		memcpy(fake.mem + AREA, src, XS_SIZE);
		c = xcpu(image);
		set_mask(&c, mask);
		memcpy(&start_bv, image + 512, 8);
		if (fx) {
			__asm__ volatile("xsave %0"
					 : "=m"(saved_state)
					 : "a"(~0u), "d"(~0u)
					 : "memory");
			__asm__ volatile("xrstor %[b]\n\tfxrstorq %[s]\n\txsave %[o]"
					 : [o] "=m"(after)
					 : [b] "m"(base), [s] "m"(src), "a"(~0u), "d"(~0u)
					 : "memory");
			__asm__ volatile("xrstor %0" ::"m"(saved_state), "a"(~0u), "d"(~0u)
					 : "memory");
			CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xae, 0x0b), 0);
		} else {
			__asm__ volatile("xsave %0"
					 : "=m"(saved_state)
					 : "a"(~0u), "d"(~0u)
					 : "memory");
			__asm__ volatile(
			    "xrstor %[b]\n\t"
			    "mov %k[m], %%eax\n\tmov %[mh], %%edx\n\t"
			    "xrstor %[s]\n\t"
			    "mov $-1, %%eax\n\tmov $-1, %%edx\n\txsave %[o]"
			    : [o] "=m"(after)
			    : [b] "m"(base), [s] "m"(src), "a"(~0u),
			      "d"(~0u), [m] "r"((uint32_t)mask), [mh] "r"((uint32_t)(mask >> 32))
			    : "memory");
			__asm__ volatile("xrstor %0" ::"m"(saved_state), "a"(~0u), "d"(~0u)
					 : "memory");
			CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x2b), 0);
		}
		CHECK(!exc.valid);
		CHECK(fx || !(c.dirty & EMU_DIRTY_XSTATE) == !(mask & host_xcr0) ||
		      (c.dirty & EMU_DIRTY_XSTATE));
		normalize(after);
		normalize(image);
		/*
		 * FOP, FIP and FDP are not compared: AMD CPUs restore them only with an unmasked
		 * exception pending, keep 48 bits (FXRSTOR: 32) of the pointers, and zero them
		 * otherwise (Linux: X86_BUG_FXSAVE_LEAK); the emulator does what Intel's do.
		 */
		memset(after + 6, 0, 18);
		memset(image + 6, 0, 18);
		if (memcmp(image, after, layout.size)) {
			CHECK(!"restore differs");
			for (unsigned i = 0; i < layout.size; i++)
				if (image[i] != after[i]) {
					fprintf(stderr,
						"  %s mask %#llx cmask %#llx: byte %u emu %02x cpu "
						"%02x\n",
						fx	    ? "fxrstor"
						: compacted ? "xrstor(c)"
							    : "xrstor",
						(unsigned long long)mask, (unsigned long long)cmask,
						i, image[i], after[i]);
					break;
				}
		}
		compared++;
	}
	CHECK_EQ(compared, 300);
}

static void test_faults(void)
{
	static uint8_t image[XS_SIZE] __attribute__((aligned(64)));
	struct emu_cpu c;
	struct emu_exception exc;
	uint64_t bv;

	memset(image, 0, sizeof(image));
	image[0] = 0x7f, image[1] = 0x03;
	image[24] = 0x80, image[25] = 0x1f;
	/* Misaligned: #GP(0). */
	c = xcpu(image);
	set_mask(&c, ~0ull);
	c.gpr[EMU_RBX] = AREA + 16;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x23), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	c.gpr[EMU_RBX] = AREA + 8; /* FXSAVE wants 16 */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x03), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* A fault on the area's last page: #PF and not one byte written. */
	c.gpr[EMU_RBX] = AREA + PAGE - 64;
	memset(fake.mem + AREA, 0x5a, 2 * PAGE);
	fake.fault_lo = AREA + PAGE;
	fake.fault_hi = AREA + 2 * PAGE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x23), 0);
	CHECK_EXC(exc, EMU_X_PF, EMU_ACC_WRITE);
	CHECK_EQ(exc.cr2, AREA + PAGE);
	for (unsigned i = 0; i < PAGE; i++)
		if (fake.mem[AREA + i] != 0x5a) {
			CHECK(!"written before the fault");
			break;
		}
	fake.fault_lo = fake.fault_hi = 0;
	CHECK_EQ(c.rip, CODE);
	/* No CR4.OSXSAVE: #UD; CR0.TS: #NM; XSAVES at CPL 3 or without the feature. */
	c = xcpu(image);
	c.cr4 &= ~EMU_CR4_OSXSAVE;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x23), 0);
	CHECK_EXC(exc, EMU_X_UD, -1);
	c = xcpu(image);
	c.cr0 |= EMU_CR0_TS;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_NM, -1);
	c = xcpu(image);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xc7, 0x2b), 0); /* xsaves: not in CPUID */
	CHECK_EXC(exc, EMU_X_UD, -1);
	c.features |= EMU_FEAT_XSAVES;
	c.cpl = 3;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xc7, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	/* XRSTOR: XSTATE_BV beyond XCR0, a standard header with XCOMP_BV set, a compacted one with
	 * bytes 16-63 not zero, an MXCSR with reserved bits: #GP(0), the image untouched. */
	c = xcpu(image);
	set_mask(&c, ~0ull);
	memset(fake.mem + AREA, 0, 1024);
	bv = 1ull << 9;
	memcpy(fake.mem + AREA + 512, &bv, 8);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	bv = 0;
	memcpy(fake.mem + AREA + 512, &bv, 8);
	fake.mem[AREA + 520] = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	bv = 1ull << 63 | 3;
	memcpy(fake.mem + AREA + 520, &bv, 8);
	fake.mem[AREA + 540] = 1;
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	memset(fake.mem + AREA + 520, 0, 56);
	fake.mem[AREA + 27] = 0xff; /* MXCSR bits 24-31 */
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x2b), 0);
	CHECK_EXC(exc, EMU_X_GP, 0);
	CHECK(!(c.dirty & EMU_DIRTY_XSTATE));
	CHECK_EQ(image[24] | image[25] << 8, 0x1f80);
	/* Without the image (the caller did not provide it): not emulated. */
	c = xcpu(NULL);
	CHECK_EQ(RUN(&c, &exc, 0x0f, 0xae, 0x23), -ENOTSUP);
}

/* A CPUID with AVX and a supervisor component (CET_U, 11), or a component past 4 GiB. */
static int odd_leaf(void *opaque, uint32_t function, uint32_t index, uint32_t out[4])
{
	bool wrap = opaque != NULL;

	memset(out, 0, 4 * sizeof(out[0]));
	if (function != 0xd)
		return -1;
	if (index == 0)
		out[0] = 0x7, out[1] = out[2] = 0x340;
	else if (index == 1)
		out[0] = 0xb, out[2] = 1u << 11;
	else if (index == 2)
		out[0] = 0x100, out[1] = wrap ? 0xfffffe00u : 0x240;
	else if (index == 11)
		out[0] = 0x10, out[2] = 1;
	return 0;
}

static void test_layout(void)
{
	struct emu_xlayout l;
	static uint8_t image[XS_SIZE] __attribute__((aligned(64)));
	struct emu_cpu c;
	struct emu_exception exc;

	/* The host's: AVX at 576, 256 bytes, the standard image ends where CPUID says. */
	CHECK_EQ(emu_xlayout_from_cpuid(&l, host_leaf, NULL), 0);
	if (host_xcr0 & 4) {
		CHECK_EQ(l.comp[2].offset, 576);
		CHECK_EQ(l.comp[2].size, 256);
	}
	{
		uint32_t out[4];

		host_leaf(NULL, 0xd, 0, out);
		CHECK_EQ(l.size, out[2]); /* ECX: the size for every supported component */
	}
	/* An offset that wraps 32 bits is refused, not believed. */
	CHECK_EQ(emu_xlayout_from_cpuid(&l, odd_leaf, (void *)1), -EINVAL);
	/* A supervisor component has no place in the image: FXSAVE's x87 state stays intact. */
	CHECK_EQ(emu_xlayout_from_cpuid(&l, odd_leaf, NULL), 0);
	CHECK_EQ(l.comp[11].size, 0x10);
	CHECK_EQ(l.comp[11].offset, 0);
	memset(image, 0, sizeof(image));
	image[0] = 0x7f, image[1] = 0x03, image[2] = 0x34, image[3] = 0x12;
	image[512] = 1; /* x87 in use */
	c = xcpu(image);
	c.xlayout = &l;
	memset(fake.mem + AREA, 0xee, 512);
	CHECK_EQ(RUN(&c, &exc, 0x48, 0x0f, 0xae, 0x03), 0);
	CHECK(!exc.valid);
	CHECK_EQ(fake.mem[AREA] | fake.mem[AREA + 1] << 8, 0x37f);
	CHECK_EQ(fake.mem[AREA + 2] | fake.mem[AREA + 3] << 8, 0x1234);
}

int main(void)
{
	uint32_t out[4];
	static uint8_t fx[512] __attribute__((aligned(16)));

	host_leaf(NULL, 1, 0, out);
	host_ok = (out[2] >> 26) & 1 && (out[2] >> 27) & 1; /* XSAVE, OSXSAVE */
	host_leaf(NULL, 0xd, 1, out);
	host_ok = host_ok && (out[0] & 2); /* XSAVEC */
	if (!host_ok) {
		/* Every x86-64 machine this project runs on has these; say so loudly if not. */
		fprintf(stderr, "host CPU lacks XSAVE/XSAVEC: cannot compare\n");
		return 1;
	}
	{
		uint32_t lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		host_xcr0 = lo | (uint64_t)hi << 32;
	}
	__asm__ volatile("fxsaveq %0" : "=m"(fx));
	memcpy(&host_mxcsr_mask, fx + 28, 4);
	if (emu_xlayout_from_cpuid(&layout, host_leaf, NULL) || layout.size > XS_SIZE) {
		fprintf(stderr, "host XSAVE layout unusable\n");
		return 1;
	}
	fake_reset();
	RUN_TEST(test_layout);
	RUN_TEST(test_save_differential);
	RUN_TEST(test_restore_differential);
	RUN_TEST(test_faults);
	free(fake.mem);
	TEST_EXIT();
}
