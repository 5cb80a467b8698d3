#!/usr/bin/env bash
# Quick start 2: install what is missing, build the library, tools, examples and tests, and
# run every test. Extra CMake arguments may be passed in BLACKBOX_CMAKE_ARGS (CI adds
# -DBLACKBOX_WERROR=ON, and -DBLACKBOX_BUILD_BENCH=ON: the benchmarks are not tests, so they
# are not built here; CI builds them to keep them compiling).
#
# The export checks (logcat -o otlp / -o chrome, checked by independent npm packages) need
# the npm registry. When it cannot be reached (a proxy that intercepts TLS, no network), the
# rest is built and tested all the same: those checks are reported as skipped, with why.
# Exits non-zero only if a test failed (or the build did).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! scripts/install-export-checkers.sh; then
  cat >&2 <<'EOT'
blackbox: the export checkers could not be installed (above: npm's error). Everything else is
  built and tested; the export checks (ctest -R logcat_exports) are skipped. Behind a proxy
  that intercepts TLS, point npm at its CA and run this again:
    npm config set cafile /path/to/proxy-ca.pem    # or: export NODE_EXTRA_CA_CERTS=/path/to/proxy-ca.pem
EOT
fi
build=${BLACKBOX_BUILD_DIR:-build/test}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBLACKBOX_BUILD_BENCH=OFF \
  ${BLACKBOX_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" -j"$(nproc)" --output-on-failure
