#!/usr/bin/env bash
# OpenTelemetry tracing (--otlp-endpoint) against the real server and a stand-in OTLP/gRPC
# collector (scripts/otlp-collector.py: opentelemetry-proto's messages, bench/.venv): a call that
# sends a W3C traceparent, over gRPC and through the HTTP gateway, becomes a SERVER span in the
# caller's trace, a child of the caller's span, named by its method, with the model version it
# scored; a call without one gets a new trace whose id its log line names; a refused call's span
# carries its code and reason; health checks make none; the resource names the service and its
# version; what is still batched is sent when the server stops (SIGTERM, exit 0); an unreadable
# traceparent never puts the token beside it in the log; OTEL_SDK_DISABLED=true switches it off.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
py=bench/.venv/bin/python
work=$(mktemp -d)
server=""
collector=""
source scripts/stop-server.sh
finish() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "tracing: FAILED (exit $status); the server's last lines:"
    tail -n 15 "$work/server.log" 2>/dev/null || true
  fi
  stop_server
  [ -z "$collector" ] || kill "$collector" 2>/dev/null || true
  rm -rf "$work"
}
trap finish EXIT
fail() { echo "FAILED: $*"; exit 1; }
wait_serving() {  # wait_serving WHAT: until the server started as $server logs "serving"
  for _ in $(seq 1 150); do
    grep -q '"message":"serving"' "$work/server.log" && return 0
    kill -0 "$server" 2>/dev/null || fail "$1: the server exited"
    sleep 0.2
  done
  fail "$1: the server did not start"
}

"$py" scripts/otlp-collector.py "$work/spans.jsonl" > "$work/collector.port" &
collector=$!
for _ in $(seq 1 100); do [ -s "$work/collector.port" ] && break; sleep 0.1; done
otlp_port=$(head -1 "$work/collector.port")
[ -n "$otlp_port" ] || fail "the collector did not start"

# A long batch delay: the spans below can only reach the collector through the flush at shutdown.
OTEL_BSP_SCHEDULE_DELAY=600000 "$bin/segment-server" --port 0 --http-port 0 --data-dir "$work/data" \
  --log-format json --otlp-endpoint "http://127.0.0.1:$otlp_port" 2> "$work/server.log" &
server=$!
wait_serving "the traced server"
address=$(grep -o '"address":"[^"]*"' "$work/server.log" | head -1 | cut -d'"' -f4)
http=$(grep -o '"http":"[^"]*"' "$work/server.log" | head -1 | cut -d'"' -f4)
export SEGMENT_SERVER=$address
"$bin/segment" generate-sample --customers 3000 --seed 5 --file "$work/tx.csv" > /dev/null
"$bin/segment" train "$work/tx.csv" --model shop --k 3 --wait > "$work/train.log" 2>&1 || { cat "$work/train.log"; fail "train"; }

trace_grpc=4bf92f3577b34da6a3ce929d0e0e4736; parent_grpc=00f067aa0ba902b7
trace_http=5cf92f3577b34da6a3ce929d0e0e4737; parent_http=11f067aa0ba902b8
# Over gRPC: ListModels and a missing model's GetModel (NOT_FOUND), both in the caller's trace.
"$py" - "$address" "$trace_grpc" "$parent_grpc" <<'PY'
import sys, grpc
address, trace, parent = sys.argv[1:]
channel = grpc.insecure_channel(address)
metadata = [("traceparent", f"00-{trace}-{parent}-01")]
call = lambda method: channel.unary_unary(method, request_serializer=bytes, response_deserializer=bytes)
call("/segmentation.v1.ModelRegistry/ListModels")(b"", metadata=metadata, timeout=10)
try:
    # GetModelRequest{model: {name: "nope"}}
    call("/segmentation.v1.ModelRegistry/GetModel")(bytes.fromhex("0a060a046e6f7065"), metadata=metadata, timeout=10)
    sys.exit("GetModel of a missing model succeeded")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
PY
# Through the HTTP gateway: Score, in another caller's trace.
printf '{"model":{"name":"shop"},"csv":{"data":"%s"}}' "$(base64 -w0 "$work/tx.csv")" > "$work/score.json"
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
  -H "traceparent: 00-$trace_http-$parent_http-01" --data-binary @"$work/score.json" \
  "http://$http/segmentation.v1.ScoringService/Score" || fail "Score through the gateway"
# Clients that give up (deadlines of a millisecond or two, while the reply is being written): their
# calls end DEADLINE_EXCEEDED or CANCELLED, never as a server fault (INTERNAL, UNAVAILABLE).
"$py" - "$address" <<'PY'
import sys, grpc
channel = grpc.insecure_channel(sys.argv[1])
get_model = channel.unary_unary("/segmentation.v1.ModelRegistry/GetModel", request_serializer=bytes, response_deserializer=bytes)
for timeout in [0.0005, 0.001, 0.002, 0.004, 0.008] * 4:
    try:
        get_model(bytes.fromhex("0a060a0473686f701001"), timeout=timeout)  # shop, with its sample
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
PY
# A traceparent that cannot be read starts a new trace, and the token sent with it is logged nowhere.
"$py" - "$address" <<'PY'
import sys, grpc
channel = grpc.insecure_channel(sys.argv[1])
channel.unary_unary("/segmentation.v1.ModelRegistry/ListModels", request_serializer=bytes, response_deserializer=bytes)(
    b"", metadata=[("traceparent", "garbage"), ("authorization", "Bearer secret-token-1")], timeout=10)
PY
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -H 'traceparent: garbage' \
  -H 'Authorization: Bearer secret-token-2' -d '{}' "http://$http/grpc.health.v1.Health/Check"
# No traceparent: a new trace, named in the call's log line.
"$bin/segment" models list > /dev/null
"$bin/segment" health > /dev/null

stop_server_term() {
  kill -TERM "$server"
  local code=0
  wait "$server" || code=$?
  server=""
  [ "$code" = 0 ] || fail "SIGTERM: the server exited $code"
}
stop_server_term
[ -s "$work/spans.jsonl" ] || fail "no span reached the collector by shutdown"
grep -q 'secret-token' "$work/server.log" && fail "a token reached the log: $(grep -m1 secret-token "$work/server.log")"
grep '"message":"rpc"' "$work/server.log" > "$work/calls.log"
faults=$(grep '"segmentation.v1.ModelRegistry/GetModel"' "$work/calls.log" | grep -cE '"status":"(INTERNAL|UNAVAILABLE|UNKNOWN)"' || true)
[ "$faults" = 0 ] || fail "calls whose clients gave up were logged as server faults: $(grep -m1 -E '"status":"(INTERNAL|UNAVAILABLE)"' "$work/calls.log")"
"$py" - "$work/spans.jsonl" "$work/calls.log" "$trace_grpc" "$parent_grpc" "$trace_http" "$parent_http" <<'PY'
import json, sys
spans_file, calls_file, trace_grpc, parent_grpc, trace_http, parent_http = sys.argv[1:]
spans = [json.loads(line) for line in open(spans_file)]
calls = [json.loads(line) for line in open(calls_file)]
value = lambda span, key: next(iter(span["attributes"].get(key, {}).values()), None)
def one(name, **where):
    found = [s for s in spans if s["name"] == name and all(s.get(k) == v for k, v in where.items())]
    assert len(found) == 1, f"{name} {where}: {len(found)} spans of {[s['name'] for s in spans]}"
    return found[0]
SERVER = "SPAN_KIND_SERVER"

listed = one("segmentation.v1.ModelRegistry/ListModels", traceId=trace_grpc)
assert listed["parentSpanId"] == parent_grpc and listed["kind"] == SERVER, listed
assert value(listed, "rpc.system") == "grpc" and value(listed, "rpc.method") == "ListModels", listed
assert value(listed, "rpc.grpc.status_code") == "0", listed
assert listed.get("status", {}).get("code") in (None, "STATUS_CODE_UNSET"), listed

missing = one("segmentation.v1.ModelRegistry/GetModel", traceId=trace_grpc)
assert missing["parentSpanId"] == parent_grpc, missing
assert value(missing, "rpc.grpc.status_code") == "5", missing
assert value(missing, "error.type") == "NOT_FOUND", missing
# NOT_FOUND is the caller's mistake, not the server's fault (OpenTelemetry's RPC conventions).
assert missing.get("status", {}).get("code") in (None, "STATUS_CODE_UNSET"), missing

scored = one("segmentation.v1.ScoringService/Score", traceId=trace_http)
assert scored["parentSpanId"] == parent_http and scored["kind"] == SERVER, scored
assert value(scored, "segmentation.model") == "shop", scored
assert value(scored, "segmentation.model_version") == "1", scored
assert value(scored, "client.address") == "127.0.0.1" and int(value(scored, "client.port")) > 0, scored
assert value(scored, "segmentation.gateway") is True and value(listed, "segmentation.gateway") is None, scored

# Without a traceparent: a root span, and the log line names its trace.
line = [c for c in calls if c["method"] == "segmentation.v1.ModelRegistry/ListModels"][-1]
root = one("segmentation.v1.ModelRegistry/ListModels", traceId=line["trace_id"])
assert root["parentSpanId"] == "", root
assert not any(s["name"].startswith("grpc.health") for s in spans), "a health check made a span"
for span in spans:
    assert span["resource"]["service.name"] == {"stringValue": "segment-server"}, span["resource"]
    assert "service.version" in span["resource"], span["resource"]
print(f"ok: {len(spans)} spans; the callers' traces continued over gRPC and HTTP, a new one named in the log line, none for health")
PY

# OTEL_SDK_DISABLED=true, the standard switch, turns tracing off; the server starts all the same.
OTEL_SDK_DISABLED=true "$bin/segment-server" --port 0 --data-dir "$work/data2" --log-format json \
  --otlp-endpoint "http://127.0.0.1:$otlp_port" 2> "$work/server.log" &
server=$!
wait_serving "OTEL_SDK_DISABLED=true"
grep -q 'tracing is off: OTEL_SDK_DISABLED=true' "$work/server.log" || fail "OTEL_SDK_DISABLED=true: no notice"
stop_server_term
for endpoint in http://127.0.0.1:99999 http://localhost 'not a url'; do
  code=0; "$bin/segment-server" --port 0 --data-dir "$work/data3" --otlp-endpoint "$endpoint" 2> "$work/err" || code=$?
  [ "$code" = 64 ] && grep -q 'not a collector URL' "$work/err" || fail "--otlp-endpoint '$endpoint': exit $code $(cat "$work/err")"
done
echo "ok: OTEL_SDK_DISABLED=true switches tracing off; a bad --otlp-endpoint exits 64 naming the flag"
echo "== tracing: passed"
