#!/usr/bin/env bash
# Crash consistency of virtio-blk: an acknowledged flush survives `kill -9` of kvmbox.
#   CRASH_TRIALS trials (default 3) on one ext4 image: the guest writes 64 KiB files, each followed by
#   a syncfs, and prints "@T crash.flushed=N" after each; at a random moment the host kills kvmbox with
#   SIGKILL. Then the image's journal is recovered (e2fsck -fy), it must check clean (e2fsck -fn), and
#   every file the guest saw flushed must be on it, byte for byte (debugfs). The next trial boots on the
#   same image.
#   A host disk that fills up (a 32 MiB image on a 4 MiB tmpfs, the guest writing 8 MiB): the guest's
#   writes fail with an error, kvmbox keeps serving and exits 0 after the guest's poweroff.
#   Storage that vanishes under the image (a loop device whose backing file the host truncates to
#   nothing and whose capacity it resets while the guest writes): the guest's writes fail with an
#   error, kvmbox keeps serving and exits 0 after the guest's poweroff.
source "$(dirname "$0")/lib.sh"
need_kvm crash
for tool in mkfs.ext4 debugfs e2fsck; do
	command -v "$tool" >/dev/null || { fail crash-setup "$tool not installed (e2fsprogs)"; exit 1; }
done
prepare_linux_overlay
T=$(mktemp -d /tmp/kvmbox-crash.XXXXXX)
KPID= LOOP=
cleanup() {
	[ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	mountpoint -q "$T/small" && umount "$T/small"
	rm -rf "$T"
}
trap cleanup EXIT
IMG=$T/crash.img
truncate -s 64M "$IMG" && mkfs.ext4 -q -F "$IMG" || { fail crash-setup "cannot make $IMG"; exit 1; }
BOOT_SECS=${BOOT_SECS:-600}

# wait_flushed N SECONDS: until the guest reported file N flushed (or kvmbox ended).
wait_flushed() {
	local end=$((SECONDS + $2)) got
	while [ $SECONDS -lt $end ] && kill -0 "$KPID" 2>/dev/null; do
		got=$(gval crash.flushed)
		[ -n "$got" ] && [ "$got" -ge "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

for t in $(seq "${CRASH_TRIALS:-3}"); do
	name=crash-trial-$t
	OUT=$LOGDIR/$name.log
	"$KVMBOX" run --kernel "$GUEST_KERNEL" --initrd "$INITRD" --memory 512M --disk "path=$IMG" \
		--cmdline "console=ttyS0 panic=-1 kvmbox.run=crash kvmbox.trial=$t" </dev/null >"$OUT" 2>&1 &
	KPID=$!
	# A random moment: after 2-4 flushed files (one takes seconds here), 0-2 s into the next.
	if ! wait_flushed "$((2 + RANDOM % 3))" "$BOOT_SECS"; then
		fail "$name" "the guest never reported its flushed files"
		excerpt "$OUT"
		continue
	fi
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	kill -9 "$KPID"
	wait "$KPID" 2>/dev/null
	KPID=
	flushed=$(gval crash.flushed)
	e2fsck -fy "$IMG" >"$LOGDIR/$name.fsck1" 2>&1
	rc1=$?
	e2fsck -fn "$IMG" >"$LOGDIR/$name.fsck2" 2>&1
	rc2=$?
	if [ "$rc1" -gt 1 ] || [ "$rc2" -ne 0 ]; then
		fail "$name-fsck" "after recovery e2fsck -fy said $rc1, then e2fsck -fn said $rc2: $(tail -3 "$LOGDIR/$name.fsck2" | tr '\n' '|')"
	else
		pass "$name-fsck"
	fi
	bad=
	for i in $(seq "$flushed"); do
		want=$(yes "crash ${t}_$i" | head -c 65536 | sha256sum | cut -d' ' -f1)
		got=$(debugfs -R "cat /${t}_$i" "$IMG" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$got" = "$want" ] || bad="$bad ${t}_$i"
	done
	if [ -n "$bad" ]; then
		fail "$name-flushed-files" "of $flushed flushed files these are missing or wrong:$bad"
	else
		pass "$name-flushed-files"
		echo "# $name: killed after $flushed flushed files; all $flushed on the image"
	fi
done

# ENOSPC under the image: a sparse 32 MiB image (0.3 MiB used after mkfs) on a 4 MiB tmpfs.
mkdir -p "$T/small"
if mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null; then
	truncate -s 32M "$T/small/img" && mkfs.ext4 -q -F "$T/small/img"
	run_guest crash-enospc 600 --kernel "$GUEST_KERNEL" --initrd "$INITRD" --memory 512M \
		--disk "path=$T/small/img" --cmdline "console=ttyS0 panic=-1 kvmbox.run=crash kvmbox.crash=fill"
	if check_poweroff crash-enospc; then
		st=$(gval crash.fill_status) err=$(gval crash.fill_error)
		if [ "$(gval crash.fill_done)" = 1 ] && [ -n "$st" ] && [ "$st" != 0 ] && [ -n "$err" ]; then
			pass crash-enospc
			echo "# crash-enospc: the guest's dd failed ($st: $err); kvmbox exited 0"
		else
			fail crash-enospc "want the guest's write to fail with an error, got status '$st' error '$err'"
			excerpt "$OUT"
		fi
	fi
	umount "$T/small"
else
	fail crash-enospc "cannot mount a tmpfs (needs root)"
fi

# Storage vanishing under the image: ext4 on a loop device; once the guest has flushed two files the
# host truncates the loop's backing file to nothing and resets the device's capacity, so every
# later write fails on the host (ENOSPC/EIO, reads see the end of the device).
truncate -s 64M "$T/van.img" && mkfs.ext4 -q -F "$T/van.img"
if LOOP=$(losetup -f --show "$T/van.img" 2>"$T/loop.err"); then
	OUT=$LOGDIR/crash-vanish.log
	"$KVMBOX" run --kernel "$GUEST_KERNEL" --initrd "$INITRD" --memory 512M --disk "path=$LOOP" \
		--cmdline "console=ttyS0 panic=-1 kvmbox.run=crash kvmbox.crash=vanish" </dev/null >"$OUT" 2>&1 &
	KPID=$!
	if wait_flushed 2 "$BOOT_SECS"; then
		truncate -s 0 "$T/van.img" && losetup -c "$LOOP"
		end=$((SECONDS + 300)) RC=
		while kill -0 "$KPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
		if kill -0 "$KPID" 2>/dev/null; then
			RC=timeout
			kill -9 "$KPID"
		fi
		wait "$KPID" 2>/dev/null
		rc=$?
		[ -n "$RC" ] || RC=$rc
		KPID=
		if [ "$RC" = timeout ]; then
			fail crash-vanish "the guest did not power off within 300 s of the storage vanishing"
			excerpt "$OUT"
		elif check_poweroff crash-vanish; then
			err=$(gval crash.vanish_error)
			if [ -n "$(gval crash.vanish_done)" ] && [ -n "$err" ]; then
				pass crash-vanish
				echo "# crash-vanish: after $(gval crash.flushed) flushed files the guest's writes failed ($err); kvmbox exited 0"
			else
				fail crash-vanish "want the guest's writes to fail with an error, got '$err'"
				excerpt "$OUT"
			fi
		fi
	else
		fail crash-vanish "the guest never reported its flushed files"
		excerpt "$OUT"
		kill -9 "$KPID" 2>/dev/null
		KPID=
	fi
	losetup -d "$LOOP"
	LOOP=
else
	fail crash-vanish "losetup: $(cat "$T/loop.err")"
fi
