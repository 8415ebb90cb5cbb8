# kvmbox.run=net: exercise virtio-net on a tap (tests/integration/test_virtio_net.sh).
# The host side of the tap is 10.0.2.1/24 with an HTTP server on :8080 serving /down.bin and a
# listener on :5555 that stores what it receives; the guest is 10.0.2.15/24.
#   kvmbox.n=N   the file sent to the host is the output of `seq 1 N`
. /etc/kvmbox/common.inc

host=10.0.2.1
n=$(karg kvmbox.n)
n=${n:-400000}
ip link set lo up
r net.mac "$(cat /sys/class/net/eth0/address)"
r net.transport "$(basename "$(readlink "$(readlink -f /sys/class/net/eth0/device)/../driver")")"
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
r net.ifup $?

ping -c 3 -W 5 "$host" >/tmp/ping.out 2>&1
r net.ping_rc $?
cat /tmp/ping.out
r net.ping_sent "$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping.out)"
r net.ping_received "$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.out)"

# Not wget -T: Debian's busybox-static 1.35 is built without wget timeouts and crashes on -T.
timeout 120 wget -q -O /tmp/down.bin "http://$host:8080/down.bin"
r net.wget_rc $?
r net.down_size "$(wc -c </tmp/down.bin)"
r net.down_sha "$(sha /tmp/down.bin)"

seq 1 "$n" >/tmp/up.bin
r net.up_sha "$(sha /tmp/up.bin)"
# busybox nc: after the file, it half-closes and waits for the host to close.
timeout 120 nc -w 30 "$host" 5555 </tmp/up.bin
r net.nc_rc $?
r net.done yes
