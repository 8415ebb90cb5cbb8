# Shared by bench/run.sh and bench/emu.sh: progress lines, medians and ranges, awk arithmetic that
# passes NA through, and a timer for one whole run. Sourced, not run.
note() { echo "  note: $*"; }
progress() { [ -t 2 ] && printf '\r\033[K  ... %s' "$*" >&2; true; }
progress_done() { [ -t 2 ] && printf '\r\033[K' >&2; true; }

# median / min / max of the arguments (numbers; "NA" entries are ignored); NA when none.
stat_of() {
	local what=$1
	shift
	printf '%s\n' "$@" | grep -v '^NA$' | grep . | sort -g | awk -v w="$what" '
		{ a[NR] = $1 }
		END {
			if (NR == 0) { print "NA"; exit }
			if (w == "min") print a[1]
			else if (w == "max") print a[NR]
			else if (NR % 2) print a[(NR + 1) / 2]
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}
# calc EXPR VARS...: awk arithmetic with a=$2 b=$3 ...; NA if any input is NA or a divisor is 0.
calc() {
	local expr=$1
	shift
	case " $* " in *" NA "*) echo NA; return ;; esac
	awk -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" "BEGIN { r = $expr; print r }" 2>/dev/null || echo NA
}
fmt() { [ "$2" = NA ] && echo NA || printf "%$1" "$2"; }
range() { echo "[$(fmt "$1" "$(stat_of min "${@:2}")") - $(fmt "$1" "$(stat_of max "${@:2}")")]"; }

# timed EXPECTED_STATUS CMD...: wall clock of one whole run in seconds (DT), or NA when the exit
# status is not the expected one (FAILS counts those).
FAILS=0
timed() {
	local want=$1 s e rc
	shift
	s=$EPOCHREALTIME
	"$@" </dev/null >/dev/null 2>&1
	rc=$?
	e=$EPOCHREALTIME
	if [ "$rc" != "$want" ]; then
		DT=NA
		FAILS=$((FAILS + 1))
		echo "  warning: exit status $rc (want $want): $*" >&2
	else
		DT=$(calc 'b - a' "$s" "$e")
	fi
}

