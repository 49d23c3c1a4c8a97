#!/usr/bin/env bash
# Serving benchmarks on loopback: segment-server vs a Python grpcio + scikit-learn server vs
# our empty-handler server (the framework's ceiling), under h2load; latency, streaming, cold
# start and memory with the Swift load client. Run by bench/run.sh; also on its own.
#   SMOKE=1 bash bench/serve.sh   a seconds-long pass over every step (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=${SMOKE:-0}
config=${CONFIG:-release}
out=bench/results
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# h2load (nghttp2-client) and libnghttp2's headers for our evenly paced generator (bench/paced).
if ! command -v h2load >/dev/null || [ ! -f /usr/include/nghttp2/nghttp2.h ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client libnghttp2-dev gcc >/dev/null
fi
gcc -O2 -Wall -o "$work/segment-paced" bench/paced/paced.c -lnghttp2
for product in segment-server segment-load segment-empty-server segment; do swift build -c "$config" --product "$product" >/dev/null; done
bin=$(swift build -c "$config" --show-bin-path)
if [ ! -x bench/.venv/bin/python ]; then python3 -m venv bench/.venv; fi
bench/.venv/bin/python -c "import sklearn, pandas, grpc, grpc_tools, grpc_reflection" 2>/dev/null \
  || bench/.venv/bin/pip install -q scikit-learn==1.9.1 pandas==3.1.1 grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-reflection==1.85.1
py=bench/.venv/bin/python
gen="$work/py"
mkdir -p "$gen"
$py -m grpc_tools.protoc -IProtos --python_out="$gen" --grpc_python_out="$gen" Protos/segmentation/v1/*.proto
touch "$gen/segmentation/__init__.py" "$gen/segmentation/v1/__init__.py"

if [ "$smoke" = 1 ]; then versions=3; seconds=2; requests=2000; messages=5; rounds=1; else versions=100; seconds=10; requests=100000; messages=1000; rounds=3; fi
ours=20081; empty=20082; peer=20083; nodrift=20084

# Fixed ports below Linux's ephemeral range (32768-60999): a port in it was once taken, now and
# then, as the local port of another connection, and the server could not listen there.
# wait_port PORT [LOG]: waits up to 30 s for the port; fails showing the server's log.
wait_port() {
  for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 never opened${2:+; the end of $2:}" >&2
  [ -n "${2:-}" ] && tail -5 "$2" >&2
  return 1
}

"$bin/segment-server" --port $ours --data-dir "$work/data" --log-level warning 2>"$work/ours.log" & pids+=($!)
"$bin/segment-empty-server" $empty 2>"$work/empty.log" & pids+=($!)
"$bin/segment" generate-sample --customers 5000 --seed 3 --file "$work/sample.csv" 2>/dev/null
(cd bench && exec ../$py peer_server.py "$gen" "$work/sample.csv" $peer) 2>"$work/peer.log" & pids+=($!)
# The same server with drift counting off: what counting costs, in the same run.
"$bin/segment-server" --port $nodrift --data-dir "$work/data-nodrift" --log-level warning --no-drift 2>"$work/nodrift.log" & pids+=($!)
wait_port $ours "$work/ours.log"; wait_port $empty; wait_port $peer; wait_port $nodrift "$work/nodrift.log"

echo "populating $versions model versions (twice: drift counting on and off)"
"$bin/segment-load" populate $ours $versions
"$bin/segment-load" populate $nodrift $versions
$py bench/grpc_frame.py body "$gen" bench-0 "$work/body.bin"

# The size of one successful reply from each server (asked once): every load run checks its replies against it.
reply_ours=$($py bench/grpc_frame.py reply-size "$gen" bench-0 $ours)
reply_empty=$($py bench/grpc_frame.py reply-size "$gen" bench-0 $empty)
reply_python=$($py bench/grpc_frame.py reply-size "$gen" bench-0 $peer)

h2() {  # name port requests reply-size -> one JSON line, after checking every reply was a full, successful frame
  local name=$1 port=$2 requests=$3 expected=$4
  h2load -n $requests -c 4 -m 16 -t 1 -d "$work/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/segmentation.v1.ScoringService/Score" > "$work/h2-$name.txt"
  $py bench/h2load_check.py "$work/h2-$name.txt" "h2load_unary_$name" "$expected"
}
# Ours and the empty server alternate, three rounds (one when smoke): single runs on this noisy
# machine move by 10-20%, so the table compares medians.
: > "$out/serving.jsonl"
for _ in $(seq 1 $rounds); do
  h2 ours $ours $requests $reply_ours | tee -a "$out/serving.jsonl"
  h2 empty $empty $requests $reply_empty | tee -a "$out/serving.jsonl"
done
# Drift counting on (ours) and off, alternating.
for _ in $(seq 1 $rounds); do
  h2 nodrift $nodrift $requests $reply_ours | tee -a "$out/serving.jsonl"
  h2 drift $ours $requests $reply_ours | tee -a "$out/serving.jsonl"
done
renamed() { $py -c "import json, sys; [print(json.dumps({**json.loads(l), 'name': json.loads(l)['name'] + sys.argv[1]})) for l in sys.stdin]" "$1"; }
for _ in $(seq 1 $rounds); do
  "$bin/segment-load" stream $nodrift bench-0 $messages 1000 --matrix | renamed _nodrift | tee -a "$out/serving.jsonl"
  "$bin/segment-load" stream $ours bench-0 $messages 1000 --matrix | renamed _drift | tee -a "$out/serving.jsonl"
done
# The Python peer is ~15x slower: a quarter of the requests keeps its run short.
h2 python $peer $((requests / 4)) $reply_python | tee -a "$out/serving.jsonl"

max_rps=$($py -c "import json, statistics; print(statistics.median(r['rps'] for r in map(json.loads, open('$out/serving.jsonl')) if r['name'] == 'h2load_unary_ours'))")
per_client=$($py -c "print(max(1, int($max_rps / 2 / 8)))")
echo "latency at half of our max throughput (8 connections x $per_client calls/s, h2load paced, per-request log), ours then the empty server"
latency() {  # name port -> one JSON line: p50/p99 of every call's time from h2load's log
  h2load -D $seconds -c 8 -m 4 --rps "$per_client" -t 1 -d "$work/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file "$work/latency-$1.tsv" "http://127.0.0.1:$2/segmentation.v1.ScoringService/Score" > "$work/h2-latency-$1.txt"
  $py - "$work/latency-$1.tsv" "$work/h2-latency-$1.txt" "$1" <<'PY'
import json, re, sys
latencies = sorted(int(line.split("\t")[2]) / 1000 for line in open(sys.argv[1]) if line.strip())
rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", open(sys.argv[2]).read()).group(1))
pick = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))]
print(json.dumps({"name": sys.argv[3], "calls": len(latencies), "rps": rps, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                  "max_ms": latencies[-1]}))
PY
}
latency unary $ours | tee -a "$out/serving.jsonl"
latency unary_empty $empty | tee -a "$out/serving.jsonl"
echo "the same rate evenly paced, open loop (bench/paced: call i sent at i/rate, timed from then)"
paced() {  # name port reply-size -> one JSON line; fails if any reply was not a full, successful frame
  "$work/segment-paced" "$1" 127.0.0.1 "$2" /segmentation.v1.ScoringService/Score "$work/body.bin" $((per_client * 8)) $seconds 8 "$3"
}
paced paced_ours $ours $reply_ours | tee -a "$out/serving.jsonl"
paced paced_empty $empty $reply_empty | tee -a "$out/serving.jsonl"
echo "ScoreStream, 1000 customers per message"
"$bin/segment-load" stream $ours bench-0 $messages 1000 | tee -a "$out/serving.jsonl"
"$bin/segment-load" stream $ours bench-0 $messages 1000 --omit-names | tee -a "$out/serving.jsonl"
"$bin/segment-load" stream $ours bench-0 $messages 1000 --matrix | tee -a "$out/serving.jsonl"

echo "cold start with $versions stored versions"
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
"$bin/segment-load" cold-start "$bin/segment-server" "$work/data" $ours | tee -a "$out/serving.jsonl"

[ "$smoke" = 1 ] && echo "(smoke run: $config build, tiny sizes; these figures mean nothing)"
$py - "$out/serving.jsonl" <<'PY'
import json, sys
import statistics
rows, runs = {}, {}
for line in open(sys.argv[1]):
    row = json.loads(line); rows[row["name"]] = row
    runs.setdefault(row["name"], []).append(row.get("rps", row.get("customers_per_s")))
ours, empty, python = (statistics.median(runs[f"h2load_unary_{n}"]) for n in ("ours", "empty", "python"))
each = lambda n: ", ".join(f"{r:,.0f}" for r in runs[f"h2load_unary_{n}"])
print()
print("| serving benchmark | result | target |")
print("| --- | ---: | --- |")
print(f"| unary Score, 1 customer/call, 64 streams (h2load): segment-server, median of {each('ours')} | {ours:,.0f} req/s | |")
print(f"| the same, Python grpcio + scikit-learn peer | {python:,.0f} req/s (segment is {ours / python:.1f}x) | >= 3x |")
print(f"| the same, empty-handler server, median of {each('empty')} | {empty:,.0f} req/s (segment reaches {ours / empty:.0%}) | >= 90% |")
u, e = rows["unary"], rows["unary_empty"]
print(f"| unary latency at {u['rps']:,.0f} calls/s (about half of max; h2load) | p50 {u['p50_ms']:.2f} ms, p99 {u['p99_ms']:.2f} ms | p99 <= 5 ms |")
print(f"| the same load on the empty-handler server | p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms | |")
u, e = rows["paced_ours"], rows["paced_empty"]
print(f"| the same rate evenly paced, open loop (bench/paced): segment-server | p50 {u['p50_ms']:.2f} ms, p99 {u['p99_ms']:.2f} ms | |")
print(f"| ... and the empty-handler server | p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms | |")
s = rows["stream"]
print(f"| ScoreStream, 1,000 customers/message, one message per customer (FeatureRows) | {s['customers_per_s']:,.0f} customers/s | |")
s = rows["stream_ids_only"]
print(f"| the same with omit_names (ids and distances only) | {s['customers_per_s']:,.0f} customers/s | |")
s = rows["stream_matrix"]
print(f"| ScoreStream, 1,000 customers/message as one packed FeatureMatrix (ids kept) | {s['customers_per_s']:,.0f} customers/s | >= 1,000,000/s |")
on, off = (statistics.median(runs[f"h2load_unary_{n}"]) for n in ("drift", "nodrift"))
print(f"| unary Score with drift counting on, median of {each('drift')}; off (--no-drift), {each('nodrift')} | {on:,.0f} vs {off:,.0f} req/s ({on / off:.1%}) | >= 95% |")
son, soff = (statistics.median(r for r in runs[f"stream_matrix_{n}"]) for n in ("drift", "nodrift"))
print(f"| ScoreStream packed matrix with drift counting on vs off, medians (customers/s) | {son:,.0f} vs {soff:,.0f} ({son / soff:.1%}) | >= 95% |")
c = rows["cold_start"]
print(f"| cold start to SERVING with {c['versions_loaded']} versions | {c['seconds_to_serving']:.3f} s | <= 1 s |")
print(f"| server RSS holding {c['versions_loaded']} versions | {c['rss_mb']:.1f} MB | <= 100 MB |")
PY
