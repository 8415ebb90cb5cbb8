# kvmbox.run=vsock: exercise virtio-vsock (tests/integration/test_vsock.sh). Needs /bin/vsock_guest
# (tests/integration/vsock/vsock_guest.c), which the test adds to its own copy of this overlay.
# The host serves ports 6000 (one big stream), 6001 (32 at once), 6002 (a sink for a stream whose
# sender is killed), 6003; it connects to the guest's ports 5000 (one stream) and 5001 (32 at
# once); nobody listens on host port 6999. Every stream is answered with as many bytes.
#   kvmbox.vsock_big=BYTES    size of the stream to port 6000 (default 16 MiB)
#   kvmbox.vsock_small=BYTES  size of each of the 32 parallel streams to port 6001
. /etc/kvmbox/common.inc

V=/bin/vsock_guest
big=$(karg kvmbox.vsock_big)
small=$(karg kvmbox.vsock_small)
big=${big:-16777216}
small=${small:-32768}
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
$V refused 6999
$V many 6001 32 "$small"
stamp vsock.many
# Killed in the middle of a stream: the host sees the end, kvmbox carries on.
rm -f /tmp/killed.mark
$V connect 6002 4000000000 killed /tmp/killed.mark &
k=$!
i=0
while [ ! -e /tmp/killed.mark ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
sleep 1
kill -9 $k
wait $k
r vsock.killed_status $?
$V connect 6003 1048576 after_kill
# The big one last: on a slow host the checks above have their results anyway.
$V connect 6000 "$big" g2h
stamp vsock.g2h
stamp vsock.listeners
wait $l1
r vsock.listen_5000_status $?
wait $l2
r vsock.listen_5001_status $?
stamp vsock.end
r vsock.done yes
