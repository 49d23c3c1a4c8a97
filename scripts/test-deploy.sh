#!/usr/bin/env bash
# Checks deploy/ against the real server:
#  - the Kubernetes manifests validate (kubernetes-validate --strict); every flag they pass is one
#    segment-server has; every health name their probes ask for is answered SERVING by a server;
#    the Services, PodDisruptionBudget and ServiceMonitor select the Deployment's pods and ports;
#  - the Prometheus rules pass `promtool check rules` (promtool taken from Debian's prometheus
#    package, unpacked into .build/tools: nothing installed, no daemon started);
#  - the Grafana dashboard is what deploy/grafana/make-dashboard.py writes;
#  - a real scrape, after real calls, parses with prometheus_client's parser, every family has its
#    HELP, the standard names are there, and every metric the rules and the dashboard use exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
py=bench/.venv/bin/python
work=$(mktemp -d)
server=""
finish() {
  local status=$?
  [ -n "$server" ] && { kill -INT "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
  if ((status != 0)) && [ -f "$work/server.log" ]; then tail -n 20 "$work/server.log" >&2; fi
  rm -rf "$work"
}
trap finish EXIT

echo "== deploy: Kubernetes manifests"
bench/.venv/bin/kubernetes-validate --strict --quiet deploy/kubernetes/segment-server.yaml deploy/kubernetes/postgres.yaml
"$bin/segment-server" --help > "$work/help.txt"

echo "== deploy: Prometheus rules"
promtool=.build/tools/usr/bin/promtool
if [ ! -x "$promtool" ]; then
  (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb -x "$work"/prometheus_*.deb .build/tools
fi
"$promtool" check rules deploy/prometheus/alerts.yaml

echo "== deploy: Grafana dashboard"
python3 deploy/grafana/make-dashboard.py "$work/dashboard.json"
cmp deploy/grafana/segment-server.json "$work/dashboard.json" \
  || { echo "deploy/grafana/segment-server.json is not what make-dashboard.py writes: run it" >&2; exit 1; }

echo "== deploy: a real server's health names and metrics"
port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metrics=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/segment-server" --port "$port" --metrics-port "$metrics" --data-dir "$work/data" \
  --drift-flush-seconds 1 2> "$work/server.log" &
server=$!
export SEGMENT_SERVER=127.0.0.1:$port
for _ in $(seq 1 150); do "$bin/segment" health >/dev/null 2>&1 && break; sleep 0.2; done
"$bin/segment" generate-sample --customers 300 --seed 5 --file "$work/tx.csv" >/dev/null 2>&1
"$bin/segment" train "$work/tx.csv" --model deploy --k 3 --n-init 2 --wait >/dev/null 2>&1
"$bin/segment" score --model deploy "$work/tx.csv" >/dev/null 2>&1
"$bin/segment" models show nosuch >/dev/null 2>&1 || true
sleep 2.5  # a drift flush, which sets the drift gauges
for name in $($py - deploy/kubernetes/segment-server.yaml <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["kind"] == "Deployment":
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                print(container[probe]["grpc"]["service"] or '""')
PY
); do
  [ "$name" = '""' ] && name=""
  "$bin/segment" health --service "$name" >/dev/null || { echo "probe service '$name' is not SERVING" >&2; exit 1; }
done
curl -sf "http://127.0.0.1:$metrics/metrics" > "$work/metrics.txt"
$py - "$work" <<'PY'
import json, re, sys, yaml
from prometheus_client.parser import text_string_to_metric_families
work = sys.argv[1]
families = list(text_string_to_metric_families(open(f"{work}/metrics.txt").read()))
undocumented = [f.name for f in families if not f.documentation]
assert not undocumented, f"metrics without HELP: {undocumented}"
samples = {s.name for f in families for s in f.samples}
standard = ["grpc_server_started_total", "grpc_server_handled_total", "grpc_server_msg_received_total",
            "grpc_server_msg_sent_total", "grpc_server_handling_seconds_bucket", "process_cpu_seconds_total",
            "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
            "process_max_fds", "process_start_time_seconds", "segment_build_info"]
missing = [name for name in standard if name not in samples]
assert not missing, f"standard metrics missing: {missing}"
types = {f.name: f.type for f in families}
assert types["grpc_server_started"] == "counter" and types["grpc_server_handling_seconds"] == "histogram", types
scored = [s for f in families for s in f.samples if s.name == "segment_scored_customers_total"]
assert any(s.labels.get("model") == "deploy" and s.labels.get("version") == "1" for s in scored), scored

# Every metric the rules and the dashboard use is one the server exposes.
text = open("deploy/prometheus/alerts.yaml").read() + open("deploy/grafana/segment-server.json").read()
used = set(re.findall(r"\b((?:grpc_server|segment|process)_[a-z_]+)", text)) - {"segment_server"}
unknown = sorted(name for name in used if name not in samples)
assert not unknown, f"used by deploy/ but not exposed: {unknown}"

# Kubernetes: flags exist, selectors and ports line up.
help_text = open(f"{work}/help.txt").read()
docs = [d for path in ("deploy/kubernetes/segment-server.yaml", "deploy/kubernetes/servicemonitor.yaml")
        for d in yaml.safe_load_all(open(path)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
deployment = by_kind["Deployment"][0]
pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
container = deployment["spec"]["template"]["spec"]["containers"][0]
for arg in container["args"]:
    flag = arg.split("=", 1)[0]
    assert re.search(rf"^\s+{re.escape(flag)}\b", help_text, re.M), f"segment-server has no {flag}"
ports = {p["name"] for p in container["ports"]}
def selects(selector):
    return all(pod_labels.get(k) == v for k, v in selector.items())
for service in by_kind["Service"]:
    assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    assert all(p["targetPort"] in ports for p in service["spec"]["ports"]), service["metadata"]["name"]
assert selects(by_kind["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"])
monitor = by_kind["ServiceMonitor"][0]
monitored = [s for s in by_kind["Service"]
             if all(s["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
assert len(monitored) == 1 and any(p["name"] == monitor["spec"]["endpoints"][0]["port"] for p in monitored[0]["spec"]["ports"])
drain = int(next(a.split("=")[1] for a in container["args"] if a.startswith("--drain-seconds=")))
assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain + container["lifecycle"]["preStop"]["sleep"]["seconds"]
print(f"ok: deploy/ checked: {len(families)} metric families with HELP, {len(used)} metrics used by rules and dashboard all exposed, manifests line up")
PY
