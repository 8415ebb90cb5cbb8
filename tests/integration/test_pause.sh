#!/usr/bin/env bash
# Pause/resume against a bare-metal guest that never stops doing port I/O (pio_loop writing bytes
# to COM1), so every pause lands in the middle of exits: output stops while paused and resumes;
# 100 pause/resume cycles in a row; the guest finishing (debug-exit) while pauses keep coming;
# SIGTERM and `kvmbox ctl stop` while paused end kvmbox promptly; resume of a stopped VM fails.
source "$(dirname "$0")/lib.sh"
need_kvm pause
command -v curl >/dev/null || { fail pause-setup "curl is not installed"; exit 1; }
GUEST=$ROOT/$O/guests/pio_loop.elf
[ -f "$GUEST" ] || { fail pause-setup "$GUEST not built"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-pause.XXXXXX)
KPID=
trap '[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null; rm -rf "$T"' EXIT

api() { # SOCK METHOD PATH [BODY] -> HTTP status; body in $T/body
	curl -s -m 10 --unix-socket "$1" -X "$2" ${4:+-d "$4"} -o "$T/body" -w '%{http_code}' "http://localhost$3"
}
start() { # NAME N: a pio_loop guest doing N outb to COM1, serving the API on $T/NAME.sock
	SOCK=$T/$1.sock
	OUT=$LOGDIR/pause-$1.log
	"$KVMBOX" run --kernel "$GUEST" --cmdline "n=$2 port=0x3f8" --debug-exit --api-sock "$SOCK" \
		</dev/null >"$OUT" 2>"$OUT.err" &
	KPID=$!
	for _ in $(seq 1 100); do [ "$(api "$SOCK" GET /)" = 200 ] && return 0; sleep 0.05; done
	fail "pause-$1-start" "the API never answered: $(head -c 300 "$OUT.err")"
	return 1
}
size() { stat -c %s "$OUT"; }
# ends_within SECONDS: kvmbox exits within SECONDS; sets RC.
ends_within() {
	local end=$((SECONDS + $1))
	while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
	if kill -0 "$KPID" 2>/dev/null; then RC=timeout; kill -9 "$KPID"; return 1; fi
	wait "$KPID"
	RC=$?
	KPID=
}

if start stop 4000000000; then
	sleep 0.5
	if [ "$(api "$SOCK" PATCH /vm '{"state": "Paused"}')" = 204 ]; then pass pause-ack; else fail pause-ack "$(cat "$T/body")"; fi
	a=$(size); sleep 1; b=$(size)
	[ "$a" = "$b" ] && pass pause-output-stops || fail pause-output-stops "output grew from $a to $b bytes while paused"
	api "$SOCK" PATCH /vm '{"state": "Resumed"}' >/dev/null
	sleep 0.5; c=$(size)
	[ "$c" -gt "$b" ] && pass resume-output-continues || fail resume-output-continues "output stuck at $c bytes after resume"
	bad=0
	for i in $(seq 1 100); do
		[ "$(api "$SOCK" PATCH /vm '{"state": "Paused"}')" = 204 ] || { bad=$i; break; }
		[ "$(api "$SOCK" PATCH /vm '{"state": "Resumed"}')" = 204 ] || { bad=$i; break; }
	done
	[ $bad = 0 ] && pass pause-resume-100 || fail pause-resume-100 "cycle $bad failed: $(cat "$T/body")"
	d=$(size); sleep 0.5
	[ "$(size)" -gt "$d" ] && pass pause-resume-100-alive || fail pause-resume-100-alive "the guest stopped running after the cycles"
	api "$SOCK" PATCH /vm '{"state": "Paused"}' >/dev/null
	kill -TERM "$KPID"
	if ends_within 5 && [ "$RC" = 143 ]; then pass sigterm-while-paused; else fail sigterm-while-paused "status $RC (expected 143 within 5 s)"; fi
	kill -9 "$KPID" 2>/dev/null
fi

if start ctlstop 4000000000; then
	api "$SOCK" PATCH /vm '{"state": "Paused"}' >/dev/null
	"$KVMBOX" ctl "$SOCK" stop >"$T/ctl.out" 2>&1
	if ends_within 5; then pass ctl-stop-while-paused; else fail ctl-stop-while-paused "kvmbox still running 5 s after ctl stop: $(cat "$T/ctl.out")"; fi
fi

# The guest ends by itself (debug-exit: status (0x2f<<1)|1 = 95) while pauses keep landing.
if start race 1000000; then
	while kill -0 "$KPID" 2>/dev/null; do
		api "$SOCK" PATCH /vm '{"state": "Paused"}' >/dev/null
		api "$SOCK" PATCH /vm '{"state": "Resumed"}' >/dev/null
	done &
	HAMMER=$!
	ends_within 120
	wait "$HAMMER" 2>/dev/null
	[ "$RC" = 95 ] && pass exit-during-pauses || fail exit-during-pauses "status $RC (expected 95)"
	grep -q 'PASS pio_loop' "$OUT" && pass exit-during-pauses-output || fail exit-during-pauses-output "no PASS from the guest"
fi
