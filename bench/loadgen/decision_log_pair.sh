#!/usr/bin/env bash
# Decision log on vs off, in one run: two `dealcoach serve` on loopback from the shipped
# config, one with its default store (SQLite in a temp dir: every GetDealGuidance answer
# is logged) and one with --store.backend none. Measures GetDealGuidance (push)
# saturation on the logging one, then alternates rate runs at 50% of it against each
# (the order flips every round, so neither side always runs first) and prints the p99 of
# every round, each round's paired ratio on/off, their median and spread (min, quartiles,
# max), the ratio of the median p99s (goal <= 1.1x) and the load average before and after
# (the host is shared: read the figures against it).
# scripts/bench.sh runs the same pair (rate-push vs rate-push-nolog) in its full suite.
#
#   bench/loadgen/decision_log_pair.sh [BUILD_DIR]    (D=seconds R=rounds W=warmup;
#                                                      ON_ARGS=extra serve flags for "on")
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
lg=$build/bench/loadgen/loadgen
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-dlpair.XXXXXX")
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pa=$(port); pb=$(port)
"$build/dealcoach" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$pa" \
  --store.data_dir "$work/store" --log_level warning ${ON_ARGS:-} 2>"$work/on.log" &
on_pid=$!
"$build/dealcoach" serve --config "$root/config/sidecar.yaml" --listen "127.0.0.1:$pb" \
  --store.backend none --log_level warning 2>"$work/off.log" &
off_pid=$!
trap 'kill $on_pid $off_pid 2>/dev/null; wait $on_pid $off_pid 2>/dev/null; rm -rf "$work"' EXIT
"$lg" --target "127.0.0.1:$pa" --wait-serving 30
"$lg" --target "127.0.0.1:$pb" --wait-serving 30
D=${D:-4}; W=${W:-1}; R=${R:-8}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run() { "$lg" --rpc guidance_push --duration "$D" --warmup "$W" "$@" >/dev/null; }
run --target "127.0.0.1:$pa" --mode closed --concurrency 32 --label closed --out "$work/closed.json"
rate=$(python3 -c "import json;print(json.load(open('$work/closed.json'))['throughput_rps']*0.5)")
on() { run --target "127.0.0.1:$pa" --mode rate --rate "$rate" --concurrency 256 --label "on$1" \
  --out "$work/on$1.json"; }
off() { run --target "127.0.0.1:$pb" --mode rate --rate "$rate" --concurrency 256 --label "off$1" \
  --out "$work/off$1.json"; }
for r in $(seq "$R"); do
  if [ $((r % 2)) -eq 1 ]; then on "$r"; off "$r"; else off "$r"; on "$r"; fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
sleep 1
python3 - "$work" "$R" "$load_before" "$load_after" <<'PY'
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
pairs = sorted(a / b for a, b in zip(p99(on), p99(off)))
q = statistics.quantiles(pairs, n=4) if len(pairs) >= 2 else [pairs[0]] * 3
print("paired p99 ratio per round (on/off):", [round(x, 2) for x in pairs])
print(f"paired ratio: median {statistics.median(pairs):.2f}x, quartiles {q[0]:.2f}-{q[2]:.2f}, "
      f"min {pairs[0]:.2f}, max {pairs[-1]:.2f}")
print(f"median p99 on / off: {statistics.median(p99(on)) / statistics.median(p99(off)):.2f}x (goal <= 1.1x)")
print(f"load average (1, 5, 15 min): before {sys.argv[3]}, after {sys.argv[4]} on {len(open('/proc/cpuinfo').read().split('processor')) - 1} cpus")
PY
echo "decisions written: $(sqlite3 "$work/store/dealcoach.db" 'select count(*) from decisions')"
