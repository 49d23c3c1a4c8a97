#!/usr/bin/env bash
# The test suite, in stages; with no argument, all of them in order (the README's test command,
# and what CI runs). Each stage also runs alone: `bash scripts/test.sh unit`.
#   unit         swift-format's check (scripts/format.sh), then the engine's, mapping's and
#                report's tests: pure functions, CPU-bound, nothing timed
#   integration  the server's tests: in-process and real servers, the registry on SQLite and on a
#                throwaway PostgreSQL (required here: missing, it fails the run instead of skipping)
#   system       deploy/'s manifests, rules and dashboard checked against the real server, the
#                Debian package installed into a debootstrapped root and its OCI image run, the
#                Python and C clients against the real server, the HTTP/JSON gateway (with
#                schemathesis from its OpenAPI document), OpenTelemetry spans received by a
#                stand-in OTLP collector, three replicas behind nginx,
#                60 s of fuzzing, and seconds-long smoke runs of the benchmarks and the soak test
#                (debug builds; no timing asserted, the soak's correctness checks do hold)
# Setup (system packages, bench/.venv) and the build run once, first. Tests that need ../shared
# skip with a message when it is absent. Stages are separate processes: together in one, the
# engine's minute of computing shared the process's cooperative threads (one per core) with the
# server tests and once delayed their timers and replies past their bounds.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(unit integration system)
for stage in "${stages[@]}"; do
  case "$stage" in unit | integration | system) ;; *) echo "unknown stage '$stage': use unit, integration or system" >&2; exit 2 ;; esac
done

bash scripts/setup.sh
swift build --build-tests

# Bounded: every test has a time limit and every child process a bounded wait, and should a run
# still hang, it fails with every thread's backtrace instead of using up CI's own limit.
unit() {
  bash scripts/format.sh --check
  bash scripts/bounded.sh 600 swift test --skip-build --skip SegmentServerTests
}

integration() {
  local pg
  pg=$(mktemp -d)
  # Stopped and removed however the stage ends.
  trap 'bash scripts/postgres.sh stop "'"$pg"'"; rm -rf "'"$pg"'"' EXIT
  SEGMENT_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pg")
  SEGMENT_TEST_POSTGRES_PASSWORD=$(cat "$pg/password")
  export SEGMENT_TEST_POSTGRES SEGMENT_TEST_POSTGRES_PASSWORD SEGMENT_REQUIRE_POSTGRES=1
  bash scripts/bounded.sh 1500 swift test --skip-build --filter SegmentServerTests
  bash scripts/postgres.sh stop "$pg"
  rm -rf "$pg"
  trap - EXIT
}

system() {
  bash scripts/test-deploy.sh
  bash scripts/test-clients.sh
  bash scripts/test-gateway.sh
  bash scripts/test-tracing.sh
  bash scripts/test-cluster.sh
  bash scripts/fuzz.sh 60
  .build/debug/segment-bench --smoke
  SMOKE=1 CONFIG=debug bash bench/serve.sh
  SMOKE=1 CONFIG=debug bash bench/soak.sh
  SMOKE=1 CONFIG=debug bash bench/live.sh
  # Last: it links the binaries again with the Swift runtime inside (scripts/package.sh).
  bash scripts/test-package.sh
}

for stage in "${stages[@]}"; do
  echo "== stage: $stage"
  "$stage"
done
echo "== passed: ${stages[*]}"
