#!/usr/bin/env bash
# Replays one fuzz target over its kept inputs: tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME.
# Prints PASS/FAIL for the target (a crash or sanitizer report fails it).
set -uo pipefail
bin=$1
name=$(basename "$bin")
dir=$(dirname "$0")
mapfile -t inputs < <(find "$dir/corpus/$name" "$dir/regressions/$name" -type f 2>/dev/null | sort)
if [ "${#inputs[@]}" -eq 0 ]; then
	# No kept inputs yet: still exercise the entry point on a few synthetic ones.
	tmp=$(mktemp -d)
	for n in 0 1 7 64 512 4096; do head -c "$n" /dev/urandom >"$tmp/rand$n"; done
	inputs=("$tmp"/*)
fi
if "$bin" "${inputs[@]}"; then
	echo "PASS $name (${#inputs[@]} inputs)"
else
	echo "FAIL $name: crashed on its kept inputs"
fi
