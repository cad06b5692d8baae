#!/usr/bin/env bash
# `dealcoach store status|migrate|vacuum` on a fresh SQLite data directory, then on a
# fresh PostgreSQL database of the test server (scripts/start-postgres.sh).
#   store_cli_test.sh <path to dealcoach> [<source dir>]
set -euo pipefail
bin=$1
src=${2:-}
dir=$(mktemp -d)
pgdb=""
cleanup() {
  rm -rf "$dir"
  if [ -n "$pgdb" ]; then
    psql -q "$DEALCOACH_TEST_PG" -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
cd "$dir"  # No config/sidecar.yaml here: defaults plus flags.

set +e
out=$("$bin" store status --store.data_dir "$dir/data"); rc=$?
set -e
[ "$rc" = 1 ] || { echo "status on an empty store: want exit 1, got $rc: $out"; exit 1; }
grep -q "schema version: 0" <<<"$out" || { echo "status: $out"; exit 1; }

out=$("$bin" store migrate --store.data_dir "$dir/data")
grep -q "applied 2 migration(s); schema version 2" <<<"$out" || { echo "migrate: $out"; exit 1; }
out=$("$bin" store migrate --store.data_dir "$dir/data")
grep -q "applied 0 migration(s)" <<<"$out" || { echo "second migrate: $out"; exit 1; }

out=$(DEALCOACH_STORE_DATA_DIR="$dir/data" "$bin" store status)
grep -q "applied 0002_snapshots_decisions" <<<"$out" || { echo "status: $out"; exit 1; }
"$bin" store vacuum --store.data_dir "$dir/data" | grep -q "vacuum: done"

set +e
out=$("$bin" store frob 2>&1); rc=$?
set -e
[ "$rc" = 2 ] || { echo "unknown command: want exit 2, got $rc"; exit 1; }
# A corrupt file is an error naming it, not a crash.
echo "garbage garbage garbage garbage garbage garbage garbage garbage" >"$dir/data/dealcoach.db"
rm -f "$dir/data/dealcoach.db-wal" "$dir/data/dealcoach.db-shm"
set +e
out=$("$bin" store status --store.data_dir "$dir/data" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] || { echo "corrupt file: want exit 2, got $rc: $out"; exit 1; }
grep -q "$dir/data/dealcoach.db" <<<"$out" || { echo "corrupt file message: $out"; exit 1; }
echo "store_cli_test: sqlite ok"

# PostgreSQL: the same commands with --store.backend postgres.
if [ -z "$src" ] || ! command -v psql >/dev/null 2>&1; then
  echo "store_cli_test: no source dir or psql; PostgreSQL part skipped"
  exit 0
fi
eval "$(bash "$src/scripts/start-postgres.sh" start)"
pgdb="dc_store_cli_$$"
psql -q "$DEALCOACH_TEST_PG" -c "CREATE DATABASE $pgdb" >/dev/null
# The dbname keyword last: it names the new database.
conn="$DEALCOACH_TEST_PG dbname=$pgdb"
pg=(--store.backend postgres --store.postgres.conninfo "$conn")
set +e
out=$("$bin" store status "${pg[@]}"); rc=$?
set -e
[ "$rc" = 1 ] || { echo "pg status on an empty database: want exit 1, got $rc: $out"; exit 1; }
out=$("$bin" store migrate "${pg[@]}")
grep -q "applied [1-9][0-9]* migration(s); schema version [1-9]" <<<"$out" || { echo "pg migrate: $out"; exit 1; }
out=$("$bin" store migrate "${pg[@]}")
grep -q "applied 0 migration(s)" <<<"$out" || { echo "pg second migrate: $out"; exit 1; }
out=$(DEALCOACH_STORE_BACKEND=postgres DEALCOACH_STORE_POSTGRES_CONNINFO="$conn" "$bin" store status)
grep -q "applied 0003_row_level_security" <<<"$out" || { echo "pg status: $out"; exit 1; }
"$bin" store vacuum "${pg[@]}" | grep -q "vacuum: done"
echo "store_cli_test: postgres ok"
