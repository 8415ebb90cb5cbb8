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
# Snapshot: every device register file (struct bus_ops) has save and load hooks, or says another
# range of the same device carries its state; every virtio device model (struct virtio_dev_ops)
# has both. A device added without them fails here.
missing=$(awk '
	/(struct bus_ops|struct virtio_dev_ops) [a-z0-9_]+ = \{/ {
		name = FILENAME ":" FNR; body = ""; inside = 1
		virtio = $0 ~ /virtio_dev_ops/
	}
	inside { body = body $0 }
	inside && /^\};/ {
		inside = 0
		ok = (body ~ /\.save = / && body ~ /\.load = /) || (!virtio && body ~ /\.state_shared = true/)
		if (!ok)
			print name
	}' $(git ls-files 'src/*.c'))
if [ -z "$missing" ]; then
	echo "PASS device-state-hooks"
else
	echo "FAIL device-state-hooks: no save/load (or state_shared) in: $(echo $missing)"
fi
tmp=$(mktemp -d)
if make -s -B O="$tmp" "$tmp/kvmbox" >"$tmp/log" 2>&1 && ! grep -q 'warning:' "$tmp/log"; then
	echo "PASS build-without-warnings"
else
	echo "FAIL build-without-warnings"
	grep -m5 -E 'warning|error' "$tmp/log" | sed 's/^/    /'
fi
rm -rf "$tmp"
