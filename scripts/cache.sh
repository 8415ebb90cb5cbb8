# shellcheck shell=bash
# Shared helpers for scripts/*.sh (source it; it sets no shell options of its own).
# Downloads and builds go to a per-machine cache outside the repo, so a fresh clone (CI) reuses them.

KVMBOX_CACHE=${KVMBOX_CACHE:-$HOME/.cache/kvmbox}
KVMBOX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export KVMBOX_CACHE KVMBOX_ROOT
mkdir -p "$KVMBOX_CACHE/debs"

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "error: $*"; exit 1; }

# apt_fetch PKG: print the path of PKG's .deb in the cache, downloading it if absent. Only when the
# download fails (no package lists yet on a fresh machine) is `apt-get update` run, once.
apt_fetch() {
	local pkg=$1 debs
	debs=("$KVMBOX_CACHE/debs/${pkg}_"*.deb)
	if [ ! -e "${debs[-1]}" ]; then
		# apt-get download writes into the current directory; it needs no root.
		if ! (cd "$KVMBOX_CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2); then
			log "apt-get download $pkg failed; running apt-get update and retrying"
			apt-get update -q >&2 || die "apt-get update failed"
			(cd "$KVMBOX_CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
				die "cannot download $pkg"
		fi
		debs=("$KVMBOX_CACHE/debs/${pkg}_"*.deb)
	fi
	echo "${debs[-1]}"
}

# apt_need PKG...: install the packages that are not installed yet (root, no prompts).
apt_need() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (run as root or install): ${missing[*]}"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may have no package lists: update only when the install cannot find a package.
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
		die "apt-get install ${missing[*]} failed"
}
