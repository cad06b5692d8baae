// plan_bench: the cost of PlanPlaybookChange's evaluation (admin::ComputePlan: parse each
// cached deal once, evaluate the published revision and the draft, compact and compare)
// against one evaluation pass of the published revision over the same deals (parse,
// evaluate, compact: what a pipeline snapshot costs), on N generated deals held as the
// cache holds them (serialized bytes). Single-threaded, both.
//
//   BM_EvaluationPass/<N>   one pass of the published revision
//   BM_Plan/<N>             the plan of a draft that tightens the awareness gate
//   BM_ClosedEvaluationPass/<N>  one pass of the published revision over N closed deals
//   BM_Backtest/<N>         the backtest of the published revision over the same closed
//                           deals (each rewound to before its close, every rule tallied,
//                           the leading indicators evaluated; issue 13's budget: 2x)
//
// After the runs it prints "plan / evaluation pass = R.RRx" for each N, from CPU times
// (the median when repeated). Run:
//   build/bench/admin/plan_bench --benchmark_min_time=0.5 --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bench/common/opportunity_generator.h"
#include "google/protobuf/arena.h"
#include "sidecar/admin/backtest.h"
#include "sidecar/admin/plan.h"
#include "sidecar/engine/engine.h"
#include "sidecar/pipeline/compact.h"

namespace dealcoach::bench {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Fixture {
  std::string published_yaml;
  std::string draft_yaml;
  engine::LoadResult published;
  engine::LoadResult draft;
  admin::PlaybookOutline published_outline;
  admin::PlaybookOutline draft_outline;
};

const Fixture& Playbooks() {
  static const Fixture* f = [] {
    auto* f = new Fixture;
    f->published_yaml = Read(DEALCOACH_SOURCE_DIR "/config/playbooks/customer-journey.yaml");
    f->draft_yaml = absl::StrReplaceAll(
        f->published_yaml,
        {{"        when: opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() "
          ">= 2\n        hint: Confirm",
          "        when: opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() "
          ">= 3\n        hint: Confirm"}});
    f->published = engine::LoadPlaybook(f->published_yaml, "published.yaml");
    f->draft = engine::LoadPlaybook(f->draft_yaml, "draft.yaml");
    f->published_outline = *admin::OutlineOf(f->published_yaml);
    f->draft_outline = *admin::OutlineOf(f->draft_yaml);
    return f;
  }();
  return *f;
}

const std::vector<std::pair<std::string, std::string>>& Deals(int64_t n) {
  static auto* cache = new std::map<int64_t, std::vector<std::pair<std::string, std::string>>>;
  auto it = cache->find(n);
  if (it != cache->end()) return it->second;
  OpportunityGenerator gen(13);
  std::vector<std::pair<std::string, std::string>> deals;
  deals.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    v1::Opportunity o = gen.Make(i);
    engine::NormalizeOpportunity(&o);
    deals.emplace_back(o.id(), o.SerializeAsString());
  }
  return (*cache)[n] = std::move(deals);
}

// N closed deals: the generated deals, each closed (won when it gathered three or more
// contacts or at random one in four, else lost) a day before the bench's now, with the
// closing stage at the end of its stage history, as a CRM records it, so the backtest
// rewinds them (all but the few generated closed with a one-entry history).
const std::vector<std::pair<std::string, std::string>>& ClosedDeals(int64_t n) {
  static auto* cache = new std::map<int64_t, std::vector<std::pair<std::string, std::string>>>;
  auto it = cache->find(n);
  if (it != cache->end()) return it->second;
  OpportunityGenerator gen(17);
  std::vector<std::pair<std::string, std::string>> deals;
  deals.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    v1::Opportunity o = gen.Make(i);
    if (!o.is_closed()) {
      const bool won = o.contacts_size() >= 3 || i % 4 == 0;
      o.set_stage(won ? "Closed Won" : "Closed Lost");
      v1::StageChange* close = o.add_stage_history();
      close->set_stage(o.stage());
      close->mutable_entered_at()->set_seconds(absl::ToUnixSeconds(BenchNow() - absl::Hours(24)));
      o.set_is_closed(true);
      o.set_is_won(won);
    }
    engine::NormalizeOpportunity(&o);
    deals.emplace_back(o.id(), o.SerializeAsString());
  }
  return (*cache)[n] = std::move(deals);
}

// One evaluation pass: parse, evaluate (every behavior), compact.
void Pass(const Fixture& f, const std::vector<std::pair<std::string, std::string>>& deals,
          benchmark::State& state) {
  engine::EvaluateOptions options;
  options.max_behaviors = pipeline::kAllBehaviors;
  int64_t phases = 0;
  for (auto _ : state) {
    google::protobuf::Arena arena;
    int in_batch = 0;
    for (const auto& [id, bytes] : deals) {
      if (++in_batch == 64) {
        arena.Reset();
        in_batch = 0;
      }
      auto* opp = google::protobuf::Arena::Create<v1::Opportunity>(&arena);
      opp->ParseFromString(bytes);
      auto* g = google::protobuf::Arena::Create<v1::DealGuidance>(&arena);
      f.published.playbook->EvaluateInto(*opp, BenchNow(), options, g);
      store::CompactResult r = pipeline::CompactResultOf(*opp, *g);
      phases += r.evidence_phase().size();
    }
  }
  benchmark::DoNotOptimize(phases);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_EvaluationPass(benchmark::State& state) { Pass(Playbooks(), Deals(state.range(0)), state); }

void BM_ClosedEvaluationPass(benchmark::State& state) {
  Pass(Playbooks(), ClosedDeals(state.range(0)), state);
}

void BM_Backtest(benchmark::State& state) {
  const Fixture& f = Playbooks();
  const auto& deals = ClosedDeals(state.range(0));
  int64_t rules = 0;
  int64_t rewound = 0;
  for (auto _ : state) {
    v1::BacktestPlaybookResponse out;
    admin::Backtest(*f.published.playbook, deals, BenchNow(), &out);
    rules += out.rules_size();
    rewound = out.rewound();
  }
  benchmark::DoNotOptimize(rules);
  state.counters["rewound"] = static_cast<double>(rewound);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_Plan(benchmark::State& state) {
  const Fixture& f = Playbooks();
  const auto& deals = Deals(state.range(0));
  int64_t changed = 0;
  for (auto _ : state) {
    admin::PlanInput in;
    in.published = f.published.playbook.get();
    in.published_outline = &f.published_outline;
    in.draft = f.draft.playbook.get();
    in.draft_outline = &f.draft_outline;
    in.deals = deals;
    in.now = BenchNow();
    v1::PlanPlaybookChangeResponse plan;
    admin::ComputePlan(in, &plan);
    changed += plan.totals().deals_changed();
  }
  benchmark::DoNotOptimize(changed);
  state.counters["deals_changed"] =
      benchmark::Counter(static_cast<double>(changed) / static_cast<double>(state.iterations()));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_EvaluationPass)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Plan)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ClosedEvaluationPass)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Backtest)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Console output plus the plan / pass ratio per deal count.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      times_[r.run_name.str()].push_back(r.GetAdjustedCPUTime());
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    for (const char* n : {"10000", "100000"}) {
      const double pass = Median(std::string("BM_EvaluationPass/") + n);
      const double plan = Median(std::string("BM_Plan/") + n);
      if (pass <= 0 || plan <= 0) continue;
      std::printf("%s deals: plan / evaluation pass = %.2fx (CPU %.0f ms / %.0f ms)\n", n,
                  plan / pass, plan, pass);
    }
    for (const char* n : {"10000", "100000"}) {
      const double pass = Median(std::string("BM_ClosedEvaluationPass/") + n);
      const double backtest = Median(std::string("BM_Backtest/") + n);
      if (pass <= 0 || backtest <= 0) continue;
      std::printf("%s closed deals: backtest / evaluation pass = %.2fx (CPU %.0f ms / %.0f ms)\n",
                  n, backtest / pass, backtest, pass);
    }
  }

 private:
  // CPU times (the machine is shared: wall times include other processes' load); the
  // median over --benchmark_repetitions.
  double Median(const std::string& name) {
    auto it = times_.find(name);
    if (it == times_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  std::map<std::string, std::vector<double>> times_;
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
