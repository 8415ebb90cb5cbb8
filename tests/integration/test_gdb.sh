#!/usr/bin/env bash
# kvmbox's gdb stub driven by Debian's gdb in batch mode, against the bare-metal gdbtest guest
# (tests/guests/gdbtest.c; symbols from build/guests/gdbtest.elf64):
#   session 1 (--gdb-wait, tcp, 2 vCPUs): stopped at the entry; a breakpoint at gdb_tick hit three
#     times (argument register and a variable checked), one thread per vCPU, four single steps with
#     RIP checked after each, a hardware breakpoint, a write watchpoint reporting the instruction
#     after the store, monitor commands; detach, and the guest finishes with its PASS status (79);
#   session 2 (unix socket): gdb writes a variable and a register at the first gdb_tick; the guest
#     sees both (its sum says so) and fails as it must (status 97);
#   session 3: hostile clients against a running guest (the spin guest): bad checksums, an oversized
#     packet, absurd lengths, unmapped addresses, malformed numbers, a second client, clients that
#     vanish mid-packet; the guest keeps running and a real gdb still attaches and detaches;
#   bad --gdb options are refused up front.
source "$(dirname "$0")/lib.sh"
need_kvm gdb
GDBTEST=$ROOT/$O/guests/gdbtest.elf
SYMS=$ROOT/$O/guests/gdbtest.elf64
SPIN=$ROOT/$O/guests/spin.elf
for f in "$GDBTEST" "$SYMS" "$SPIN"; do
	[ -f "$f" ] || { fail gdb-setup "$f not built"; exit 1; }
done
command -v gdb >/dev/null || { fail gdb-setup "gdb is not installed (scripts/deps.sh installs it)"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-gdb.XXXXXX)
KPID=
trap '[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null; rm -rf "$T"' EXIT

sym() { nm "$SYMS" | awk -v s="$1" '$3 == s { print $1 }' | sed 's/^0*//'; }
# start_stub NAME ADDRESS-PATTERN kvmbox-args...: kvmbox in the background with --gdb; ADDRESS-PATTERN's
# PORT is replaced by a free port (retried on a clash). Sets KPID, KOUT, KERR, GDB_ADDR.
start_stub() {
	local name=$1 pat=$2 try
	shift 2
	KOUT=$LOGDIR/gdb-$name.log KERR=$LOGDIR/gdb-$name.err
	for try in 1 2 3 4 5; do
		GDB_ADDR=${pat/PORT/$((20000 + RANDOM % 20000))}
		"$KVMBOX" run -v --gdb "$GDB_ADDR" "$@" </dev/null >"$KOUT" 2>"$KERR" &
		KPID=$!
		for _ in $(seq 50); do
			grep -q 'gdb: listening' "$KERR" && return 0
			kill -0 "$KPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$KPID" 2>/dev/null
		wait "$KPID" 2>/dev/null
		KPID=
		grep -q 'Address already in use' "$KERR" || break
	done
	return 1
}
# finish SECONDS: wait for kvmbox to end by itself; sets KRC (124 if it did not).
finish() {
	local end=$((SECONDS + $1))
	while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	if kill -0 "$KPID" 2>/dev/null; then
		kill -9 "$KPID" 2>/dev/null
		wait "$KPID" 2>/dev/null
		KRC=124
	else
		wait "$KPID"
		KRC=$?
	fi
	KPID=
}
# gdb_batch NAME TARGET SCRIPT: gdb -batch with the guest's symbols; output in $GOUT.
gdb_batch() {
	GOUT=$LOGDIR/gdb-$1.gdbout
	printf 'set pagination off\nset confirm off\ntarget remote %s\n%s\n' "$2" "$3" >"$T/$1.gdb"
	timeout -k 5 120 gdb -batch -nx -x "$T/$1.gdb" "$SYMS" >"$GOUT" 2>&1
}
# gline REGEX: the first line of gdb's output matching REGEX.
gline() { grep -aE -m1 "$1" "$GOUT"; }
check() { # check NAME WHAT COND-STATUS
	if [ "$3" -eq 0 ]; then pass "$1"; else fail "$1" "$2"; fi
}

# ---- session 1: breakpoints, steps, watchpoint, threads, monitor, detach ----
S1=$(sym gdb_step1) S2=$(sym gdb_step2) S3=$(sym gdb_step3) S4=$(sym gdb_step4)
AFTER=$(sym gdb_after_store)
[ -n "$S1" ] && [ -n "$S4" ] && [ -n "$AFTER" ] || { fail gdb-setup "gdbtest symbols missing"; exit 1; }
if ! start_stub s1 tcp:127.0.0.1:PORT --kernel "$GDBTEST" --debug-exit --cpus 2 --gdb-wait; then
	fail gdb-listen "kvmbox did not listen: $(head -c 300 "$KERR")"
	exit 1
fi
sleep 0.5
if grep -q '^gdbtest: start' "$KOUT"; then
	fail gdb-wait "the guest ran before gdb attached"
else
	pass gdb-wait
fi
gdb_batch s1 "$GDB_ADDR" '
printf "@G entry=%lx\n", $pc
break gdb_tick
continue
continue
continue
printf "@G rdi=%lu counter=%lu n=%lu\n", $rdi, gdb_counter, n
info threads
delete
hbreak gdb_steps
continue
printf "@G hbreak=%lx\n", $pc
delete
stepi
printf "@G step=%lx\n", $pc
stepi
printf "@G step=%lx\n", $pc
stepi
printf "@G step=%lx\n", $pc
stepi
printf "@G step=%lx\n", $pc
watch gdb_watched
continue
printf "@G watch=%lx value=%x\n", $pc, gdb_watched
delete
monitor regs
monitor stats
printf "@G cr0=%lx efer=%lx\n", $cr0, $efer
detach'
finish 30
check gdb-entry "stopped at $(gline '^@G entry=') (want the multiboot entry 0x10000c)" \
	"$(gline '^@G entry=' | grep -qx '@G entry=10000c'; echo $?)"
check gdb-break-continue "no third stop in gdb_tick: $(grep -cE '(^|hit )Breakpoint 1, gdb_tick' "$GOUT") stops" \
	"$(grep -qE '(^|hit )Breakpoint 1, gdb_tick \(n=n@entry=3\)' "$GOUT"; echo $?)"
check gdb-register-variable "want rdi=3 counter=3 (1+2) n=3, got: $(gline '^@G rdi=')" \
	"$(gline '^@G rdi=' | grep -qx '@G rdi=3 counter=3 n=3'; echo $?)"
check gdb-threads "info threads does not list one thread per vCPU: $(grep -E '^\*? +[0-9]+ +Thread' "$GOUT" | tr '\n' '|')" \
	"$(grep -qE '^\* 1 +Thread 1 \(vCPU 0, long mode\)' "$GOUT" && grep -qE '^  2 +Thread 2 \(vCPU 1, .*not started\)' "$GOUT"; echo $?)"
check gdb-hbreak "hardware breakpoint stop at $(gline '^@G hbreak=')" \
	"$(gline '^@G hbreak=' | grep -qx "@G hbreak=$(sym gdb_steps)"; echo $?)"
steps=$(grep '^@G step=' "$GOUT" | cut -d= -f2 | tr '\n' ' ')
check gdb-stepi "four stepi stopped at: $steps (want $S1 $S2 $S3 $S4)" \
	"$([ "$steps" = "$S1 $S2 $S3 $S4 " ]; echo $?)"
check gdb-watchpoint "want the stop after the store ($AFTER) with value 1234, got: $(gline '^@G watch=')" \
	"$(gline '^@G watch=' | grep -qx "@G watch=$AFTER value=1234"; echo $?)"
check gdb-monitor-regs "monitor regs did not print both vCPUs" \
	"$(grep -q '^vCPU 0: runnable, long mode, CPL 0' "$GOUT" && grep -q '^vCPU 1: uninitialized' "$GOUT"; echo $?)"
check gdb-system-regs "cr0/efer: $(gline '^@G cr0=')" \
	"$(gline '^@G cr0=' | grep -qE '^@G cr0=800000[0-9a-f]{2} efer=5[0-9a-f]{2}$'; echo $?)"
check gdb-detach "after detach the guest should finish with status 79, got $KRC; gdb: $(grep -m1 -i detach "$GOUT")" \
	"$([ "$KRC" = 79 ] && grep -q '^PASS gdbtest' "$KOUT" && grep -q 'Inferior 1 .* detached' "$GOUT"; echo $?)"

# ---- session 2: gdb writes memory and a register; the guest sees them ----
if start_stub s2 "unix:$T/gdb.sock" --kernel "$GDBTEST" --debug-exit --gdb-wait; then
	gdb_batch s2 "$T/gdb.sock" '
break gdb_tick
continue
set var gdb_counter = 100
set var $rdi = 11
printf "@G wrote counter=%lu rdi=%lu\n", gdb_counter, $rdi
delete
continue'
	finish 30
	# 100 + 11 (instead of 1) + 2 + 3 + 4 + 5 = 125
	check gdb-write "want the guest to report counter=125 and gdb exit code 0141 (97), got: $(grep -m1 'counter=' "$KOUT"); $(grep -m1 'exited' "$GOUT")" \
		"$(grep -q '^gdbtest: counter=125 ' "$KOUT" && [ "$KRC" = 97 ] && grep -q 'exited with code 0141' "$GOUT"; echo $?)"
	[ -S "$T/gdb.sock" ] && fail gdb-unix-cleanup "the unix socket was left behind" || pass gdb-unix-cleanup
else
	fail gdb-write "kvmbox did not listen on a unix socket: $(head -c 300 "$KERR")"
fi

# ---- session 3: hostile clients against a running guest ----
# frame PAYLOAD: $PAYLOAD#checksum
frame() {
	local p=$1 sum=0 i
	for ((i = 0; i < ${#p}; i++)); do sum=$(((sum + $(printf '%d' "'${p:i:1}")) % 256)); done
	printf '$%s#%02x' "$p" "$sum"
}
# raw BYTES...: one connection that sends them (printf %b) and collects the replies for a second.
raw() { { printf '%b' "$@"; sleep 1; } | timeout 10 socat -t 1 - "TCP:${GDB_ADDR#tcp:}" 2>/dev/null; }
ticks() { tr -d '\r' <"$KOUT" | grep -c '^@T tick='; }
if start_stub s3 tcp:127.0.0.1:PORT --kernel "$SPIN" --cmdline shift=24 --debug-exit; then
	sleep 1
	r=$(raw "$(frame '?')")
	check gdb-raw-attach "want a stop reply to '?', got '$r'" "$([[ $r == +\$T05thread:1\;#* ]]; echo $?)"
	r=$(raw '$g#00')
	check gdb-raw-bad-checksum "want '-', got '$r'" "$([ "$r" = - ]; echo $?)"
	r=$(raw "\$$(head -c 20000 /dev/zero | tr '\0' 'm')#00" "$(frame '?')")
	check gdb-raw-oversized "want '-' then a normal reply, got '${r:0:40}'" "$([[ $r == -+\$T05* ]]; echo $?)"
	r=$(raw "$(frame 'mffffffffffffff00,ffffffffffffffff')")
	check gdb-raw-unmapped "want an error for an unmapped address, got '$r'" "$([[ $r == +\$E* ]]; echo $?)"
	r=$(raw "$(frame 'm0,ffffffffffffffff')")
	check gdb-raw-absurd-length "want a capped read of RAM at 0, got ${#r} bytes" \
		"$([ ${#r} -gt 1000 ] && [ ${#r} -lt 40000 ]; echo $?)"
	r=$(raw "$(frame 'm12345678901234567,1')" "$(frame 'Z0,zz,1')" "$(frame 'Z0,dead0000000,1')" \
		"$(frame 'Pff=00')" "$(frame 'Hg99')" "$(frame 'vCont;q')" "$(frame 'X0,4:ab')" "$(frame 'G00')")
	n=$(grep -o '\$E[0-9a-f][0-9a-f]#' <<<"$r" | wc -l)
	check gdb-raw-malformed "want 8 error replies, got $n: '${r:0:200}'" "$([ "$n" = 8 ]; echo $?)"
	# Ctrl-C (0x03) stops a continued guest: the stop reply says SIGINT.
	r=$(raw "$(frame 'QStartNoAckMode')" "$(frame 'vCont;c')" '\x03')
	check gdb-raw-ctrl-c "want OK, then T02 after Ctrl-C, got '$r'" "$([[ $r == +\$OK#9a\$T02thread:1\;#* ]]; echo $?)"
	# Clients that vanish in the middle of a packet, and a second client while one is attached.
	raw '$m0,4' >/dev/null
	raw '$m0,4#' >/dev/null
	exec 7<>"/dev/tcp/127.0.0.1/${GDB_ADDR##*:}"
	r=$(raw "$(frame '?')")
	check gdb-raw-second-client "want the second client closed without a reply, got '$r'" "$([ -z "$r" ]; echo $?)"
	exec 7>&-
	sleep 1
	before=$(ticks)
	sleep 2
	after=$(ticks)
	check gdb-raw-guest-runs "the guest should run on after the clients left: ticks $before -> $after" \
		"$([ "$after" -gt "$before" ] && kill -0 "$KPID" 2>/dev/null; echo $?)"
	# (gdbtest's symbols: any x86-64 file, since the stub describes an x86-64 target.)
	gdb_batch s3 "$GDB_ADDR" 'printf "@G attached pc=%lx\n", $pc
detach'
	check gdb-raw-then-gdb "gdb could not attach after the hostile clients: $(tail -3 "$GOUT" | tr '\n' '|')" \
		"$(grep -qE '^@G attached pc=[0-9a-f]+$' "$GOUT" && grep -q 'detached' "$GOUT"; echo $?)"
	kill "$KPID" 2>/dev/null
	finish 10
else
	fail gdb-raw "kvmbox did not listen: $(head -c 300 "$KERR")"
fi

# ---- session 4: continuing from a hardware breakpoint that stays inserted ----
# (this host ignores RFLAGS.RF: the stub must step off the breakpoint itself, or the guest would
# stop at the same instruction forever)
if start_stub s4 tcp:127.0.0.1:PORT --kernel "$GDBTEST" --debug-exit --gdb-wait; then
	r=$({
		printf '%s' "$(frame 'QStartNoAckMode')" "$(frame "Z1,$(sym gdb_steps),1")" "$(frame 'vCont;c')"
		sleep 2
		printf '%s' "$(frame 'vCont;c')"
		sleep 3
	} | timeout 20 socat -t 1 - "TCP:${GDB_ADDR#tcp:}" 2>/dev/null)
	finish 20
	n=$(grep -o 'hwbreak' <<<"$r" | wc -l)
	check gdb-hbreak-continue "want one hwbreak stop, then the guest's exit (W4f) and status 79; got '$r', status $KRC" \
		"$([ "$n" = 1 ] && [[ $r == *'$W4f#'* ]] && [ "$KRC" = 79 ]; echo $?)"
else
	fail gdb-hbreak-continue "kvmbox did not listen: $(head -c 300 "$KERR")"
fi

# ---- bad options ----
expect_bad gdb-bad-address "error: --gdb 'bogus': want tcp:HOST:PORT or unix:PATH" --kernel "$GDBTEST" --gdb bogus
expect_bad gdb-wait-alone "error: --gdb-wait needs --gdb" --kernel "$GDBTEST" --gdb-wait
expect_bad gdb-bad-port "error: --gdb 'tcp:127.0.0.1:': want tcp:HOST:PORT" --kernel "$GDBTEST" --gdb tcp:127.0.0.1:
