#!/usr/bin/env bash
# Build the test guest's initramfs: an UNCOMPRESSED newc cpio (decompressing it in the guest costs
# 10-20 s on kvm_pvm) holding static busybox and an /init that prints markers for the tests.
# Usage: mkinitramfs.sh [--modules KERNEL.deb] OUT.cpio [OVERLAY_DIR...]   (overlay dirs are copied
#        over the root, e.g. one holding etc/kvmbox/NAME.sh for kvmbox.run=NAME)
# --modules DEB (or KVMBOX_MODULES_DEB=DEB): for a modular kernel (Debian's stock cloud kernel, see
#   fetch-stock-kernel.sh --deb), copy from DEB the modules named by KVMBOX_MODULES (default: the
#   virtio drivers and ext4) plus everything they depend on, decompressed (busybox insmod loads
#   plain .ko only), into /lib/modules/VERSION/ with a depmod of that subset; /init insmods them in
#   dependency order (the list is /etc/kvmbox/modules.load). Modules the kernel has built in are skipped.
set -euo pipefail
. "$(dirname "$0")/cache.sh"

modules_deb=${KVMBOX_MODULES_DEB:-}
if [ "${1:-}" = --modules ]; then
	[ $# -ge 2 ] || die "--modules needs a kernel .deb"
	modules_deb=$2
	shift 2
fi
[ $# -ge 1 ] || die "usage: $0 [--modules KERNEL.deb] OUT.cpio [OVERLAY_DIR...]"
out=$(readlink -f "$1")
shift
busybox=$("$KVMBOX_ROOT/scripts/fetch-busybox.sh")
apt_need cpio
[ -z "$modules_deb" ] || { [ -f "$modules_deb" ] || die "no such .deb: $modules_deb"; apt_need kmod xz-utils zstd; }

root=$(mktemp -d)
trap 'rm -rf "$root" "$root.kmod"' EXIT
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
# A modular kernel's drivers (mkinitramfs.sh --modules), in dependency order.
if [ -f /etc/kvmbox/modules.load ]; then
	while read -r ko; do insmod "$ko" || echo "kvmbox: insmod $ko failed"; done </etc/kvmbox/modules.load
fi
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
	kvmbox.init=*)
		# busybox init as PID 1 (SendCtrlAltDel reaches init's ctrlaltdel action): the hook
		# /etc/kvmbox/NAME.sh writes /etc/inittab, then init takes over this process.
		name=${arg#kvmbox.init=}
		case $name in *[!A-Za-z0-9_-]*|'') echo "kvmbox.init: bad name '$name'" ;;
		*) sh "/etc/kvmbox/$name.sh" && exec /sbin/init ;;
		esac ;;
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

# add_modules DEB: the modules the tests need, from a kernel package (see --modules above).
add_modules() {
	local deb=$1 tree ver dir m name ko line f
	tree=$root.kmod
	mkdir -p "$tree"
	# lib/modules/ or, in a merged-/usr package, usr/lib/modules/.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree" --wildcards '*lib/modules/*' ||
		die "$deb has no lib/modules"
	if [ -d "$tree/usr/lib/modules" ]; then mkdir -p "$tree/lib" && mv "$tree/usr/lib/modules" "$tree/lib/"; fi
	ver=$(ls "$tree/lib/modules")
	{ [ -n "$ver" ] && [ "$(echo "$ver" | wc -l)" -eq 1 ]; } || die "$deb: expected one lib/modules/VERSION, got: $ver"
	dir=$tree/lib/modules/$ver
	# Debian ships no modules.dep (its postinst runs depmod): make one.
	[ -s "$dir/modules.dep" ] || depmod -b "$tree" "$ver" || die "depmod failed for $deb"
	# name -> path (relative to $dir) and path -> its dependencies, from modules.dep.
	local -A path_of=() deps_of=() done_=()
	local order=()
	while IFS= read -r line; do
		ko=${line%%:*}
		name=$(basename "$ko"); name=${name%%.ko*}; name=${name//-/_}
		path_of[$name]=$ko
		deps_of[$ko]=${line#*:}
	done <"$dir/modules.dep"
	# load KO: its dependencies first (modules.dep lists the deepest last), then KO.
	load() {
		local ko=$1 ds i
		[ -n "${done_[$ko]:-}" ] && return 0
		done_[$ko]=1
		read -ra ds <<<"${deps_of[$ko]}"
		for ((i = ${#ds[@]} - 1; i >= 0; i--)); do load "${ds[i]}"; done
		order+=("$ko")
	}
	for m in ${KVMBOX_MODULES:-virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio_rng ext4 crc32c_generic libcrc32c}; do
		name=${m//-/_}
		if [ -n "${path_of[$name]:-}" ]; then
			load "${path_of[$name]}"
		elif sed 's,.*/,,; s,\.ko.*,,; s,-,_,g' "$dir/modules.builtin" | grep -qx "$name"; then
			log "$name: built into the kernel"
		else
			die "$deb: no module $m (neither in modules.dep nor modules.builtin)"
		fi
	done
	# Copy them decompressed, with the files depmod and modprobe read; depmod the subset.
	local mdir=$root/lib/modules/$ver
	mkdir -p "$mdir"
	: >"$root/etc/kvmbox/modules.load"
	for ko in "${order[@]}"; do
		mkdir -p "$mdir/$(dirname "$ko")"
		case $ko in
		*.ko.xz) f=${ko%.xz}; xz -dc "$dir/$ko" >"$mdir/$f" ;;
		*.ko.zst) f=${ko%.zst}; zstd -qdc "$dir/$ko" >"$mdir/$f" ;;
		*.ko.gz) f=${ko%.gz}; gzip -dc "$dir/$ko" >"$mdir/$f" ;;
		*.ko) f=$ko; cp "$dir/$ko" "$mdir/$f" ;;
		*) die "unexpected module file $ko" ;;
		esac
		echo "/lib/modules/$ver/$f" >>"$root/etc/kvmbox/modules.load"
	done
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		[ -f "$dir/$f" ] && cp "$dir/$f" "$mdir/"
	done
	# modules.order names the shipped (compressed) files: name the decompressed ones.
	[ -f "$mdir/modules.order" ] && sed -i 's/\.ko\.\(xz\|zst\|gz\)$/.ko/' "$mdir/modules.order"
	depmod -b "$root" "$ver" || die "depmod of the initramfs modules failed"
	log "modules for $ver: ${#order[@]} loaded in this order: $(sed 's,.*/,,' "$root/etc/kvmbox/modules.load" | tr '\n' ' ')"
	rm -rf "$tree"
}
[ -z "$modules_deb" ] || add_modules "$modules_deb"

# Fixed owners and mtimes, sorted names: the same inputs give the same bytes.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible >"$out.tmp")
mv "$out.tmp" "$out"
echo "$out"
