#!/usr/bin/env bash
# Build kvmbox, the test kernel and the busybox initramfs, then boot it to an interactive shell.
# Usage: scripts/demo.sh [extra kvmbox run options]   (exit the shell, or `poweroff -f`, to stop)
set -euo pipefail
. "$(dirname "$0")/cache.sh"
cd "$KVMBOX_ROOT"

# Before minutes of building: without a usable /dev/kvm no guest can boot (see
# docs/kvm-host-notes.md, "Detection", for a host whose kvm_pvm refuses to bind).
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "demo.sh: error: /dev/kvm is missing or not usable: KVM is not available on this host" >&2
	exit 2
fi

scripts/deps.sh

make -j"$(nproc)" >&2
kdir=$(scripts/build-test-kernel.sh | tail -n1)
kernel=$kdir/vmlinux
initrd=$(scripts/mkinitramfs.sh "$KVMBOX_CACHE/demo-initramfs.cpio")

# Only kvm_pvm (no VMX/SVM) needs the patched kernel; on real hardware virtualisation an
# unmodified Debian kernel boots too. KVMBOX_STOCK=1 asks for that.
if [ "${KVMBOX_STOCK:-0}" = 1 ] && grep -qw -e vmx -e svm /proc/cpuinfo; then
	kernel=$(scripts/fetch-stock-kernel.sh)
fi

exec build/kvmbox run --kernel "$kernel" --initrd "$initrd" \
	--cmdline 'console=ttyS0 kvmbox.shell=1' --cpus 2 --memory 512M "$@"
