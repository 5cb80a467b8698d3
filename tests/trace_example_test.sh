#!/usr/bin/env bash
# The propagation example: one trace through a worker pool and a second process. logcat
# --trace finds, under the id it prints, the request's span, the three pool tasks' spans
# (their start records and end records, all children of the request's span) and the child
# process's records.
set -euo pipefail
example=$1 logcat=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$(BBX_DIR="$dir/rings" BBX_ARCHIVE_DIR="$dir/archive" "$example")
id=$(echo "$out" | sed -n 's/^trace \([0-9a-f]\{32\}\): .*/\1/p')
[ -n "$id" ] || { echo "no trace id in: $out"; exit 1; }
trace=$("$logcat" "$dir/archive" --trace "$id" --color=never -o json)
count() { echo "$trace" | grep -c "$1" || true; }
[ "$(count '"message":"handle order 42"')" = 1 ] || { echo "$trace"; exit 1; }
[ "$(count '"message":"reserve stock for item')" = 3 ] || { echo "$trace"; exit 1; }
[ "$(count '"message":"item [0-2] reserved"')" = 3 ] || { echo "$trace"; exit 1; }
[ "$(count '"message":"charge card for order 42"')" = 1 ] || { echo "$trace"; exit 1; }
[ "$(count '"message":"span ended after')" = 5 ] || { echo "$trace"; exit 1; }
pids=$(echo "$trace" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p' | sort -u | wc -l)
[ "$pids" = 2 ] || { echo "expected records of 2 processes, got $pids"; exit 1; }
# The request's span is the parent of the four others: its id is the span of its start record.
request=$(echo "$trace" | grep '"message":"handle order 42"' | sed -n 's/.*"span_id":"\([0-9a-f]*\)".*/\1/p')
[ "$(echo "$trace" | grep -c "parent $request")" = 4 ] || { echo "$trace"; exit 1; }
echo "trace $id: 1 request, 3 pool tasks, 1 child process: ok"
