#!/usr/bin/env bash
# Measures `stocksync import` of a 1M-row ERP export (the first 1M stock rows
# of the full benchmark's steady catalogue: SKUs B000000… at msk-wh-1,
# msk-dark-1, spb-store-1), straight to Kafka (--config) and through a
# running instance (--api): wall time and the import process's peak RSS.
#
#   bench/import.sh [BROKERS] [ROWS] [MODES]   default 127.0.0.1:19092 1000000 "kafka http"
#
# It builds bin/stocksync, starts `stocksync serve --insecure-open` on a
# fresh topic prefix (it creates the topics and applies the snapshots while
# the import runs), and prints /usr/bin/time -v's figures.
set -euo pipefail
brokers=${1:-127.0.0.1:19092}
rows=${2:-1000000}
modes=${3:-kafka http}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $serve 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o bin/stocksync ./cmd/stocksync
prefix="bench-import-$(date +%s)."
port=$((18000 + RANDOM % 1000))
sed -e "s/brokers: \[127.0.0.1:19092\]/brokers: [$brokers]/" -e "s/topic_prefix: stocksync./topic_prefix: $prefix/" \
    -e "s|data_dir: ./data|data_dir: $work/data|" examples/stocksync.yaml > "$work/stocksync.yaml"
awk -v n="$rows" 'BEGIN { print "sku,location,on_hand"; split("msk-wh-1 msk-dark-1 spb-store-1", loc, " ");
  for (i = 0; i < n; i++) printf "B%06d,%s,%d\n", int(i / 3), loc[i % 3 + 1], 20 + (i * 7919) % 80 }' > "$work/export.csv"
echo "export: $rows rows, $(du -h "$work/export.csv" | cut -f1)"
bin/stocksync serve --config "$work/stocksync.yaml" --insecure-open --http "127.0.0.1:$port" 2> "$work/serve.log" &
serve=$!
until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do sleep 0.5; done

measure() {
  local name=$1; shift
  rm -f "$work/export.csv.import-checkpoint"
  echo "== $name: bin/stocksync import $*"
  /usr/bin/time -v bin/stocksync import --quiet --file "$work/export.csv" "$@" 2> "$work/$name.time" || true
  grep -E "^import:|Elapsed \(wall|Maximum resident|Percent of CPU" "$work/$name.time"
}
for m in $modes; do
  case $m in
    kafka) measure kafka --version 1 --config "$work/stocksync.yaml" ;;
    http) measure http --version 2 --api "http://127.0.0.1:$port" ;;
  esac
done
# The engine applies the snapshots behind the import: wait for the file's
# last row (up to 10 minutes) and show it.
last=$(tail -1 "$work/export.csv" | cut -d, -f1)
start=$(date +%s)
until curl -sf "http://127.0.0.1:$port/v1/stock/$last" > "$work/last.json"; do
  [ $(( $(date +%s) - start )) -gt 600 ] && { echo "the engine has not applied $last after 600 s"; exit 1; }
  sleep 1
done
echo "engine: the last row ($last) applied $(( $(date +%s) - start )) s after the imports ended: $(cat "$work/last.json")"
