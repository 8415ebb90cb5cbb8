#!/usr/bin/env bash
# A person at the console: in tmux, boot the test kernel to its shell, type `echo hi`, read `hi`,
# quit with Ctrl-A x, and check that kvmbox exited 0 and the terminal's settings came back.
# One vCPU: the console is the subject here; SMP boots are test_linux.sh's (and slower here).
source "$(dirname "$0")/lib.sh"
need_kvm interactive
command -v tmux >/dev/null || { skip interactive "tmux not installed"; exit 0; }
prepare_linux
S=kvmbox-itest-$$
PANE=$LOGDIR/interactive.pane
rm -f "$LOGDIR"/stty-before "$LOGDIR"/stty-after
trap 'tmux kill-session -t "$S" 2>/dev/null' EXIT

tmux new-session -d -s "$S" -x 160 -y 50 "stty -g >$LOGDIR/stty-before; \
	$KVMBOX run --kernel $KERNEL_DIR/vmlinux --initrd $INITRD --cpus 1 --memory 512M \
	--cmdline 'console=ttyS0 panic=-1 kvmbox.shell=1'; echo KVMBOX-EXIT=\$?; \
	stty -g >$LOGDIR/stty-after; sleep 600"

# wait_for REGEX SECONDS: poll the pane until a line matches.
wait_for() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		tmux capture-pane -t "$S" -p -J -S -2000 >"$PANE" 2>/dev/null
		grep -qE "$1" "$PANE" && return 0
		sleep 1
	done
	return 1
}

if ! wait_for '^KVMBOX-INIT-OK' 420 || ! wait_for '# $' 60; then
	fail interactive-prompt "no shell prompt on the console"
	excerpt "$PANE"
	exit 1
fi
pass interactive-prompt
tmux send-keys -t "$S" 'echo hi' Enter
if wait_for '^hi\s*$' 30; then pass interactive-echo-hi; else fail interactive-echo-hi "typed 'echo hi', no 'hi' line"; excerpt "$PANE"; fi
tmux send-keys -t "$S" C-a h
if wait_for 'C-a x +exit kvmbox' 10; then pass interactive-ctrl-a-h; else fail interactive-ctrl-a-h "no key help after Ctrl-A h"; fi
tmux send-keys -t "$S" C-a x
if wait_for '^KVMBOX-EXIT=0' 30; then pass interactive-ctrl-a-x; else fail interactive-ctrl-a-x "kvmbox did not exit 0 on Ctrl-A x"; excerpt "$PANE"; fi
for i in 1 2 3 4 5; do [ -s "$LOGDIR/stty-after" ] && break; sleep 1; done
if [ -s "$LOGDIR/stty-before" ] && cmp -s "$LOGDIR/stty-before" "$LOGDIR/stty-after"; then
	pass interactive-terminal-restored
else
	fail interactive-terminal-restored "stty -g differs after exit: $(cat "$LOGDIR/stty-before") vs $(cat "$LOGDIR/stty-after" 2>/dev/null)"
fi
