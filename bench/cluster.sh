#!/usr/bin/env bash
# Scoring throughput through nginx with 1, 2 and 3 replicas (deploy/local-cluster.sh, release
# builds), in one run, beside one replica called directly (what nginx costs). Unary Score, one
# customer per call, h2load -c 4 -m 16 as bench/serve.sh; every reply checked. Results in
# bench/results/cluster.jsonl and a table.
#   bash bench/cluster.sh           three rounds of 50,000 calls per setup
#   SMOKE=1 bash bench/cluster.sh   one short round (checks the script works)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=${SMOKE:-0}
config=${CONFIG:-release}
if [ "$smoke" = 1 ]; then requests=2000; rounds=1; else requests=50000; rounds=3; fi
out=bench/results
mkdir -p "$out"
rm -f "$out/cluster.jsonl"
root=$(mktemp -d)
chmod 755 "$root"
export SEGMENT_CLUSTER_DIR=$root/cluster
trap 'bash deploy/local-cluster.sh down >/dev/null 2>&1 || true; rm -rf "$root"' EXIT

for product in segment-server segment-load; do swift build -c "$config" --product "$product" >/dev/null; done
bin=$(swift build -c "$config" --show-bin-path)
py=bench/.venv/bin/python
gen="$root/py"
mkdir -p "$gen"
$py -m grpc_tools.protoc -IProtos --python_out="$gen" --grpc_python_out="$gen" Protos/segmentation/v1/*.proto
touch "$gen/segmentation/__init__.py" "$gen/segmentation/v1/__init__.py"
$py bench/grpc_frame.py body "$gen" bench-0 "$root/body.bin"

h2() {  # name address -> one JSON line
  local name=$1 address=$2
  h2load -n "$requests" -c 4 -m 16 -t 1 -d "$root/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://$address/segmentation.v1.ScoringService/Score" > "$root/h2-$name.txt"
  $py bench/h2load_check.py "$root/h2-$name.txt" "$name" "$reply" | tee -a "$out/cluster.jsonl"
}

for replicas in 1 2 3; do
  SEGMENT_BIN_DIR=$bin SEGMENT_CLUSTER_REPLICAS=$replicas SEGMENT_CLUSTER_SERVER_ARGS="--log-level warning" \
    bash deploy/local-cluster.sh up > "$root/addresses"
  nginx=$(awk '$1 == "nginx" {print $2}' "$root/addresses")
  first=$(awk '$1 == "replica" {print $2; exit}' "$root/addresses")
  "$bin/segment-load" populate "${nginx##*:}" 1 >/dev/null
  sleep 1  # every replica has the version (NOTIFY), and decodes it on its first call below
  reply=$($py bench/grpc_frame.py reply-size "$gen" bench-0 "${nginx##*:}")
  for _ in $(seq 1 "$rounds"); do
    h2 "nginx_${replicas}_replicas" "$nginx"
    [ "$replicas" = 1 ] && h2 "direct_1_replica" "$first"
  done
  bash deploy/local-cluster.sh down
done

echo
echo "machine: $(nproc) cores; h2load -c 4 -m 16, $requests calls per run, $rounds run(s) each; medians:"
$py - "$out/cluster.jsonl" <<'PYTHON'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    row = json.loads(line)
    runs.setdefault(row["name"], []).append(row["rps"])
print("| setup | calls/s (median) | runs |")
print("| --- | ---: | --- |")
for name, values in runs.items():
    print(f"| {name} | {statistics.median(values):,.0f} | {', '.join(f'{v:,.0f}' for v in values)} |")
PYTHON
