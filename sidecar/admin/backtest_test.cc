#include "sidecar/admin/backtest.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/outline.h"
#include "sidecar/pipeline/compact.h"

namespace dealcoach::admin {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<v1::Opportunity> Samples() {
  nlohmann::json doc = nlohmann::json::parse(
      Read(std::string(DEALCOACH_SOURCE_DIR) + "/config/samples/opportunities.json"));
  std::vector<v1::Opportunity> out;
  for (const auto& item : doc) {
    v1::Opportunity o;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(item.dump(), &o).ok());
    engine::NormalizeOpportunity(&o);
    out.push_back(std::move(o));
  }
  return out;
}

TEST(Wilson, MatchesTheTextbookValues) {
  auto [low, high] = WilsonInterval(5, 10);
  EXPECT_NEAR(low, 0.2366, 1e-4);
  EXPECT_NEAR(high, 0.7634, 1e-4);
  auto [l0, h0] = WilsonInterval(0, 20);
  EXPECT_EQ(l0, 0);
  EXPECT_NEAR(h0, 0.1611, 1e-4);
  EXPECT_EQ(WilsonInterval(0, 0), (std::pair<double, double>{0, 0}));
}

TEST(Rewind, ReopensTheDealAsItStoodBeforeTheClose) {
  v1::Opportunity o;
  o.set_stage("Closed Won");
  o.set_is_closed(true);
  o.set_is_won(true);
  auto* a = o.add_stage_history();
  a->set_stage("Negotiation/Review");
  a->mutable_entered_at()->set_seconds(1000);
  auto* b = o.add_stage_history();
  b->set_stage("Closed Won");
  b->mutable_entered_at()->set_seconds(5000);
  auto* early = o.add_activities();
  early->set_type("meeting");
  early->mutable_at()->set_seconds(2000);
  auto* late = o.add_activities();
  late->set_type("meeting");
  late->mutable_at()->set_seconds(6000);
  auto* push = o.add_close_date_history();
  push->mutable_changed_at()->set_seconds(7000);
  engine::NormalizeOpportunity(&o);
  const absl::Time as_of = RewindToBeforeClose(&o);
  EXPECT_EQ(as_of, absl::FromUnixSeconds(4999));
  EXPECT_EQ(o.stage(), "Negotiation/Review");
  EXPECT_EQ(o.stage_entered_at().seconds(), 1000);
  EXPECT_FALSE(o.has_is_closed());
  EXPECT_EQ(o.stage_history_size(), 1);
  EXPECT_EQ(o.activities_size(), 1);
  EXPECT_EQ(o.close_date_history_size(), 0);
  EXPECT_EQ(o.last_meeting_at().seconds(), 2000);

  v1::Opportunity bare;
  bare.set_stage("Closed Lost");
  bare.set_is_closed(true);
  EXPECT_EQ(RewindToBeforeClose(&bare), absl::InfinitePast());
  EXPECT_FALSE(bare.has_is_closed());
}

TEST(Backtest, OnTheShippedClosedSamplesGivesTheRatesComputedIndependently) {
  engine::LoadResult pb = engine::LoadPlaybook(
      Read(std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/customer-journey.yaml"),
      "customer-journey.yaml");
  ASSERT_TRUE(pb.ok());
  std::vector<v1::Opportunity> samples = Samples();
  std::vector<std::pair<std::string, std::string>> deals;
  for (const v1::Opportunity& o : samples) deals.emplace_back(o.id(), o.SerializeAsString());
  const absl::Time now = absl::FromUnixSeconds(1795176000);
  v1::BacktestPlaybookResponse out;
  out.set_valid(true);
  Backtest(*pb.playbook, deals, now, &out);

  // Independently: every closed sample, reopened as of just before its close, through
  // the public Evaluate; tally every rule the answers name.
  struct Tally {
    int64_t held = 0, held_won = 0, not_held = 0, not_held_won = 0;
  };
  std::map<std::string, Tally> criteria;
  std::map<std::string, Tally> fired_rules;  // behaviors and risks: held counts only
  std::map<std::string, Tally> indicators;   // the playbook's leading indicators
  const engine::PlaybookOutline& outline = engine::OutlineOf(*pb.playbook);
  ASSERT_FALSE(outline.indicators.empty());
  int64_t closed = 0;
  int64_t won = 0;
  engine::EvaluateOptions all;
  all.max_behaviors = pipeline::kAllBehaviors;
  for (v1::Opportunity o : samples) {
    if (!o.is_closed()) continue;
    const bool w = o.is_won();
    ++closed;
    won += w;
    // The rewind, written out again: the last open stage, activities before the close.
    const int n = o.stage_history_size();
    ASSERT_GE(n, 2);
    const absl::Time as_of = ToAbslTime(o.stage_history(n - 1).entered_at()) - absl::Seconds(1);
    v1::Opportunity open = o;
    open.clear_is_closed();
    open.clear_is_won();
    open.set_stage(o.stage_history(n - 2).stage());
    *open.mutable_stage_entered_at() = o.stage_history(n - 2).entered_at();
    open.mutable_stage_history()->RemoveLast();
    open.clear_activities();
    for (const v1::Activity& a : o.activities()) {
      if (ToAbslTime(a.at()) <= as_of) *open.add_activities() = a;
    }
    open.clear_close_date_history();
    for (const v1::CloseDateChange& c : o.close_date_history()) {
      if (ToAbslTime(c.changed_at()) <= as_of) *open.add_close_date_history() = c;
    }
    open.clear_last_meeting_at();
    open.clear_last_activity_at();
    engine::NormalizeOpportunity(&open);
    v1::DealGuidance g = pb.playbook->Evaluate(open, as_of, all);
    for (const auto& gate : g.gates()) {
      for (const auto& c : gate.criteria()) {
        Tally& t = criteria[c.rule().id()];
        if (c.status() == v1::CRITERION_STATUS_MET) {
          ++t.held;
          t.held_won += w;
        } else if (c.status() == v1::CRITERION_STATUS_UNMET) {
          ++t.not_held;
          t.not_held_won += w;
        }
      }
    }
    for (const auto& b : g.next_best_behaviors()) {
      ++fired_rules[b.rule().id()].held;
      fired_rules[b.rule().id()].held_won += w;
    }
    for (const auto& r : g.risks()) {
      ++fired_rules[r.rule().id()].held;
      fired_rules[r.rule().id()].held_won += w;
    }
    // Leading indicators: held / not held where they apply to the evidence phase.
    for (const engine::OutlineIndicator& ind : outline.indicators) {
      const bool applies =
          ind.phase_ids.empty() ||
          std::count(ind.phase_ids.begin(), ind.phase_ids.end(), g.evidence_phase().id()) > 0;
      Tally& t = indicators[ind.id];
      if (!applies) continue;
      const std::vector<engine::IndicatorOutcome> outcomes =
          engine::EvaluateIndicators(*pb.playbook, open, as_of, g.evidence_phase().id());
      const size_t i = static_cast<size_t>(&ind - outline.indicators.data());
      ASSERT_LT(i, outcomes.size());
      if (outcomes[i].met) {
        ++t.held;
        t.held_won += w;
      } else {
        ++t.not_held;
        t.not_held_won += w;
      }
    }
  }
  ASSERT_GT(closed, 0);
  EXPECT_EQ(out.overall().deals(), closed);
  EXPECT_EQ(out.overall().won(), won);
  EXPECT_EQ(out.rewound(), closed);
  std::map<std::string, const v1::BacktestRule*> by_id;
  for (const v1::BacktestRule& r : out.rules()) by_id[r.rule_id()] = &r;
  for (const auto& [id, t] : criteria) {
    ASSERT_TRUE(by_id.count(id)) << id;
    const v1::BacktestRule& r = *by_id[id];
    EXPECT_EQ(r.held().deals(), t.held) << id;
    EXPECT_EQ(r.held().won(), t.held_won) << id;
    EXPECT_EQ(r.not_held().deals(), t.not_held) << id;
    EXPECT_EQ(r.not_held().won(), t.not_held_won) << id;
    EXPECT_EQ(r.held().deals() + r.not_held().deals() + r.unknown().deals() + r.not_reached(),
              closed)
        << id;
  }
  for (const auto& [id, t] : fired_rules) {
    ASSERT_TRUE(by_id.count(id)) << id;
    const v1::BacktestRule& r = *by_id[id];
    EXPECT_EQ(r.held().deals(), t.held) << id;
    EXPECT_EQ(r.held().won(), t.held_won) << id;
    EXPECT_EQ(r.not_held().deals(), closed - t.held) << id;
    EXPECT_EQ(r.not_held().won(), won - t.held_won) << id;
    if (r.held().deals() > 0) {
      EXPECT_NEAR(r.held().win_rate(), static_cast<double>(t.held_won) / t.held, 1e-12);
      EXPECT_NEAR(r.lift(), r.held().win_rate() / (static_cast<double>(won) / closed), 1e-12);
    }
  }
  for (const auto& [id, t] : indicators) {
    ASSERT_TRUE(by_id.count(id)) << id;
    const v1::BacktestRule& r = *by_id[id];
    EXPECT_EQ(r.kind(), "indicator") << id;
    EXPECT_EQ(r.held().deals(), t.held) << id;
    EXPECT_EQ(r.held().won(), t.held_won) << id;
    EXPECT_EQ(r.not_held().deals(), t.not_held) << id;
    EXPECT_EQ(r.not_held().won(), t.not_held_won) << id;
    EXPECT_EQ(r.not_reached(), closed - t.held - t.not_held) << id;
  }
  // Sorted: signal first, then by |difference|.
  for (int i = 1; i < out.rules_size(); ++i) {
    const auto& a = out.rules(i - 1);
    const auto& b = out.rules(i);
    if (a.signal() == b.signal()) {
      EXPECT_GE(std::abs(a.difference()), std::abs(b.difference()));
    } else {
      EXPECT_TRUE(a.signal());
    }
  }
  ASSERT_GE(out.bias_size(), 2);
  EXPECT_TRUE(absl::StrContains(out.bias(0), "final values")) << out.bias(0);
  EXPECT_TRUE(absl::StrContains(FormatBacktest(out), "bias: ")) << FormatBacktest(out);
}

}  // namespace
}  // namespace dealcoach::admin
