#!/usr/bin/env bash
# The decision-log writer's scheduling against the push p99 (docs/performance.md, "Where a
# request's CPU goes by load, and the decision log and the tail"): one `dealcoach serve`
# with the log on, one with it off, both on CPU 1, the load generator on CPU 0. After
# finding the push saturation it runs rounds at 50% of it; in each round it sets the
# writer thread (dc-decision-log) to each of MODES in turn (setslice.c: sched_setattr)
# and runs the on server, then the off one. Prints per mode the p99s, the paired ratios
# on/off and their median.
#   MODES: nice (nice 10, as shipped) zero (nice 0) idle (SCHED_IDLE) slice (nice 10,
#          100 us EEVDF slice, Linux 6.12+)
#   bench/loadgen/sched/writer_sched_pair.sh [BUILD_DIR]   (MODES=... R=rounds D=seconds)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build}
here=$(cd "$(dirname "$0")" && pwd)
lg=$build/bench/loadgen/loadgen
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-sched.XXXXXX")
cc -O2 -o "$work/setslice" "$here/setslice.c"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pa=$(port); pb=$(port)
taskset -c 1 "$build/dealcoach" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$pa" \
  --store.data_dir "$work/store" --log_level warning 2>"$work/on.log" &
on_pid=$!
taskset -c 1 "$build/dealcoach" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$pb" \
  --store.backend none --log_level warning 2>"$work/off.log" &
off_pid=$!
trap 'kill $on_pid $off_pid 2>/dev/null; wait $on_pid $off_pid 2>/dev/null; rm -rf "$work"' EXIT
"$lg" --target "127.0.0.1:$pa" --wait-serving 30
"$lg" --target "127.0.0.1:$pb" --wait-serving 30
D=${D:-4}; W=${W:-1}; R=${R:-4}
LG="taskset -c 0 $lg"
run() { $LG --rpc guidance_push --duration "$D" --warmup "$W" "$@" >/dev/null; }
writer=""
for t in /proc/$on_pid/task/*; do
  if [ "$(cat "$t/comm")" = dc-decision-log ]; then writer=$(basename "$t"); fi
done
[ -n "$writer" ] || { echo "no dc-decision-log thread in $on_pid" >&2; exit 1; }
echo "writer tid: $writer"
run --target "127.0.0.1:$pa" --mode closed --concurrency 32 --label closed --out "$work/closed.json"
rate=$(python3 -c "import json;print(json.load(open('$work/closed.json'))['throughput_rps']*0.5)")
echo "rate $rate"
setmode() { case $1 in
    nice) "$work/setslice" $writer 10 0 0 ;;
    idle) "$work/setslice" $writer 0 0 5 ;;
    slice) "$work/setslice" $writer 10 100000 0 ;;
    slice0) "$work/setslice" $writer 0 100000 0 ;;
    zero) "$work/setslice" $writer 0 0 0 ;;
  esac >/dev/null; }
for r in $(seq "$R"); do
  for mode in ${MODES:-nice idle slice}; do
    setmode $mode
    run --target "127.0.0.1:$pa" --mode rate --rate "$rate" --concurrency 256 --label on --out "$work/on-$mode-$r.json"
    run --target "127.0.0.1:$pb" --mode rate --rate "$rate" --concurrency 256 --label off --out "$work/off-$mode-$r.json"
  done
done
for mode in ${MODES:-nice idle slice}; do
  python3 - "$work" "$mode" "$R" <<'PY'
import json,sys,statistics
w,m,R=sys.argv[1],sys.argv[2],int(sys.argv[3])
on=[json.load(open(f"{w}/on-{m}-{r}.json")) for r in range(1,R+1)]
off=[json.load(open(f"{w}/off-{m}-{r}.json")) for r in range(1,R+1)]
p=lambda x:[round(y["latency_us"]["p99"]) for y in x]
rat=[a/b for a,b in zip(p(on),p(off))]
print(m, "on", p(on), "off", p(off), "ratios", [round(x,2) for x in rat], "median %.2f"%statistics.median(rat), "med on/med off %.2f"%(statistics.median(p(on))/statistics.median(p(off))))
PY
done
echo "decisions: $(sqlite3 $work/store/dealcoach.db 'select count(*) from decisions')"
