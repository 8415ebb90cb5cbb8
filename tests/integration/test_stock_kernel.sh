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
	# Decompression alone takes about a minute here. Past the int3 self-test the stock kernel runs
	# its initcalls through KVM's instruction emulator at about a million instructions a second (a
	# kernel this size needs many minutes to reach user space, where SYSCALL would stop it): once
	# the self-test is behind it, the test stops kvmbox with SIGTERM, as a user would, and expects a
	# prompt, orderly exit (status 128+15) with kvmbox's statistics printed.
	OUT=$LOGDIR/stock.log
	"$KVMBOX" run --kernel "$VMLINUZ" --initrd "$INITRD" --stats \
		--cmdline "console=ttyS0 panic=-1" --cpus 1 --memory 1G </dev/null >"$OUT" 2>&1 &
	KPID=$!
	end=$((SECONDS + ${STOCK_TIMEOUT:-420}))
	while [ $SECONDS -lt $end ] && kill -0 "$KPID" 2>/dev/null &&
		! grep -aq 'Freeing SMP alternatives memory' "$OUT"; do
		sleep 1
	done
	if kill -0 "$KPID" 2>/dev/null; then
		kill -TERM "$KPID"
		t0=$SECONDS
		for _ in $(seq 1 100); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
		stop_s=$((SECONDS - t0))
		kill -0 "$KPID" 2>/dev/null && { kill -9 "$KPID"; stop_s=timeout; }
	fi
	wait "$KPID"
	RC=$?
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
	# (not anchored: SIGTERM may land in the middle of a guest line, which the statistics then end)
	if [ "$RC" -eq 143 ] && [ "${stop_s:-}" != timeout ] && grep -q 'kvmbox stats: ' "$OUT.txt"; then
		pass "stock-kernel-stops-cleanly (SIGTERM: status 143 after ${stop_s} s, statistics printed)"
	elif [ "$RC" -ne 0 ] && [ "$RC" -lt 124 ]; then
		pass "stock-kernel-stops-cleanly (the guest stopped itself: status $RC, no hang, no crash)"
	else
		fail stock-kernel-stops-cleanly "status $RC, SIGTERM answered in ${stop_s:-?} s"
		excerpt "$OUT" 10
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
