/* Builds each vCPU's CPUID table from what KVM supports, plus the host profile for restricted
 * backends. */
#include "arch/x86/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CPUID_1_ECX_FMA (1u << 12)
#define CPUID_1_ECX_CX16 (1u << 13)
#define CPUID_1_ECX_XSAVE (1u << 26)
#define CPUID_1_ECX_OSXSAVE (1u << 27)
#define CPUID_1_ECX_AVX (1u << 28)
#define CPUID_1_ECX_F16C (1u << 29)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_ECX_VMX (1u << 5)
#define CPUID_80000001_ECX_SVM (1u << 2)
#define CPUID_1_EDX_HTT (1u << 28)

/* KVM paravirtual features (leaf 0x40000001 EAX) that work through hypercalls. */
#define KVM_PV_UNHALT (1u << 7)
#define KVM_PV_SEND_IPI (1u << 11)
#define KVM_PV_SCHED_YIELD (1u << 13)

int cpuid_template_parse(const char *name, bool restricted_backend, enum cpuid_template *out)
{
	if (!strcmp(name, "auto"))
		*out = restricted_backend ? CPUID_TEMPLATE_PVM : CPUID_TEMPLATE_HOST;
	else if (!strcmp(name, "host"))
		*out = CPUID_TEMPLATE_HOST;
	else if (!strcmp(name, "pvm"))
		*out = CPUID_TEMPLATE_PVM;
	else
		return -EINVAL;
	return 0;
}

const char *cpuid_template_name(enum cpuid_template t)
{
	return t == CPUID_TEMPLATE_PVM ? "pvm" : "host";
}

/* Leaf 7 subleaf 0 bits of AVX2 and AVX-512 (EBX, ECX, EDX), and AMX (EDX). */
#define CPUID_7_EBX_AVX                                                                            \
	(1u << 5 | 1u << 16 | 1u << 17 | 1u << 21 | 1u << 26 | 1u << 27 | 1u << 28 | 1u << 30 |    \
	 1u << 31)
#define CPUID_7_ECX_AVX (1u << 1 | 1u << 6 | 1u << 9 | 1u << 10 | 1u << 11 | 1u << 12 | 1u << 14)
#define CPUID_7_EDX_AVX (1u << 2 | 1u << 3 | 1u << 8 | 1u << 22 | 1u << 23 | 1u << 24 | 1u << 25)
/* Leaf 7 subleaf 1 EAX: AVX-VNNI, AVX512_BF16. */
#define CPUID_7_1_EAX_AVX (1u << 4 | 1u << 5)
/* XSAVE area of x87 + SSE only: the 512-byte legacy region and the 64-byte header. */
#define XSAVE_FPSSE_MASK 0x3u
#define XSAVE_FPSSE_SIZE 576u

/*
 * The pvm template's extended state: x87 and SSE, nothing wider. Linux is told noxsave (kvm_pvm
 * cannot emulate xsave/xrstor in guest kernel code), so it context-switches only what FXSAVE
 * holds, and no leaf offers XSAVE or AVX. kvm_pvm ORs the host's leaf 1/7 bits back in and runs
 * guest user code with the host's XCR0, so this table alone does not keep user code off AVX:
 * see cpuid_linux_cmdline_extra and docs/kvm-host-notes.md ("Guest user code and AVX state").
 */
static void cpuid_pvm_xstate(struct kvm_cpuid_entry2 *e)
{
	switch (e->function) {
	case 1:
		e->ecx &= ~(CPUID_1_ECX_XSAVE | CPUID_1_ECX_OSXSAVE | CPUID_1_ECX_AVX |
			    CPUID_1_ECX_FMA | CPUID_1_ECX_F16C);
		break;
	case 7:
		if (e->index == 0) {
			e->ebx &= ~CPUID_7_EBX_AVX;
			e->ecx &= ~CPUID_7_ECX_AVX;
			e->edx &= ~CPUID_7_EDX_AVX;
		} else if (e->index == 1) {
			e->eax &= ~CPUID_7_1_EAX_AVX;
		}
		break;
	case 0xd:
		if (e->index == 0) {
			e->eax = XSAVE_FPSSE_MASK;
			e->ebx = e->ecx = XSAVE_FPSSE_SIZE;
			e->edx = 0;
		} else {
			/* No XSAVEOPT/XSAVEC/XGETBV1/XSAVES, no state components beyond SSE. */
			e->eax = e->ebx = e->ecx = e->edx = 0;
		}
		break;
	default:
		break;
	}
}

static unsigned cpuid_order(unsigned n)
{
	unsigned shift = 0;

	while ((1u << shift) < n)
		shift++;
	return shift;
}

void cpuid_apply(struct kvm_cpuid2 *cpuid, unsigned index, unsigned ncpus, enum cpuid_template t)
{
	unsigned core_shift = cpuid_order(ncpus);

	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC ID and logical processor count of the package. */
			e->ebx = (e->ebx & 0x0000ffffu) | (index << 24) |
				 ((ncpus > 255 ? 255 : ncpus) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			/*
			 * No nested virtualization: kvmbox does not save a guest's VMX/SVM state
			 * (KVM_GET_NESTED_STATE), so a guest hypervisor restored from a snapshot
			 * would fault on its next VMX instruction. Hidden, as Firecracker does.
			 */
			e->ecx &= ~CPUID_1_ECX_VMX;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			/* kvm_pvm cannot emulate cmpxchg16b; CX16 is the one bit it lets us hide.
			 */
			if (t == CPUID_TEMPLATE_PVM)
				e->ecx &= ~CPUID_1_ECX_CX16;
			break;
		case 4:
			/* One package of ncpus single-threaded cores. */
			/* EAX[31:26] is 6 bits: "cores per package - 1", capped. */
			e->eax = (e->eax & 0x3ffu) | ((ncpus - 1 > 63 ? 63 : ncpus - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			e->edx = index; /* x2APIC ID */
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 1u << 8; /* SMT level */
			} else if (e->index == 1) {
				e->eax = core_shift;
				e->ebx = ncpus;
				e->ecx = 1 | (2u << 8); /* core level */
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000001:
			e->ecx &= ~CPUID_80000001_ECX_SVM; /* no nested virtualization (leaf 1) */
			break;
		case 0x40000000:
			/* KVM's signature; the max hypervisor leaf is what KVM reported. */
			e->ebx = 0x4b4d564b; /* "KVMK" */
			e->ecx = 0x564b4d56; /* "VMKV" */
			e->edx = 0x4d;	     /* "M\0\0\0" */
			break;
		case 0x40000001:
			if (t == CPUID_TEMPLATE_PVM) {
				/* A KVM hypercall (vmcall) never returns on kvm_pvm. */
				e->eax &= ~(KVM_PV_UNHALT | KVM_PV_SEND_IPI | KVM_PV_SCHED_YIELD);
			}
			break;
		default:
			break;
		}
		if (t == CPUID_TEMPLATE_PVM)
			cpuid_pvm_xstate(e);
	}
}

/* glibc's CPU features that select AVX/AVX-512 code, switched off (glibc.cpu.hwcaps tunable). */
#define CPUID_PVM_GLIBC_TUNABLES                                                                   \
	"GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,"       \
	"-AVX512CD,-AVX_Fast_Unaligned_Load,-FMA,-F16C"

const char *cpuid_linux_cmdline_extra(enum cpuid_template t)
{
	/*
	 * kvm_pvm ORs the host's leaf 1/7 bits into what the guest sees, so XSAVE, POPCNT and SMAP
	 * stay visible though it cannot emulate xsave/xrstor, popcnt or clac/stac in guest kernel
	 * code. nopti/mitigations=off/nofsgsbase avoid slow paths of its shadow paging.
	 * nosoftlockup: guest kernel code runs through KVM's instruction emulator here, so kernel
	 * loops take tens of seconds on a busy host; the detector's reports are false and their
	 * backtraces over the UART slow the boot further (sysctl kernel.soft_watchdog=1
	 * re-enables).
	 * GLIBC_TUNABLES (for init's environment, hence every process that inherits it): guest user
	 * code runs with the host's XCR0 and sees AVX/AVX-512 in CPUID, but a noxsave kernel saves
	 * only x87/SSE state on a context switch, so glibc's AVX string functions corrupted other
	 * processes' vector registers (new busybox processes copied their TLS as zeros). This keeps
	 * glibc on its SSE2 code; programs that use AVX themselves are not covered.
	 */
	if (t == CPUID_TEMPLATE_PVM)
		return "noxsave clearcpuid=popcnt,smap nofsgsbase nopti mitigations=off "
		       "nosoftlockup " CPUID_PVM_GLIBC_TUNABLES;
	return NULL;
}

/* Length of the key of the option starting at s ("key=value" or "key"). */
static size_t cpuid_key_len(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != ' ' && s[n] != '=')
		n++;
	return n;
}

static int cpuid_has_key(const char *cmdline, const char *key, size_t keylen)
{
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (cpuid_key_len(p) == keylen && !strncmp(p, key, keylen))
			return 1;
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

/* Where init's arguments begin: at a "--" word, or the end. */
static size_t cpuid_kernel_part(const char *cmdline)
{
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (p[0] == '-' && p[1] == '-' && (p[2] == ' ' || !p[2]))
			return (size_t)(p - cmdline);
		while (*p && *p != ' ')
			p++;
	}
	return strlen(cmdline);
}

char *cpuid_cmdline_merge(const char *user, const char *extra)
{
	size_t cap = strlen(user) + (extra ? strlen(extra) : 0) + 3;
	size_t kernel_len = cpuid_kernel_part(user);
	char *out = malloc(cap);
	const char *p = extra;

	if (!out)
		return NULL;
	/* The extras are kernel options: they go before any "--", which starts init's arguments. */
	memcpy(out, user, kernel_len);
	out[kernel_len] = '\0';
	while (kernel_len && out[kernel_len - 1] == ' ')
		out[--kernel_len] = '\0';
	while (p && *p) {
		size_t optlen, keylen;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		optlen = strcspn(p, " ");
		keylen = cpuid_key_len(p);
		if (!cpuid_has_key(user, p, keylen)) {
			if (*out)
				strcat(out, " ");
			strncat(out, p, optlen);
		}
		p += optlen;
	}
	if (user[cpuid_kernel_part(user)]) {
		strcat(out, *out ? " " : "");
		strcat(out, user + cpuid_kernel_part(user));
	}
	return out;
}
