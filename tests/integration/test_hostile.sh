#!/usr/bin/env bash
# Hostile guests against kvmbox's device models: the hostile test guest (tests/guests/hostile.c)
# writes random values at random widths to every I/O port, to every memory BAR of every PCI function,
# through random PCI configuration accesses, and to the virtio-mmio windows, ECAM and unclaimed MMIO,
# with every kind of device kvmbox has attached (virtio-rng, virtio-blk on PCI and on MMIO,
# virtio-vsock, virtio-console). For each seed kvmbox must let the guest finish (status 81) within
# the time bound, and print no sanitizer report (the suite also runs this under ASan+UBSan with
# LeakSanitizer: san-integration). Seeds: HOSTILE_SEEDS (default 3 fixed ones, reproducible).
# The badring guest (tests/guests/badring.c) then drives two virtio-blk devices on virtio-mmio (a
# sparse 1 GiB image and a read-only one) with malicious rings: descriptor loops, nested indirect
# tables, zero and 4 GiB lengths, addresses past RAM and wrapping past 2^64, heads beyond the queue,
# an avail index running ahead, garbage, 60 MiB reads reset in flight, notify storms, rings moved
# while running; status 83 within the bound, every attack kind reached, no sanitizer report.
source "$(dirname "$0")/lib.sh"
need_kvm hostile
GUEST=$ROOT/$O/guests/hostile.elf
[ -f "$GUEST" ] || { fail hostile-setup "$GUEST not built"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-hostile.XXXXXX)
trap 'rm -rf "$T"' EXIT
truncate -s 8M "$T/a.img" "$T/b.img"
SAN_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer'

for seed in ${HOSTILE_SEEDS:-1 2 3}; do
	run_guest "hostile-$seed" 180 --kernel "$GUEST" --debug-exit --cmdline "seed=$seed rounds=3000" \
		--rng --disk "path=$T/a.img" --disk "path=$T/b.img,transport=mmio" \
		--vsock "cid=3,uds=$T/v.sock" --console virtio
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		fail "hostile-seed-$seed" "kvmbox did not finish within 180 s"
		excerpt "$OUT"
	elif grep -aqE "$SAN_RE" "$OUT"; then
		fail "hostile-seed-$seed" "sanitizer report: $(grep -aE -m1 "$SAN_RE" "$OUT")"
	elif [ "$RC" -ne 81 ] || ! gsays '^PASS hostile$'; then
		fail "hostile-seed-$seed" "status $RC (want 81 after 'PASS hostile')"
		excerpt "$OUT"
	else
		pass "hostile-seed-$seed"
	fi
done

truncate -s 1G "$T/big.img"
truncate -s 8M "$T/ro.img"
BADRING=$ROOT/$O/guests/badring.elf
for seed in ${BADRING_SEEDS:-1 2}; do
	run_guest "badring-$seed" 180 --kernel "$BADRING" --debug-exit --cmdline "seed=$seed rounds=200" \
		--disk "path=$T/big.img,transport=mmio" --disk "path=$T/ro.img,transport=mmio,ro=on"
	missing=
	for k in loop length address indirect head avail garbage reset notify moved valid; do
		[ "$(gval "badring.$k")" -gt 0 ] 2>/dev/null || missing="$missing $k"
	done
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		fail "badring-seed-$seed" "kvmbox did not finish within 180 s"
		excerpt "$OUT"
	elif grep -aqE "$SAN_RE" "$OUT"; then
		fail "badring-seed-$seed" "sanitizer report: $(grep -aE -m1 "$SAN_RE" "$OUT")"
	elif [ "$RC" -ne 83 ] || ! gsays '^PASS badring$'; then
		fail "badring-seed-$seed" "status $RC (want 83 after 'PASS badring')"
		excerpt "$OUT"
	elif [ "$(gval badring.devices)" != 2 ] || [ -n "$missing" ]; then
		fail "badring-seed-$seed" "devices $(gval badring.devices), attacks never made:$missing"
	else
		pass "badring-seed-$seed"
		echo "# badring-$seed: longest reset $(gval badring.longest_reset_tsc) TSC ticks"
	fi
done
