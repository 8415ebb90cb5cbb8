#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and fuzzes each one briefly (FUZZ_SECONDS, default 8).
# A crash input is kept under tests/fuzz/regressions/NAME/ so it becomes a replay regression test.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-8}
if ! command -v clang >/dev/null; then
	echo "SKIP fuzz-build: clang not installed"
	exit 0
fi
if ! make -s FUZZ=1 -j"$(nproc)" fuzzers >/tmp/kvmbox-fuzz-build.log 2>&1; then
	echo "FAIL fuzz-build: see /tmp/kvmbox-fuzz-build.log"
	tail -20 /tmp/kvmbox-fuzz-build.log
	exit 1
fi
for bin in build-fuzz/fuzz/fuzz_*; do
	name=$(basename "$bin")
	work=$(mktemp -d)
	mkdir -p "tests/fuzz/regressions/$name"
	[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
	# A fixed seed: a run that passed here passes again in CI (up to thread timing).
	if "$bin" -seed="${FUZZ_SEED:-1}" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="tests/fuzz/regressions/$name/" "$work" >"$work.log" 2>&1; then
		echo "PASS fuzz-brief $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | awk '{print $2}') runs)"
	else
		echo "FAIL fuzz-brief $name: input kept in tests/fuzz/regressions/$name/"
		grep -m5 -E 'ERROR|SUMMARY' "$work.log"
	fi
	rm -rf "$work" "$work.log"
done
