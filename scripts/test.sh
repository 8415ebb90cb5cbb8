#!/usr/bin/env bash
# The README's test command: install what the tests need, build kvmbox twice (plain, and
# ASan+UBSan), then run every suite. The last line is "N passed, N failed, N skipped".
#   scripts/test.sh            everything (about 60 minutes here, 65 with the kernel build)
#   scripts/test.sh unit       one or more suites (see tests/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)"
make -j"$(nproc)" SAN=1
exec tests/run.sh ${*:-lint unit fuzz fuzz-brief integration san-unit san-fuzz san-integration}
