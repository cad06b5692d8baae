// engine_bench: micro-benchmarks of the playbook engine (Google Benchmark).
//
//   BM_Compile/<playbook>          LoadPlaybook of each shipped playbook (config/playbooks)
//   BM_Evaluate                    Evaluate one generated opportunity, customer-journey
//   BM_EvaluateAll                 guidance + every review checklist (EvaluateReviewInto,
//                                  answers on a reused Arena): every condition of the
//                                  playbook that applies, the figure compared with the
//                                  node peers
//   BM_EvaluateAllHeap             the same as separate Evaluate / EvaluateChecklist calls
//                                  with every answer on the heap (the gRPC handlers' way)
//   BM_Rules/<n>                   Evaluate against a synthetic playbook of n rules
//   BM_Contacts/<n>, BM_Activities/<n>
//                                  Evaluate opportunities of a fixed shape
//   BM_Normalize                   copy a generated opportunity as a caller sends it and
//                                  NormalizeOpportunityAsOf it (what a push call does
//                                  after parsing); BM_CopyOnly is the copy alone, so the
//                                  difference is the normalization
//   BM_ParsePushedReused, BM_ParsePushedFresh, BM_SerializeGuidance
//                                  a pushed deal's bytes parsed into a reused message
//                                  (the callback handlers' way) and into a new one, and
//                                  the guidance answer serialized: the request path's
//                                  protobuf floor
//
// Slopes (time per extra rule / contact / activity) are computed from the JSON output by
// bench/peers/report.js. Playbooks are read from --playbooks DIR (default: the source
// tree's config/playbooks).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/common/opportunity_generator.h"
#include "bench/engine/synthetic_playbook.h"
#include "google/protobuf/arena.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::bench {
namespace {

std::string& PlaybookDir() {
  static std::string* dir = new std::string(DEALCOACH_SOURCE_DIR "/config/playbooks");
  return *dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<const engine::CompiledPlaybook> Load(absl::string_view yaml,
                                                     absl::string_view name) {
  engine::LoadResult r = engine::LoadPlaybook(yaml, name);
  if (!r.ok()) {
    for (const auto& d : r.diagnostics) {
      std::fprintf(stderr, "%s\n", engine::FormatDiagnostic(d).c_str());
    }
  }
  return r.playbook;
}

const std::shared_ptr<const engine::CompiledPlaybook>& CustomerJourney() {
  static const auto* pb = new std::shared_ptr<const engine::CompiledPlaybook>(
      Load(ReadFile(PlaybookDir() + "/customer-journey.yaml"), "customer-journey.yaml"));
  return *pb;
}

// A pool of generated opportunities, cycled so caches see realistic variety.
std::vector<v1::Opportunity> Pool(int count, const Shape& shape = {}) {
  OpportunityGenerator gen(7);
  std::vector<v1::Opportunity> pool;
  pool.reserve(count);
  for (int i = 0; i < count; ++i) {
    pool.push_back(gen.Make(i, shape));
    engine::NormalizeOpportunity(&pool.back());
  }
  return pool;
}

// Each iteration builds its answers on a protobuf Arena reset between opportunities, the
// way a bulk or pipeline worker does (CompiledPlaybook::EvaluateInto). The arena's first
// block is a reused buffer, so steady state does no malloc for the answers.
void EvaluateLoop(benchmark::State& state, const engine::CompiledPlaybook& pb,
                  const std::vector<v1::Opportunity>& pool, bool checklists) {
  const absl::Time now = BenchNow();
  const std::vector<std::string> lists = pb.checklist_names();
  std::vector<char> block(256 * 1024);
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = block.data();
  arena_options.initial_block_size = block.size();
  google::protobuf::Arena arena(arena_options);
  std::vector<v1::ReviewChecklist*> outs(lists.size());
  size_t i = 0;
  for (auto _ : state) {
    const v1::Opportunity& opp = pool[i];
    auto* g = google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena);
    if (checklists) {
      // The manager's review: guidance and every checklist from one evaluation.
      for (auto& c : outs) c = google::protobuf::Arena::CreateMessage<v1::ReviewChecklist>(&arena);
      benchmark::DoNotOptimize(pb.EvaluateReviewInto(opp, now, {}, lists, g, outs).ok());
    } else {
      pb.EvaluateInto(opp, now, {}, g);
    }
    benchmark::DoNotOptimize(g);
    arena.Reset();
    if (++i == pool.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

// The same work with every answer on the heap (CompiledPlaybook::Evaluate), as the gRPC
// handlers build them today: the arena's effect, measured in the same run.
void EvaluateLoopHeap(benchmark::State& state, const engine::CompiledPlaybook& pb,
                      const std::vector<v1::Opportunity>& pool) {
  const absl::Time now = BenchNow();
  const std::vector<std::string> lists = pb.checklist_names();
  size_t i = 0;
  for (auto _ : state) {
    const v1::Opportunity& opp = pool[i];
    v1::DealGuidance g = pb.Evaluate(opp, now);
    benchmark::DoNotOptimize(g);
    for (const std::string& name : lists) {
      auto c = pb.EvaluateChecklist(opp, now, name);
      benchmark::DoNotOptimize(c);
    }
    if (++i == pool.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Compile(benchmark::State& state, const std::string& path) {
  const std::string yaml = ReadFile(path);
  const std::string name = std::filesystem::path(path).filename().string();
  for (auto _ : state) {
    engine::LoadResult r = engine::LoadPlaybook(yaml, name);
    if (!r.ok()) {
      state.SkipWithError("playbook does not load");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
}

void BM_Evaluate(benchmark::State& state) {
  if (CustomerJourney() == nullptr) return state.SkipWithError("customer-journey.yaml missing");
  static const auto* pool = new std::vector<v1::Opportunity>(Pool(1000));
  EvaluateLoop(state, *CustomerJourney(), *pool, /*checklists=*/false);
}
BENCHMARK(BM_Evaluate);

void BM_EvaluateAll(benchmark::State& state) {
  if (CustomerJourney() == nullptr) return state.SkipWithError("customer-journey.yaml missing");
  static const auto* pool = new std::vector<v1::Opportunity>(Pool(1000));
  EvaluateLoop(state, *CustomerJourney(), *pool, /*checklists=*/true);
}
BENCHMARK(BM_EvaluateAll);

void BM_EvaluateAllHeap(benchmark::State& state) {
  if (CustomerJourney() == nullptr) return state.SkipWithError("customer-journey.yaml missing");
  static const auto* pool = new std::vector<v1::Opportunity>(Pool(1000));
  EvaluateLoopHeap(state, *CustomerJourney(), *pool);
}
BENCHMARK(BM_EvaluateAllHeap);

void BM_Rules(benchmark::State& state) {
  const int rules = static_cast<int>(state.range(0));
  auto pb = Load(SyntheticPlaybookYaml(rules), absl::StrCat("synthetic-", rules, ".yaml"));
  if (pb == nullptr) return state.SkipWithError("synthetic playbook does not load");
  static const auto* pool = new std::vector<v1::Opportunity>(Pool(500));
  EvaluateLoop(state, *pb, *pool, /*checklists=*/false);
  state.counters["rules"] = rules;
}
BENCHMARK(BM_Rules)->Arg(10)->Arg(100)->Arg(1000);

void BM_Contacts(benchmark::State& state) {
  if (CustomerJourney() == nullptr) return state.SkipWithError("customer-journey.yaml missing");
  const int contacts = static_cast<int>(state.range(0));
  const auto pool = Pool(200, Shape{contacts, 20});
  EvaluateLoop(state, *CustomerJourney(), pool, /*checklists=*/false);
  state.counters["contacts"] = contacts;
}
BENCHMARK(BM_Contacts)->Arg(1)->Arg(10)->Arg(100);

void BM_Activities(benchmark::State& state) {
  if (CustomerJourney() == nullptr) return state.SkipWithError("customer-journey.yaml missing");
  const int activities = static_cast<int>(state.range(0));
  const auto pool = Pool(activities > 100 ? 50 : 200, Shape{5, activities});
  EvaluateLoop(state, *CustomerJourney(), pool, /*checklists=*/false);
  state.counters["activities"] = activities;
}
BENCHMARK(BM_Activities)->Arg(10)->Arg(1000);

// Opportunities as a caller sends them (not normalized), the generator's mix.
const std::vector<v1::Opportunity>& RawPool() {
  static const auto* pool = [] {
    OpportunityGenerator gen(7);
    auto* p = new std::vector<v1::Opportunity>();
    for (int i = 0; i < 1000; ++i) p->push_back(gen.Make(i));
    return p;
  }();
  return *pool;
}

void BM_CopyOnly(benchmark::State& state) {
  const std::vector<v1::Opportunity>& pool = RawPool();
  size_t i = 0;
  for (auto _ : state) {
    v1::Opportunity opp = pool[i];
    benchmark::DoNotOptimize(opp);
    if (++i == pool.size()) i = 0;
  }
}
BENCHMARK(BM_CopyOnly);

void BM_Normalize(benchmark::State& state) {
  const std::vector<v1::Opportunity>& pool = RawPool();
  const absl::Time now = BenchNow();
  size_t i = 0;
  for (auto _ : state) {
    v1::Opportunity opp = pool[i];
    engine::NormalizeOpportunityAsOf(&opp, now);
    benchmark::DoNotOptimize(opp);
    if (++i == pool.size()) i = 0;
  }
}
BENCHMARK(BM_Normalize);

// The request path's protobuf floor for one pushed deal (docs/performance.md, "What the
// serving goals need"): the opportunity's bytes parsed the way the callback handlers
// parse them (into a reused, cleared message), parsed into a new message that is then
// destroyed (the sync handlers' way), and the guidance answer serialized.
const std::vector<std::string>& RawPoolBytes() {
  static const auto* bytes = [] {
    auto* b = new std::vector<std::string>();
    for (const v1::Opportunity& o : RawPool()) b->push_back(o.SerializeAsString());
    return b;
  }();
  return *bytes;
}

void BM_ParsePushedReused(benchmark::State& state) {
  const std::vector<std::string>& pool = RawPoolBytes();
  v1::Opportunity opp;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    opp.Clear();
    benchmark::DoNotOptimize(opp.MergeFromString(pool[i]));
    bytes += static_cast<int64_t>(pool[i].size());
    if (++i == pool.size()) i = 0;
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_ParsePushedReused);

void BM_ParsePushedFresh(benchmark::State& state) {
  const std::vector<std::string>& pool = RawPoolBytes();
  size_t i = 0;
  for (auto _ : state) {
    v1::Opportunity opp;
    benchmark::DoNotOptimize(opp.ParseFromString(pool[i]));
    if (++i == pool.size()) i = 0;
  }
}
BENCHMARK(BM_ParsePushedFresh);

void BM_SerializeGuidance(benchmark::State& state) {
  if (CustomerJourney() == nullptr) return state.SkipWithError("customer-journey.yaml missing");
  static const auto* pool = new std::vector<v1::Opportunity>(Pool(1000));
  const absl::Time now = BenchNow();
  google::protobuf::Arena arena;
  std::vector<v1::DealGuidance*> answers;
  for (const v1::Opportunity& opp : *pool) {
    answers.push_back(google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena));
    CustomerJourney()->EvaluateInto(opp, now, {}, answers.back());
  }
  std::string out;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(answers[i]->SerializeToString(&out));
    bytes += static_cast<int64_t>(out.size());
    if (++i == answers.size()) i = 0;
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_SerializeGuidance);

}  // namespace
}  // namespace dealcoach::bench

int main(int argc, char** argv) {
  // Our own flag first; Google Benchmark rejects flags it does not know.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--playbooks=", 0) == 0) {
      dealcoach::bench::PlaybookDir() = a.substr(12);
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(dealcoach::bench::PlaybookDir(), ec)) {
    const std::string path = entry.path().string();
    if (entry.path().extension() == ".yaml" && path.find("_test.yaml") == std::string::npos) {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& path : files) {
    benchmark::RegisterBenchmark(
        ("BM_Compile/" + std::filesystem::path(path).stem().string()).c_str(),
        [path](benchmark::State& state) { dealcoach::bench::BM_Compile(state, path); });
  }
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
