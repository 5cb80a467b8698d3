#!/usr/bin/env bash
# Quick start 1: install what is missing, build the library, the demo and the tools (logcat,
# bbx-run, bbx-ringdump), and run the demo. `cmake --install build/release` then installs
# all of it (the tests and benchmarks are not built here: scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBLACKBOX_BUILD_TESTS=OFF \
  -DBLACKBOX_BUILD_BENCH=OFF >/dev/null
echo "blackbox: building the library, the demo and the tools in build/release"
cmake --build build/release -j"$(nproc)"
build/release/examples/blackbox_demo
tools=build/release/tools
cat <<EOT

blackbox: the tools are built: $tools/logcat/logcat, $tools/bbx-run/bbx-run,
  $tools/ringdump/bbx-ringdump. To install them with the library, its headers and its CMake
  package (find_package(blackbox)):
    cmake --install build/release --prefix ~/.local    # or: sudo cmake --install build/release
try: $tools/logcat/logcat -u demo
EOT
