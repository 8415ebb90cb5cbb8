#!/usr/bin/env bash
# virtio-vsock with the Linux test kernel, Firecracker's hybrid unix sockets on the host side, in
# one boot: a guest-initiated stream to <uds>_6000 carrying 4 MiB each way and a host-initiated
# one ("CONNECT 5000") carrying 1 MiB each way, with checksums compared across the two ends (and
# the pattern checked by each receiver); 32 connections at once each way;
# a guest connect to a host port nobody listens on (ECONNRESET); a guest process killed in the
# middle of a stream (the host sees the end, a new stream works after it); the guest's CID from
# config space. Around the boot: a stale socket file at the uds path is replaced, a second
# kvmbox on a live uds path is refused, and the socket file is gone after kvmbox exits.
# Programs: tests/integration/vsock/vsock_guest.c (in the guest), vsock_host.c (here).
source "$(dirname "$0")/lib.sh"
need_kvm virtio-vsock
# On kvm_pvm a guest moves ~0.1-0.4 MB/s through vsock (guest kernel code is emulated; kvmbox's
# I/O thread stays idle): 4 MiB each way is about a minute of the run. VSOCK_BIG=... for less.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-480}
# The ASan build (san-integration) moves the same protocol with 2 MiB: the guest is the slow part.
if [ "${O:-build}" = build-san ]; then BIG=${VSOCK_BIG:-2097152}; else BIG=${VSOCK_BIG:-4194304}; fi
MID=${VSOCK_MID:-1048576}
SMALL=${VSOCK_SMALL:-32768}
CID=3
# --vsock is part of kvmbox: an unknown option is a failure, not a skip.
if ! kvmbox_knows --vsock "cid=$CID,uds=/nonexistent/v.sock"; then
	fail virtio-vsock-option "kvmbox does not know --vsock"
	exit 1
fi
T=$(mktemp -d /tmp/kvmbox-vsock.XXXXXX)
UDS=$T/v.sock
PIDS=()
# Helpers started by this test.
stop_helpers() {
	local p
	[ -f "$T/pids" ] && while read -r p; do kill "$p" 2>/dev/null; done <"$T/pids"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
cleanup() {
	stop_helpers
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The test programs: the guest's static, added to a copy of the guest overlay.
prepare_linux_overlay
prepare_vsock_initrd "$T" vsock || { fail virtio-vsock-setup "$VSOCK_ERR"; exit 1; }

# A stale socket file where the uds goes (a crashed kvmbox's): it must be replaced.
"$T/vsock_host" stale "$UDS" || { fail virtio-vsock-setup "cannot make a stale socket at $UDS"; exit 1; }

# Host servers for the guest's connections: <uds>_PORT, before the guest exists.
HOUT=$T/host.out
: >"$HOUT"
serve() { "$T/vsock_host" serve "${UDS}_$1" "$2" "s$1" >>"$HOUT" 2>&1 & PIDS+=($!); }
serve 6000 1
serve 6001 32
serve 6002 1
serve 6003 1
for p in 6000 6001 6002 6003; do
	for _ in $(seq 1 50); do [ -S "${UDS}_$p" ] && break; sleep 0.1; done
done

OUT=$LOGDIR/vsock.log
t0=$SECONDS
timeout -k 5 "$BOOT_TIMEOUT" "$KVMBOX" run --kernel "$GUEST_KERNEL" --initrd "$VINITRD" --memory 512M \
	--vsock "cid=$CID,uds=$UDS" \
	--cmdline "console=ttyS0 panic=-1 kvmbox.run=vsock kvmbox.vsock_big=$BIG kvmbox.vsock_small=$SMALL" \
	</dev/null >"$OUT" 2>"$OUT.err" &
KPID=$!
PIDS+=("$KPID")

# The uds appears before the guest runs (devices are created first).
for _ in $(seq 1 100); do
	{ [ -S "$UDS" ] && [ "$(stat -c %a "$UDS")" = 600 ]; } && break
	kill -0 "$KPID" 2>/dev/null || break
	sleep 0.1
done
if [ -S "$UDS" ] && [ "$(stat -c %a "$UDS")" = 600 ]; then
	pass virtio-vsock-uds
else
	fail virtio-vsock-uds "no socket with mode 600 at $UDS (stale file not replaced?): $(head -c 300 "$OUT.err")"
fi

# Something live on the uds: a second kvmbox is refused, and the first one is left alone.
timeout -k 5 30 "$KVMBOX" run --kernel "$GUEST_KERNEL" --memory 64M --vsock "cid=4,uds=$UDS" \
	</dev/null >"$T/second.out" 2>"$T/second.err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "already listening on '$UDS'" "$T/second.err" && [ -S "$UDS" ]; then
	pass virtio-vsock-uds-in-use
else
	fail virtio-vsock-uds-in-use "second kvmbox on a live uds: status $rc, stderr: $(head -c 300 "$T/second.err")"
fi

# Host-initiated streams, once the guest says it listens (connecting earlier works too, the
# helper retries, but a storm of refused connections slows a booting guest down).
(
	while kill -0 "$KPID" 2>/dev/null; do
		gsays '^@T vsock.listen.5001=ready' "$OUT" && gsays '^@T vsock.listen.5000=ready' "$OUT" && break
		sleep 0.5
	done
	"$T/vsock_host" connect "$UDS" 5000 "$MID" 1 c5000 >>"$HOUT" 2>&1 &
	echo $! >>"$T/pids"
	"$T/vsock_host" connect "$UDS" 5001 "$SMALL" 32 c5001 >>"$HOUT" 2>&1 &
	echo $! >>"$T/pids"
	wait
) &
PIDS+=($!)

wait "$KPID"
RC=$?
echo "# vsock: boot+tests+poweroff $((SECONDS - t0)) s"
cat "$OUT.err" >>"$OUT"
# hval KEY: what the host programs printed as KEY=VALUE (last occurrence).
hval() { grep -a "^$1=" "$HOUT" | tail -n1 | cut -d= -f2-; }
# A host program still running has nothing more to say: stop it, so its lines are complete.
sleep 0.5
stop_helpers

if ! check_poweroff virtio-vsock-boot; then
	excerpt "$HOUT" 10
	exit 1
fi
pass virtio-vsock-boot
if [ "$(gval vsock.done)" != yes ]; then
	fail virtio-vsock-script "the guest's vsock.sh did not finish (vsock.done='$(gval vsock.done)')"
	excerpt "$OUT" 25
fi
expect_eq virtio-vsock-cid "the guest's CID" "$(gval vsock.cid)" "$CID"

# check_stream NAME WHAT BYTES SENT SENT_SUM RECEIVED RECEIVED_SUM: one direction of a stream, as
# its two ends saw it: all BYTES on both, the same checksum.
check_stream() {
	if [ "$4" = "$3" ] && [ "$6" = "$3" ] && [ -n "$5" ] && [ "$5" = "$7" ]; then
		pass "$1"
	else
		fail "$1" "$2: sent ${4:-?} bytes (sum ${5:-?}), received ${6:-?} bytes (sum ${7:-?}), expected $3"
	fi
}
check_stream virtio-vsock-guest-to-host "guest -> host, guest-initiated" "$BIG" \
	"$(gval vsock.g2h.sent)" "$(gval vsock.g2h.sent_sum)" "$(hval s6000.recv)" "$(hval s6000.recv_sum)"
check_stream virtio-vsock-host-to-guest "host -> guest, answer on the guest-initiated stream" "$BIG" \
	"$BIG" "$(hval s6000.sent_sum)" "$(gval vsock.g2h.recv)" "$(gval vsock.g2h.recv_sum)"
check_stream virtio-vsock-hybrid-host-to-guest "host -> guest, CONNECT 5000" "$MID" \
	"$(hval c5000.sent)" "$(hval c5000.sent_sum)" "$(gval vsock.listen.5000.recv)" \
	"$(gval vsock.listen.5000.recv_sum)"
check_stream virtio-vsock-hybrid-guest-to-host "guest -> host, answer on the CONNECT 5000 stream" \
	"$MID" "$MID" "$(gval vsock.listen.5000.sent_sum)" "$(hval c5000.recv)" "$(hval c5000.recv_sum)"
if [ "$(gval vsock.g2h.ok)" = 1 ] && [ "$(hval c5000.ok)" = 1 ] && [ "$(hval s6000.ok)" = 1 ] &&
	[ "$(gval vsock.listen.5000.ok)" = 1 ]; then
	pass virtio-vsock-content
else
	fail virtio-vsock-content "pattern checks: guest g2h '$(gval vsock.g2h.ok)', host s6000 '$(hval s6000.ok)', host c5000 '$(hval c5000.ok)', guest listen 5000 '$(gval vsock.listen.5000.ok)'"
fi
echo "# vsock: $BIG bytes each way (guest-initiated) in $(gval vsock.g2h.ms) ms, guest->host part $(gval vsock.g2h.send_ms) ms"

expect_eq virtio-vsock-guest-many-32 "guest-initiated streams at once, complete on both ends" \
	"$(gval vsock.many.6001.ok)/$(hval s6001.ok)" "32/32"
expect_eq virtio-vsock-host-many-32 "host-initiated streams at once, complete on both ends" \
	"$(gval vsock.listen.5001.ok)/$(hval c5001.ok)" "32/32"
lports=$(grep -a '^c5001.lport=' "$HOUT" | cut -d= -f2)
nl=$(echo "$lports" | grep -c .)
nu=$(echo "$lports" | sort -u | grep -c .)
low=$(echo "$lports" | awk '$1 < 1073741824' | grep -c .)
if [ "$nl" = 32 ] && [ "$nu" = 32 ] && [ "$low" = 0 ]; then
	pass virtio-vsock-local-ports
else
	fail virtio-vsock-local-ports "OK <port> answers: $nl, distinct $nu, below 2^30: $low"
fi

expect_eq virtio-vsock-refused "guest connect to a host port nobody listens on" \
	"$(gval vsock.refused.6999)" ECONNRESET

# The killed stream: the host read some of it and saw it end; kvmbox served the next one.
krecv=$(hval s6002.recv)
if [ -n "$krecv" ] && [ "$krecv" -gt 0 ] && [ "$(hval s6002.ok)" = 0 ] && [ "$(gval vsock.after_kill.ok)" = 1 ] &&
	[ "$(hval s6003.ok)" = 1 ]; then
	pass virtio-vsock-guest-killed
else
	fail virtio-vsock-guest-killed "host got ${krecv:-nothing} bytes of the killed stream (ok '$(hval s6002.ok)'), the next stream: guest '$(gval vsock.after_kill.ok)' host '$(hval s6003.ok)'"
fi

if [ -e "$UDS" ]; then
	fail virtio-vsock-uds-removed "$UDS is still there after kvmbox exited"
else
	pass virtio-vsock-uds-removed
fi
if grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$OUT"; then
	fail virtio-vsock-sanitizers "sanitizer report in $OUT"
	grep -m3 -E 'AddressSanitizer|runtime error|LeakSanitizer' "$OUT" | sed 's/^/    /'
fi
