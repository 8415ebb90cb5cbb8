# kvmbox.run=iobench: the guest half of bench/io.sh (busybox sh). Results are "@B KEY VALUE..."
# lines on the console. Kernel command-line arguments:
#   iob.mode=blk|net|idle   what to run (idle: nothing; a baseline for kvmbox --stats exit counts)
#   blk:  iob.seqdev=vda iob.randdev=vdb iob.ctldev=vdc iob.seq=SECS iob.rand=SECS iob.reps=N
#         iob.seed=S: each rep, a sequential 1 MiB read of seqdev for SECS, then a random 4 KiB
#         read of randdev for SECS (either skipped when SECS is 0); O_DIRECT, queue depth 1
#         (kb-blkread). ctldev is left alone: a control whose counters show what every disk costs
#         at boot. Separate disks, so kvmbox's per-device counters attribute exits to workloads.
#         /sys/block/DEV/stat of each is printed before and after: the requests each completed.
#   net:  iob.host=IP iob.bytes=N iob.reps=N
#         the guest is IP's .15 on eth0; each rep: send N bytes to IP:5001, then receive all
#         that IP:5002 sends (kb-tcp).

# karg KEY: the value of KEY=VALUE on the kernel command line (empty if absent).
karg() {
	local a
	for a in $(cat /proc/cmdline); do
		case $a in "$1"=*) echo "${a#*=}"; return ;; esac
	done
}
b() { echo "@B $*"; }

mode=$(karg iob.mode)
reps=$(karg iob.reps)
reps=${reps:-1}
b clocksource "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"

case $mode in
blk)
	sdev=$(karg iob.seqdev)
	sdev=${sdev:-vda}
	rdev=$(karg iob.randdev)
	rdev=${rdev:-vdb}
	cdev=$(karg iob.ctldev)
	seq_s=$(karg iob.seq)
	rand_s=$(karg iob.rand)
	seed=$(karg iob.seed)
	for d in "$sdev" "$rdev" $cdev; do
		b "blk.$d.queue" "max_sectors_kb=$(cat /sys/block/$d/queue/max_sectors_kb)" \
			"max_segments=$(cat /sys/block/$d/queue/max_segments)"
		b "blk.$d.stat0" $(cat /sys/block/$d/stat)
	done
	i=1
	while [ "$i" -le "$reps" ]; do
		[ "${seq_s:-0}" != 0 ] && b "blk.seq.$i" $(kb-blkread -b 1048576 -t "$seq_s" "/dev/$sdev" 2>&1)
		[ "${rand_s:-0}" != 0 ] && b "blk.rand.$i" $(kb-blkread -r -b 4096 -s "$((${seed:-1} + i))" -t "$rand_s" "/dev/$rdev" 2>&1)
		i=$((i + 1))
	done
	for d in "$sdev" "$rdev" $cdev; do
		b "blk.$d.stat1" $(cat /sys/block/$d/stat)
	done
	;;
net)
	host=$(karg iob.host)
	bytes=$(karg iob.bytes)
	ip link set lo up
	ip addr add "${host%.*}.15/24" dev eth0
	ip link set eth0 up
	b net.ifup $?
	i=1
	while [ "$i" -le "$reps" ]; do
		b "net.send.$i" $(kb-tcp send "$host" 5001 "$bytes" 2>&1)
		b "net.recv.$i" $(kb-tcp recv "$host" 5002 2>&1)
		i=$((i + 1))
	done
	;;
idle) ;;
*) b error "unknown iob.mode '$mode'" ;;
esac
b done yes
