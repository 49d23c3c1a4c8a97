#!/usr/bin/env bash
# Every benchmark, one command: the engine against scikit-learn + pandas on the same inputs,
# then serving (bench/serve.sh) against a Python grpcio peer and the empty-handler server.
# Prints side-by-side tables (the source of BENCHMARKS.md).
#   bash bench/run.sh            full run (about 5 minutes after the release builds)
#   REPEATS=1 bash bench/run.sh  quicker
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${REPEATS:-3}
shared=${SEGMENT_SHARED_DIR:-../shared}
out=bench/results
mkdir -p "$out"
rm -f "$out/ours.jsonl" "$out/peer.jsonl"

bash scripts/setup.sh
swift build -c release --product segment-bench
bench=$(swift build -c release --show-bin-path)/segment-bench
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
fi
bench/.venv/bin/python -c "import sklearn, pandas, grpc, grpc_tools, grpc_reflection" 2>/dev/null \
  || bench/.venv/bin/pip install -q scikit-learn==1.9.1 pandas==3.1.1 grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-reflection==1.85.1
# The second peer where it accelerates the algorithm (KMeans, DBSCAN): Intel oneDAL.
# x86-64 wheels only: elsewhere the oneDAL columns stay empty rather than stopping the run.
bench/.venv/bin/python -c "import sklearnex" 2>/dev/null || bench/.venv/bin/pip install -q scikit-learn-intelex==2026.2.0 \
  || echo "scikit-learn-intelex could not be installed: the oneDAL peer is skipped"
py=bench/.venv/bin/python
export SEGMENT_BENCH_JSON=$out/ours.jsonl

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(swift --version 2>&1 | head -1)"
"$py" -c "import sklearn, numpy, pandas, threadpoolctl, json; print('peer: scikit-learn', sklearn.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, json.dumps([(i['internal_api'], i.get('architecture'), i['num_threads']) for i in threadpoolctl.threadpool_info()]))"

if [ -d "$shared/data/online-retail/by-day" ]; then
  "$bench" retail "$shared/data/online-retail/by-day" "$repeats"
  "$py" bench/peer_sklearn.py retail "$shared/data/online-retail/by-day" "$repeats" >> "$out/peer.jsonl"
else
  echo "skipping Online Retail: $shared/data/online-retail/by-day is absent"
fi
"$bench" sweep-generated 25000 "$repeats" "$out/generated_25000.csv"
"$py" bench/peer_sklearn.py sweep-csv "$out/generated_25000.csv" 1 >> "$out/peer.jsonl"
"$bench" kmeans 1000000 "$out" "$repeats"
"$py" bench/peer_sklearn.py kmeans "$out/kmeans_1000000x8.f64" 1000000 "$repeats" >> "$out/peer.jsonl"
"$bench" algorithms 100000 "$out" "$repeats"
"$py" bench/peer_sklearn.py algorithms "$out/algorithms_100000x4.f64" 100000 "$repeats" >> "$out/peer.jsonl"
# Mini-batch k-means' own peak memory, in a process of its own.
"$bench" minibatch-memory 1000000
"$bench" kmeans-rfm 1000000 "$out" "$repeats"
"$py" bench/peer_sklearn.py kmeans-rfm "$out/kmeans_rfm_1000000x4.f64" "$out/kmeans_rfm_1000000x4_start8.f64" 1000000 "$repeats" >> "$out/peer.jsonl"
rm -f "$out/kmeans_1000000x8.f64" "$out/generated_25000.csv" "$out/algorithms_100000x4.f64" "$out"/kmeans_rfm_1000000x4*.f64

echo
"$py" bench/compare.py "$out/ours.jsonl" "$out/peer.jsonl"

echo
bash bench/serve.sh
