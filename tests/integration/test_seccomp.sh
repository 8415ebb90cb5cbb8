#!/usr/bin/env bash
# Seccomp confinement of a running kvmbox (a bare-metal guest that spins on 2 vCPUs, with a disk,
# virtio-rng, vsock and the API): every thread shows Seccomp 2 and NoNewPrivs in /proc, the main
# thread one filter and every other thread its own role's on top; the API still works. A thread
# making a forbidden call (an LD_PRELOAD probe stands for a thread an attacker took over: socket()
# and a VM ioctl on a vCPU thread, open() on an I/O thread, execve() on the main thread) stops
# kvmbox with SIGSYS and one line naming the call and the role; `--seccomp log` lets the call
# through and the kernel logs it; --no-seccomp leaves the threads unfiltered; a bad mode is refused.
source "$(dirname "$0")/lib.sh"
need_kvm seccomp
command -v curl >/dev/null || { fail seccomp-setup "curl is not installed"; exit 1; }
command -v gcc >/dev/null || { fail seccomp-setup "gcc is not installed"; exit 1; }
GUEST=$ROOT/$O/guests/spin.elf
[ -f "$GUEST" ] || { fail seccomp-setup "$GUEST not built"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-seccomp.XXXXXX)
KPID=
trap '[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null; rm -rf "$T"' EXIT
truncate -s 16M "$T/disk.img"
gcc -shared -fPIC -O1 -o "$T/probe.so" "$ROOT/tests/integration/seccomp_probe.c" -ldl ||
	{ fail seccomp-probe-build "cannot build the LD_PRELOAD probe"; exit 1; }
# Sanitizer builds widen every list with the runtime's own needs (openat, execve, clone, ptrace).
SAN=0
[[ $(ldd "$KVMBOX") == *libasan* ]] && SAN=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

api() { # METHOD PATH [BODY] -> HTTP status
	curl -s -m 10 --unix-socket "$T/api.sock" -X "$1" ${3:+-d "$3"} -o "$T/body" -w '%{http_code}' "http://localhost$2"
}
start() { # NAME kvmbox-options...: the spin guest on 2 vCPUs with devices, in the background
	local name=$1
	shift
	OUT=$LOGDIR/seccomp-$name.log
	rm -f "$T/api.sock" "$T/v.sock"
	"$KVMBOX" run --kernel "$GUEST" --cpus 2 --disk path="$T/disk.img" --rng \
		--vsock cid=3,uds="$T/v.sock" --api-sock "$T/api.sock" "$@" </dev/null >"$OUT" 2>&1 &
	KPID=$!
}
ticking() { # the guest printed a tick within the last few seconds
	local a b
	a=$(grep -c tick= "$OUT")
	sleep 1.5
	b=$(grep -c tick= "$OUT")
	[ "$b" -gt "$a" ]
}
wait_api() {
	for _ in $(seq 1 200); do [ "$(api GET /)" = 200 ] && return 0; sleep 0.05; done
	return 1
}
# ends_within SECONDS: kvmbox exits within SECONDS; sets RC.
ends_within() {
	local end=$((SECONDS + $1))
	while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
	if kill -0 "$KPID" 2>/dev/null; then RC=timeout; kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=; return 1; fi
	wait "$KPID"
	RC=$?
	KPID=
}
# threads: "tid name seccomp filters nonewprivs" per user thread (kernel workers left out).
threads() {
	local t
	for t in /proc/"$KPID"/task/*; do
		awk -v tid="${t##*/}" '/^Name:/{n=$2} /^Seccomp:/{s=$2} /^Seccomp_filters:/{f=$2}
			/^NoNewPrivs:/{p=$2} END{print tid, n, s, f, p}' "$t/status" 2>/dev/null
	done | grep -vE ' (iou-|kvm-)'
}

# ---- Confined by default ----
start confined
if wait_api && ticking; then
	threads >"$T/threads"
	bad=$(awk -v pid="$KPID" '$3 != 2 || $5 != 1 || ($1 == pid && $4 != 1) || ($1 != pid && $4 != 2)' "$T/threads")
	[ -z "$bad" ] && pass seccomp-every-thread ||
		fail seccomp-every-thread "threads without their filters (tid name seccomp filters nnp): $bad"
	names=$(awk '{print $2}' "$T/threads" | sort | tr '\n' ' ')
	want="kvmbox vcpu0 vcpu1 virtio-blk0 virtio-rng0 virtio-vsock0"
	missing=
	for n in $want; do grep -qw "$n" <<<"$names" || missing="$missing $n"; done
	[ -z "$missing" ] && pass seccomp-threads-named || fail seccomp-threads-named "missing$missing in: $names"
	# The control plane keeps working under the filters.
	s1=$(api PATCH /vm '{"state": "Paused"}'); s2=$(api GET /vm/config); s3=$(api PATCH /vm '{"state": "Resumed"}')
	[ "$s1 $s2 $s3" = "204 200 204" ] && ticking && pass seccomp-api-works ||
		fail seccomp-api-works "pause/config/resume answered $s1 $s2 $s3"
	"$KVMBOX" ctl "$T/api.sock" stop >/dev/null 2>&1
	ends_within 10
	grep -q 'seccomp' "$OUT" && fail seccomp-clean-exit "$(grep seccomp "$OUT" | head -n1)" || pass seccomp-clean-exit
else
	fail seccomp-every-thread "the guest did not start: $(tail -n3 "$OUT")"
fi
[ -n "$KPID" ] && { kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=; }

# ---- --no-seccomp ----
start off --no-seccomp
if wait_api; then
	threads >"$T/threads"
	bad=$(awk '$3 != 0' "$T/threads")
	[ -z "$bad" ] && [ -s "$T/threads" ] && pass seccomp-off || fail seccomp-off "filtered threads: $bad"
else
	fail seccomp-off "the API never answered: $(tail -n3 "$OUT")"
fi
kill -9 "$KPID" 2>/dev/null; wait "$KPID" 2>/dev/null; KPID=

# ---- A forbidden call stops kvmbox with one line naming it ----
probe() { # ROLE SYSCALL-NAME ROLE-WORD
	KVMBOX_SECCOMP_PROBE=$1 LD_PRELOAD=$T/probe.so start "probe-$1"
	if ends_within 30 && [ "$RC" = 159 ] &&
		grep -q "seccomp: system call [0-9]* ($2) is not in the allow-list of $3 threads" "$OUT"; then
		pass "seccomp-kills-$1"
	else
		fail "seccomp-kills-$1" "status $RC (expected 159, SIGSYS): $(grep -m1 -e seccomp -e error "$OUT")"
	fi
}
probe vcpu socket vcpu
probe vcpu-ioctl ioctl vcpu
if [ $SAN = 0 ]; then
	probe io openat io
	probe main execve main
fi

# ---- --seccomp log: the call goes through, the kernel logs it ----
KVMBOX_SECCOMP_PROBE=vcpu LD_PRELOAD=$T/probe.so start log --seccomp log
if wait_api && ticking; then
	pass seccomp-log-runs
	# Into a file first: `dmesg | grep -q` fails under pipefail when grep stops dmesg early.
	if dmesg >"$T/dmesg" 2>/dev/null; then
		grep -q "type=1326.* pid=$KPID comm=\"vcpu[01]\".* syscall=41 " "$T/dmesg" && pass seccomp-log-dmesg ||
			fail seccomp-log-dmesg "no audit record of vCPU socket() for pid $KPID in dmesg"
	fi
else
	fail seccomp-log-runs "kvmbox did not keep running: $(tail -n3 "$OUT")"
fi
kill -9 "$KPID" 2>/dev/null; wait "$KPID" 2>/dev/null; KPID=

# ---- Bad modes ----
"$KVMBOX" run --kernel "$GUEST" --seccomp maybe >"$T/bad" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "unknown --seccomp 'maybe' (kill, log, off)" "$T/bad" && [ "$(wc -l <"$T/bad")" = 1 ] &&
	pass seccomp-bad-mode || fail seccomp-bad-mode "status $rc: $(cat "$T/bad")"
"$KVMBOX" --api-sock "$T/x.sock" --seccomp >"$T/bad" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "needs a value" "$T/bad" && pass seccomp-bad-mode-serve || fail seccomp-bad-mode-serve "status $rc: $(cat "$T/bad")"
