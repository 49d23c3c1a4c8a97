#!/usr/bin/env bash
# A local cluster on loopback: a throwaway PostgreSQL (the shared registry), three segment-server
# replicas sharing it and one datasets folder, and nginx balancing gRPC across them.
#   deploy/local-cluster.sh up      starts it; prints `nginx HOST:PORT`, then `replica HOST:PORT` x3
#   deploy/local-cluster.sh down    stops it and removes its state
# Uses the binaries in $SEGMENT_BIN_DIR when set, else builds release ones. State (databases,
# datasets, logs) goes in $SEGMENT_CLUSTER_DIR (default /tmp/segment-cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: local-cluster.sh up|down}
dir=${SEGMENT_CLUSTER_DIR:-/tmp/segment-cluster}
replicas=${SEGMENT_CLUSTER_REPLICAS:-3}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

down() {
  for pidfile in "$dir"/replica-*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [ -f "$dir/nginx.pid" ]; then nginx -p "$dir" -c "$dir/nginx.conf" -s quit 2>/dev/null || kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true; fi
  [ -d "$dir/pg" ] && bash scripts/postgres.sh stop "$dir/pg"
  rm -rf "$dir"
}

case $what in
down) down; exit 0 ;;
up) ;;
*) echo "usage: local-cluster.sh up|down" >&2; exit 64 ;;
esac

command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 1; }
if [ -n "${SEGMENT_BIN_DIR:-}" ]; then
  bin=$SEGMENT_BIN_DIR
else
  swift build -c release --product segment-server >&2
  bin=$(swift build -c release --show-bin-path)
fi
[ -d "$dir" ] && down
mkdir -p "$dir/datasets" "$dir/nginx-tmp"
chmod 755 "$dir"
url=$(bash scripts/postgres.sh start "$dir/pg")
export SEGMENT_REGISTRY_PASSWORD
SEGMENT_REGISTRY_PASSWORD=$(cat "$dir/pg/password")

addresses=()
for i in $(seq 1 "$replicas"); do
  port=$(free_port)
  "$bin/segment-server" --port "$port" --data-dir "$dir/replica-$i" --registry "$url" --datasets-dir "$dir/datasets" \
    --replica-id "replica-$i" ${SEGMENT_CLUSTER_SERVER_ARGS:-} > "$dir/replica-$i.log" 2>&1 &
  echo $! > "$dir/replica-$i.pid"
  addresses+=("127.0.0.1:$port")
done
serving() {  # replica number: its health is SERVING (asked with the CLI beside the server, else read from its log)
  if [ -x "$bin/segment" ]; then
    [ "$("$bin/segment" health --server "${addresses[$(($1 - 1))]}" 2>/dev/null)" = SERVING ]
  else
    grep -q " serving" "$dir/replica-$1.log"
  fi
}
for i in $(seq 1 "$replicas"); do
  for _ in $(seq 1 300); do serving "$i" && break; sleep 0.1; done
  serving "$i" || { echo "replica $i did not start:" >&2; tail -5 "$dir/replica-$i.log" >&2; down; exit 1; }
done

nginx_port=$(free_port)
upstreams=""
for address in "${addresses[@]}"; do upstreams+="        server $address max_fails=1 fail_timeout=5s;"$'\n'; done
user_line=""
if [ "$(id -u)" -eq 0 ]; then user_line="user nobody nogroup;"; chown -R nobody "$dir/nginx-tmp"; fi
awk -v dir="$dir" -v listen="127.0.0.1:$nginx_port" -v user="$user_line" -v upstreams="$upstreams" '
  /@UPSTREAMS@/ { printf "%s", upstreams; next }
  { gsub("@DIR@", dir); gsub("@LISTEN@", listen); gsub("@USER@", user); print }' deploy/nginx.conf > "$dir/nginx.conf"
nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log"

echo "nginx 127.0.0.1:$nginx_port"
for address in "${addresses[@]}"; do echo "replica $address"; done
