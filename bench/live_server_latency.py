"""The server's own view of ingest-to-segment latency: the calls of each live ingest method that
ended within 1, 2, 5 and 10 ms, from the grpc_server_handling_seconds histogram of the server's
/metrics, counted since a snapshot (so one client run's calls apart from the rest).

    python bench/live_server_latency.py METRICS_URL snapshot FILE   # write the counts now
    python bench/live_server_latency.py METRICS_URL since FILE NAME  # print the calls since FILE

Prints one JSON line per method with calls since the snapshot.
"""
import json
import re
import sys
import urllib.request

METHODS = ("RecordTransactions", "IngestTransactions")
BOUNDS = ("0.001", "0.002", "0.005", "0.01", "+Inf")


def counts(url):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    found = {}
    pattern = re.compile(
        r'grpc_server_handling_seconds_bucket\{[^}]*grpc_method="(\w+)",le="([^"]+)"\} (\d+)')
    for method, bound, value in pattern.findall(text):
        if method in METHODS and bound in BOUNDS:
            found.setdefault(method, {})[bound] = int(value)
    return found


url, what, path = sys.argv[1], sys.argv[2], sys.argv[3]
if what == "snapshot":
    with open(path, "w") as f:
        json.dump(counts(url), f)
else:
    with open(path) as f:
        before = json.load(f)
    now = counts(url)
    for method in METHODS:
        delta = {b: now.get(method, {}).get(b, 0) - before.get(method, {}).get(b, 0) for b in BOUNDS}
        calls = delta["+Inf"]
        if calls == 0:
            continue
        print(json.dumps({
            "name": f"server_{sys.argv[4]}_{method}", "calls": calls,
            **{f"within_{float(b) * 1000:g}ms": round(delta[b] / calls, 4) for b in BOUNDS[:-1]},
        }))
