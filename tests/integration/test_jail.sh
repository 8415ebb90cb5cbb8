#!/usr/bin/env bash
# kvmbox --jail: a bare-metal guest (2 vCPUs, a disk, the API) runs jailed as uid/gid 65534. Checked
# from the host's /proc: ids, no capabilities (bounding and ambient sets too), NoNewPrivs,
# Seccomp 2 on every thread, PID 1 of its own PID namespace, its own mount/IPC/UTS/network
# namespaces (or the one --netns names), a root holding only the jail directory's files and
# /dev/kvm, no inherited descriptors, the rlimits asked for; the API answers through the socket in
# the jail, SIGTERM to the parent ends the VM with 143; a file outside the jail cannot be named; a
# forbidden system call in the jail still ends kvmbox with 159 and its line; bad jail options fail
# with one line and status 2.
source "$(dirname "$0")/lib.sh"
need_kvm jail
command -v curl >/dev/null || { fail jail-setup "curl is not installed"; exit 1; }
GUEST=$ROOT/$O/guests/spin.elf
[ -f "$GUEST" ] || { fail jail-setup "$GUEST not built"; exit 1; }
[ "$(id -u)" = 0 ] || { fail jail-setup "the jail tests need root"; exit 1; }
T=$(mktemp -d /tmp/kvmbox-jail.XXXXXX)
chmod 755 "$T"
J=$T/jail
NS=kvmbox-jail-$$
PPID_K= CHILD=
cleanup() {
	[ -n "$PPID_K" ] && kill -9 "$PPID_K" 2>/dev/null
	[ -n "$CHILD" ] && kill -9 "$CHILD" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
U=65534
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
# The leak checker needs /proc, which a jail does not have: leaks are checked in the other tests.
# ASan reserves terabytes of address space for its shadow: no RLIMIT_AS in that build.
SAN=0 AS=,as=4294967296
[[ $(ldd "$KVMBOX") == *libasan* ]] && { SAN=1 AS=; ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0; }

make_jail() {
	rm -rf "$J"
	mkdir -p "$J"
	cp "$GUEST" "$J/spin.elf"
	truncate -s 16M "$J/disk.img"
	chown -R $U:$U "$J"
}
api() { # METHOD PATH [BODY] -> HTTP status
	curl -s -m 10 --unix-socket "$J/api.sock" -X "$1" ${3:+-d "$3"} -o "$T/body" -w '%{http_code}' "http://localhost$2"
}
# start NAME kvmbox-run-options...: jailed spin guest; PPID_K = the kvmbox started, CHILD = the jailed one
start() {
	local name=$1
	shift
	OUT=$LOGDIR/jail-$name.log
	"$KVMBOX" run --jail "$J" --uid $U --gid $U --kernel /spin.elf --cpus 2 --disk path=/disk.img \
		--api-sock /api.sock "$@" </dev/null >"$OUT" 2>&1 &
	PPID_K=$!
	CHILD=
	for _ in $(seq 1 200); do
		CHILD=$(pgrep -P "$PPID_K" | head -n1)
		[ -n "$CHILD" ] && [ -S "$J/api.sock" ] && [ "$(api GET /)" = 200 ] && return 0
		kill -0 "$PPID_K" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
stop() {
	kill -9 "$CHILD" "$PPID_K" 2>/dev/null
	wait "$PPID_K" 2>/dev/null
	PPID_K= CHILD=
}
field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$CHILD/status"; }

# ---- The confinement, seen from the host ----
make_jail
exec 7</etc/hostname # an inherited descriptor the jail must not keep
if start main --rlimit nofile=512,fsize=1073741824$AS; then
	exec 7<&-
	bad=
	[ "$(field Uid)" = "$U $U $U $U" ] || bad="$bad uid=[$(field Uid)]"
	[ "$(field Gid)" = "$U $U $U $U" ] || bad="$bad gid=[$(field Gid)]"
	[ "$(field Groups)" = "" ] || bad="$bad groups=[$(field Groups)]"
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(field $c)" = 0000000000000000 ] || bad="$bad $c=$(field $c)"
	done
	[ "$(field NoNewPrivs)" = 1 ] || bad="$bad nnp=$(field NoNewPrivs)"
	[ -z "$bad" ] && pass jail-unprivileged || fail jail-unprivileged "$bad"
	# Seccomp on every thread: one filter on main, two on the others.
	bad=$(for t in /proc/"$CHILD"/task/*; do
		awk -v tid="${t##*/}" -v pid="$CHILD" '/^Name:/{n=$2} /^Seccomp:/{s=$2} /^Seccomp_filters:/{f=$2}
			END{ if (n !~ /^(iou-|kvm-)/ && (s != 2 || (tid == pid && f != 1) || (tid != pid && f != 2))) print n, s, f }' "$t/status"
	done)
	[ -z "$bad" ] && pass jail-seccomp || fail jail-seccomp "threads without their filters: $bad"
	nspid=$(field NSpid)
	[ "${nspid##* }" = 1 ] && pass jail-pid1 || fail jail-pid1 "NSpid: $nspid"
	bad=
	for n in mnt pid net ipc uts; do
		[ "$(readlink /proc/"$CHILD"/ns/$n)" != "$(readlink /proc/self/ns/$n)" ] || bad="$bad $n"
	done
	[ -z "$bad" ] && pass jail-namespaces || fail jail-namespaces "shares the host's:$bad"
	root=$(ls -A /proc/"$CHILD"/root/ | tr '\n' ' ')
	dev=$(ls -A /proc/"$CHILD"/root/dev/ | tr '\n' ' ')
	[ "$root" = "api.sock dev disk.img spin.elf " ] && [ "$dev" = "kvm " ] && [ ! -e /proc/"$CHILD"/root/etc ] &&
		pass jail-root || fail jail-root "its / holds: $root (dev: $dev)"
	[ "$(stat -c '%F %t:%T %u:%g' "$J/dev/kvm")" = "character special file a:e8 $U:$U" ] &&
		pass jail-dev-kvm || fail jail-dev-kvm "$(stat -c '%F %t:%T %u:%g' "$J/dev/kvm")"
	leaked=$(for f in /proc/"$CHILD"/fd/*; do readlink "$f"; done | grep -c '/etc/hostname')
	[ "$leaked" = 0 ] && pass jail-no-inherited-fds || fail jail-no-inherited-fds "the jailed kvmbox holds /etc/hostname"
	grep -qE '^Max open files +512 +512 ' /proc/"$CHILD"/limits &&
		grep -qE '^Max file size +1073741824 +1073741824 ' /proc/"$CHILD"/limits &&
		{ [ $SAN = 1 ] || grep -qE '^Max address space +4294967296 +4294967296 ' /proc/"$CHILD"/limits; } &&
		pass jail-rlimits || fail jail-rlimits "$(grep -E 'open files|file size|address space' /proc/"$CHILD"/limits)"
	a=$(grep -c tick= "$OUT"); s1=$(api PATCH /vm '{"state": "Paused"}'); s2=$(api PATCH /vm '{"state": "Resumed"}')
	sleep 1.5
	[ "$s1 $s2" = "204 204" ] && [ "$(grep -c tick= "$OUT")" -gt "$a" ] && pass jail-guest-and-api ||
		fail jail-guest-and-api "pause/resume answered $s1 $s2, ticks $a -> $(grep -c tick= "$OUT")"
	kill -TERM "$PPID_K"
	end=$((SECONDS + 10))
	while kill -0 "$PPID_K" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
	if kill -0 "$PPID_K" 2>/dev/null; then
		fail jail-sigterm "still running 10 s after SIGTERM"
	else
		wait "$PPID_K"
		rc=$?
		[ $rc = 143 ] && ! kill -0 "$CHILD" 2>/dev/null && pass jail-sigterm || fail jail-sigterm "status $rc (expected 143)"
	fi
	stop
else
	exec 7<&- 2>/dev/null
	fail jail-unprivileged "the jailed guest did not start: $(tail -n3 "$OUT")"
fi

# ---- --netns joins a prepared network namespace ----
if ip netns add "$NS" 2>"$T/ns.err"; then
	make_jail
	if start netns --netns /run/netns/"$NS"; then
		[ "$(stat -L -c %i /proc/"$CHILD"/ns/net)" = "$(stat -L -c %i /run/netns/"$NS")" ] &&
			pass jail-netns || fail jail-netns "not in $NS"
	else
		fail jail-netns "did not start: $(tail -n3 "$OUT")"
	fi
	stop
else
	fail jail-netns "ip netns add: $(cat "$T/ns.err")"
fi

# ---- A forbidden call inside the jail (kvmbox is PID 1 there) still ends it, with its line ----
make_jail
gcc -shared -fPIC -O1 -o "$T/probe.so" "$ROOT/tests/integration/seccomp_probe.c" -ldl
OUT=$LOGDIR/jail-probe.log
KVMBOX_SECCOMP_PROBE=vcpu LD_PRELOAD=$T/probe.so timeout -k 5 30 "$KVMBOX" run --jail "$J" --uid $U --gid $U \
	--kernel /spin.elf </dev/null >"$OUT" 2>&1
rc=$?
[ $rc = 159 ] && grep -q 'system call 41 (socket) is not in the allow-list of vcpu threads' "$OUT" &&
	pass jail-seccomp-kills || fail jail-seccomp-kills "status $rc: $(grep -m1 -e seccomp -e error "$OUT")"

# ---- RLIMIT_AS below the guest's RAM: the VM is refused at start, with the reason ----
if [ $SAN = 0 ]; then
	make_jail
	OUT=$LOGDIR/jail-as.log
	timeout -k 5 30 "$KVMBOX" run --jail "$J" --uid $U --gid $U --rlimit as=268435456 --memory 512M \
		--kernel /spin.elf </dev/null >"$OUT" 2>&1
	rc=$?
	[ $rc = 2 ] && grep -q 'cannot allocate 512 MiB of guest RAM' "$OUT" && pass jail-rlimit-as ||
		fail jail-rlimit-as "status $rc: $(head -c 300 "$OUT")"
fi

# ---- Bad input: one line, status 2, nothing started ----
expect() { # NAME REGEX kvmbox-args...
	local name=$1 re=$2
	shift 2
	timeout 20 "$@" </dev/null >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc = 2 ] && grep -qE -e "$re" "$T/err" && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -s "$T/out" ]; then
		pass "jail-bad-$name"
	else
		fail "jail-bad-$name" "status $rc: $(head -c 300 "$T/err")"
	fi
}
make_jail
expect no-dir "--jail directory '$T/nope'" "$KVMBOX" run --jail "$T/nope" --uid $U --gid $U --kernel /spin.elf
expect no-uid "--jail needs --uid N and --gid N" "$KVMBOX" run --jail "$J" --kernel /spin.elf
expect uid-0 "--uid 0 would keep root" "$KVMBOX" run --jail "$J" --uid 0 --gid $U --kernel /spin.elf
expect uid-without-jail "need --jail DIR" "$KVMBOX" run --uid $U --gid $U --kernel "$GUEST"
expect bad-rlimit "unknown limit 'stack'" "$KVMBOX" run --jail "$J" --uid $U --gid $U --rlimit stack=1 --kernel /spin.elf
expect no-netns "--netns '$T/nons'" "$KVMBOX" run --jail "$J" --uid $U --gid $U --netns "$T/nons" --kernel /spin.elf
# A host path is not visible from inside the jail.
expect host-file "kernel '$GUEST'" "$KVMBOX" run --jail "$J" --uid $U --gid $U --kernel "$GUEST"
# A jail whose dev/ was turned into a link (say, by an earlier, compromised jailed kvmbox): refused,
# and root creates nothing where it points.
mkdir "$T/outside"
rm -rf "$J/dev"
ln -s "$T/outside" "$J/dev"
expect dev-symlink "'dev' in the jail is not a directory" "$KVMBOX" run --jail "$J" --uid $U --gid $U --kernel /spin.elf
[ -z "$(ls -A "$T/outside")" ] && pass jail-dev-symlink-outside-untouched ||
	fail jail-dev-symlink-outside-untouched "created outside the jail: $(ls -A "$T/outside")"
make_jail
if command -v setpriv >/dev/null; then
	expect not-root "--jail needs root" setpriv --reuid $U --regid $U --clear-groups "$KVMBOX" run --jail "$J" --uid $U --gid $U --kernel /spin.elf
else
	fail jail-bad-not-root "setpriv (util-linux) is not installed"
fi
