#!/usr/bin/env bash
# Where a request's server CPU goes, counted in instructions (callgrind), which the
# machine's load does not change (docs/performance.md, "The request path").
#
# Starts `dealcoach serve` under valgrind's callgrind with the shipped config (SQLite
# store, so the decision log is on) and instrumentation off; for each RPC sends WARMUP calls,
# zeroes the counters, sends exactly N calls (loadgen --max-requests, 8 outstanding),
# dumps, and prints the inclusive instruction count per call of the stages that matter.
#
#   bench/loadgen/callgrind_profile.sh [BUILD_DIR] [OUT_DIR] [N]
#       DEALCOACH_PROFILE_RPCS="health guidance_push guidance_id" (the default) picks RPCs
#
# Needs valgrind (Debian). Loopback only; the server is stopped on exit. Slow (the
# server runs ~50x slower under callgrind): N=2000 takes about a minute per RPC.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-callgrind.XXXXXX")}
n=${3:-2000}
warmup=${DEALCOACH_PROFILE_WARMUP:-300}
mkdir -p "$out"
server_bin=${DEALCOACH_PROFILE_SERVER:-$build/sidecar/server/dealcoach}
[ -x "$server_bin" ] || server_bin=$(find "$build" -maxdepth 3 -type f -name dealcoach -perm -u+x | head -1)
loadgen=$build/bench/loadgen/loadgen
port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-callgrind-srv.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
valgrind --tool=callgrind --instr-atstart=no --separate-threads=no \
  --callgrind-out-file="$out/callgrind.out.%p" \
  "$server_bin" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$port" \
  --store.data_dir "$work/store" >"$out/server.log" 2>&1 &
server_pid=$!
"$loadgen" --target "127.0.0.1:$port" --wait-serving 120 >/dev/null
samples=$root/config/samples/opportunities.json
load() {  # rpc count
  local extra=()
  [ "$1" = guidance_id ] && extra=(--ids-json "$samples")
  "$loadgen" --target "127.0.0.1:$port" --rpc "$1" --mode closed --concurrency 8 \
    --warmup 0 --duration 600 --max-requests "$2" "${extra[@]}" --out "$out/load-$1.json" >/dev/null
}
for rpc in ${DEALCOACH_PROFILE_RPCS:-health guidance_push guidance_id}; do
  load "$rpc" "$warmup"
  callgrind_control -z "$server_pid" >/dev/null
  callgrind_control -i on "$server_pid" >/dev/null
  load "$rpc" "$n"
  sleep 0.5  # the decision log's writer flushes every 200 ms
  callgrind_control -i off "$server_pid" >/dev/null
  callgrind_control -d "$rpc" "$server_pid" >/dev/null
  sleep 1
  file=$(ls -t "$out"/callgrind.out.*."$rpc"* 2>/dev/null | head -1 || true)
  [ -n "$file" ] || file=$(ls -t "$out"/callgrind.out.* | head -1)
  cp "$file" "$out/cg-$rpc.out"
  callgrind_annotate --inclusive=yes --threshold=100 "$out/cg-$rpc.out" >"$out/cg-$rpc.txt" 2>/dev/null
  python3 "$root/bench/loadgen/callgrind_stages.py" --requests "$n" --label "$rpc" \
    --json "$out/stages-$rpc.json" <"$out/cg-$rpc.txt" | tee "$out/stages-$rpc.md"
  echo
done
echo "callgrind: profiles and tables in $out" >&2
