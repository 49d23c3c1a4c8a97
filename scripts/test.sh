#!/usr/bin/env bash
# The whole test suite: builds everything (the process tests run the built executables), runs
# every test, then a seconds-long smoke run of the engine benchmark so it never rots.
# Tests that need ../shared skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
.build/debug/segment-bench --smoke
