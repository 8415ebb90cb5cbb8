#!/usr/bin/env bash
# Snapshot/restore with devices busy (issue 7), the Linux test kernel with 2 vCPUs, an ext4
# virtio-blk disk and virtio-net on a tap, all inside a network namespace the test makes:
#  - the snapshot is taken with both vCPUs busy and a writer appending to a file on the disk (the
#    pause drains the requests in flight); the original is killed without running on;
#  - the restored copy (network_overrides through --net-override: its NIC on another tap, with the
#    first one's MAC on the host side so the guest's ARP entry stays right) finishes the writer,
#    syncs and unmounts: the host's e2fsck finds the file system clean and debugfs reads exactly the
#    lines the guest counted;
#  - the guest pings the host and downloads a file over HTTP through the restored NIC;
#  - vsock: a stream to a host socket before the snapshot, and a new one from the restored guest
#    (its connections from before are gone; new ones work, through the same uds path);
#  - the serial console keeps working (the guest reads the line that resumes it).
source "$(dirname "$0")/lib.sh"
need_kvm snapshot-devices
[ "$(id -u)" -eq 0 ] || { skip snapshot-devices "needs root (network namespace, tap)"; exit 0; }
[ -c /dev/net/tun ] || { skip snapshot-devices "no /dev/net/tun"; exit 0; }
command -v ip >/dev/null || { skip snapshot-devices "no ip (iproute2)"; exit 0; }
for c in mkfs.ext4 e2fsck debugfs; do
	command -v $c >/dev/null || { skip snapshot-devices "$c not installed (e2fsprogs)"; exit 0; }
done
prepare_linux_overlay
# vsock's programs (tests/integration/vsock): the guest's, static, in a copy of the overlay.
T=$(mktemp -d /tmp/kvmbox-sdev.XXXXXX)
if ! prepare_vsock_initrd "$T" snapshot-devices; then
	fail snapshot-devices-setup "$VSOCK_ERR"
	rm -rf "$T"
	exit 1
fi
SINITRD=$VINITRD
BUSYBOX=$("$ROOT/scripts/fetch-busybox.sh" 2>"$LOGDIR/fetch-busybox.log") || {
	fail snapshot-devices-setup "scripts/fetch-busybox.sh failed (see $LOGDIR/fetch-busybox.log)"
	exit 1
}
NS=kvmbox-s$$
HOSTMAC=02:00:00:00:0a:01
UDS=$T/v.sock
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	exec 8>&- 9>&- 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NS" || { fail snapshot-devices-setup "ip netns add failed"; exit 1; }
ip -n "$NS" link set lo up
mkdir -p "$T/www"
head -c $((256 * 1024 + 5)) /dev/urandom >"$T/www/down.bin"
ip netns exec "$NS" "$BUSYBOX" httpd -f -p 8080 -h "$T/www" &
PIDS+=($!)
# Two streams to host port 6000: one before the snapshot, one from the restored guest.
"$T/vsock_host" serve "${UDS}_6000" 2 s6000 >"$T/host.out" 2>&1 &
PIDS+=($!)
truncate -s 64M "$T/disk.img"
mkfs.ext4 -q -F "$T/disk.img" || { fail snapshot-devices-setup "mkfs.ext4 failed"; exit 1; }

# tap_up NAME PID: configure the host side of tap NAME once kvmbox (PID) has made it.
tap_up() {
	for _ in $(seq 1 300); do
		kill -0 "$2" 2>/dev/null || return 1
		if ip -n "$NS" link show "$1" >/dev/null 2>&1; then
			ip -n "$NS" link set "$1" address "$HOSTMAC" &&
				ip -n "$NS" addr add 10.0.2.1/24 dev "$1" && ip -n "$NS" link set "$1" up
			return
		fi
		sleep 0.1
	done
	return 1
}

mkfifo "$T/in0" "$T/in1"
exec 8<>"$T/in0" 9<>"$T/in1"
OUT=$LOGDIR/snapshot-devices.log
ip netns exec "$NS" "$KVMBOX" run --kernel "$GUEST_KERNEL" --initrd "$SINITRD" --memory 512M --cpus 2 \
	--disk "path=$T/disk.img" --net "tap=tap0,mac=52:54:00:12:34:56" --vsock "cid=7,uds=$UDS" \
	--api-sock "$T/a.sock" \
	--cmdline "console=ttyS0 panic=-1 kvmbox.run=snapshot_dev" <"$T/in0" >"$OUT" 2>"$OUT.err" &
KPID=$!
PIDS+=("$KPID")
tap_up tap0 "$KPID" || fail snapshot-devices-tap "tap0 never appeared"
if ! wait_log "${BOOT_TIMEOUT:-420}" '^@T ready=yes' "$OUT"; then
	fail snapshot-devices-boot "the guest never got ready"
	excerpt "$OUT"
	exit 0
fi
expect_eq snapshot-devices-nproc "guest CPUs" "$(gval nproc)" 2
expect_eq snapshot-devices-mount "mount status" "$(gval mount)" 0
expect_eq snapshot-devices-vsock-before "vsock stream before the snapshot" "$(gval vsock.before.ok)" 1
if "$KVMBOX" ctl "$T/a.sock" pause >"$T/ctl.out" 2>&1 && "$KVMBOX" ctl "$T/a.sock" snapshot "$T/snap" >>"$T/ctl.out" 2>&1; then
	pass snapshot-devices-create
else
	fail snapshot-devices-create "$(cat "$T/ctl.out")"
	exit 0
fi
kill -9 "$KPID"
wait "$KPID" 2>/dev/null

OUT=$LOGDIR/snapshot-devices-restored.log
ip netns exec "$NS" "$KVMBOX" run --restore "$T/snap" --net-override net0=tap1 -v \
	<"$T/in1" >"$OUT" 2>"$OUT.err" &
RPID=$!
PIDS+=("$RPID")
if tap_up tap1 "$RPID"; then pass snapshot-devices-override; else fail snapshot-devices-override "no tap1: $(tail -c 300 "$OUT.err")"; fi
echo resumed >&9
if wait_log 300 '^@T done=yes' "$OUT"; then
	pass snapshot-devices-restored-runs
else
	fail snapshot-devices-restored-runs "the restored guest did not finish: $(tail -c 300 "$OUT.err")"
	excerpt "$OUT"
fi
expect_eq snapshot-devices-console "the line the restored guest read" "$(gval line)" resumed
expect_eq snapshot-devices-umount "umount status" "$(gval umount)" 0
for _ in $(seq 1 1200); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
kill -9 "$RPID" 2>/dev/null
wait "$RPID"
RC=$?
expect_eq snapshot-devices-poweroff "the restored kvmbox's exit status" "$RC" 0
if e2fsck -fn "$T/disk.img" >"$T/fsck.out" 2>&1; then
	pass snapshot-devices-fsck
else
	fail snapshot-devices-fsck "$(tail -n 5 "$T/fsck.out" | tr '\n' ' ')"
fi
debugfs -R "cat /log" "$T/disk.img" 2>/dev/null >"$T/log"
expect_eq snapshot-devices-disk-lines "lines on the disk (debugfs)" "$(wc -l <"$T/log")" "$(gval lines)"
expect_eq snapshot-devices-disk-sha "SHA-256 of the file on the disk" "$(sha_of "$T/log")" "$(gval written)"
[ "$(tail -n1 "$T/log")" = "line $(gval lines)" ] && pass snapshot-devices-disk-order ||
	fail snapshot-devices-disk-order "the last line is '$(tail -n1 "$T/log")'"
expect_eq snapshot-devices-ping "ping status after restore" "$(gval ping_rc)" 0
expect_eq snapshot-devices-wget "SHA-256 of the file fetched after restore" "$(gval down_sha)" "$(sha_of "$T/www/down.bin")"
expect_eq snapshot-devices-vsock-after "vsock stream from the restored guest" "$(gval vsock.after.ok)" 1
for _ in $(seq 1 50); do grep -q 's6000.ok=' "$T/host.out" && break; sleep 0.1; done
expect_eq snapshot-devices-vsock-host "streams the host served completely" "$(sed -n 's/^s6000.ok=//p' "$T/host.out")" 2
check_guest_procs snapshot-devices-procs
