#!/usr/bin/env bash
# Issue 15's three production benchmarks, every ratio against a baseline of the same run:
#
#   mTLS      two `dealcoach serve` from the shipped config, one plaintext and one with
#             tls.* + client_ca_file (mutual TLS, certificates made here by the openssl
#             CLI); GetDealGuidance by id on one established connection each (loadgen
#             keeps one channel): saturation throughput (closed loop, 32 outstanding)
#             mTLS / plaintext, goal >= 0.8x; p99 at a fixed rate of 50% of the
#             plaintext saturation, mTLS / plaintext, goal <= 1.3x.
#   metrics   the plaintext server (no admin_http: no interceptor, nothing counted)
#             against a third one with admin_http.listen (every RPC counted into
#             prometheus-cpp histograms): saturation throughput on / off, goal >= 0.97x.
#   JWT       bench/auth/auth_bench: a cached bearer token's verification (CPU) over
#             the process CPU of one whole GetDealGuidance call with auth, goal < 5%.
#
# Rounds alternate the sides (R rounds, median of each); the decision log is off on all
# three (--store.backend none) so the store's writes do not blur the pairs.
#
#   bench/loadgen/production_pair.sh [BUILD_DIR] [--out FILE]   (D=seconds R=rounds W=warmup)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
lg=$build/bench/loadgen/loadgen
server=$build/dealcoach
[ -x "$server" ] || server=$(find "$build" -maxdepth 3 -type f -name dealcoach -perm -u+x | head -1)
work=$(mktemp -d "${TMPDIR:-/tmp}/dealcoach-prodpair.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Certificates: one CA, a server certificate for localhost, a client certificate.
(
  cd "$work"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca-key.pem \
    -out ca.pem
  for name in server client; do
    usage=$([ $name = server ] && echo serverAuth || echo clientAuth)
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n' "$usage" >$name.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost/O=$name" -keyout $name-key.pem \
      -out $name.csr
    openssl x509 -req -days 2 -in $name.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
      -extfile $name.ext -out $name.pem
  done
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; exit 1; }

pp=$(port); pt=$(port); pm=$(port); pa=$(port)
base=(serve --config "$root/config/sidecar.yaml" --store.backend none --log_level warning)
"$server" "${base[@]}" --listen "127.0.0.1:$pp" 2>"$work/plain.log" &
pids+=($!)
"$server" "${base[@]}" --listen "127.0.0.1:$pt" --tls.cert_file "$work/server.pem" \
  --tls.key_file "$work/server-key.pem" --tls.client_ca_file "$work/ca.pem" 2>"$work/mtls.log" &
pids+=($!)
"$server" "${base[@]}" --listen "127.0.0.1:$pm" --admin_http.listen "127.0.0.1:$pa" \
  2>"$work/metrics.log" &
pids+=($!)
tls=(--tls-ca "$work/ca.pem" --tls-cert "$work/client.pem" --tls-key "$work/client-key.pem")
"$lg" --target "127.0.0.1:$pp" --wait-serving 30
"$lg" --target "127.0.0.1:$pt" --wait-serving 30 "${tls[@]}"
"$lg" --target "127.0.0.1:$pm" --wait-serving 30

D=${D:-4}; W=${W:-1}; R=${R:-3}
samples=$root/config/samples/opportunities.json
# CPU of a process in clock ticks (utime + stime, threads that exited included).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# run NAME SERVER_PID LOADGEN_ARGS...: one loadgen run, with the server's CPU over the
# run (ticks) and the load generator's own (bash's `time`: user + system) beside its JSON.
run() {
  local name=$1 spid=$2
  shift 2
  local before after
  before=$(ticks "$spid")
  local TIMEFORMAT='%3U %3S'
  { time "$lg" --rpc guidance_id --ids-json "$samples" --duration "$D" --warmup "$W" "$@" \
    --out "$work/$name.json" >/dev/null 2>"$work/$name.err"; } 2>"$work/$name.time" ||
    { echo "loadgen $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
  after=$(ticks "$spid")
  echo "$(((after - before))) $hz" >"$work/$name.cpu"
}
uptime >"$work/uptime-start"
# Rounds alternate the order (odd: plain, mTLS, metrics; even: the reverse), so neither
# side always runs right after the other one.
for r in $(seq "$R"); do
  order=(plain mtls metrics)
  [ $((r % 2)) = 0 ] && order=(metrics mtls plain)
  for side in "${order[@]}"; do
    case $side in
      plain) run "closed-plain$r" "${pids[0]}" --target "127.0.0.1:$pp" --mode closed --concurrency 32 ;;
      mtls) run "closed-mtls$r" "${pids[1]}" --target "127.0.0.1:$pt" --mode closed --concurrency 32 "${tls[@]}" ;;
      metrics) run "closed-metrics$r" "${pids[2]}" --target "127.0.0.1:$pm" --mode closed --concurrency 32 ;;
    esac
  done
done
rate=$(python3 -c "
import json, statistics
print(statistics.median(json.load(open(f'$work/closed-plain{r}.json'))['throughput_rps'] for r in range(1, $R + 1)) * 0.5)")
for r in $(seq "$R"); do
  run "rate-plain$r" "${pids[0]}" --target "127.0.0.1:$pp" --mode rate --rate "$rate" --concurrency 256
  run "rate-mtls$r" "${pids[1]}" --target "127.0.0.1:$pt" --mode rate --rate "$rate" --concurrency 256 "${tls[@]}"
done
uptime >"$work/uptime-end"
# The metrics side really counted: its /metrics has the GetDealGuidance series.
curl -sf "http://127.0.0.1:$pa/metrics" >"$work/metrics.txt" || true

auth_json=""
if [ -x "$build/bench/auth/auth_bench" ]; then
  min_time=$([ "$D" = "${D%.*}" ] && [ "$D" -ge 2 ] && echo 0.5 || echo 0.05)
  "$build/bench/auth/auth_bench" --benchmark_min_time="$min_time" \
    --benchmark_filter='BM_AuthenticateCachedJwt|BM_RecordCall|BM_GetDealGuidance' \
    --benchmark_out="$work/auth.json" --benchmark_out_format=json >"$work/auth.txt" 2>&1 ||
    { cat "$work/auth.txt" >&2; exit 1; }
  auth_json=$work/auth.json
fi

python3 - "$work" "$R" "$auth_json" "$out" <<'PY'
import json, statistics, sys
w, R, auth_path, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
med = lambda xs: statistics.median(xs)
def one(name):
    x = json.load(open(f"{w}/{name}.json"))
    ticks, hz = map(int, open(f"{w}/{name}.cpu").read().split())
    user, system = map(float, open(f"{w}/{name}.time").read().split())
    calls = max(1, x["issued"])  # warmup included: the CPU windows include it too
    x["server_cpu_us_per_call"] = ticks / hz * 1e6 / calls
    x["client_cpu_us_per_call"] = (user + system) * 1e6 / calls
    return x
def side(kind, name):
    return [one(f"{kind}-{name}{r}") for r in range(1, R + 1)]
runs = {(k, n): side(k, n) for k in ("closed",) for n in ("plain", "mtls", "metrics")}
runs.update({("rate", n): side("rate", n) for n in ("plain", "mtls")})
tp = lambda xs: [x["throughput_rps"] for x in xs]
p99 = lambda xs: [x["latency_us"]["p99"] for x in xs]
scpu = lambda xs: [x["server_cpu_us_per_call"] for x in xs]
ccpu = lambda xs: [x["client_cpu_us_per_call"] for x in xs]
errors = sum(x["errors"] for xs in runs.values() for x in xs)
closed = lambda n: runs[("closed", n)]
rated = lambda n: runs[("rate", n)]
res = {
    "rounds": R,
    "errors": errors,
    "load_average": {"start": open(f"{w}/uptime-start").read().strip(),
                     "end": open(f"{w}/uptime-end").read().strip()},
    "saturation_rps": {n: med(tp(closed(n))) for n in ("plain", "mtls", "metrics")},
    "saturation_rps_rounds": {n: tp(closed(n)) for n in ("plain", "mtls", "metrics")},
    "rate_rps": med(tp(closed("plain"))) / 2,
    "p99_us_at_half_saturation": {n: med(p99(rated(n))) for n in ("plain", "mtls")},
    "p99_us_at_half_saturation_rounds": {n: p99(rated(n)) for n in ("plain", "mtls")},
    "sustained": all(x["sustained"] for n in ("plain", "mtls") for x in rated(n)),
    # CPU per call at saturation (server process; load generator process): what a side
    # costs, independent of how the shared cores were split among processes in a round.
    "server_cpu_us_per_call": {n: med(scpu(closed(n))) for n in ("plain", "mtls", "metrics")},
    "client_cpu_us_per_call": {n: med(ccpu(closed(n))) for n in ("plain", "mtls", "metrics")},
}
# Per-round ratios (each against the same round's plaintext), then their median.
round_ratio = lambda n, f: [a / b for a, b in zip(f(closed(n)), f(closed("plain")))]
res["rounds_detail"] = [
    {"round": r + 1,
     "plain_rps": tp(closed("plain"))[r], "mtls_rps": tp(closed("mtls"))[r],
     "metrics_rps": tp(closed("metrics"))[r],
     "mtls_ratio": round_ratio("mtls", tp)[r], "metrics_ratio": round_ratio("metrics", tp)[r],
     "server_cpu_us": {n: scpu(closed(n))[r] for n in ("plain", "mtls", "metrics")},
     "client_cpu_us": {n: ccpu(closed(n))[r] for n in ("plain", "mtls", "metrics")},
     "p99_us_half": {n: p99(rated(n))[r] for n in ("plain", "mtls")}}
    for r in range(R)]
s = res["saturation_rps"]
res["mtls_throughput_ratio"] = s["mtls"] / s["plain"]
res["metrics_throughput_ratio"] = s["metrics"] / s["plain"]
res["mtls_throughput_ratio_round_median"] = med(round_ratio("mtls", tp))
res["metrics_throughput_ratio_round_median"] = med(round_ratio("metrics", tp))
res["mtls_p99_ratio"] = (res["p99_us_at_half_saturation"]["mtls"] /
                         res["p99_us_at_half_saturation"]["plain"])
sc, cc = res["server_cpu_us_per_call"], res["client_cpu_us_per_call"]
# Throughput the CPU per call predicts: a server alone on its cores (server CPU only),
# and the whole box as here (server + load generator).
res["mtls_cpu_ratio_server"] = sc["plain"] / sc["mtls"]
res["mtls_cpu_ratio_server_and_client"] = (sc["plain"] + cc["plain"]) / (sc["mtls"] + cc["mtls"])
res["metrics_cpu_ratio_server"] = sc["plain"] / sc["metrics"]
metrics_text = open(f"{w}/metrics.txt").read()
res["metrics_series_seen"] = 'method="/dealcoach.v1.CoachingService/GetDealGuidance"' in metrics_text
if auth_path:
    b = {x["name"]: x for x in json.load(open(auth_path))["benchmarks"]}
    verify_ns = b["BM_AuthenticateCachedJwt"]["cpu_time"]
    call = lambda a, m: b[f"BM_GetDealGuidance/auth:{a}/metrics:{m}/real_time"][
        "process_cpu_us_per_call"] * 1000
    with_auth, without = call(1, 0), call(0, 0)
    res["jwt"] = {"cached_verify_ns": verify_ns, "call_cpu_ns_with_auth": with_auth,
                  "call_cpu_ns_without_auth": without,
                  "verify_share": verify_ns / with_auth,
                  "auth_delta_share": (with_auth - without) / with_auth}
    record_ns = b["BM_RecordCallInHandler"]["cpu_time"]
    with_metrics = call(0, 1)
    res["metrics_cost"] = {"record_in_handler_ns": record_ns,
                           "record_by_lookup_ns": b["BM_RecordCallByLookup"]["cpu_time"],
                           "call_cpu_ns_with_metrics": with_metrics,
                           "record_share": record_ns / with_metrics,
                           "metrics_delta_share": (with_metrics - without) / with_metrics}
print(f"load: {res['load_average']['start']}  ->  {res['load_average']['end']}")
print("round  plain rps  mTLS rps  metrics rps | mTLS/pl  metr/pl | server us/call "
      "pl/mTLS/metr | client us/call pl/mTLS | p99 ms @50% pl/mTLS")
for d in res["rounds_detail"]:
    print(f"{d['round']:5d}  {d['plain_rps']:9.0f}  {d['mtls_rps']:8.0f}  {d['metrics_rps']:11.0f} |"
          f"  {d['mtls_ratio']:5.2f}x  {d['metrics_ratio']:6.3f}x |"
          f" {d['server_cpu_us']['plain']:5.0f} {d['server_cpu_us']['mtls']:5.0f}"
          f" {d['server_cpu_us']['metrics']:5.0f}     |"
          f" {d['client_cpu_us']['plain']:5.0f} {d['client_cpu_us']['mtls']:5.0f}        |"
          f" {d['p99_us_half']['plain'] / 1000:6.1f} {d['p99_us_half']['mtls'] / 1000:6.1f}")
print(f"saturation (GetDealGuidance by id, 32 outstanding, median of {R}): plaintext "
      f"{s['plain']:.0f} rps, mTLS {s['mtls']:.0f} rps, metrics on {s['metrics']:.0f} rps")
print(f"mTLS / plaintext throughput: {res['mtls_throughput_ratio']:.2f}x (goal >= 0.8x; median "
      f"of per-round ratios {res['mtls_throughput_ratio_round_median']:.2f}x)")
print(f"  CPU per call (median): server {sc['plain']:.0f} -> {sc['mtls']:.0f} us, load generator "
      f"{cc['plain']:.0f} -> {cc['mtls']:.0f} us: predicted ratio {res['mtls_cpu_ratio_server']:.2f}x "
      f"server alone, {res['mtls_cpu_ratio_server_and_client']:.2f}x server + client on one box")
p = res["p99_us_at_half_saturation"]
print(f"p99 at {res['rate_rps']:.0f} rps: plaintext {p['plain']:.0f} us, mTLS {p['mtls']:.0f} us "
      f"-> {res['mtls_p99_ratio']:.2f}x (goal <= 1.3x; sustained: {res['sustained']})")
print(f"metrics on / off throughput: {res['metrics_throughput_ratio']:.3f}x (goal >= 0.97x; median "
      f"of per-round ratios {res['metrics_throughput_ratio_round_median']:.3f}x; series scraped: "
      f"{res['metrics_series_seen']})")
print(f"  server CPU per call (median): off {sc['plain']:.1f} us, on {sc['metrics']:.1f} us "
      f"-> {res['metrics_cpu_ratio_server']:.3f}x")
if "jwt" in res:
    j = res["jwt"]
    print(f"JWT: cached verification {j['cached_verify_ns']:.0f} ns CPU of a "
          f"{j['call_cpu_ns_with_auth'] / 1000:.0f} us call = {100 * j['verify_share']:.2f}% "
          f"(goal < 5%); auth on - off: {100 * j['auth_delta_share']:.1f}% (noisy)")
if "metrics_cost" in res:
    m = res["metrics_cost"]
    print(f"metrics: recording in the handler {m['record_in_handler_ns']:.0f} ns CPU (the "
          f"interceptor's lookup path {m['record_by_lookup_ns']:.0f} ns) of a "
          f"{m['call_cpu_ns_with_metrics'] / 1000:.0f} us call = {100 * m['record_share']:.2f}%; "
          f"metrics on - off: {100 * m['metrics_delta_share']:.1f}% (noisy)")
print(f"errors: {errors}")
if out:
    json.dump(res, open(out, "w"), indent=2)
PY
