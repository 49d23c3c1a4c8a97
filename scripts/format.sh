#!/usr/bin/env bash
# format.sh [--check]: formats every hand-written Swift file with swift-format and the checked-in
# .swift-format (100 columns, 4 spaces; the toolchain's `swift format`); --check only lints and
# fails, listing what to fix, if any file is not formatted (the unit stage of scripts/test.sh runs
# this). Generated code (*.pb.swift, *.grpc.swift; scripts/generate-protos.sh) is left as generated.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.swift' | grep -v -e '\.pb\.swift$' -e '\.grpc\.swift$')
if [ "${1:-}" = "--check" ]; then
  if ! swift format lint --strict --parallel "${files[@]}"; then
    echo "format: files above are not formatted; run: bash scripts/format.sh" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted"
else
  swift format format --in-place --parallel "${files[@]}"
fi
