#!/usr/bin/env bash
# Fetch Debian's current cloud kernel (linux-image-*-cloud-amd64) into the cache, for booting an
# unmodified distribution kernel on hosts with VMX/SVM. Prints the path of its vmlinuz (a bzImage);
# with --deb, a second line: the package's .deb (for mkinitramfs.sh --modules, its modules).
set -euo pipefail
. "$(dirname "$0")/cache.sh"

print_deb=
case ${1:-} in
--deb) print_deb=1 ;;
'') ;;
*) die "usage: $0 [--deb]" ;;
esac

# The metapackage names the current ABI's image package, e.g. linux-image-6.1.0-56-cloud-amd64.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
	log "no package lists yet; running apt-get update"
	apt-get update -q >&2
	pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -n1)
fi
[ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64"

deb=$(apt_fetch "$pkg")
dir=$KVMBOX_CACHE/$(basename "$deb" .deb)
images=("$dir"/vmlinuz-*)
if [ ! -f "${images[0]}" ]; then
	tmp=$(mktemp -d "$KVMBOX_CACHE/stock.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$tmp"/boot/vmlinuz-* "$dir/"
	rm -rf "$tmp"
	images=("$dir"/vmlinuz-*)
fi
echo "${images[0]}"
[ -z "$print_deb" ] || echo "$deb"
