# kvmbox.run=rng: read the virtio RNG (tests/integration/test_virtio_misc.sh).
. /etc/kvmbox/common.inc

r rng.current "$(cat /sys/class/misc/hw_random/rng_current)"
r rng.available "$(sed 's/ *$//; s/ /,/g' /sys/class/misc/hw_random/rng_available)"
# 64 bytes as hex, twice.
rng_hex() { head -c 64 /dev/hwrng | od -An -v -tx1 | tr -d ' \n'; }
a=$(rng_hex)
b=$(rng_hex)
r rng.a "$a"
r rng.b "$b"
r rng.done yes
