#!/usr/bin/env bash
# Live segmentation on one server (release build, SQLite; REGISTRY=postgres for the shared
# PostgreSQL registry, started here on loopback): ingest throughput of Online Retail replayed in
# batches of 1,000 rows (../shared; the generated sample without it), ingest-to-segment latency
# of single transactions (p50/p99: RecordTransactions and a one-batch stream), then the time
# pass over N synthetic customers (1,000,000; SMOKE=1: 2,000) after an alias switch: how long
# until every customer is placed under the new version, from the server's "live store up to
# date" log line.
#   bash bench/live.sh      SMOKE=1 CONFIG=debug for seconds, REGISTRY=postgres for PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
smoke=${SMOKE:-}
registry=${REGISTRY:-sqlite}
customers=$([ -n "$smoke" ] && echo 2000 || echo "${CUSTOMERS:-1000000}")
shared=$(cd "${SEGMENT_SHARED_DIR:-../shared}" 2>/dev/null && pwd || true)
bash scripts/setup.sh >/dev/null  # bench/.venv with grpcio-tools
swift build -c "$config" --product segment-server >/dev/null
swift build -c "$config" --product segment >/dev/null
bin=$(swift build -c "$config" --show-bin-path)
work=$(mktemp -d)
# Its own folder: the database runs as another user, who cannot enter $work.
pg=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ "$registry" = postgres ] && bash scripts/postgres.sh stop "$pg" >/dev/null 2>&1 || true
  rm -rf "$work" "$pg"
}
trap cleanup EXIT
py=bench/.venv/bin/python
mkdir -p "$work/stubs"
(cd Protos && ../$py -m grpc_tools.protoc -I. --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  segmentation/v1/common.proto segmentation/v1/scoring.proto segmentation/v1/live.proto)
extra=()
if [ "$registry" = postgres ]; then
  url=$(bash scripts/postgres.sh start "$pg")
  extra=(--registry "$url" --registry-password-file "$pg/password")
fi
"$bin/segment-server" --port 0 --data-dir "$work/data" --live-pass-rate 10000000 --metrics-port 0 \
  "${extra[@]}" 2> "$work/server.log" &
server=$!
for _ in $(seq 300); do
  port=$(grep -o 'address=127\.0\.0\.1:[0-9]*' "$work/server.log" | head -1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }
export SEGMENT_SERVER=127.0.0.1:$port
cli() { "$bin/segment" "$@"; }
until cli health >/dev/null 2>&1; do sleep 0.2; done
if [ -n "$shared" ] && [ -d "$shared/data/online-retail/by-day" ] && [ -z "$smoke" ]; then
  files=("$shared"/data/online-retail/by-day/*.csv)
  data=online_retail
else
  cli generate-sample --customers 2000 --seed 4 --file "$work/sample.csv" >/dev/null
  files=("$work/sample.csv")
  data=sample
fi
cli train "${files[@]}" --model retail --k 4 --wait >/dev/null 2>&1
cli train "${files[@]}" --model retail --k 5 --wait >/dev/null 2>&1
cli models alias retail prod 1 >/dev/null 2>&1
echo "== $registry, $config build, $data"
client() { "$py" bench/live_client.py "$work/stubs" "$SEGMENT_SERVER" "$@"; }
client retail@prod ingest "${files[@]}" --batch 1000
# One long-standing customer (each call makes their state longer: the worst case), then the
# store's customers in turn.
# Each beside the server's own view of the same calls (its handling-time histogram).
calls=$([ -n "$smoke" ] && echo 50 || echo 1000)
metrics=http://$(grep -o 'metrics=127\.0\.0\.1:[0-9]*' "$work/server.log" | head -1 | cut -d= -f2)/metrics
served() { "$py" bench/live_server_latency.py "$metrics" "$@"; }
served snapshot "$work/before.json"
client retail latency "$([ "$data" = online_retail ] && echo 12347 || echo many)" 2011-12-08 "$calls"
served since "$work/before.json" one
served snapshot "$work/before.json"
client retail latency many 2011-12-08 "$calls"
served since "$work/before.json" many
# The pass: N more customers in a store of their own, then its alias moves to version 2.
cli train "${files[@]}" --model bulk --k 4 --wait >/dev/null 2>&1
cli train "${files[@]}" --model bulk --k 5 --wait >/dev/null 2>&1
cli models alias bulk prod 1 >/dev/null 2>&1
client bulk@prod synthetic "$customers" 2011-12-09
sleep 2  # the new customers placed as they came; nothing due
before=$(grep -c 'live store up to date' "$work/server.log" || true)
switched=$(date +%s.%N)
cli models alias bulk prod 2 >/dev/null 2>&1
for _ in $(seq 3000); do
  now=$(grep -c 'live store up to date' "$work/server.log" || true)
  [ "$now" -gt "$before" ] && break
  sleep 0.1
done
line=$(grep 'live store up to date' "$work/server.log" | grep 'model=bulk' | tail -1)
placed=$(echo "$line" | grep -o 'customers_placed=[0-9]*' | cut -d= -f2)
seconds=$(echo "$line" | grep -o 'seconds=[0-9.]*' | cut -d= -f2)
since=$("$py" -c "import sys; print(round($(date +%s.%N) - $switched, 3))")
echo "{\"name\": \"model_change_pass\", \"customers\": $customers, \"placed\": ${placed:-0}, \"seconds\": ${seconds:-null}, \"since_switch_s\": $since}"
du -sh "$work/data" | awk '{print "{\"name\": \"data_directory\", \"size\": \"" $1 "\"}"}'
[ -n "$smoke" ] && echo "(smoke run: these figures mean nothing)"
true
