#!/usr/bin/env bash
# Build the kvmbox test guest kernel: Debian's linux-source-6.1 + scripts/kernel/kvmbox.config
# (on top of tinyconfig) + scripts/kernel/kvmbox-guest.patch. Built once per machine and input hash.
# Usage: build-test-kernel.sh [EXTRA.patch...]   (extra patches, e.g. for a QEMU-only variant,
#        are applied after the guest patch and are part of the hash)
# Prints the vmlinux path, the bzImage path, and last the output directory.
set -euo pipefail
. "$(dirname "$0")/cache.sh"

# Bump when the build steps below change in a way that changes the output.
RECIPE=1
CONFIG=$KVMBOX_ROOT/scripts/kernel/kvmbox.config
PATCHES=("$KVMBOX_ROOT/scripts/kernel/kvmbox-guest.patch")
for p in "$@"; do PATCHES+=("$(readlink -f "$p")"); done

apt_need linux-source-6.1 bc flex bison libelf-dev libssl-dev make gcc xz-utils patch
TARBALL=/usr/src/linux-source-6.1.tar.xz
[ -r "$TARBALL" ] || die "$TARBALL missing although linux-source-6.1 is installed"

# The source package version stands for the tarball: a Debian update is a new kernel.
SRC_VERSION=$(dpkg-query -W -f='${Version}' linux-source-6.1)
HASH=$({ echo "recipe=$RECIPE source=$SRC_VERSION"; cat "$CONFIG" "${PATCHES[@]}"; } |
	sha256sum | cut -c1-16)
OUT=$KVMBOX_CACHE/kernel-$HASH

print_outputs() { printf '%s\n' "$OUT/vmlinux" "$OUT/bzImage" "$OUT"; }

# Another build (CI and a developer, two checkouts) may be running: wait for it, then reuse.
exec 9>"$KVMBOX_CACHE/kernel.lock"
flock 9
if [ -f "$OUT/vmlinux" ] && [ -f "$OUT/bzImage" ]; then
	print_outputs
	exit 0
fi

BUILD=$KVMBOX_CACHE/kernel-$HASH.build
rm -rf "$BUILD"
mkdir -p "$BUILD"
LOG=$BUILD/build.log
log "building kernel $HASH (linux-source-6.1 $SRC_VERSION); log: $LOG"
start=$SECONDS
tar -xf "$TARBALL" -C "$BUILD" --strip-components=1
cd "$BUILD"
for p in "${PATCHES[@]}"; do
	patch -p1 --forward --batch <"$p" >>"$LOG" || die "patch $p does not apply"
done

# Reproducible-ish banner, and no prompts in CI.
export KBUILD_BUILD_USER=kvmbox KBUILD_BUILD_HOST=kvmbox
export KBUILD_BUILD_TIMESTAMP="linux-source-6.1 $SRC_VERSION"
make tinyconfig >>"$LOG" 2>&1
# -n: allnoconfig over tinyconfig + fragment, so options that the fragment makes visible default
# to off instead of to their (often y) defaults: the kernel contains what the fragment says.
scripts/kconfig/merge_config.sh -n .config "$CONFIG" >>"$LOG" 2>&1

# merge_config only warns when a symbol is dropped (unmet dependency): make it an error here.
bad=0
while read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" .config || { log "error: $line requested, .config has: $(grep -E "(^|# )${line%%=*}[= ]" .config || echo nothing)"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }
		sym=${sym%% *}
		! grep -q "^$sym=" .config || { log "error: $sym requested off, .config has: $(grep "^$sym=" .config)"; bad=1; } ;;
	esac
done <"$CONFIG"
[ $bad -eq 0 ] || die "the kernel config lost requested symbols (missing dependencies?)"

if ! make -j"$(nproc)" bzImage >>"$LOG" 2>&1; then
	tail -n 40 "$LOG" >&2
	die "kernel build failed; full log: $LOG"
fi
# kvmbox boots the ELF vmlinux through its PVH entry: make sure the note is there.
readelf -n vmlinux | grep -q 'Xen.*0x00000012' || die "vmlinux has no PVH (XEN_ELFNOTE_PHYS32_ENTRY) note"

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
cp vmlinux arch/x86/boot/bzImage System.map .config "$OUT.tmp/"
cd "$KVMBOX_CACHE"
rm -rf "$OUT" "$BUILD"
mv "$OUT.tmp" "$OUT"
log "built in $((SECONDS - start)) s"
print_outputs
