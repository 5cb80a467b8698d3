#!/usr/bin/env bash
# Quick start 2: install what is missing, build everything, and run every test.
# Extra CMake arguments may be passed in BLACKBOX_CMAKE_ARGS (CI adds -DBLACKBOX_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-export-checkers.sh
build=${BLACKBOX_BUILD_DIR:-build/test}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${BLACKBOX_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" -j"$(nproc)" --output-on-failure
