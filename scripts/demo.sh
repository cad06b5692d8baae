#!/usr/bin/env bash
# The README's first command: install system packages, build the `dealcoach` binary and
# run the main job on the embedded default (file connector over the shipped sample
# opportunities, customer-journey playbook, the embedded SQLite store in the demo's
# temporary directory): it starts the sidecar on loopback, prints the guidance for a few
# sample deals over real gRPC and one line about the store the answers were logged to
# ("store: sqlite /tmp/dealcoach-demo-.../data/dealcoach.db, schema v2, 6 decisions
# logged").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target dealcoach -j"$(nproc)"
# `demo` always runs the embedded default configuration (it takes no --config).
exec "$BUILD_DIR/dealcoach" demo "$@"
