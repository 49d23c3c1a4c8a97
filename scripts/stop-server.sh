# Sourced by the test scripts: stop_server stops the server whose pid is in $server: SIGINT, then
# SIGKILL after 10 s (a stuck server never hangs the tests), and clears $server.
stop_server() {
  [ -n "$server" ] || return 0
  kill -INT "$server" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}
