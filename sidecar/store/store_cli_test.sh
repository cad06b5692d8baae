#!/usr/bin/env bash
# `dealcoach store status|migrate|vacuum` on a fresh SQLite data directory.
#   store_cli_test.sh <path to dealcoach>
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
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
echo "store_cli_test: ok"
