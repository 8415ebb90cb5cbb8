# kvmbox: one non-recursive Makefile. `make` builds build/kvmbox; `make SAN=1` builds an
# ASan+UBSan tree in build-san/; `make check` runs every test suite (tests/run.sh).
CC ?= gcc
SAN ?= 0
FUZZ ?= 0
ifeq ($(FUZZ),1)
# libFuzzer build: `make FUZZ=1 fuzzers` (clang), binaries in build-fuzz/fuzz/.
CC := clang
O := build-fuzz
else
O := $(if $(filter 1,$(SAN)),build-san,build)
endif

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CFLAGS_BASE := -std=gnu11 -g -O2 -Wall -Wextra -Wshadow -Wvla -Wno-unused-parameter \
	-D_GNU_SOURCE -Isrc -DKVMBOX_VERSION='"0.2.0"' -DKVMBOX_BUILD='"$(VERSION)"' -pthread -MMD -MP
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS += $(CFLAGS_BASE) $(if $(filter 1,$(SAN)),$(SANFLAGS) -O1)
LDFLAGS += -pthread $(if $(filter 1,$(SAN)),$(SANFLAGS))
ifeq ($(FUZZ),1)
CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif
LDLIBS += -luring -ljansson -lhttp_parser -lseccomp

LIB_SRCS := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
# Every fuzz target is also built as a plain program that replays the kept corpus (tests/run.sh).
REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/fuzz-replay/%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/fuzz/%)

all: $(O)/kvmbox $(UNIT_BINS) $(REPLAY_BINS)
fuzzers: $(FUZZ_BINS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(O)/libkvmbox.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/kvmbox: $(O)/src/main.o $(O)/libkvmbox.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(O)/libkvmbox.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/fuzz-replay/%: $(O)/tests/fuzz/%.o $(O)/tests/fuzz/replay_main.o $(O)/libkvmbox.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/fuzz/%: $(O)/tests/fuzz/%.o $(O)/libkvmbox.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The version string is compiled into main.o only: rebuild it when the checkout changes.
$(O)/src/main.o: $(wildcard .git/HEAD .git/index)

# Fragments for the bare-metal test guests, fuzzers and benchmarks live next to their sources.
-include $(wildcard tests/*/*.mk bench/*.mk)

check: all
	tests/run.sh

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(find src tests bench -name '*.[ch]')

.PHONY: all check clean format fuzzers
# Keep object files that pattern rules treat as intermediate (no rebuilds, no rm noise).
.PRECIOUS: $(O)/%.o
-include $(shell find $(O) -name '*.d' 2>/dev/null)
