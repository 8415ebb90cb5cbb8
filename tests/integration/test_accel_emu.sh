#!/usr/bin/env bash
# --accel emu: kvmbox with no KVM at all, every guest instruction in its x86 emulator. Needs no
# /dev/kvm, so it runs on every host CI has. Through the kvmbox binary: the bare-metal guests of
# test_guests.sh (cases named emu-CASE; smp brings up 1, 2 and 4 emulated CPUs), the APICs, the ways of ending (reset, triple fault with its register dump,
# an instruction the emulator lacks, a signal while the guest is halted), --stats, the vCPU lifecycle
# over the API (a pause stops the guest, registers, resume, NMIs; snapshot and gdb refused by name), and
# what --accel emu refuses before starting anything.
source "$(dirname "$0")/lib.sh"
GUESTS=$ROOT/$O/guests
HELLO=$GUESTS/hello32.elf
T=$(mktemp -d /tmp/kvmbox-emu.XXXXXX)
KPID=
cleanup() {
	[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ACCEL=emu "$ROOT/tests/integration/test_guests.sh"


run_guest emu-exit-reset 30 --accel emu --kernel "$HELLO" --cmdline then=reset -v
check_exit emu-exit-reboot-status-4 4 'guest requested a reset'
run_guest emu-exit-triple 30 --accel emu --kernel "$HELLO" --cmdline then=triple
check_exit emu-exit-triple-fault-status-6 6 'emulator: triple fault'
grep -q 'RIP=' "$OUT" && pass emu-exit-triple-fault-registers ||
	fail emu-exit-triple-fault-registers "no register dump"
# int $0x40 through a task gate: task switches are not emulated; stop with the registers, never spin.
run_guest emu-exit-unemulated 30 --accel emu --kernel "$HELLO" --cmdline then=taskgate
check_exit emu-exit-unemulated-status-8 8 'emulator: cannot execute int .*\[ cd 40 \]'

# A halted guest (cli; hlt: nothing can wake it) still stops at once on a signal.
"$KVMBOX" run --accel emu --kernel "$HELLO" --cmdline then=hang -v </dev/null >"$T/term.log" 2>&1 &
KPID=$!
for i in $(seq 100); do grep -q 'then: hang' "$T/term.log" && break; sleep 0.1; done
sleep 0.2
kill -TERM "$KPID"
wait "$KPID"
RC=$? OUT=$T/term.log KPID=
check_exit emu-exit-signal-halted 143 'signal 15: stopping the guest'

# --stats counts instructions and delivered exceptions instead of exits; the guest sees the CPU the
# emulator implements (CMPXCHG16B and POPCNT in CPUID).
run_guest emu-stats 30 --accel emu --debug-exit --stats --kernel "$GUESTS/int3.elf"
check_exit emu-stats "$(((0x23 << 1) | 1))" 'emulated: [1-9][0-9]* instructions \([0-9.]+ M/s\), [1-9][0-9]* exceptions'
check_exit emu-cpuid "$(((0x23 << 1) | 1))" 'cpuid.1:ecx cx16=1 popcnt=1'

# The lifecycle over the API, shared with KVM vCPUs: spin prints a tick every 2^22 TSC cycles.
SOCK=$T/api.sock
"$KVMBOX" run --accel emu --debug-exit --api-sock "$SOCK" --kernel "$GUESTS/spin.elf" \
	--cmdline shift=22 </dev/null >"$T/spin.log" 2>"$T/spin.err" &
KPID=$!
ticks() { grep -c '^@T tick=' "$T/spin.log"; }
ctl() { "$KVMBOX" ctl "$SOCK" "$@" 2>&1; }
for i in $(seq 100); do [ "$(ticks)" -ge 3 ] && break; sleep 0.1; done
if [ "$(ticks)" -lt 3 ]; then
	fail emu-api-running "no ticks from the spinning guest: $(tail -c 300 "$T/spin.err")"
else
	pass emu-api-running
	ctl pause >/dev/null
	a=$(ticks)
	sleep 0.6
	b=$(ticks)
	expect_eq emu-api-pause "ticks while paused" "$b" "$a"
	regs=$(ctl regs)
	if grep -qE '^vCPU 0: runnable, prot32 mode, CPL 0' <<<"$regs" && grep -q '^RIP=' <<<"$regs"; then
		pass emu-api-regs
	else
		fail emu-api-regs "got: $(head -c 300 <<<"$regs")"
	fi
	for what in "snapshot $T/snap|snapshots need KVM" \
		"gdb tcp:127.0.0.1:1|a gdb stub needs KVM"; do
		msg=$(ctl ${what%%|*})
		rc=$?
		name=emu-api-refuses-${what%%[ |]*}
		if [ "$rc" -ne 0 ] && grep -q "${what#*|}" <<<"$msg"; then
			pass "$name"
		else
			fail "$name" "status $rc: $msg"
		fi
	done
	ctl resume >/dev/null
	c=$(ticks)
	for i in $(seq 50); do [ "$(ticks)" -gt "$c" ] && break; sleep 0.1; done
	[ "$(ticks)" -gt "$c" ] && pass emu-api-resume || fail emu-api-resume "no tick after resume"
	ctl stop >/dev/null
fi
wait "$KPID"
RC=$? KPID=
expect_eq emu-api-stop "exit status after ctl stop" "$RC" 0

# The local APIC (src/dev/lapic.c): its periodic timer waking `sti; hlt`, a self-IPI held back by
# the TPR, EOI; the I/O APIC (src/dev/ioapic.c) with COM1's interrupt behind pin 4, edge and level,
# masked and unmasked (apic32.elf prints a PASS line per check).
run_guest emu-apic32 60 --accel emu --debug-exit --kernel "$GUESTS/apic32.elf"
check_exit emu-apic32 "$(((0x2c << 1) | 1))" '^PASS apic32[[:space:]]*$'
for c in cpuid apic-base version timer ipi-irr tpr-blocks ipi eoi ioapic-version ioapic-id ioapic-edge \
	ioapic-edge-no-rirr ioapic-level ioapic-level-rirr ioapic-eoi ioapic-masked ioapic-unmask; do
	gsays "^PASS apic32\.$c\$" && pass "emu-apic32-$c" || fail "emu-apic32-$c" "no PASS apic32.$c"
done

# NMIs from the API end the guest's `cli; hlt` and go through its IDT (nmi.elf checks where they
# land and exits after two).
"$KVMBOX" run --accel emu --debug-exit --api-sock "$T/nmi.sock" --kernel "$GUESTS/nmi.elf" \
	</dev/null >"$T/nmi.log" 2>&1 &
KPID=$!
for i in $(seq 100); do grep -q 'waiting for 2 NMIs' "$T/nmi.log" && break; sleep 0.1; done
regs=$("$KVMBOX" ctl "$T/nmi.sock" regs 2>&1)
grep -q '^vCPU 0: halted, long mode' <<<"$regs" && pass emu-nmi-halted ||
	fail emu-nmi-halted "got: $(head -c 200 <<<"$regs")"
"$KVMBOX" ctl "$T/nmi.sock" nmi >/dev/null 2>&1
for i in $(seq 50); do grep -q '^@T nmi=1 ' "$T/nmi.log" && break; sleep 0.1; done
"$KVMBOX" ctl "$T/nmi.sock" nmi >/dev/null 2>&1
wait "$KPID"
RC=$? OUT=$T/nmi.log KPID=
check_exit emu-nmi "$(((0x25 << 1) | 1))" '^PASS nmi'

# Refused before anything starts: status 2, one line naming the problem.
: >"$T/disk.img"
expect_bad emu-bad-accel "unknown --accel 'bogus'" --accel bogus --kernel "$HELLO"
expect_bad emu-bad-virtio "accel emu has no virtio devices yet \(--disk" --accel emu --disk "path=$T/disk.img" --kernel "$HELLO"
expect_bad emu-bad-gdb "gdb needs KVM" --accel emu --gdb tcp:127.0.0.1:1 --kernel "$HELLO"
expect_bad emu-bad-restore "accel emu cannot restore a snapshot" --accel emu --restore "$T"
expect_bad emu-bad-bzimage "multiboot guests only, not a bzImage" --accel emu \
	--kernel "$ROOT/tests/fuzz/corpus/fuzz_boot/bzimage_212_cmdline"
expect_bad emu-bad-pvh "multiboot guests only, not a ELF vmlinux \(PVH\)" --accel emu \
	--kernel "$ROOT/tests/fuzz/corpus/fuzz_boot/pvh_elf64_plain"
