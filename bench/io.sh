#!/usr/bin/env bash
# kvmbox I/O benchmarks: virtio-blk and virtio-net in the Linux test guest against the host doing
# the same thing, and what each I/O request costs in exits with and without ioeventfd/irqfd.
#   1. virtio-blk reads, queue depth 1, O_DIRECT: sequential 1 MiB (MB/s) and random 4 KiB (IOPS).
#      One static tool (bench/guest/blkread.c) reads /dev/vdX in the guest and the image file on
#      the host; the host runs just before each guest boot. Ratio guest/host.
#   2. TCP bulk transfer guest->host and host->guest over virtio-net + tap, and the host's loopback
#      (bench/guest/tcpbench.c on both ends), timed by the host end; ratio guest/loopback. All
#      traffic stays in a network namespace this script creates and deletes on every exit path.
#   3. Exits per I/O request: kvmbox --stats of the boots of section 1, with ioeventfd + irqfd
#      (default) and with --no-ioeventfd; and the throughput ratio between the two settings.
# Each boot has three disks backed by the same image (read-only): vda gets the sequential reads,
# vdb the random ones, and vdc nothing. kvmbox counts register accesses (= exits) per device
# (virtio-blk0/1/2), so the exits of each workload are its disk's count minus the idle vdc's
# (identical disks cost identical probes and boot-time reads), with no extra baseline boot.
# The host is noisy (2 cores, builds running): settings alternate between boots, figures are
# medians, and each ratio is the median of ratios measured back to back. No asserts: failures
# are reported in the table.
#
# Usage: bench/io.sh [--quick] [--no-net] [--logs DIR]
#   --quick     ~3 minutes: one boot per setting, shorter runs (full: three, ~10 minutes)
#   --no-net    skip section 2 (it needs root, /dev/net/tun and iproute2)
#   --logs DIR  keep the guests' console logs and kvmbox --stats output in DIR
# Environment: KVMBOX (default build/kvmbox), IMG_MIB (disk image size, default 256),
#   IO_TMPDIR (where the image goes; default /var/tmp: O_DIRECT needs a disk file system).
set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0 NET=1 LOGS=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--no-net) NET=0 ;;
	--logs) LOGS=$2; shift ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/io.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ $QUICK = 1 ]; then
	ROUNDS=1 BLK_REPS=2 SEQ_S=2 RAND_S=2 HOST_S=1 NET_BOOTS=1 NET_REPS=2 NET_MIB=1 LO_REPS=3
	BOOT_TIMEOUT=200
else
	ROUNDS=3 BLK_REPS=3 SEQ_S=4 RAND_S=4 HOST_S=2 NET_BOOTS=2 NET_REPS=3 NET_MIB=3 LO_REPS=5
	BOOT_TIMEOUT=300
fi
LO_MIB=512 # loopback transfers: big enough to time (the guest's few MiB take ~1 ms there)
IMG_MIB=${IMG_MIB:-256}
MEM=128M # boots ~4 s faster than 512M here (the kernel's memory init runs emulated)
CMDLINE="console=ttyS0 panic=-1 quiet kvmbox.run=iobench"
KVMBOX=${KVMBOX:-$ROOT/build/kvmbox}
TOOLS=$ROOT/build/bench/guest-root/usr/bin
NS=kvmbox-io$$
NS_MADE=0
PIDS=()
TMP=$(mktemp -d "${IO_TMPDIR:-/var/tmp}/kvmbox-io.XXXXXX")

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ $NS_MADE = 1 ]; then
		# Whatever still runs in the namespace was started by this script.
		for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$NS" 2>/dev/null
	fi
	if [ -n "$LOGS" ]; then
		mkdir -p "$LOGS" && cp "$TMP"/*.log "$LOGS"/ 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Long-running commands run in the background, tracked in PIDS, and are waited for with `wait`,
# which a trapped signal interrupts at once (a foreground child would delay the trap until it ends).
# start_bg CMD...: start CMD (BG_PID). reap PID: wait for it, forget it, return its status.
# forget PID: drop it from PIDS, so that cleanup never signals a PID reused by someone else.
start_bg() {
	"$@" &
	BG_PID=$!
	PIDS+=("$BG_PID")
}
reap() {
	local rc
	wait "$1"
	rc=$?
	forget "$1"
	return $rc
}
forget() {
	local p n=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || n+=("$p"); done
	PIDS=("${n[@]}")
}
note() { echo "   note: $*"; }
progress() { [ -t 2 ] && printf '\r\033[K  ... %s' "$*" >&2; true; }
progress_done() { [ -t 2 ] && printf '\r\033[K' >&2; true; }

# median / min / max / sum of the arguments (numbers; "NA" entries are ignored); NA when none.
stat_of() {
	local what=$1
	shift
	printf '%s\n' "$@" | grep -v '^NA$' | grep . | sort -g | awk -v OFMT='%.10g' -v w="$what" '
		{ a[NR] = $1; s += $1 }
		END {
			if (NR == 0) { print "NA"; exit }
			if (w == "min") print a[1]
			else if (w == "max") print a[NR]
			else if (w == "sum") print s
			else if (NR % 2) print a[(NR + 1) / 2]
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}
# calc EXPR VARS...: awk arithmetic with a=$2 b=$3 ...; NA if any input is NA/empty or a divisor is 0.
calc() {
	local expr=$1 v
	shift
	for v in "$@"; do [ -z "$v" ] || [ "$v" = NA ] && { echo NA; return; }; done
	awk -v OFMT=%.10g -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" -v d="${4:-0}" "BEGIN { r = $expr; print r }" \
		2>/dev/null || echo NA
}
fmt() { [ "$2" = NA ] && echo NA || printf "%$1" "$2"; }
range() { echo "[$(fmt "$1" "$(stat_of min "${@:2}")")-$(fmt "$1" "$(stat_of max "${@:2}")")]"; }
# med_fmt FMT VALUES...: "median [min-max]", or the lone value
med_fmt() {
	local f=$1
	shift
	local n
	n=$(printf '%s\n' "$@" | grep -vc '^NA$\|^$')
	if [ "$n" -gt 1 ]; then
		echo "$(fmt "$f" "$(stat_of med "$@")") $(range "$f" "$@")"
	else
		fmt "$f" "$(stat_of med "$@")"
	fi
}

# kv FIELD LINE: the value of FIELD=VALUE in LINE (empty when absent).
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$2"; }
# bline KEY LOG: what the guest printed after "@B KEY " (last occurrence, CRs stripped).
bline() { tr -d '\r' <"$2" | grep -a "^@B $1 " | tail -n1 | cut -d' ' -f3-; }
# sfield NAME LOG: NAME=N from the kvmbox --stats report at the end of LOG (first occurrence).
sfield() { sed -n '/^kvmbox stats:/,$p' "$2" | grep -o " $1=[0-9]*" | head -n1 | cut -d= -f2; }

FAILS=0
failed() { FAILS=$((FAILS + 1)); echo "   warning: $*" >&2; }

# ---------------------------------------------------------------------------------------------
T_START=$SECONDS
backend=$([ -d /sys/module/kvm_pvm ] && echo kvm_pvm || { [ -d /sys/module/kvm_intel ] && echo kvm_intel; } ||
	{ [ -d /sys/module/kvm_amd ] && echo kvm_amd; } || echo kvm)
echo "kvmbox I/O benchmarks: $(date '+%Y-%m-%d %H:%M'), $([ $QUICK = 1 ] && echo quick || echo full) mode," \
	"$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if ! make -C "$ROOT" -j2 build/kvmbox build/bench/guest-root/usr/bin/kb-blkread build/bench/guest-root/usr/bin/kb-tcp >"$TMP/make.log" 2>&1; then
	echo "   make failed (tail below); using the binaries already built"
	tail -n5 "$TMP/make.log" | sed 's/^/    /'
fi
for f in "$KVMBOX" "$TOOLS/kb-blkread" "$TOOLS/kb-tcp"; do
	[ -x "$f" ] || { echo "bench/io.sh: $f missing" >&2; exit 1; }
done
KDIR=$("$ROOT/scripts/build-test-kernel.sh" 2>"$TMP/kbuild.log" | tail -n1)
[ -f "$KDIR/vmlinux" ] || { echo "bench/io.sh: the test kernel is unavailable:"; tail -n5 "$TMP/kbuild.log"; exit 1; }
INITRD=$TMP/init.cpio
"$ROOT/scripts/mkinitramfs.sh" "$INITRD" "$ROOT/bench/guest/overlay" "$ROOT/build/bench/guest-root" \
	>"$TMP/initrd.log" 2>&1 || { echo "bench/io.sh: mkinitramfs.sh failed:"; tail -n5 "$TMP/initrd.log"; exit 1; }
NOIOEVENTFD=1
case $("$KVMBOX" run --kernel /nonexistent --no-ioeventfd </dev/null 2>&1) in
*"unknown option"*) NOIOEVENTFD=0 ;;
esac

# The image: random data (no holes, nothing compressible), written through and synced.
IMG=$TMP/disk.img
head -c $((IMG_MIB << 20)) /dev/urandom >"$IMG" && sync "$IMG"
fs=$(df -PT "$IMG" | awk 'NR == 2 { print $2 " on " $1 }')
echo "   kvmbox: $("$KVMBOX" --version 2>&1 | head -n1), tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') + local changes; KVM backend: $backend; host kernel $(uname -r)"
echo "   guest: test kernel (ELF vmlinux via PVH), 1 vCPU, $MEM, \"$CMDLINE\"; image: $IMG_MIB MiB of random data in $fs"

# ---------------------------------------------------------------------------------------------
# Block boots. blk_start SETTING(on|off) MODE(blk|idle) TAG: start one boot in the background
# (BG_PID); log in $TMP/TAG.log. blk_check TAG STATUS: did it run to the guest script's end?
blk_start() {
	local extra=()
	[ "$1" = off ] && extra=(--no-ioeventfd)
	start_bg timeout -k 5 "$BOOT_TIMEOUT" "$KVMBOX" run --stats "${extra[@]}" --kernel "$KDIR/vmlinux" \
		--initrd "$INITRD" --memory "$MEM" --disk "path=$IMG,ro=on" --disk "path=$IMG,ro=on" \
		--disk "path=$IMG,ro=on" \
		--cmdline "$CMDLINE iob.mode=$2 iob.seqdev=vda iob.randdev=vdb iob.ctldev=vdc iob.seq=$SEQ_S iob.rand=$RAND_S iob.reps=$BLK_REPS" \
		</dev/null >"$TMP/$3.log" 2>&1
}
blk_check() {
	local fin
	fin=$([ "$(bline "done" "$TMP/$1.log")" = yes ] && echo finished || echo "did not finish")
	if [ "$2" != 0 ] || [ "$fin" != finished ]; then
		failed "boot $1: kvmbox status $2, guest script $fin"
		return 1
	fi
}

# host_blk TAG: the host reads the image like the guest reads its disks, O_DIRECT and buffered.
declare -A H # H[kind:TAG] = MB/s (seq) or IOPS (rand); kind: sd rd sb rb
host_blk() {
	local out
	out=$("$TOOLS/kb-blkread" -b 1048576 -t "$HOST_S" "$IMG" 2>&1)
	H[sd:$1]=$(kv mbps "$out")
	[ -n "${H[sd:$1]}" ] || { H[sd:$1]=NA; HOST_ERR=$out; }
	out=$("$TOOLS/kb-blkread" -r -b 4096 -s 7 -t "$HOST_S" "$IMG" 2>&1)
	H[rd:$1]=$(kv iops "$out")
	[ -n "${H[rd:$1]}" ] || { H[rd:$1]=NA; HOST_ERR=$out; }
	out=$("$TOOLS/kb-blkread" -B -b 1048576 -t "$HOST_S" "$IMG" 2>&1)
	H[sb:$1]=$(kv mbps "$out")
	out=$("$TOOLS/kb-blkread" -B -r -b 4096 -s 7 -t "$HOST_S" "$IMG" 2>&1)
	H[rb:$1]=$(kv iops "$out")
	: "${H[sb:$1]:=NA}" "${H[rb:$1]:=NA}"
}

# Per-boot results: G[seq:TAG] G[rand:TAG] (medians over the boot's reps), and the raw rep lists.
declare -A G GS GR
blk_parse() { # TAG
	local log=$TMP/$1.log i l s=() r=()
	for ((i = 1; i <= BLK_REPS; i++)); do
		l=$(bline "blk.seq.$i" "$log")
		s+=("$(kv mbps "$l")")
		l=$(bline "blk.rand.$i" "$log")
		r+=("$(kv iops "$l")")
	done
	GS[$1]="${s[*]}"
	GR[$1]="${r[*]}"
	G[seq:$1]=$(stat_of med "${s[@]}" NA)
	G[rand:$1]=$(stat_of med "${r[@]}" NA)
}

T_SETUP=$((SECONDS - T_START))
HOST_ERR=
SETTINGS=(on)
[ $NOIOEVENTFD = 1 ] && SETTINGS+=(off)
BOOTS=() # TAGs of the workload boots that finished, "on-1" "off-1" ...
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${SETTINGS[@]}")
	[ $((r % 2)) = 0 ] && [ ${#SETTINGS[@]} = 2 ] && order=(off on)
	for s in "${order[@]}"; do
		tag=$s-$r
		progress "block round $r/$ROUNDS: host reads, then a guest boot (ioeventfd $s)"
		host_blk "$tag"
		blk_start "$s" blk "$tag"
		reap "$BG_PID"
		if blk_check "$tag" $?; then
			blk_parse "$tag"
			BOOTS+=("$tag")
		fi
	done
done
progress_done

T_BLK=$((SECONDS - T_START - T_SETUP))
# Section 1 table. ratio per boot = the boot's median / the host figure measured just before it.
echo
echo "== 1. virtio-blk reads, queue depth 1, O_DIRECT (kb-blkread: guest /dev/vdX, host the image file) =="
echo "   guest: $ROUNDS boot(s) with ioeventfd+irqfd (default), $BLK_REPS x ${SEQ_S} s seq + ${RAND_S} s rand each;" \
	"host: ${HOST_S} s per figure before every boot"
all_h() { local t v=(); for t in "${!H[@]}"; do [[ $t == "$1":* ]] && v+=("${H[$t]}"); done; echo "${v[@]}"; }
on_boots=()
for t in "${BOOTS[@]}"; do [[ $t == on-* ]] && on_boots+=("$t"); done
printf '   %-22s %-24s %-24s %-22s\n' workload "guest (virtio-blk)" "host O_DIRECT" "host page cache"
for w in seq rand; do
	k=$([ $w = seq ] && echo sd || echo rd)
	kb=$([ $w = seq ] && echo sb || echo rb)
	gv=()
	for t in "${on_boots[@]}"; do read -r -a reps <<<"${GS[$t]}"; [ $w = rand ] && read -r -a reps <<<"${GR[$t]}"; gv+=("${reps[@]}"); done
	# shellcheck disable=SC2046
	printf '   %-22s %-24s %-24s %-22s\n' "$([ $w = seq ] && echo "seq 1 MiB, MB/s" || echo "rand 4 KiB, IOPS")" \
		"$(med_fmt .1f "${gv[@]}" NA)" "$(med_fmt .0f $(all_h "$k") NA)" "$(med_fmt .0f $(all_h "$kb") NA)"
done
for w in seq rand; do
	k=$([ $w = seq ] && echo sd || echo rd)
	kb=$([ $w = seq ] && echo sb || echo rb)
	rd=() rb=()
	for t in "${on_boots[@]}"; do
		rd+=("$(calc 'a / b' "${G[$w:$t]}" "${H[$k:$t]}")")
		rb+=("$(calc 'a / b' "${G[$w:$t]}" "${H[$kb:$t]}")")
	done
	printf '   ratio guest/host, %-4s  vs O_DIRECT: %-22s vs page cache: %s\n' "$w" \
		"$(med_fmt .4f "${rd[@]}" NA)" "$(med_fmt .5f "${rb[@]}" NA)"
done
[ -n "$HOST_ERR" ] && note "the host's O_DIRECT read failed: $HOST_ERR (set IO_TMPDIR to a disk file system)"
note "kvmbox opens the image without O_DIRECT: the guest's reads are served from the host's page"
note "cache, so 'host page cache' is the same data source; 'host O_DIRECT' goes to the host's disk"
for t in "${on_boots[@]}"; do
	note "guest queue (vda): $(bline blk.vda.queue "$TMP/$t.log"); clocksource: $(bline clocksource "$TMP/$t.log")"
	break
done

# ---------------------------------------------------------------------------------------------
net_ok() {
	[ $NET = 1 ] || { NET_WHY="--no-net"; return 1; }
	[ "$(id -u)" = 0 ] || { NET_WHY="needs root (network namespace, tap)"; return 1; }
	[ -c /dev/net/tun ] || { NET_WHY="no /dev/net/tun"; return 1; }
	command -v ip >/dev/null || { NET_WHY="no ip (iproute2)"; return 1; }
	case $("$KVMBOX" run --kernel /nonexistent --net tap=x </dev/null 2>&1) in
	*"unknown option"*) NET_WHY="kvmbox has no --net"; return 1 ;;
	esac
}
in_ns() { ip netns exec "$NS" "$@"; }
# wait_listen FILE: until the kb-tcp server writing FILE listens (5 s at most).
wait_listen() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q '^listening' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# loopback TAG: LO_REPS transfers each way over lo in the namespace, timed by the server (as the
# guest's are): LO_S[TAG] (client sends) and LO_R[TAG] (client receives), MB/s lists.
declare -A LO_S LO_R NS_SEND NS_RECV
loopback() {
	local i out p
	for ((i = 0; i < LO_REPS; i++)); do
		start_bg in_ns "$TOOLS/kb-tcp" sink 6001 1 >"$TMP/lo-sink" 2>&1
		p=$BG_PID
		if wait_listen "$TMP/lo-sink"; then
			start_bg in_ns "$TOOLS/kb-tcp" send 127.0.0.1 6001 $((LO_MIB << 20)) >/dev/null 2>&1
			reap "$BG_PID"
		fi
		kill "$p" 2>/dev/null # only if it is still there (no client): its result is missing then
		reap "$p"
		out=$(grep '^role=' "$TMP/lo-sink")
		LO_S[$1]+="$(kv mbps "$out" | grep . || echo NA) "
		start_bg in_ns "$TOOLS/kb-tcp" source 6002 $((LO_MIB << 20)) 1 >"$TMP/lo-source" 2>&1
		p=$BG_PID
		if wait_listen "$TMP/lo-source"; then
			start_bg in_ns "$TOOLS/kb-tcp" recv 127.0.0.1 6002 >/dev/null 2>&1
			reap "$BG_PID"
		fi
		kill "$p" 2>/dev/null
		reap "$p"
		out=$(grep '^role=' "$TMP/lo-source")
		LO_R[$1]+="$(kv mbps "$out" | grep . || echo NA) "
	done
}
# net_boot TAG: host servers on 10.0.2.1 (tap0), the guest sends then receives NET_REPS times.
net_boot() {
	local tag=$1 kp sp1 sp2 i tap=no
	start_bg in_ns "$TOOLS/kb-tcp" sink 5001 "$NET_REPS" >"$TMP/$tag-sink" 2>&1
	sp1=$BG_PID
	start_bg in_ns "$TOOLS/kb-tcp" source 5002 $((NET_MIB << 20)) "$NET_REPS" >"$TMP/$tag-source" 2>&1
	sp2=$BG_PID
	start_bg timeout -k 5 "$BOOT_TIMEOUT" ip netns exec "$NS" "$KVMBOX" run --stats --kernel "$KDIR/vmlinux" \
		--initrd "$INITRD" --memory "$MEM" --net tap=tap0 \
		--cmdline "$CMDLINE iob.mode=net iob.host=10.0.2.1 iob.bytes=$((NET_MIB << 20)) iob.reps=$NET_REPS" \
		</dev/null >"$TMP/$tag.log" 2>&1
	kp=$BG_PID
	# kvmbox creates tap0 when it starts; the guest needs ~25 s to boot, so this is early enough.
	for ((i = 0; i < 300; i++)); do
		kill -0 "$kp" 2>/dev/null || break
		ip -n "$NS" link show tap0 >/dev/null 2>&1 && { tap=yes; break; }
		sleep 0.1
	done
	[ $tap = yes ] && ip -n "$NS" addr add 10.0.2.1/24 dev tap0 && ip -n "$NS" link set tap0 up ||
		failed "net boot $tag: no tap0 in the namespace"
	reap "$kp"
	local rc=$?
	# The servers end after NET_REPS connections; if the guest failed they would wait forever.
	sleep 0.5
	kill "$sp1" "$sp2" 2>/dev/null
	reap "$sp1"
	reap "$sp2"
	[ $rc = 0 ] && [ "$(bline "done" "$TMP/$tag.log")" = yes ] || failed "net boot $tag: kvmbox status $rc"
	NS_SEND[$tag]=$(grep '^role=sink' "$TMP/$tag-sink" | while read -r l; do kv mbps "$l"; done | tr '\n' ' ')
	NS_RECV[$tag]=$(grep '^role=source' "$TMP/$tag-source" | while read -r l; do kv mbps "$l"; done | tr '\n' ' ')
}

T0_NET=$SECONDS
echo
echo "== 2. TCP bulk transfer over virtio-net + tap vs the host's loopback (kb-tcp, timed by the host end) =="
NET_WHY=
if net_ok; then
	echo "   guest 10.0.2.15 <-> host 10.0.2.1 in netns $NS; $NET_BOOTS boot(s) x $NET_REPS x $NET_MIB MiB each way;" \
		"loopback: $LO_REPS x $LO_MIB MiB each way before every boot"
	if ip netns add "$NS"; then
		NS_MADE=1
		ip -n "$NS" link set lo up
		NBOOTS=()
		for ((r = 1; r <= NET_BOOTS; r++)); do
			progress "net boot $r/$NET_BOOTS: loopback, then the guest"
			loopback "net-$r"
			net_boot "net-$r"
			NBOOTS+=("net-$r")
		done
		progress_done
		printf '   %-14s %-26s %-26s %s\n' direction "guest MB/s" "host loopback MB/s" "ratio guest/loopback"
		for dir in send recv; do
			gv=() lv=() rs=()
			for t in "${NBOOTS[@]}"; do
				if [ $dir = send ]; then g=${NS_SEND[$t]:-} l=${LO_S[$t]:-}; else g=${NS_RECV[$t]:-} l=${LO_R[$t]:-}; fi
				read -r -a ga <<<"$g"
				read -r -a la <<<"$l"
				gv+=("${ga[@]}")
				lv+=("${la[@]}")
				lmed=$(stat_of med "${la[@]}" NA)
				for x in "${ga[@]}"; do rs+=("$(calc 'a / b' "$x" "$lmed")"); done
			done
			printf '   %-14s %-26s %-26s %s\n' "$([ $dir = send ] && echo "guest->host" || echo "host->guest")" \
				"$(med_fmt .3f "${gv[@]}" NA)" "$(med_fmt .0f "${lv[@]}" NA)" "$(med_fmt .6f "${rs[@]}" NA)"
		done
		note "each ratio: one guest transfer / the median of the loopback transfers just before its boot"
	else
		echo "   skipped: ip netns add $NS failed"
	fi
else
	echo "   skipped: $NET_WHY"
fi

# ---------------------------------------------------------------------------------------------
T_NET=$((SECONDS - T0_NET))
echo
echo "== 3. Exits per virtio-blk request: ioeventfd+irqfd (default) vs --no-ioeventfd (KVM_SIGNAL_MSI) =="
if [ $NOIOEVENTFD = 0 ]; then
	echo "   skipped: this kvmbox has no --no-ioeventfd"
	echo "   time: $((SECONDS - T_START)) s"
	exit 0
fi
reads_of() { # DEV TAG: read requests DEV completed during the workload (stat1 - stat0, field 1)
	calc 'a - b' "$(bline "blk.$1.stat1" "$TMP/$2.log" | cut -d' ' -f1)" "$(bline "blk.$1.stat0" "$TMP/$2.log" | cut -d' ' -f1)"
}
ops_of() { # seq|rand TAG: read() calls kb-blkread made (sum over reps)
	local i v=()
	for ((i = 1; i <= BLK_REPS; i++)); do v+=("$(kv ops "$(bline "blk.$1.$i" "$TMP/$2.log")")"); done
	stat_of sum "${v[@]}" NA
}
echo "   exits/req: the disk's exits (kvmbox --stats virtio-blkN: each register access that reaches"
echo "   kvmbox is one exit) minus those of the idle control disk vdc in the same boot, per read request"
echo "   the guest's /sys/block/vdX/stat completed; read = one pread(); summed over the setting's boots"
printf '   %-17s %-11s %9s %9s %24s %11s\n' setting workload requests "req/read" "exits/req (device)" "exits/read"
declare -A WHOLE
for s in "${SETTINGS[@]}"; do
	label=$([ $s = on ] && echo "ioeventfd+irqfd" || echo "--no-ioeventfd")
	sb=()
	for t in "${BOOTS[@]}"; do [[ $t == $s-* ]] && sb+=("$t"); done
	if [ ${#sb[@]} = 0 ]; then
		printf '   %-17s %s\n' "$label" "n/a: no boot finished (see the warnings)"
		continue
	fi
	for w in seq rand; do
		dev=$([ $w = seq ] && echo vda || echo vdb)
		vb=$([ $w = seq ] && echo virtio-blk0 || echo virtio-blk1)
		req=() acc=() ops=()
		for t in "${sb[@]}"; do
			req+=("$(reads_of $dev "$t")")
			acc+=("$(calc 'a - b' "$(sfield $vb "$TMP/$t.log")" "$(sfield virtio-blk2 "$TMP/$t.log")")")
			ops+=("$(ops_of $w "$t")")
		done
		R=$(stat_of sum "${req[@]}" NA) A=$(stat_of sum "${acc[@]}" NA) O=$(stat_of sum "${ops[@]}" NA)
		printf '   %-17s %-11s %9s %9s %24s %11s\n' "$label" "$([ $w = seq ] && echo "seq 1 MiB" || echo "rand 4 KiB")" \
			"$R" "$(fmt .2f "$(calc 'a / b' "$R" "$O")")" "$(fmt .3f "$(calc 'a / b' "$A" "$R")") ($vb)" \
			"$(fmt .3f "$(calc 'a / b' "$A" "$O")")"
		label=
	done
	# The whole boots' exits, decomposed: io = COM1 + the rest of the port devices, mmio = the three
	# disks + the rest. "rest" should not move with the workload or the setting.
	io=() com=() mm=() d0=() d1=() d2=() prest=() mrest=() bad=
	for t in "${sb[@]}"; do
		l=$TMP/$t.log
		io+=("$(sfield io "$l")") com+=("$(sfield com1 "$l")") mm+=("$(sfield mmio "$l")")
		d0+=("$(sfield virtio-blk0 "$l")") d1+=("$(sfield virtio-blk1 "$l")") d2+=("$(sfield virtio-blk2 "$l")")
		prest+=("$(calc 'a - b' "${io[-1]}" "${com[-1]}")")
		mrest+=("$(calc 'a - b - c - d' "${mm[-1]}" "${d0[-1]}" "${d1[-1]}" "${d2[-1]}")")
		# Boot-time reads must match across the three disks for vdc to be their baseline.
		z=$(for d in vda vdb vdc; do bline "blk.$d.stat0" "$l" | cut -d' ' -f1; done | sort -u | wc -l)
		[ "$z" = 1 ] || bad=" (boot-time reads differ between the disks in $t: baseline approximate)"
	done
	WHOLE[$s]="io=$(stat_of sum "${io[@]}" NA) (COM1 $(stat_of sum "${com[@]}" NA), rest $(stat_of sum "${prest[@]}" NA)),\
 mmio=$(stat_of sum "${mm[@]}" NA) (vda $(stat_of sum "${d0[@]}" NA), vdb $(stat_of sum "${d1[@]}" NA), vdc $(stat_of sum "${d2[@]}" NA), rest $(stat_of sum "${mrest[@]}" NA))$bad"
done
echo "   --stats of the ${#SETTINGS[@]}x$ROUNDS boots, summed (rest: other devices, the same in every boot):"
for s in "${SETTINGS[@]}"; do
	[ -n "${WHOLE[$s]:-}" ] && printf '     %-16s %s\n' "$([ $s = on ] && echo "ioeventfd+irqfd:" || echo "--no-ioeventfd:")" "${WHOLE[$s]}"
done
echo "   (MSIs sent with KVM_SIGNAL_MSI are ioctls, not exits)"
echo
printf '   %-20s %-24s %-24s %s\n' throughput "ioeventfd+irqfd" "--no-ioeventfd" "ratio with/without (per round)"
for w in seq rand; do
	on=() off=() rs=()
	for ((r = 1; r <= ROUNDS; r++)); do
		a=${G[$w:on-$r]:-NA} b=${G[$w:off-$r]:-NA}
		on+=("$a")
		off+=("$b")
		rs+=("$(calc 'a / b' "$a" "$b")")
	done
	printf '   %-20s %-24s %-24s %s\n' "$([ $w = seq ] && echo "seq 1 MiB, MB/s" || echo "rand 4 KiB, IOPS")" \
		"$(med_fmt .1f "${on[@]}" NA)" "$(med_fmt .1f "${off[@]}" NA)" "$(med_fmt .3f "${rs[@]}" NA)"
done
note "boot medians; the with/without ratio pairs the two boots of each round"
[ $FAILS = 0 ] || echo "   ($FAILS runs failed and were left out; see the warnings above)"
echo "   time: $((SECONDS - T_START)) s (set-up $T_SETUP s, block boots + host reads $T_BLK s, net $T_NET s)"
