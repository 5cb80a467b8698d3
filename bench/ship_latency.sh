#!/usr/bin/env bash
# The delay from a line logged to its row being visible in ClickHouse, through logcat ship.
# Starts Debian's clickhouse-server (scripts/install-deps.sh installs it) on loopback with a
# data directory of its own, creates share/clickhouse/blackbox_logs.sql's table, runs
# `bbx-run` around a loop that prints a marker line every 250 ms (each line a record in its
# live ring), and `logcat ship` following the rings; each marker's row is polled for every
# 5 ms. Prints the delays' minimum, median, 90th percentile and maximum.
#   bench/ship_latency.sh [build_dir] [batch_wait_s] [interval_s]
set -euo pipefail
build=${1:-build/release}
wait_s=${2:-1}
interval_s=${3:-0.2}
markers=40
command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] ||
  { echo "clickhouse-server is not installed (scripts/install-deps.sh)" >&2; exit 1; }
source_dir=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bbx-ship-latency-XXXXXX)
port=${BBX_CH_PORT:-18124}
mkdir -p "$work/rings" "$work/archive" && chmod 700 "$work/rings" "$work/archive"
cat > "$work/config.xml" <<XML
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>$port</http_port><tcp_port>$((port + 1))</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$work/data/</path><tmp_path>$work/tmp/</tmp_path>
  <user_files_path>$work/user_files/</user_files_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
</yandex>
XML
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  grep -c "again in" "$work/ship.err" | sed 's/^/batches tried again: /' || true
  rm -rf "$work"
}
trap cleanup EXIT
/usr/sbin/clickhouse-server --config-file="$work/config.xml" > "$work/server.log" 2>&1 &
pids+=($!)
q() { curl -s --data-binary "$1" "http://127.0.0.1:$port/"; }
for _ in $(seq 1 300); do curl -s "http://127.0.0.1:$port/ping" > /dev/null && break; sleep 0.1; done
q "$(cat "$source_dir/share/clickhouse/blackbox_logs.sql")"
export BBX_DIR=$work/rings BBX_ARCHIVE_DIR=$work/archive
"$build/tools/bbx-run/bbx-run" --app latency -- bash -c \
  "sleep 1; for i in \$(seq 1 $markers); do date +%s.%N > $work/t\$i; echo \"marker \$i\"; sleep 0.25; done; sleep 2" \
  > /dev/null &
pids+=($!)
"$build/tools/logcat/logcat" ship --to "clickhouse+http://127.0.0.1:$port/?table=blackbox_logs" \
  --state "$work/ship.state" --batch-wait "$wait_s" --interval "$interval_s" 2> "$work/ship.err" &
pids+=($!)
for i in $(seq 1 $markers); do
  until [ -s "$work/t$i" ]; do sleep 0.005; done
  t0=$(cat "$work/t$i")
  until [ "$(q "SELECT count() FROM blackbox_logs WHERE message = 'marker $i'")" = "1" ]; do
    sleep 0.005
  done
  echo "$(date +%s.%N) - $t0" | bc
done | sort -n | awk -v w="$wait_s" -v iv="$interval_s" '{d[NR] = $1} END {
  printf "batch-wait %s s, interval %s s: %d markers, delay min %.3f median %.3f p90 %.3f max %.3f s\n",
         w, iv, NR, d[1], d[int((NR + 1) / 2)], d[int(NR * 0.9)], d[NR] }'
