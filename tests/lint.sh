#!/usr/bin/env bash
# Style gate: every C file matches .clang-format, and the build is warning-free.
set -uo pipefail
cd "$(dirname "$0")/.."
if command -v clang-format >/dev/null; then
	files=$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]' 'bench/*.[ch]')
	if out=$(clang-format --dry-run --Werror $files 2>&1); then
		echo "PASS clang-format ($(echo "$files" | wc -l) files)"
	else
		echo "FAIL clang-format: run 'make format'"
		echo "$out" | grep -m5 'error:' | sed 's/^/    /'
	fi
else
	echo "SKIP clang-format: not installed"
fi
tmp=$(mktemp -d)
if make -s -B O="$tmp" "$tmp/kvmbox" >"$tmp/log" 2>&1 && ! grep -q 'warning:' "$tmp/log"; then
	echo "PASS build-without-warnings"
else
	echo "FAIL build-without-warnings"
	grep -m5 -E 'warning|error' "$tmp/log" | sed 's/^/    /'
fi
rm -rf "$tmp"
