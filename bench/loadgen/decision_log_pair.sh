#!/usr/bin/env bash
# Decision log on vs off, in one run: two `dealcoach serve` on loopback from the shipped
# config, one with its default store (SQLite in a temp dir: every GetDealGuidance answer
# is logged) and one with --store.backend none. Measures GetDealGuidance (push)
# saturation on the logging one, then alternates rate runs at 50% of it against each and
# prints the p99 of every round and the ratio of the medians (goal <= 1.1x).
# scripts/bench.sh runs the same pair (rate-push vs rate-push-nolog) in its full suite.
#
#   bench/loadgen/decision_log_pair.sh [BUILD_DIR]    (D=seconds R=rounds W=warmup)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
lg=$build/bench/loadgen/loadgen
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-dlpair.XXXXXX")
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pa=$(port); pb=$(port)
"$build/dealcoach" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$pa" \
  --store.data_dir "$work/store" --log_level warning 2>"$work/on.log" &
on_pid=$!
"$build/dealcoach" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$pb" \
  --store.backend none --log_level warning 2>"$work/off.log" &
off_pid=$!
trap 'kill $on_pid $off_pid 2>/dev/null; wait $on_pid $off_pid 2>/dev/null; rm -rf "$work"' EXIT
"$lg" --target "127.0.0.1:$pa" --wait-serving 30
"$lg" --target "127.0.0.1:$pb" --wait-serving 30
D=${D:-4}; W=${W:-1}; R=${R:-5}
run() { "$lg" --rpc guidance_push --duration "$D" --warmup "$W" "$@" >/dev/null; }
run --target "127.0.0.1:$pa" --mode closed --concurrency 32 --label closed --out "$work/closed.json"
rate=$(python3 -c "import json;print(json.load(open('$work/closed.json'))['throughput_rps']*0.5)")
for r in $(seq "$R"); do
  run --target "127.0.0.1:$pa" --mode rate --rate "$rate" --concurrency 256 --label "on$r" \
    --out "$work/on$r.json"
  run --target "127.0.0.1:$pb" --mode rate --rate "$rate" --concurrency 256 --label "off$r" \
    --out "$work/off$r.json"
done
sleep 1
python3 - "$work" "$R" <<'PY'
import json, statistics, sys
w, R = sys.argv[1], int(sys.argv[2])
load = lambda k: json.load(open(f"{w}/{k}.json"))
sat = load("closed")["throughput_rps"]
on = [load(f"on{r}") for r in range(1, R + 1)]
off = [load(f"off{r}") for r in range(1, R + 1)]
p99 = lambda runs: [x["latency_us"]["p99"] for x in runs]
print(f"saturation (decision log on, 32 outstanding): {sat:.0f} rps; rate runs at {sat / 2:.0f} rps")
print("p99 per round, log on  (us):", [round(x) for x in p99(on)], "sustained:", [x["sustained"] for x in on])
print("p99 per round, log off (us):", [round(x) for x in p99(off)], "sustained:", [x["sustained"] for x in off])
print(f"median p99 on / off: {statistics.median(p99(on)) / statistics.median(p99(off)):.2f}x (goal <= 1.1x)")
PY
echo "decisions written: $(sqlite3 "$work/store/dealcoach.db" 'select count(*) from decisions')"
