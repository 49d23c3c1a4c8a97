#!/usr/bin/env bash
# The local cluster (deploy/local-cluster.sh: PostgreSQL, three replicas, nginx) end to end:
# train through replica A, alias through replica B, and see both through nginx and replica C
# within a second; then SIGKILL a replica under scoring load through nginx: with the client's
# retry policy no call fails for good; then SIGKILL the replica running a training job: another
# replica runs it to the end; with every replica down nginx answers UNAVAILABLE. Needs the debug binaries and the Python client's venv
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
# A replica killed (SIGKILL) while it runs a training job: the job is queued again once the
# replica stops marking it alive (10 s) and another replica runs it to the end.
"$cli" generate-sample --customers 30000 --seed 22 --file "$root/big.csv" > /dev/null 2>&1
job=$("$cli" train "$root/big.csv" --model big --k 2...10 --n-init 10 --server "$nginx" --output json 2> /dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
owner=""
for _ in $(seq 1 300); do
  owner=$("$cli" jobs show "$job" --output json --server "$nginx" 2>/dev/null \
    | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j.get("server", "") if j.get("state") == "JOB_STATE_RUNNING" else "")')
  [ -n "$owner" ] && break
  sleep 0.1
done
[ -n "$owner" ] || { echo "FAILED: the job never started running"; exit 1; }
victim=$(cat "$SEGMENT_CLUSTER_DIR/${owner}.pid" 2>/dev/null || true)
[ -n "$victim" ] && kill -0 "$victim" 2>/dev/null || { echo "FAILED: $owner (running $job) is not a live replica of this cluster"; exit 1; }
kill -KILL "$victim"
echo "killed $owner (pid $victim) while it ran $job"
final=""
for _ in $(seq 1 1200); do
  final=$("$cli" jobs show "$job" --output json --server "$nginx" 2>/dev/null \
    | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["state"] + " " + j.get("server", "") if j.get("state") in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED") else "")' || true)
  [ -n "$final" ] && break
  sleep 0.1
done
case $final in
  "JOB_STATE_SUCCEEDED "*) [ "${final#* }" != "$owner" ] || { echo "FAILED: the job finished on the killed replica?"; exit 1; }
                           echo "ok: $job re-run by ${final#* } after $owner was killed, and succeeded" ;;
  *) echo "FAILED: the killed replica's job ended as '$final'"; exit 1 ;;
esac
# Every replica down: nginx answers gRPC UNAVAILABLE (which clients retry), not a bare HTTP 502.
for pidfile in "$SEGMENT_CLUSTER_DIR"/replica-*.pid; do kill -KILL "$(cat "$pidfile")" 2>/dev/null || true; done
sleep 0.5
set +e
said=$("$cli" models show shop@prod --server "$nginx" 2>&1 >/dev/null); code=$?
set -e
[ "$code" -eq 5 ] && grep -q "no segment-server replica could take the call" <<< "$said" \
  || { echo "FAILED: with every replica down nginx answered (exit $code): $said"; exit 1; }
echo "ok: every replica down: the CLI says '$said' (exit 5)"
echo "cluster: all checks passed"
