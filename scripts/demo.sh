#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBLACKBOX_BUILD_TESTS=OFF \
  -DBLACKBOX_BUILD_BENCH=OFF >/dev/null
cmake --build build/release --target blackbox_demo -j"$(nproc)"
build/release/examples/blackbox_demo
