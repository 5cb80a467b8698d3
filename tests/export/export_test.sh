#!/usr/bin/env bash
# logcat's exports checked by code that is not ours (check_otlp.mjs, check_chrome.mjs say
# what each checks): the helper's export sample (every level and kind of field value, spans
# nested and on another thread, a remote parent), and the propagation example (one trace
# over two processes). Needs scripts/install-export-checkers.sh (scripts/test.sh runs it).
set -euo pipefail
helper=$1 logcat=$2 example=$3
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/@bufbuild/protobuf" ] || ! command -v protoc >/dev/null; then
  # Skipped (CTest's SKIP_RETURN_CODE), saying why: never a pass that checked nothing.
  echo "skipped: the export checkers are not installed (scripts/install-export-checkers.sh;"
  echo "scripts/test.sh runs it and says why it failed)"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
protos="$here/node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos"
protoc -I "$protos" --include_imports --descriptor_set_out="$dir/otlp.pb" \
  "$protos/opentelemetry/proto/collector/logs/v1/logs_service.proto"

check() {  # name, archive directory, logcat arguments...
  local name=$1 archive=$2
  shift 2
  "$logcat" "$archive" "$@" -o json >"$dir/$name.records.jsonl"
  "$logcat" "$archive" "$@" -o otlp >"$dir/$name.otlp.jsonl"
  "$logcat" "$archive" "$@" -o chrome >"$dir/$name.chrome.json"
  [ -s "$dir/$name.records.jsonl" ] || { echo "$name: no records"; exit 1; }
  node "$here/check_otlp.mjs" "$dir/otlp.pb" "$dir/$name.otlp.jsonl" "$dir/$name.records.jsonl"
  node "$here/check_chrome.mjs" "$dir/$name.chrome.json" "$dir/$name.records.jsonl"
}

BBX_DIR="$dir/rings" BBX_ARCHIVE_DIR="$dir/sample" "$helper" export-sample
check sample "$dir/sample"
out=$(BBX_DIR="$dir/rings" BBX_ARCHIVE_DIR="$dir/example" "$example")
id=$(echo "$out" | sed -n 's/^trace \([0-9a-f]\{32\}\): .*/\1/p')
check example "$dir/example" --trace "$id"
# Two processes: two named processes in the Chrome trace, two resources in one request.
grep -c '"name":"process_name"' "$dir/example.chrome.json" | grep -qx 2 ||
  { echo "expected two processes"; exit 1; }
grep -o '"process.pid"' "$dir/example.otlp.jsonl" | wc -l | grep -qx 2 ||
  { echo "expected two resources"; exit 1; }
