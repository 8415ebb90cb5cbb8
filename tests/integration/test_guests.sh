#!/usr/bin/env bash
# Boots each bare-metal test guest (tests/guests, built by `make`) under kvmbox and checks what the guest
# printed on COM1 and the exit status its debug-exit write produced ((v << 1) | 1).
# Prints one line per case: "PASS <case>", "FAIL <case>: <why>" or "SKIP <case>: <why>".
# Environment: O (build dir, default build), KVMBOX (default $O/kvmbox), GUEST_DIR (default $O/guests),
# TIMEOUT (seconds per boot, default 60), KVMBOX_EXTRA_ARGS (appended to every `kvmbox run`),
# ACCEL (kvm, the default, or emu: every guest in kvmbox's x86 emulator, `--accel emu`, which needs no
# /dev/kvm; cases are then named emu-CASE, and SMP runs with one vCPU only: the emulated machine has no
# interrupt controller to start others). tests/integration/test_accel_emu.sh runs it that way.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${O:-build}
case $O in /*) ;; *) O=$ROOT/$O ;; esac
KVMBOX=${KVMBOX:-$O/kvmbox}
GUEST_DIR=${GUEST_DIR:-$O/guests}
TIMEOUT=${TIMEOUT:-60}
LOG_DIR=$O/test-logs/guests
read -r -a EXTRA_ARGS <<<"${KVMBOX_EXTRA_ARGS:-}"
ACCEL=${ACCEL:-kvm}
PREFIX= SMP_CPUS="1 2 4"
if [[ $ACCEL == emu ]]; then
	EXTRA_ARGS+=(--accel emu)
	PREFIX=emu- LOG_DIR=$O/test-logs/guests-emu
fi

# Exit values the guests write to the debug-exit port (tests/guests/guest.h).
EXIT_REALMODE=$((0x21))
EXIT_LONG64=$((0x22))
EXIT_INT3=$((0x23))
EXIT_SMP=$((0x24))
EXIT_USER3=$((0x26))
EXIT_INTR32=$((0x2a))
status_of() { echo $((($1 << 1) | 1)); }

npass=0 nfail=0 nskip=0
CASES=(hello32-exit0 hello32-exit5 realmode long64 int3 int3-bp popcnt cmpxchg16b user3 intr32)
for n in $SMP_CPUS; do CASES+=("smp-$n" "smp-$n-madt"); done

skip_all() {
	for c in "${CASES[@]}"; do
		echo "SKIP $c: $1"
		nskip=$((nskip + 1))
	done
	echo "# test_guests: 0 passed, 0 failed, $nskip skipped"
	exit 0
}

if [[ $ACCEL == kvm && (! -c /dev/kvm || ! -r /dev/kvm || ! -w /dev/kvm) ]]; then
	skip_all "/dev/kvm is not available"
fi
mkdir -p "$LOG_DIR"

# boot NAME ARGS...: runs `kvmbox run ARGS...`; sets LOG (guest output, CRs removed), ERR, STATUS.
boot() {
	local name=$1
	shift
	LOG=$LOG_DIR/$name.log
	ERR=$LOG_DIR/$name.err
	timeout -k 5 "$TIMEOUT" "$KVMBOX" run --debug-exit "$@" "${EXTRA_ARGS[@]}" </dev/null 2>"$ERR" | tr -d '\r' >"$LOG"
	STATUS=${PIPESTATUS[0]}
}

# Shows the end of a failed boot's output (once per boot), indented so that its PASS/FAIL lines are
# not counted.
SHOWN=
show_tail() {
	[[ $SHOWN == "$LOG" ]] && return
	SHOWN=$LOG
	echo "    | --- last lines of $LOG (status $STATUS) ---"
	tail -n 15 "$LOG" | tr -d '\000-\010\013-\037' | sed 's/^/    | /'
	if [[ -s $ERR ]]; then
		echo "    | --- stderr ---"
		tail -n 10 "$ERR" | tr -d '\000-\010\013-\037' | sed 's/^/    | /'
	fi
}

# check CASE WANT_STATUS FAIL_RE REGEX...: the last boot must not have timed out, printed no line matching
# FAIL_RE, printed a line matching each REGEX (ERE), and (unless WANT_STATUS is "-") exited with it.
check() {
	local name=$1 want=$2 fail_re=$3 why="" re line
	shift 3
	if ((STATUS == 124 || STATUS == 137)); then
		why="timed out after ${TIMEOUT}s"
	elif ((STATUS == 126 || STATUS == 127)); then
		why="cannot run $KVMBOX"
	elif line=$(grep -E -m1 -- "$fail_re" "$LOG"); then
		why="guest reported: $line"
	fi
	if [[ -z $why ]]; then
		for re in "$@"; do
			if ! grep -Eq -- "$re" "$LOG"; then
				why="no output line matching /$re/"
				break
			fi
		done
	fi
	if [[ -z $why && $want != - && $STATUS != "$want" ]]; then
		why="exit status $STATUS, want $want"
	fi
	if [[ -z $why ]]; then
		echo "PASS $PREFIX$name"
		npass=$((npass + 1))
	else
		echo "FAIL $PREFIX$name: $why"
		show_tail
		nfail=$((nfail + 1))
	fi
}

if [[ ! -x $KVMBOX ]]; then
	echo "# $KVMBOX is missing: run make first"
fi
for g in hello32 realmode long64 int3 user3 smp intr32; do
	[[ -f $GUEST_DIR/$g.elf ]] || echo "# $GUEST_DIR/$g.elf is missing: run make first"
done

# hello32: the multiboot hand-off, and the debug-exit status mapping for two values.
boot hello32-exit0 --kernel "$GUEST_DIR/hello32.elf"
check hello32-exit0 "$(status_of 0)" '^FAIL ' \
	'^hello32: eax=0x2badb002 ok' '^hello from multiboot$' '^bootloader: .+' \
	'^mem_upper: [1-9][0-9]* KiB$' '^cmdline: exit=0$' '^PASS hello32$'
boot hello32-exit5 --kernel "$GUEST_DIR/hello32.elf" --cmdline "exit=5 hello=world"
check hello32-exit5 "$(status_of 5)" '^FAIL ' \
	'^hello from multiboot$' '^cmdline: ".*exit=5 hello=world.*"$' '^cmdline: exit=5$' '^PASS hello32$'

# realmode: 32-bit entry -> real mode (port I/O, segment:offset addressing, far call) -> back.
boot realmode --kernel "$GUEST_DIR/realmode.elf"
check realmode "$(status_of "$EXIT_REALMODE")" '^FAIL ' \
	'^real mode: hello from 16-bit real mode, cs=0x1000 cr0=0x[0-9a-f]*[02468ace]$' \
	'^real mode: wrote es:di=3000:1234, read fs:4=3123:0004 -> 0x5a17c0de ok$' \
	'^real mode: far call with cs=0x0fff ok$' '^real mode: int \$0x30 and iret, mark=0x01e7 ok$' \
	'^real mode: 32-bit iret ok$' '^protected mode again: cr0=' '^PASS realmode$'

# long64: page tables, PAE + LME + paging, 64-bit code.
boot long64 --kernel "$GUEST_DIR/long64.elf"
check long64 "$(status_of "$EXIT_LONG64")" '^FAIL ' \
	'^boot32: multiboot entry' '^long mode: efer=0x[0-9a-f]*[4-7c-f][0-9a-f]{2} ' \
	'^long mode: rax=0x0123456789abcdef$' '^long mode: wrote via 0x800010[0-9a-f]{4}, read 0x0123456789abcdef' \
	'^PASS long64$'

# int3: #BP through the guest's IDT and back with iretq, popcnt and cmpxchg16b (which kvmbox emulates
# where the KVM backend cannot). One boot, a case per instruction and one for the whole guest.
boot int3 --kernel "$GUEST_DIR/int3.elf"
check int3 "$(status_of "$EXIT_INT3")" '^FAIL int3:' '^PASS int3$'
check int3-bp - '^FAIL int3-bp' '^int3 handled, rip=0x[0-9a-f]+$' '^after int3: ' '^PASS int3-bp$'
check popcnt - '^FAIL popcnt' '^popcnt 0x0123456789abcdef: m64=32 m32=20 ' '^PASS popcnt$'
check cmpxchg16b - '^FAIL cmpxchg16b' '^cmpxchg16b \(lock\): equal, zf=1 ' '^PASS cmpxchg16b$'

# user3: from ring 3, instructions with an operand in unclaimed MMIO: popcnt, which kvmbox emulates,
# reads it from the MMIO bus like the CPU would (an unclaimed read gives 0, so RAX = 0); crc32, which
# it does not know, gets the #UD hardware would give, not a VM stop.
boot user3 --kernel "$GUEST_DIR/user3.elf" --stats
check user3 "$(status_of "$EXIT_USER3")" '^FAIL user3' '^user3: entering ring 3$' \
	'^@T user3.popcnt_mmio=completed rax=0$' '^@T user3.crc32_mmio=6$' '^PASS user3$'

# intr32: 32-bit protected mode with its own IDT: int3, INT n through interrupt and trap gates, INTO
# and IRET (a restricted backend's KVM stops on INT n and the 32-bit IRET; kvmbox emulates them), and
# #UD for rdpru where the CPU lacks it.
boot intr32 --kernel "$GUEST_DIR/intr32.elf"
check intr32 "$(status_of "$EXIT_INTR32")" '^FAIL intr32' '^PASS intr32.int3$' '^PASS intr32.int-gate$' \
	'^PASS intr32.trap-gate$' '^PASS intr32.into$' '^(PASS|SKIP) intr32.rdpru-ud' \
	'^PASS intr32.repeat$' '^PASS intr32$'

# smp: INIT-SIPI-SIPI bring-up, counted by the guest and compared with the MADT.
for n in $SMP_CPUS; do
	boot "smp-$n" --kernel "$GUEST_DIR/smp.elf" --cmdline "cpus=$n" --cpus "$n"
	check "smp-$n" "$(status_of "$EXIT_SMP")" '^FAIL smp:' "^smp: $n cpus up$" '^smp: apic ids \(bsp first\):( [0-9]+)+$' \
		'^PASS smp$'
	check "smp-$n-madt" - '^FAIL smp-madt' "^madt: at 0x[0-9a-f]+, $n enabled cpus" '^PASS smp-madt$'
done

echo "# test_guests: $npass passed, $nfail failed, $nskip skipped (logs in $LOG_DIR)"
((nfail == 0))
