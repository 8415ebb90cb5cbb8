# kvmbox.run=vsock: exercise virtio-vsock (tests/integration/test_vsock.sh). Needs /bin/vsock_guest
# (tests/integration/vsock/vsock_guest.c), which the test adds to its own copy of this overlay.
# The host serves ports 6000 (16 MiB), 6001 (32 at once), 6002 (a sink), 6003; it connects to
# the guest's ports 5000 (16 MiB) and 5001 (32 at once); nobody listens on host port 6999.
#   kvmbox.vsock_big=BYTES    size of the 16 MiB transfers
#   kvmbox.vsock_small=BYTES  size of each of the 32 parallel transfers
. /etc/kvmbox/common.inc

V=/bin/vsock_guest
big=$(karg kvmbox.vsock_big)
small=$(karg kvmbox.vsock_small)
big=${big:-16777216}
small=${small:-131072}
if [ ! -x "$V" ]; then
	r vsock.done no-binary
	exit 0
fi
# A modular kernel (the stock one) keeps the transport in a module.
[ -d /lib/modules ] && modprobe vmw_vsock_virtio_transport 2>/dev/null
$V cid
stamp vsock.start
# The host connects to these as soon as they listen (it retries until then).
$V listen 5000 1 &
l1=$!
$V listen 5001 32 &
l2=$!
$V connect 6000 "$big" g2h
stamp vsock.g2h
$V many 6001 32 "$small"
stamp vsock.many
$V refused 6999
# Killed in the middle of a stream: the host sees the end, kvmbox carries on.
$V connect 6002 4000000000 killed &
k=$!
sleep 3
kill -9 $k
wait $k
r vsock.killed_status $?
$V connect 6003 1048576 after_kill
stamp vsock.listeners
wait $l1
r vsock.listen_5000_status $?
wait $l2
r vsock.listen_5001_status $?
stamp vsock.end
r vsock.done yes
