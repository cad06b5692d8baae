// pipeline_bench: the pipeline review over N deals against one evaluation pass over the
// same deals (Google Benchmark), in process, on one thread.
//
//   BM_EvaluationPass/N   Evaluate every deal once into a reused DealGuidance (the
//                         default 3 behaviors): the bulk evaluation rate
//   BM_PipelineReview/N   what GetPipelineReview does per call after the cache: every
//                         deal through pipeline::EvaluateDeal (all behaviors, indicators,
//                         the compact result), a ReviewBuilder with the compared
//                         snapshot's results of every deal (evaluated a week earlier, so
//                         the diffs are real), and Finish (changes, roll-ups per rep and
//                         for the scope, attention ranking)
//
//   build/bench/pipeline/pipeline_bench --benchmark_filter='/10000$'
//
// The bound is review <= 3x one pass; the ratio is the two times per deal.
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/common/opportunity_generator.h"
#include "sidecar/engine/engine.h"
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
  for (const v1::Opportunity& o : Deals(n)) {
    if (pipeline::EvaluateDeal(pass, o, &scratch, &result, &reason) ==
        pipeline::DealOutcome::kEvaluated) {
      out.emplace(o.id(), pipeline::CompactOf(result));
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
BENCHMARK(BM_EvaluationPass)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

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
        builder.Add(result, std::move(risk));
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
BENCHMARK(BM_PipelineReview)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dealcoach::bench

BENCHMARK_MAIN();
