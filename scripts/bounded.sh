#!/usr/bin/env bash
# bounded.sh SECONDS COMMAND...: runs COMMAND; if it is still running after SECONDS, prints the
# backtrace of every thread of it and its child processes (gdb), kills them and fails (exit 124),
# so a hang is diagnosable instead of using up the CI's own time limit.
set -uo pipefail
limit=$1; shift
"$@" &
pid=$!
start=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
  if (( SECONDS - start >= limit )); then
    echo "FAILED: '$*' still running after $limit s; the backtraces of its processes:"
    for p in "$pid" $(pgrep -P "$pid"); do
      echo "=== pid $p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
      if command -v gdb > /dev/null; then
        # Flush its buffered output first (a test runner writing to a pipe holds the last few KB,
        # which name the tests still running), then the threads.
        gdb -p "$p" -batch -ex "call (int)fflush(0)" > /dev/null 2>&1
        gdb -p "$p" -batch -ex "thread apply all bt 30" 2>&1 \
          | grep -v "^\[New LWP\|^\[Thread debugging\|^Using host libthread\|^During symbol reading\|^warning: " | head -n 1500
      fi
    done
    pkill -KILL -P "$pid"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    exit 124
  fi
  sleep 2
done
wait "$pid"
