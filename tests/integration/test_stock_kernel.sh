#!/usr/bin/env bash
# Debian's own cloud kernel (bzImage, from the package archive) under kvmbox.
# On a VMX/SVM host it must boot to the initramfs marker like the test kernel. On kvm_pvm, where no
# stock kernel can run user space (SYSCALL is mis-delivered), it must at least get past the
# boot-time int3 self-test — where QEMU dies — through kvmbox's userspace int3 emulation; the test
# records the last console line it reached.
source "$(dirname "$0")/lib.sh"
need_kvm stock-kernel
prepare_linux
VMLINUZ=$("$ROOT/scripts/fetch-stock-kernel.sh" 2>"$LOGDIR/stock-fetch.log" | tail -n1)
if [ ! -f "$VMLINUZ" ]; then
	fail stock-kernel-fetch "scripts/fetch-stock-kernel.sh failed"
	excerpt "$LOGDIR/stock-fetch.log"
	exit 1
fi
pass stock-kernel-fetch

if [ -d /sys/module/kvm_pvm ]; then
	# Decompression alone takes about a minute here; the guest then stops at its first system call.
	run_guest stock "${STOCK_TIMEOUT:-420}" --kernel "$VMLINUZ" --initrd "$INITRD" --stats \
		--cmdline "console=ttyS0 panic=-1" --cpus 1 --memory 1G
	tr -d '\r' <"$OUT" >"$OUT.txt"
	echo "# kvmbox exit status $RC; last guest line: $(grep '^\[' "$OUT.txt" | tail -n1)"
	int3=$(grep -o 'int3=[0-9]*' "$OUT.txt" | head -n1 | cut -d= -f2)
	if grep -q 'Linux version 6\.1' "$OUT.txt"; then pass stock-kernel-starts; else fail stock-kernel-starts "no 'Linux version 6.1' banner"; excerpt "$OUT"; fi
	# int3_selftest() runs in alternative_instructions(); "Freeing SMP alternatives memory"
	# follows it, and a failed self-test would have stopped the kernel before.
	if [ "${int3:-0}" -ge 1 ] && grep -q 'Freeing SMP alternatives memory' "$OUT.txt"; then
		pass "stock-kernel-int3-selftest (int3 emulated $int3 times)"
	else
		fail stock-kernel-int3-selftest "int3 count '${int3:-none}', or no 'Freeing SMP alternatives memory'"
		excerpt "$OUT" 30
	fi
	if [ "$RC" -ne 0 ] && [ "$RC" -lt 124 ]; then
		pass "stock-kernel-stops-cleanly (status $RC: no hang, no crash)"
	elif [ "$RC" -eq 0 ]; then
		pass "stock-kernel-stops-cleanly (powered off)"
	else
		fail stock-kernel-stops-cleanly "status $RC (timeout or signal)"
	fi
else
	run_guest stock 300 --kernel "$VMLINUZ" --initrd "$INITRD" --cmdline "console=ttyS0 panic=-1" \
		--cpus 2 --memory 1G
	if [ "$RC" -eq 0 ] && grep -q '^KVMBOX-INIT-OK' "$OUT" && grep -q '^nproc=2' "$OUT"; then
		pass stock-kernel-boots
	else
		fail stock-kernel-boots "status $RC"
		excerpt "$OUT"
	fi
fi
