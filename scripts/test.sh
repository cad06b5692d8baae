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
# A test that fails is run once more before the suite fails (--repeat until-pass:2):
# several integration tests start real servers and PostgreSQL under a 2-core load, and a
# rare timing failure there should not hide the rest. The first failure is still printed
# in full (--output-on-failure), so a flake is visible in the log and gets fixed.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" --timeout 300 \
  --repeat until-pass:2 "$@"
