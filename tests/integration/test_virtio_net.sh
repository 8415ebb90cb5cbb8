#!/usr/bin/env bash
# virtio-net on a tap, with the Linux test kernel, all inside a network namespace the test creates
# (nothing touches the host's own network): kvmbox runs in the namespace and creates tap0 there; the
# test gives tap0 10.0.2.1/24 and serves a file over HTTP (busybox httpd) and receives one (busybox nc).
# The guest (10.0.2.15) pings the host side, fetches the file with wget and sends one with nc; the
# checksums are compared on both sides, and the host's neighbour table must show the guest's MAC.
source "$(dirname "$0")/lib.sh"
need_kvm virtio-net
need_option virtio-net --net tap=tap0
prepare_linux_overlay
[ "$(id -u)" -eq 0 ] || { skip virtio-net "needs root (network namespace, tap)"; exit 0; }
[ -c /dev/net/tun ] || { skip virtio-net "no /dev/net/tun"; exit 0; }
command -v ip >/dev/null || { skip virtio-net "no ip (iproute2)"; exit 0; }
BOOT_TIMEOUT=${BOOT_TIMEOUT:-360}
BUSYBOX=$("$ROOT/scripts/fetch-busybox.sh" 2>"$LOGDIR/fetch-busybox.log") || {
	fail virtio-net-setup "scripts/fetch-busybox.sh failed (see $LOGDIR/fetch-busybox.log)"
	exit 1
}
NS=kvmbox-t$$
MAC=52:54:00:12:34:56
N=100000 # the guest sends `seq 1 N` (590 kB)
T=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# Anything else still in the namespace was started by this test.
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ip netns add "$NS" || { fail virtio-net-setup "ip netns add $NS failed"; exit 1; }
ip -n "$NS" link set lo up

# Bad input: status 2 and a message before anything starts (run in the namespace too, so even a
# kvmbox that wrongly creates the tap first leaves the host's network alone).
printf '#!/usr/bin/env bash\nexec ip netns exec %q %q "$@"\n' "$NS" "$KVMBOX" >"$T/kvmbox-in-ns"
chmod +x "$T/kvmbox-in-ns"
K=(--kernel "$GUEST_KERNEL" --initrd "$INITRD")
KVMBOX=$T/kvmbox-in-ns expect_bad virtio-net-bad-mac "zz:54" "${K[@]}" --net tap=tap9,mac=zz:54:00:12:34:56
KVMBOX=$T/kvmbox-in-ns expect_bad virtio-net-bad-no-tap "tap" "${K[@]}" --net mac=52:54:00:12:34:56
KVMBOX=$T/kvmbox-in-ns expect_bad virtio-net-bad-tap-name "kvmbox-tap-name-too-long" "${K[@]}" \
	--net tap=kvmbox-tap-name-too-long

# Host side, listening on every address of the (private) namespace before the guest exists.
# (ip netns exec execs its command, so $! is the server's own pid.)
mkdir -p "$T/www"
head -c $((1024 * 1024 + 77)) /dev/urandom >"$T/www/down.bin"
DOWNSHA=$(sha_of "$T/www/down.bin")
ip netns exec "$NS" "$BUSYBOX" httpd -f -vv -p 8080 -h "$T/www" 2>"$T/httpd.log" &
PIDS+=($!)
# busybox nc exits when the peer closes, and half-closes when its stdin ends: a FIFO opened
# read-write as stdin never ends, so nc keeps reading until the guest has sent everything.
mkfifo "$T/ncin"
ip netns exec "$NS" "$BUSYBOX" nc -l -p 5555 <>"$T/ncin" >"$T/up.bin" 2>"$T/nc.log" &
NC_PID=$!
PIDS+=("$NC_PID")

t0=$SECONDS
OUT=$LOGDIR/net.log
timeout -k 5 "$BOOT_TIMEOUT" ip netns exec "$NS" "$KVMBOX" run --kernel "$GUEST_KERNEL" \
	--initrd "$INITRD" --memory 512M --net "tap=tap0,mac=$MAC" \
	--cmdline "console=ttyS0 panic=-1 kvmbox.run=net kvmbox.n=$N" </dev/null >"$OUT" 2>&1 &
KPID=$!
PIDS+=("$KPID")

# kvmbox creates tap0 when it starts: configure the host side as soon as it is there.
tap=no
for _ in $(seq 1 300); do
	kill -0 "$KPID" 2>/dev/null || break
	if ip -n "$NS" link show tap0 >/dev/null 2>&1; then
		tap=yes
		break
	fi
	sleep 0.1
done
if [ $tap = yes ] && ip -n "$NS" addr add 10.0.2.1/24 dev tap0 && ip -n "$NS" link set tap0 up; then
	pass virtio-net-tap-created
else
	fail virtio-net-tap-created "no tap0 in the namespace 30 s after kvmbox started (or it could not be configured)"
fi

# The upload is complete when the host's nc exits (the guest closed); look at the neighbour table
# then, while tap0 still exists.
neigh=
while kill -0 "$KPID" 2>/dev/null; do
	if [ -z "$neigh" ] && ! kill -0 "$NC_PID" 2>/dev/null; then
		neigh=$(ip -n "$NS" neigh show dev tap0 2>/dev/null | tr '\n' ';')
		[ -n "$neigh" ] || neigh=none
	fi
	sleep 0.5
done
wait "$KPID"
RC=$?
echo "# net: boot+poweroff $((SECONDS - t0)) s"

if check_poweroff virtio-net-boot; then
	pass virtio-net-boot
	if [ "$(gval net.done)" != yes ]; then
		fail virtio-net-script "the guest's net.sh did not finish (no '@T net.done=yes')"
		excerpt "$OUT" 25
	fi
	expect_eq virtio-net-transport "driver of eth0's virtio device" "$(gval net.transport)" virtio-pci
	expect_eq virtio-net-mac "eth0's MAC in the guest (--net mac=)" "$(gval net.mac)" "$MAC"
	sent=$(gval net.ping_sent) got=$(gval net.ping_received)
	if [ "$(gval net.ping_rc)" = 0 ] && [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$got" = "$sent" ]; then
		pass virtio-net-ping
	else
		fail virtio-net-ping "ping 10.0.2.1: status '$(gval net.ping_rc)', $got of $sent replies"
		excerpt "$OUT" 25
	fi
	expect_eq virtio-net-wget-status "guest wget status" "$(gval net.wget_rc)" 0
	expect_eq virtio-net-host-to-guest "SHA-256 of the file the guest fetched" "$(gval net.down_sha)" "$DOWNSHA"
	if grep -q 'url:/down.bin' "$T/httpd.log" && grep -q 'response:200' "$T/httpd.log"; then
		pass virtio-net-httpd-served
	else
		fail virtio-net-httpd-served "busybox httpd logged no successful request for /down.bin: $(tr '\n' ';' <"$T/httpd.log")"
	fi
	want=$(seq 1 "$N" | sha256sum | cut -d' ' -f1)
	expect_eq virtio-net-guest-file "SHA-256 of the file the guest sent, computed in the guest" \
		"$(gval net.up_sha)" "$want"
	expect_eq virtio-net-guest-to-host "SHA-256 of what the host received ($(stat -c %s "$T/up.bin") bytes)" \
		"$(sha_of "$T/up.bin")" "$want"
	expect_eq virtio-net-nc-status "guest nc status" "$(gval net.nc_rc)" 0
	if [[ $neigh == *"10.0.2.15 lladdr $MAC"* ]]; then
		pass virtio-net-host-neighbour
	else
		fail virtio-net-host-neighbour "the host side has no neighbour entry 10.0.2.15 -> $MAC: '${neigh:-never looked}'"
	fi
fi
