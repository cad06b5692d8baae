#!/usr/bin/env bash
# Starts (idempotently) a throwaway PostgreSQL 15 server for dealcoach's tests.
#
#   scripts/start-postgres.sh [start|restart|stop|status|env]
#
# The server listens on 127.0.0.1:${DEALCOACH_PG_PORT:-55432} and on a unix socket in
# ${DEALCOACH_PG_BASE:-/tmp/dealcoach-pg}/sock, with trust authentication for local
# connections only (it is a test server: never expose it). When run as root the data
# directory is owned by, and the server runs as, the `postgres` OS user.
#
# On success stdout carries only shell assignments, so callers can
#   eval "$(scripts/start-postgres.sh)"
# and the same lines are written to $BASE/pg.env:
#   export DEALCOACH_TEST_PG='host=127.0.0.1 port=55432 user=postgres dbname=dealcoach_test'
#   export DEALCOACH_TEST_PG_DATA='/tmp/dealcoach-pg/data'
#   export DEALCOACH_TEST_PG_SCRIPT='/path/to/scripts/start-postgres.sh'
# `restart` restarts the running server (fast shutdown drops open connections), which
# the PostgreSQL connector's restart-during-sync test uses. Concurrent invocations are
# serialised with flock, so parallel test processes may all call `start`.
set -euo pipefail

cmd=${1:-start}
base=${DEALCOACH_PG_BASE:-/tmp/dealcoach-pg}
port=${DEALCOACH_PG_PORT:-55432}
db=${DEALCOACH_PG_DB:-dealcoach_test}
data="$base/data"
sock="$base/sock"
log="$base/server.log"
envfile="$base/pg.env"
script_path="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

bindir=""
for candidate in "${DEALCOACH_PG_BINDIR:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [ -n "$candidate" ] && [ -x "$candidate/pg_ctl" ]; then bindir="$candidate"; break; fi
done
if [ -z "$bindir" ]; then
  echo "start-postgres: no PostgreSQL server binaries (pg_ctl) found; install the" \
    "'postgresql' package (scripts/setup.sh)" >&2
  exit 1
fi

# Runs a server binary as the owner of the data directory.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

mkdir -p "$base"
chmod 0755 "$base"
exec 9>"$base/lock"
flock -w 120 9 || { echo "start-postgres: timed out waiting for $base/lock" >&2; exit 1; }

is_running() { as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

init_cluster() {
  if [ -f "$data/PG_VERSION" ]; then return; fi
  echo "start-postgres: initdb in $data" >&2
  rm -rf "$data"
  mkdir -p "$data" "$sock"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$data" "$sock" "$base"; fi
  as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >"$base/initdb.log" 2>&1 || {
    echo "start-postgres: initdb failed:" >&2; cat "$base/initdb.log" >&2; exit 1; }
  cat >>"$data/postgresql.conf" <<EOF
# dealcoach test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 32MB
EOF
}

start_server() {
  if is_running; then return; fi
  mkdir -p "$sock"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$sock" "$base"; fi
  touch "$log"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$log"; fi
  as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 9>&- || {
    echo "start-postgres: pg_ctl start failed (port $port busy?); server log:" >&2
    tail -n 20 "$log" >&2; exit 1; }
}

ensure_db() {
  local psql=("$bindir/psql" -h "$sock" -p "$port" -U postgres -d postgres -X -q -t -A)
  if [ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    as_owner "${psql[@]}" -c "CREATE DATABASE $db" >/dev/null
  fi
}

print_env() {
  local conn="host=127.0.0.1 port=$port user=postgres dbname=$db"
  {
    echo "export DEALCOACH_TEST_PG='$conn'"
    echo "export DEALCOACH_TEST_PG_DATA='$data'"
    echo "export DEALCOACH_TEST_PG_SCRIPT='$script_path'"
  } >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
  cat "$envfile"
}

case "$cmd" in
  start)
    init_cluster
    start_server
    ensure_db
    print_env
    ;;
  restart)
    init_cluster
    if is_running; then
      as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -m fast -w -t 60 restart >/dev/null 9>&-
    else
      start_server
    fi
    ensure_db
    print_env
    ;;
  stop)
    if is_running; then as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
  status)
    if is_running; then echo "running: $data port $port"; else echo "stopped"; exit 3; fi
    ;;
  env)
    print_env
    ;;
  *)
    echo "usage: $0 [start|restart|stop|status|env]" >&2
    exit 2
    ;;
esac
