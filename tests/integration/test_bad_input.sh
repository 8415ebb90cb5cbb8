#!/usr/bin/env bash
# Bad user input: each case must give one clear error line naming the problem and exit status 2,
# before any guest starts.
source "$(dirname "$0")/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
GUEST=$ROOT/$O/guests/hello32.elf

# expect NAME REGEX cmd...: status 2, stderr matches REGEX, and no guest output on stdout.
expect() {
	local name=$1 re=$2
	shift 2
	"$@" </dev/null >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$rc" -ne 2 ]; then
		fail "bad-input-$name" "exit status $rc, expected 2; stderr: $(head -c 300 "$T/err")"
	elif ! grep -qE "$re" "$T/err"; then
		fail "bad-input-$name" "stderr lacks /$re/: $(head -c 300 "$T/err")"
	elif [ -s "$T/out" ]; then
		fail "bad-input-$name" "something ran: stdout is not empty"
	else
		pass "bad-input-$name"
	fi
}

printf 'just some text, not a kernel\n' >"$T/text"
head -c 8192 /dev/urandom >"$T/random"
: >"$T/empty"
expect no-command 'no command' "$KVMBOX"
expect unknown-option "unknown option '--bogus'" "$KVMBOX" run --kernel "$GUEST" --bogus
expect missing-kernel "cannot open kernel '$T/nope'" "$KVMBOX" run --kernel "$T/nope"
expect empty-kernel "kernel '$T/empty' is empty" "$KVMBOX" run --kernel "$T/empty"
expect directory-kernel 'not a regular file' "$KVMBOX" run --kernel "$T"
# A FIFO nobody writes to: refused at once (timeout 10: opening it must not wait for a writer).
mkfifo "$T/fifo"
expect fifo-kernel "$T/fifo.*not a regular file" timeout 10 "$KVMBOX" run --kernel "$T/fifo"
expect fifo-initrd "$T/fifo.*not a regular file" timeout 10 "$KVMBOX" run --kernel "$GUEST" --initrd "$T/fifo"
expect missing-initrd "cannot open initrd '$T/nope'" "$KVMBOX" run --kernel "$GUEST" --initrd "$T/nope"
expect memory-junk "invalid --memory 'lots'" "$KVMBOX" run --kernel "$GUEST" --memory lots
expect memory-huge 'out of range' "$KVMBOX" run --kernel "$GUEST" --memory 4096T
# 1 TiB is in range but more than this host's RAM and swap: refused before a page is touched.
expect memory-over-host 'is more than this host can commit' "$KVMBOX" run --kernel "$GUEST" --memory 1T
expect cpus-zero "invalid --cpus '0'" "$KVMBOX" run --kernel "$GUEST" --cpus 0
expect cpus-many "invalid --cpus '999'" "$KVMBOX" run --kernel "$GUEST" --cpus 999
expect template "unknown --cpu-template 'fast'" "$KVMBOX" run --kernel "$GUEST" --cpu-template fast

if [ -r /dev/kvm ]; then
	expect not-a-kernel "$T/text.*not a bootable kernel" "$KVMBOX" run --kernel "$T/text"
	expect random-bytes "$T/random.*not a bootable kernel" "$KVMBOX" run --kernel "$T/random"
	# A real kernel cut short, and one claiming a boot protocol older than 2.06.
	KDIR=$(ls -d "${KVMBOX_CACHE:-$HOME/.cache/kvmbox}"/kernel-*/ 2>/dev/null | head -n1)
	if [ -n "$KDIR" ] && [ -f "$KDIR/bzImage" ]; then
		head -c 200000 "$KDIR/bzImage" >"$T/truncated"
		expect truncated-bzimage "$T/truncated.*(truncated|shorter|size)" "$KVMBOX" run --kernel "$T/truncated"
		cp "$KDIR/bzImage" "$T/oldproto"
		printf '\x04\x02' | dd of="$T/oldproto" bs=1 seek=$((0x206)) conv=notrunc status=none
		expect old-protocol "$T/oldproto.*protocol 2\.04" "$KVMBOX" run --kernel "$T/oldproto"
		expect ram-too-small "$KDIR/bzImage.*(RAM|memory)" "$KVMBOX" run --kernel "$KDIR/bzImage" --memory 4M
	else
		skip bad-input-real-kernel "no cached test kernel yet"
	fi
	expect truncated-elf "$T/elf.*" bash -c "head -c 300 '$GUEST' >'$T/elf' && exec '$KVMBOX' run --kernel '$T/elf'"
	# No /dev/kvm at all: a private mount namespace with an empty /dev.
	if command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
		expect no-dev-kvm '/dev/kvm not found' unshare -m sh -c "mount -t tmpfs none /dev && exec '$KVMBOX' run --kernel '$GUEST'"
	else
		skip bad-input-no-dev-kvm "cannot make a mount namespace"
	fi
	# No permission: an unprivileged user (the device is root-only here).
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ "$(stat -c %a /dev/kvm)" = 600 ]; then
		cp "$GUEST" "$T/guest.elf" && chmod 644 "$T/guest.elf"
		expect no-permission 'permission denied opening /dev/kvm.*kvm. group' \
			setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMBOX" run --kernel "$T/guest.elf"
	else
		skip bad-input-no-permission "needs root and a root-only /dev/kvm"
	fi
else
	skip bad-input-kernel-formats "no /dev/kvm"
fi
