#!/usr/bin/env bash
# Fetch Debian's statically linked busybox (the test guest's whole user space) into the cache.
# Prints the path of the busybox binary.
set -euo pipefail
. "$(dirname "$0")/cache.sh"

deb=$(apt_fetch busybox-static)
# One directory per .deb, so a newer package never mixes with an old extraction.
dir=$KVMBOX_CACHE/$(basename "$deb" .deb)
if [ ! -x "$dir/bin/busybox" ]; then
	rm -rf "$dir.tmp"
	dpkg-deb -x "$deb" "$dir.tmp"
	[ -x "$dir.tmp/bin/busybox" ] || die "$deb has no bin/busybox"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir/bin/busybox"
