#!/usr/bin/env bash
# Firecracker's REST API on kvmbox's unix socket, with curl --unix-socket against the real binary
# (`kvmbox --api-sock SOCK`): every endpoint and error class before InstanceStart; the socket's
# mode, stale/live/foreign files at its path; hostile clients (garbage, truncated and oversized
# requests, deep JSON, a client that hangs up mid-request, a slow one, 50 at once) after which
# kvmbox still answers; then a real InstanceStart of a guest that spins forever, the state rules
# after it, pause/resume (the guest's ticks stop and go on), and PUT /kvmbox/stop.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { fail api-setup "curl is not installed"; exit 1; }
command -v python3 >/dev/null || { fail api-setup "python3 is not installed (raw-socket clients)"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-api.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
SOCK=$T/api.sock

# api METHOD PATH [BODY|@FILE]: prints the HTTP status; the body goes to $T/body.
api() {
	local method=$1 path=$2 body=${3:-} code
	if [ -n "$body" ]; then
		code=$(curl -s -m 10 --unix-socket "$SOCK" -X "$method" -H 'Content-Type: application/json' \
			--data-binary "$body" -o "$T/body" -w '%{http_code}' "http://localhost$path")
	else
		code=$(curl -s -m 10 --unix-socket "$SOCK" -X "$method" -o "$T/body" -w '%{http_code}' \
			"http://localhost$path")
	fi
	echo "${code:-000}"
}
# check NAME WANT_STATUS BODY_REGEX METHOD PATH [BODY]: one request, its status and its body.
check() {
	local name=$1 want=$2 re=$3 got
	shift 3
	got=$(api "$@")
	if [ "$got" != "$want" ]; then
		fail "$name" "$1 $2: HTTP $got, expected $want; body: $(head -c 300 "$T/body")"
	elif [ -n "$re" ] && ! grep -qE -- "$re" "$T/body"; then
		fail "$name" "$1 $2: body lacks /$re/: $(head -c 300 "$T/body")"
	else
		pass "$name"
		return 0
	fi
	return 1
}
# start_kvmbox LOGNAME [ARGS]: kvmbox --api-sock $SOCK in the background (KPID), until it answers.
start_kvmbox() {
	local name=$1
	shift
	OUT=$T/$name.out
	"$KVMBOX" --api-sock "$SOCK" "$@" </dev/null >"$OUT" 2>"$T/$name.err" &
	KPID=$!
	PIDS+=("$KPID")
	for _ in $(seq 1 100); do
		[ -S "$SOCK" ] && [ "$(api GET /)" = 200 ] && return 0
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.05
	done
	fail "$name-start" "kvmbox --api-sock did not answer: $(head -c 300 "$T/$name.err")"
	return 1
}
# wait_exit SECONDS: until kvmbox (KPID) exits; RC = its status (or 999 on timeout).
wait_exit() {
	local end=$((SECONDS + $1))
	while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt "$end" ]; do sleep 0.05; done
	local timed_out=0
	if kill -0 "$KPID" 2>/dev/null; then
		timed_out=1
		kill -9 "$KPID"
	fi
	{ wait "$KPID"; } 2>/dev/null
	RC=$?
	[ "$timed_out" = 0 ] || RC=999
}
# alive NAME: kvmbox still answers GET / (after something hostile).
alive() {
	if kill -0 "$KPID" 2>/dev/null && [ "$(api GET /)" = 200 ] && grep -q '"state"' "$T/body"; then
		pass "$1"
	else
		fail "$1" "kvmbox no longer answers GET / (stderr: $(tail -c 300 "$T/api.err"))"
	fi
}
# raw PYTHON-SNIPPET: runs with s = a connected socket, SOCK in the environment.
raw() {
	SOCK=$SOCK python3 -c "
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ['SOCK'])
def recv_all(timeout=5):
    s.settimeout(timeout)
    data = b''
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    return data
$1"
}

K=$ROOT/$O/guests/spin.elf
[ -f "$K" ] || { fail api-setup "$K is missing (make builds it)"; exit 1; }
IMG=$T/root.img
IMG2=$T/data.img
truncate -s 1M "$IMG" "$IMG2"

# ------------------------------------------------------------------ before InstanceStart
start_kvmbox api || exit 1
mode=$(stat -c %a "$SOCK")
expect_eq api-socket-mode-0600 "socket mode" "$mode" 600
check api-get-instance 200 '"state":"Not started".*"app_name":"kvmbox"' GET /
grep -q '"id":"anonymous-instance"' "$T/body" && pass api-get-instance-id || fail api-get-instance-id "$(cat "$T/body")"
check api-get-version 200 '^\{"firecracker_version":"[^"]+"\}$' GET /version
check api-start-without-kernel 400 'Cannot start microvm without kernel configuration' \
	PUT /actions '{"action_type": "InstanceStart"}'
check api-get-machine-config 200 '"vcpu_count":1,"mem_size_mib":512' GET /machine-config
check api-put-machine-config 204 '' PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "smt": false, "cpu_template": "None"}'
check api-patch-machine-config 204 '' PATCH /machine-config '{"mem_size_mib": 128}'
check api-machine-config-applied 200 '"vcpu_count":2,"mem_size_mib":128' GET /machine-config
check api-machine-config-vcpus 400 'number of vCPUs must be greater than 0, less than 33' \
	PUT /machine-config '{"vcpu_count": 33, "mem_size_mib": 128}'
check api-machine-config-template 400 'CPU template T2 is not supported by kvmbox' \
	PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "T2"}'
check api-machine-config-empty-patch 400 'Empty PATCH request' PATCH /machine-config '{}'
check api-put-boot-source 204 '' PUT /boot-source "{\"kernel_image_path\": \"$K\", \"boot_args\": \"shift=27\"}"
check api-boot-source-missing-file 400 "Boot source error: cannot open kernel '/nonexistent'" \
	PUT /boot-source '{"kernel_image_path": "/nonexistent"}'
check api-put-drive-root 204 '' PUT /drives/rootfs \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$IMG\", \"is_root_device\": true, \"is_read_only\": true}"
check api-put-drive-data 204 '' PUT /drives/data \
	"{\"drive_id\": \"data\", \"path_on_host\": \"$IMG2\", \"is_root_device\": false, \"is_read_only\": false, \"cache_type\": \"Writeback\", \"io_engine\": \"Async\", \"rate_limiter\": {\"bandwidth\": {\"size\": 1048576, \"refill_time\": 1000}}}"
check api-drive-second-root 400 'A root block device already exists!' PUT /drives/data \
	"{\"drive_id\": \"data\", \"path_on_host\": \"$IMG2\", \"is_root_device\": true}"
check api-drive-id-mismatch 400 'The id from the path does not match the id from the body!' PUT /drives/other \
	"{\"drive_id\": \"data\", \"path_on_host\": \"$IMG2\", \"is_root_device\": false}"
check api-drive-bad-id 400 'alphanumeric characters and underscores' PUT /drives/a-b \
	"{\"drive_id\": \"a-b\", \"path_on_host\": \"$IMG2\", \"is_root_device\": false}"
check api-drive-missing-file 400 'Drive config error: cannot open disk image' PUT /drives/x \
	'{"drive_id": "x", "path_on_host": "/nonexistent.img", "is_root_device": false}'
check api-patch-drive-preboot 204 '' PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$IMG2\"}"
check api-put-net 204 '' PUT /network-interfaces/eth0 \
	'{"iface_id": "eth0", "host_dev_name": "kvmboxtap0", "guest_mac": "06:00:ac:10:00:02"}'
check api-net-bad-mac 400 'invalid guest_mac' PUT /network-interfaces/eth1 \
	'{"iface_id": "eth1", "host_dev_name": "kvmboxtap1", "guest_mac": "01:02:03:04:05:06"}'
check api-net-id-mismatch 400 'The id from the path \[eth1\] does not match the id from the body \[eth2\]!' \
	PUT /network-interfaces/eth1 '{"iface_id": "eth2", "host_dev_name": "kvmboxtap1"}'
check api-patch-net-preboot 400 'not supported before starting the microVM' \
	PATCH /network-interfaces/eth0 '{"iface_id": "eth0"}'
check api-put-vsock 204 '' PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$T/v.sock\"}"
check api-vsock-cid 400 'guest_cid must be at least 3' PUT /vsock "{\"guest_cid\": 2, \"uds_path\": \"$T/v.sock\"}"
check api-put-entropy 204 '' PUT /entropy '{}'
check api-put-serial 204 '' PUT /serial "{\"serial_out_path\": \"$T/serial.out\"}"
check api-put-serial-reset 204 '' PUT /serial '{}'
check api-put-logger 204 '' PUT /logger "{\"log_path\": \"$T/kvmbox.log\", \"level\": \"Info\", \"show_level\": true}"
check api-logger-bad-level 400 'unknown variant `Loud`' PUT /logger '{"level": "Loud"}'
check api-put-metrics 204 '' PUT /metrics "{\"metrics_path\": \"$T/metrics.json\"}"
check api-metrics-twice 400 'Reinitialization of metrics not allowed' PUT /metrics "{\"metrics_path\": \"$T/m2\"}"
if check api-get-vm-config 200 '"boot-source":\{"kernel_image_path"' GET /vm/config; then
	if jq -e '.drives[0].drive_id == "rootfs" and .drives[0].is_root_device and (.drives | length) == 2
		and .["machine-config"].vcpu_count == 2 and .["network-interfaces"][0].iface_id == "eth0"
		and .vsock.guest_cid == 3 and .entropy == {} and .metrics.metrics_path != null' "$T/body" >/dev/null; then
		pass api-vm-config-content
	else
		fail api-vm-config-content "$(head -c 400 "$T/body")"
	fi
	# The document is Firecracker's --config-file format: kvmbox loads it back (then starts, and
	# fails on the tap here only if the host has no CAP_NET_ADMIN: that is after the load).
	cp "$T/body" "$T/vm.json"
fi
# Post-boot-only requests before InstanceStart.
check api-pause-preboot 400 'The requested operation is not supported before starting the microVM.' \
	PATCH /vm '{"state": "Paused"}'
check api-ctrl-alt-del-preboot 400 'not supported before starting' PUT /actions '{"action_type": "SendCtrlAltDel"}'
check api-flush-metrics-preboot 400 'not supported before starting' PUT /actions '{"action_type": "FlushMetrics"}'
# Request errors: paths, methods, bodies.
check api-unknown-path 400 '"fault_message":"Invalid request method and/or path: GET /nope.' GET /nope
check api-wrong-method 400 'Invalid request method and/or path: DELETE /machine-config' DELETE /machine-config
check api-post 400 'Invalid request method and/or path: POST /actions' POST /actions '{"action_type": "InstanceStart"}'
check api-get-with-body 400 'GET request cannot have a body' GET / '{}'
check api-empty-put 400 'Empty PUT request' PUT /boot-source
check api-bad-json 400 'An error occurred when deserializing the json body of a request' PUT /machine-config '{"vcpu_count": 1,'
check api-unknown-field 400 'unknown field `bogus`' PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64, "bogus": true}'
check api-missing-field 400 'missing field `mem_size_mib`' PUT /machine-config '{"vcpu_count": 1}'
check api-wrong-type 400 'invalid type for `vcpu_count`' PUT /machine-config '{"vcpu_count": "1", "mem_size_mib": 64}'
check api-duplicate-key 400 'duplicate' PUT /machine-config '{"vcpu_count": 1, "vcpu_count": 2, "mem_size_mib": 64}'
check api-unknown-action 400 'unknown variant `Reboot`' PUT /actions '{"action_type": "Reboot"}'
check api-config-unchanged 200 '"vcpu_count":2,"mem_size_mib":128' GET /machine-config
check api-stats-preboot 400 'Cannot read the statistics' GET /kvmbox/stats

# ------------------------------------------------------------------ hostile clients
python3 -c 'print("[" * 100000, end="")' >"$T/deep.json"
check api-deep-json-over-limit 400 'larger than the limit of 51200' PUT /machine-config "@$T/deep.json"
python3 -c 'print("[" * 50000, end="")' >"$T/deep2.json"
check api-deep-json 400 'deserializing the json body' PUT /machine-config "@$T/deep2.json"
head -c 60000 /dev/zero | tr '\0' ' ' >"$T/big.json"
check api-huge-body 400 'Request payload with size 60000 is larger than the limit of 51200' PUT /boot-source "@$T/big.json"
code=$(curl -s -m 10 --unix-socket "$SOCK" -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)" \
	-o "$T/body" -w '%{http_code}' http://localhost/)
if [ "$code" = 400 ] && grep -q 'headers too large' "$T/body"; then pass api-huge-headers; else
	fail api-huge-headers "HTTP $code: $(head -c 200 "$T/body")"; fi
out=$(raw 's.sendall(b"\x16\x03\x01\x00\xa5garbage\r\n\r\n"); sys.stdout.write(recv_all().decode("latin1"))')
case $out in "HTTP/1.1 400 Bad Request"*"Connection: close"*fault_message*) pass api-garbage ;;
*) fail api-garbage "got: $(head -c 200 <<<"$out")" ;; esac
out=$(raw 's.sendall(b"GET / HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\n\r\nGET /machine-config HTTP/1.1\r\nConnection: close\r\n\r\n"); sys.stdout.write(recv_all().decode())')
if [ "$(grep -o 'HTTP/1.1 200 OK' <<<"$out" | wc -l)" = 3 ] && grep -q firecracker_version <<<"$out"; then
	pass api-pipelined; else fail api-pipelined "got: $(head -c 300 <<<"$out")"; fi
out=$(raw 's.sendall(b"PUT /drives/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"drive_id\""); s.shutdown(socket.SHUT_WR); sys.stdout.write(recv_all().decode())')
case $out in *"400 Bad Request"*"Truncated HTTP request"*) pass api-truncated ;;
*) fail api-truncated "got: $(head -c 200 <<<"$out")" ;; esac
raw 's.sendall(b"PUT /boot-source HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"kern"); s.close()'
alive api-alive-after-disconnect
# A slow client: a partial request, then silence. kvmbox drops it after 10 s and serves others
# meanwhile. (In the background: the tests below run during its wait.)
raw 's.sendall(b"GET /version HT"); print("sent", flush=True); t = time.time(); d = recv_all(30); print("closed after %.1f s: %r" % (time.time() - t, d[:60]))' >"$T/slow.out" 2>&1 &
SLOW=$!
for _ in $(seq 1 100); do grep -qs sent "$T/slow.out" && break; sleep 0.05; done
# 50 clients at once: API_SERVER_MAX_CONNS (32) are served, the rest closed at once; then the
# socket serves again.
out=$(raw '
conns = [s]
for i in range(49):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(os.environ["SOCK"]); conns.append(c)
time.sleep(0.5)
ok = closed = 0
for c in conns:
    try:
        c.settimeout(3); c.sendall(b"GET / HTTP/1.1\r\n\r\n"); d = c.recv(4096)
        if d.startswith(b"HTTP/1.1 200"): ok += 1
        else: closed += 1
    except OSError:
        closed += 1
print(ok, closed)')
# The slow client holds one of the 32 slots (and a connection of an earlier test may not be
# closed on the server's side yet): 28-31 served, every other one closed, none left hanging.
read -r ok closed <<<"$out"
if [ "${ok:-0}" -ge 28 ] && [ "$ok" -le 31 ] && [ $((ok + closed)) = 50 ]; then
	pass "api-50-clients ($ok served, $closed closed)"
else
	fail api-50-clients "served/closed: $out"
fi
alive api-alive-after-50-clients
out=$(for _ in $(seq 1 50); do curl -s -m 10 --unix-socket "$SOCK" -o /dev/null -w '%{http_code}\n' http://localhost/ & done; wait)
n=$(grep -c '^200$' <<<"$out")
[ "$n" -ge 30 ] && pass "api-50-curls ($n of 50 served)" || fail api-50-curls "only $n of 50 answered 200"
alive api-alive-after-50-curls
wait "$SLOW"
if grep -qE "closed after (9|1[0-4])\.[0-9] s: b''" "$T/slow.out"; then pass api-slow-client-dropped; else
	fail api-slow-client-dropped "$(cat "$T/slow.out")"; fi
alive api-alive-after-slow-client

# ------------------------------------------------------------------ the socket file
# A live socket is refused, and left alone.
"$KVMBOX" --api-sock "$SOCK" </dev/null >"$T/second.out" 2>"$T/second.err"
rc=$?
if [ "$rc" = 2 ] && grep -q "in use" "$T/second.err" && [ "$(api GET /)" = 200 ]; then pass api-live-socket-refused; else
	fail api-live-socket-refused "status $rc: $(head -c 300 "$T/second.err")"; fi
# A killed kvmbox leaves a stale socket: the next one replaces it.
disown "$KPID" # no "Killed" notice from bash
kill -9 "$KPID"
for _ in $(seq 1 100); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.05; done
[ -S "$SOCK" ] || fail api-stale-socket-left "no socket file after SIGKILL"
start_kvmbox stale && pass api-stale-socket-replaced
check api-stop-preboot 204 '' PUT /kvmbox/stop
wait_exit 10
expect_eq api-stop-preboot-exit "exit status" "$RC" 0
[ -e "$SOCK" ] && fail api-socket-removed "the socket file is still there after exit" || pass api-socket-removed
# A file that is not a socket is never replaced.
echo precious >"$SOCK"
"$KVMBOX" --api-sock "$SOCK" </dev/null >"$T/file.out" 2>"$T/file.err"
rc=$?
if [ "$rc" = 2 ] && [ "$(cat "$SOCK")" = precious ] && grep -q "not a socket" "$T/file.err"; then
	pass api-foreign-file-kept; else fail api-foreign-file-kept "status $rc: $(head -c 300 "$T/file.err")"; fi
rm -f "$SOCK"

# ------------------------------------------------------------------ InstanceStart and after
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	skip api-instance-start "no usable /dev/kvm"
	exit 0
fi
start_kvmbox run || exit 1
check api-run-boot-source 204 '' PUT /boot-source "{\"kernel_image_path\": \"$K\", \"boot_args\": \"shift=26\"}"
check api-run-machine-config 204 '' PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
check api-run-metrics 204 '' PUT /metrics "{\"metrics_path\": \"$T/run-metrics.json\"}"
t0=$(date +%s%N)
check api-instance-start 204 '' PUT /actions '{"action_type": "InstanceStart"}'
echo "    InstanceStart answered in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check api-state-running 200 '"state":"Running"' GET /
# ticks: the guest's last complete "@T tick=N" (the line after it may still be arriving: the
# guest writes one character per port write).
ticks() { grep -a -o '@T tick=[0-9]*' "$OUT" | tail -n2 | head -n1 | cut -d= -f2; }
for _ in $(seq 1 100); do [ -n "$(ticks)" ] && [ "$(ticks)" -ge 2 ] && break; sleep 0.1; done
[ -n "$(ticks)" ] && pass api-guest-runs || fail api-guest-runs "no ticks from the guest: $(tail -c 200 "$OUT")"
check api-boot-source-after-start 400 'The requested operation is not supported after starting the microVM.' \
	PUT /boot-source "{\"kernel_image_path\": \"$K\"}"
check api-machine-config-after-start 400 'not supported after starting' PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
check api-drive-after-start 400 'not supported after starting' PUT /drives/rootfs \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$IMG\", \"is_root_device\": true}"
check api-instance-start-twice 400 'not supported after starting' PUT /actions '{"action_type": "InstanceStart"}'
check api-pause 204 '' PATCH /vm '{"state": "Paused"}'
check api-state-paused 200 '"state":"Paused"' GET /
a=$(ticks)
sleep 1.5
b=$(ticks)
[ -n "$a" ] && [ "$a" = "$b" ] && pass api-paused-guest-stops || fail api-paused-guest-stops "ticks went from $a to $b while paused: $(tail -c 120 "$OUT" | tr "\r\n" "  ")"
check api-pause-again 204 '' PATCH /vm '{"state": "Paused"}'
check api-resume 204 '' PATCH /vm '{"state": "Resumed"}'
check api-state-resumed 200 '"state":"Running"' GET /
for _ in $(seq 1 50); do [ "$(ticks)" != "$b" ] && break; sleep 0.1; done
[ "$(ticks)" != "$b" ] && pass api-resumed-guest-runs || fail api-resumed-guest-runs "ticks stuck at $b after resume"
check api-flush-metrics 204 '' PUT /actions '{"action_type": "FlushMetrics"}'
if [ -s "$T/run-metrics.json" ] && tail -n1 "$T/run-metrics.json" | jq -e 'type == "object"' >/dev/null; then
	pass api-metrics-line; else fail api-metrics-line "no JSON line in the metrics file"; fi
check api-ctrl-alt-del 204 '' PUT /actions '{"action_type": "SendCtrlAltDel"}'
check api-stats 200 '"vcpus"' GET /kvmbox/stats
check api-vm-config-after-start 200 '"kernel_image_path"' GET /vm/config
check api-stop 204 '' PUT /kvmbox/stop
wait_exit 10
expect_eq api-stop-exit "exit status" "$RC" 0

# The GET /vm/config document as --config-file (no network: that needs CAP_NET_ADMIN).
if [ -f "$T/vm.json" ]; then
	jq --arg k "$K" '.["network-interfaces"] = [] | .["boot-source"] = {kernel_image_path: $k} | .metrics = null
		| .logger = null | .drives = [.drives[] | .is_read_only = true]' "$T/vm.json" >"$T/vm2.json"
	start_kvmbox config --config-file "$T/vm2.json" || exit 1
	check api-config-file-started 200 '"state":"Running"' GET /
	check api-config-file-vcpus 200 '"vcpu_count":2' GET /machine-config
	check api-config-file-stop 204 '' PUT /kvmbox/stop '{"exit_status": 3}'
	wait_exit 10
	expect_eq api-config-file-exit "exit status" "$RC" 3
fi
echo '{"boot-source": {"kernel_image_path": "/nonexistent"}, "bogus": {}}' >"$T/bad.json"
"$KVMBOX" --config-file "$T/bad.json" --no-api </dev/null >"$T/bad.out" 2>"$T/bad.err"
rc=$?
if [ "$rc" = 2 ] && grep -q 'unknown key "bogus"' "$T/bad.err"; then pass api-config-file-unknown-key; else
	fail api-config-file-unknown-key "status $rc: $(head -c 300 "$T/bad.err")"; fi
