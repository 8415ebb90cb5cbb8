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
