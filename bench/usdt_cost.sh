#!/usr/bin/env bash
# The cost of a call site per call with no tracer, then with bpftrace attached (-p) to the
# record probe counting firings (root; Debian's bpftrace). bench/usdt_cost.sh [build_dir]
set -euo pipefail
build=${1:-build/release}
bin=$build/bench/usdt_cost
work=$(mktemp -d)
pid=0
trap 'rm -rf "$work"; pkill -INT -f "bpftrace -p $pid" 2>/dev/null || true' EXIT
export BBX_DIR=$work/rings
mkdir -m 700 "$BBX_DIR"
echo "== no tracer"
echo go | "$bin" | grep -v ready
echo "== bpftrace attached: usdt:*:blackbox:record { @[arg1] = count(); }"
mkfifo "$work/in"
"$bin" < "$work/in" > "$work/out" &
pid=$!
exec 8> "$work/in"
until grep -q ready "$work/out"; do sleep 0.05; done
bpftrace -p "$pid" -e 'usdt:*:blackbox:record { @[arg1] = count(); }' > "$work/bt" 2>&1 &
until grep -q Attaching "$work/bt"; do sleep 0.05; done
sleep 2  # "Attaching" comes before the probes are in place
echo go >&8
exec 8>&-
wait "$pid"
grep -v ready "$work/out"
pkill -INT -f "bpftrace -p $pid"
sleep 2
grep '^@' "$work/bt" | sed 's/^/firings counted /'
