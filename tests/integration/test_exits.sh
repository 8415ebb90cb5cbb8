#!/usr/bin/env bash
# kvmbox's ways of ending: each documented exit status, from a guest that asks for it or a host
# signal, with the log lines that explain it, and --stats.
source "$(dirname "$0")/lib.sh"
need_kvm exits
GUEST=$ROOT/$O/guests/hello32.elf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT


run_guest exit-reset 30 --kernel "$GUEST" --cmdline then=reset -v
check_exit exit-reboot-status-4 4 'guest requested a reset'
run_guest exit-triple 30 --kernel "$GUEST" --cmdline then=triple
check_exit exit-triple-fault-status-6 6 'triple fault.*|CR0=0000000000000011'
grep -q 'RIP=' "$OUT" || fail exit-triple-fault-registers "no register dump"
if [ -d /sys/module/kvm_pvm ]; then
	# int $0x40 through a task gate: kvm_pvm cannot emulate it and kvmbox does not emulate task
	# switches: stop, never spin.
	run_guest exit-unemulated 30 --kernel "$GUEST" --cmdline then=taskgate
	check_exit exit-unemulated-status-8 8 'instruction bytes from KVM.*cd 40'
	grep -q 'RIP=' "$OUT" && pass exit-unemulated-registers || fail exit-unemulated-registers "no register dump"
else
	skip exit-unemulated-status-8 "a task gate is not an emulation failure on this backend"
fi

# Host signals stop every vCPU and end with 128+N.
for sig in TERM INT HUP; do
	"$KVMBOX" run --debug-exit --kernel "$GUEST" --cmdline then=hang --cpus 2 -v </dev/null >"$T/$sig.log" 2>&1 &
	pid=$!
	for i in $(seq 50); do grep -q 'then: hang' "$T/$sig.log" && break; sleep 0.1; done
	kill -s "$sig" "$pid"
	wait "$pid"
	RC=$? OUT=$T/$sig.log
	check_exit "exit-signal-$sig" $((128 + $(kill -l "$sig"))) "signal $(kill -l "$sig"): stopping the guest"
done

# Ctrl-A x on a non-terminal stdin quits too (status 0), and Ctrl-A a passes Ctrl-A through.
(sleep 1; printf '\001x') | timeout 20 "$KVMBOX" run --kernel "$GUEST" --cmdline then=hang -v >"$T/ctrla.log" 2>&1
RC=$? OUT=$T/ctrla.log
check_exit exit-ctrl-a-x 0 'Ctrl-A x: stopping the guest'

# --stats: exits per reason and device, and the time split.
run_guest stats 30 --kernel "$GUEST" --cmdline exit=0 --stats --debug-exit
check_exit stats-exits 1 'exits: io=[0-9]+'
check_exit stats-time 1 'in KVM_RUN [0-9.]+ s .* in kvmbox handlers [0-9.]+ s'
check_exit stats-devices 1 'debug-exit=1 com1=[1-9][0-9]*'

# Without --debug-exit the port is not there: a guest cannot choose kvmbox's exit status
# (the test guest then falls back to an ACPI poweroff).
run_guest no-debug-exit 30 --kernel "$GUEST" --cmdline exit=5 --stats
check_exit debug-exit-is-opt-in 0 'debug-exit did not stop the VM'
grep -q 'debug-exit=' "$OUT" && fail debug-exit-not-registered "the port is on the bus" || pass debug-exit-not-registered
