# kvmbox.run=snapshot_dev: devices across a snapshot (tests/integration/test_snapshot_devices.sh).
# Before: both vCPUs busy, a writer appending to a file on an ext4 virtio-blk disk (requests in
# flight when the snapshot is taken), eth0 up as 10.0.2.15; "@T ready=yes", then a wait for a line
# on the console, which only the restored copy gets. After: the writer stops and the disk is synced
# and unmounted (the host checks the file system), then a ping and an HTTP download from the host
# (10.0.2.1, on the tap the restored NIC was moved to). With /bin/vsock_guest (the test adds it), a
# vsock stream to host port 6000 before the snapshot and another after the restore.
. /etc/kvmbox/common.inc

ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
mkdir -p /mnt/d
mount -t ext4 /dev/vda /mnt/d
r mount $?
r nproc "$(nproc)"
V=/bin/vsock_guest
if [ -x "$V" ]; then
	[ -d /lib/modules ] && modprobe vmw_vsock_virtio_transport 2>/dev/null
	$V connect 6000 100000 before
fi
(while :; do :; done) &
b1=$!
(while :; do :; done) &
b2=$!
(
	i=0
	while [ ! -e /tmp/stop ]; do
		i=$((i + 1))
		echo "line $i" >>/mnt/d/log
		[ $((i % 20)) = 0 ] && sync
	done
	echo "$i" >/tmp/count
) &
w=$!
sleep 3
r ready yes
read -r line
r line "$line"
touch /tmp/stop
wait "$w"
kill "$b1" "$b2"
r lines "$(cat /tmp/count)"
sync
r written "$(sha /mnt/d/log)"
umount /mnt/d
r umount $?
ping -c 3 -W 5 10.0.2.1 >/tmp/ping.out 2>&1
r ping_rc $?
cat /tmp/ping.out
timeout 120 wget -q -O /tmp/down.bin "http://10.0.2.1:8080/down.bin"
r wget_rc $?
r down_sha "$(sha /tmp/down.bin)"
[ -x "$V" ] && $V connect 6000 100000 after
r done yes
