#!/usr/bin/env bash
# The README's first command: install system packages, build the `dealcoach` binary and
# run the main job on the embedded default (file connector over the shipped sample
# opportunities, customer-journey playbook): it starts the sidecar on loopback and
# prints the guidance for a few sample deals over real gRPC.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target dealcoach -j"$(nproc)"
exec "$BUILD_DIR/dealcoach" demo --config config/sidecar.yaml "$@"
