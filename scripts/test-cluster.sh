#!/usr/bin/env bash
# The local cluster (deploy/local-cluster.sh: PostgreSQL, three replicas, nginx) end to end:
# train through replica A, alias through replica B, and see both through nginx and replica C
# within a second; then SIGKILL a replica under scoring load through nginx: with the client's
# retry policy no call fails for good. Needs the debug binaries and the Python client's venv
# (scripts/test-clients.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
py=.build/clients/python/bin/python
root=$(mktemp -d)
chmod 755 "$root"
export SEGMENT_CLUSTER_DIR=$root/cluster
finish() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "cluster: FAILED (exit $status); the last lines of each log:"
    for log in "$SEGMENT_CLUSTER_DIR"/*.log; do [ -f "$log" ] && { echo "--- $(basename "$log")"; tail -n 8 "$log"; }; done
  fi
  bash deploy/local-cluster.sh down || true
  rm -rf "$root"
}
trap finish EXIT
SEGMENT_BIN_DIR=$bin bash deploy/local-cluster.sh up > "$root/addresses"
nginx=$(awk '$1 == "nginx" {print $2}' "$root/addresses")
mapfile -t replica < <(awk '$1 == "replica" {print $2}' "$root/addresses")
[ "${#replica[@]}" -eq 3 ] || { echo "expected three replicas"; exit 1; }
echo "== cluster: nginx $nginx, replicas ${replica[*]}"
cli="$bin/segment"

# within SECONDS COMMAND...: runs COMMAND until it succeeds, for at most SECONDS; prints how long it took.
within() {
  local limit=$1; shift
  local start end
  start=$(date +%s.%N)
  while true; do
    if "$@" > /dev/null 2>&1; then
      end=$(date +%s.%N)
      awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f s", e - s }'
      return 0
    fi
    end=$(date +%s.%N)
    if awk -v s="$start" -v e="$end" -v l="$limit" 'BEGIN { exit !(e - s > l) }'; then return 1; fi
    sleep 0.02
  done
}

"$cli" generate-sample --customers 500 --seed 21 --file "$root/tx.csv" > /dev/null 2>&1
"$cli" train "$root/tx.csv" --model shop --k 3 --wait --server "${replica[0]}" > /dev/null 2> "$root/train.log"
for where in "$nginx" "${replica[2]}"; do
  took=$(within 1 "$cli" models show shop@1 --server "$where") || { echo "FAILED: shop@1 not served by $where within 1 s"; exit 1; }
  echo "ok: shop@1, trained through replica A, served by $where after $took"
done
"$cli" models alias shop prod 1 --server "${replica[1]}" > /dev/null 2>&1
for where in "$nginx" "${replica[2]}"; do
  took=$(within 1 "$cli" models show shop@prod --server "$where") || { echo "FAILED: shop@prod not served by $where within 1 s"; exit 1; }
  echo "ok: the alias set through replica B served by $where after $took"
done
"$cli" score --model shop@prod "$root/tx.csv" --output csv --server "$nginx" 2>/dev/null | cut -d, -f1,2 | sort > "$root/via-nginx.csv"
"$cli" score --model shop@prod "$root/tx.csv" --output csv --server "${replica[2]}" 2>/dev/null | cut -d, -f1,2 | sort > "$root/via-c.csv"
[ "$(wc -l < "$root/via-nginx.csv")" -eq 501 ] && cmp -s "$root/via-nginx.csv" "$root/via-c.csv" \
  || { echo "FAILED: scores through nginx and replica C differ"; exit 1; }
echo "ok: all 500 customers scored alike through nginx and replica C"

# A replica killed (SIGKILL) under scoring load through nginx.
"$py" scripts/cluster-load.py "$nginx" shop@prod 8 10 > "$root/load.json" &
load=$!
sleep 3
victim=$(cat "$SEGMENT_CLUSTER_DIR/replica-3.pid")
kill -KILL "$victim"
echo "killed replica C (pid $victim) under load"
wait $load
python3 - "$root/load.json" <<'PYTHON'
import json, sys
load = json.load(open(sys.argv[1]))
assert load["failed"] == 0, f"{load['failed']} of {load['calls']} calls failed for good: {load['first_failure']}"
assert load["ok"] > 100, f"only {load['ok']} calls in 10 s"
print(f"ok: {load['ok']} calls through nginx while a replica was killed, none failed for good")
PYTHON
echo "cluster: all checks passed"
