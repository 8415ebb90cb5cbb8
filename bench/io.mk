# bench/io.sh's static tools, in the guest's initramfs overlay and on the host alike:
# $(O)/bench/guest-root/usr/bin/{kb-blkread,kb-tcp} (the directory is a mkinitramfs.sh overlay).
# Own flags on purpose (no sanitizers, -static so the same binary runs in the busybox guest).
IO_BENCH_CC ?= gcc
IO_BENCH_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Wshadow -D_GNU_SOURCE -static
IO_BENCH_BINS := $(O)/bench/guest-root/usr/bin/kb-blkread $(O)/bench/guest-root/usr/bin/kb-tcp

bench: $(IO_BENCH_BINS)
bench-io: $(IO_BENCH_BINS) $(O)/kvmbox
.PHONY: bench-io

$(O)/bench/guest-root/usr/bin/kb-blkread: bench/guest/blkread.c
	@mkdir -p $(dir $@)
	$(IO_BENCH_CC) $(IO_BENCH_CFLAGS) -o $@ $<

$(O)/bench/guest-root/usr/bin/kb-tcp: bench/guest/tcpbench.c
	@mkdir -p $(dir $@)
	$(IO_BENCH_CC) $(IO_BENCH_CFLAGS) -o $@ $<
