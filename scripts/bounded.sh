#!/usr/bin/env bash
# bounded.sh SECONDS COMMAND...: runs COMMAND in a process group of its own; if it is still
# running after SECONDS, prints the backtrace of every thread of each process in the group (gdb),
# kills the whole group (servers a test started too) and fails (exit 124), so a hang is
# diagnosable instead of using up the CI's own time limit. Ctrl-C or SIGTERM stops the group too.
set -uo pipefail
limit=$1; shift
setsid "$@" &
pid=$!
trap 'kill -TERM -- "-$pid" 2>/dev/null; wait "$pid"; exit 130' INT TERM
start=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
  if (( SECONDS - start >= limit )); then
    echo "FAILED: '$*' still running after $limit s; the backtraces of its processes:"
    for p in $(pgrep -g "$pid"); do
      echo "=== pid $p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
      if command -v gdb > /dev/null; then
        # Flush its buffered output first (a test runner writing to a pipe holds the last few KB,
        # which name the tests still running), then the threads; each bounded in turn.
        timeout 30 gdb -p "$p" -batch -ex "call (int)fflush(0)" > /dev/null 2>&1
        timeout 60 gdb -p "$p" -batch -ex "thread apply all bt 30" 2>&1 \
          | grep -v "^\[New LWP\|^\[Thread debugging\|^Using host libthread\|^During symbol reading\|^warning: " | head -n 1500
      fi
    done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    exit 124
  fi
  sleep 2
done
wait "$pid"
