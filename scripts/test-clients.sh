#!/usr/bin/env bash
# Other languages against the real segment-server on loopback, with tokens on: the Python client
# (examples/python, installed into .build/clients/python with stubs generated from Protos/) trains
# a model and scores; the C client (examples/c: protoc-c + libnghttp2) scores; both must give
# every customer the segment the Swift CLI gives it (also streaming the whole Online Retail file), and an unknown model, a bad row and a missing
# token must arrive as NOT_FOUND, INVALID_ARGUMENT and UNAUTHENTICATED (exit 3, 4 and 8) in both;
# the connection limits hold (scripts/connection-limits.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
work=$(mktemp -d)
server=""
source scripts/stop-server.sh
finish() {
  local status=$?
  if [ "$status" -ne 0 ]; then  # say why, before the evidence goes with $work
    echo "clients: FAILED (exit $status); the last lines of each log:"
    for log in "$work"/*.log "$work"/err.txt; do [ -f "$log" ] && { echo "--- $(basename "$log")"; tail -n 15 "$log"; }; done
  fi
  stop_server
  rm -rf "$work"
}
trap finish EXIT
start_server() {  # start_server ARGS...: sets $server and $address, or fails with the server's log
  : > "$work/server.log"
  "$bin/segment-server" --port 0 --data-dir "$work/data" "$@" 2> "$work/server.log" &
  server=$!
  address=""
  for _ in $(seq 1 150); do
    address=$(grep -o 'address=[0-9.]*:[0-9]*' "$work/server.log" | head -1 | cut -d= -f2 || true)
    [ -n "$address" ] && grep -q "serving" "$work/server.log" && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  echo "the server did not start"
  return 1
}

venv=.build/clients/python
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import grpc, grpc_health, google.rpc.status_pb2" 2>/dev/null || "$venv/bin/pip" install -q -r examples/python/requirements.txt
# Reinstalled every run, so the stubs always come from the Protos/ of this checkout.
"$venv/bin/pip" install -q --force-reinstall --no-deps ./examples/python
rm -rf examples/python/build examples/python/src/*.egg-info
make -s -C examples/c

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "admin:$(printf %s "$token" | sha256sum | cut -d' ' -f1)" > "$work/tokens.txt"
start_server --auth-tokens "$work/tokens.txt" --idle-timeout 3
export SEGMENT_SERVER=$address SEGMENT_TOKEN=$token
py="$venv/bin/python"
cli="$bin/segment"

echo "== clients: training through the Python client on $address"
"$cli" generate-sample --customers 600 --seed 11 --file "$work/tx.csv" >/dev/null
"$py" examples/python/train.py --model shop --k 3-6 "$work/tx.csv" > "$work/train.json" 2> "$work/train.log"
"$cli" score --model shop "$work/tx.csv" --output csv > "$work/cli.csv" 2> "$work/cli-score.log"
"$py" examples/python/score.py --model shop "$work/tx.csv" > "$work/python.json" 2> "$work/python-score.log"
# The same through a gzip channel and a deflate one: compressed requests, compressed replies.
for algorithm in gzip deflate; do
  "$py" examples/python/score.py --compression $algorithm --model shop "$work/tx.csv" > "$work/python-$algorithm.json" 2> "$work/python-$algorithm.log"
  cmp "$work/python.json" "$work/python-$algorithm.json" || { echo "Python over $algorithm scored differently" >&2; exit 1; }
done
examples/c/segment-score "$SEGMENT_SERVER" shop@1 "$work/tx.csv" > "$work/c.csv" 2> "$work/c-score.log"
python3 - "$work" <<'PYTHON'
import csv, json, sys
work = sys.argv[1]
cli = {row["customer"]: (int(row["segment_id"]), row["segment"]) for row in csv.DictReader(open(f"{work}/cli.csv"))}
python = {s["customer_id"]: (s["segment_id"], s["segment_name"]) for s in json.load(open(f"{work}/python.json"))}
c = {row["customer_id"]: (int(row["segment_id"]), row["segment_name"]) for row in csv.DictReader(open(f"{work}/c.csv"))}
trained = json.load(open(f"{work}/train.json"))
assert len(cli) == 600, f"the CLI scored {len(cli)} customers, not 600"
assert python == cli, f"Python and the CLI disagree on {sum(python.get(k) != v for k, v in cli.items())} customers"
assert c == cli, f"C and the CLI disagree on {sum(c.get(k) != v for k, v in cli.items())} customers"
assert sum(s["customers"] for s in trained["segments"]) == 600 and trained["version"] == 1
print(f"ok: the CLI, Python and C give the same segment to all {len(cli)} customers ({trained['k']} segments)")
PYTHON

# Feature rows (an id column, then the model's features in another order) through the C client.
"$cli" models export shop -o "$work/export.csv" > /dev/null 2> "$work/export.log"
python3 - "$work" <<'PYTHON'
import csv, sys
work = sys.argv[1]
with open(f"{work}/features.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["customer_id", "monetary", "recency", "avg_order_value", "frequency"])
    for row in csv.DictReader(open(f"{work}/export.csv")):
        writer.writerow([row["customer"], row["monetary"], row["recency"], row["avg_order_value"], row["frequency"]])
PYTHON
examples/c/segment-score --feature-rows "$SEGMENT_SERVER" shop "$work/features.csv" > "$work/c-features.csv" 2> "$work/c-features.log"
python3 - "$work" <<'PYTHON'
import csv, sys
work = sys.argv[1]
exported = {row["customer"]: int(row["segment_id"]) for row in csv.DictReader(open(f"{work}/export.csv"))}
scored = {row["customer_id"]: int(row["segment_id"]) for row in csv.DictReader(open(f"{work}/c-features.csv"))}
assert scored == exported and len(scored) == 600, "C's feature-row scores differ from the export"
print(f"ok: C's feature rows give all {len(scored)} customers their exported segment")
PYTHON

# A customer-table model, for a row whose value is not a number.
python3 -c "
import random
random.seed(1)
print('customer_id,spend,visits')
for i in range(300):
    g = i % 3
    print(f'c{i},{[100, 1000, 5000][g] * random.uniform(0.8, 1.2):.1f},{[2, 10, 30][g] + random.randint(0, 3)}')
" > "$work/customers.csv"
"$cli" train "$work/customers.csv" --kind customers --model members --k 3 --wait > /dev/null 2> "$work/members.log"
printf 'customer_id,spend,visits\nx1,abc,3\n' > "$work/bad-row.csv"

expect() {  # expect LABEL EXIT_CODE STATUS COMMAND...
  local label=$1 code=$2 status=$3; shift 3
  set +e
  "$@" > /dev/null 2> "$work/err.txt"
  local got=$?
  set -e
  if [ "$got" -ne "$code" ] || ! grep -q "$status" "$work/err.txt"; then
    echo "FAILED: $label: exit $got (wanted $code with $status): $(cat "$work/err.txt")"
    exit 1
  fi
  echo "ok: $label: exit $got, $(head -c 160 "$work/err.txt" | head -1)"
}
expect "Python, unknown model" 3 NOT_FOUND "$py" examples/python/score.py --model ghost "$work/tx.csv"
expect "C, unknown model" 3 NOT_FOUND examples/c/segment-score "$SEGMENT_SERVER" ghost "$work/tx.csv"
expect "Python, bad row" 4 INVALID_ARGUMENT "$py" examples/python/score.py --model members "$work/bad-row.csv"
expect "C, bad row" 4 INVALID_ARGUMENT examples/c/segment-score "$SEGMENT_SERVER" members "$work/bad-row.csv"
expect "Python, no token" 8 UNAUTHENTICATED env -u SEGMENT_TOKEN "$py" examples/python/score.py --model shop "$work/tx.csv"
expect "C, no token" 8 UNAUTHENTICATED env -u SEGMENT_TOKEN examples/c/segment-score "$SEGMENT_SERVER" shop "$work/tx.csv"
expect "Python, wrong token" 8 UNAUTHENTICATED env SEGMENT_TOKEN=wrong "$py" examples/python/score.py --model shop "$work/tx.csv"
printf 'customer_id,recency,frequency,monetary,avg_order_value\nq1,12,abc,300,100\n' > "$work/bad-features.csv"
expect "C, bad feature row" 4 INVALID_ARGUMENT examples/c/segment-score --feature-rows "$SEGMENT_SERVER" shop "$work/bad-features.csv"

# The whole Online Retail file (305 daily files), streamed by each client: each customer's rows in
# one request and recency measured to one day, so all three agree on every customer. The model is
# trained on the first 60 days: many requests' own last day comes before the file's, and the
# clients must score those again to the file's day. C refuses to print when a customer's rows were
# split (its customer column not in the files).
retail=${SEGMENT_SHARED_DIR:-../shared}/data/online-retail/by-day
if [ -d "$retail" ]; then
  days=("$retail"/*.csv)
  "$cli" train --model retail --k 4 --wait "${days[@]:0:60}" > /dev/null 2> "$work/retail-train.log"
  "$cli" score --model retail "${days[@]}" --output csv > "$work/retail-cli.csv" 2> "$work/retail-cli.log"
  "$py" examples/python/score.py --model retail "${days[@]}" > "$work/retail-python.json" 2> "$work/retail-python.log"
  examples/c/segment-score "$SEGMENT_SERVER" retail "${days[@]}" > "$work/retail-c.csv" 2> "$work/retail-c.log"
  python3 - "$work" <<'PYTHON'
import csv, json, sys
work = sys.argv[1]
cli = {row["customer"]: (int(row["segment_id"]), row["segment"]) for row in csv.DictReader(open(f"{work}/retail-cli.csv"))}
python = {s["customer_id"]: (s["segment_id"], s["segment_name"]) for s in json.load(open(f"{work}/retail-python.json"))}
c = {row["customer_id"]: (int(row["segment_id"]), row["segment_name"]) for row in csv.DictReader(open(f"{work}/retail-c.csv"))}
assert len(cli) > 4000, f"the CLI scored {len(cli)} Online Retail customers"
assert python == cli, f"Python and the CLI disagree on {sum(python.get(k) != v for k, v in cli.items())} of {len(cli)} customers"
assert c == cli, f"C and the CLI disagree on {sum(c.get(k) != v for k, v in cli.items())} of {len(cli)} customers"
for client in ("python", "c"):
    log = open(f"{work}/retail-{client}.log").read()
    assert "scored again to that day" in log and "recency measured to 2011-12-10" in log, f"{client}: {log}"
print(f"ok: Online Retail streamed: the CLI, Python and C give the same segment to all {len(cli)} customers")
PYTHON
  expect "C, order lines split across requests" 4 "scored in two requests" \
    examples/c/segment-score --customer-column NoSuchColumn "$SEGMENT_SERVER" retail "${days[@]}"
else
  echo "skipping the Online Retail comparison: $retail is absent"
fi

# Connection limits: MAX_CONCURRENT_STREAMS advertised, 1,000 concurrent calls on one connection
# all answered, oversized metadata failing its call alone, idle and mute connections closed.
"$py" scripts/connection-limits.py "$SEGMENT_SERVER" "$token" shop 3

# The same server again, now with mutual TLS: the Python client with its CA, certificate and key.
stop_server
ssl() { openssl "$@" 2>/dev/null; }
ssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=clients-ca -keyout "$work/ca-key.pem" -out "$work/ca.pem"
echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > "$work/san.ext"
for who in server client; do
  ssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$work/$who-key.pem" -out "$work/$who.csr"
  ssl x509 -req -in "$work/$who.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial -days 2 \
    -extfile "$work/san.ext" -out "$work/$who.pem"
done
start_server --auth-tokens "$work/tokens.txt" --tls-cert "$work/server.pem" --tls-key "$work/server-key.pem" \
  --tls-client-ca "$work/ca.pem"
tls=(--server "$address" --tls-ca "$work/ca.pem" --tls-cert "$work/client.pem" --tls-key "$work/client-key.pem")
"$py" examples/python/score.py "${tls[@]}" --model shop@1 "$work/tx.csv" > "$work/python-tls.json" 2> "$work/python-tls.log"
cmp -s "$work/python.json" "$work/python-tls.json" || { echo "FAILED: Python over mutual TLS scored differently"; exit 1; }
echo "ok: Python over mutual TLS: the same scores"
expect "Python over TLS without a client certificate" 5 UNAVAILABLE "$py" examples/python/score.py --server "$address" --tls-ca "$work/ca.pem" --timeout 5 --model shop "$work/tx.csv"
echo "clients: all checks passed"
