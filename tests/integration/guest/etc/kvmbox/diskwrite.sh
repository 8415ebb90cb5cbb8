# kvmbox.run=diskwrite: write `seq 1 kvmbox.n` (default 1000000, 6.9 MB) to the raw disk /dev/vdX
# (kvmbox.disk, default vda) with dd + fsync, print its size and SHA-256, then power off. The host
# pauses the VM in the middle (test_lifecycle.sh) and checks the image afterwards.
. /etc/kvmbox/common.inc
d=$(karg kvmbox.disk)
d=${d:-vda}
n=$(karg kvmbox.n)
n=${n:-1000000}
# Where the devices sit (a pci=off guest finds them on virtio-mmio) and the NIC's address.
r "$d.transport" "$(basename "$(readlink "$(readlink -f /sys/block/$d/device)/../driver")")"
if [ -e /sys/class/net/eth0 ]; then
	r net.eth0.mac "$(cat /sys/class/net/eth0/address)"
	r net.eth0.transport "$(basename "$(readlink "$(readlink -f /sys/class/net/eth0/device)/../driver")")"
fi
r diskwrite.start 1
seq 1 "$n" >/tmp/data
size=$(wc -c </tmp/data)
r diskwrite.size "$size"
r diskwrite.generated "$(sha /tmp/data)"
stamp write-start
dd if=/tmp/data of=/dev/$d bs=64k conv=fsync 2>/dev/null
stamp write-end
r diskwrite.readback "$(head -c "$size" /dev/$d | sha256sum | cut -d' ' -f1)"
r diskwrite.done 1
