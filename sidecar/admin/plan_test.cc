#include "sidecar/admin/plan.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/pipeline/compact.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::admin {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Shipped() {
  return Read(std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/customer-journey.yaml");
}

// The shipped samples, normalised, as (id, bytes).
std::vector<std::pair<std::string, std::string>> Samples() {
  nlohmann::json doc = nlohmann::json::parse(
      Read(std::string(DEALCOACH_SOURCE_DIR) + "/config/samples/opportunities.json"));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : doc) {
    v1::Opportunity o;
    if (!google::protobuf::util::JsonStringToMessage(item.dump(), &o).ok()) continue;
    engine::NormalizeOpportunity(&o);
    out.emplace_back(o.id(), o.SerializeAsString());
  }
  return out;
}

const absl::Time kNow = absl::FromUnixSeconds(1795176000);  // 2026-11-20T12:00:00Z

// A tighter awareness gate: three confirmed-pain contacts instead of two (only the gate;
// the checklist item keeps its own condition).
std::string Tightened() {
  std::string yaml = Shipped();
  const std::string gate =
      "        when: opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() >= "
      "2\n"
      "        hint: Confirm the pain";
  EXPECT_NE(yaml.find(gate), std::string::npos);
  return absl::StrReplaceAll(yaml, {{gate, absl::StrReplaceAll(gate, {{">= 2", ">= 3"}})},
                                    {"\n  version: 1\n", "\n  version: 2\n"}});
}

struct Compiled {
  engine::LoadResult result;
  PlaybookOutline outline;
};
Compiled Compile(const std::string& yaml) {
  Compiled c{engine::LoadPlaybook(yaml, "p.yaml"), {}};
  EXPECT_TRUE(c.result.ok());
  auto o = OutlineOf(yaml);
  EXPECT_TRUE(o.ok()) << o.status();
  if (o.ok()) c.outline = *o;
  return c;
}

TEST(Outline, NamesPhasesAndRulesAsTheEngineDoes) {
  auto o = OutlineOf(Shipped());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->name, "customer-journey");
  ASSERT_GE(o->phases.size(), 5u);
  EXPECT_EQ(o->phases[0], "awareness");
  EXPECT_EQ(o->phases[1], "consideration");
  std::set<std::string> rules(o->rules.begin(), o->rules.end());
  EXPECT_TRUE(rules.count("awareness/community-pain"));
  EXPECT_TRUE(rules.count("awareness/multi-thread"));
  EXPECT_TRUE(rules.count("risk/stalled"));
  EXPECT_FALSE(o->checklist_items.empty());
  EXPECT_EQ(o->checklist_items[0], "checklist/opportunity_review/community-pain");
}

TEST(Plan, ReportsExactlyTheDealsAnIndependentEvaluationSeesChange) {
  Compiled published = Compile(Shipped());
  Compiled draft = Compile(Tightened());
  auto deals = Samples();
  ASSERT_GT(deals.size(), 40u);
  PlanInput in;
  in.published = published.result.playbook.get();
  in.published_outline = &published.outline;
  in.draft = draft.result.playbook.get();
  in.draft_outline = &draft.outline;
  in.deals = deals;
  in.now = kNow;
  v1::PlanPlaybookChangeResponse plan;
  ComputePlan(in, &plan);

  // Independently: evaluate each deal under both, through the public Evaluate.
  engine::EvaluateOptions all;
  all.max_behaviors = pipeline::kAllBehaviors;
  std::set<std::string> phase_changed;
  std::set<std::string> back;
  std::set<std::string> gain_behavior;
  for (const auto& [id, bytes] : deals) {
    v1::Opportunity o;
    ASSERT_TRUE(o.ParseFromString(bytes));
    v1::DealGuidance before = published.result.playbook->Evaluate(o, kNow, all);
    v1::DealGuidance after = draft.result.playbook->Evaluate(o, kNow, all);
    if (before.evidence_phase().id() != after.evidence_phase().id()) {
      phase_changed.insert(id);
      // The gate only tightened: a deal can only move back.
      back.insert(id);
    }
    std::set<std::string> b;
    for (const auto& x : before.next_best_behaviors()) b.insert(x.rule().id());
    for (const auto& x : after.next_best_behaviors()) {
      if (!b.count(x.rule().id())) {
        gain_behavior.insert(id);
        break;
      }
    }
  }
  ASSERT_FALSE(phase_changed.empty()) << "the tightened gate should move some sample deals";
  EXPECT_EQ(plan.totals().deals(), static_cast<int64_t>(deals.size()));
  EXPECT_EQ(plan.totals().phase_back(), static_cast<int64_t>(back.size()));
  EXPECT_EQ(plan.totals().phase_forward(), 0);
  EXPECT_EQ(plan.totals().gain_behavior(), static_cast<int64_t>(gain_behavior.size()));
  std::set<std::string> reported;
  for (const v1::PlanDealChange& d : plan.deals()) {
    if (d.phase_move() == v1::PLAN_PHASE_MOVE_BACK) {
      reported.insert(d.opportunity_id());
      EXPECT_EQ(d.evidence_phase_after(), "awareness") << d.opportunity_id();
      // The tightened criterion is the reason.
      EXPECT_NE(std::find(d.criteria_newly_unmet().begin(), d.criteria_newly_unmet().end(),
                          "awareness/community-pain"),
                d.criteria_newly_unmet().end())
          << d.opportunity_id();
    }
  }
  EXPECT_EQ(reported, phase_changed);
  EXPECT_EQ(plan.summary().rfind(absl::StrCat("plan: ", back.size(), " deal"), 0), 0u)
      << plan.summary();
  // Roll-ups add up to the totals.
  int64_t by_rep = 0;
  for (const v1::PlanRollup& r : plan.reps()) by_rep += r.totals().phase_back();
  EXPECT_EQ(by_rep, plan.totals().phase_back());
  int64_t by_team = 0;
  for (const v1::PlanRollup& r : plan.teams()) by_team += r.totals().deals();
  EXPECT_EQ(by_team, plan.totals().deals());
  EXPECT_TRUE(plan.warnings().empty()) << plan.warnings(0);
}

TEST(Plan, SamePlaybookChangesNothing) {
  Compiled published = Compile(Shipped());
  auto deals = Samples();
  PlanInput in;
  in.published = published.result.playbook.get();
  in.published_outline = &published.outline;
  in.draft = published.result.playbook.get();
  in.draft_outline = &published.outline;
  in.deals = deals;
  in.now = kNow;
  v1::PlanPlaybookChangeResponse plan;
  ComputePlan(in, &plan);
  EXPECT_EQ(plan.totals().deals_changed(), 0);
  EXPECT_EQ(plan.deals_size(), 0);
  EXPECT_EQ(plan.summary(), absl::StrCat("plan: 0 deals change phase (0 forward, 0 back); 0 of ",
                                         deals.size(), " deals change"));
}

TEST(Plan, WarnsAboutRenameRemovedPhaseAndRemovedRules) {
  Compiled published = Compile(Shipped());
  YAML::Node doc = YAML::Load(Shipped());
  doc["metadata"]["name"] = "journey-v2";
  // Drop the last phase and the first global risk.
  YAML::Node phases = doc["phases"];
  YAML::Node kept(YAML::NodeType::Sequence);
  for (size_t i = 0; i + 1 < phases.size(); ++i) kept.push_back(phases[i]);
  const std::string last = phases[phases.size() - 1]["id"].Scalar();
  doc["phases"] = kept;
  // Content and global behaviors that name the removed phase go with it.
  auto names_last = [&last](const YAML::Node& item) {
    if (!item["phases"]) return false;
    for (const YAML::Node& p : item["phases"]) {
      if (p.Scalar() == last) return true;
    }
    return false;
  };
  for (const char* key : {"content", "behaviors"}) {
    YAML::Node list(YAML::NodeType::Sequence);
    for (const YAML::Node& item : doc[key]) {
      if (!names_last(item)) list.push_back(item);
    }
    doc[key] = list;
  }
  YAML::Node risks(YAML::NodeType::Sequence);
  for (size_t i = 1; i < doc["risks"].size(); ++i) risks.push_back(doc["risks"][i]);
  doc["risks"] = risks;
  YAML::Emitter e;
  e << doc;
  const std::string yaml = e.c_str();
  engine::LoadResult draft = engine::LoadPlaybook(yaml, "d.yaml");
  ASSERT_TRUE(draft.ok()) << (draft.diagnostics.empty() ? "" : draft.diagnostics[0].message());
  auto outline = OutlineOf(yaml);
  ASSERT_TRUE(outline.ok());
  auto deals = Samples();
  PlanInput in;
  in.published = published.result.playbook.get();
  in.published_outline = &published.outline;
  in.draft = draft.playbook.get();
  in.draft_outline = &*outline;
  in.deals = deals;
  in.now = kNow;
  v1::PlanPlaybookChangeResponse plan;
  ComputePlan(in, &plan);
  std::string all;
  for (const std::string& w : plan.warnings()) absl::StrAppend(&all, w, "\n");
  EXPECT_NE(all.find("renames playbook 'customer-journey' to 'journey-v2'"), std::string::npos)
      << all;
  EXPECT_NE(all.find(absl::StrCat("removes phase '", last, "'")), std::string::npos) << all;
  EXPECT_NE(all.find("risk/stalled"), std::string::npos) << all;
}

TEST(Plan, GateCriterionRemovedThatAChecklistItemSharesWarns) {
  Compiled published = Compile(Shipped());
  YAML::Node doc = YAML::Load(Shipped());
  YAML::Node gate = doc["phases"][0]["exit_gate"];
  YAML::Node kept(YAML::NodeType::Sequence);
  for (size_t i = 1; i < gate.size(); ++i) kept.push_back(gate[i]);  // drop community-pain
  doc["phases"][0]["exit_gate"] = kept;
  YAML::Emitter e;
  e << doc;
  auto outline = OutlineOf(e.c_str());
  ASSERT_TRUE(outline.ok());
  engine::LoadResult draft = engine::LoadPlaybook(e.c_str(), "d.yaml");
  ASSERT_TRUE(draft.ok());
  PlanInput in;
  in.published = published.result.playbook.get();
  in.published_outline = &published.outline;
  in.draft = draft.playbook.get();
  in.draft_outline = &*outline;
  in.now = kNow;
  v1::PlanPlaybookChangeResponse plan;
  ComputePlan(in, &plan);
  ASSERT_GE(plan.warnings_size(), 1);
  EXPECT_EQ(plan.warnings(0),
            "the draft removes rule 'awareness/community-pain', which checklist item "
            "'checklist/opportunity_review/community-pain' references by id");
}

}  // namespace
}  // namespace dealcoach::admin
