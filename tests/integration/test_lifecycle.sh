#!/usr/bin/env bash
# The control plane with the Linux test kernel, driven the way Firecracker's users drive it.
#  config: `kvmbox --api-sock S --config-file F` boots from Firecracker's config-file JSON; GET /
#          says Running; a guest ticking every 100 ms (busybox init) makes no progress while
#          paused (5 s), continues after resume; after a 30 s pause its kernel log shows no
#          soft-lockup or RCU-stall warning; `kvmbox ctl regs` shows it in long mode and
#          `kvmbox ctl nmi 0` makes its kernel report the NMI; SendCtrlAltDel makes its kernel
#          restart (kernel.ctrl-alt-del=1): kvmbox exits 4. Metrics: FlushMetrics lines are JSON
#          and grow.
#  kata:   Kata's / firecracker-containerd's call sequence on an empty `kvmbox --api-sock`:
#          machine-config (2 vCPUs), boot-source with pci=off acpi=off, a read-only root drive,
#          an empty placeholder drive later PATCHed to a real image, a data drive, vsock,
#          InstanceStart (answered in well under the 500 ms clients allow); the guest sees 2 CPUs
#          (MP table), its disks on virtio-mmio; the data disk is written while the VM is paused
#          and resumed in the middle, and the image holds exactly what the guest wrote.
source "$(dirname "$0")/lib.sh"
need_kvm lifecycle
command -v curl >/dev/null || { fail lifecycle-setup "curl is not installed (scripts/deps.sh installs it)"; exit 1; }
prepare_linux_overlay
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
T=$(mktemp -d /tmp/kvmbox-life.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# api SOCK METHOD PATH [BODY]: prints the HTTP status, the body goes to $T/body.
api() {
	local sock=$1 method=$2 path=$3 body=${4:-}
	if [ -n "$body" ]; then
		curl -s -m 10 --unix-socket "$sock" -X "$method" -H 'Content-Type: application/json' \
			-d "$body" -o "$T/body" -w '%{http_code}' "http://localhost$path"
	else
		curl -s -m 10 --unix-socket "$sock" -X "$method" -o "$T/body" -w '%{http_code}' \
			"http://localhost$path"
	fi
}
# expect_api NAME WANT SOCK METHOD PATH [BODY]
expect_api() {
	local name=$1 want=$2 got
	shift 2
	got=$(api "$@")
	if [ "$got" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "$2 $3: HTTP $got, expected $want; body: $(head -c 300 "$T/body")"
		return 1
	fi
}
# wait_for SECONDS REGEX LOG: until the log has a line matching REGEX.
wait_for() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		gsays "$2" "$3" && return 0
		kill -0 "$KPID" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
last_tick() { gval tick "$1"; }
# wait_exit SECONDS: until kvmbox ($KPID) has exited.
wait_exit() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		kill -0 "$KPID" 2>/dev/null || return 0
		sleep 0.2
	done
	return 1
}
# wait_sock SOCK: until the API answers.
wait_sock() {
	local i
	for i in $(seq 1 100); do
		[ -S "$1" ] && [ "$(api "$1" GET /)" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------- config file + pause/resume + CAD
SOCK=$T/api.sock
OUT=$LOGDIR/lifecycle-config.log
cat >"$T/vm.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$GUEST_KERNEL",
    "initrd_path": "$INITRD",
    "boot_args": "console=ttyS0 panic=-1 kvmbox.init=lifecycle"
  },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256 },
  "metrics": { "metrics_path": "$T/metrics.jsonl" }
}
JSON
: >"$T/metrics.jsonl"
timeout -k 5 $((BOOT_TIMEOUT + 120)) "$KVMBOX" --api-sock "$SOCK" --config-file "$T/vm.json" \
	</dev/null >"$OUT" 2>&1 &
KPID=$!
PIDS+=("$KPID")
if ! wait_sock "$SOCK"; then
	fail config-boot "the API socket never answered"
	excerpt "$OUT"
else
	api "$SOCK" GET / >/dev/null
	if grep -q '"state": *"Running"' "$T/body"; then pass config-boot-running; else fail config-boot-running "GET / says $(cat "$T/body")"; fi
	if ! wait_for "$BOOT_TIMEOUT" '@T tick=5' "$OUT"; then
		fail config-boot "no ticks from the guest within $BOOT_TIMEOUT s"
		excerpt "$OUT"
	else
		pass config-boot
		expect_api metrics-flush 204 "$SOCK" PUT /actions '{"action_type": "FlushMetrics"}'
		# Pause: no tick may appear for 5 s.
		expect_api pause 204 "$SOCK" PATCH /vm '{"state": "Paused"}'
		api "$SOCK" GET / >/dev/null
		grep -q '"state": *"Paused"' "$T/body" && pass pause-state || fail pause-state "GET / says $(cat "$T/body")"
		a=$(last_tick "$OUT")
		sleep 5
		b=$(last_tick "$OUT")
		if [ -n "$a" ] && [ "$a" = "$b" ]; then pass pause-no-progress; else fail pause-no-progress "ticks went from $a to $b while paused"; fi
		expect_api pause-twice 204 "$SOCK" PATCH /vm '{"state": "Paused"}'
		expect_api resume 204 "$SOCK" PATCH /vm '{"state": "Resumed"}'
		if wait_for 60 "@T tick=$((b + 5))\$" "$OUT"; then pass resume-progress; else fail resume-progress "no tick after $b within 60 s of resuming"; fi
		# A long pause must not look like a lockup to the guest.
		expect_api pause-long 204 "$SOCK" PATCH /vm '{"state": "Paused"}'
		# Only what the guest says after this pause counts: a slow boot on a loaded host may
		# have tripped the soft-lockup detector before (boot work runs emulated here).
		off=$(stat -c %s "$OUT")
		sleep 30
		c=$(last_tick "$OUT")
		expect_api resume-long 204 "$SOCK" PATCH /vm '{"state": "Resumed"}'
		if wait_for 60 "@T tick=$((c + 5))\$" "$OUT"; then pass resume-long-progress; else fail resume-long-progress "no progress after the 30 s pause"; fi
		tail -c +$((off + 1)) "$OUT" >"$T/after-pause.log"
		expect_eq soft-lockup-detector-on "kernel.soft_watchdog in the guest" "$(gval lifecycle.soft_watchdog)" 1
		if gsays 'soft lockup|rcu.*(stall|self-detected)|hung_task|clocksource.*unstable' "$T/after-pause.log"; then
			fail pause-no-warnings "the guest complained after the pause: $(tr -d '\r' <"$T/after-pause.log" | grep -aE 'soft lockup|rcu.*stall|self-detected|hung_task|clocksource' | head -n 3)"
		else
			pass pause-no-warnings
		fi
		expect_api metrics-flush-2 204 "$SOCK" PUT /actions '{"action_type": "FlushMetrics"}'
		# A running Linux guest inspected: its registers, and an NMI it reports on its console.
		if "$KVMBOX" ctl "$SOCK" regs >"$T/regs" 2>&1 && grep -q '^vCPU 0: [a-z]*, long mode' "$T/regs" &&
			grep -qE '^RIP=[0-9a-f]{16} ' "$T/regs"; then
			pass linux-regs
		else
			fail linux-regs "ctl regs: $(head -c 300 "$T/regs")"
		fi
		if "$KVMBOX" ctl "$SOCK" nmi 0 && wait_for 60 'NMI received for unknown reason' "$OUT"; then
			pass linux-nmi
		else
			fail linux-nmi "no 'NMI received for unknown reason' from the guest within 60 s"
		fi
		# Ctrl-Alt-Del through the i8042: the kernel's keyboard driver sees the three keys and
		# restarts the machine (kernel.ctrl-alt-del=1); a guest reboot ends kvmbox with status 4.
		expect_eq cad-enabled "kernel.ctrl-alt-del in the guest" "$(gval lifecycle.cad)" 1
		expect_api ctrl-alt-del 204 "$SOCK" PUT /actions '{"action_type": "SendCtrlAltDel"}'
		wait_exit 90 || kill -TERM "$KPID"
		wait "$KPID"
		RC=$?
		if [ "$RC" -eq 4 ] && gsays 'reboot: Restarting system' "$OUT"; then pass ctrl-alt-del-reboot; else fail ctrl-alt-del-reboot "status $RC (want 4, the guest's reboot)"; excerpt "$OUT"; fi
		# Metrics: JSON lines (two flushes + the final one), counters that grew.
		n=$(wc -l <"$T/metrics.jsonl")
		if [ "$n" -ge 2 ] && python3 - "$T/metrics.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def total(o):
    # every integer in the object, summed: a crude "work done" figure
    if isinstance(o, dict): return sum(total(v) for v in o.values())
    if isinstance(o, list): return sum(total(v) for v in o)
    return o if isinstance(o, int) and not isinstance(o, bool) else 0
assert total(lines[-1]) > total(lines[0]), "counters did not grow"
PY
		then pass metrics-file; else fail metrics-file "$n lines in $T/metrics.jsonl: $(head -c 300 "$T/metrics.jsonl")"; fi
	fi
fi
kill -9 "$KPID" 2>/dev/null

# ---------------------------------------------------------------- Kata's API sequence, pci=off
SOCK=$T/kata.sock
OUT=$LOGDIR/lifecycle-kata.log
ROOTFS=$T/root.ext4 PLACEHOLDER=$T/placeholder DATA=$T/data.img SCRATCH=$T/scratch.img
mkdir -p "$T/rootdir" && echo kvmbox-root >"$T/rootdir/hostfile"
mkfs.ext4 -q -d "$T/rootdir" "$ROOTFS" 16M
: >"$PLACEHOLDER"
truncate -s 64M "$SCRATCH"
truncate -s 1M "$PLACEHOLDER"
truncate -s 80M "$DATA"
# kvmbox runs in a network namespace of the test's own, where it creates the tap.
NS=kvmbox-life$$
ip netns add "$NS" || { fail kata-setup "ip netns add failed"; exit 1; }
trap 'for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p"; done; cleanup; ip netns del "$NS" 2>/dev/null' EXIT
timeout -k 5 $((BOOT_TIMEOUT + 60)) ip netns exec "$NS" "$KVMBOX" --api-sock "$SOCK" --id kata-test \
	</dev/null >"$OUT" 2>&1 &
KPID=$!
PIDS+=("$KPID")
if ! wait_sock "$SOCK"; then
	fail kata-api "the API socket never answered"
	excerpt "$OUT"
	exit 0
fi
api "$SOCK" GET / >/dev/null
grep -q '"state": *"Not started"' "$T/body" && pass kata-not-started || fail kata-not-started "GET / says $(cat "$T/body")"
grep -q '"id": *"kata-test"' "$T/body" && pass kata-id || fail kata-id "GET / says $(cat "$T/body")"
expect_api kata-machine-config 204 "$SOCK" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 512, "smt": false}'
expect_api kata-boot-source 204 "$SOCK" PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\", \"initrd_path\": \"$INITRD\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off acpi=off kvmbox.run=diskwrite kvmbox.disk=vdc kvmbox.n=300000\"}"
expect_api kata-drive-root 204 "$SOCK" PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$ROOTFS\", \"is_root_device\": true, \"is_read_only\": true}"
expect_api kata-drive-placeholder 204 "$SOCK" PUT /drives/stub0 "{\"drive_id\": \"stub0\", \"path_on_host\": \"$PLACEHOLDER\", \"is_root_device\": false, \"is_read_only\": false}"
expect_api kata-drive-data 204 "$SOCK" PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$DATA\", \"is_root_device\": false, \"is_read_only\": false}"
expect_api kata-net 204 "$SOCK" PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}'
expect_api kata-vsock 204 "$SOCK" PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$T/kata.vsock\"}"
t0=$(date +%s%N)
expect_api kata-start 204 "$SOCK" PUT /actions '{"action_type": "InstanceStart"}'
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# InstanceStart answered in $ms ms"
[ "$ms" -lt 500 ] && pass kata-start-fast || fail kata-start-fast "InstanceStart took $ms ms (clients time out at 500 ms)"
expect_api kata-boot-source-after-start 400 "$SOCK" PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\"}"
expect_api kata-start-twice 400 "$SOCK" PUT /actions '{"action_type": "InstanceStart"}'
# firecracker-containerd swaps a placeholder for the real image after start.
expect_api kata-drive-patch 204 "$SOCK" PATCH /drives/stub0 "{\"drive_id\": \"stub0\", \"path_on_host\": \"$SCRATCH\"}"
if wait_for "$BOOT_TIMEOUT" '@T t.write-start=' "$OUT"; then
	expect_api kata-pause-mid-write 204 "$SOCK" PATCH /vm '{"state": "Paused"}'
	gsays '@T t.write-end=' "$OUT" && echo "# the write had already finished when the pause landed"
	sleep 2
	expect_api kata-resume-mid-write 204 "$SOCK" PATCH /vm '{"state": "Resumed"}'
else
	fail kata-boot "the guest never started writing"
	excerpt "$OUT"
fi
# With acpi=off there is no ACPI poweroff: the guest's `poweroff -f` halts it ("System halted"),
# as on Firecracker; the orchestrator then stops the VMM (kvmbox's PUT /kvmbox/stop).
if wait_for "$BOOT_TIMEOUT" 'System halted|Power down' "$OUT"; then
	expect_api kata-stop 204 "$SOCK" PUT /kvmbox/stop '{"exit_status": 0}'
else
	fail kata-halt "the guest never halted"
	excerpt "$OUT"
fi
wait "$KPID"
RC=$?
expect_eq kata-exit "kvmbox's exit status after PUT /kvmbox/stop" "$RC" 0
expect_eq kata-nproc "CPUs the guest saw (MP table, acpi=off)" "$(tr -d '\r' <"$OUT" | grep -a '^nproc=' | cut -d= -f2)" 2
expect_eq kata-disk-transport "the data disk's transport" "$(gval vdc.transport)" virtio-mmio
expect_eq kata-net-mac "the guest's eth0 MAC" "$(gval net.eth0.mac)" 06:00:ac:10:00:02
expect_eq kata-net-transport "eth0's transport" "$(gval net.eth0.transport)" virtio-mmio
gen=$(gval diskwrite.generated)
size=$(gval diskwrite.size)
img=$(head -c "${size:-0}" "$DATA" | sha256sum | cut -d' ' -f1)
expect_eq kata-disk-intact "SHA-256 of the image's first $size bytes vs what the guest wrote" "$img" "$gen"
expect_eq kata-disk-readback "the guest's read-back" "$(gval diskwrite.readback)" "$gen"
# The placeholder swap: the guest's vdb grew to 64 MiB (131072 sectors) after the PATCH.
tr -d '\r' <"$OUT" | grep -aqE 'vdb.*(capacity change|131072)' && pass kata-drive-resized || fail kata-drive-resized "the guest never saw vdb's new capacity"
