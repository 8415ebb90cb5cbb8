#!/usr/bin/env bash
# Without KVM: kvmbox --accel emu against QEMU's TCG, both running the same pio_loop guest (n outb
# to port 0x80, then debug-exit). Needs no /dev/kvm, so it runs on hosts that have none.
#   1. cost of one loop iteration (a few instructions and a port write): the slope of whole-run
#      wall clock over n, so startup cancels out; the ratio kvmbox/QEMU is the median of
#      per-repetition ratios, both measured back to back
#   2. start-to-exit time of the trivial guest (n=0)
#   3. kvmbox's own --stats rate (emulated instructions per second) for the n=N run
# The host is noisy: runs are interleaved and every figure is a median. No asserts.
#
# Usage: bench/emu.sh [--quick]
# Environment: KVMBOX (default build/kvmbox), QEMU (default qemu-system-x86_64).
set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=200000 REPS=5
case ${1:-} in
--quick) N=50000 REPS=3 ;;
"") ;;
-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
*) echo "bench/emu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
KVMBOX=${KVMBOX:-$ROOT/build/kvmbox}
QEMU=${QEMU:-qemu-system-x86_64}
GUEST=$ROOT/build/guests/pio_loop.elf
STATUS=95 # pio_loop writes 0x2f to debug-exit: (0x2f << 1) | 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
source "$ROOT/bench/lib.sh"

run() { # VMM N
	case $1 in
	kvmbox) timed $STATUS "$KVMBOX" run --accel emu --debug-exit --memory 128M --kernel "$GUEST" \
		--cmdline "n=$2" ;;
	qemu) timed $STATUS "$QEMU" -accel tcg -nographic -no-reboot -nodefaults -serial stdio \
		-machine pc -m 128 -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$GUEST" \
		-append "n=$2" ;;
	esac
}

echo "kvmbox --accel emu vs QEMU TCG: $(date '+%Y-%m-%d %H:%M'), n=$N, $REPS reps, $(nproc) CPUs," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
make -C "$ROOT" -j2 build/kvmbox build/guests/pio_loop.elf >"$TMP/make.log" 2>&1 ||
	note "make failed; using the binaries already built"
for f in "$KVMBOX" "$GUEST"; do
	[ -f "$f" ] || { echo "bench/emu.sh: $f missing" >&2; exit 1; }
done
echo "  kvmbox: $("$KVMBOX" --version 2>&1 | head -n1); QEMU: $("$QEMU" --version | head -n1)"

declare -A T0 SLOPE
for ((r = 0; r < REPS; r++)); do
	order=(kvmbox qemu)
	[ $((r % 2)) = 1 ] && order=(qemu kvmbox)
	for v in "${order[@]}"; do
		progress "rep $((r + 1))/$REPS: $v"
		run "$v" 0
		a=$DT
		run "$v" "$N"
		T0[$v]+="$(calc 'a * 1000' "$a") "
		SLOPE[$v]+="$(calc '(b - a) * 1e9 / c' "$a" "$DT" "$N") "
	done
done
progress_done
echo
echo "== 1. One loop iteration (ns, slope over n) and 2. start-to-exit (ms, n=0) =="
printf '   %-20s %10s %19s %12s %19s\n' VMM "ns/iter" "[min - max]" "start ms" "[min - max]"
for v in kvmbox qemu; do
	# shellcheck disable=SC2086
	printf '   %-20s %10s %19s %12s %19s\n' "$([ $v = kvmbox ] && echo "kvmbox --accel emu" || echo "QEMU TCG")" \
		"$(fmt .0f "$(stat_of med ${SLOPE[$v]})")" "$(range .0f ${SLOPE[$v]})" \
		"$(fmt .1f "$(stat_of med ${T0[$v]})")" "$(range .1f ${T0[$v]})"
done
read -r -a ks <<<"${SLOPE[kvmbox]}"
read -r -a qs <<<"${SLOPE[qemu]}"
rs=()
for ((r = 0; r < REPS; r++)); do rs+=("$(calc 'a / b' "${ks[$r]}" "${qs[$r]}")"); done
printf '   ratio kvmbox/QEMU per iteration: %s %s (median of per-rep ratios; below 1: kvmbox faster)\n' \
	"$(fmt .2f "$(stat_of med "${rs[@]}")")" "$(range .2f "${rs[@]}")"
read -r -a ks <<<"${T0[kvmbox]}"
read -r -a qs <<<"${T0[qemu]}"
rs=()
for ((r = 0; r < REPS; r++)); do rs+=("$(calc 'a / b' "${ks[$r]}" "${qs[$r]}")"); done
printf '   ratio kvmbox/QEMU start-to-exit: %s %s\n' "$(fmt .2f "$(stat_of med "${rs[@]}")")" \
	"$(range .2f "${rs[@]}")"
echo
echo "== 3. kvmbox --stats for n=$N =="
"$KVMBOX" run --accel emu --debug-exit --stats --memory 128M --kernel "$GUEST" --cmdline "n=$N" \
	</dev/null 2>&1 | grep -E 'emulated:|vCPU time' | sed 's/^ */   /'
[ "$FAILS" = 0 ] || echo "   $FAILS runs ended with an unexpected status (their figures are NA)"
