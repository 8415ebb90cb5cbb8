/* The x86 guest physical memory map that kvmbox builds (no firmware: kvmbox places everything). */
#ifndef KVMBOX_X86_LAYOUT_H
#define KVMBOX_X86_LAYOUT_H

/*
 * Low memory, below 1 MiB. Multiboot kernels may load here around what kvmbox writes or reserves
 * for them: boot_multiboot.c's boot_mb_reserved table lists that and must follow any change below.
 */
#define LAYOUT_GDT 0x500ull /* boot GDT (6 entries, to 0x52f) */
#define LAYOUT_GDT_SIZE 0x30ull
#define LAYOUT_IDT 0x540ull	     /* empty boot IDT (limit 0): nothing is written */
#define LAYOUT_BOOT_INFO 0x6000ull   /* hvm_start_info / multiboot info + memory map, one page */
#define LAYOUT_BOOT_PARAMS 0x7000ull /* Linux zero page (struct boot_params) */
/* Identity page tables (PML4, PDPT, 4 PDs: 2 MiB pages, 4 GiB), written for 64-bit boots only. */
#define LAYOUT_PML4 0x9000ull
#define LAYOUT_PDPT 0xa000ull
#define LAYOUT_PD 0xb000ull	  /* 4 pages: 0xb000-0xefff */
#define LAYOUT_CMDLINE 0x20000ull /* kernel command line */
#define LAYOUT_CMDLINE_MAX 0x10000ull
#define LAYOUT_EBDA 0x9fc00ull /* [EBDA, 1 MiB) is reserved in the e820 map */
#define LAYOUT_ACPI 0xe0000ull /* RSDP and ACPI tables, in the BIOS area Linux scans */
#define LAYOUT_ACPI_SIZE 0x20000ull
/* 1 MiB: start of high RAM, protected-mode kernel load address. */
#define LAYOUT_HIMEM 0x100000ull

/* The 32-bit MMIO hole: RAM above this continues at 4 GiB. */
#define LAYOUT_MMIO_HOLE 0xc0000000ull
#define LAYOUT_PCI_MMIO 0xc0000000ull /* 32-bit BAR window */
#define LAYOUT_PCI_MMIO_SIZE 0x10000000ull
#define LAYOUT_VIRTIO_MMIO 0xd0000000ull /* virtio-mmio devices, one page each */
#define LAYOUT_VIRTIO_MMIO_STRIDE 0x1000ull
#define LAYOUT_PCI_ECAM 0xe0000000ull /* bus 0 only: 1 MiB */
#define LAYOUT_PCI_ECAM_SIZE 0x100000ull
#define LAYOUT_IOAPIC 0xfec00000ull
#define LAYOUT_LAPIC 0xfee00000ull
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ull /* KVM_SET_IDENTITY_MAP_ADDR (one page) */
#define LAYOUT_KVM_TSS 0xfeffd000ull	      /* KVM_SET_TSS_ADDR (three pages) */
#define LAYOUT_4G 0x100000000ull

/* Legacy ISA interrupt lines (GSI = ISA IRQ with the in-kernel irqchip). */
#define LAYOUT_IRQ_KBD 1
#define LAYOUT_IRQ_COM1 4
#define LAYOUT_IRQ_SCI 9
#define LAYOUT_IRQ_AUX 12
#define LAYOUT_GSI_PCI_INTX 16	  /* 16-19: INTA#-INTD# after swizzling */
#define LAYOUT_GSI_VIRTIO_MMIO 20 /* 20-23: virtio-mmio devices */

/* Legacy I/O ports. */
#define LAYOUT_PORT_I8042 0x60 /* 0x60 and 0x64 */
#define LAYOUT_PORT_RTC 0x70   /* 0x70-0x71 */
#define LAYOUT_PORT_DEBUG_EXIT 0xf4
#define LAYOUT_PORT_COM1 0x3f8
#define LAYOUT_PORT_ACPI_PM 0x600 /* 16 ports: PM1a event +0, control +4, timer +8, reset +12 */

#endif
