#!/usr/bin/env bash
# Installs the Debian packages blackbox needs, only those that are missing.
set -euo pipefail
packages=(cmake make g++ clang libclang-rt-14-dev libfmt-dev libspdlog-dev libzstd-dev
          libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev libcli11-dev libre2-dev
          libdw-dev libcpp-httplib-dev prometheus-cpp-dev zlib1g-dev libprotozero-dev pkg-config
          valgrind zstd
          lnav bsdutils less  # lnav: logcat's lnav format is tested; script(1): the pager tests
          prometheus  # the server (and promtool) the metrics exposition is tested against
          clickhouse-server  # the server logcat ship is tested against
          systemtap-sdt-dev bpftrace)  # USDT probes (<sys/sdt.h>), and the tracer that tests them
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
"$(cd "$(dirname "$0")" && pwd)"/apt-install.sh ${missing[@]+"${missing[@]}"}
