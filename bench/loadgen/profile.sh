#!/usr/bin/env bash
# Where a request's server CPU goes, by stage (docs/performance.md, "The request path").
# Starts `dealcoach serve` as scripts/bench.sh does (shipped config, SQLite store and so
# the decision log on), drives it with loadgen in a closed loop (32 outstanding) for
# Health/Check, GetDealGuidance push and GetDealGuidance by id, samples the server's
# threads with perf (cpu-clock, DWARF call graphs) during each window, and prints one
# table per RPC (bench/loadgen/perf_stages.py).
#
#   bench/loadgen/profile.sh [BUILD_DIR] [OUT_DIR] [SECONDS]
#       BUILD_DIR default build/ (a RelWithDebInfo build has the symbols perf needs)
#
# perf comes from Debian (`linux-perf`); it needs root or kernel.perf_event_paranoid <= 1
# for another process. All traffic is loopback; the server is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-profile.XXXXXX")}
seconds=${3:-8}
hz=${DEALCOACH_PROFILE_HZ:-499}
mkdir -p "$out"
command -v perf >/dev/null || { echo "profile: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
server_bin=$build/sidecar/server/dealcoach
[ -x "$server_bin" ] || server_bin=$(find "$build" -maxdepth 3 -type f -name dealcoach -perm -u+x | head -1)
loadgen=$build/bench/loadgen/loadgen
port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-profile-srv.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
"$server_bin" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$port" \
  --store.data_dir "$work/store" >"$out/server.log" 2>&1 &
server_pid=$!
"$loadgen" --target "127.0.0.1:$port" --wait-serving 30 >/dev/null
samples=$root/config/samples/opportunities.json
for rpc in health guidance_push guidance_id; do
  extra=()
  [ "$rpc" = guidance_id ] && extra=(--ids-json "$samples")
  # loadgen warms up 1 s, then measures seconds+1; perf samples `seconds` inside that.
  "$loadgen" --target "127.0.0.1:$port" --rpc "$rpc" --mode closed --concurrency 32 \
    --warmup 1 --duration "$((seconds + 1))" "${extra[@]}" --out "$out/load-$rpc.json" &
  lg=$!
  sleep 1.5
  perf record -q -F "$hz" -e cpu-clock --call-graph dwarf,16384 -p "$server_pid" \
    -o "$out/perf-$rpc.data" -- sleep "$seconds" 2>"$out/perf-$rpc.err" || true
  wait "$lg"
  rps=$(node -e "console.log(require('$out/load-$rpc.json').throughput_rps)")
  requests=$(node -e "console.log($rps * $seconds)")
  perf script -i "$out/perf-$rpc.data" -F comm,tid,ip,sym 2>/dev/null |
    python3 "$root/bench/loadgen/perf_stages.py" --hz "$hz" --requests "$requests" \
      --label "$rpc at $(printf '%.0f' "$rps") rps" --json "$out/stages-$rpc.json" |
    tee "$out/stages-$rpc.md"
  echo
done
echo "profile: perf data and tables in $out" >&2
