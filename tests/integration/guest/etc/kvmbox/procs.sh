# kvmbox.run=procs: guest user processes (tests/integration/test_guest_processes.sh). Needs
# /bin/xstate_probe (tests/integration/xstate/xstate_probe.c), which the test adds to its own copy
# of this overlay.
. /etc/kvmbox/common.inc

/bin/xstate_probe
r procs.tunables "$GLIBC_TUNABLES"
# Many short-lived busybox processes alive at once: three-stage pipelines in command substitutions
# (each stage a fork and an exec of /proc/self/exe). Each must print its 8 zero bytes as hex.
n=$(karg kvmbox.n)
n=${n:-20}
i=0
ok=0
while [ $i -lt "$n" ]; do
	x=$(head -c 8 /dev/zero | od -An -v -tx1 | tr -d ' \n')
	[ "$x" = 0000000000000000 ] && ok=$((ok + 1))
	i=$((i + 1))
done
r procs.pipelines "$n"
r procs.pipelines_ok "$ok"
r procs.done yes
