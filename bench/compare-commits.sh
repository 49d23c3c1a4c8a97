#!/usr/bin/env bash
# Two commits side by side in one run: the check that a change (a refactor, say) costs nothing
# measurable. Each commit is built in release in a git worktree of its own; then every engine
# benchmark runs for one commit and at once for the other, and bench/serve.sh runs for each in
# turn, on the same machine in the same session. Prints one table: medians before and after.
#   bash bench/compare-commits.sh BEFORE [AFTER]   (AFTER defaults to HEAD)
#   REPEATS=1 bash bench/compare-commits.sh ...    quicker
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(git rev-parse --short "${1:?usage: bench/compare-commits.sh BEFORE [AFTER]}")
after=$(git rev-parse --short "${2:-HEAD}")
repeats=${REPEATS:-3}
shared=$(cd "${SEGMENT_SHARED_DIR:-../shared}" 2>/dev/null && pwd || true)
root=${COMPARE_DIR:-/tmp/segment-compare}
out=bench/results/compare
mkdir -p "$out" "$root"
rm -f "$out"/*.jsonl

bash scripts/setup.sh  # bench/.venv (the serving peer), shared by both worktrees
for side in before after; do
  commit=${!side}
  if [ ! -d "$root/$side" ]; then git worktree add --detach "$root/$side" "$commit" >/dev/null; fi
  git -C "$root/$side" checkout -q --detach "$commit"
  ln -sfn "$PWD/bench/.venv" "$root/$side/bench/.venv"
  echo "building $side ($commit), release"
  for product in segment-bench segment-server segment-load segment-empty-server segment; do
    (cd "$root/$side" && swift build -c release --product "$product" >/dev/null)
  done
done
bin() { echo "$root/$1/.build/release"; }

engine() {  # runs one engine benchmark for both commits, one after the other
  for side in before after; do
    SEGMENT_BENCH_JSON=$PWD/$out/engine-$side.jsonl "$(bin $side)/segment-bench" "$@" >/dev/null
  done
}
echo "engine benchmarks ($repeats repeats each)"
if [ -n "$shared" ] && [ -d "$shared/data/online-retail/by-day" ]; then
  engine retail "$shared/data/online-retail/by-day" "$repeats"
fi
engine sweep-generated 25000 "$repeats" "$root/generated_25000.csv"
engine kmeans 1000000 "$root" "$repeats"
engine algorithms 100000 "$root" "$repeats"
rm -f "$root"/*.f64 "$root"/*.csv

for side in before after; do
  echo "serving: $side"
  (cd "$root/$side" && bash bench/serve.sh > "$PWD/../serve-$side.txt" 2>&1) \
    || { tail -20 "$root/serve-$side.txt"; exit 1; }
  cp "$root/$side/bench/results/serving.jsonl" "$out/serving-$side.jsonl"
done

bench/.venv/bin/python - "$out" "$before" "$after" <<'PY'
import json, statistics, sys
out, before, after = sys.argv[1:4]

def rows(path):
    found = {}
    for line in open(path):
        if line.startswith("{"):
            row = json.loads(line)
            found.setdefault(row["name"], []).append(row)
    return found

print(f"| benchmark | {before} | {after} | after / before |")
print("| --- | ---: | ---: | ---: |")
a, b = rows(f"{out}/engine-before.jsonl"), rows(f"{out}/engine-after.jsonl")
for name in a:
    if name in b:
        x = statistics.median(s for r in a[name] for s in r["seconds"])
        y = statistics.median(s for r in b[name] for s in r["seconds"])
        print(f"| {name} (median s) | {x:.3f} | {y:.3f} | {y / x:.2f} |")
a, b = rows(f"{out}/serving-before.jsonl"), rows(f"{out}/serving-after.jsonl")
for name in a:
    if name not in b:
        continue
    for key in ("rps", "p50_ms", "p99_ms", "customers_per_s", "seconds_to_serving", "rss_mb"):
        xs = [r[key] for r in a[name] if isinstance(r.get(key), (int, float))]
        ys = [r[key] for r in b[name] if isinstance(r.get(key), (int, float))]
        if xs and ys:
            x, y = statistics.median(xs), statistics.median(ys)
            print(f"| {name} {key} | {x:.4g} | {y:.4g} | {y / x:.2f} |" if x else f"| {name} {key} | {x} | {y} | |")
PY
