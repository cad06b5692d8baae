// Evaluation tests: phases, gates, unknown vs unmet, stage-ahead warnings, ranking,
// facts, checklists, RunTests and NormalizeOpportunity.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/playbook_internal.h"
#include "sidecar/playbook_tests/playbook_tests.h"

namespace dealcoach::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(DEALCOACH_SOURCE_DIR) + "/" + rel);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Time Now() { return absl::FromUnixSeconds(1795176000); }  // 2026-11-20T12:00:00Z

v1::Opportunity Sample(const std::string& id) {
  static const nlohmann::json* all =
      new nlohmann::json(nlohmann::json::parse(ReadSource("config/samples/opportunities.json")));
  for (const auto& e : *all) {
    if (e.value("id", "") != id) continue;
    v1::Opportunity opp;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(e.dump(), &opp).ok());
    NormalizeOpportunity(&opp);
    return opp;
  }
  ADD_FAILURE() << "no sample " << id;
  return {};
}

std::shared_ptr<const CompiledPlaybook> Journey() {
  static const auto* pb = new std::shared_ptr<const CompiledPlaybook>(
      LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) +
                       "/config/playbooks/customer-journey.yaml")
          .playbook);
  return *pb;
}

std::vector<std::string> BehaviorIds(const v1::DealGuidance& g) {
  std::vector<std::string> out;
  for (const auto& b : g.next_best_behaviors()) out.push_back(b.rule().id());
  return out;
}

std::vector<std::string> RiskIds(const v1::DealGuidance& g) {
  std::vector<std::string> out;
  for (const auto& r : g.risks()) out.push_back(r.rule().id());
  return out;
}

TEST(EvaluateTest, NowIsTheTestAnchor) {
  EXPECT_EQ(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", Now(), absl::UTCTimeZone()),
            "2026-11-20T12:00:00Z");
}

TEST(EvaluateTest, StageAheadOfEvidence) {
  ASSERT_NE(Journey(), nullptr);
  v1::DealGuidance g = Journey()->Evaluate(Sample("006000000000006AAA"), Now());
  EXPECT_EQ(g.opportunity_id(), "006000000000006AAA");
  EXPECT_EQ(g.crm_stage(), "Proposal/Price Quote");
  EXPECT_EQ(g.claimed_phase().id(), "decision");
  EXPECT_EQ(g.claimed_phase().index(), 3);
  EXPECT_EQ(g.evidence_phase().id(), "awareness");
  EXPECT_EQ(g.evidence_phase().name(), "Awareness");
  ASSERT_TRUE(g.has_stage_ahead_of_evidence());
  EXPECT_EQ(g.stage_ahead_of_evidence().message(),
            "CRM stage 'Proposal/Price Quote' claims Decision, but the evidence puts the deal in "
            "Awareness: 5 criteria not met, 2 not recorded in the CRM");
  std::vector<std::string> blocking;
  for (const auto& c : g.stage_ahead_of_evidence().blocking_criteria()) {
    blocking.push_back(c.rule().id());
  }
  EXPECT_THAT(blocking,
              ElementsAre("awareness/community-pain", "consideration/economic-buyer-identified",
                          "consideration/champion", "consideration/decision-criteria",
                          "evaluation/economic-buyer-met", "evaluation/business-case-validated",
                          "evaluation/technical-validation"));
  // Gates up to and including the evidence phase only.
  ASSERT_EQ(g.gates_size(), 1);
  EXPECT_EQ(g.gates(0).status(), v1::CRITERION_STATUS_UNMET);
  EXPECT_THAT(RiskIds(g), ElementsAre("risk/close-date-pushed", "risk/no-economic-buyer-late",
                                      "risk/single-threaded", "risk/no-mutual-action-plan"));
  EXPECT_EQ(g.risks(0).severity(), v1::RISK_SEVERITY_HIGH);
  EXPECT_EQ(g.risks(2).severity(), v1::RISK_SEVERITY_MEDIUM);
}

TEST(EvaluateTest, UnknownIsNotUnmet) {
  v1::DealGuidance g = Journey()->Evaluate(Sample("006000000000003AAA"), Now());
  EXPECT_EQ(g.evidence_phase().id(), "awareness");
  ASSERT_EQ(g.gates_size(), 1);
  const v1::GateResult& gate = g.gates(0);
  EXPECT_EQ(gate.status(), v1::CRITERION_STATUS_UNKNOWN);
  ASSERT_EQ(gate.criteria_size(), 2);
  EXPECT_EQ(gate.criteria(0).status(), v1::CRITERION_STATUS_MET);
  EXPECT_EQ(gate.criteria(0).hint(), "");
  const v1::CriterionResult& c = gate.criteria(1);
  EXPECT_EQ(c.rule().id(), "awareness/decision-to-change");
  EXPECT_EQ(c.rule().playbook(), "customer-journey");
  EXPECT_EQ(c.rule().version(), 1);
  EXPECT_EQ(c.text(), "The customer has made the decision to change the current state");
  EXPECT_EQ(c.status(), v1::CRITERION_STATUS_UNKNOWN);
  EXPECT_THAT(c.missing_fields(), ElementsAre("opp.fields.decision_to_change"));
  EXPECT_EQ(c.error(), "");
  EXPECT_THAT(c.hint(), HasSubstr("Decision to change"));
  ASSERT_EQ(c.facts_size(), 1);
  EXPECT_EQ(c.facts(0).path(), "opp.fields.decision_to_change");
  EXPECT_TRUE(c.facts(0).missing());
  EXPECT_EQ(c.facts(0).value(), "not recorded in the CRM");
  // The `!has(...)` idiom fires the "record it" behavior; the unknown one does not.
  EXPECT_THAT(BehaviorIds(g),
              ElementsAre("awareness/record-decision-to-change", "awareness/capture-pain"));
  EXPECT_FALSE(g.has_stage_ahead_of_evidence());
  EXPECT_EQ(g.issues_size(), 0);
}

TEST(EvaluateTest, GatesUpToTheEvidencePhaseWithFacts) {
  v1::DealGuidance g = Journey()->Evaluate(Sample("006000000000021AAA"), Now());
  EXPECT_EQ(g.evidence_phase().id(), "evaluation");
  ASSERT_EQ(g.gates_size(), 3);
  EXPECT_EQ(g.gates(0).phase().id(), "awareness");
  EXPECT_EQ(g.gates(0).status(), v1::CRITERION_STATUS_MET);
  EXPECT_EQ(g.gates(1).status(), v1::CRITERION_STATUS_MET);
  EXPECT_EQ(g.gates(2).status(), v1::CRITERION_STATUS_UNMET);
  const v1::CriterionResult& eb = g.gates(2).criteria(0);
  EXPECT_EQ(eb.rule().id(), "evaluation/economic-buyer-met");
  EXPECT_EQ(eb.status(), v1::CRITERION_STATUS_UNMET);
  ASSERT_EQ(eb.facts_size(), 1);
  EXPECT_EQ(eb.facts(0).path(), "opp.contacts");
  EXPECT_EQ(eb.facts(0).value(), "4 contacts");
  EXPECT_FALSE(eb.facts(0).missing());
  EXPECT_THAT(eb.hint(), HasSubstr("Meet the economic buyer"));
  // Coaching questions of the evidence phase.
  ASSERT_EQ(g.coaching_questions_size(), 3);
  EXPECT_EQ(g.coaching_questions(0).rule().id(), "evaluation/question-1");
  EXPECT_EQ(g.coaching_questions(0).text(),
            "What did the economic buyer say the change is worth to them?");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(g.evaluated_at()), "2026-11-20T12:00:00Z");
  EXPECT_EQ(g.playbook().name(), "customer-journey");
  EXPECT_EQ(g.playbook().revision(), Journey()->ref().revision());
}

TEST(EvaluateTest, BehaviorsRankedWithContentAndMoreCount) {
  EvaluateOptions one;
  one.max_behaviors = 1;
  v1::DealGuidance g = Journey()->Evaluate(Sample("006000000000001AAA"), Now(), one);
  ASSERT_EQ(g.next_best_behaviors_size(), 1);
  EXPECT_EQ(g.more_behaviors(), 2);
  const v1::Behavior& b = g.next_best_behaviors(0);
  EXPECT_EQ(b.rule().id(), "awareness/multi-thread");
  EXPECT_EQ(b.prompt(), "Meet a second stakeholder to confirm the pain beyond your first contact");
  EXPECT_EQ(b.why(), "One person's pain is an opinion; the community's pain is a project.");
  EXPECT_EQ(b.priority(), 80);
  EXPECT_EQ(b.phase_id(), "awareness");
  EXPECT_EQ(b.role(), "user_buyer");
  std::vector<std::string> urls;
  for (const auto& c : b.content()) urls.push_back(c.url());
  EXPECT_THAT(urls,
              ElementsAre("https://enablement.example.com/journey/awareness/pain-discovery",
                          "https://enablement.example.com/journey/awareness/multi-threading"));
  ASSERT_EQ(b.facts_size(), 1);
  EXPECT_EQ(b.facts(0).value(), "1 contact");

  v1::DealGuidance all = Journey()->Evaluate(Sample("006000000000001AAA"), Now());
  EXPECT_THAT(BehaviorIds(all), ElementsAre("awareness/multi-thread", "awareness/capture-pain",
                                            "awareness/call-plan"));
  EXPECT_EQ(all.more_behaviors(), 0);
}

TEST(EvaluateTest, GlobalBehaviorsAndTimestampFacts) {
  v1::DealGuidance g = Journey()->Evaluate(Sample("006000000000020AAA"), Now());
  EXPECT_THAT(BehaviorIds(g),
              ElementsAre("consideration/find-economic-buyer", "behavior/book-next-meeting",
                          "consideration/draft-business-case"));
  const v1::Behavior& meet = g.next_best_behaviors(1);
  EXPECT_EQ(meet.phase_id(), "");
  ASSERT_EQ(meet.facts_size(), 1);
  EXPECT_EQ(meet.facts(0).path(), "opp.last_meeting_at");
  EXPECT_EQ(meet.facts(0).value(), "2026-10-28");
}

TEST(EvaluateTest, ClosedDeals) {
  v1::DealGuidance lost = Journey()->Evaluate(Sample("006000000000047AAA"), Now());
  EXPECT_FALSE(lost.has_claimed_phase());
  EXPECT_FALSE(lost.has_stage_ahead_of_evidence());
  EXPECT_EQ(lost.next_best_behaviors_size(), 0);
  EXPECT_EQ(lost.risks_size(), 0);
  EXPECT_GT(lost.gates_size(), 0);

  v1::DealGuidance won = Journey()->Evaluate(Sample("006000000000043AAA"), Now());
  EXPECT_EQ(won.evidence_phase().id(), "implementation");
  EXPECT_EQ(won.risks_size(), 0);  // close date in the past, but the deal is closed
  EXPECT_THAT(BehaviorIds(won),
              ElementsAre("implementation/success-plan", "implementation/value-review"));
}

TEST(EvaluateTest, AllGatesMetStaysInTheLastPhase) {
  v1::DealGuidance g = Journey()->Evaluate(Sample("006000000000045AAA"), Now());
  EXPECT_EQ(g.evidence_phase().id(), "implementation");
  ASSERT_EQ(g.gates_size(), 5);
  for (const auto& gate : g.gates()) EXPECT_EQ(gate.status(), v1::CRITERION_STATUS_MET);
}

TEST(EvaluateTest, Deterministic) {
  v1::Opportunity opp = Sample("006000000000039AAA");
  v1::DealGuidance a = Journey()->Evaluate(opp, Now());
  v1::DealGuidance b = Journey()->Evaluate(opp, Now());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, b));
}

TEST(EvaluateTest, ConcurrentEvaluationsAgree) {
  // One compiled playbook shared by many threads, as in the server.
  std::vector<v1::Opportunity> opps = {Sample("006000000000006AAA"), Sample("006000000000021AAA"),
                                       Sample("006000000000039AAA"), Sample("006000000000043AAA")};
  std::vector<v1::DealGuidance> expected;
  for (const auto& o : opps) expected.push_back(Journey()->Evaluate(o, Now()));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t k = static_cast<size_t>(t + i) % opps.size();
        v1::DealGuidance g = Journey()->Evaluate(opps[k], Now());
        if (!google::protobuf::util::MessageDifferencer::Equals(g, expected[k])) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(EvaluateTest, RuntimeErrorIsUnknownWithAnIssue) {
  LoadResult r = LoadPlaybook(R"(apiVersion: dealcoach/v1
kind: Playbook
metadata: {name: err, version: 2}
phases:
  - id: only
    exit_gate:
      - id: ratio
        text: Employees per deal
        when: opp.account.employees / 0 > 1
    behaviors:
      - {id: b, prompt: p, when: 'opp.account.employees / 0 > 1'}
)",
                              "err.yaml");
  ASSERT_TRUE(r.ok()) << FormatDiagnostic(r.diagnostics[0]);
  v1::Opportunity opp;
  opp.mutable_account()->set_employees(10);
  v1::DealGuidance g = r.playbook->Evaluate(opp, Now());
  ASSERT_EQ(g.gates_size(), 1);
  const v1::CriterionResult& c = g.gates(0).criteria(0);
  EXPECT_EQ(c.status(), v1::CRITERION_STATUS_UNKNOWN);
  EXPECT_THAT(c.error(), HasSubstr("division by zero"));
  EXPECT_EQ(g.gates(0).status(), v1::CRITERION_STATUS_UNKNOWN);
  ASSERT_EQ(g.issues_size(), 2);
  EXPECT_EQ(g.issues(0).rule().id(), "only/ratio");
  EXPECT_EQ(g.issues(1).rule().id(), "only/b");
  EXPECT_THAT(g.issues(0).message(), HasSubstr("division by zero"));
  EXPECT_EQ(g.next_best_behaviors_size(), 0);
}

TEST(EvaluateTest, Checklist) {
  v1::Opportunity opp = Sample("006000000000006AAA");
  auto list = Journey()->EvaluateChecklist(opp, Now(), "");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->checklist(), "opportunity_review");
  EXPECT_EQ(list->evidence_phase().id(), "awareness");
  ASSERT_EQ(list->items_size(), 7);
  EXPECT_EQ(list->items(0).rule().id(), "checklist/opportunity_review/community-pain");
  EXPECT_EQ(list->items(0).status(), v1::CRITERION_STATUS_UNMET);
  EXPECT_EQ(list->items(0).coaching_question(),
            "Who besides your contact has said this problem costs them? How do you know?");
  EXPECT_EQ(list->items(1).status(), v1::CRITERION_STATUS_MET);
  EXPECT_EQ(list->items(1).coaching_question(), "");
  EXPECT_EQ(list->items(5).rule().id(), "checklist/opportunity_review/close-date-credible");
  EXPECT_EQ(list->items(5).status(), v1::CRITERION_STATUS_UNMET);
  EXPECT_EQ(list->items(5).facts(0).value(), "2 close date changes");
  EXPECT_EQ(list->open_items(), 4);

  auto forecast = Journey()->EvaluateChecklist(opp, Now(), "forecast_call");
  ASSERT_TRUE(forecast.ok());
  EXPECT_EQ(forecast->items(1).status(), v1::CRITERION_STATUS_UNKNOWN);
  EXPECT_THAT(forecast->items(1).missing_fields(), ElementsAre("opp.fields.paper_process"));

  auto missing = Journey()->EvaluateChecklist(opp, Now(), "pipeline");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "no checklist 'pipeline' in playbook 'customer-journey'; checklists: "
            "opportunity_review, forecast_call");
}

// Conditions that read `phase` run as one program per phase (the variable replaced by
// the phase id, so the typed fast path plans them); a string literal or a field named
// like the variable is left alone, and a comprehension variable named `phase` keeps the
// condition as written. The answers are the ones the variable gives.
TEST(EvaluateTest, PhaseConditionsGiveTheVariablesAnswers) {
  for (const bool fast : {true, false}) {
    LoadOptions options;
    options.fast_path = fast;
    LoadResult r = LoadPlaybook(R"(apiVersion: dealcoach/v1
kind: Playbook
metadata: {name: phases, version: 1}
phases:
  - id: first
    crm_stages: [One]
    exit_gate:
      - {id: never, text: Never, when: 'opp.name == "met"'}
  - id: second
    crm_stages: [Two]
behaviors:
  - {id: in-first, prompt: p, when: 'phase == "first"'}
  - {id: in-second, prompt: p, when: 'phase in ["second"] && opp.name != "phase"'}
  - {id: literal, prompt: p, when: 'opp.name == "phase" || phase == ""'}
  - {id: shadowed, prompt: p, when: 'opp.contacts.exists(phase, phase.name == phase.name) || phase == "second"'}
  - {id: not-first, prompt: p, when: '!(phase == "first")'}
)",
                                "phases.yaml", options);
    ASSERT_TRUE(r.ok()) << FormatDiagnostic(r.diagnostics[0]);
    // Four conditions specialised (one program per phase plus "no phase"), the shadowed
    // one kept as written; with the fast path on, every variant has one.
    const auto& impl = dynamic_cast<const internal::CompiledPlaybookImpl&>(*r.playbook);
    int specialised = 0;
    for (const auto& variants : impl.phase_variants_) {
      if (variants.empty()) continue;
      ++specialised;
      EXPECT_EQ(variants.size(), 3u);
      for (const auto& v : variants) EXPECT_EQ(expr::HasFastPath(*v), fast) << v->source();
    }
    EXPECT_EQ(specialised, 4);
    EvaluateOptions all;
    all.max_behaviors = 10;
    v1::Opportunity opp;
    opp.set_stage("One");
    EXPECT_THAT(BehaviorIds(r.playbook->Evaluate(opp, Now(), all)),
                ElementsAre("behavior/in-first"));
    opp.set_stage("Two");
    EXPECT_THAT(BehaviorIds(r.playbook->Evaluate(opp, Now(), all)),
                ElementsAre("behavior/in-second", "behavior/shadowed", "behavior/not-first"));
    opp.set_stage("Elsewhere");
    EXPECT_THAT(BehaviorIds(r.playbook->Evaluate(opp, Now(), all)),
                ElementsAre("behavior/literal", "behavior/not-first"));
    opp.set_name("phase");
    opp.set_stage("Two");
    opp.add_contacts()->set_name("Ann");
    EXPECT_THAT(BehaviorIds(r.playbook->Evaluate(opp, Now(), all)),
                ElementsAre("behavior/literal", "behavior/shadowed", "behavior/not-first"));
  }
}

TEST(EvaluateTest, StageLabelsMatchCaseInsensitively) {
  v1::Opportunity opp;
  opp.set_stage("  negotiation/REVIEW ");
  v1::DealGuidance g = Journey()->Evaluate(opp, Now());
  EXPECT_EQ(g.claimed_phase().id(), "decision");
  EXPECT_TRUE(g.has_stage_ahead_of_evidence());
  opp.set_stage("Discovery");
  EXPECT_FALSE(Journey()->Evaluate(opp, Now()).has_claimed_phase());
}

// A playbook whose tests are wrong: RunTests reports each mismatch clearly.
TEST(RunTestsTest, WrongExpectationsFailWithClearMessages) {
  LoadResult r = LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) +
                                  "/config/playbooks/customer-journey.yaml");
  ASSERT_TRUE(r.ok());
  std::string text = ReadSource("config/playbooks/customer-journey.yaml");
  // Line numbers below are relative to the end of the real playbook.
  const int base = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  auto at = [base](int offset, const std::string& rest) {
    return std::to_string(base + offset) + ":" + rest;
  };
  text += R"(
tests:
  - name: wrong phase and behaviors
    now: 2026-11-20T12:00:00Z
    opportunity_file: ../samples/opportunities.json
    opportunity_id: 006000000000001AAA
    expect:
      phase: consideration
      stage_ahead: true
      gate_status: {community-pain: met, comunity-pain: met}
      behaviors_include: [find-economic-buyer]
      behaviors_exclude: [multi-thread]
      risks_include: [stalled, stalld]
      top_behaviors: [capture-pain]
      checklist: {community-pain: met}
  - name: broken test
    now: yesterday
    opportunity: {id: x, amout: 3}
    expect: {phasee: awareness}
)";
  // Written beside the real playbook so the relative opportunity_file resolves; the name
  // has no sibling _test.yaml.
  const std::string path =
      std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/.wrong-playbook-for-test.yaml";
  {
    std::ofstream out(path);
    out << text;
  }
  LoadResult wrong = LoadPlaybookFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(wrong.ok()) << FormatDiagnostic(wrong.diagnostics[0]);
  auto results = playbook_tests::RunPlaybookFileTests(
      *wrong.playbook, path, std::string(DEALCOACH_SOURCE_DIR) + "/config");
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  const v1::PlaybookTestResult& t = (*results)[0];
  EXPECT_EQ(t.name(), "wrong phase and behaviors");
  EXPECT_FALSE(t.passed());
  std::vector<std::string> failures(t.failures().begin(), t.failures().end());
  for (auto& f : failures) f = f.substr(f.find(".yaml:") + 6);  // drop the directory
  EXPECT_THAT(
      failures,
      ElementsAre(
          at(8, "14: phase: expected 'consideration', got 'awareness'"),
          at(9, "20: stage_ahead: expected a stage-ahead-of-evidence warning, got none"),
          at(10, "37: gate_status: awareness/community-pain: expected met, got unmet"),
          at(10,
             "42: gate_status: no exit-gate criterion 'comunity-pain'; did you mean "
             "'community-pain'?"),
          at(11,
             "27: behaviors_include: expected behavior 'find-economic-buyer' to fire; "
             "fired: [awareness/multi-thread, awareness/capture-pain, awareness/call-plan]"),
          at(12, "27: behaviors_exclude: expected behavior 'multi-thread' not to fire"),
          at(13,
             "23: risks_include: expected risk 'stalled' to fire; fired: "
             "[risk/single-threaded]"),
          at(13,
             "32: risks_include: no risk 'stalld' in playbook 'customer-journey'; did you "
             "mean 'stalled'?"),
          at(14, "22: top_behaviors: expected [capture-pain], got [awareness/multi-thread]"),
          at(15,
             "35: checklist: checklist/opportunity_review/community-pain: expected met, "
             "got unmet")));
  const v1::PlaybookTestResult& broken = (*results)[1];
  EXPECT_FALSE(broken.passed());
  std::vector<std::string> broken_failures(broken.failures().begin(), broken.failures().end());
  for (auto& f : broken_failures) f = f.substr(f.find(".yaml:") + 6);
  EXPECT_THAT(broken_failures,
              ElementsAre(at(17,
                             "10: now: 'yesterday' is not an RFC 3339 time (Failed to parse "
                             "input), e.g. 2026-11-20T12:00:00Z"),
                          at(18,
                             "18: opportunity is not a valid dealcoach.v1.Opportunity: amout: "
                             "Cannot find field."),
                          at(19, "14: expect: unknown key 'phasee'; did you mean 'phase'?")));
}

TEST(RunTestsTest, SiblingTestFileErrorsNameTheirPosition) {
  const std::string dir = ::testing::TempDir();
  const std::string pb = dir + "/mini.yaml";
  {
    std::ofstream out(pb);
    out << "apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: {name: mini, version: 1}\n"
           "phases: [{id: a, crm_stages: [Prospecting]}]\n";
  }
  {
    std::ofstream out(dir + "/mini_test.yaml");
    out << "now: 2026-11-20T12:00:00Z\ntests:\n  - name: ok\n    opportunity: {stage: "
           "Prospecting}\n    expect: {phase: a, claimed_phase: a}\n";
  }
  LoadResult r = LoadPlaybookFile(pb);
  ASSERT_TRUE(r.ok());
  auto results = playbook_tests::RunPlaybookFileTests(*r.playbook, pb, dir);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_TRUE((*results)[0].passed());

  {
    std::ofstream out(dir + "/mini_test.yaml");
    out << "tests:\n  - name: [unclosed\n";
  }
  auto broken = playbook_tests::RunPlaybookFileTests(*r.playbook, pb, dir);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(broken.status().message(),
            dir + "/mini_test.yaml:3:1: malformed YAML: end of sequence flow not found");
  std::remove((dir + "/mini_test.yaml").c_str());
  std::remove(pb.c_str());
}

TEST(NormalizeTest, DerivesLastMeetingAndActivity) {
  v1::Opportunity opp;
  auto add = [&](const char* type, int64_t seconds, const char* outcome) {
    v1::Activity* a = opp.add_activities();
    a->set_type(type);
    a->mutable_at()->set_seconds(seconds);
    if (outcome != nullptr) a->set_outcome(outcome);
  };
  add("meeting", 1000, "completed");
  add("Meeting", 3000, "no_show");
  add("call", 5000, nullptr);
  add("meeting", 2000, nullptr);
  add("task", 9000, "scheduled");
  opp.set_stage("Qualification");
  opp.add_stage_history()->set_stage("Prospecting");
  v1::StageChange* last = opp.add_stage_history();
  last->set_stage("Qualification");
  last->mutable_entered_at()->set_seconds(1500);
  NormalizeOpportunity(&opp);
  EXPECT_EQ(opp.last_meeting_at().seconds(), 2000);
  EXPECT_EQ(opp.last_activity_at().seconds(), 5000);
  EXPECT_EQ(opp.stage_entered_at().seconds(), 1500);
  EXPECT_EQ(opp.source_system(), "inline");
  v1::Opportunity again = opp;
  NormalizeOpportunity(&again);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(opp, again));
  // Values the connector sent are kept.
  v1::Opportunity sent;
  sent.mutable_last_meeting_at()->set_seconds(7);
  sent.set_source_system("hubspot");
  add("meeting", 99, nullptr);
  *sent.mutable_activities() = opp.activities();
  NormalizeOpportunity(&sent);
  EXPECT_EQ(sent.last_meeting_at().seconds(), 7);
  EXPECT_EQ(sent.source_system(), "hubspot");
}

}  // namespace
}  // namespace dealcoach::engine
