#!/usr/bin/env bash
# The README's second command: install system packages, build everything with warnings
# as errors, start a throwaway PostgreSQL for the connector tests, and run the whole
# test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEALCOACH_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
# Start (idempotently) the throwaway PostgreSQL for the postgres connector tests; the
# script prints the connection string.
eval "$(bash scripts/start-postgres.sh start)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" --timeout 300 "$@"
