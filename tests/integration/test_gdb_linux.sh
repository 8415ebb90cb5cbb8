#!/usr/bin/env bash
# Debugging a Linux guest as under QEMU, with the test kernel's vmlinux symbols and Debian's gdb:
#   boot 1 (2 vCPUs, --gdb unix:...): at the guest's shell gdb attaches, breaks in the uname system
#     call (__x64_sys_newuname), which the test then runs from the guest console; `bt` shows the
#     system-call path (do_syscall_64), `info threads` one thread per vCPU, `monitor regs` both
#     vCPUs; gdb continues, the test types `poweroff -f`, gdb reports the exit and kvmbox exits 0;
#   boot 2 (1 vCPU, unknown_nmi_panic panic_print=0x40): `kvmbox ctl SOCKET nmi` makes the guest print
#     the NMI and a backtrace of every CPU (the standard way to see where a hung kernel is), then it
#     reboots after the panic (status 4).
source "$(dirname "$0")/lib.sh"
need_kvm gdb-linux
command -v gdb >/dev/null || { fail gdb-linux-setup "gdb is not installed (scripts/deps.sh installs it)"; exit 1; }
prepare_linux
VMLINUX=$KERNEL_DIR/vmlinux
T=$(mktemp -d /tmp/kvmbox-gdbl.XXXXXX)
KPID= GPID=
trap '[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null; [ -n "$GPID" ] && kill -9 "$GPID" 2>/dev/null; exec 8>&- 2>/dev/null; rm -rf "$T"' EXIT
BOOT_SECS=${BOOT_SECS:-600}

# wait_in FILE SECONDS REGEX: until FILE (CRs stripped) has a line matching REGEX; fails early
# when kvmbox ended.
wait_in() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		[ -f "$1" ] && tr -d '\r' <"$1" | grep -aqE "$3" && return 0
		kill -0 "$KPID" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
# type_line TEXT: a line on the guest console (kvmbox's stdin).
type_line() { printf '%s\n' "$1" >&8; }
# boot NAME CPUS CMDLINE-EXTRA kvmbox-args...: kvmbox in the background, stdin from a fifo on fd 8.
boot() {
	local name=$1 cpus=$2 extra=$3
	shift 3
	OUT=$LOGDIR/$name.log
	rm -f "$T/in"
	mkfifo "$T/in"
	"$KVMBOX" run -v --kernel "$VMLINUX" --initrd "$INITRD" --cpus "$cpus" --memory 512M \
		--cmdline "console=ttyS0 panic=-1 kvmbox.shell=1 $extra" "$@" <"$T/in" >"$OUT" 2>&1 &
	KPID=$!
	exec 8>"$T/in"
}
# finish SECONDS: wait for kvmbox to end; RC is its status (124 if it had to be killed).
finish() {
	local end=$((SECONDS + $1))
	while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.5; done
	if kill -0 "$KPID" 2>/dev/null; then
		kill -9 "$KPID"
		wait "$KPID" 2>/dev/null
		RC=124
	else
		wait "$KPID"
		RC=$?
	fi
	KPID=
	exec 8>&-
}

# ---- boot 1: gdb on a booted guest ----
boot gdb-linux 2 "" --gdb "unix:$T/gdb.sock"
if ! wait_in "$OUT" "$BOOT_SECS" '^KVMBOX-INIT-OK' || ! wait_in "$OUT" 60 '^~ # '; then
	fail gdb-linux-boot "no shell prompt on the console"
	excerpt "$OUT" 25
	exit 1
fi
pass gdb-linux-boot
GOUT=$LOGDIR/gdb-linux.gdbout
cat >"$T/linux.gdb" <<EOF
set pagination off
set confirm off
target remote $T/gdb.sock
break __x64_sys_newuname
continue
printf "@G stopped\n"
bt 3
info threads
monitor regs
delete
printf "@G continuing\n"
continue
EOF
timeout -k 5 600 gdb -batch -nx -x "$T/linux.gdb" "$VMLINUX" >"$GOUT" 2>&1 &
GPID=$!
if wait_in "$GOUT" 120 '^Breakpoint 1 at '; then
	sleep 3 # gdb has continued the guest
	type_line 'uname -r'
	if wait_in "$GOUT" 120 '^@G stopped'; then
		pass gdb-linux-syscall-break
	else
		fail gdb-linux-syscall-break "gdb did not stop in __x64_sys_newuname after 'uname' ran: $(tail -5 "$GOUT" | tr '\n' '|')"
	fi
else
	fail gdb-linux-syscall-break "gdb did not set its breakpoint: $(tail -5 "$GOUT" | tr '\n' '|')"
fi
if wait_in "$GOUT" 60 '^@G continuing'; then
	if grep -qE '^#0 .*__x64_sys_newuname' "$GOUT" && grep -qE '^#1 .*do_syscall_64' "$GOUT"; then
		pass gdb-linux-bt
	else
		fail gdb-linux-bt "want #0 __x64_sys_newuname, #1 do_syscall_64: $(grep -E '^#' "$GOUT" | tr '\n' '|')"
	fi
	if grep -qE '^[* ] 1 +Thread 1 \(vCPU 0, long mode' "$GOUT" && grep -qE '^[* ] 2 +Thread 2 \(vCPU 1, long mode' "$GOUT"; then
		pass gdb-linux-threads
	else
		fail gdb-linux-threads "want a thread per vCPU: $(grep -E '^[* ] [0-9]' "$GOUT" | tr '\n' '|')"
	fi
	if grep -q '^vCPU 0: ' "$GOUT" && grep -q '^vCPU 1: ' "$GOUT" && grep -q '^CR0=' "$GOUT"; then
		pass gdb-linux-monitor-regs
	else
		fail gdb-linux-monitor-regs "monitor regs printed no register dump for both vCPUs"
	fi
	sleep 2
	type_line 'poweroff -f'
fi
finish 120
wait "$GPID" 2>/dev/null
GPID=
if [ "$RC" -eq 0 ] && grep -q 'reboot: Power down' "$OUT" && grep -qE '^\[Inferior 1 .* exited normally\]' "$GOUT"; then
	pass gdb-linux-poweroff
else
	fail gdb-linux-poweroff "want status 0 after poweroff and gdb seeing the exit; status $RC, gdb: $(tail -2 "$GOUT" | tr '\n' '|')"
	excerpt "$OUT"
fi
check_guest_procs gdb-linux-processes "$OUT"

# ---- boot 2: an NMI on demand shows where the kernel is ----
boot nmi-linux 1 "unknown_nmi_panic panic_print=0x40" --api-sock "$T/api.sock"
if ! wait_in "$OUT" "$BOOT_SECS" '^KVMBOX-INIT-OK' || ! wait_in "$OUT" 60 '^~ # '; then
	fail nmi-linux-boot "no shell prompt on the console"
	excerpt "$OUT" 25
	exit 1
fi
if "$KVMBOX" ctl "$T/api.sock" nmi 2>"$T/nmi.err"; then
	if wait_in "$OUT" 120 'Kernel panic - not syncing: NMI' && wait_in "$OUT" 60 'NMI backtrace for cpu 0' &&
		wait_in "$OUT" 60 'Call Trace:'; then
		pass nmi-linux-backtrace
	else
		fail nmi-linux-backtrace "no NMI panic with a Call Trace on the console"
		excerpt "$OUT" 25
	fi
else
	fail nmi-linux-backtrace "ctl nmi failed: $(cat "$T/nmi.err")"
fi
finish 120
expect_eq nmi-linux-reboot "kvmbox's status after the guest's panic reboot" "$RC" 4
