#!/usr/bin/env bash
# Snapshot and restore (issue 7), end to end with real guests and real files.
#  bare:   a bare-metal guest in the middle of a port-I/O loop is paused and snapshotted with
#          `kvmbox ctl snapshot`; the original is killed; `kvmbox run --restore` finishes the loop
#          (the guest prints PASS and exits through debug-exit: status 95). --paused restores it
#          paused (GET / says Paused) until a resume over the API.
#  refuse: a state file with a flipped byte (checksum), another format version, a memory file of
#          the wrong size, a missing directory: one line naming the problem, status 2, nothing run.
#  diff:   a VM driven over the API with track_dirty_pages (the spin guest, printing a tick counter
#          from its stack): Full snapshot, run, then at one moment a Diff (into a copy of the Full
#          memory file) and a Full: the two memory files are equal page by page and differ from the
#          first Full; a memory file of one snapshot with the state of another is refused; the VM
#          restored from the Diff goes on ticking from where it was, and refuses a Diff into the
#          file it maps.
#  linux:  the test kernel at a shell script: a file in tmpfs and a counter; snapshot; restored in a
#          new process (two clones at once from the one snapshot): the file is there, the counter
#          goes on from where it was (the guest's clock did not jump by the time the snapshot sat
#          on disk), `sleep 5` takes about 5 s of host time, no clocksource/lockup/RCU warnings.
source "$(dirname "$0")/lib.sh"
need_kvm snapshot
command -v curl >/dev/null || { fail snapshot-setup "curl is not installed"; exit 1; }
GUEST=$ROOT/$O/guests/pio_loop.elf
SPIN=$ROOT/$O/guests/spin.elf
for g in "$GUEST" "$SPIN"; do [ -f "$g" ] || { fail snapshot-setup "$g not built"; exit 1; }; done
T=$(mktemp -d /tmp/kvmbox-snap.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	exec 7>&- 8>&- 9>&- 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

api() { # SOCK METHOD PATH [BODY] -> HTTP status; body in $T/body
	curl -s -m 30 --unix-socket "$1" -X "$2" ${4:+-H 'Content-Type: application/json' -d "$4"} \
		-o "$T/body" -w '%{http_code}' "http://localhost$3"
}
wait_api() { # SOCK: until GET / answers
	for _ in $(seq 1 200); do [ "$(api "$1" GET /)" = 200 ] && return 0; sleep 0.05; done
	return 1
}
# ends_within PID SECONDS: the process exits within SECONDS; its status in RC.
ends_within() {
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	if kill -0 "$1" 2>/dev/null; then RC=timeout; kill -9 "$1"; return 1; fi
	wait "$1"
	RC=$?
}
# expect_refused NAME DIR WHAT: `run --restore DIR` exits 2 with one line mentioning WHAT.
expect_refused() {
	local err
	err=$(timeout 30 "$KVMBOX" run --restore "$2" </dev/null 2>&1 >/dev/null)
	local rc=$?
	if [ $rc = 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && printf '%s' "$err" | grep -qi -- "$3"; then
		pass "$1"
	else
		fail "$1" "status $rc, stderr: $(printf '%s' "$err" | head -c 300) (expected 2 and '$3')"
	fi
}

# ---- bare: a port-I/O loop carried on by a restored process ----
# Long enough to be cut by the snapshot, short enough to finish after it: ~40 s at kvm_pvm's
# ~12 us per port-I/O exit, about as long at the ~1.5 us of VMX/SVM with ten times the count.
N=3000000
host_is_pvm || N=30000000
BOUT=$LOGDIR/snapshot-bare.log
"$KVMBOX" run --kernel "$GUEST" --cmdline "n=$N" --debug-exit --api-sock "$T/a.sock" \
	</dev/null >"$BOUT" 2>"$BOUT.err" &
APID=$!
PIDS+=("$APID")
SNAP=$T/bare
if wait_api "$T/a.sock" && wait_log 60 "pio_loop: n=$N" "$BOUT"; then
	sleep 1
	created=0
	if "$KVMBOX" ctl "$T/a.sock" snapshot "$SNAP" >"$T/ctl.out" 2>&1 && [ -s "$SNAP/vmstate" ] && [ -s "$SNAP/memory" ]; then
		pass snapshot-bare-create
		created=1
	else
		fail snapshot-bare-create "$(cat "$T/ctl.out")"
	fi
	# The original ran on after the snapshot (ctl resumes a running VM): stop it now.
	kill -9 "$APID" 2>/dev/null
	wait "$APID" 2>/dev/null
	gsays 'PASS pio_loop' "$BOUT" && fail snapshot-bare-setup "the loop finished before the snapshot (raise N)"
fi
if [ "${created:-0}" = 1 ]; then
	# Sparse: never-touched RAM is holes (512 MiB of guest RAM, a few pages used).
	used=$(du -k "$SNAP/memory" | cut -f1)
	[ -n "$used" ] && [ "$used" -lt 65536 ] && pass snapshot-bare-sparse || fail snapshot-bare-sparse "memory file uses $used KiB on disk"

	ROUT=$LOGDIR/snapshot-bare-restored.log
	t0=$(date +%s%N)
	"$KVMBOX" run --restore "$SNAP" -v </dev/null >"$ROUT" 2>"$ROUT.err" &
	RPID=$!
	PIDS+=("$RPID")
	ends_within "$RPID" 300
	if [ "$RC" = 95 ] && gsays 'PASS pio_loop' "$ROUT"; then
		pass snapshot-bare-restore-finishes
	else
		fail snapshot-bare-restore-finishes "status $RC (expected 95): $(tail -c 300 "$ROUT.err")"
	fi
	# The restored guest did not start over: no second banner.
	gsays "pio_loop: n=$N" "$ROUT" && fail snapshot-bare-no-reboot "the restored guest booted again" || pass snapshot-bare-no-reboot
	ms=$(grep -o 'restored from .* in [0-9]* ms' "$ROUT.err" | grep -o '[0-9]* ms' | head -n1)
	echo "    restore took ${ms:-?} (kvmbox's own measure), $(( ($(date +%s%N) - t0) / 1000000 )) ms to the guest's end"

	# --paused: stays paused until resumed through the API.
	POUT=$LOGDIR/snapshot-bare-paused.log
	"$KVMBOX" run --restore "$SNAP" --paused --api-sock "$T/p.sock" </dev/null >"$POUT" 2>"$POUT.err" &
	PPID_=$!
	PIDS+=("$PPID_")
	if wait_api "$T/p.sock" && grep -q '"state":"Paused"' "$T/body"; then
		pass snapshot-bare-paused
	else
		fail snapshot-bare-paused "GET / says $(head -c 200 "$T/body") $(tail -c 300 "$POUT.err")"
	fi
	sleep 1
	gsays 'PASS pio_loop' "$POUT" && fail snapshot-bare-paused-still "the guest ran while paused"
	if [ "$(api "$T/p.sock" PATCH /vm '{"state": "Resumed"}')" != 204 ]; then
		fail snapshot-bare-paused-resume "PATCH Resumed: $(cat "$T/body")"
	elif ends_within "$PPID_" 300 && [ "$RC" = 95 ]; then
		pass snapshot-bare-paused-resume
	else
		fail snapshot-bare-paused-resume "status $RC (expected 95)"
	fi

	# ---- refuse: damaged snapshots ----
	cp -r "$SNAP" "$T/corrupt"
	printf '\xff' | dd of="$T/corrupt/vmstate" bs=1 seek=200 conv=notrunc 2>/dev/null
	expect_refused snapshot-refuse-checksum "$T/corrupt" checksum
	cp -r "$SNAP" "$T/version"
	printf '\x63' | dd of="$T/version/vmstate" bs=1 seek=8 conv=notrunc 2>/dev/null
	expect_refused snapshot-refuse-version "$T/version" version
	cp -r "$SNAP" "$T/short"
	truncate -s 1M "$T/short/memory"
	expect_refused snapshot-refuse-memory-size "$T/short" bytes
	expect_refused snapshot-refuse-missing "$T/nonexistent" "No such file"
	head -c 100 "$SNAP/vmstate" >"$T/short/vmstate"
	expect_refused snapshot-refuse-truncated "$T/short" "truncated"
elif [ -z "${created:-}" ]; then
	fail snapshot-bare-start "the guest never started: $(tail -c 300 "$BOUT.err")"
fi

# ---- diff: Diff on top of Full equals a Full taken at the same moment ----
DOUT=$LOGDIR/snapshot-diff.log
"$KVMBOX" --api-sock "$T/d.sock" </dev/null >"$DOUT" 2>"$DOUT.err" &
DPID=$!
PIDS+=("$DPID")
if wait_api "$T/d.sock" &&
	[ "$(api "$T/d.sock" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64, "track_dirty_pages": true}')" = 204 ] &&
	[ "$(api "$T/d.sock" PUT /boot-source "{\"kernel_image_path\": \"$SPIN\", \"boot_args\": \"shift=24\"}")" = 204 ] &&
	[ "$(api "$T/d.sock" PUT /actions '{"action_type": "InstanceStart"}')" = 204 ]; then
	mkdir -p "$T/full1" "$T/diff" "$T/full2"
	sleep 1
	ok=1
	api "$T/d.sock" PATCH /vm '{"state": "Paused"}' >/dev/null
	[ "$(api "$T/d.sock" PUT /snapshot/create "{\"snapshot_path\": \"$T/full1/vmstate\", \"mem_file_path\": \"$T/full1/memory\"}")" = 204 ] || ok=0
	api "$T/d.sock" PATCH /vm '{"state": "Resumed"}' >/dev/null
	sleep 1
	api "$T/d.sock" PATCH /vm '{"state": "Paused"}' >/dev/null
	cp --sparse=always "$T/full1/memory" "$T/diff/memory"
	[ "$(api "$T/d.sock" PUT /snapshot/create "{\"snapshot_path\": \"$T/diff/vmstate\", \"mem_file_path\": \"$T/diff/memory\", \"snapshot_type\": \"Diff\"}")" = 204 ] || ok=0
	[ "$(api "$T/d.sock" PUT /snapshot/create "{\"snapshot_path\": \"$T/full2/vmstate\", \"mem_file_path\": \"$T/full2/memory\"}")" = 204 ] || ok=0
	last=$(grep -ao '@T tick=[0-9]*' "$DOUT" | tail -n1 | cut -d= -f2)
	if [ $ok = 1 ]; then
		pass snapshot-diff-create
		# The RAM, page by page (the last page of each file names its own snapshot).
		ram=$(($(stat -c %s "$T/full2/memory") - 4096))
		if cmp -s -n "$ram" "$T/diff/memory" "$T/full2/memory"; then
			pass snapshot-diff-equals-full
		else
			fail snapshot-diff-equals-full "$(cmp -l -n "$ram" "$T/diff/memory" "$T/full2/memory" | wc -l) bytes differ"
		fi
		if cmp -s -n "$ram" "$T/full1/memory" "$T/full2/memory"; then
			fail snapshot-diff-changed "the guest wrote nothing between the snapshots (the test proves nothing)"
		else
			pass snapshot-diff-changed
		fi
		# Memory and state of two different snapshots: refused as a pair.
		mkdir -p "$T/mixed"
		cp "$T/full1/vmstate" "$T/mixed/vmstate"
		cp --sparse=always "$T/full2/memory" "$T/mixed/memory"
		expect_refused snapshot-refuse-mixed-pair "$T/mixed" "does not belong"
	else
		fail snapshot-diff-create "$(cat "$T/body")"
	fi
	# A Diff must never go into the file a restored VM maps: tried below on a restored VM.
	kill -9 "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	if [ $ok = 1 ]; then
		EOUT=$LOGDIR/snapshot-diff-restored.log
		"$KVMBOX" --api-sock "$T/e.sock" </dev/null >"$EOUT" 2>"$EOUT.err" &
		EPID=$!
		PIDS+=("$EPID")
		wait_api "$T/e.sock"
		st=$(api "$T/e.sock" PUT /snapshot/load "{\"snapshot_path\": \"$T/diff/vmstate\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$T/diff/memory\"}, \"track_dirty_pages\": true}")
		cp "$T/body" "$T/load.body"
		if [ "$st" = 204 ] && [ "$(api "$T/e.sock" GET /)" = 200 ] && grep -q '"state":"Paused"' "$T/body"; then
			pass snapshot-diff-load-api
		else
			fail snapshot-diff-load-api "HTTP $st: $(cat "$T/load.body") $(tail -c 300 "$EOUT.err")"
		fi
		st=$(api "$T/e.sock" PUT /snapshot/create "{\"snapshot_path\": \"$T/e-state\", \"mem_file_path\": \"$T/diff/memory\", \"snapshot_type\": \"Diff\"}")
		if [ "$st" = 400 ] && grep -q 'restored from' "$T/body"; then
			pass snapshot-diff-refuses-own-file
		else
			fail snapshot-diff-refuses-own-file "HTTP $st: $(cat "$T/body")"
		fi
		api "$T/e.sock" PATCH /vm '{"state": "Resumed"}' >/dev/null
		first=
		if [ "$st" = 204 ] && wait_log 60 '@T tick=[0-9]+' "$EOUT"; then
			first=$(grep -ao '@T tick=[0-9]*' "$EOUT" | head -n1 | cut -d= -f2)
		fi
		# It goes on: the first tick after the restore follows the last one before the Diff.
		if [ -n "$first" ] && [ -n "$last" ] && [ "$first" -gt "$last" ] && [ "$first" -le $((last + 20)) ]; then
			pass snapshot-diff-restore-runs-on
		else
			fail snapshot-diff-restore-runs-on "ticks: last before the Diff '$last', first after the restore '${first:-}'"
		fi
		kill -9 "$EPID" 2>/dev/null
	fi
else
	fail snapshot-diff-start "$(cat "$T/body" 2>/dev/null) $(tail -c 300 "$DOUT.err")"
fi

# ---- linux: a booted guest's user space, carried on by two restored clones ----
prepare_linux_overlay
LOUT=$LOGDIR/snapshot-linux.log
mkfifo "$T/in0" "$T/in1" "$T/in2"
exec 7<>"$T/in0" 8<>"$T/in1" 9<>"$T/in2"
"$KVMBOX" run --kernel "$GUEST_KERNEL" --initrd "$INITRD" --memory 256M --cpus 1 \
	--cmdline "console=ttyS0 panic=-1 kvmbox.run=snapshot" --api-sock "$T/l.sock" \
	<"$T/in0" >"$LOUT" 2>"$LOUT.err" &
LPID=$!
PIDS+=("$LPID")
if ! wait_log "${BOOT_TIMEOUT:-420}" '^@T ready=yes' "$LOUT"; then
	fail snapshot-linux-boot "the guest never got ready"
	excerpt "$LOUT"
	exit 0
fi
before=$(gval before "$LOUT")
up_before=$(gval up_before "$LOUT")
if "$KVMBOX" ctl "$T/l.sock" pause >"$T/ctl.out" 2>&1 && "$KVMBOX" ctl "$T/l.sock" snapshot "$T/linux" >>"$T/ctl.out" 2>&1; then
	pass snapshot-linux-create
else
	fail snapshot-linux-create "$(cat "$T/ctl.out")"
	exit 0
fi
kill -9 "$LPID"
wait "$LPID" 2>/dev/null
sleep 8 # the snapshot sits on disk; the guest's clock must not count this
for c in 1 2; do
	"$KVMBOX" run --restore "$T/linux" -v <"$T/in$c" >"$LOGDIR/snapshot-linux-clone$c.log" \
		2>"$LOGDIR/snapshot-linux-clone$c.err" &
	PIDS+=("$!")
	eval "CPID$c=$!"
done
sleep 1
echo "go-1" >&8
echo "go-2" >&9
# Both clones run at once: time each one's `sleep 5` in one polling loop.
declare -A TS=() TE=()
end=$((SECONDS + 180))
while [ $SECONDS -lt $end ] && { [ -z "${TE[1]:-}" ] || [ -z "${TE[2]:-}" ]; }; do
	for c in 1 2; do
		f=$LOGDIR/snapshot-linux-clone$c.log
		[ -z "${TS[$c]:-}" ] && gsays '^@T sleep=start' "$f" && TS[$c]=$(date +%s%N)
		[ -z "${TE[$c]:-}" ] && gsays '^@T sleep=end' "$f" && TE[$c]=$(date +%s%N)
	done
	sleep 0.1
done
for c in 1 2; do
	OUT=$LOGDIR/snapshot-linux-clone$c.log
	if [ -z "${TS[$c]:-}" ]; then
		fail "snapshot-linux-clone$c" "the restored guest did not go on: $(tail -c 300 "$LOGDIR/snapshot-linux-clone$c.err")"
		excerpt "$OUT"
		continue
	fi
	took=0
	[ -n "${TE[$c]:-}" ] && took=$(((TE[$c] - TS[$c]) / 1000000000))
	expect_eq "snapshot-linux-clone$c-input" "the line it read" "$(gval line)" "go-$c"
	expect_eq "snapshot-linux-clone$c-tmpfs" "the tmpfs file" "$(gval file)" "written-before-the-snapshot"
	after=$(gval after)
	up_after=$(gval up_after)
	if [ -n "$before" ] && [ -n "$after" ] && [ -n "$up_after" ] && [ "$after" -ge "$before" ] &&
		[ $((up_after - up_before)) -lt 6 ]; then
		pass "snapshot-linux-clone$c-clock"
	else
		fail "snapshot-linux-clone$c-clock" "counter $before -> $after, uptime $up_before -> $up_after s across an 8 s wait on disk"
	fi
	if [ "$took" -ge 3 ] && [ "$took" -le 15 ]; then
		pass "snapshot-linux-clone$c-sleep5"
	else
		fail "snapshot-linux-clone$c-sleep5" "sleep 5 took $took s of host time"
	fi
	wait_log 60 '^@T warnings=' "$OUT"
	later=$(gval later)
	if [ -n "$later" ] && [ -n "$after" ] && [ "$later" -gt "$after" ]; then
		pass "snapshot-linux-clone$c-counter"
	else
		fail "snapshot-linux-clone$c-counter" "the counter stopped: $after then $later"
	fi
	expect_eq "snapshot-linux-clone$c-warnings" "clock/lockup/RCU warnings in the kernel log" "$(gval warnings)" 0
done
for c in 1 2; do
	eval "p=\$CPID$c"
	ends_within "$p" 120
	expect_eq "snapshot-linux-clone$c-poweroff" "exit status" "$RC" 0
done
