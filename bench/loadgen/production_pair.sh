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
run() { "$lg" --rpc guidance_id --ids-json "$samples" --duration "$D" --warmup "$W" "$@" >/dev/null; }
for r in $(seq "$R"); do
  run --target "127.0.0.1:$pp" --mode closed --concurrency 32 --out "$work/closed-plain$r.json"
  run --target "127.0.0.1:$pt" --mode closed --concurrency 32 "${tls[@]}" \
    --out "$work/closed-mtls$r.json"
  run --target "127.0.0.1:$pm" --mode closed --concurrency 32 --out "$work/closed-metrics$r.json"
done
rate=$(python3 -c "
import json, statistics
print(statistics.median(json.load(open(f'$work/closed-plain{r}.json'))['throughput_rps'] for r in range(1, $R + 1)) * 0.5)")
for r in $(seq "$R"); do
  run --target "127.0.0.1:$pp" --mode rate --rate "$rate" --concurrency 256 \
    --out "$work/rate-plain$r.json"
  run --target "127.0.0.1:$pt" --mode rate --rate "$rate" --concurrency 256 "${tls[@]}" \
    --out "$work/rate-mtls$r.json"
done
# The metrics side really counted: its /metrics has the GetDealGuidance series.
curl -sf "http://127.0.0.1:$pa/metrics" >"$work/metrics.txt" || true

auth_json=""
if [ -x "$build/bench/auth/auth_bench" ]; then
  min_time=$([ "$D" = "${D%.*}" ] && [ "$D" -ge 2 ] && echo 0.5 || echo 0.05)
  "$build/bench/auth/auth_bench" --benchmark_min_time="$min_time" \
    --benchmark_filter='BM_AuthenticateCachedJwt|BM_GetDealGuidance' \
    --benchmark_out="$work/auth.json" --benchmark_out_format=json >"$work/auth.txt" 2>&1 ||
    { cat "$work/auth.txt" >&2; exit 1; }
  auth_json=$work/auth.json
fi

python3 - "$work" "$R" "$auth_json" "$out" <<'PY'
import json, statistics, sys
w, R, auth_path, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
load = lambda k: json.load(open(f"{w}/{k}.json"))
med = lambda xs: statistics.median(xs)
def side(kind, name):
    return [load(f"{kind}-{name}{r}") for r in range(1, R + 1)]
tp = lambda runs: [x["throughput_rps"] for x in runs]
p99 = lambda runs: [x["latency_us"]["p99"] for x in runs]
errors = sum(x["errors"] for k in ("closed", "rate") for n in ("plain", "mtls")
             for x in side(k, n)) + sum(x["errors"] for x in side("closed", "metrics"))
res = {
    "rounds": R,
    "errors": errors,
    "saturation_rps": {n: med(tp(side("closed", n))) for n in ("plain", "mtls", "metrics")},
    "rate_rps": med(tp(side("closed", "plain"))) / 2,
    "p99_us_at_half_saturation": {n: med(p99(side("rate", n))) for n in ("plain", "mtls")},
    "sustained": all(x["sustained"] for n in ("plain", "mtls") for x in side("rate", n)),
}
res["mtls_throughput_ratio"] = res["saturation_rps"]["mtls"] / res["saturation_rps"]["plain"]
res["mtls_p99_ratio"] = (res["p99_us_at_half_saturation"]["mtls"] /
                         res["p99_us_at_half_saturation"]["plain"])
res["metrics_throughput_ratio"] = (res["saturation_rps"]["metrics"] /
                                   res["saturation_rps"]["plain"])
metrics_text = open(f"{w}/metrics.txt").read()
res["metrics_series_seen"] = 'method="GetDealGuidance"' in metrics_text or \
    "GetDealGuidance" in metrics_text
if auth_path:
    b = {x["name"]: x for x in json.load(open(auth_path))["benchmarks"]}
    verify_ns = b["BM_AuthenticateCachedJwt"]["cpu_time"]
    with_auth = b["BM_GetDealGuidance/auth:1/real_time"]["process_cpu_us_per_call"] * 1000
    without = b["BM_GetDealGuidance/auth:0/real_time"]["process_cpu_us_per_call"] * 1000
    res["jwt"] = {"cached_verify_ns": verify_ns, "call_cpu_ns_with_auth": with_auth,
                  "call_cpu_ns_without_auth": without,
                  "verify_share": verify_ns / with_auth,
                  "auth_delta_share": (with_auth - without) / with_auth}
s = res["saturation_rps"]
print(f"saturation (GetDealGuidance by id, 32 outstanding, median of {R}): plaintext "
      f"{s['plain']:.0f} rps, mTLS {s['mtls']:.0f} rps, metrics on {s['metrics']:.0f} rps")
print(f"mTLS / plaintext throughput: {res['mtls_throughput_ratio']:.2f}x (goal >= 0.8x)")
p = res["p99_us_at_half_saturation"]
print(f"p99 at {res['rate_rps']:.0f} rps: plaintext {p['plain']:.0f} us, mTLS {p['mtls']:.0f} us "
      f"-> {res['mtls_p99_ratio']:.2f}x (goal <= 1.3x; sustained: {res['sustained']})")
print(f"metrics on / off throughput: {res['metrics_throughput_ratio']:.3f}x (goal >= 0.97x; "
      f"series scraped: {res['metrics_series_seen']})")
if "jwt" in res:
    j = res["jwt"]
    print(f"JWT: cached verification {j['cached_verify_ns']:.0f} ns CPU of a "
          f"{j['call_cpu_ns_with_auth'] / 1000:.0f} us call = {100 * j['verify_share']:.2f}% "
          f"(goal < 5%); auth on - off: {100 * j['auth_delta_share']:.1f}% (noisy)")
print(f"errors: {errors}")
if out:
    json.dump(res, open(out, "w"), indent=2)
PY
