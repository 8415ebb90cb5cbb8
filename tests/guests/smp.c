/* smp: the BSP starts the APs with INIT-SIPI-SIPI (broadcast to all but itself), each AP climbs
 * from real mode to protected mode and checks in with its LAPIC ID; the BSP compares the count with
 * cpus=N from the command line and with the ACPI MADT. */
#include "guest.h"
#include "guest_asm.h"

#define SMP_MAX_APS 15 /* keep in step with smp_low.S */
#define SMP_MAX_CPUS (SMP_MAX_APS + 1)

#define LAPIC_BASE 0xfee00000u
#define LAPIC_ID 0x20
#define LAPIC_VERSION 0x30
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_PENDING (1u << 12)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_INIT 0x4500u /* delivery mode INIT, level assert */
#define ICR_SIPI 0x4600u /* delivery mode start-up, level assert; low byte = vector */

/* Delays in TSC cycles. KVM does not need the real INIT/SIPI spacing; TCG and hardware-like models
 * get it roughly (10 ms and 200 us at about 1-3 GHz). */
#define DELAY_INIT 20000000ull
#define DELAY_SIPI 1000000ull
#define WAIT_APS 20000000000ull /* give up on missing APs after this (seconds here) */
#define WAIT_EXTRA 300000000ull /* then keep watching for unexpected extra CPUs */

uint32_t ap_main(uint32_t slot);
extern const char tramp[], tramp_end[];
extern volatile uint32_t ap_next, ap_overflow;

static volatile uint32_t ap_ids[SMP_MAX_APS];
static volatile uint32_t ap_pe_ok[SMP_MAX_APS];
static volatile uint32_t aps_up;
static char cmdline[512];

static uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg);
}
static void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg) = v;
}

static void delay(uint64_t cycles)
{
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < cycles)
		__asm__ volatile("pause");
}

static int icr_send(uint32_t lo)
{
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, lo);
	for (int i = 0; i < 1000000; i++)
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_PENDING))
			return 0;
	return -1;
}

uint32_t ap_main(uint32_t slot)
{
	uint32_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	ap_ids[slot] = lapic_read(LAPIC_ID) >> 24;
	ap_pe_ok[slot] = cr0 & 1;
	__atomic_fetch_add(&aps_up, 1, __ATOMIC_RELEASE);
	return 0;
}

/* ---- ACPI: find the MADT and list the enabled local APICs. ---- */

static uint32_t rd32(uintptr_t a)
{
	return *(volatile uint32_t *)a;
}

static int acpi_checksum_ok(uintptr_t p, uint32_t len)
{
	uint8_t sum = 0;
	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + *(const uint8_t *)(p + i));
	return sum == 0;
}

static int acpi_table_ok(uintptr_t t, const char *sig)
{
	uint32_t len = rd32(t + 4);
	return !memcmp((const void *)t, sig, 4) && len >= 36 && len < 0x10000 &&
	       acpi_checksum_ok(t, len);
}

/* Returns the number of enabled CPUs in the MADT (IDs in ids[]), or a negative value with *why set.
 */
static int madt_cpus(uint32_t *ids, const char **why)
{
	uintptr_t rsdp = 0;
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && acpi_checksum_ok(a, 20)) {
			rsdp = a;
			break;
		}
	if (!rsdp) {
		*why = "no RSDP in 0xe0000-0xfffff";
		return -1;
	}
	uint8_t rev = *(const uint8_t *)(rsdp + 15);
	uintptr_t root = rd32(rsdp + 16);
	unsigned entry_size = 4;
	const char *root_sig = "RSDT";
	if (rev >= 2 && acpi_checksum_ok(rsdp, 36) && rd32(rsdp + 24) && !rd32(rsdp + 28)) {
		root = rd32(rsdp + 24);
		entry_size = 8;
		root_sig = "XSDT";
	}
	guest_printf("madt: RSDP at 0x%x, revision %u, %s at 0x%x\n", (uint32_t)rsdp, rev, root_sig,
		     (uint32_t)root);
	if (!root || !acpi_table_ok(root, root_sig)) {
		*why = "bad RSDT/XSDT";
		return -1;
	}
	uintptr_t madt = 0;
	uint32_t n = (rd32(root + 4) - 36) / entry_size;
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t t = rd32(root + 36 + i * entry_size);
		if (entry_size == 8 && rd32(root + 36 + i * entry_size + 4))
			continue; /* above 4 GiB: not reachable without paging */
		if (t && !memcmp((const void *)t, "APIC", 4)) {
			madt = t;
			break;
		}
	}
	if (!madt || !acpi_table_ok(madt, "APIC")) {
		*why = madt ? "MADT checksum or length bad" : "no MADT (APIC) table";
		return -1;
	}
	uint32_t len = rd32(madt + 4), count = 0;
	for (uint32_t off = 44; off + 2 <= len;) {
		uint8_t type = *(const uint8_t *)(madt + off),
			elen = *(const uint8_t *)(madt + off + 1);
		if (elen < 2 || off + elen > len) {
			*why = "malformed MADT entry";
			return -1;
		}
		uint32_t id = 0, flags = 0;
		int cpu = 0;
		if (type == 0 && elen >= 8) {
			id = *(const uint8_t *)(madt + off + 3);
			flags = rd32(madt + off + 4);
			cpu = 1;
		} else if (type == 9 && elen >= 16) {
			id = rd32(madt + off + 4);
			flags = rd32(madt + off + 8);
			cpu = 1;
		}
		if (cpu && (flags & 1) && count < SMP_MAX_CPUS)
			ids[count++] = id;
		off += elen;
	}
	guest_printf("madt: at 0x%x, %u enabled cpus, apic ids:", (uint32_t)madt, count);
	for (uint32_t i = 0; i < count; i++)
		guest_printf(" %u", ids[i]);
	guest_puts("\n");
	return (int)count;
}

static void sort_ids(uint32_t *v, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint32_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

void guest_main(uint32_t magic, uint32_t mbi)
{
	uint32_t madt_ids[SMP_MAX_CPUS], ids[SMP_MAX_CPUS];
	const char *madt_why = "";

	guest_serial_init();
	guest_puts("\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		guest_fail("smp", "eax=0x%08x, want 0x%08x", magic, MULTIBOOT_BOOTLOADER_MAGIC);
	guest_cmdline(mbi, cmdline, sizeof(cmdline));
	int madt_n = madt_cpus(madt_ids, &madt_why);
	uint32_t want = guest_cmdline_uint(cmdline, "cpus", madt_n > 0 ? (uint32_t)madt_n : 1);
	if (want < 1 || want > SMP_MAX_CPUS)
		guest_fail("smp", "cpus=%u out of range 1-%u", want, SMP_MAX_CPUS);

	uint32_t bsp = lapic_read(LAPIC_ID) >> 24;
	guest_printf("smp: expecting %u cpus; bsp apic id %u, lapic version 0x%x\n", want, bsp,
		     lapic_read(LAPIC_VERSION));
	memcpy((void *)LOW_BLOB_BASE, tramp, (size_t)(tramp_end - tramp));
	lapic_write(LAPIC_SVR,
		    lapic_read(LAPIC_SVR) | 0x1ff); /* software-enable, spurious vector 0xff */

	guest_printf("smp: INIT-SIPI-SIPI (vector 0x%x) to all but self\n", LOW_BLOB_BASE >> 12);
	int err = icr_send(ICR_ALL_BUT_SELF | ICR_INIT);
	delay(DELAY_INIT);
	err |= icr_send(ICR_ALL_BUT_SELF | ICR_SIPI | (LOW_BLOB_BASE >> 12));
	delay(DELAY_SIPI);
	err |= icr_send(ICR_ALL_BUT_SELF | ICR_SIPI | (LOW_BLOB_BASE >> 12));
	if (err)
		guest_puts("smp: ICR delivery status stayed pending\n");

	uint64_t t0 = rdtsc();
	while (__atomic_load_n(&aps_up, __ATOMIC_ACQUIRE) + 1 < want && rdtsc() - t0 < WAIT_APS)
		__asm__ volatile("pause");
	uint64_t t_up = rdtsc() - t0;
	delay(WAIT_EXTRA);

	uint32_t up = __atomic_load_n(&aps_up, __ATOMIC_ACQUIRE), started = ap_next, n = 1;
	if (up > SMP_MAX_APS)
		up = SMP_MAX_APS;
	ids[0] = bsp;
	int pe_ok = 1;
	for (uint32_t i = 0; i < up; i++) {
		ids[n++] = ap_ids[i];
		pe_ok &= ap_pe_ok[i] != 0;
	}
	guest_printf("smp: %u cpus up\n", n);
	guest_printf("smp: apic ids (bsp first):");
	for (uint32_t i = 0; i < n; i++)
		guest_printf(" %u", ids[i]);
	guest_printf("\nsmp: aps reached protected mode in %llu tsc cycles\n",
		     (unsigned long long)t_up);

	/* The MADT check is reported on its own line and does not decide the bring-up result. */
	if (madt_n < 0) {
		guest_printf("FAIL smp-madt: %s\n", madt_why);
	} else {
		sort_ids(madt_ids, (uint32_t)madt_n);
		uint32_t sorted[SMP_MAX_CPUS];
		memcpy(sorted, ids, n * sizeof(ids[0]));
		sort_ids(sorted, n);
		if ((uint32_t)madt_n != n)
			guest_printf("FAIL smp-madt: MADT lists %d cpus, %u came up\n", madt_n, n);
		else if (memcmp(sorted, madt_ids, n * sizeof(ids[0])))
			guest_printf(
			    "FAIL smp-madt: MADT apic ids differ from the cpus that came up\n");
		else
			guest_printf("PASS smp-madt\n");
	}

	sort_ids(ids, n);
	for (uint32_t i = 1; i < n; i++)
		if (ids[i] == ids[i - 1])
			guest_fail("smp", "apic id %u seen twice", ids[i]);
	if (started > up || ap_overflow)
		guest_fail("smp", "%u aps started, %u checked in", started, up);
	if (!pe_ok)
		guest_fail("smp", "an AP ran with CR0.PE clear");
	if (n != want)
		guest_fail("smp", "%u cpus up, want %u", n, want);
	guest_printf("PASS smp\n");
	guest_exit(GUEST_EXIT_SMP);
}
