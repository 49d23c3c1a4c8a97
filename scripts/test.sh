#!/usr/bin/env bash
# The whole test suite: builds everything (the process tests run the built executables), runs
# every test (the registry's against SQLite and a throwaway PostgreSQL), the Python and C clients against the real server, fuzzes ingestion for 60 s, then seconds-long smoke runs of the engine and serving
# benchmarks and of the soak test, so they never rot (debug builds; no timing is asserted; the
# soak's correctness checks do hold: no failed call, no reply from a half-switched alias).
# Tests that need ../shared skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
# A throwaway PostgreSQL on loopback for the shared registry's tests (stopped and removed at exit).
pg=$(mktemp -d)
trap 'bash scripts/postgres.sh stop "$pg"; rm -rf "$pg"' EXIT
SEGMENT_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pg")
SEGMENT_TEST_POSTGRES_PASSWORD=$(cat "$pg/password")
export SEGMENT_TEST_POSTGRES SEGMENT_TEST_POSTGRES_PASSWORD
# Here the PostgreSQL tests must run: a missing database fails the run instead of skipping them.
export SEGMENT_REQUIRE_POSTGRES=1
# Bounded: every test has a time limit and every child process a bounded wait, and should the
# run still hang, it fails with every thread's backtrace instead of silently using up the CI's
# own limit. Two stages, each a process of its own: the engine's and the report's tests (CPU-bound,
# about a minute on two cores, nothing timed), then the server's. Together in one process they
# share its cooperative threads (one per core), and the engine's minute of computing once delayed
# the server tests' timers and replies past their bounds.
bash scripts/bounded.sh 600 swift test --skip-build --skip SegmentServerTests
bash scripts/bounded.sh 1500 swift test --skip-build --filter SegmentServerTests
# The Python and C clients against the real server: the same segments as the CLI, the right statuses.
bash scripts/test-clients.sh
# Three replicas on PostgreSQL behind nginx: changes everywhere within a second, a replica killed under load.
bash scripts/test-cluster.sh
# A bounded libFuzzer run over the CSV reader and dataset ingestion (replays past crashes first).
bash scripts/fuzz.sh 60
.build/debug/segment-bench --smoke
SMOKE=1 CONFIG=debug bash bench/serve.sh
SMOKE=1 CONFIG=debug bash bench/soak.sh
