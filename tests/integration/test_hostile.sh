#!/usr/bin/env bash
# Hostile guests against kvmbox's device models: the hostile test guest (tests/guests/hostile.c)
# writes random values at random widths to every I/O port, to every memory BAR of every PCI function,
# through random PCI configuration accesses, and to the virtio-mmio windows, ECAM and unclaimed MMIO,
# with every kind of device kvmbox has attached (virtio-rng, virtio-blk on PCI and on MMIO,
# virtio-vsock, virtio-console). For each seed kvmbox must let the guest finish (status 81) within
# the time bound, and print no sanitizer report (the suite also runs this under ASan+UBSan with
# LeakSanitizer: san-integration). Seeds: HOSTILE_SEEDS (default 3 fixed ones, reproducible).
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
