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
data=${SEGMENT_DATA_DIR:-./segmentation-data}

# Is something already listening on 127.0.0.1:PORT? (bash's /dev/tcp: no extra tools.)
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The quick start never talks to a stranger: a port asked for (SEGMENT_DEMO_PORT) that is busy
# stops the demo; the default 50051 busy means another process has it, so the server takes any
# free port and the demo says which.
if [[ -n ${SEGMENT_DEMO_PORT:-} ]]; then
  port=$SEGMENT_DEMO_PORT
  if port_busy "$port"; then
    echo "demo: port $port (SEGMENT_DEMO_PORT) is already in use by another process; free it or pick another port" >&2
    exit 1
  fi
elif port_busy 50051; then
  echo "== port 50051 is in use by another process; starting the demo's server on a free port"
  port=0
else
  port=50051
fi

"$bin/segment-server" --port "$port" --data-dir "$data" 2> "$work/server.log" &
server=$!
finish() {
  local status=$?
  if ((status != 0)); then
    echo "demo: failed (exit $status); the server's log:" >&2
    sed 's/^/  | /' "$work/server.log" >&2 || true
  fi
  kill -INT $server 2>/dev/null
  wait $server 2>/dev/null || true
  rm -rf "$work"
}
trap finish EXIT

# Wait for this server's own "serving" line (it names the port it bound), or for it to die.
port=""
for _ in $(seq 1 300); do
  if ! kill -0 $server 2>/dev/null; then
    echo "demo: segment-server exited before serving" >&2
    exit 1
  fi
  port=$(sed -n 's/.*address=[^ ]*:\([0-9][0-9]*\).*serving.*/\1/p; s/.*serving.*address=[^ ]*:\([0-9][0-9]*\).*/\1/p' "$work/server.log" | head -n 1)
  [[ -n $port ]] && break
  sleep 0.2
done
if [[ -z $port ]]; then
  echo "demo: segment-server did not start serving within 60 s" >&2
  exit 1
fi
export SEGMENT_SERVER=127.0.0.1:$port
echo "== segment-server (pid $server) is serving on $SEGMENT_SERVER"
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
