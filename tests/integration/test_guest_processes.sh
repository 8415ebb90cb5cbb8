#!/usr/bin/env bash
# Guest user processes with the Linux test kernel, 2 vCPUs, in one boot:
#  xstate:    a freestanding probe (tests/integration/xstate/xstate_probe.c) reads the OSXSAVE bit
#             and XCR0 that guest user code sees. With AVX off in XCR0, an AVX instruction must end
#             its process with SIGILL; with AVX on, YMM registers must survive context switches
#             against another process on the same vCPU. Except on kvm_pvm, where guest user code
#             runs with the host's XCR0 while the noxsave guest kernel saves only x87/SSE state:
#             there the loss is printed (a known hole, docs/kvm-host-notes.md) and what is checked
#             is kvmbox's mitigation, glibc kept off AVX through GLIBC_TUNABLES in init's
#             environment (the pvm template puts it on the kernel command line).
#  pipelines: KVMBOX_PIPELINES (default 20) three-stage busybox pipelines in command
#             substitutions, each stage a new process: every one prints the right bytes, and no
#             guest process dies of a segfault, #GP or #UD anywhere in the boot (without the
#             mitigation, new busybox processes copied their TLS image as zeros and died).
source "$(dirname "$0")/lib.sh"
need_kvm guest-processes
BOOT_TIMEOUT=${BOOT_TIMEOUT:-480}
N=${KVMBOX_PIPELINES:-20}
T=$(mktemp -d /tmp/kvmbox-procs.XXXXXX)
trap 'rm -rf "$T"' EXIT

if ! gcc -O2 -Wall -static -nostdlib -fno-stack-protector -o "$T/xstate_probe" \
	"$ROOT/tests/integration/xstate/xstate_probe.c" >"$T/probe.log" 2>&1; then
	fail guest-processes-setup "cannot build xstate_probe: $(head -c 300 "$T/probe.log")"
	exit 1
fi
prepare_linux_overlay
mkdir -p "$T/overlay/bin"
cp -a "$GUEST_OVERLAY/." "$T/overlay/"
cp "$T/xstate_probe" "$T/overlay/bin/"
PINITRD=$LOGDIR/initramfs-procs.cpio
mkargs=()
[ -n "${STOCK_DEB:-}" ] && mkargs=(--modules "$STOCK_DEB")
if ! "$ROOT/scripts/mkinitramfs.sh" "${mkargs[@]}" "$PINITRD" "$T/overlay" >"$LOGDIR/initramfs-procs.log" 2>&1; then
	fail guest-processes-setup "mkinitramfs.sh failed (see $LOGDIR/initramfs-procs.log)"
	exit 1
fi

t0=$SECONDS
run_guest procs "$BOOT_TIMEOUT" --kernel "$GUEST_KERNEL" --initrd "$PINITRD" --memory 512M --cpus 2 \
	--cmdline "console=ttyS0 panic=-1 kvmbox.run=procs kvmbox.n=$N"
echo "# procs: boot+poweroff $((SECONDS - t0)) s"
check_poweroff guest-processes-boot && pass guest-processes-boot

# xstate: isolation of the extended state that user code can use.
if [ "$(gval xstate.done)" != 1 ]; then
	fail guest-xstate "the probe did not finish"
	excerpt "$OUT"
else
	xcr0=$(gval xstate.xcr0)
	echo "# guest user mode: OSXSAVE=$(gval xstate.osxsave) XCR0=$(printf '%#x' "$xcr0")"
	lost=$(gval xstate.ymm_lost)
	if [ $((xcr0 & 4)) -eq 0 ]; then
		# SIGILL is 4: with AVX off in XCR0, an AVX instruction is #UD, as on a CPU without AVX.
		expect_eq guest-xstate "signal that ended the child running an AVX instruction with XCR0=$xcr0" \
			"$(gval xstate.child_signal)" 4
	elif host_is_pvm; then
		echo "# kvm_pvm: guest user code has the host's XCR0; YMM upper halves lost across context switches: $lost of 2000 (known, docs/kvm-host-notes.md)"
		expect_eq guest-xstate-glibc-off-avx "GLIBC_TUNABLES in the guest's processes" \
			"$(gval procs.tunables)" \
			"glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-AVX_Fast_Unaligned_Load,-FMA,-F16C"
	else
		expect_eq guest-xstate "YMM upper halves lost across context switches (of 2000)" "$lost" 0
	fi
fi

expect_eq guest-pipelines "pipelines that printed the right bytes (of $N)" "$(gval procs.pipelines_ok)" "$N"
check_guest_procs guest-processes-no-crash
