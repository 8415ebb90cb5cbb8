# kvmbox.init=lifecycle: busybox init as PID 1 with a ticker on the console, and the kernel's own
# Ctrl-Alt-Del action (an immediate restart) turned back on after init turned it off
# (tests/integration/test_lifecycle.sh: pause/resume, regs/NMI, SendCtrlAltDel).
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
::sysinit:/bin/sh -c 'echo 1 >/proc/sys/kernel/ctrl-alt-del; echo "@T lifecycle.cad=$(cat /proc/sys/kernel/ctrl-alt-del)"; echo "@T lifecycle.ready=1"'
::once:/bin/sh /etc/kvmbox/ticker.sh
I
# /init then execs busybox init, which turns the kernel's Ctrl-Alt-Del reboot off before running the
# sysinit line above. The kernel's own reaction to the keys (a restart) is what the test checks: it
# involves only kvmbox's i8042 and the guest's keyboard driver, no user process.
