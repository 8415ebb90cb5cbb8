# Benchmark helpers (bench/run.sh), built into $(O)/bench/. Included by the top Makefile.
# Own flags on purpose: the host CFLAGS carry sanitizers in SAN=1 builds, which would skew timings.
BENCH_CC ?= gcc
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wshadow -D_GNU_SOURCE
BENCH_BINS := $(O)/bench/raw_kvm_loop

all: $(BENCH_BINS)
bench: $(BENCH_BINS) $(O)/kvmbox $(O)/guests/pio_loop.elf
.PHONY: bench

$(O)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

# The emulator's cost per instruction (bench/emu_bench.c): links the library, so only in plain
# builds (a sanitizer or fuzzer library would measure the instrumentation).
ifeq ($(SAN)$(FUZZ),00)
all: $(O)/bench/emu_bench
bench: $(O)/bench/emu_bench
$(O)/bench/emu_bench: $(O)/bench/emu_bench.o $(O)/libkvmbox.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/bench/emu_bench.o: bench/emu_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
endif
