#!/usr/bin/env bash
# Two settings of `dealcoach serve` against each other, both with the decision log on
# (SQLite in temp dirs), both on CPU 1, the load generator on CPU 0: finds the OLD
# server's push saturation, then alternates R rounds of push at half of it against each,
# and prints per side the server's CPU per call (loadgen --server-pid), its utilization
# and the p99s. CPU per call is the figure to compare: it barely moves with the host's
# noise; the p99s do.
#   OLD_ARGS="--store.decisions.batch_size 500 --store.sqlite_cache_mib 0" NEW_ARGS="" \
#     bench/loadgen/settings_pair.sh [BUILD_DIR]        (R=rounds D=seconds)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}; lg=$build/bench/loadgen/loadgen
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-settings.XXXXXX")
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pa=$(port); pb=$(port)
S="taskset -c 1 $build/dealcoach serve --config $root/config/sidecar.yaml --log_level warning"
$S --listen 127.0.0.1:$pa --store.data_dir $work/a ${OLD_ARGS:-} 2>$work/a.log & a=$!
$S --listen 127.0.0.1:$pb --store.data_dir $work/b ${NEW_ARGS:-} 2>$work/b.log & b=$!
trap 'kill $a $b 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for p in $pa $pb; do $lg --target 127.0.0.1:$p --wait-serving 30; done
run() { taskset -c 0 $lg --rpc guidance_push --warmup 1 --duration ${D:-4} "$@" >/dev/null; }
run --target 127.0.0.1:$pa --server-pid $a --mode closed --concurrency 32 --out $work/closed.json
rate=$(python3 -c "import json;print(json.load(open('$work/closed.json'))['throughput_rps']*0.5)"); echo rate $rate
for r in $(seq ${R:-6}); do
  if [ $((r%2)) = 1 ]; then o="old new"; else o="new old"; fi
  for s in $o; do if [ $s = old ]; then p=$pa; pid=$a; else p=$pb; pid=$b; fi
    run --target 127.0.0.1:$p --server-pid $pid --mode rate --rate $rate --concurrency 256 --out $work/$s-$r.json; done
done
python3 - $work ${R:-6} <<'PY'
import json,sys,statistics as st
w,R=sys.argv[1],int(sys.argv[2])
for s in ["old","new"]:
  d=[json.load(open(f"{w}/{s}-{r}.json")) for r in range(1,R+1)]
  print(s, "cpu us/call", [round(x['server']['cpu_us_per_call'],1) for x in d], "median %.1f"%st.median(x['server']['cpu_us_per_call'] for x in d),
        "busy %.0f%%"%(100*st.median(x['server']['utilization'] for x in d)), "p99", [round(x['latency_us']['p99']) for x in d], "median %.0f"%st.median(x['latency_us']['p99'] for x in d))
PY
sleep 1
echo "rows old $(sqlite3 $work/a/dealcoach.db 'select count(*) from decisions') new $(sqlite3 $work/b/dealcoach.db 'select count(*) from decisions')"
