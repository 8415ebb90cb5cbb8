# kvmbox.run=diskwrite: write kvmbox.mib MiB of deterministic data to /dev/vdX (kvmbox.disk,
# default vda) with O_DIRECT-free dd + sync, print its SHA-256, then power off. The host pauses
# the VM in the middle (test_lifecycle.sh) and checks the image afterwards.
. /etc/kvmbox/common.inc
d=$(karg kvmbox.disk)
d=${d:-vda}
mib=$(karg kvmbox.mib)
mib=${mib:-32}
r diskwrite.start 1
# A stream no two MiB of which are alike: seq's output, cut to size.
seq 1 2000000000 | head -c $((mib * 1048576)) >/tmp/data 2>/dev/null
r diskwrite.generated "$(sha /tmp/data)"
stamp write-start
dd if=/tmp/data of=/dev/$d bs=1M conv=fsync 2>/dev/null
sync
stamp write-end
r diskwrite.readback "$(head -c $((mib * 1048576)) /dev/$d | sha256sum | cut -d' ' -f1)"
r diskwrite.done 1
