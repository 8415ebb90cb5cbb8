# kvmbox.init=lifecycle: busybox init as PID 1 with a ticker on the console and Ctrl-Alt-Del bound
# to poweroff (tests/integration/test_lifecycle.sh: pause/resume, SendCtrlAltDel).
#   "@T tick=N"  every 100 ms (N counts up from 1); "@T lifecycle.ready=1" once init runs.
# The kernel log goes to the console too, so soft-lockup and RCU-stall warnings show up there.
. /etc/kvmbox/common.inc
# kvmbox's pvm profile boots with nosoftlockup (slow emulated kernel code trips it): the pause
# test needs the detector, so turn it back on now that the boot is over.
echo 1 >/proc/sys/kernel/soft_watchdog
r lifecycle.soft_watchdog "$(cat /proc/sys/kernel/soft_watchdog)"
cat >/etc/kvmbox/ticker.sh <<'T'
i=0
while :; do
	i=$((i + 1))
	echo "@T tick=$i"
	usleep 100000
done
T
cat >/etc/inittab <<'I'
::sysinit:/bin/echo "@T lifecycle.ready=1"
::once:/bin/sh /etc/kvmbox/ticker.sh
::ctrlaltdel:/bin/sh -c 'echo "@T cad=1"; poweroff -f'
I
# /init then execs busybox init; the kernel's ctrl_alt_del() signals it (busybox init turns the
# kernel's own Ctrl-Alt-Del reboot off).
