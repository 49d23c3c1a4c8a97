#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and the local cluster: Debian's PostgreSQL, its data
# in DIR, on 127.0.0.1 only, run as a non-root user (PostgreSQL refuses root; as root this
# script makes and uses the system user `segment-pg`). Password authentication (scram) for the
# role `segment`, whose password is written to DIR/password.
#   scripts/postgres.sh start DIR     prints the URL, postgres://segment@127.0.0.1:PORT/segment
#   scripts/postgres.sh stop DIR
set -euo pipefail
what=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() {  # runs a command as the cluster's owner
  if [ "$(id -u)" -eq 0 ]; then runuser -u segment-pg -- "$@"; else "$@"; fi
}

case $what in
start)
  if [ "$(id -u)" -eq 0 ] && ! id segment-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin segment-pg
  fi
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown segment-pg "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/password" ]; then
    head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/password"
    chmod 600 "$dir/password"
    [ "$(id -u)" -eq 0 ] && chown segment-pg "$dir/password"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  fi
  # A cluster started again keeps its port (a test stops and restarts it under a running server).
  port=$(cat "$dir/port" 2>/dev/null || python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
  echo "$port" > "$dir/port"
  password=$(cat "$dir/password")
  as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'segment') THEN
    CREATE ROLE segment LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE segment OWNER segment' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'segment')\gexec
SQL
  echo "postgres://segment@127.0.0.1:$port/segment"
  ;;
stop)
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: postgres.sh start|stop DIR" >&2; exit 64
  ;;
esac
