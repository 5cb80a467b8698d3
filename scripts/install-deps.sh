#!/usr/bin/env bash
# Installs the Debian packages blackbox needs, only those that are missing.
set -euo pipefail
packages=(cmake make g++ clang libclang-rt-14-dev libfmt-dev libspdlog-dev libzstd-dev
          libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev libcli11-dev libre2-dev
          libdw-dev pkg-config valgrind zstd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
