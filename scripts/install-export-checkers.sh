#!/usr/bin/env bash
# Installs what the export checks (tests/export) run on: Debian's protoc (it compiles the
# OpenTelemetry protos), Node.js and npm, and the npm packages pinned in
# tests/export/package-lock.json (into tests/export/node_modules, only when missing or
# older than the lock file).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
scripts/apt-install.sh ${missing[@]+"${missing[@]}"}
stamp=tests/export/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ tests/export/package-lock.json -nt "$stamp" ]; then
  echo "installing the export checkers (npm ci in tests/export)"
  # Bounded: a registry that cannot be reached fails in about a minute, not after npm's
  # default five-minute timeouts and retries behind a spinner.
  (cd tests/export && npm ci --no-audit --no-fund --ignore-scripts --no-progress \
    --loglevel=error --fetch-timeout=30000 --fetch-retries=1)
fi
