/* Unit tests of the CPUID template on a canned KVM_GET_SUPPORTED_CPUID table. */
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpuid.h"
#include "test.h"

static struct kvm_cpuid2 *canned(void)
{
	static const struct kvm_cpuid_entry2 ents[] = {
		{ .function = 0, .eax = 0x1f, .ebx = 0x756e6547 },
		{ .function = 1,
		  .eax = 0x906ea,
		  .ebx = 0x00ff0800,
		  .ecx = 0xfeda3223 | (1u << 13),
		  .edx = 0x178bfbff },
		{ .function = 4, .index = 0, .eax = 0xfc004121 },
		{ .function = 7,
		  .index = 0,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ebx = 0xf3bfb7ab,
		  .ecx = 0x1b85f5e,
		  .edx = 0xfc010010 },
		{ .function = 7,
		  .index = 1,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0x30 },
		{ .function = 0xd,
		  .index = 0,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0xe7,
		  .ebx = 0xa88,
		  .ecx = 0xa88 },
		{ .function = 0xd,
		  .index = 1,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0xf },
		{ .function = 0xd,
		  .index = 2,
		  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 0x100,
		  .ebx = 0x240 },
		{ .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0x40000000, .eax = 0x40000001 },
		{ .function = 0x40000001, .eax = 0x01ffffff },
		{ .function = 0x80000001, .ecx = 0x121 | (1u << 2), .edx = 0x2c100800 },
	};
	unsigned n = sizeof(ents) / sizeof(ents[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(ents[0]));

	c->nent = n;
	memcpy(c->entries, ents, sizeof(ents));
	return c;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, unsigned fn, unsigned idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static void test_topology(void)
{
	struct kvm_cpuid2 *c = canned();

	cpuid_apply(c, 3, 4, CPUID_TEMPLATE_HOST);
	CHECK_EQ(find(c, 1, 0)->ebx >> 24, 3);		/* APIC ID */
	CHECK_EQ((find(c, 1, 0)->ebx >> 16) & 0xff, 4); /* logical CPUs */
	CHECK_EQ(find(c, 1, 0)->ebx & 0xffff, 0x0800);	/* CLFLUSH size kept */
	CHECK(find(c, 1, 0)->ecx & (1u << 31));		/* hypervisor */
	CHECK(find(c, 1, 0)->ecx & (1u << 13));		/* host template keeps CX16 */
	CHECK(find(c, 1, 0)->edx & (1u << 28));		/* HTT */
	CHECK_EQ(find(c, 4, 0)->eax >> 26, 3);
	CHECK_EQ(find(c, 0xb, 0)->edx, 3);
	CHECK_EQ(find(c, 0xb, 1)->eax, 2); /* shift for 4 CPUs */
	CHECK_EQ(find(c, 0xb, 1)->ebx, 4);
	CHECK_EQ((find(c, 0xb, 1)->ecx >> 8) & 0xff, 2);
	CHECK_EQ((find(c, 0xb, 2)->ecx >> 8) & 0xff, 0);
	CHECK_EQ(find(c, 0x40000000, 0)->ebx, 0x4b4d564b);
	CHECK_EQ(find(c, 0x40000001, 0)->eax, 0x01ffffff);
	/* No nested virtualization (a snapshot cannot carry it): VMX and SVM hidden. */
	CHECK(!(find(c, 1, 0)->ecx & (1u << 5)));
	CHECK_EQ(find(c, 0x80000001, 0)->ecx, 0x121);
	CHECK_EQ(find(c, 0x80000001, 0)->edx, 0x2c100800);
	free(c);

	c = canned();
	cpuid_apply(c, 0, 1, CPUID_TEMPLATE_HOST);
	CHECK(!(find(c, 1, 0)->edx & (1u << 28)));
	CHECK_EQ(find(c, 0xb, 1)->eax, 0);
	free(c);
}

static void test_pvm_profile(void)
{
	struct kvm_cpuid2 *c = canned();

	cpuid_apply(c, 0, 2, CPUID_TEMPLATE_PVM);
	CHECK(!(find(c, 1, 0)->ecx & (1u << 13))); /* CX16 hidden */
	/* XSAVE, AVX, FMA, F16C go: Linux is told noxsave. */
	CHECK(!(find(c, 1, 0)->ecx & ((1u << 26) | (1u << 12) | (1u << 28) | (1u << 29))));
	CHECK_EQ(find(c, 7, 0)->ebx & ((1u << 5) | (1u << 16) | (1u << 31)), 0); /* AVX2, AVX-512 */
	CHECK(find(c, 7, 0)->ebx & (1u << 0));					 /* FSGSBASE kept */
	CHECK_EQ(find(c, 7, 0)->ecx & (1u << 1), 0);				 /* AVX512_VBMI */
	CHECK_EQ(find(c, 7, 1)->eax, 0);
	CHECK_EQ(find(c, 0xd, 0)->eax, 3); /* x87 | SSE */
	CHECK_EQ(find(c, 0xd, 0)->ebx, 576);
	CHECK_EQ(find(c, 0xd, 0)->ecx, 576);
	CHECK_EQ(find(c, 0xd, 1)->eax, 0);
	CHECK_EQ(find(c, 0xd, 2)->eax, 0);
	CHECK_EQ(find(c, 0xd, 2)->ebx, 0);
	CHECK(!(find(c, 0x40000001, 0)->eax & ((1u << 7) | (1u << 11) | (1u << 13))));
	CHECK(find(c, 0x40000001, 0)->eax & 1); /* kvmclock kept */
	free(c);
}

static void test_template_names(void)
{
	enum cpuid_template t;

	CHECK_EQ(cpuid_template_parse("auto", true, &t), 0);
	CHECK_EQ(t, CPUID_TEMPLATE_PVM);
	CHECK_EQ(cpuid_template_parse("auto", false, &t), 0);
	CHECK_EQ(t, CPUID_TEMPLATE_HOST);
	CHECK_EQ(cpuid_template_parse("pvm", false, &t), 0);
	CHECK_EQ(t, CPUID_TEMPLATE_PVM);
	CHECK(cpuid_template_parse("bogus", false, &t) < 0);
	CHECK(cpuid_linux_cmdline_extra(CPUID_TEMPLATE_HOST) == NULL);
	CHECK(strstr(cpuid_linux_cmdline_extra(CPUID_TEMPLATE_PVM),
		     "noxsave clearcpuid=popcnt,smap"));
	/* glibc kept off AVX in the guest's processes (host XCR0 in guest user mode). */
	CHECK(strstr(cpuid_linux_cmdline_extra(CPUID_TEMPLATE_PVM),
		     " GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,"));
}

static void test_cmdline_merge(void)
{
	char *s = cpuid_cmdline_merge("console=ttyS0", "noxsave clearcpuid=popcnt,smap");

	CHECK(!strcmp(s, "console=ttyS0 noxsave clearcpuid=popcnt,smap"));
	free(s);
	/* The user's own value wins. */
	s = cpuid_cmdline_merge("clearcpuid=smap  console=ttyS0", "noxsave clearcpuid=popcnt,smap");
	CHECK(!strcmp(s, "clearcpuid=smap  console=ttyS0 noxsave"));
	free(s);
	s = cpuid_cmdline_merge("", "a b=1");
	CHECK(!strcmp(s, "a b=1"));
	free(s);
	s = cpuid_cmdline_merge("noxsaveopt", "noxsave");
	CHECK(!strcmp(s, "noxsaveopt noxsave")); /* a prefix is not the same key */
	free(s);
	/* After "--" the words are init's: kernel options go before it. */
	s = cpuid_cmdline_merge("console=ttyS0 -- single", "noxsave");
	CHECK(!strcmp(s, "console=ttyS0 noxsave -- single"));
	free(s);
	s = cpuid_cmdline_merge("-- init-arg", "noxsave");
	CHECK(!strcmp(s, "noxsave -- init-arg"));
	free(s);
	s = cpuid_cmdline_merge("a --x", "b");
	CHECK(!strcmp(s, "a --x b"));
	free(s);
	s = cpuid_cmdline_merge("x=1", NULL);
	CHECK(!strcmp(s, "x=1"));
	free(s);
}

int main(void)
{
	RUN_TEST(test_topology);
	RUN_TEST(test_pvm_profile);
	RUN_TEST(test_template_names);
	RUN_TEST(test_cmdline_merge);
	TEST_EXIT();
}
