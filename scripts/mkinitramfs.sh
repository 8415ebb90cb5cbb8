#!/usr/bin/env bash
# Build the test guest's initramfs: an UNCOMPRESSED newc cpio (decompressing it in the guest costs
# 10-20 s on kvm_pvm) holding static busybox and an /init that prints markers for the tests.
# Usage: mkinitramfs.sh OUT.cpio [OVERLAY_DIR...]   (overlay dirs are copied over the root,
#        e.g. one holding etc/kvmbox/NAME.sh for kvmbox.run=NAME)
set -euo pipefail
. "$(dirname "$0")/cache.sh"

[ $# -ge 1 ] || die "usage: $0 OUT.cpio [OVERLAY_DIR...]"
out=$(readlink -f "$1")
shift
busybox=$("$KVMBOX_ROOT/scripts/fetch-busybox.sh")
apt_need cpio

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc/kvmbox}
cp "$busybox" "$root/bin/busybox"
# --list-full gives each applet with its usual directory (bin/ls, sbin/poweroff, ...).
for applet in $("$busybox" --list-full); do
	[ "$applet" = bin/busybox ] || ln -s /bin/busybox "$root/$applet"
done

cat >"$root/init" <<'INIT'
#!/bin/sh
# kvmbox test guest init: mount, print the markers the tests look for, then shell / hook / poweroff.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo KVMBOX-INIT-OK
echo "nproc=$(nproc)"
echo "date=$(date +%s)"
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	kvmbox.shell=1)
		cd /root
		# setsid + cttyhack: the console becomes the shell's controlling tty (job control, ^C).
		PS1='\w # ' setsid cttyhack sh -l ;;
	kvmbox.run=*)
		# A hook name is a plain word: no paths, nothing the command line could smuggle in.
		name=${arg#kvmbox.run=}
		case $name in *[!A-Za-z0-9_-]*|'') echo "kvmbox.run: bad name '$name'" ;;
		*) [ -f "/etc/kvmbox/$name.sh" ] && sh "/etc/kvmbox/$name.sh" || echo "kvmbox.run=$name: failed or missing" ;;
		esac ;;
	esac
done
poweroff -f
INIT
chmod 755 "$root/init"
# A passwd entry gives root a home, which ash's \w shows as ~: the prompt reads "~ # ".
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod 1777 "$root/tmp"
for overlay in "$@"; do cp -a "$overlay/." "$root/"; done

# Fixed owners and mtimes, sorted names: the same inputs give the same bytes.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible >"$out.tmp")
mv "$out.tmp" "$out"
echo "$out"
