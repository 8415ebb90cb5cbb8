#!/usr/bin/env bash
# kvmbox benchmarks: figures and ratios against a raw KVM_RUN loop and QEMU, printed as a table.
#   1. port-I/O exit round trip (pio_loop guest; slope of whole-run wall clock over n, so startup
#      cancels out) for kvmbox, bench/raw_kvm_loop.c and QEMU, plus kvmbox --stats exit counts
#   2. start-to-exit time of a trivial guest (pio_loop n=0)
#   3. Linux boot time to the KVMBOX-INIT-OK marker (test kernel as ELF vmlinux via PVH)
#   4. VMM memory overhead with Linux at its shell: total Rss minus the guest-RAM mapping's Rss
# The host is noisy (2 cores, builds running): runs are interleaved, every figure is a median of
# repetitions, and each ratio is the median of per-repetition ratios (both sides measured back to
# back). No asserts: failures are reported in the table.
#
# Usage: bench/run.sh [--quick] [--variant | --no-variant] [--no-linux] [--boot-reps N]
#   --quick       ~2 minutes: fewer repetitions, shorter loops, one boot per VMM
#   --variant     also boot a bench-only kernel without Linux's boot-time int3 self-test, which
#                 QEMU cannot run on kvm_pvm (bench/kernel/no-int3-selftest.patch; the first use
#                 builds it, ~5+ minutes, cached). Default: used if already built, except
#                 with --quick (two more boots would not fit in ~2 minutes).
#   --no-linux    skip sections 3 and 4
# Environment: KVMBOX (default build/kvmbox), QEMU (default qemu-system-x86_64).
set -uo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KVMBOX_CACHE=${KVMBOX_CACHE:-$HOME/.cache/kvmbox}
QUICK=0 VARIANT=auto LINUX=1 BOOT_REPS=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--variant) VARIANT=1 ;;
	--no-variant) VARIANT=0 ;;
	--no-linux) LINUX=0 ;;
	--boot-reps) BOOT_REPS=$2; shift ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ $QUICK = 1 ]; then
	PIO_N=40000 PIO_REPS=3 START_REPS=5
	[ $VARIANT = auto ] && VARIANT=0
	BOOT_REPS=${BOOT_REPS:-1}
else
	PIO_N=100000 PIO_REPS=7 START_REPS=10
fi

KVMBOX=${KVMBOX:-$ROOT/build/kvmbox}
QEMU=${QEMU:-qemu-system-x86_64}
GUEST=$ROOT/build/guests/pio_loop.elf
RAW=$ROOT/build/bench/raw_kvm_loop
PROBE=$ROOT/bench/boot_probe.py
GUEST_EXIT_STATUS=95 # pio_loop writes 0x2f to debug-exit: (0x2f << 1) | 1
# (-arch-capabilities: QEMU 7.2 aborts here setting MSR 0x10a otherwise; docs/kvm-host-notes.md)
QEMU_COMMON=(-enable-kvm -cpu "host,-cx16,-arch-capabilities" -nographic -no-reboot -nodefaults -serial stdio)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

source "$ROOT/bench/lib.sh"

run_pio() { # VMM N
	case $1 in
	raw) timed 0 "$RAW" "$2" ;;
	kvmbox) timed $GUEST_EXIT_STATUS "$KVMBOX" run --debug-exit --memory 128M --kernel "$GUEST" --cmdline "n=$2" ;;
	qemu) timed $GUEST_EXIT_STATUS "$QEMU" "${QEMU_COMMON[@]}" -machine pc -m 128 \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$GUEST" -append "n=$2" ;;
	esac
}

# ---------------------------------------------------------------------------------------------
echo "kvmbox benchmarks: $(date '+%Y-%m-%d %H:%M'), $([ $QUICK = 1 ] && echo quick || echo full) mode," \
	"$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if ! make -k -C "$ROOT" -j2 build/kvmbox build/guests/pio_loop.elf build/bench/raw_kvm_loop \
	>"$TMP/make.log" 2>&1; then
	note "make failed (tail below); using the binaries already built"
	tail -n5 "$TMP/make.log" | sed 's/^/    /'
fi
for f in "$KVMBOX" "$GUEST" "$RAW"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "bench/run.sh: $f missing" >&2; exit 1; }
done
backend=$([ -d /sys/module/kvm_pvm ] && echo kvm_pvm || { [ -d /sys/module/kvm_intel ] && echo kvm_intel; } || echo "kvm")
echo "  kvmbox: $("$KVMBOX" --version 2>&1 | head -n1); QEMU: $("$QEMU" --version | head -n1); KVM backend: $backend"

# ---------------------------------------------------------------------------------------------
echo
echo "== 1. Port-I/O exit round trip: pio_loop does n outb to port 0x80, then debug-exit =="
echo "   per-exit cost = (t(n=$PIO_N) - t(n=0)) / $PIO_N from whole-run wall clock; $PIO_REPS reps, interleaved"
declare -A T0 TN SLOPE
VMMS=(raw kvmbox qemu)
configs=(raw:0 "raw:$PIO_N" kvmbox:0 "kvmbox:$PIO_N" qemu:0 "qemu:$PIO_N")
for ((r = 0; r < PIO_REPS; r++)); do
	declare -A cur=()
	for ((i = 0; i < ${#configs[@]}; i++)); do
		c=${configs[$(((i + r) % ${#configs[@]}))]}
		progress "pio rep $((r + 1))/$PIO_REPS: $c"
		run_pio "${c%%:*}" "${c##*:}"
		cur[$c]=$DT
	done
	for v in "${VMMS[@]}"; do
		T0[$v]+="${cur[$v:0]} "
		TN[$v]+="${cur[$v:$PIO_N]} "
		SLOPE[$v]+="$(calc '(b - a) * 1e6 / c' "${cur[$v:0]}" "${cur[$v:$PIO_N]}" "$PIO_N") "
	done
	unset cur
done
progress_done
declare -A LABEL=([raw]="raw KVM_RUN loop" [kvmbox]="kvmbox" [qemu]="QEMU")
printf '   %-18s %12s %17s %13s %13s\n' VMM "us/exit" "[min - max]" "t(n=0) ms" "t(n=N) ms"
for v in "${VMMS[@]}"; do
	# shellcheck disable=SC2086
	printf '   %-18s %12s %17s %13s %13s\n' "${LABEL[$v]}" "$(fmt .2f "$(stat_of med ${SLOPE[$v]})")" \
		"$(range .2f ${SLOPE[$v]})" "$(fmt .1f "$(calc 'a * 1000' "$(stat_of med ${T0[$v]})")")" \
		"$(fmt .1f "$(calc 'a * 1000' "$(stat_of med ${TN[$v]})")")"
done
for other in raw qemu; do
	read -r -a ks <<<"${SLOPE[kvmbox]}"
	read -r -a os <<<"${SLOPE[$other]}"
	rs=()
	for ((r = 0; r < PIO_REPS; r++)); do rs+=("$(calc 'a / b' "${ks[$r]}" "${os[$r]}")"); done
	printf '   ratio kvmbox/%-6s %10s %17s   (median of per-rep ratios)\n' "$other" \
		"$(fmt .2f "$(stat_of med "${rs[@]}")")" "$(range .2f "${rs[@]}")"
done
# kvmbox's own accounting: exits per outb, and where the vCPU thread's time went.
"$KVMBOX" run --debug-exit --stats --memory 128M --kernel "$GUEST" --cmdline n=0 </dev/null >"$TMP/s0" 2>&1
"$KVMBOX" run --debug-exit --stats --memory 128M --kernel "$GUEST" --cmdline "n=$PIO_N" </dev/null >"$TMP/sN" 2>&1
stat_field() { grep -o " $1=[0-9]*" "$2" | head -n1 | cut -d= -f2; }
io0=$(stat_field io "$TMP/s0") ioN=$(stat_field io "$TMP/sN")
com0=$(stat_field com1 "$TMP/s0") comN=$(stat_field com1 "$TMP/sN")
uw=$(stat_field unclaimed-writes "$TMP/sN")
split=$(grep -o 'in KVM_RUN.*' "$TMP/sN" | head -n1)
echo "   kvmbox --stats: io exits ${io0:-?} (n=0) vs ${ioN:-?} (n=$PIO_N), of which COM1 ${com0:-?} vs ${comN:-?} (the"
echo "     banner prints n) -> $(fmt .4f "$(calc '(b - a) / c' "$(calc 'a - b' "${io0:-NA}" "${com0:-NA}")" \
	"$(calc 'a - b' "${ioN:-NA}" "${comN:-NA}")" "$PIO_N")") non-COM1 exits per outb; unclaimed port writes ${uw:-?}"
echo "   kvmbox --stats (n=$PIO_N): vCPU time ${split:-?}"
echo "   (figures from raw_kvm_loop itself: $("$RAW" "$PIO_N" 2>&1 | grep -o '[0-9.]* us/exit') inside its run loop)"

# ---------------------------------------------------------------------------------------------
echo
echo "== 2. Start-to-exit of a trivial guest (pio_loop n=0; QEMU -machine pc, SeaBIOS; $START_REPS reps, interleaved) =="
declare -A ST
for ((r = 0; r < START_REPS; r++)); do
	order=(raw kvmbox qemu)
	[ $((r % 2)) = 1 ] && order=(qemu kvmbox raw)
	for v in "${order[@]}"; do
		progress "startup rep $((r + 1))/$START_REPS: $v"
		run_pio "$v" 0
		ST[$v]+="$(calc 'a * 1000' "$DT") "
	done
done
progress_done
printf '   %-18s %12s %19s\n' VMM "median ms" "[min - max]"
for v in "${VMMS[@]}"; do
	# shellcheck disable=SC2086
	printf '   %-18s %12s %19s\n' "${LABEL[$v]}" "$(fmt .1f "$(stat_of med ${ST[$v]})")" "$(range .1f ${ST[$v]})"
done
read -r -a ks <<<"${ST[kvmbox]}"
read -r -a qs <<<"${ST[qemu]}"
rs=()
for ((r = 0; r < START_REPS; r++)); do rs+=("$(calc 'a / b' "${ks[$r]}" "${qs[$r]}")"); done
printf '   ratio kvmbox/QEMU %11s %19s   (QEMU/kvmbox = %sx)\n' "$(fmt .3f "$(stat_of med "${rs[@]}")")" \
	"$(range .3f "${rs[@]}")" "$(fmt .1f "$(calc '1 / a' "$(stat_of med "${rs[@]}")")")"

[ $LINUX = 1 ] || { echo; echo "(Linux sections skipped: --no-linux)"; exit 0; }

# ---------------------------------------------------------------------------------------------
echo
KDIR=$("$ROOT/scripts/build-test-kernel.sh" 2>"$TMP/kbuild.log" | tail -n1)
if [ ! -f "$KDIR/vmlinux" ]; then
	echo "== 3/4. Linux: test kernel unavailable (scripts/build-test-kernel.sh failed) =="
	tail -n5 "$TMP/kbuild.log" | sed 's/^/    /'
	exit 0
fi
"$ROOT/scripts/mkinitramfs.sh" "$TMP/init.cpio" 2>"$TMP/initrd.log" >/dev/null ||
	{ echo "   mkinitramfs.sh failed:"; tail -n5 "$TMP/initrd.log"; exit 0; }

# The bench-only QEMU-bootable variant, remembered in the cache with a hash of its inputs.
VPATCH=$ROOT/bench/kernel/no-int3-selftest.patch
vkey=$({ cat "$ROOT/scripts/build-test-kernel.sh" "$ROOT"/scripts/kernel/* "$VPATCH"
	dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null; } | sha256sum | cut -c1-16)
VREC=$KVMBOX_CACHE/bench-variant.rec
VDIR=
if [ "$VARIANT" = auto ] && [ -f "$VREC" ] && [ "$(cut -d' ' -f1 "$VREC")" = "$vkey" ]; then
	VDIR=$(cut -d' ' -f2- "$VREC")
	[ -f "$VDIR/vmlinux" ] || VDIR=
fi
if [ "$VARIANT" = 1 ]; then
	echo "   (building/reusing the no-int3-selftest variant kernel; the first build takes minutes)" >&2
	VDIR=$("$ROOT/scripts/build-test-kernel.sh" "$VPATCH" 2>"$TMP/vbuild.log" | tail -n1)
	if [ -f "$VDIR/vmlinux" ]; then echo "$vkey $VDIR" >"$VREC"; else VDIR=; fi
fi

# Full mode: 3 boots per VMM and kernel, 2 when the variant doubles the boots (10-minute budget).
BOOT_REPS=${BOOT_REPS:-$([ -n "$VDIR" ] && echo 2 || echo 3)}
MEM_MIB=512
BASE_CMDLINE="console=ttyS0 panic=-1 kvmbox.shell=1"
GUEST_CMDLINE= # what kvmbox really gives the guest (read from its -v log), reused for QEMU
declare -A BT MEMO MEMT MEMG FAILED
KERNELS=(test)
[ -n "$VDIR" ] && KERNELS+=(variant)
declare -A KFILE=([test]=$KDIR/vmlinux [variant]=${VDIR:+$VDIR/vmlinux})

boot() { # VMM KERNEL REP
	local v=$1 k=$2 out cmd
	if [ "$v" = kvmbox ]; then
		cmd=("$KVMBOX" run -v --kernel "${KFILE[$k]}" --initrd "$TMP/init.cpio" --memory "${MEM_MIB}M"
			--cmdline "$BASE_CMDLINE")
	else
		cmd=("$QEMU" "${QEMU_COMMON[@]}" -machine pc -m "$MEM_MIB" -smp 1 -kernel "${KFILE[$k]}"
			-initrd "$TMP/init.cpio" -append "${GUEST_CMDLINE:-$BASE_CMDLINE}")
	fi
	out=$(python3 "$PROBE" --marker KVMBOX-INIT-OK --timeout "$BOOT_TIMEOUT" --hold 3 \
		--mem-mib $MEM_MIB --log "$TMP/boot-$v-$k-$3.log" --fail-pattern "KVM internal error" \
		--fail-pattern "emulation failure" --fail-pattern "Kernel panic" -- "${cmd[@]}")
	if [ "$v" = kvmbox ] && [ -z "$GUEST_CMDLINE" ]; then
		GUEST_CMDLINE=$(sed -n 's/.*Linux command line is now "\(.*\)"$/\1/p' "$TMP/boot-$v-$k-$3.log" | head -n1)
		# kvmbox printed none: it changed nothing, or its log format changed (then on kvm_pvm
		# assume what the pvm cpu template adds, KVM-HOST-NOTES.md).
		[ -n "$GUEST_CMDLINE" ] || GUEST_CMDLINE=$BASE_CMDLINE$([ "$backend" = kvm_pvm ] &&
			echo " noxsave clearcpuid=popcnt,smap nofsgsbase nopti mitigations=off")
	fi
	local kv
	declare -A f=()
	for kv in $(sed 's/ reason=.*//' <<<"$out"); do f[${kv%%=*}]=${kv#*=}; done
	if [ "${f[status]:-}" = ok ]; then
		BT[$v:$k]+="${f[marker_s]} "
		[ "${f[overhead_kib]:-NA}" != NA ] && {
			MEMO[$v:$k]+="$(calc 'a / 1024' "${f[overhead_kib]}") "
			MEMT[$v:$k]+="$(calc 'a / 1024' "${f[rss_kib]}") "
			MEMG[$v:$k]+="$(calc 'a / 1024' "${f[guest_kib]}") "
		}
	else
		BT[$v:$k]+="NA "
		FAILED[$v:$k]="after ${f[elapsed_s]:-?} s: $(sed -n 's/.*reason="\(.*\)"$/\1/p' <<<"$out")"
	fi
}

BOOT_TIMEOUT=$([ $QUICK = 1 ] && echo 150 || echo 240)
for ((r = 0; r < BOOT_REPS; r++)); do
	for k in "${KERNELS[@]}"; do
		order=(kvmbox qemu)
		[ $((r % 2)) = 1 ] && [ -n "$GUEST_CMDLINE" ] && order=(qemu kvmbox)
		for v in "${order[@]}"; do
			# A failure on a given kernel is deterministic here (an instruction KVM cannot
			# emulate): report it once instead of repeating a doomed boot.
			[ -n "${FAILED[$v:$k]:-}" ] && continue
			progress "boot rep $((r + 1))/$BOOT_REPS: $v, $k kernel"
			boot "$v" "$k" "$r"
		done
	done
done
progress_done

declare -A KLABEL=([test]="test kernel" [variant]="no-int3-selftest")
echo "== 3. Linux boot to KVMBOX-INIT-OK (ELF vmlinux via PVH, uncompressed initramfs, -m ${MEM_MIB}M, 1 vCPU; $BOOT_REPS reps) =="
echo "   test kernel: $KDIR/vmlinux"
[ -n "$VDIR" ] && echo "   no-int3-selftest: $VDIR/vmlinux (test kernel + bench/kernel/no-int3-selftest.patch)"
echo "   guest command line (both VMMs): \"${GUEST_CMDLINE:-$BASE_CMDLINE}\""
printf '   %-8s %-18s %12s %17s\n' VMM kernel "median s" "[min - max]"
for k in "${KERNELS[@]}"; do
	for v in kvmbox qemu; do
		# shellcheck disable=SC2086
		if [ -n "${FAILED[$v:$k]:-}" ] && [ "$(stat_of med ${BT[$v:$k]})" = NA ]; then
			printf '   %-8s %-18s %12s   %s\n' "${LABEL[$v]}" "${KLABEL[$k]}" FAILED "${FAILED[$v:$k]}"
		else
			printf '   %-8s %-18s %12s %17s\n' "${LABEL[$v]}" "${KLABEL[$k]}" \
				"$(fmt .2f "$(stat_of med ${BT[$v:$k]})")" "$(range .2f ${BT[$v:$k]})"
		fi
	done
	read -r -a ks <<<"${BT[kvmbox:$k]:-}"
	read -r -a qs <<<"${BT[qemu:$k]:-}"
	rs=()
	for ((r = 0; r < ${#ks[@]} && r < ${#qs[@]}; r++)); do rs+=("$(calc 'a / b' "${ks[$r]}" "${qs[$r]}")"); done
	med=$(stat_of med "${rs[@]}" NA)
	if [ "$med" = NA ]; then
		echo "   ratio kvmbox/QEMU (${KLABEL[$k]}): n/a (no repetition where both VMMs reached the marker)"
	else
		echo "   ratio kvmbox/QEMU (${KLABEL[$k]}): $(fmt .3f "$med") $(range .3f "${rs[@]}")"
	fi
done
if [ -n "${FAILED[qemu:test]:-}" ] && [ -z "$VDIR" ]; then
	note "QEMU cannot boot the test kernel (it keeps Linux's boot-time int3 self-test, see"
	note "scripts/kernel/kvmbox-guest.patch); run with --variant for QEMU boot and memory figures"
fi

echo
echo "== 4. VMM memory overhead, Linux at its shell (marker + 3 s): total Rss - Rss of the ${MEM_MIB} MiB guest-RAM mapping =="
printf '   %-8s %-18s %14s %15s %17s\n' VMM kernel "overhead MiB" "total Rss MiB" "guest RAM Rss MiB"
for k in "${KERNELS[@]}"; do
	for v in kvmbox qemu; do
		# shellcheck disable=SC2086
		if [ "$(stat_of med ${MEMO[$v:$k]:-NA})" = NA ]; then
			printf '   %-8s %-18s %14s   %s\n' "${LABEL[$v]}" "${KLABEL[$k]}" n/a \
				"${FAILED[$v:$k]:+never reached the shell (see section 3)}"
		else
			printf '   %-8s %-18s %14s %15s %17s\n' "${LABEL[$v]}" "${KLABEL[$k]}" \
				"$(fmt .1f "$(stat_of med ${MEMO[$v:$k]})")" "$(fmt .1f "$(stat_of med ${MEMT[$v:$k]})")" \
				"$(fmt .1f "$(stat_of med ${MEMG[$v:$k]})")"
		fi
	done
	# shellcheck disable=SC2086
	r=$(calc 'a / b' "$(stat_of med ${MEMO[kvmbox:$k]:-NA})" "$(stat_of med ${MEMO[qemu:$k]:-NA})")
	[ "$r" != NA ] && echo "   ratio kvmbox/QEMU overhead (${KLABEL[$k]}): $(fmt .3f "$r") (QEMU/kvmbox = $(fmt .1f "$(calc '1 / a' "$r")")x)"
done
[ $FAILS = 0 ] || echo "   ($FAILS micro-benchmark runs had an unexpected exit status and were left out)"
