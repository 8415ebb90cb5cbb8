/* Unit tests of the vCPU state section: a round trip of every field, and every malformed input
 * (truncation at each length, counts past the limits, structures of another size) refused. The
 * KVM side (cpu_state_get/set) needs /dev/kvm and is not exercised here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpu_state.h"
#include "test.h"

static void fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 31);
}

static struct cpu_state *sample(void)
{
	struct cpu_state *s = calloc(1, sizeof(*s));

	fill(&s->regs, sizeof(s->regs), 1);
	fill(&s->sregs, sizeof(s->sregs), 2);
	s->pdptrs_valid = true;
	s->pdptrs[3] = 0x1234567001ull;
	fill(&s->xsave, sizeof(s->xsave), 3);
	fill(&s->xcrs, sizeof(s->xcrs), 4);
	s->xcrs.nr_xcrs = 1;
	fill(&s->debugregs, sizeof(s->debugregs), 5);
	fill(&s->lapic, sizeof(s->lapic), 6);
	fill(&s->events, sizeof(s->events), 7);
	s->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
	s->nmsrs = 3;
	s->msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 123456789 };
	s->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000080, .data = 0xd01 };
	s->msrs[2] = (struct kvm_msr_entry){ .index = 0x6e0, .data = 987654321 };
	s->ncpuid = 2;
	s->cpuid[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	s->cpuid[1] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0x80202001 };
	return s;
}

static void test_round_trip(void)
{
	struct cpu_state *s = sample(), *t = calloc(1, sizeof(*t));
	struct state_writer w;
	struct state_reader r;

	state_writer_init(&w);
	cpu_state_save(s, &w);
	CHECK_EQ(state_writer_result(&w), 0);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(cpu_state_load(&r, t), 0);
	CHECK_EQ(r.pos, w.len);
	CHECK(!memcmp(&s->regs, &t->regs, sizeof(s->regs)));
	CHECK(!memcmp(&s->sregs, &t->sregs, sizeof(s->sregs)));
	CHECK(!memcmp(&s->xsave, &t->xsave, sizeof(s->xsave)));
	CHECK(!memcmp(&s->lapic, &t->lapic, sizeof(s->lapic)));
	CHECK(!memcmp(&s->events, &t->events, sizeof(s->events)));
	CHECK(!memcmp(&s->debugregs, &t->debugregs, sizeof(s->debugregs)));
	CHECK_EQ(t->mp_state.mp_state, KVM_MP_STATE_RUNNABLE);
	CHECK_EQ(t->nmsrs, 3);
	CHECK_EQ(t->msrs[2].index, 0x6e0);
	CHECK_EQ(t->msrs[2].data, 987654321);
	CHECK_EQ(t->ncpuid, 2);
	CHECK_EQ(t->cpuid[1].ecx, 0x80202001u);
	/* Saving what was loaded gives the same bytes. */
	{
		struct state_writer w2;

		state_writer_init(&w2);
		cpu_state_save(t, &w2);
		CHECK(w2.len == w.len && !memcmp(w.buf, w2.buf, w.len));
		state_writer_free(&w2);
	}
	state_writer_free(&w);
	free(s);
	free(t);
}

/* Save s, let patch change the bytes, and expect the load to refuse them. */
static void expect_refused(struct cpu_state *s, void (*patch)(uint8_t *buf, size_t len))
{
	struct cpu_state *t = calloc(1, sizeof(*t));
	struct state_writer w;
	struct state_reader r;

	state_writer_init(&w);
	cpu_state_save(s, &w);
	if (patch)
		patch(w.buf, w.len);
	state_reader_init(&r, w.buf, w.len);
	CHECK_EQ(cpu_state_load(&r, t), -EINVAL);
	state_writer_free(&w);
	free(t);
}

/* The first length prefix (kvm_regs's) is right after the 12-byte section header. */
static void patch_regs_len(uint8_t *buf, size_t len)
{
	(void)len;
	buf[12] ^= 8;
}

static void patch_version(uint8_t *buf, size_t len)
{
	(void)len;
	buf[4] = 2;
}

static void test_refusals(void)
{
	struct cpu_state *s = sample(), *t = calloc(1, sizeof(*t));
	struct state_writer w;
	struct state_reader r;

	expect_refused(s, patch_regs_len);
	expect_refused(s, patch_version);
	/* Truncated at every length. */
	state_writer_init(&w);
	cpu_state_save(s, &w);
	for (size_t len = 0; len < w.len; len += (len < 64 || len > w.len - 600) ? 1 : 97) {
		state_reader_init(&r, w.buf, len);
		CHECK_EQ(cpu_state_load(&r, t), -EINVAL);
	}
	state_writer_free(&w);
	/* An XCR count KVM does not have; then an MSR count past the limit. */
	s->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
	expect_refused(s, NULL);
	s->xcrs.nr_xcrs = 1;
	{
		/* A save of 513 MSRs written by hand: refused by count. */
		struct state_writer h;

		state_writer_init(&h);
		cpu_state_save(s, &h);
		/* nmsrs sits after the eight blobs: find it as the u32 equal to 3 before index
		 * 0x10. */
		for (size_t i = 0; i + 8 <= h.len; i++)
			if (h.buf[i] == 3 && !h.buf[i + 1] && !h.buf[i + 2] && !h.buf[i + 3] &&
			    h.buf[i + 4] == 0x10 && !h.buf[i + 5]) {
				h.buf[i] = 0x01;
				h.buf[i + 1] = 0x02; /* 513 */
				break;
			}
		state_reader_init(&r, h.buf, h.len);
		CHECK_EQ(cpu_state_load(&r, t), -EINVAL);
		state_writer_free(&h);
	}
	/* Without a KVM fd there is nothing to ask. */
	CHECK(cpu_state_get(-1, NULL, 0, t) < 0);
	CHECK(cpu_state_set(-1, s, NULL) < 0);
	free(s);
	free(t);
}

/* A snapshot restores only where the host's CPU has every feature its vCPUs were shown. */
static void test_cpuid_check(void)
{
	struct cpu_state *s = calloc(1, sizeof(*s));
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[4];
	} here = { .c.nent = 4 };
	char err[256] = "";

	s->ncpuid = 3;
	s->cpuid[0] = (struct kvm_cpuid_entry2){ .function = 1,
						 .ecx = 0x80202001 | 1u << 27,
						 .edx = 0x178bfbff };
	s->cpuid[1] = (struct kvm_cpuid_entry2){
		.function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 0x29
	};
	s->cpuid[2] = (struct kvm_cpuid_entry2){
		.function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x10
	};
	/* The host: the same features (OSXSAVE follows the guest's CR4: not compared), more too. */
	here.e[0] = (struct kvm_cpuid_entry2){ .function = 1,
					       .ecx = 0x80202001 | 0x400,
					       .edx = 0x178bfbff };
	here.e[1] = (struct kvm_cpuid_entry2){
		.function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 0x2b
	};
	here.e[2] = (struct kvm_cpuid_entry2){
		.function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x10
	};
	here.e[3] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .edx = 1u << 29 };
	CHECK_EQ(cpu_state_cpuid_check(s, &here.c, err, sizeof(err)), 0);
	/* A sub-leaf the host lacks a bit of: named by leaf, sub-leaf, register and bits. */
	here.e[2].eax = 0;
	CHECK_EQ(cpu_state_cpuid_check(s, &here.c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "CPUID.0x7.1:EAX bits 0x00000010") != NULL);
	here.e[2].eax = 0x10;
	/* A leaf the host does not have at all. */
	s->cpuid[2] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 1 };
	CHECK_EQ(cpu_state_cpuid_check(s, &here.c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "CPUID.0x80000001.0:ECX") != NULL);
	/* A count past the array is bounded. */
	s->ncpuid = 100000;
	s->cpuid[2].ecx = 0;
	CHECK_EQ(cpu_state_cpuid_check(s, &here.c, err, sizeof(err)), 0);
	free(s);
}

int main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_refusals);
	RUN_TEST(test_cpuid_check);
	TEST_EXIT();
}
