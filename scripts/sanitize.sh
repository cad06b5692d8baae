#!/usr/bin/env bash
# CI's sanitizer stage (.ci/run, after scripts/test.sh): a clang build with AddressSanitizer
# + UndefinedBehaviorSanitizer (every finding fatal) and libFuzzer coverage in build-asan;
# the unit and integration tests under the sanitizers (ctest), then every libFuzzer target
# (tests/fuzz) for a bounded time on its committed seed corpus (tests/fuzz/corpus/<target>).
# Exits non-zero on any failing test or fuzz finding; a finding's input is kept as
# <build>/fuzz-artifacts/<target>-crash-* (replay: <build>/tests/fuzz/<target> <file>).
#
# Environment: SANITIZE_BUILD_DIR (default build-asan), JOBS (default nproc),
# FUZZ_SECONDS per target (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SANITIZE_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
FUZZERS=(expr_fuzzer playbook_fuzzer opportunity_fuzzer mapping_fuzzer salesforce_record_fuzzer
         hubspot_record_fuzzer dynamics_record_fuzzer)

start=$(date +%s)
# No benchmarks, no tcmalloc (ASan brings its own allocator): only what the tests and
# fuzz targets need.
# -O1 and line tables: what the sanitizers' documentation recommends for readable reports,
# and a quarter faster to compile than -O2 -g.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DDEALCOACH_WERROR=ON -DDEALCOACH_SANITIZE=ON -DDEALCOACH_FUZZ=ON -DDEALCOACH_BUILD_BENCH=OFF \
  -DDEALCOACH_TCMALLOC=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
built=$(date +%s)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
eval "$(bash scripts/start-postgres.sh start)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" --timeout 600
tested=$(date +%s)

artifacts="$BUILD_DIR/fuzz-artifacts"
rm -rf "$artifacts" && mkdir -p "$artifacts"
failed=()
summary=()
for fuzzer in "${FUZZERS[@]}"; do
  # New inputs go to a scratch directory; the committed seeds are only read.
  scratch=$(mktemp -d)
  log="$artifacts/$fuzzer.log"
  seeds="tests/fuzz/corpus/$fuzzer"
  if "$BUILD_DIR/tests/fuzz/$fuzzer" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/$fuzzer-" \
      "$scratch" "$seeds" >"$log" 2>&1; then
    status=ok
  else
    status=FINDING
    failed+=("$fuzzer")
    tail -n 60 "$log"
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  summary+=("$(printf '%-26s %-7s execs=%-9s seeds=%-4s %s' "$fuzzer" "$status" "${execs:-?}" \
    "$(ls "$seeds" | wc -l)" "$(echo "${done_line:-}" | tr -s "[:space:]" " ")")")
  rm -rf "$scratch"
done
end=$(date +%s)

echo "sanitize: fuzz targets (${FUZZ_SECONDS}s each, ASan+UBSan):"
printf '  %s\n' "${summary[@]}"
echo "sanitize: build $((built - start))s, tests $((tested - built))s, fuzz $((end - tested))s," \
  "total $((end - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize: findings in: ${failed[*]} (inputs and logs in $artifacts)" >&2
  exit 1
fi
