#!/usr/bin/env bash
# The README's first command: install system packages, build the `dealcoach` binary and
# run the main job on the embedded default (file connector over the shipped sample
# opportunities, customer-journey playbook, the embedded SQLite store in the demo's
# temporary directory): it starts the sidecar on loopback, prints the guidance for a few
# sample deals over real gRPC and one line about the store the answers were logged to
# ("store: sqlite /tmp/dealcoach-demo-.../data/dealcoach.db, schema v2, 6 decisions
# logged"), then the command that shows the same deals in a browser.
#
#   bash scripts/demo.sh              the terminal demo above
#   bash scripts/demo.sh --serve [PORT]
#                                     the sidecar on the shipped config and samples with
#                                     its HTTP listener on 127.0.0.1:PORT (default 8080);
#                                     prints the URL of the demo page (/ui/demo: every
#                                     sample deal, each opening the coaching panel for
#                                     the rep and in manager mode) and serves until Ctrl-C.
#                                     Needs nothing but the clone; the store is a
#                                     temporary directory, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=0
http_port=8080
if [ "${1:-}" = "--serve" ]; then
  serve=1
  shift
  if [ -n "${1:-}" ]; then http_port=$1; shift; fi
  case "$http_port" in
    ''|*[!0-9]*) echo "usage: scripts/demo.sh [--serve [PORT]] [--no-color]" >&2; exit 2 ;;
  esac
fi
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target dealcoach -j"$(nproc)"

if [ "$serve" = 0 ]; then
  # `demo` always runs the embedded default configuration (it takes no --config).
  "$BUILD_DIR/dealcoach" demo "$@"
  echo
  echo "To see these deals in a browser (the coaching panel, rep and manager mode):"
  echo "  bash scripts/demo.sh --serve        # then open http://127.0.0.1:8080/ui/demo"
  exit 0
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-demo-serve.XXXXXX")
trap 'rm -rf "$data"' EXIT
echo "dealcoach demo: open http://127.0.0.1:$http_port/ui/demo (Ctrl-C stops the sidecar)"
# gRPC on a free loopback port (port 0), HTTP/JSON and the panel on $http_port.
"$BUILD_DIR/dealcoach" serve --config config/sidecar.yaml --listen 127.0.0.1:0 \
  --http.listen "127.0.0.1:$http_port" --store.data_dir "$data" "$@"
