#!/usr/bin/env bash
# Run kvm-unit-tests' x86 guests under kvmbox (and, with --qemu, under QEMU) and print a
# PASS/FAIL/SKIP table. Not part of the test suite: kvm-unit-tests is fetched and built by hand
# (CI has no network). docs/kvm-unit-tests.md has the results and how to reproduce them.
#
#   scripts/kvm-unit-tests.sh [--accel kvm|emu] [--qemu [--qemu-accel kvm|tcg]] [--timeout S]
#                             KUT_DIR [TEST...]
#
# KUT_DIR is a built x86_64 kvm-unit-tests tree (./configure && make). --accel emu runs kvmbox
# without KVM, every instruction in its emulator;
# --qemu-accel tcg runs QEMU without KVM too, for the same comparison on a host with no /dev/kvm.
# A test's verdict comes from the exit status the guest writes to the debug-exit port: 1 = PASS,
# 77 = SKIP (kvm-unit-tests exits 38 so that QEMU's (v << 1) | 1 makes 77; older trees: 155),
# other odd statuses = FAIL; status 8 is kvmbox stopping on an emulation failure or unhandled
# exit (STOP), and a test still running after its time limit is TIMEOUT.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kvmbox=${KVMBOX:-$root/build/kvmbox}
use_qemu=0
accel=kvm
qemu_accel=kvm
limit=60
while [[ $# -gt 0 && $1 == --* ]]; do
	case $1 in
	--qemu) use_qemu=1 ;;
	--accel) accel=$2; shift ;;
	--qemu-accel) qemu_accel=$2; shift ;;
	--timeout) limit=$2; shift ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ $# -ge 1 ]] || { sed -n 2,12p "$0" >&2; exit 2; }
kut=$1
shift
cfg=$kut/x86/unittests.cfg
[[ -r $cfg ]] || { echo "error: $cfg: not a kvm-unit-tests tree" >&2; exit 2; }
want=" $* "
logdir=${LOGDIR:-$(mktemp -d)}
mkdir -p "$logdir" || exit 2

# name|file|smp|test_args|memory MiB|arch, one line per test section.
tests=$(awk '
	function flush() { if (name != "") print name "|" file "|" smp "|" args "|" mem "|" arch }
	/^\[/ { flush(); name = substr($0, 2, length($0) - 2); file = ""; smp = 1; args = ""; mem = 256; arch = ""; next }
	/^file *=/ { sub(/^file *= */, ""); file = $0 }
	/^smp *=/ { sub(/^smp *= */, ""); smp = $0 }
	/^arch *=/ { sub(/^arch *= */, ""); arch = $0 }
	/^test_args *=/ { sub(/^test_args *= */, ""); gsub(/["\047]/, ""); args = $0 }
	/^qemu_params *=/ { if (match($0, /-m [0-9]+[gG]?/)) { m = substr($0, RSTART + 3, RLENGTH - 3); if (m ~ /[gG]$/) m = m * 1024; mem = m + 0 } }
	END { flush() }' "$cfg")

pass=0 fail=0 skip=0 other=0
printf '%-40s %-8s %s\n' TEST RESULT DETAIL
while IFS='|' read -r name file smp args mem arch; do
	[[ $want == "  " || $want == *" $name "* ]] || continue
	[[ $arch == i386 ]] && continue
	[[ $smp =~ ^[0-9]+$ ]] || smp=$(eval "echo \$(( $smp ))" 2>/dev/null || echo 1)
	[[ $args == *'`'* ]] && args=$(eval "echo $args")
	log=$logdir/$name.log
	if ((use_qemu)); then
		timeout -k 5 "$limit" qemu-system-x86_64 -machine accel="$qemu_accel" -nodefaults \
			-nographic -serial stdio -device pc-testdev -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
			-display none -m "$mem" -smp "$smp" -kernel "$kut/x86/$file" \
			${args:+-append "$args"} </dev/null >"$log" 2>&1
	else
		timeout -k 5 "$limit" "$kvmbox" run --accel "$accel" --kernel "$kut/x86/$file" --test-devices \
			--memory "$mem" --cpus "$smp" ${args:+--cmdline "$args"} </dev/null >"$log" 2>&1
	fi
	st=$?
	detail=$(grep -aE '^(SUMMARY|FAIL|SKIP)' "$log" | head -1 | cut -c1-70)
	case $st in
	1) r=PASS; pass=$((pass + 1)) ;;
	77 | 155) r=SKIP; skip=$((skip + 1)) ;;
	124 | 137) r=TIMEOUT; other=$((other + 1)) ;;
	8) r=STOP; other=$((other + 1)); detail=$(grep -a -m1 -E 'emulation failure|unhandled|instruction bytes|cannot execute' "$log" | cut -c1-90) ;;
	*) if ((st & 1)); then r=FAIL; fail=$((fail + 1)); else r="ERR($st)"; other=$((other + 1)); fi ;;
	esac
	[[ -n $detail ]] || detail=$(grep -av '^\s*$' "$log" | tail -1 | cut -c1-70)
	printf '%-40s %-8s %s\n' "$name" "$r" "$detail"
done <<<"$tests"
echo "$pass pass, $fail fail, $skip skip, $other other (logs in $logdir)"
