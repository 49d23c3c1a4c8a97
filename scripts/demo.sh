#!/usr/bin/env bash
# The main job, end to end on the embedded store: start the server, generate sample
# transactions, train a model (k chosen from 2...10), score customers, show the segments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --product segment-server
swift build --product segment
bin=$(swift build --show-bin-path)

work=$(mktemp -d)
port=${SEGMENT_DEMO_PORT:-50051}
data=${SEGMENT_DATA_DIR:-./segmentation-data}
export SEGMENT_SERVER=127.0.0.1:$port

"$bin/segment-server" --port "$port" --data-dir "$data" 2> "$work/server.log" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  "$bin/segment" health >/dev/null 2>&1 && break
  sleep 0.2
done
"$bin/segment" health

echo "== generating sample transactions for 3000 customers"
"$bin/segment" generate-sample --customers 3000 --seed 7 --file "$work/transactions.csv"

echo "== training model 'demo' (k from 2 to 10, chosen by the actionable rule)"
"$bin/segment" train "$work/transactions.csv" --model demo --wait

echo "== scoring every customer against demo (latest version); the first ten"
"$bin/segment" score --model demo "$work/transactions.csv" | head -n 12

echo "== models in the registry ($data)"
"$bin/segment" models list

echo "== writing the model's report"
report=${SEGMENT_REPORT:-./demo-report.html}
"$bin/segment" report demo -o "$report"
echo "the report is at $(cd "$(dirname "$report")" && pwd)/$(basename "$report"): open it in any browser (it needs no network)"
