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

# host_is_pvm: /dev/kvm is the kvm_pvm software backend (kvmbox's auto CPU template is then pvm).
host_is_pvm() { grep -q '^kvm_pvm ' /proc/modules 2>/dev/null || [ -d /sys/module/kvm_pvm ]; }

# A guest kernel's report of a user process killed by a segfault, #GP or #UD.
GUEST_CRASH_RE='\] [^ ]+\[[0-9]+\]: segfault at |traps: [^ ]+\[[0-9]+\] '

# check_guest_procs NAME [LOG]: PASS NAME unless the guest kernel reported a user process killed by
# a fault (a test guest's processes never fault; one that did was a kvmbox or guest-kernel bug, e.g.
# vector registers shared between processes, docs/kvm-host-notes.md).
check_guest_procs() {
	local crash
	crash=$(tr -d '\r' <"${2:-$OUT}" | grep -aE "$GUEST_CRASH_RE" | head -n2)
	if [ -n "$crash" ]; then
		fail "$1" "guest processes died: $crash"
	else
		pass "$1"
	fi
}

# run_guest NAME SECONDS kvmbox-args...: output in $LOGDIR/NAME.log (also $OUT), status in RC.
run_guest() {
	local name=$1 secs=$2
	shift 2
	OUT=$LOGDIR/$name.log
	timeout -k 5 "$secs" "$KVMBOX" run "$@" </dev/null >"$OUT" 2>&1
	RC=$?
}

# Indented excerpt of a log for a FAIL line's context (indented so runners do not count its lines).
excerpt() { tail -n "${2:-15}" "$1" | sed 's/^/    | /'; }

# ---- Helpers for the virtio device tests (test_virtio_*.sh) ----

# The test guest's overlay: etc/kvmbox/NAME.sh scripts that /init runs for kvmbox.run=NAME.
GUEST_OVERLAY=$ROOT/tests/integration/guest

# prepare_linux_overlay: prepare_linux, then INITRD = the initramfs with $GUEST_OVERLAY copied over it.
prepare_linux_overlay() {
	prepare_linux
	GUEST_KERNEL=$KERNEL_DIR/vmlinux
	# With VMX/SVM, Debian's stock kernel and its own modules (KVMBOX_TEST_KERNEL=test keeps ours).
	if grep -qw -e vmx -e svm /proc/cpuinfo && [ "${KVMBOX_TEST_KERNEL:-stock}" = stock ]; then
		prepare_stock_linux_overlay
		GUEST_KERNEL=$KERNEL
		return 0
	fi
	INITRD=$LOGDIR/initramfs-overlay.cpio
	"$ROOT/scripts/mkinitramfs.sh" "$INITRD" "$GUEST_OVERLAY" >"$LOGDIR/initramfs-overlay.log" 2>&1 || {
		fail initramfs-overlay "scripts/mkinitramfs.sh with $GUEST_OVERLAY failed (see $LOGDIR/initramfs-overlay.log)"
		exit 1
	}
}

# prepare_vsock_initrd DIR NAME (after prepare_linux_overlay): builds tests/integration/vsock's
# programs into DIR (vsock_guest static, vsock_host), and VINITRD = $LOGDIR/initramfs-NAME.cpio: the
# guest overlay plus /bin/vsock_guest (and, for the stock kernel, its vsock modules). On failure
# VSOCK_ERR says why and it returns 1.
prepare_vsock_initrd() {
	local dir=$1 name=$2 prog mkargs=() flags
	VSOCK_ERR=
	for prog in vsock_guest vsock_host; do
		flags=(-O2 -Wall)
		[ $prog = vsock_guest ] && flags+=(-static)
		if ! gcc "${flags[@]}" -o "$dir/$prog" "$ROOT/tests/integration/vsock/$prog.c" >"$dir/$prog.log" 2>&1; then
			VSOCK_ERR="cannot build $prog: $(head -c 300 "$dir/$prog.log")"
			return 1
		fi
	done
	mkdir -p "$dir/overlay/bin"
	cp -a "$GUEST_OVERLAY/." "$dir/overlay/"
	cp "$dir/vsock_guest" "$dir/overlay/bin/"
	VINITRD=$LOGDIR/initramfs-$name.cpio
	if [ -n "${STOCK_DEB:-}" ]; then
		# The stock kernel keeps vsock in modules: add them to the usual list.
		export KVMBOX_MODULES="virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio_rng ext4 crc32c_generic libcrc32c vmw_vsock_virtio_transport"
		mkargs=(--modules "$STOCK_DEB")
	fi
	if ! "$ROOT/scripts/mkinitramfs.sh" "${mkargs[@]}" "$VINITRD" "$dir/overlay" >"$LOGDIR/initramfs-$name.log" 2>&1; then
		VSOCK_ERR="mkinitramfs.sh failed (see $LOGDIR/initramfs-$name.log)"
		return 1
	fi
}

# kvmbox_knows OPTION: false when kvmbox rejects OPTION as an unknown option (a feature not built yet).
kvmbox_knows() {
	local msg
	msg=$("$KVMBOX" run --kernel /nonexistent "$@" </dev/null 2>&1)
	case $msg in *"unknown option '$1'"*) return 1 ;; esac
	return 0
}

# need_option TESTNAME OPTION [VALUE]: SKIP the whole program when kvmbox does not know OPTION.
need_option() {
	local name=$1
	shift
	kvmbox_knows "$@" && return 0
	skip "$name" "kvmbox does not know the option $1 yet"
	exit 0
}

# gval KEY [LOG]: the value the guest printed as "@T KEY=VALUE" (last occurrence; CR stripped).
# Guest scripts print their results that way so a test never depends on a whole line's layout.
gval() {
	grep -a -o "@T $1=[^[:space:]]*" "${2:-$OUT}" | tail -n1 | cut -d= -f2- | tr -d '\r'
}

# check_exit NAME STATUS REGEX: PASS NAME if the last run (RC, OUT) ended with STATUS and its output
# (stdout+stderr) has a line matching the extended REGEX; else FAIL with the end of the output.
check_exit() {
	if [ "$RC" -ne "$2" ]; then
		fail "$1" "status $RC, expected $2"
		excerpt "$OUT" 8
	elif ! grep -qE "$3" "$OUT"; then
		fail "$1" "output lacks /$3/"
		excerpt "$OUT" 8
	else
		pass "$1"
	fi
}
# gsays REGEX [LOG]: the guest's output (CRs stripped) has a line matching the extended REGEX.
# (grep reads all of tr's output: a pipe into grep -q could end tr with SIGPIPE, failing pipefail.)
gsays() { grep -aqE "$1" <(tr -d '\r' <"${2:-$OUT}"); }

# wait_log SECONDS REGEX LOG: until gsays REGEX LOG (false after SECONDS).
wait_log() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		gsays "$2" "$3" && return 0
		sleep 0.1
	done
	return 1
}

# check_poweroff NAME: FAIL NAME (and return 1) unless kvmbox exited 0 after the guest's poweroff.
check_poweroff() {
	if [ "$RC" -ne 0 ]; then
		fail "$1" "kvmbox exited with status $RC (expected 0 after poweroff)"
		excerpt "$OUT" 25
		return 1
	fi
	if ! grep -q 'reboot: Power down' "$OUT"; then
		fail "$1" "no 'reboot: Power down' from the guest before exit"
		excerpt "$OUT" 25
		return 1
	fi
	return 0
}

# expect_eq NAME WHAT GOT WANT: PASS NAME if GOT = WANT (and non-empty), else FAIL naming WHAT.
expect_eq() {
	if [ -n "$4" ] && [ "$3" = "$4" ]; then
		pass "$1"
	else
		fail "$1" "$2: got '${3}', expected '${4}'"
		return 1
	fi
}

# sha_of FILE: the hex SHA-256 of FILE.
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }

# expect_bad NAME REGEX kvmbox-args...: kvmbox refuses the arguments before starting anything:
# status 2, stderr matches the extended REGEX, nothing on stdout.
expect_bad() {
	local name=$1 re=$2 rc
	shift 2
	"$KVMBOX" run "$@" </dev/null >"$LOGDIR/$name.out" 2>"$LOGDIR/$name.err"
	rc=$?
	if [ "$rc" -ne 2 ]; then
		fail "$name" "exit status $rc, expected 2; stderr: $(head -c 300 "$LOGDIR/$name.err")"
	elif ! grep -qE "$re" "$LOGDIR/$name.err"; then
		fail "$name" "stderr lacks /$re/: $(head -c 300 "$LOGDIR/$name.err")"
	elif [ -s "$LOGDIR/$name.out" ]; then
		fail "$name" "something ran: stdout is not empty"
	else
		pass "$name"
	fi
}

# prepare_stock_linux_overlay: for a VMX/SVM host (grep -qw -e vmx -e svm /proc/cpuinfo), Debian's
# stock cloud kernel: KERNEL = its vmlinuz, INITRD = the overlay initramfs plus that kernel's virtio
# and ext4 modules (mkinitramfs.sh --modules; /init loads them), STOCK_DEB = the kernel's .deb.
prepare_stock_linux_overlay() {
	local paths
	paths=$("$ROOT/scripts/fetch-stock-kernel.sh" --deb 2>"$LOGDIR/stock-fetch.log") || {
		fail stock-kernel-fetch "scripts/fetch-stock-kernel.sh --deb failed (see $LOGDIR/stock-fetch.log)"
		exit 1
	}
	KERNEL=$(sed -n 1p <<<"$paths")
	STOCK_DEB=$(sed -n 2p <<<"$paths")
	INITRD=$LOGDIR/initramfs-stock-overlay.cpio
	"$ROOT/scripts/mkinitramfs.sh" --modules "$STOCK_DEB" "$INITRD" "$GUEST_OVERLAY" \
		>"$LOGDIR/initramfs-stock-overlay.log" 2>&1 || {
		fail initramfs-stock-overlay "scripts/mkinitramfs.sh --modules failed (see $LOGDIR/initramfs-stock-overlay.log)"
		exit 1
	}
}
