#!/usr/bin/env bash
# The benchmark suite, end to end: builds (Release, build-bench/), runs the engine
# micro-benchmarks, bulk evaluation, the node peers side by side and the gRPC load
# generator against a real `dealcoach serve`, then writes every figure and ratio to
# bench/results/latest.json and prints a table.
#
#   scripts/bench.sh            full run (~5 minutes on 2 cores)
#   scripts/bench.sh --smoke    seconds-long version of every part, for CI; writes
#                               build-bench/bench-smoke.json, never the committed result
#   scripts/bench.sh --update-docs
#                               full run, then regenerates the table in
#                               docs/performance.md from the result
#
# DEALCOACH_BENCH_PIN=SERVER_CPUS:LOADGEN_CPUS (e.g. 1:0) pins the gRPC part with
# taskset: the servers to the first CPU list, the load generator to the second. Off by
# default (docs/performance.md, "gRPC tail latency", says what it did to the ratios).
#
# Every ratio is computed against a baseline measured in the same run. All network
# traffic stays on 127.0.0.1; the server this script starts is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
smoke=0
update_docs=0
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --update-docs) update_docs=1 ;;
    *) echo "usage: scripts/bench.sh [--smoke] [--update-docs]" >&2; exit 2 ;;
  esac
done

build=${DEALCOACH_BENCH_BUILD:-$root/build-bench}
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-bench.XXXXXX")
server_pid=""
nolog_pid=""
cleanup() {
  if [ -n "$nolog_pid" ]; then kill "$nolog_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)
log() { printf 'bench: [%3ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }

if [ "$smoke" = 1 ]; then
  min_time=0.01; bulk_count=1000; bulk_repeats=1; peer_opps=200; peer_seconds=0.3
  load_seconds=1; load_warmup=0.3; load_rounds=1; closed_rounds=1
  out=$build/bench-smoke.json
else
  min_time=0.3; bulk_count=100000; bulk_repeats=3; peer_opps=2000; peer_seconds=4
  load_seconds=4; load_warmup=1; load_rounds=5; closed_rounds=3
  out=$root/bench/results/latest.json
fi

# --- build -------------------------------------------------------------------------
# Warnings are CI's business (DEALCOACH_WERROR=ON builds); some third-party headers warn
# only at -O3, which must not stop a benchmark run.
# A build dir given through DEALCOACH_BENCH_BUILD that is already configured (CI passes
# the test build) is used as it is, so CI compiles the project once.
if [ -n "${DEALCOACH_BENCH_BUILD:-}" ] && [ -f "$build/build.ninja" ]; then
  log "using the existing build in $build"
else
  log "building (Release) in $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDEALCOACH_WERROR=OFF \
    -DDEALCOACH_BUILD_TESTS=OFF >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
fi
targets=(engine_bench bulk_bench loadgen gen_opportunities fired_rules)
# auth_bench (issue 15's JWT share) exists when GTest is installed (its signing helpers).
if ninja -C "$build" -t targets all 2>/dev/null | grep '^auth_bench:' >/dev/null; then
  targets+=(auth_bench)
fi
have_server=0
# grep reads all input (no -q): with pipefail, an early exit would SIGPIPE ninja.
if ninja -C "$build" -t targets all 2>/dev/null | grep '^dealcoach:' >/dev/null; then
  targets+=(dealcoach); have_server=1
fi
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log" >&2; exit 1; }
server_bin=""
if [ "$have_server" = 1 ]; then
  server_bin=$(find "$build" -maxdepth 3 -type f -name dealcoach -perm -u+x | head -1)
  [ -n "$server_bin" ] || have_server=0
fi

# --- node peers ----------------------------------------------------------------------
have_peers=0
if command -v node >/dev/null 2>&1; then
  if [ ! -d "$root/bench/peers/node_modules/json-rules-engine" ] ||
     [ ! -d "$root/bench/peers/node_modules/@gorules/zen-engine" ] ||
     [ ! -d "$root/bench/peers/node_modules/@marcbachmann/cel-js" ] ||
     [ ! -d "$root/bench/peers/node_modules/@bufbuild/cel" ] ||
     [ ! -d "$root/bench/peers/node_modules/yaml" ]; then
    log "installing bench/peers (npm install)"
    # `install --no-save`, not `npm ci`: zen-engine's optional per-platform packages are
    # not all on the registry at the pinned version, which `npm ci` refuses.
    (cd "$root/bench/peers" && npm install --no-save --no-audit --no-fund --loglevel=error \
      >"$work/npm.log" 2>&1) || { log "npm install failed: $(tail -3 "$work/npm.log")"; exit 1; }
  fi
  [ -d "$root/bench/peers/node_modules/@gorules/zen-engine" ] && have_peers=1
fi
command -v node >/dev/null 2>&1 || { echo "bench: node is required for the report" >&2; exit 1; }

# --- 1. engine micro-benchmarks --------------------------------------------------------
log "engine_bench (min time ${min_time}s per benchmark)"
"$build/bench/engine/engine_bench" --benchmark_min_time="$min_time" \
  --benchmark_out="$work/engine.json" --benchmark_out_format=json >"$work/engine.txt" 2>&1 ||
  { cat "$work/engine.txt" >&2; exit 1; }

# --- 2. bulk evaluation + cache memory -------------------------------------------------
log "bulk_bench ($bulk_count opportunities)"
"$build/bench/bulk/bulk_bench" --count "$bulk_count" --repeats "$bulk_repeats" \
  --out "$work/bulk.json" 2>"$work/bulk.err" || { cat "$work/bulk.err" >&2; exit 1; }

# --- 3. peers side by side on identical data -----------------------------------------
log "peers ($peer_opps opportunities)"
"$build/bench/common/gen_opportunities" --count "$peer_opps" --seed 42 >"$work/opps.json"
# The peers read the opportunities as dealcoach evaluates them: normalised as of the
# file's "now" (contacts' last_met_at from the activities, `not_recorded` summarised).
"$build/bench/engine/fired_rules" --opportunities "$work/opps.json" \
  --normalized-out "$work/opps-normalized.json" \
  --bench-seconds "$peer_seconds" >"$work/fired.json"
if [ "$have_peers" = 1 ]; then
  node "$root/bench/peers/run.js" --opportunities "$work/opps-normalized.json" --fired "$work/fired.json" \
    --seconds "$peer_seconds" --out "$work/peers.json"
fi
# The second shipped playbook: its own CEL conditions in the CEL peers (rules.js has no
# hand translation of it for json-rules-engine and ZEN).
meddicc=$root/config/playbooks/meddicc.yaml
"$build/bench/engine/fired_rules" --opportunities "$work/opps.json" --playbook "$meddicc" \
  --bench-seconds "$peer_seconds" >"$work/fired-meddicc.json"
if [ "$have_peers" = 1 ]; then
  node "$root/bench/peers/run.js" --opportunities "$work/opps-normalized.json" \
    --fired "$work/fired-meddicc.json" --playbook "$meddicc" --peers cel-js,bufbuild-cel \
    --seconds "$peer_seconds" --out "$work/peers-meddicc.json"
fi

# --- 4. gRPC load against a real server ----------------------------------------------
loadgen=$build/bench/loadgen/loadgen
if [ "$have_server" = 1 ]; then
  pin_server=(); pin_loadgen=()
  if [ -n "${DEALCOACH_BENCH_PIN:-}" ]; then
    pin_server=(taskset -c "${DEALCOACH_BENCH_PIN%%:*}")
    pin_loadgen=(taskset -c "${DEALCOACH_BENCH_PIN##*:}")
    log "pinning: servers to CPUs ${DEALCOACH_BENCH_PIN%%:*}, loadgen to ${DEALCOACH_BENCH_PIN##*:}"
  fi
  port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  # Its HTTP/JSON listener too, for the HTTP-vs-gRPC pair (bench/loadgen/http_load.h).
  http_port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  log "starting dealcoach serve on 127.0.0.1:$port (HTTP on 127.0.0.1:$http_port)"
  # The shipped config with its default store (SQLite, here in the work dir): every
  # GetDealGuidance answer is written to the decision log.
  "${pin_server[@]}" "$server_bin" serve --config "$root/config/sidecar.yaml" \
    --listen "127.0.0.1:$port" --http.listen "127.0.0.1:$http_port" \
    --store.data_dir "$work/store" >"$work/server.log" 2>&1 &
  server_pid=$!
  if ! "$loadgen" --target "127.0.0.1:$port" --wait-serving 30; then
    tail -20 "$work/server.log" >&2; exit 1
  fi
  # The same config with the store (and so the decision log) off, for the on/off pair.
  nolog_port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  log "starting dealcoach serve --store.backend none on 127.0.0.1:$nolog_port"
  "${pin_server[@]}" "$server_bin" serve --config "$root/config/sidecar.yaml" \
    --listen "127.0.0.1:$nolog_port" --store.backend none >"$work/server-nolog.log" 2>&1 &
  nolog_pid=$!
  if ! "$loadgen" --target "127.0.0.1:$nolog_port" --wait-serving 30; then
    tail -20 "$work/server-nolog.log" >&2; exit 1
  fi
  target=127.0.0.1:$port
  samples=$root/config/samples/opportunities.json
  # --server-pid: each run also reports the server's CPU per call and its utilization
  # over the measured window (bench/loadgen/server_usage.h); the nolog runs name theirs.
  common=(--target "$target" --duration "$load_seconds" --warmup "$load_warmup"
    --server-pid "$server_pid")
  run_load() {  # name, then loadgen arguments
    local name=$1; shift
    log "loadgen $name"
    "${pin_loadgen[@]}" "$loadgen" "${common[@]}" --label "$name" --out "$work/load-$name.json" "$@" ||
      log "loadgen $name reported errors (see result)"
  }
  field() { node -e "console.log(require('$1')$2)"; }
  # Saturation: closed loop, enough outstanding calls to keep both cores busy; the three
  # alternate for $closed_rounds rounds and the report takes each one's median.
  for round in $(seq 1 "$closed_rounds"); do
    sfx=$([ "$round" = 1 ] && echo "" || echo "~$round")
    run_load "closed-health$sfx" --rpc health --mode closed --concurrency 32
    run_load "closed-push$sfx" --rpc guidance_push --mode closed --concurrency 32
    run_load "closed-id$sfx" --rpc guidance_id --mode closed --concurrency 32 --ids-json "$samples"
    run_load "closed-http-id$sfx" --rpc http_guidance_id --mode closed --concurrency 32 \
      --ids-json "$samples" --target "127.0.0.1:$http_port"
  done
  # Fixed offered rate at 50% of GetDealGuidance's saturation, same rate for Health/Check.
  median_rps() {  # the median closed-loop throughput of one RPC's rounds
    node -e "const fs=require('fs');const v=fs.readdirSync('$work')
      .filter((f)=>f==='load-$1.json'||f.startsWith('load-$1~'))
      .map((f)=>JSON.parse(fs.readFileSync('$work/'+f,'utf8')).throughput_rps).sort((a,b)=>a-b);
      console.log(v[Math.floor(v.length/2)])"
  }
  push_rate=$(node -e "console.log($(median_rps closed-push) * 0.5)")
  id_rate=$(node -e "console.log($(median_rps closed-id) * 0.5)")
  http_rate=$(node -e "console.log($(median_rps closed-http-id) * 0.5)")
  # Health at 50% of its own saturation: a second reading of the p99 goal (each RPC at
  # half of what it sustains, rather than both at GetDealGuidance's half), reported
  # beside the goal's pairing, not instead of it.
  health_rate=$(node -e "console.log($(median_rps closed-health) * 0.5)")
  # Each pair alternates for $load_rounds rounds; the report divides each round's p99 by
  # the adjacent Health round's and takes the median of those ratios, with their spread
  # and a distribution-free confidence interval (bench/peers/report.js ratioStats): one
  # window hit by a transient stall (another process, the sidecar's own 30 s sync) then
  # moves one ratio of five, not the figure. Round 1 keeps the historical file names.
  for round in $(seq 1 "$load_rounds"); do
    sfx=$([ "$round" = 1 ] && echo "" || echo "~$round")
    run_load "rate-push$sfx" --rpc guidance_push --mode rate --rate "$push_rate" --concurrency 256
    run_load "rate-health-at-push$sfx" --rpc health --mode rate --rate "$push_rate" \
      --concurrency 256
    run_load "rate-id$sfx" --rpc guidance_id --mode rate --rate "$id_rate" --concurrency 256 \
      --ids-json "$samples"
    run_load "rate-health-at-id$sfx" --rpc health --mode rate --rate "$id_rate" --concurrency 256
    run_load "rate-health-own$sfx" --rpc health --mode rate --rate "$health_rate" \
      --concurrency 256
    # Decision log on (the server above) vs off, same offered rate.
    run_load "rate-push-nolog$sfx" --rpc guidance_push --mode rate --rate "$push_rate" \
      --concurrency 256 --target "127.0.0.1:$nolog_port" --server-pid "$nolog_pid"
    # HTTP/JSON vs gRPC by id at 50% of the HTTP saturation (32 keep-alive connections
    # bound the requests in flight as 256 bound the calls on the one gRPC channel).
    run_load "rate-http-id$sfx" --rpc http_guidance_id --mode rate --rate "$http_rate" \
      --concurrency 32 --ids-json "$samples" --target "127.0.0.1:$http_port"
    run_load "rate-id-at-http$sfx" --rpc guidance_id --mode rate --rate "$http_rate" \
      --concurrency 256 --ids-json "$samples"
  done
  kill "$nolog_pid" 2>/dev/null || true
  wait "$nolog_pid" 2>/dev/null || true
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
else
  log "no 'dealcoach' server binary in $build: cannot run the gRPC load"; exit 1
fi

# --- 5. production: mTLS vs plaintext, metrics on vs off, JWT share (issue 15) ----------
# Its own servers (plaintext, mTLS, metrics on), one run, every ratio against its pair.
log "production pair (bench/loadgen/production_pair.sh)"
if [ "$smoke" = 1 ]; then prod_env=(D=0.5 W=0.2 R=1); else prod_env=(D="$load_seconds" W="$load_warmup" R=3); fi
env "${prod_env[@]}" bash "$root/bench/loadgen/production_pair.sh" "$build" \
  --out "$(dirname "$out")/production-pair$([ "$smoke" = 1 ] && echo -smoke).json" >&2 ||
  { log "production pair failed"; exit 1; }

# --- report ----------------------------------------------------------------------------
report_args=(--work "$work" --out "$out" --mode "$([ "$smoke" = 1 ] && echo smoke || echo full)")
[ "$update_docs" = 1 ] && report_args+=(--docs "$root/docs/performance.md")
node "$root/bench/peers/report.js" "${report_args[@]}"
node "$root/bench/loadgen/http_vs_grpc.js" --work "$work" --out "$out"
log "wrote $out"
