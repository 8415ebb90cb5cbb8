# kvmbox.run=snapshot: a guest taken by a snapshot and carried on by a restored copy
# (tests/integration/test_snapshot.sh). Before: a file in tmpfs and a counter ticking once a second,
# then "@T ready=yes" and a wait for a line on the console. The host snapshots while it waits, and
# a restored kvmbox types the line. After: the file, the counter (it must go on from where it was),
# a `sleep 5` between two markers the host times, and the kernel's warnings about its clock.
. /etc/kvmbox/common.inc

mkdir -p /mnt/t
mount -t tmpfs tmpfs /mnt/t
echo "written-before-the-snapshot" >/mnt/t/file
(
	i=0
	while :; do
		i=$((i + 1))
		echo "$i" >/mnt/t/counter.new && mv /mnt/t/counter.new /mnt/t/counter
		sleep 1
	done
) &
sleep 3
r before "$(cat /mnt/t/counter)"
r up_before "$(cut -d' ' -f1 /proc/uptime | cut -d. -f1)"
# Only warnings after this point count (a boot-time one has nothing to do with the snapshot).
dmesg | wc -l >/mnt/t/dmesg_lines
r ready yes
read -r line
r line "$line"
r up_after "$(cut -d' ' -f1 /proc/uptime | cut -d. -f1)"
r after "$(cat /mnt/t/counter)"
r file "$(cat /mnt/t/file 2>/dev/null)"
r sleep start
sleep 5
r sleep end
sleep 2
r later "$(cat /mnt/t/counter)"
re='clocksource .* unstable|soft lockup|rcu.* stall|watchdog: BUG'
dmesg | tail -n "+$(($(cat /mnt/t/dmesg_lines) + 1))" >/mnt/t/dmesg_after
r warnings "$(grep -ciE "$re" /mnt/t/dmesg_after)"
grep -iE "$re" /mnt/t/dmesg_after | head -n 5
