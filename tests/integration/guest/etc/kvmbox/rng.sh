# kvmbox.run=rng: read the virtio RNG (tests/integration/test_virtio_misc.sh).
. /etc/kvmbox/common.inc

r rng.current "$(cat /sys/class/misc/hw_random/rng_current)"
r rng.available "$(sed 's/ *$//; s/ /,/g' /sys/class/misc/hw_random/rng_available)"
# 64 bytes as hex. A pipeline stage killed by this host's fresh-process fault (docs/kvm-host-notes.md:
# a new busybox process reading zeros from its TLS, "segfault at 0 ip 4a4d02") leaves the result
# short: read again, up to three times.
rng_hex() {
	local v i=0
	while [ $i -lt 3 ]; do
		v=$(head -c 64 /dev/hwrng | od -An -v -tx1 | tr -d ' \n')
		[ ${#v} -eq 128 ] && break
		i=$((i + 1))
	done
	echo "$v"
}
a=$(rng_hex)
b=$(rng_hex)
r rng.a "$a"
r rng.b "$b"
r rng.done yes
