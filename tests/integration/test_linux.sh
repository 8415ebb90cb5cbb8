#!/usr/bin/env bash
# Boots the project's Linux test kernel (ELF vmlinux via PVH, and bzImage) with 1, 2 and 4 vCPUs and
# checks what the guest's /init printed: the marker, nproc, and the date against the host's clock.
source "$(dirname "$0")/lib.sh"
need_kvm linux
prepare_linux
BOOT_TIMEOUT=${BOOT_TIMEOUT:-420}
CMDLINE="console=ttyS0 panic=-1"

check_boot() { # name cpus
	local name=$1 cpus=$2 gdate now
	if [ "$RC" -ne 0 ]; then
		fail "$name" "kvmbox exited with status $RC (expected 0 after poweroff)"
		excerpt "$OUT"
		return
	fi
	if ! grep -q '^KVMBOX-INIT-OK' "$OUT"; then
		fail "$name" "the guest's /init marker never appeared"
		excerpt "$OUT"
		return
	fi
	if ! grep -q "^nproc=$cpus\b" "$OUT"; then
		fail "$name" "expected nproc=$cpus, guest said: $(grep -m1 '^nproc=' "$OUT" | tr -d '\r')"
		return
	fi
	gdate=$(grep -m1 '^date=' "$OUT" | tr -dc '0-9')
	now=$(date +%s)
	# The guest printed its date up to BOOT_TIMEOUT seconds ago; allow that plus one minute.
	if [ -z "$gdate" ] || [ $((now - gdate)) -gt $((BOOT_TIMEOUT + 60)) ] || [ $((gdate - now)) -gt 60 ]; then
		fail "$name" "guest date '${gdate}' is not the host's ($now)"
		return
	fi
	if ! grep -q 'reboot: Power down' "$OUT"; then
		fail "$name" "no 'reboot: Power down' from the guest before exit"
		return
	fi
	pass "$name"
}

# LINUX_BOOTS picks the boots (tests/run.sh runs one under the sanitizer build, where the guest's
# time dominates and each boot costs minutes). By default 4 vCPUs from the ELF vmlinux and 2 from the
# bzImage; the virtio, lifecycle and vsock tests boot the vmlinux with 1 vCPU.
for boot in ${LINUX_BOOTS:-pvh-4 bzimage-2}; do
	cpus=${boot#*-}
	case $boot in
	pvh-*) image=$KERNEL_DIR/vmlinux name=linux-pvh-vmlinux-${cpus}cpu ;;
	bzimage-*) image=$KERNEL_DIR/bzImage name=linux-bzimage-${cpus}cpu ;;
	*) fail linux-boots "unknown boot '$boot' in LINUX_BOOTS"; continue ;;
	esac
	t0=$SECONDS
	run_guest "$boot" "$BOOT_TIMEOUT" --kernel "$image" --initrd "$INITRD" \
		--cmdline "$CMDLINE" --cpus "$cpus" --memory 512M
	check_boot "$name" "$cpus"
	check_guest_procs "$name-processes"
	echo "# $boot: boot+poweroff $((SECONDS - t0)) s"
done

# The host profile put its options on the command line, and the guest saw them.
if grep -q 'Command line:.*noxsave clearcpuid=popcnt,smap' "$LOGDIR/$boot.log"; then
	pass linux-host-profile-cmdline
elif ! grep -q kvm_pvm /proc/modules 2>/dev/null && [ ! -d /sys/module/kvm_pvm ]; then
	skip linux-host-profile-cmdline "not a kvm_pvm host"
else
	fail linux-host-profile-cmdline "guest command line lacks the pvm profile options"
fi

# With VMX/SVM the same checks run on Debian's stock kernel (its bzImage; it has no ELF vmlinux).
if grep -qw -e vmx -e svm /proc/cpuinfo; then
	STOCK=$("$ROOT/scripts/fetch-stock-kernel.sh" 2>"$LOGDIR/stock-fetch.log" | tail -n1)
	for cpus in 1 2 4; do
		run_guest "stock-$cpus" "$BOOT_TIMEOUT" --kernel "$STOCK" --initrd "$INITRD" \
			--cmdline "$CMDLINE" --cpus "$cpus" --memory 1G
		check_boot "linux-stock-bzimage-${cpus}cpu" "$cpus"
	done
fi
