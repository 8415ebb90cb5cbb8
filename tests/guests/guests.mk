# Bare-metal test guests (multiboot v1, 32-bit ELF) built into $(O)/guests/. Included by the top Makefile.
# They use their own compiler flags: never the host CFLAGS, which carry sanitizers in SAN=1 builds.
GUEST_CC ?= gcc
GUEST_LD ?= ld
GUEST_OBJCOPY ?= objcopy
GUEST_DIR := tests/guests
GUEST_OBJ := $(O)/guests/obj
GUEST_CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Wshadow -Wvla -ffreestanding -fno-builtin -nostdlib \
	-fno-pic -fno-pie -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -mgeneral-regs-only -I$(GUEST_DIR) -MMD -MP
GUEST_CFLAGS32 := $(GUEST_CFLAGS) -m32 -march=i686
GUEST_CFLAGS64 := $(GUEST_CFLAGS) -m64 -mno-red-zone -mcmodel=small
GUEST_LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments \
	-T $(GUEST_DIR)/guest.ld

# 32-bit guests are linked as i386. 64-bit guests start in 32-bit code too but are linked as x86-64
# and converted to ELF32, because multiboot loaders (QEMU's included) only take 32-bit ELF. The
# x86-64 link stays as NAME.elf64: gdb reads its symbols (tests/integration/test_gdb.sh).
GUEST_NAMES32 := hello32 realmode smp pio_loop spin intr32 apic32
GUEST_NAMES64 := long64 int3 nmi user3 gdbtest hostile badring
GUEST_ELFS := $(patsubst %,$(O)/guests/%.elf,$(GUEST_NAMES32) $(GUEST_NAMES64))

all: $(GUEST_ELFS)
guests: $(GUEST_ELFS)
.PHONY: guests

$(GUEST_OBJ)/%.32.o: $(GUEST_DIR)/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS32) -c $< -o $@
$(GUEST_OBJ)/%.32.o: $(GUEST_DIR)/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS32) -c $< -o $@
$(GUEST_OBJ)/%.64.o: $(GUEST_DIR)/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c $< -o $@
$(GUEST_OBJ)/%.64.o: $(GUEST_DIR)/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c $< -o $@

GUEST_COMMON32 := $(GUEST_OBJ)/entry32.32.o $(GUEST_OBJ)/guest.32.o
GUEST_COMMON64 := $(GUEST_OBJ)/entry64.64.o $(GUEST_OBJ)/guest.64.o

$(O)/guests/hello32.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/hello32.32.o
$(O)/guests/realmode.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/realmode.32.o $(GUEST_OBJ)/realmode_low.32.o
$(O)/guests/smp.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/smp.32.o $(GUEST_OBJ)/smp_low.32.o
$(O)/guests/pio_loop.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/pio_loop.32.o
$(O)/guests/spin.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/spin.32.o
$(O)/guests/intr32.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/intr32.32.o $(GUEST_OBJ)/isr32.32.o
$(O)/guests/apic32.elf: $(GUEST_COMMON32) $(GUEST_OBJ)/apic32.32.o
$(O)/guests/long64.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/long64.64.o
$(O)/guests/int3.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/int3.64.o $(GUEST_OBJ)/isr64.64.o $(GUEST_OBJ)/idt64.64.o
$(O)/guests/nmi.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/nmi.64.o $(GUEST_OBJ)/isr64.64.o $(GUEST_OBJ)/idt64.64.o
$(O)/guests/user3.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/user3.64.o $(GUEST_OBJ)/isr64.64.o $(GUEST_OBJ)/idt64.64.o
$(O)/guests/gdbtest.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/gdbtest.64.o
$(O)/guests/hostile.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/hostile.64.o $(GUEST_OBJ)/isr64.64.o $(GUEST_OBJ)/idt64.64.o
$(O)/guests/badring.elf: $(GUEST_COMMON64) $(GUEST_OBJ)/badring.64.o $(GUEST_OBJ)/isr64.64.o $(GUEST_OBJ)/idt64.64.o

$(patsubst %,$(O)/guests/%.elf,$(GUEST_NAMES32)): $(GUEST_DIR)/guest.ld
	$(GUEST_LD) -m elf_i386 $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

$(patsubst %,$(O)/guests/%.elf,$(GUEST_NAMES64)): $(GUEST_DIR)/guest.ld
	$(GUEST_LD) -m elf_x86_64 $(GUEST_LDFLAGS) -o $@64 $(filter %.o,$^)
	$(GUEST_OBJCOPY) -O elf32-i386 $@64 $@
