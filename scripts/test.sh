#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir "${FNHOST_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
