#!/usr/bin/env bash
# Snapshot/restore figures (issue 7), each against a reference measured in the same run; no asserts.
#   1. restore-to-running: from `kvmbox run --restore` starting to the first byte the restored guest
#      writes (pio_loop writing to COM1 in a loop), against a fresh boot of the same guest to its first
#      byte; for 128 MiB and 2 GiB guests (restore time must not grow with RAM: the memory file is
#      mapped, not read). kvmbox's own "restored ... in N ms" is shown beside it.
#   2. snapshot create: milliseconds per GiB of RAM the guest touched (the memory file's allocated
#      blocks), against `cp --sparse=always` of the resulting file (the host's copy speed).
#   3. Diff vs Full: the pages a Diff wrote against those of the Full it follows (track_dirty_pages;
#      the spin guest, which writes its stack on every tick).
# Usage: bench/snapshot.sh [--reps N]. Needs /dev/kvm. Environment: KVMBOX (default build/kvmbox).
set -uo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KVMBOX=${KVMBOX:-$ROOT/build/kvmbox}
GUEST=$ROOT/build/guests/pio_loop.elf
SPIN=$ROOT/build/guests/spin.elf
REPS=5
[ "${1:-}" = --reps ] && REPS=${2:?--reps needs N}
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "bench/snapshot.sh: needs a usable /dev/kvm" >&2; exit 2; }
make -C "$ROOT" -j2 build/kvmbox build/guests/pio_loop.elf build/guests/spin.elf >/dev/null || exit 1
T=$(mktemp -d /tmp/kvmbox-bsnap.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { printf '%s\n' "$@" | grep -v '^NA$' | sort -g | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "NA"}'; }
# first_byte LOG PID T0: ms from T0 until LOG is non-empty (NA after 60 s or if PID died first).
first_byte() {
	local end=$(($(now_ms) + 60000))
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null && [ "$(now_ms)" -lt $end ] || { echo NA; return; }
		sleep 0.002
	done
	echo $(($(now_ms) - $3))
}
api_ok() { for _ in $(seq 1 400); do curl -s -m 2 --unix-socket "$1" http://localhost/ >/dev/null && return 0; sleep 0.025; done; return 1; }

echo "== 1. Restore-to-running vs fresh boot (pio_loop writing to COM1; $REPS reps, median ms) =="
printf '   %-8s %12s %12s %14s %10s\n' RAM "fresh boot" restore "kvmbox says" ratio
for mem in 128M 2G; do
	SNAP=$T/snap-$mem
	"$KVMBOX" run --kernel "$GUEST" --cmdline "n=4000000000 port=0x3f8" --memory "$mem" \
		--api-sock "$T/s.sock" </dev/null >/dev/null 2>&1 &
	p=$!
	PIDS+=("$p")
	api_ok "$T/s.sock" && sleep 0.5 && "$KVMBOX" ctl "$T/s.sock" snapshot "$SNAP" >/dev/null
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	rm -f "$T/s.sock"
	fresh=() restore=() says=() ratio=()
	for _ in $(seq 1 "$REPS"); do
		t0=$(now_ms)
		"$KVMBOX" run --kernel "$GUEST" --cmdline "n=4000000000 port=0x3f8" --memory "$mem" \
			</dev/null >"$T/fresh.out" 2>/dev/null &
		p=$!
		PIDS+=("$p")
		f=$(first_byte "$T/fresh.out" $p "$t0")
		kill -9 $p 2>/dev/null
		wait $p 2>/dev/null
		rm -f "$T/fresh.out"
		t0=$(now_ms)
		"$KVMBOX" run --restore "$SNAP" -v </dev/null >"$T/rest.out" 2>"$T/rest.err" &
		p=$!
		PIDS+=("$p")
		r=$(first_byte "$T/rest.out" $p "$t0")
		kill -9 $p 2>/dev/null
		wait $p 2>/dev/null
		says+=("$(grep -o 'restored from .* in [0-9]* ms' "$T/rest.err" | grep -o '[0-9]* ms' | cut -d' ' -f1 | head -n1)")
		rm -f "$T/rest.out"
		fresh+=("$f") restore+=("$r")
		[ "$f" != NA ] && [ "$r" != NA ] && ratio+=("$(awk -v a="$r" -v b="$f" 'BEGIN { printf "%.2f", b ? a / b : 0 }')")
	done
	printf '   %-8s %12s %12s %14s %10s\n' "$mem" "$(median "${fresh[@]}")" "$(median "${restore[@]}")" \
		"$(median "${says[@]:-NA}")" "$(median "${ratio[@]:-NA}")"
done

echo "== 2. Snapshot create per GiB touched (Linux-free: the pio_loop guest touches little RAM) =="
for mem in 128M 2G; do
	SNAP=$T/snap-$mem
	[ -f "$SNAP/memory" ] || continue
	kib=$(du -k "$SNAP/memory" | cut -f1)
	"$KVMBOX" run --restore "$SNAP" --paused --api-sock "$T/c.sock" </dev/null >/dev/null 2>&1 &
	p=$!
	PIDS+=("$p")
	api_ok "$T/c.sock"
	t0=$(now_ms)
	curl -s -m 60 --unix-socket "$T/c.sock" -X PUT -d "{\"snapshot_path\": \"$T/c.state\", \"mem_file_path\": \"$T/c.mem\"}" \
		http://localhost/snapshot/create >/dev/null
	create=$(($(now_ms) - t0))
	t0=$(now_ms)
	cp --sparse=always "$T/c.mem" "$T/c.copy"
	copy=$(($(now_ms) - t0))
	printf '   %-6s %8s KiB touched: create %6s ms (%s ms/GiB), cp %6s ms (ratio %s)\n' "$mem" "$kib" \
		"$create" "$((create * 1048576 / (kib ? kib : 1)))" "$copy" \
		"$(awk -v a="$create" -v b="$copy" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
	kill -9 $p 2>/dev/null
	wait $p 2>/dev/null
	rm -f "$T/c.sock" "$T/c.state" "$T/c.mem" "$T/c.copy"
done

echo "== 3. Diff vs Full (128 MiB, track_dirty_pages, 0.5 s of the loop between them) =="
"$KVMBOX" --api-sock "$T/d.sock" -v </dev/null >/dev/null 2>"$T/d.err" &
p=$!
PIDS+=("$p")
api_ok "$T/d.sock"
put() { curl -s -m 60 --unix-socket "$T/d.sock" -X "$1" -d "$3" "http://localhost$2" >/dev/null; }
put PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128, "track_dirty_pages": true}'
put PUT /boot-source "{\"kernel_image_path\": \"$SPIN\", \"boot_args\": \"shift=24\"}"
put PUT /actions '{"action_type": "InstanceStart"}'
sleep 0.5
put PATCH /vm '{"state": "Paused"}'
put PUT /snapshot/create "{\"snapshot_path\": \"$T/f.state\", \"mem_file_path\": \"$T/f.mem\"}"
put PATCH /vm '{"state": "Resumed"}'
sleep 0.5
put PATCH /vm '{"state": "Paused"}'
cp --sparse=always "$T/f.mem" "$T/d.mem"
put PUT /snapshot/create "{\"snapshot_path\": \"$T/d.state\", \"mem_file_path\": \"$T/d.mem\", \"snapshot_type\": \"Diff\"}"
grep -o 'snapshot (\(Full\|Diff\)) written in [0-9]* ms: [0-9]* pages' "$T/d.err" | sed 's/^/   /'
kill -9 $p 2>/dev/null
