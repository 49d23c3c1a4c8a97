#!/usr/bin/env bash
# Customer value beside lifetimes 0.11.3, on the same purchase summaries in the same run: Online
# Retail (../shared), and customers simulated from BG/NBD and Gamma-Gamma (100,000 and 1,000,000).
# Each side fits both models and then gives every customer's P(alive) and expected purchases in
# 90 days; the table shows both medians, the speed-up and the largest relative difference of the
# seven parameters. Then the training job on Online Retail, whole and its customer-value steps.
#   bash bench/btyd.sh             REPEATS=1 for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${REPEATS:-3}
shared=$(cd "${SEGMENT_SHARED_DIR:-../shared}" 2>/dev/null && pwd || true)
bash scripts/setup.sh >/dev/null  # bench/.venv-lifetimes
swift build -c release --product segment-bench >/dev/null
bench=.build/release/segment-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=bench/results/btyd
mkdir -p "$out"
rm -f "$out"/*.jsonl
ours() { SEGMENT_BENCH_JSON=$PWD/$out/ours.jsonl "$bench" "$@" >/dev/null; }
peer() { bench/.venv-lifetimes/bin/python bench/peer_lifetimes.py "$@" >> "$out/lifetimes.jsonl"; }
if [ -n "$shared" ] && [ -d "$shared/data/online-retail/by-day" ]; then
  ours btyd-retail "$shared/data/online-retail/by-day" "$work/retail.csv" "$repeats"
  peer "$work/retail.csv" "$repeats" --name retail
fi
for n in 100000 1000000; do
  ours btyd-simulated "$n" "$work/simulated_$n.csv" "$repeats"
  # lifetimes takes tens of seconds a fit at a million customers: fewer repeats there.
  peer "$work/simulated_$n.csv" "$([ "$n" -ge 1000000 ] && echo 1 || echo "$repeats")" --name "simulated_$n"
done
bench/.venv/bin/python - "$out" <<'PY'
import json, sys, statistics
out = sys.argv[1]
def load(name):
    return {r["name"]: r for r in map(json.loads, open(f"{out}/{name}.jsonl"))}
ours, theirs = load("ours"), load("lifetimes")
print(f"{'step':34} {'ours (s)':>10} {'lifetimes (s)':>14} {'speed-up':>9} {'max rel. param diff':>20}")
for name, mine in ours.items():
    if name not in theirs: continue
    a, b = statistics.median(mine["seconds"]), statistics.median(theirs[name]["seconds"])
    diff = ""
    if name.startswith("btyd_fit"):
        keys = ["r", "alpha", "a", "b", "p", "q", "v"]
        diff = "%.1e" % max(abs(float(mine["extra"][k]) - theirs[name]["extra"][k]) / abs(theirs[name]["extra"][k]) for k in keys)
    print(f"{name:34} {a:10.4f} {b:14.4f} {b / a:8.1f}x {diff:>20}")
PY
if [ -n "$shared" ] && [ -d "$shared/data/online-retail/by-day" ]; then
  SEGMENT_BENCH_JSON=$PWD/$out/train.jsonl "$bench" train-retail "$shared/data/online-retail/by-day" "$repeats"
fi
