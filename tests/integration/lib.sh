# Shared helpers for the Linux integration tests (source it).
# Builds or reuses the cached test kernel and initramfs, and runs kvmbox with a time limit.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${O:-build}
KVMBOX=${KVMBOX:-$ROOT/$O/kvmbox}
LOGDIR=${LOGDIR:-$ROOT/$O/test-logs/linux}
mkdir -p "$LOGDIR"

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

need_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && return 0
	skip "$1" "no usable /dev/kvm"
	exit 0
}

# Sets KERNEL_DIR (vmlinux, bzImage) and INITRD (uncompressed cpio); builds them once per machine.
prepare_linux() {
	KERNEL_DIR=$("$ROOT/scripts/build-test-kernel.sh" 2>"$LOGDIR/kernel-build.log" | tail -n1) || {
		fail kernel-build "scripts/build-test-kernel.sh failed (see $LOGDIR/kernel-build.log)"
		tail -n 20 "$LOGDIR/kernel-build.log" | sed 's/^/    /'
		exit 1
	}
	INITRD=$LOGDIR/initramfs.cpio
	"$ROOT/scripts/mkinitramfs.sh" "$INITRD" >"$LOGDIR/initramfs.log" 2>&1 || {
		fail initramfs "scripts/mkinitramfs.sh failed (see $LOGDIR/initramfs.log)"
		exit 1
	}
}

# run_guest NAME SECONDS kvmbox-args...: output in $LOGDIR/NAME.log, status in RC.
run_guest() {
	local name=$1 secs=$2
	shift 2
	timeout -k 5 "$secs" "$KVMBOX" run "$@" </dev/null >"$LOGDIR/$name.log" 2>&1
	RC=$?
	OUT=$LOGDIR/$name.log
}

# Indented excerpt of a log for a FAIL line's context (indented so runners do not count its lines).
excerpt() { tail -n "${2:-15}" "$1" | sed 's/^/    | /'; }
