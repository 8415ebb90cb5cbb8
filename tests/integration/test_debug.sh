#!/usr/bin/env bash
# Inspecting a guest that cannot make progress on its own: the nmi test guest halts with
# interrupts off (`cli; hlt`), so only an NMI moves it. `kvmbox ctl SOCKET regs` shows both vCPUs
# (the boot vCPU halted in long mode at the guest's halt instruction, the AP never started), while
# running and while paused; `kvmbox ctl SOCKET nmi 0` wakes the guest (it prints the RIP the NMI
# interrupted: the halt); an NMI sent while paused arrives only after resume; a bad vCPU number is
# refused; `nmi` to all vCPUs ends the guest with its PASS status.
source "$(dirname "$0")/lib.sh"
need_kvm debug
GUEST=$ROOT/$O/guests/nmi.elf
[ -f "$GUEST" ] || { fail debug-setup "$GUEST not built"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-debug.XXXXXX)
KPID=
trap '[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null; rm -rf "$T"' EXIT
SOCK=$T/api.sock
OUT=$LOGDIR/debug-nmi.log
ctl() { "$KVMBOX" ctl "$SOCK" "$@"; }
# wait_line SECONDS REGEX: until the guest's output has a line matching REGEX.
wait_line() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		tr -d '\r' <"$OUT" | grep -qE "$2" && return 0
		kill -0 "$KPID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# The halt and the instruction after it, from the guest's symbols (the guest is linked below 4 GiB).
sym() { nm "$GUEST" | awk -v s="$1" '$3 == s { print $1 }' | sed 's/^0*//'; }
HALT=$(sym nmi_halt) HALTED=$(sym nmi_halted)
[ -n "$HALT" ] && [ -n "$HALTED" ] || { fail debug-setup "no nmi_halt/nmi_halted symbols in $GUEST"; exit 1; }

: >"$OUT"
"$KVMBOX" run --kernel "$GUEST" --cmdline "n=3" --cpus 2 --debug-exit --api-sock "$SOCK" \
	</dev/null >"$OUT" 2>"$OUT.err" &
KPID=$!
if ! wait_line 30 '^nmi: halted'; then
	fail debug-start "the guest never reached its halt"
	excerpt "$OUT"
	exit 1
fi
sleep 0.3

# regs while running: vCPU 0 halted at nmi_halt's next instruction, vCPU 1 never started.
if ctl regs >"$T/regs" 2>"$T/regs.err"; then
	if grep -q '^vCPU 0: halted, long mode, CPL 0$' "$T/regs" &&
		grep -qE "^RIP=0*$HALTED " "$T/regs" && grep -q '^vCPU 1: uninitialized, real mode' "$T/regs" &&
		grep -q '^CR0=' "$T/regs" && grep -q '^events: ' "$T/regs"; then
		pass debug-regs-running
	else
		fail debug-regs-running "expected vCPU 0 halted at 0x$HALTED and vCPU 1 uninitialized; got: $(head -c 600 "$T/regs")"
	fi
else
	fail debug-regs-running "ctl regs failed: $(cat "$T/regs.err")"
fi

# An NMI to vCPU 0 wakes it; the handler saw the halt's RIP.
ctl nmi 0 2>"$T/nmi.err" || fail debug-nmi-ctl "ctl nmi 0 failed: $(cat "$T/nmi.err")"
if wait_line 10 '^@T nmi=1 rip='; then
	rip=$(tr -d '\r' <"$OUT" | sed -n 's/^@T nmi=1 rip=0x//p')
	if [ "$rip" = "$HALT" ] || [ "$rip" = "$HALTED" ]; then
		pass debug-nmi-wakes-halted-guest
	else
		fail debug-nmi-wakes-halted-guest "the NMI interrupted rip 0x$rip, not the halt (0x$HALT)"
	fi
else
	fail debug-nmi-wakes-halted-guest "no '@T nmi=1' from the guest within 10 s"
	excerpt "$OUT"
fi

# Refused: a vCPU the VM does not have, and garbage.
if msg=$(ctl nmi 7 2>&1); then
	fail debug-nmi-bad-vcpu "ctl nmi 7 succeeded on a 2-vCPU VM"
elif [[ $msg == *"no vCPU 7"* ]]; then
	pass debug-nmi-bad-vcpu
else
	fail debug-nmi-bad-vcpu "unexpected message: $msg"
fi
ctl nmi x >/dev/null 2>&1 && fail debug-nmi-garbage "ctl nmi x succeeded" || pass debug-nmi-garbage

# While paused: regs still answer, and a queued NMI is delivered only after resume.
ctl pause || fail debug-pause "ctl pause failed"
if ctl regs | grep -q '^vCPU 0: halted, long mode'; then pass debug-regs-paused; else fail debug-regs-paused "no vCPU 0 in ctl regs while paused"; fi
ctl nmi 0 2>"$T/nmi.err" || fail debug-nmi-paused "ctl nmi 0 while paused failed: $(cat "$T/nmi.err")"
sleep 1
if tr -d '\r' <"$OUT" | grep -q '^@T nmi=2'; then
	fail debug-nmi-waits-for-resume "the guest took the NMI while paused"
else
	pass debug-nmi-waits-for-resume
fi
ctl resume || fail debug-resume "ctl resume failed"
if wait_line 10 '^@T nmi=2 rip='; then pass debug-nmi-after-resume; else fail debug-nmi-after-resume "no '@T nmi=2' within 10 s of resuming"; fi

# A gdb stub opened on the running VM through the API: gdb sees both vCPUs, the halted one at the
# halt; a second stub is refused; after detach the guest runs on (the NMI below still finishes it).
if command -v gdb >/dev/null; then
	if ctl gdb "unix:$T/gdb.sock" 2>"$T/gdb.err"; then
		pass debug-ctl-gdb
	else
		fail debug-ctl-gdb "ctl gdb failed: $(cat "$T/gdb.err")"
	fi
	if ctl gdb "unix:$T/gdb2.sock" >/dev/null 2>"$T/gdb2.err"; then
		fail debug-ctl-gdb-twice "a second gdb stub was opened"
	elif grep -q 'already listening' "$T/gdb2.err"; then
		pass debug-ctl-gdb-twice
	else
		fail debug-ctl-gdb-twice "unexpected message: $(cat "$T/gdb2.err")"
	fi
	printf 'set confirm off\ntarget remote %s\ninfo threads\nprintf "@G pc=%%lx\\n", $pc\ndetach\n' \
		"$T/gdb.sock" >"$T/attach.gdb"
	timeout -k 5 60 gdb -batch -nx -x "$T/attach.gdb" "$ROOT/$O/guests/nmi.elf64" >"$LOGDIR/debug-gdb.out" 2>&1
	if grep -qE '^\* 1 +Thread 1 \(vCPU 0, long mode, halted\)' "$LOGDIR/debug-gdb.out" &&
		grep -qE '^  2 +Thread 2 \(vCPU 1, real mode, not started\)' "$LOGDIR/debug-gdb.out" &&
		grep -qx "@G pc=$HALTED" "$LOGDIR/debug-gdb.out" && grep -q 'detached' "$LOGDIR/debug-gdb.out"; then
		pass debug-gdb-attach-running
	else
		fail debug-gdb-attach-running "want both vCPUs and vCPU 0 at 0x$HALTED: $(grep -E '^[* ] [0-9]|@G|rror' "$LOGDIR/debug-gdb.out" | tr '\n' '|')"
	fi
else
	fail debug-ctl-gdb "gdb is not installed (scripts/deps.sh installs it)"
fi

# An NMI to every vCPU: the guest's third, then PASS and its exit status (0x25 -> 75).
ctl nmi || fail debug-nmi-all "ctl nmi failed"
end=$((SECONDS + 20))
while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
if kill -0 "$KPID" 2>/dev/null; then
	fail debug-nmi-all "the guest did not finish within 20 s"
	excerpt "$OUT"
else
	wait "$KPID"
	RC=$?
	KPID=
	if [ "$RC" -eq 75 ] && tr -d '\r' <"$OUT" | grep -q '^PASS nmi$'; then
		pass debug-nmi-all
	else
		fail debug-nmi-all "status $RC (want 75), guest said: $(tr -d '\r' <"$OUT" | tail -n 3 | tr '\n' '|')"
	fi
fi
