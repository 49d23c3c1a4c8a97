#!/usr/bin/env bash
# The soak test, and what TLS and tokens cost per call, on loopback (results in BENCHMARKS.md).
#   bash bench/soak.sh                          release build: a 5-minute soak (SOAK_SECONDS), then the cost table
#   SMOKE=1 CONFIG=debug bash bench/soak.sh     a seconds-long pass (CI): every check but the memory verdict
# Soak: segment-server with TLS (a throwaway CA made here) and tokens; 64 concurrent scorers
# (scorer token) call Score on model@prod back to back while training jobs run and an admin
# switches prod between two versions every 100 ms. Passes only with zero failed calls, every reply
# exactly one version's scores, no non-OK status in the server's own metrics, and resident memory
# grown < 10% from the end of warm-up (the first quarter) to the end.
# Cost: the same unary Score under h2load on four servers over one copy of the same data:
# plaintext without tokens, with tokens, TLS without tokens, TLS with tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=${SMOKE:-0}
config=${CONFIG:-release}
if [ "$smoke" = 1 ]; then seconds=10; concurrency=16; requests=2000; rounds=1; verdict=--no-memory-verdict
else seconds=${SOAK_SECONDS:-300}; concurrency=${SOAK_CONCURRENCY:-64}; requests=100000; rounds=3; verdict=""; fi
out=bench/results
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

if ! command -v h2load >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client >/dev/null
fi
for product in segment-server segment-load; do swift build -c "$config" --product "$product" >/dev/null; done
bin=$(swift build -c "$config" --show-bin-path)
bash scripts/setup.sh >/dev/null
py=bench/.venv/bin/python
gen="$work/py"
mkdir -p "$gen"
$py -m grpc_tools.protoc -IProtos --python_out="$gen" --grpc_python_out="$gen" Protos/segmentation/v1/*.proto
touch "$gen/segmentation/__init__.py" "$gen/segmentation/v1/__init__.py"

# A throwaway CA and a certificate for 127.0.0.1; tokens made here. All of it goes with $work.
ssl() { openssl "$@" 2>/dev/null; }
ssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=soak-ca -keyout "$work/ca-key.pem" -out "$work/ca.pem"
ssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$work/server-key.pem" -out "$work/server.csr"
echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > "$work/server.ext"
ssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial -days 2 \
  -extfile "$work/server.ext" -out "$work/server.pem"
admin=$(openssl rand -hex 24); scorer=$(openssl rand -hex 24)
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
printf "admin:%s\nscorer:%s\n" "$(hash "$admin")" "$(hash "$scorer")" > "$work/tokens"
tls=(--tls-cert "$work/server.pem" --tls-key "$work/server-key.pem")

# Fixed ports below Linux's ephemeral range (32768-60999): a port in it was once taken, now and
# then, as the local port of another connection, and the server could not listen there.
# wait_port PORT [LOG]: waits up to 30 s for the port; fails showing the server's log.
wait_port() {
  for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 never opened${2:+; the end of $2:}" >&2
  [ -n "${2:-}" ] && tail -5 "$2" >&2
  return 1
}

soak_port=20091; metrics_port=20092
"$bin/segment-server" --port $soak_port --data-dir "$work/soak" "${tls[@]}" --auth-tokens "$work/tokens" \
  --metrics-port $metrics_port --log-level warning 2>"$work/soak.log" & pids+=($!)
server_pid=$!
wait_port $soak_port "$work/soak.log"
echo "soak: $seconds s, $concurrency scorers over TLS with a token, training and alias switches alongside"
"$bin/segment-load" soak $soak_port "$work/ca.pem" "$admin" "$scorer" $seconds $concurrency $server_pid $verdict | tee "$out/soak.jsonl"
# The server's own count must agree: no call ended other than OK.
curl -s "http://127.0.0.1:$metrics_port/metrics" > "$work/metrics.txt"
$py - "$work/metrics.txt" <<'PY' | tee -a "$out/soak.jsonl"
import json, re, sys
handled = {}
for line in open(sys.argv[1]):
    m = re.match(r'grpc_server_handled_total\{(.*)\} (\S+)', line)
    if m:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        key = labels["grpc_method"] + ":" + labels["grpc_code"]
        handled[key] = handled.get(key, 0) + float(m.group(2))
bad = {k: v for k, v in handled.items() if not k.endswith(":OK")}
print(json.dumps({"name": "soak_server_metrics", "score_ok": handled.get("Score:OK", 0), "set_alias_ok": handled.get("SetAlias:OK", 0),
                  "not_ok": bad}))
if bad:
    sys.exit(f"the server counted calls that did not end OK: {bad}")
PY
kill -TERM $server_pid; wait $server_pid 2>/dev/null || true

echo "per-call cost: plaintext, tokens, TLS, TLS and tokens (h2load, unary Score, one customer)"
base=20093
"$bin/segment-server" --port $base --data-dir "$work/cost" --log-level warning 2>"$work/cost.log" & pid=$!
wait_port $base "$work/cost.log"
"$bin/segment-load" populate $base 1 >/dev/null
$py bench/grpc_frame.py body "$gen" bench-0 "$work/body.bin"
reply=$($py bench/grpc_frame.py reply-size "$gen" bench-0 $base)
kill -TERM $pid; wait $pid 2>/dev/null || true
declare -A port_of=([plain]=20094 [plain_token]=20095 [tls]=20096 [tls_token]=20097)
for name in plain plain_token tls tls_token; do
  cp -r "$work/cost" "$work/cost-$name"
  extra=()
  case $name in *token) extra+=(--auth-tokens "$work/tokens");; esac
  case $name in tls*) extra+=("${tls[@]}");; esac
  "$bin/segment-server" --port "${port_of[$name]}" --data-dir "$work/cost-$name" --log-level warning "${extra[@]}" 2>"$work/$name.log" & pids+=($!)
done
for name in plain plain_token tls tls_token; do wait_port "${port_of[$name]}" "$work/$name.log"; done
h2() {  # name -> one JSON line, after checking every reply was a full, successful frame
  local name=$1 scheme=http headers=()
  case $name in tls*) scheme=https;; esac
  case $name in *token) headers=(-H "authorization: Bearer $scorer");; esac
  h2load -n $requests -c 4 -m 16 -t 1 -d "$work/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' "${headers[@]}" \
    "$scheme://127.0.0.1:${port_of[$name]}/segmentation.v1.ScoringService/Score" > "$work/h2-$name.txt"
  $py bench/h2load_check.py "$work/h2-$name.txt" "cost_$name" "$reply"
}
: > "$out/cost.jsonl"
for _ in $(seq 1 $rounds); do
  for name in plain plain_token tls tls_token; do h2 $name | tee -a "$out/cost.jsonl"; done
done

[ "$smoke" = 1 ] && echo "(smoke run: $config build, seconds long; these figures mean nothing)"
$py - "$out/soak.jsonl" "$out/cost.jsonl" <<'PY'
import json, statistics, sys
soak = [json.loads(line) for line in open(sys.argv[1])][0]
runs = {}
for line in open(sys.argv[2]):
    row = json.loads(line); runs.setdefault(row["name"], []).append(row["rps"])
median = {name: statistics.median(values) for name, values in runs.items()}
s = soak
print()
print("| soak | result |")
print("| --- | ---: |")
print(f"| {s['seconds']} s, {s['concurrency']} concurrent scorers, TLS + scorer token | {s['calls']:,} calls ({s['calls_per_s']:,.0f}/s), p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms |")
print(f"| failed calls / replies not exactly one version's scores | {s['failed']} / {s['mismatched']} |")
versions = {k.removeprefix("replies_"): v for k, v in s.items() if k.startswith("replies_v")}
print(f"| replies from {' / '.join(versions)} of the switching alias | {' / '.join(f'{v:,}' for v in versions.values())} |")
print(f"| alias switches, training jobs finished meanwhile | {s['alias_switches']:,}, {s['jobs_trained']:,} |")
print(f"| server RSS after warm-up -> end (peak) | {s['rss_after_warmup_mb']:.1f} -> {s['rss_end_mb']:.1f} MB ({s['rss_peak_mb']:.1f}), {s['rss_growth_pct']:+.1f}% |")
print()
print("| unary Score, 1 customer/call, h2load 4 connections x 16 streams | req/s (median) | vs plaintext |")
print("| --- | ---: | ---: |")
base = median["cost_plain"]
for name, label in [("plain", "plaintext, no tokens"), ("plain_token", "plaintext, bearer token"),
                    ("tls", "TLS, no tokens"), ("tls_token", "TLS, bearer token")]:
    each = ", ".join(f"{r:,.0f}" for r in runs[f"cost_{name}"])
    rps = median[f"cost_{name}"]
    print(f"| {label} ({each}) | {rps:,.0f} | {rps / base:.0%}, {1e6 / rps - 1e6 / base:+.1f} us/call |")
PY
