#!/usr/bin/env bash
# A long libFuzzer campaign over kvmbox's fuzz targets, run by hand or nightly. CI does not run
# this: it only replays the kept inputs (tests/run.sh fuzz) and fuzzes a few seconds per target
# (tests/run.sh fuzz-brief). This script is how the kept corpora grow.
#
#   scripts/fuzz-campaign.sh [-t SECONDS] [-j JOBS] [-m MAX_LEN] [-F] [-o DIR] [TARGET...]
#
#   TARGET      fuzz_NAME or NAME (tests/fuzz/fuzz_NAME.c); default: every target
#   -t SECONDS  fuzzing time per target (default $FUZZ_SECONDS, else 600)
#   -j JOBS     parallel libFuzzer jobs/workers per target (default $FUZZ_JOBS, else nproc)
#   -m MAX_LEN  libFuzzer -max_len for fuzzing and merging (default: libFuzzer's own guess)
#   -F          merge by libFuzzer's full feature set (edge hit counts too), not new edges only
#   -o DIR      put crash inputs under DIR/NAME/ instead of tests/fuzz/regressions/NAME/
#
# Per target: builds the ASan+UBSan libFuzzer binaries (make FUZZ=1 fuzzers, build-fuzz/fuzz/),
# fuzzes from tests/fuzz/corpus/NAME plus tests/fuzz/regressions/NAME with new inputs going to a
# temporary directory, then merges them back into tests/fuzz/corpus/NAME with -merge=1, so the
# kept corpus only grows by inputs that add coverage. By default the merge counts new edges only
# (-use_counters=0; hit-count buckets keep about ten times as many files), while the fuzzing uses
# all of libFuzzer's features. Kept inputs are never removed. Crash, leak, timeout and
# out-of-memory inputs are saved under tests/fuzz/regressions/NAME/, where the fuzz suite replays
# them (it fails until the bug is fixed). Prints one line per target (runs, corpus files before
# -> after, crashes) and exits 1 if any target found a crash. Needs clang; runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${FUZZ_SECONDS:-600}
jobs=${FUZZ_JOBS:-$(nproc)}
max_len=
crash_root=$root/tests/fuzz/regressions
merge_opt=(-use_counters=0)
usage() { sed -n '6,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while getopts "t:j:m:Fo:h" opt; do
	case $opt in
	t) secs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	m) max_len=$OPTARG ;;
	F) merge_opt=() ;;
	o) crash_root=$(mkdir -p "$OPTARG" && cd "$OPTARG" && pwd) ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
for n in "$secs" "$jobs" ${max_len:+"$max_len"}; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || usage
done

targets=()
if [ $# -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$src" .c)")
	done
else
	for t in "$@"; do
		t=fuzz_${t#fuzz_}
		[ -f "tests/fuzz/$t.c" ] || { echo "no fuzz target $t (tests/fuzz/$t.c)" >&2; exit 2; }
		targets+=("$t")
	done
fi

command -v clang >/dev/null || { echo "clang is needed for the libFuzzer build" >&2; exit 2; }
echo "building libFuzzer targets (make FUZZ=1 fuzzers)..." >&2
make -s FUZZ=1 -j"$(nproc)" fuzzers >/dev/null

work=$(mktemp -d /tmp/kvmbox-fuzz-campaign.XXXXXX)
keep_work=0
trap '[ "$keep_work" = 1 ] || rm -rf "$work"' EXIT
len_opt=()
[ -n "$max_len" ] && len_opt=(-max_len="$max_len")

count_files() { find "$1" -type f 2>/dev/null | wc -l; }

failed=0
ncrash=0
echo "fuzz campaign: ${secs}s per target, $jobs jobs, crash inputs to $crash_root/NAME/"
for name in "${targets[@]}"; do
	bin=$root/build-fuzz/fuzz/$name
	corpus=$root/tests/fuzz/corpus/$name
	regress=$root/tests/fuzz/regressions/$name
	dir=$work/$name
	mkdir -p "$corpus" "$dir/new" "$dir/artifacts" "$dir/logs"
	seeds=("$corpus")
	[ -d "$regress" ] && seeds+=("$regress")
	before=$(count_files "$corpus")
	echo "fuzzing $name for ${secs}s with $jobs jobs..." >&2

	# -jobs writes each job's output to fuzz-JOB.log in the current directory. New inputs go to
	# the first corpus directory only; the kept ones are read, never written.
	rc=0
	(cd "$dir/logs" && "$bin" -jobs="$jobs" -workers="$jobs" -max_total_time="$secs" \
		-timeout=25 -rss_limit_mb=2048 -print_final_stats=1 "${len_opt[@]}" \
		-artifact_prefix="$dir/artifacts/" "$dir/new" "${seeds[@]}" >"$dir/logs/main.log" 2>&1) ||
		rc=$?

	# Runs: every job's final stats (a job stopped by a crash still prints them).
	runs=$(cat "$dir"/logs/fuzz-*.log 2>/dev/null |
		awk '/^stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }')

	# Merge what the jobs found into the kept corpus: only inputs adding coverage are copied.
	if [ "$(count_files "$dir/new")" -gt 0 ]; then
		if ! "$bin" -merge=1 "${merge_opt[@]}" -timeout=25 -rss_limit_mb=2048 "${len_opt[@]}" \
			-merge_control_file="$dir/merge.ctl" "$corpus" "$dir/new" \
			>"$dir/logs/merge.log" 2>&1; then
			echo "$name: merge failed, see $dir/logs/merge.log" >&2
			keep_work=1
			failed=1
		fi
	fi
	after=$(count_files "$corpus")

	crashes=()
	for f in "$dir"/artifacts/{crash,leak,timeout,oom}-*; do
		[ -f "$f" ] || continue
		mkdir -p "$crash_root/$name"
		cp "$f" "$crash_root/$name/"
		crashes+=("$crash_root/$name/$(basename "$f")")
	done
	line="$name: $runs runs, corpus $before -> $after files (+$((after - before))), ${#crashes[@]} crashes"
	if [ "${#crashes[@]}" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$runs" -eq 0 ]; }; then
		failed=1
		keep_work=1
		[ "${#crashes[@]}" -eq 0 ] && line+=" (fuzzer exited with status $rc, no runs)"
		for f in "${crashes[@]}"; do
			line+=$'\n'"    $f"
		done
		line+=$'\n'"    logs: $dir/logs"
		# The first sanitizer or libFuzzer verdict of each crashing job.
		while IFS= read -r s; do
			line+=$'\n'"    $s"
		done < <(grep -h -m1 -E '^SUMMARY: |ERROR: libFuzzer' "$dir"/logs/fuzz-*.log 2>/dev/null |
			sort -u)
	fi
	size=$(du -sk --apparent-size "$corpus" | cut -f1)
	if [ "$after" -gt 300 ] || [ "$size" -gt 2048 ]; then
		line+=$'\n'"    note: the kept corpus is large ($after files, ${size} KiB): consider -m MAX_LEN"
	fi
	ncrash=$((ncrash + ${#crashes[@]}))
	echo "$line"
done

echo "fuzz campaign done: ${#targets[@]} targets, $ncrash crash inputs"
[ "$keep_work" = 1 ] && echo "work directory kept: $work"
exit "$failed"
