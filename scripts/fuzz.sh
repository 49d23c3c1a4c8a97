#!/usr/bin/env bash
# Bounded libFuzzer run over the CSV reader and dataset ingestion (Tests/Fuzz/IngestionFuzzer.swift,
# compiled with the engine's sources under -sanitize=fuzzer,address). Usage: scripts/fuzz.sh [seconds]
# (default 60). First replays every input in Tests/Fuzz/regressions (inputs that once crashed:
# each must now run clean), then fuzzes from the seed corpus. A crash fails the run and leaves its
# input in .build/fuzz/; fix the bug, then add the input to Tests/Fuzz/regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
work=.build/fuzz
mkdir -p "$work/corpus"
binary="$work/ingestion-fuzzer"
sources=$(find Sources/SegmentationEngine -name '*.swift' | sort)
if [ ! -x "$binary" ] || [ -n "$(find $sources Tests/Fuzz/IngestionFuzzer.swift -newer "$binary" 2>/dev/null | head -1)" ]; then
  echo "fuzz: building the fuzzer (engine sources, -O, address sanitizer)"
  rm -f "$binary"  # never fuzz a stale binary when the build fails
  # ld.gold warns about every sanitizer symbol it cannot export: noise, not a problem.
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name SegmentationFuzz \
    $sources Tests/Fuzz/IngestionFuzzer.swift -o "$binary" 2>&1 | grep -v "Cannot export local symbol" || true
  [ -x "$binary" ] || { echo "fuzz: build failed" >&2; exit 1; }
fi
regressions=(Tests/Fuzz/regressions/*)
if [ -e "${regressions[0]}" ]; then
  echo "fuzz: replaying ${#regressions[@]} regression input(s)"
  "$binary" "${regressions[@]}" >"$work/regressions.log" 2>&1 || { cat "$work/regressions.log" >&2; exit 1; }
fi
echo "fuzz: ${seconds} s from Tests/Fuzz/corpus"
cp -n Tests/Fuzz/corpus/* "$work/corpus/" 2>/dev/null || true
if ! "$binary" "$work/corpus" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
     -artifact_prefix="$work/" -print_final_stats=1 >"$work/fuzz.log" 2>&1; then
  tail -40 "$work/fuzz.log" >&2
  echo "fuzz: found a failing input (see $work/crash-* or leak-*/timeout-*)" >&2
  exit 1
fi
grep -E "^stat::number_of_executed_units|^Done" "$work/fuzz.log" | tr '\n' ' '; echo
