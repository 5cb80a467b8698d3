#!/usr/bin/env bash
# Instructions per record on the logging thread, counted by callgrind (deterministic: the
# figure repeats exactly, unlike time on a noisy VM). Counts only inside bbx_run_<kind>, and
# subtracts the bare loop (bbx_run_empty). The first call of each function (run(1), which
# defines the site) is included but amortised over N.
#   bench/callgrind.sh [build_dir] [N]
set -euo pipefail
build=${1:-build/release}
n=${2:-200000}
bin=$build/bench/instr_count
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
count() {  # kind -> total Ir inside bbx_run_<kind>
  local out
  out=$(mktemp)
  BBX_DIR=${BBX_DIR:-/dev/shm/blackbox} valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect="bbx_run_$1" "$bin" "$1" "$n" >/dev/null 2>&1
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
  rm -f "$out"
}
empty=$(count empty)
printf "%-24s %12s %10s\n" kind "Ir total" "Ir/record"
for kind in four_args four_args_std_string two_ints span span_class span_class_fields \
            static_string disabled suppressed limited_kept every_n_skipped printf_four_args histogram_record \
            spdlog_async_four_args fmt_fwrite_four_args fprintf_four_args; do
  total=$(count "$kind")
  awk -v k="$kind" -v t="$total" -v e="$empty" -v n="$n" \
    'BEGIN { printf "%-24s %12s %10.1f\n", k, t, (t - e) / (n + 1) }'
done
awk -v e="$empty" -v n="$n" \
  'BEGIN { printf "(loop overhead subtracted: %.1f Ir per iteration)\n", e / (n + 1) }'

# Application metrics beside prometheus-cpp: an update per iteration. The histograms'
# values are computed in the loop; metric_values (that computation alone) is subtracted from
# them instead of the bare loop.
values=$(count metric_values)
for kind in counter_add gauge_set prometheus_counter_inc prometheus_gauge_set; do
  total=$(count "$kind")
  awk -v k="$kind" -v t="$total" -v e="$empty" -v n="$n" \
    'BEGIN { printf "%-28s %12s %10.1f\n", k, t, (t - e) / (n + 1) }'
done
for kind in metric_histogram_record prometheus_histogram_observe; do
  total=$(count "$kind")
  awk -v k="$kind" -v t="$total" -v e="$values" -v n="$n" \
    'BEGIN { printf "%-28s %12s %10.1f   (values subtracted)\n", k, t, (t - e) / (n + 1) }'
done

# The flusher thread: everything inside Flusher::run (drain, encode, zstd, framing, the
# write call; not the kernel's side of write) per record of the 4-argument message, with
# the hot-path benchmark's values and with archive_bench's varied "service" values; and with
# the console on (text, JSON; stderr and stdout to /dev/null): what the console adds.
for kind in flusher_four_args flusher_four_args_service flusher_console_text flusher_console_json; do
  out=$(mktemp)
  BBX_DIR=${BBX_DIR:-/dev/shm/blackbox} valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='blackbox::archive::Flusher::run*' "$bin" "$kind" "$n" >/dev/null 2>&1
  total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  rm -f "$out"
  awk -v k="$kind" -v t="$total" -v n="$n" \
    'BEGIN { printf "%-26s %12s %10.1f   (flusher thread)\n", k, t, t / n }'
done

# spdlog async's back end for comparison: its worker thread (format + write) per record of
# the same 4-argument message (hot-path values).
out=$(mktemp)
valgrind --tool=callgrind --callgrind-out-file="$out" \
  --toggle-collect='spdlog::details::thread_pool::worker_loop_*' "$bin" spdlog_async_four_args "$n" \
  >/dev/null 2>&1
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
rm -f "$out"
awk -v t="$total" -v n="$n" \
  'BEGIN { printf "%-26s %12s %10.1f   (spdlog worker thread)\n", "spdlog_async_backend", t, t / n }'
