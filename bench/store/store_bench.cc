// Store benchmarks (docs/store.md has the numbers and the command):
//
//   BM_SnapshotWriteVsEvaluate/<backend>  evaluates 100,000 generated deals with the
//       shipped customer-journey playbook, then writes their compact results as one
//       snapshot. Manual time = the write; counters: eval_s, write_s and write_per_eval
//       (write time / evaluation time, measured in the same process on the same data).
//   BM_CompareSnapshots/<backend>         compares two 100,000-deal snapshots (one
//       evaluation pass of the shipped playbook, and the same with 5% of the deals
//       changed) deal by deal. Target: < 1 s on one core. Counters: eval_s (that one
//       evaluation pass), compare_s and compare_per_eval (compare time / eval time).
//   BM_DecisionWrite/<backend>            the decision log writer's cost: Store::
//       WriteDecisions in batches of 500 (what DecisionLogger's thread does); items/s.
//   BM_DecisionLogEnqueue                 DecisionLogger::Log on the request path.
//
// PostgreSQL cases need DEALCOACH_BENCH_PG (a libpq connection string to a database the
// benchmark may create tables in; it drops the store tables first) and are skipped
// without it. SQLite uses a temporary directory (DEALCOACH_BENCH_DIR to choose one).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/common/opportunity_generator.h"
#include "sidecar/engine/engine.h"
#include "sidecar/pipeline/compact.h"
#include "sidecar/store/decision_logger.h"
#include "sidecar/store/store.h"

namespace dealcoach::bench {
namespace {

constexpr int kDeals = 100000;

const std::vector<v1::Opportunity>& Deals() {
  static const auto* deals = [] {
    auto* v = new std::vector<v1::Opportunity>(OpportunityGenerator(42).MakeMany(0, kDeals));
    for (v1::Opportunity& o : *v) engine::NormalizeOpportunity(&o);
    return v;
  }();
  return *deals;
}

std::shared_ptr<const engine::CompiledPlaybook> Playbook() {
  static auto* pb = new std::shared_ptr<const engine::CompiledPlaybook>(
      engine::LoadPlaybookFile(DEALCOACH_SOURCE_DIR "/config/playbooks/customer-journey.yaml")
          .playbook);
  return *pb;
}

std::string TempDir() {
  const char* base = getenv("DEALCOACH_BENCH_DIR");
  std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp", "/dc_store_bench_XXXXXX");
  char* made = mkdtemp(tmpl.data());
  return made != nullptr ? made : "/tmp";
}

// A store on a clean database: a new SQLite directory, or PostgreSQL with the store's
// tables dropped. Null (and the state skipped) when unavailable.
std::unique_ptr<store::Store> CleanStore(
    benchmark::State& state, bool postgres, std::string* dir,
    int sqlite_cache_mib = store::StoreOptions().sqlite_cache_mib) {
  store::StoreOptions o;
  o.sqlite_cache_mib = sqlite_cache_mib;
  o.snapshot_batch_rows = 10000;
  o.keep_snapshots = 1000;
  if (postgres) {
    const char* pg = getenv("DEALCOACH_BENCH_PG");
    if (pg == nullptr || *pg == '\0') {
      state.SkipWithError("set DEALCOACH_BENCH_PG to run the PostgreSQL cases");
      return nullptr;
    }
    o.backend = store::Backend::kPostgres;
    o.postgres_conninfo = pg;
  } else {
    *dir = TempDir();
    o.data_dir = *dir;
  }
  absl::StatusOr<std::unique_ptr<store::Store>> s = store::Open(o);
  if (!s.ok()) {
    state.SkipWithError(std::string(s.status().message()).c_str());
    return nullptr;
  }
  return std::move(*s);
}

void RemoveDir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// A tenant per run so PostgreSQL runs never see each other's rows.
std::string RunTenant() { return absl::StrCat("bench-", absl::ToUnixMicros(absl::Now())); }

void BM_SnapshotWriteVsEvaluate(benchmark::State& state) {
  const bool postgres = state.range(0) == 1;
  if (Playbook() == nullptr) return state.SkipWithError("customer-journey.yaml did not load");
  std::string dir;
  std::unique_ptr<store::Store> s = CleanStore(state, postgres, &dir);
  if (s == nullptr) return;
  const std::vector<v1::Opportunity>& deals = Deals();
  const std::string tenant = RunTenant();
  engine::EvaluateOptions eo;
  eo.max_behaviors = 3;
  double eval_s = 0, write_s = 0;
  int run = 0;
  for (auto _ : state) {
    std::vector<store::CompactResult> results;
    results.reserve(deals.size());
    v1::DealGuidance g;
    absl::Time t0 = absl::Now();
    for (const v1::Opportunity& o : deals) {
      Playbook()->EvaluateInto(o, BenchNow(), eo, &g);
      results.push_back(pipeline::CompactResultOf(o, g));
    }
    absl::Time t1 = absl::Now();
    absl::Status w = s->WriteSnapshot(tenant, absl::StrCat("run-", run++), results);
    absl::Time t2 = absl::Now();
    if (!w.ok()) return state.SkipWithError(std::string(w.message()).c_str());
    eval_s += absl::ToDoubleSeconds(t1 - t0);
    write_s += absl::ToDoubleSeconds(t2 - t1);
    state.SetIterationTime(absl::ToDoubleSeconds(t2 - t1));
  }
  state.counters["eval_s"] = eval_s / state.iterations();
  state.counters["write_s"] = write_s / state.iterations();
  state.counters["write_per_eval"] = write_s / eval_s;
  state.counters["deals"] = kDeals;
  s.reset();
  RemoveDir(dir);
}
BENCHMARK(BM_SnapshotWriteVsEvaluate)
    ->ArgName("postgres")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

void BM_CompareSnapshots(benchmark::State& state) {
  const bool postgres = state.range(0) == 1;
  if (Playbook() == nullptr) return state.SkipWithError("customer-journey.yaml did not load");
  std::string dir;
  std::unique_ptr<store::Store> s = CleanStore(state, postgres, &dir);
  if (s == nullptr) return;
  const std::string tenant = RunTenant();
  // Snapshot "a" is one evaluation pass over the 100,000 deals (timed: the comparison
  // is reported as a ratio to it); "b" is "a" with 5% of the deals changed.
  const std::vector<v1::Opportunity>& deals = Deals();
  engine::EvaluateOptions eo;
  eo.max_behaviors = 3;
  std::vector<store::CompactResult> a, b;
  a.reserve(deals.size());
  v1::DealGuidance g;
  const absl::Time e0 = absl::Now();
  for (const v1::Opportunity& o : deals) {
    Playbook()->EvaluateInto(o, BenchNow(), eo, &g);
    a.push_back(pipeline::CompactResultOf(o, g));
  }
  const double eval_s = absl::ToDoubleSeconds(absl::Now() - e0);
  b = a;
  for (size_t i = 0; i < b.size(); i += 20) {  // 5% changed
    b[i].set_evidence_phase(b[i].evidence_phase() == "close" ? "prove" : "close");
    b[i].add_fired_risks("bench-changed");
  }
  if (!s->WriteSnapshot(tenant, "a", a).ok() || !s->WriteSnapshot(tenant, "b", b).ok()) {
    return state.SkipWithError("writing the snapshots failed");
  }
  int64_t diffs = 0;
  double compare_s = 0;
  for (auto _ : state) {
    diffs = 0;
    const absl::Time c0 = absl::Now();
    absl::Status c =
        s->CompareSnapshots(tenant, "a", "b", [&](const store::DealDiff&) { ++diffs; });
    compare_s += absl::ToDoubleSeconds(absl::Now() - c0);
    if (!c.ok()) return state.SkipWithError(std::string(c.message()).c_str());
  }
  compare_s /= static_cast<double>(state.iterations());
  state.counters["diffs"] = static_cast<double>(diffs);
  state.counters["deals"] = kDeals;
  state.counters["eval_s"] = eval_s;
  state.counters["compare_s"] = compare_s;
  state.counters["compare_per_eval"] = compare_s / eval_s;
  s.reset();
  RemoveDir(dir);
}
BENCHMARK(BM_CompareSnapshots)
    ->ArgName("postgres")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

void BM_DecisionLogEnqueue(benchmark::State& state) {
  std::string dir;
  std::unique_ptr<store::Store> s = CleanStore(state, /*postgres=*/false, &dir);
  if (s == nullptr) return;
  store::DecisionLoggerOptions o;
  o.queue_capacity = 1 << 20;
  o.masked_fields = {"caller"};
  int64_t dropped = 0;
  {
    store::DecisionLogger logger(s.get(), o);
    store::Decision d;
    d.tenant = "bench";
    d.caller = "crm-widget@acme";
    d.deal_id = "opp-42-1";
    d.playbook = "customer-journey";
    d.revision = 3;
    d.fired_rule_ids = {"confirm-budget", "single-threaded"};
    d.input_hash = "sha256:0123456789abcdef";
    d.latency = absl::Microseconds(42);
    int64_t i = 0;
    for (auto _ : state) {
      d.decision_id = absl::StrCat("d-", i++);
      d.at = absl::Now();
      benchmark::DoNotOptimize(logger.Log(d));
    }
    dropped = logger.dropped();
  }
  state.counters["dropped"] = static_cast<double>(dropped);
  state.SetItemsProcessed(state.iterations());
  s.reset();
  RemoveDir(dir);
}
BENCHMARK(BM_DecisionLogEnqueue)->Iterations(200000);

// Fills `batch` with the next decisions of `tenant`: ids from *n on (time-ordered, as the
// server's), deal (*n * stride) % deals, the rest a typical answer's.
void FillDecisions(const std::string& tenant, int64_t deals, int64_t stride, int64_t* n,
                   std::vector<store::Decision>* batch) {
  for (store::Decision& d : *batch) {
    d.tenant = tenant;
    d.decision_id = absl::StrCat(absl::Hex((*n)++, absl::kZeroPad16), "0123456789abcdef");
    d.at = absl::Now();
    d.deal_id = absl::StrCat("opp-42-", (*n * stride) % deals);
    d.playbook = "customer-journey";
    d.revision = 3;
    d.fired_rule_ids = {"confirm-budget", "single-threaded", "meet-economic-buyer"};
    d.input_hash = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    d.latency = absl::Microseconds(420);
  }
}

void BM_DecisionWrite(benchmark::State& state) {
  const bool postgres = state.range(0) == 1;
  std::string dir;
  std::unique_ptr<store::Store> s = CleanStore(state, postgres, &dir);
  if (s == nullptr) return;
  const std::string tenant = RunTenant();
  std::vector<store::Decision> batch(500);
  int64_t n = 0;
  for (auto _ : state) {
    FillDecisions(tenant, /*deals=*/5000, /*stride=*/1, &n, &batch);
    absl::Status w = s->WriteDecisions(batch);
    if (!w.ok()) return state.SkipWithError(std::string(w.message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
  s.reset();
  RemoveDir(dir);
}
BENCHMARK(BM_DecisionWrite)->ArgName("postgres")->Arg(0)->Arg(1)->Iterations(100);

// The writer on a grown log: 400,000 decisions over 1,000 deals already written (the
// index by deal then spans far more than SQLite's default 2 MiB page cache), then more
// batches. Args: the page cache in MiB (0 = SQLite's default, 16 = the store's default)
// and the batch size (store.decisions.batch_size). Compare them in one run: items/s and
// the bytes read from the OS per decision (read_bytes_per_item, /proc/self/io).
int64_t ReadBytesSoFar() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return 0;
}

void BM_DecisionWriteGrownLog(benchmark::State& state) {
  std::string dir;
  std::unique_ptr<store::Store> s =
      CleanStore(state, /*postgres=*/false, &dir, static_cast<int>(state.range(0)));
  if (s == nullptr) return;
  const std::string tenant = RunTenant();
  std::vector<store::Decision> batch(static_cast<size_t>(state.range(1)));
  int64_t n = 0;
  // 1,000 deals visited in a scattered order (7919 is prime), as requests for many deals.
  auto fill = [&] { FillDecisions(tenant, /*deals=*/1000, /*stride=*/7919, &n, &batch); };
  while (n < 400000) {
    fill();
    absl::Status w = s->WriteDecisions(batch);
    if (!w.ok()) return state.SkipWithError(std::string(w.message()).c_str());
  }
  const int64_t read_before = ReadBytesSoFar();
  for (auto _ : state) {
    state.PauseTiming();
    fill();
    state.ResumeTiming();
    absl::Status w = s->WriteDecisions(batch);
    if (!w.ok()) return state.SkipWithError(std::string(w.message()).c_str());
  }
  const int64_t items = state.iterations() * static_cast<int64_t>(batch.size());
  state.SetItemsProcessed(items);
  state.counters["read_bytes_per_item"] =
      static_cast<double>(ReadBytesSoFar() - read_before) / static_cast<double>(items);
  s.reset();
  RemoveDir(dir);
}
BENCHMARK(BM_DecisionWriteGrownLog)
    ->ArgNames({"cache_mib", "batch"})
    ->Args({0, 500})
    ->Args({16, 500})
    ->Args({16, 2000})
    ->Iterations(100);

}  // namespace
}  // namespace dealcoach::bench

BENCHMARK_MAIN();
