#!/usr/bin/env bash
# virtio-rng and virtio-console with the Linux test kernel.
#  rng:     --rng; the guest reads /dev/hwrng twice (64 bytes each): non-zero, different, and the
#           kernel's current hwrng is the virtio one.
#  console: --console virtio in tmux, console=hvc0 last on the command line: the shell started by
#           /init runs on hvc0, typed keys reach it (`tty` says /dev/hvc0, `echo hi` prints hi), and
#           Ctrl-A x quits with status 0.
source "$(dirname "$0")/lib.sh"
need_kvm virtio-misc
BOOT_TIMEOUT=${BOOT_TIMEOUT:-360}
HAVE_RNG=yes HAVE_CONSOLE=yes
kvmbox_knows --rng || { skip virtio-rng "kvmbox does not know the option --rng yet"; HAVE_RNG=no; }
kvmbox_knows --console virtio || { skip virtio-console "kvmbox does not know the option --console yet"; HAVE_CONSOLE=no; }
if [ $HAVE_CONSOLE = yes ] && ! command -v tmux >/dev/null; then
	skip virtio-console "tmux not installed"
	HAVE_CONSOLE=no
fi
[ $HAVE_RNG = yes ] || [ $HAVE_CONSOLE = yes ] || exit 0
prepare_linux_overlay
if [ $HAVE_CONSOLE = yes ]; then
	expect_bad virtio-console-bad-value "bogus" --kernel "$GUEST_KERNEL" --console bogus
fi

# check_rng: the rng hook's report in $OUT (kvmbox.run=rng: two 64-byte reads of /dev/hwrng).
check_rng() {
	[ "$(gval rng.done)" = yes ] || { fail virtio-rng-script "the guest's rng.sh did not finish"; excerpt "$OUT"; }
	cur=$(gval rng.current)
	if [[ $cur == virtio* ]]; then
		pass virtio-rng-current
	else
		fail virtio-rng-current "rng_current is '$cur' (available: '$(gval rng.available)')"
	fi
	a=$(gval rng.a) b=$(gval rng.b)
	if [[ ! $a =~ ^[0-9a-f]{128}$ ]] || [[ ! $b =~ ^[0-9a-f]{128}$ ]]; then
		fail virtio-rng-read "expected two reads of 64 bytes (128 hex digits), got '$a' and '$b'"
		excerpt "$OUT"
	elif [[ $a =~ ^(00)+$ || $b =~ ^(00)+$ || $a =~ ^(ff)+$ || $b =~ ^(ff)+$ ]]; then
		fail virtio-rng-read "constant bytes from /dev/hwrng: $a / $b"
	elif [ "$a" = "$b" ]; then
		fail virtio-rng-read "two reads of /dev/hwrng gave the same 64 bytes: $a"
	else
		pass virtio-rng-read
	fi
}

# A boot of its own.
if [ $HAVE_RNG = yes ]; then
	t0=$SECONDS
	run_guest rng "$BOOT_TIMEOUT" --kernel "$GUEST_KERNEL" --initrd "$INITRD" --memory 512M --rng \
		--cmdline "console=ttyS0 panic=-1 kvmbox.run=rng"
	echo "# rng: boot+poweroff $((SECONDS - t0)) s"
	check_guest_procs virtio-rng-processes
	if check_poweroff virtio-rng-boot; then
		pass virtio-rng-boot
		check_rng
	fi
fi

[ $HAVE_CONSOLE = yes ] || exit 0
S=kvmbox-vcon-$$
PANE=$LOGDIR/virtio-console.pane
trap 'tmux kill-session -t "$S" 2>/dev/null' EXIT
# console=hvc0 last: /dev/console (and so /init and its shell) is hvc0; ttyS0 still gets the kernel log.
tmux new-session -d -s "$S" -x 160 -y 50 "$KVMBOX run --kernel $GUEST_KERNEL --initrd $INITRD \
	--memory 512M --console virtio --cmdline 'console=ttyS0 console=hvc0 panic=-1 kvmbox.shell=1' \
	2>$LOGDIR/virtio-console.stderr; printf '\\nKVMBOX-EXIT=%s\\n' \$?; sleep 600"

# wait_for REGEX SECONDS: poll the pane until a line matches.
wait_for() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		tmux capture-pane -t "$S" -p -J -S -3000 >"$PANE" 2>/dev/null
		grep -qE "$1" "$PANE" && return 0
		sleep 1
	done
	return 1
}

if ! wait_for '^KVMBOX-INIT-OK' "$BOOT_TIMEOUT" || ! wait_for '# $' 60; then
	fail virtio-console-prompt "no shell prompt on the console"
	excerpt "$PANE"
	excerpt "$LOGDIR/virtio-console.stderr" 5
	exit 1
fi
pass virtio-console-prompt
tmux send-keys -t "$S" 'tty' Enter
if wait_for '^/dev/hvc0\s*$' 30; then
	pass virtio-console-shell-on-hvc0
else
	fail virtio-console-shell-on-hvc0 "typed 'tty', no '/dev/hvc0' line"
	excerpt "$PANE"
fi
tmux send-keys -t "$S" 'echo hi' Enter
if wait_for '^hi\s*$' 30; then
	pass virtio-console-echo-hi
else
	fail virtio-console-echo-hi "typed 'echo hi', no 'hi' line"
	excerpt "$PANE"
fi
tmux send-keys -t "$S" C-a x
if wait_for '^KVMBOX-EXIT=0' 30; then
	pass virtio-console-ctrl-a-x
else
	fail virtio-console-ctrl-a-x "kvmbox did not exit 0 on Ctrl-A x"
	excerpt "$PANE"
fi
