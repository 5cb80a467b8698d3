#!/usr/bin/env bash
# The quick start's demo: it prints its records as logcat does (the span's end as "end of
# ..."), once each, and its last line is the next command to try, which then shows the same
# records from the archive.
set -euo pipefail
demo=$1 logcat=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export BBX_DIR="$dir/rings" BBX_ARCHIVE_DIR="$dir/archive"
out=$("$demo")
fail() { echo "$1"; echo "--- the demo printed:"; echo "$out"; exit 1; }
last=$(echo "$out" | tail -n 1)
[[ "$last" == "next: logcat -u demo "* ]] || fail "last line: $last"
[ "$(echo "$out" | grep -c 'request 101 took 0.50 ms')" = 1 ] || fail "request 101 not once"
echo "$out" | grep -q ' span     end of report for 3 workers after ' || fail "no span end line"
# The command it names (logcat from this build), from the archive: the same lines.
next=$(echo "$last" | sed 's/^next: logcat \([^(]*[^ (]\) *(.*/\1/')
from_archive=$("$logcat" $next --color=never)
shown=$(echo "$out" | grep -E '^[0-9]{4}-' )
[ "$from_archive" = "$shown" ] || { diff <(echo "$shown") <(echo "$from_archive"); fail "logcat $next differs"; }
echo "demo: $(echo "$shown" | wc -l) records, as logcat -u demo shows them: ok"
