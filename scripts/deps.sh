#!/usr/bin/env bash
# Install what kvmbox needs to build and test (Debian 12, as root, unattended). Installs only what
# is missing, so it is cheap to call on every CI run; apt-get update only when a package is unknown.
set -euo pipefail
. "$(dirname "$0")/cache.sh"

apt_need \
	gcc make build-essential \
	bc flex bison libelf-dev libssl-dev linux-source-6.1 patch xz-utils \
	cpio acpica-tools expect tmux qemu-system-x86 clang clang-format util-linux liburing-dev e2fsprogs iproute2 \
	libjansson-dev libhttp-parser-dev libseccomp-dev curl socat gdb
