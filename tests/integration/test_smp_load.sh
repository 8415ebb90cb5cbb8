#!/usr/bin/env bash
# SMP Linux on a busy host: the test kernel (vmlinux, PVH) with 2 and then 4 vCPUs while a busy
# loop runs on every host core must reach its poweroff within LOAD_FACTOR (default 6) times the
# 2-vCPU boot's time on the idle host, measured first in the same run. (The 250 Hz periodic tick
# once made such boots stall for many minutes: docs/kvm-host-notes.md, "Timer ticks".) Each boot
# also checks its /init marker, nproc and that no guest process died. Measured 2026-12-03 on 2
# cores: idle 81 s; busy 2 vCPUs 180 s (2.2x), busy 4 vCPUs 289 s (3.6x: four vCPU threads and
# two busy loops share two cores, and a preempted vCPU delays the others' IPIs and locks).
source "$(dirname "$0")/lib.sh"
need_kvm smp-load
prepare_linux
FACTOR=${LOAD_FACTOR:-6}
CMDLINE="console=ttyS0 panic=-1"
HOGS=()
stop_hogs() {
	local p
	for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${HOGS[@]}"; do wait "$p" 2>/dev/null; done
	HOGS=()
}
trap stop_hogs EXIT

# boot NAME CPUS LIMIT: one boot; ELAPSED is its wall time in seconds.
boot() {
	local name=$1 cpus=$2 limit=$3 t0=$SECONDS
	run_guest "$name" "$limit" --kernel "$KERNEL_DIR/vmlinux" --initrd "$INITRD" \
		--cmdline "$CMDLINE" --cpus "$cpus" --memory 512M
	ELAPSED=$((SECONDS - t0))
	if check_poweroff "$name" && grep -q '^KVMBOX-INIT-OK' "$OUT" &&
		grep -q "^nproc=$cpus\b" "$OUT"; then
		pass "$name"
	elif [ "$RC" -eq 0 ]; then
		fail "$name" "no /init marker or nproc=$cpus in the guest's output"
	fi
	check_guest_procs "$name-processes"
}

boot smp-idle-2cpu 2 600
idle=$ELAPSED
echo "# idle host, 2 vCPUs: ${idle} s to poweroff"
if [ "$RC" -ne 0 ]; then
	fail smp-load "the idle-host boot failed: no reference time"
	exit 1
fi
limit=$((FACTOR * idle + 30))

ncpu=$(nproc)
for _ in $(seq "$ncpu"); do
	(while :; do :; done) &
	HOGS+=($!)
done
echo "# $ncpu busy loops started (one per host core); bound: $FACTOR x ${idle} s + 30 s = ${limit} s"
for cpus in 2 4; do
	boot "smp-load-${cpus}cpu" "$cpus" "$limit"
	echo "# busy host, $cpus vCPUs: ${ELAPSED} s to poweroff ($(awk -v a="$ELAPSED" -v b="$idle" 'BEGIN { printf "%.1f", a / b }') x idle)"
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		fail "smp-load-${cpus}cpu-bound" "not finished within ${limit} s ($FACTOR x the idle boot's ${idle} s + 30 s)"
	elif [ "$RC" -eq 0 ]; then
		pass "smp-load-${cpus}cpu-bound"
	fi
done
stop_hogs
