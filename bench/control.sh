#!/usr/bin/env bash
# Control-plane benchmark: API readiness, InstanceStart, pause/resume latency (bench/control.py)
# and vsock throughput against a host unix-socket pair (bench/vsock.sh, when present). REPS=N.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" build/kvmbox build/guests/spin.elf
python3 bench/control.py
if [ -x bench/vsock.sh ]; then bench/vsock.sh; fi
