// pipeline_bench: the pipeline review over N deals against one evaluation pass over the
// same deals (Google Benchmark), in process, on one thread.
//
//   BM_EvaluationPass/N   Evaluate every deal once into a reused DealGuidance (the
//                         default 3 behaviors): the bulk evaluation rate
//   BM_PipelineReview/N   what GetPipelineReview does per call after the cache: every
//                         deal through pipeline::EvaluateDeal (all behaviors, indicators,
//                         the compact result), a ReviewBuilder with the compared
//                         snapshot's results (evaluated a week earlier, with new deals,
//                         amounts and close dates moved, so the diffs are real), and Finish
//                         (changes, roll-ups per rep and for the scope, attention ranking)
//
//   build/bench/pipeline/pipeline_bench --benchmark_filter='/(10000|100000)$'
//       --benchmark_repetitions=3   (one line)
//
// The bound is review <= 3x one pass. After the runs it prints, per N,
// "review / evaluation pass = R.RRx" from the CPU times (the machine is shared: wall
// times include other processes' load), the median over repetitions when there are
// several.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/common/opportunity_generator.h"
#include "sidecar/engine/engine.h"
#include "sidecar/pipeline/compact.h"
#include "sidecar/pipeline/pipeline.h"

namespace dealcoach::bench {
namespace {

std::shared_ptr<const engine::CompiledPlaybook> Playbook() {
  static const auto* pb = new std::shared_ptr<const engine::CompiledPlaybook>([] {
    engine::LoadResult r =
        engine::LoadPlaybookFile(DEALCOACH_SOURCE_DIR "/config/playbooks/customer-journey.yaml");
    if (!r.ok()) std::abort();
    return r.playbook;
  }());
  return *pb;
}

const std::vector<v1::Opportunity>& Deals(int64_t n) {
  static auto* cache = new absl::flat_hash_map<int64_t, std::vector<v1::Opportunity>>();
  auto it = cache->find(n);
  if (it != cache->end()) return it->second;
  std::vector<v1::Opportunity> deals = OpportunityGenerator(11).MakeMany(0, n);
  for (v1::Opportunity& o : deals) engine::NormalizeOpportunity(&o);
  return cache->emplace(n, std::move(deals)).first->second;
}

// The compared snapshot: the same deals evaluated a week earlier.
const absl::flat_hash_map<std::string, store::CompactResult>& Previous(int64_t n) {
  static auto* cache =
      new absl::flat_hash_map<int64_t, absl::flat_hash_map<std::string, store::CompactResult>>();
  auto it = cache->find(n);
  if (it != cache->end()) return it->second;
  pipeline::PassOptions pass;
  pass.playbook = Playbook().get();
  pass.now = BenchNow() - absl::Hours(24 * 7);
  pass.scope.set_all(true);
  pass.include_closed = true;
  absl::flat_hash_map<std::string, store::CompactResult> out;
  v1::DealGuidance scratch;
  v1::DealResult result;
  std::string reason;
  // A week of movement: every 11th deal is new since, every 5th changed its amount and
  // every 7th its close date, so the review's diffs find real changes.
  int64_t i = 0;
  for (const v1::Opportunity& o : Deals(n)) {
    if (++i % 11 == 0) continue;
    if (pipeline::EvaluateDeal(pass, o, &scratch, &result, &reason) ==
        pipeline::DealOutcome::kEvaluated) {
      store::CompactResult r = pipeline::CompactOf(result);
      if (i % 5 == 0) r.set_amount(r.amount() * 0.9);
      if (i % 7 == 0) r.set_close_date_unix(r.close_date_unix() - 14 * 86400);
      out.emplace(o.id(), std::move(r));
    }
  }
  return cache->emplace(n, std::move(out)).first->second;
}

void BM_EvaluationPass(benchmark::State& state) {
  const std::vector<v1::Opportunity>& deals = Deals(state.range(0));
  const auto playbook = Playbook();
  v1::DealGuidance scratch;
  for (auto _ : state) {
    for (const v1::Opportunity& o : deals) {
      playbook->EvaluateInto(o, BenchNow(), {}, &scratch);
      benchmark::DoNotOptimize(scratch.gates_size());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(deals.size()));
}
BENCHMARK(BM_EvaluationPass)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// The parts of one streamed deal, per deal: EvaluateInto with every behavior (heap
// scratch, and on an arena reset every 256 deals), the indicators, and EvaluateDeal whole.
void BM_Part(benchmark::State& state) {
  const std::vector<v1::Opportunity>& deals = Deals(10000);
  const auto playbook = Playbook();
  const int part = static_cast<int>(state.range(0));
  pipeline::PassOptions pass;
  pass.playbook = playbook.get();
  pass.now = BenchNow();
  pass.scope.set_all(true);
  pass.include_closed = true;
  v1::DealGuidance scratch;
  v1::DealResult result;
  std::string reason;
  engine::EvaluateOptions all;
  all.max_behaviors = pipeline::kAllBehaviors;
  google::protobuf::Arena arena;
  for (auto _ : state) {
    int n = 0;
    for (const v1::Opportunity& o : deals) {
      switch (part) {
        case 0:
          playbook->EvaluateInto(o, pass.now, {}, &scratch);
          break;
        case 1:
          playbook->EvaluateInto(o, pass.now, all, &scratch);
          break;
        case 2: {
          if (++n % 256 == 0) arena.Reset();
          auto* g = google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena);
          playbook->EvaluateInto(o, pass.now, all, g);
          break;
        }
        case 3:
          benchmark::DoNotOptimize(engine::EvaluateIndicators(*playbook, o, pass.now, "x"));
          break;
        case 4:
          pipeline::EvaluateDeal(pass, o, &scratch, &result, &reason);
          break;
        case 5:
          benchmark::DoNotOptimize(result.ByteSizeLong());
          break;
        default:
          break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(deals.size()));
}
BENCHMARK(BM_Part)->DenseRange(0, 4)->Unit(benchmark::kMillisecond);

void BM_PipelineReview(benchmark::State& state) {
  const std::vector<v1::Opportunity>& deals = Deals(state.range(0));
  const auto& previous = Previous(state.range(0));
  const auto playbook = Playbook();
  pipeline::PassOptions pass;
  pass.playbook = playbook.get();
  pass.now = BenchNow();
  pass.scope.set_all(true);
  pass.include_closed = true;
  v1::DealGuidance scratch;
  v1::DealResult result;
  std::string reason;
  int64_t changes = 0;
  for (auto _ : state) {
    pipeline::ReviewBuilder builder(*playbook, pass.now);
    builder.SetPrevious(previous);  // a copy, as the server reads it from the store
    for (const v1::Opportunity& o : deals) {
      pipeline::TopRisk risk;
      if (pipeline::EvaluateDeal(pass, o, &scratch, &result, &reason, &risk) ==
          pipeline::DealOutcome::kEvaluated) {
        builder.Add(std::move(result), std::move(risk));
      }
    }
    v1::GetPipelineReviewResponse review = builder.Finish(0, "all deals", true);
    for (const v1::DealReview& d : review.deals()) changes += d.changes_size();
    benchmark::DoNotOptimize(review.team().open_deals());
  }
  state.counters["changes_per_review"] =
      static_cast<double>(changes) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(deals.size()));
}
BENCHMARK(BM_PipelineReview)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Console output plus the review / pass ratio per deal count (CPU time; the median when
// repeated).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration) {
        iterations_[r.run_name.str()].push_back(r.GetAdjustedCPUTime());
      }
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    for (const char* n : {"1000", "10000", "100000"}) {
      const double pass = Median(std::string("BM_EvaluationPass/") + n);
      const double review = Median(std::string("BM_PipelineReview/") + n);
      if (pass <= 0 || review <= 0) continue;
      std::printf("%s deals: review / evaluation pass = %.2fx (CPU %.0f ms / %.0f ms)\n", n,
                  review / pass, review, pass);
    }
  }

 private:
  double Median(const std::string& name) {
    auto it = iterations_.find(name);
    if (it == iterations_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  std::map<std::string, std::vector<double>> iterations_;
};

}  // namespace
}  // namespace dealcoach::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  dealcoach::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
