#!/usr/bin/env bash
# GetDealGuidance by id on two `dealcoach` binaries side by side (e.g. main's build and a
# branch's), to show that a change leaves the hot path's cost alone: both serve the
# shipped config with the store off, loadgen runs closed-loop (32 outstanding) on one
# established connection each, the sides alternate for R rounds, and the throughput
# ratio is the median of the per-round ratios.
#
#   bench/loadgen/binary_pair.sh BASELINE_DEALCOACH SUBJECT_DEALCOACH [LOADGEN]
#   (D=seconds W=warmup R=rounds)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
a_bin=$1
b_bin=$2
lg=${3:-$root/build/bench/loadgen/loadgen}
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-binpair.XXXXXX")
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pa=$(port)
pb=$(port)
base=(serve --config "$root/config/sidecar.yaml" --store.backend none --log_level warning)
"$a_bin" "${base[@]}" --listen "127.0.0.1:$pa" 2>"$work/a.log" &
A=$!
"$b_bin" "${base[@]}" --listen "127.0.0.1:$pb" 2>"$work/b.log" &
B=$!
trap 'kill $A $B 2>/dev/null; wait $A $B 2>/dev/null || true; rm -rf "$work"' EXIT
"$lg" --target "127.0.0.1:$pa" --wait-serving 30
"$lg" --target "127.0.0.1:$pb" --wait-serving 30
D=${D:-4}; W=${W:-1}; R=${R:-5}
for r in $(seq "$R"); do
  for side in a b; do
    p=$([ $side = a ] && echo "$pa" || echo "$pb")
    "$lg" --rpc guidance_id --ids-json "$root/config/samples/opportunities.json" --duration "$D" \
      --warmup "$W" --target "127.0.0.1:$p" --mode closed --concurrency 32 \
      --out "$work/$side$r.json" >/dev/null
  done
done
python3 - "$work" "$R" <<'PY'
import json, statistics, sys
w, R = sys.argv[1], int(sys.argv[2])
runs = {s: [json.load(open(f"{w}/{s}{r}.json")) for r in range(1, R + 1)] for s in "ab"}
for s, name in (("a", "baseline"), ("b", "subject")):
    tp = [x["throughput_rps"] for x in runs[s]]
    p99 = [x["latency_us"]["p99"] for x in runs[s]]
    print(f"{name}: rps median {statistics.median(tp):.0f} (min {min(tp):.0f} max {max(tp):.0f}),"
          f" p99 median {statistics.median(p99):.0f} us, errors {sum(x['errors'] for x in runs[s])}")
ratios = [b["throughput_rps"] / a["throughput_rps"] for a, b in zip(runs["a"], runs["b"])]
print(f"subject/baseline throughput: median {statistics.median(ratios):.3f};"
      f" rounds {', '.join(f'{x:.3f}' for x in ratios)}")
PY
