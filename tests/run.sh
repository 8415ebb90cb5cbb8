#!/usr/bin/env bash
# Runs every test suite and prints one closing line "N passed, N failed, N skipped".
# Each test program prints lines "PASS name", "FAIL name[: why]" or "SKIP name[: why]";
# a program that exits non-zero without printing FAIL counts as one failure.
#   tests/run.sh              unit + guest + Linux integration tests
#   tests/run.sh unit         only the unit tests (no /dev/kvm needed)
#   tests/run.sh san-unit san-integration   the same suites against the ASan+UBSan build (build-san)
# Suites: lint, unit, fuzz (replay kept inputs), fuzz-brief (short libFuzzer runs), integration; san-X.
set -uo pipefail
cd "$(dirname "$0")/.."
suites=${*:-unit fuzz integration}
passed=0 failed=0 skipped=0
log_dir=$(mktemp -d /tmp/kvmbox-tests.XXXXXX)

run_one() { # name, command...
	local name=$1 out=$log_dir/$(basename "$1").log rc p f s
	shift
	local t0=$SECONDS
	"$@" >"$out" 2>&1
	rc=$?
	p=$(grep -c '^PASS' "$out"); f=$(grep -c '^FAIL' "$out"); s=$(grep -c '^SKIP' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited with status $rc" >>"$out"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	printf '%-40s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $((SECONDS - t0))
	grep -E '^(FAIL|SKIP)' "$out" | sed 's/^/    /'
	if [ "$f" -ne 0 ]; then
		echo "    --- last lines of $out ---"
		tail -n 25 "$out" | sed 's/^/    | /'
	fi
}

for suite in $suites; do
	case $suite in
	san-*) export O=build-san suite=${suite#san-} tag=san/ ;;
	*) export O=${BUILD_DIR:-build} tag= ;;
	esac
	export KVMBOX=$PWD/$O/kvmbox LOGDIR=$PWD/$O/test-logs/linux
	case $suite in
	unit)
		for t in "$O"/tests/test_*; do
			[ -x "$t" ] && run_one "${tag}unit/$(basename "$t")" "$t"
		done ;;
	fuzz)
		# Replays the kept corpora and crash inputs of every fuzz target (regressions).
		for t in "$O"/fuzz-replay/fuzz_*; do
			[ -x "$t" ] && run_one "${tag}fuzz/$(basename "$t")" tests/fuzz/replay.sh "$t"
		done ;;
	lint)
		run_one lint tests/lint.sh ;;
	fuzz-brief)
		run_one "fuzz/brief-libfuzzer" tests/fuzz/run-brief.sh ;;
	integration)
		for t in tests/integration/test_*.sh; do
			# Under ASan a Linux guest costs what it costs in the plain build (minutes of slow
			# guest code) and adds little: its kvmbox paths (devices, vCPU threads, API, pause)
			# run under ASan in the unit and fuzz suites, in the bare-metal guests of test_guests,
			# test_exits, test_pause, test_api, test_snapshot (with its Linux snapshot and
			# clones), and in one SMP Linux boot and one two-disk virtio-blk boot here. The
			# other Linux runs are plain-build only.
			case "$tag$(basename "$t")" in
			san/test_stock_kernel.sh | san/test_lifecycle.sh | san/test_vsock.sh | \
				san/test_virtio_net.sh | san/test_virtio_misc.sh | san/test_guest_processes.sh | \
				san/test_smp_load.sh | san/test_gdb_linux.sh | san/test_crash.sh | \
				san/test_snapshot_devices.sh) continue ;;
			esac
			[ -x "$t" ] || continue
			if [ -n "$tag" ]; then
				LINUX_BOOTS=pvh-2 BLK_CASES=pci run_one "${tag}integration/$(basename "$t" .sh)" "$t"
			else
				run_one "integration/$(basename "$t" .sh)" "$t"
			fi
		done ;;
	*) echo "unknown suite $suite" >&2; exit 2 ;;
	esac
done
echo "logs: $log_dir"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
