// Every sample opportunity evaluated against the shipped customer-journey playbook: the
// samples cover every phase, and several carry the stage-ahead-of-evidence warning.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/playbook_internal.h"

namespace dealcoach::engine {
namespace {

std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(DEALCOACH_SOURCE_DIR) + "/" + rel);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Time Now() {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-20T12:00:00Z", &t, &err));
  return t;
}

std::vector<v1::Opportunity> LoadSamples() {
  nlohmann::json all = nlohmann::json::parse(ReadSource("config/samples/opportunities.json"));
  std::vector<v1::Opportunity> out;
  for (const auto& e : all) {
    v1::Opportunity opp;
    auto status = google::protobuf::util::JsonStringToMessage(e.dump(), &opp);
    EXPECT_TRUE(status.ok()) << status.ToString() << " in " << e.value("id", "?");
    NormalizeOpportunityAsOf(&opp, Now());
    out.push_back(std::move(opp));
  }
  return out;
}

class SamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* name = std::getenv("DEALCOACH_SAMPLES_PLAYBOOK");
    LoadResult r = LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/" +
                                    (name != nullptr ? name : "customer-journey") + ".yaml");
    ASSERT_TRUE(r.ok());
    playbook_ = r.playbook;
    samples_ = LoadSamples();
  }
  std::shared_ptr<const CompiledPlaybook> playbook_;
  std::vector<v1::Opportunity> samples_;
};

TEST_F(SamplesTest, AtLeastFiftySamplesParse) { EXPECT_GE(samples_.size(), 50u); }

TEST_F(SamplesTest, EveryPhaseIsTheEvidencePhaseOfSomeSample) {
  std::map<std::string, int> by_phase;
  int stage_ahead = 0, with_unknown = 0;
  const bool dump = std::getenv("DEALCOACH_DUMP_SAMPLES") != nullptr;
  for (const auto& opp : samples_) {
    v1::DealGuidance g = playbook_->Evaluate(opp, Now());
    by_phase[g.evidence_phase().id()]++;
    if (g.has_stage_ahead_of_evidence()) ++stage_ahead;
    for (const auto& gate : g.gates()) {
      for (const auto& c : gate.criteria()) {
        if (c.status() == v1::CRITERION_STATUS_UNKNOWN) {
          ++with_unknown;
          break;
        }
      }
    }
    EXPECT_EQ(g.issues_size(), 0) << opp.id() << ": " << g.issues(0).message();
    if (dump) {
      std::cout << opp.id() << " " << opp.stage() << " -> " << g.evidence_phase().id()
                << (g.has_stage_ahead_of_evidence() ? " AHEAD" : "") << " |";
      for (const auto& b : g.next_best_behaviors()) std::cout << " " << b.rule().id();
      std::cout << " +" << g.more_behaviors() << " | risks:";
      for (const auto& r : g.risks()) std::cout << " " << r.rule().id();
      std::cout << "\n";
    }
  }
  for (const char* phase :
       {"awareness", "consideration", "evaluation", "decision", "implementation"}) {
    EXPECT_GE(by_phase[phase], 3) << phase;
  }
  EXPECT_GE(stage_ahead, 8);
  EXPECT_GE(with_unknown, 8);
}

TEST_F(SamplesTest, SingleDealFilesParseAndMatchTheSamples) {
  int files = 0;
  for (const char* name : {"stage-ahead-single-threaded", "decision-to-change-not-recorded",
                           "economic-buyer-never-met", "stalled-proposal"}) {
    v1::Opportunity opp;
    auto status = google::protobuf::util::JsonStringToMessage(
        ReadSource(std::string("config/samples/deals/") + name + ".json"), &opp);
    ASSERT_TRUE(status.ok()) << name << ": " << status.ToString();
    NormalizeOpportunityAsOf(&opp, Now());
    bool found = false;
    for (const auto& s : samples_) {
      found |= google::protobuf::util::MessageDifferencer::Equals(s, opp);
    }
    EXPECT_TRUE(found) << name << " differs from its entry in opportunities.json";
    ++files;
  }
  EXPECT_EQ(files, 4);
  v1::Opportunity ahead;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadSource("config/samples/deals/stage-ahead-single-threaded.json"), &ahead)
                  .ok());
  EXPECT_TRUE(playbook_->Evaluate(ahead, Now()).has_stage_ahead_of_evidence());
}

// The expression language's typed fast path never changes guidance: every shipped
// playbook, loaded with and without it, gives byte-identical answers (guidance and every
// checklist) for every sample deal, and for each deal with parts of its data removed.
TEST(FastPathEquivalenceTest, ShippedPlaybooksGiveIdenticalGuidanceWithAndWithoutIt) {
  std::vector<v1::Opportunity> deals = LoadSamples();
  const size_t samples = deals.size();
  for (size_t i = 0; i < samples; ++i) {
    v1::Opportunity thin = deals[i];
    thin.clear_last_meeting_at();
    thin.clear_next_step();
    thin.mutable_fields()->erase("decision_to_change");
    for (auto& c : *thin.mutable_contacts()) {
      if (c.name().size() % 2 == 0) c.clear_confirmed_pain();
    }
    deals.push_back(std::move(thin));
  }
  LoadOptions slow_options;
  slow_options.fast_path = false;
  for (const char* name : {"customer-journey", "meddicc"}) {
    const std::string path =
        std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/" + name + ".yaml";
    LoadResult fast = LoadPlaybookFile(path);
    LoadResult slow = LoadPlaybookFile(path, slow_options);
    ASSERT_TRUE(fast.ok() && slow.ok()) << name;
    int with_issues = 0;
    for (const v1::Opportunity& opp : deals) {
      const v1::DealGuidance a = fast.playbook->Evaluate(opp, Now());
      const v1::DealGuidance b = slow.playbook->Evaluate(opp, Now());
      EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString()) << name << " " << opp.id();
      with_issues += a.issues_size() > 0 ? 1 : 0;
      for (const std::string& list : fast.playbook->checklist_names()) {
        auto ca = fast.playbook->EvaluateChecklist(opp, Now(), list);
        auto cb = slow.playbook->EvaluateChecklist(opp, Now(), list);
        ASSERT_TRUE(ca.ok() && cb.ok());
        EXPECT_EQ(ca->SerializeAsString(), cb->SerializeAsString()) << name << " " << list;
      }
    }
    EXPECT_EQ(with_issues, 0) << name << ": conditions failed to evaluate";
  }
}

// The combined review (guidance + checklists from one evaluation state) answers exactly
// what the separate calls answer, also when built on an arena.
TEST_F(SamplesTest, ReviewEqualsSeparateCalls) {
  const std::vector<std::string> names = playbook_->checklist_names();
  ASSERT_GE(names.size(), 2u);
  google::protobuf::Arena arena;
  for (const v1::Opportunity& opp : samples_) {
    auto* guidance = google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena);
    std::vector<v1::ReviewChecklist*> lists;
    for (size_t i = 0; i < names.size(); ++i) {
      lists.push_back(google::protobuf::Arena::CreateMessage<v1::ReviewChecklist>(&arena));
    }
    ASSERT_TRUE(playbook_->EvaluateReviewInto(opp, Now(), {}, names, guidance, lists).ok());
    EXPECT_EQ(guidance->SerializeAsString(), playbook_->Evaluate(opp, Now()).SerializeAsString())
        << opp.id();
    for (size_t i = 0; i < names.size(); ++i) {
      auto separate = playbook_->EvaluateChecklist(opp, Now(), names[i]);
      ASSERT_TRUE(separate.ok());
      EXPECT_EQ(lists[i]->SerializeAsString(), separate->SerializeAsString()) << names[i];
      EXPECT_EQ(lists[i]->checklist(), names[i]);
    }
  }
  v1::DealGuidance g;
  v1::ReviewChecklist c;
  std::vector<v1::ReviewChecklist*> one = {&c};
  const std::vector<std::string> unknown = {"no-such-list"};
  absl::Status status = playbook_->EvaluateReviewInto(samples_[0], Now(), {}, unknown, &g, one);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("no-such-list"), absl::string_view::npos) << status;
}

// An arena answer references the playbook's RuleRef / PhaseRef / PlaybookRef instead of
// copying them (evaluate.cc, DC_SET_SHARED). Reusing one arena message for deal after
// deal (Clear() drops the references), copying it out and destroying the arena must
// leave the playbook's messages as they were and every answer equal to the heap one.
TEST_F(SamplesTest, ArenaAnswersShareThePlaybooksRefsWithoutChangingThem) {
  const std::string ref_before = playbook_->ref().SerializeAsString();
  const std::vector<std::string> names = playbook_->checklist_names();
  std::vector<std::string> copies;
  {
    google::protobuf::Arena arena;
    auto* guidance = google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena);
    auto* list = google::protobuf::Arena::CreateMessage<v1::ReviewChecklist>(&arena);
    for (const v1::Opportunity& opp : samples_) {
      playbook_->EvaluateInto(opp, Now(), {}, guidance);  // the same message every time
      v1::DealGuidance copy = *guidance;                  // a heap copy owns its parts
      EXPECT_EQ(copy.SerializeAsString(), playbook_->Evaluate(opp, Now()).SerializeAsString())
          << opp.id();
      copies.push_back(copy.SerializeAsString());
      ASSERT_TRUE(playbook_->EvaluateChecklistInto(opp, Now(), names[0], list).ok());
      auto separate = playbook_->EvaluateChecklist(opp, Now(), names[0]);
      ASSERT_TRUE(separate.ok());
      EXPECT_EQ(list->SerializeAsString(), separate->SerializeAsString()) << opp.id();
    }
  }
  EXPECT_EQ(playbook_->ref().SerializeAsString(), ref_before);
  for (size_t i = 0; i < samples_.size(); ++i) {
    EXPECT_EQ(copies[i], playbook_->Evaluate(samples_[i], Now()).SerializeAsString())
        << samples_[i].id();
  }
}

// An arena review lists each rendered fact as one message that every item showing it
// references (evaluate.cc, AddFacts). The same messages are reused for deal after deal,
// so a fact kept from an earlier deal's cleared items must never be written into: each
// answer must still equal the heap answers.
TEST_F(SamplesTest, ArenaReviewsShareEachRenderedFactAcrossItems) {
  const std::vector<std::string> names = playbook_->checklist_names();
  google::protobuf::Arena arena;
  auto* guidance = google::protobuf::Arena::CreateMessage<v1::DealGuidance>(&arena);
  std::vector<v1::ReviewChecklist*> lists;
  for (size_t i = 0; i < names.size(); ++i) {
    lists.push_back(google::protobuf::Arena::CreateMessage<v1::ReviewChecklist>(&arena));
  }
  int shared = 0;
  for (const v1::Opportunity& opp : samples_) {
    ASSERT_TRUE(playbook_->EvaluateReviewInto(opp, Now(), {}, names, guidance, lists).ok());
    std::string expected = playbook_->Evaluate(opp, Now()).SerializeAsString();
    std::string got = guidance->SerializeAsString();
    for (size_t i = 0; i < names.size(); ++i) {
      auto separate = playbook_->EvaluateChecklist(opp, Now(), names[i]);
      ASSERT_TRUE(separate.ok());
      expected += separate->SerializeAsString();
      got += lists[i]->SerializeAsString();
    }
    EXPECT_EQ(got, expected) << opp.id();
    // Every fact message of this review, by path: one object per path.
    std::map<std::string, std::set<const v1::Fact*>> by_path;
    std::map<const v1::Fact*, int> uses;
    auto note = [&](const google::protobuf::RepeatedPtrField<v1::Fact>& facts) {
      for (const v1::Fact& f : facts) {
        by_path[f.path()].insert(&f);
        ++uses[&f];
      }
    };
    for (const auto& gate : guidance->gates()) {
      for (const auto& c : gate.criteria()) note(c.facts());
    }
    for (const auto& b : guidance->next_best_behaviors()) note(b.facts());
    for (const auto& r : guidance->risks()) note(r.facts());
    for (const auto* list : lists) {
      for (const auto& item : list->items()) note(item.facts());
    }
    for (const auto& [path, objects] : by_path) EXPECT_EQ(objects.size(), 1u) << path;
    for (const auto& [fact, n] : uses) shared += n > 1;
  }
  EXPECT_GT(shared, 0) << "no fact was listed by two items of one review";
}

// A deal as a CRM without a confirmed-pain field sends it: contacts, roles, a meeting
// each contact attended, and no contact carrying confirmed_pain.
v1::Opportunity HubSpotLikeDeal(const std::string& stage, bool won) {
  v1::Opportunity opp;
  opp.set_id("hs-1");
  opp.set_stage(stage);
  opp.set_is_closed(won);
  opp.set_is_won(won);
  for (const char* id : {"c1", "c2"}) {
    v1::Contact* c = opp.add_contacts();
    c->set_id(id);
    c->set_name(id);
    c->add_roles(std::string(id) == "c1" ? "economic_buyer" : "champion");
  }
  v1::Activity* a = opp.add_activities();
  a->set_id("m1");
  a->set_type("meeting");
  a->mutable_at()->set_seconds(absl::ToUnixSeconds(Now() - absl::Hours(48)));
  a->add_participant_ids("c1");
  a->add_participant_ids("c2");
  // Booked for next week: not a meeting held.
  v1::Activity* future = opp.add_activities();
  future->set_id("m2");
  future->set_type("meeting");
  future->mutable_at()->set_seconds(absl::ToUnixSeconds(Now() + absl::Hours(24 * 7)));
  future->add_participant_ids("c1");
  NormalizeOpportunityAsOf(&opp, Now());
  return opp;
}

const v1::CriterionResult* FindCriterion(const v1::DealGuidance& g, const std::string& id) {
  for (const auto& gate : g.gates()) {
    for (const auto& c : gate.criteria()) {
      if (absl::EndsWith(c.rule().id(), "/" + id)) return &c;
    }
  }
  return nullptr;
}

EvaluateOptions AllBehaviors() {
  EvaluateOptions o;
  o.max_behaviors = 100;
  return o;
}

bool HasBehavior(const v1::DealGuidance& g, const std::string& id) {
  for (const auto& b : g.next_best_behaviors()) {
    if (absl::EndsWith(b.rule().id(), "/" + id)) return true;
  }
  return false;
}

TEST(PlaybookNotRecorded, NormalizationSummarizesPresenceAndDerivesMeetings) {
  v1::Opportunity opp = HubSpotLikeDeal("Qualification", false);
  EXPECT_NE(
      std::find(opp.not_recorded().begin(), opp.not_recorded().end(), "contacts.confirmed_pain"),
      opp.not_recorded().end());
  // Attendance is recorded, so last_met_at is derived, not "not recorded".
  EXPECT_EQ(std::find(opp.not_recorded().begin(), opp.not_recorded().end(), "contacts.last_met_at"),
            opp.not_recorded().end());
  // Only the past meeting counts, for the contacts and for the deal.
  const int64_t past = absl::ToUnixSeconds(Now() - absl::Hours(48));
  EXPECT_EQ(opp.contacts(0).last_met_at().seconds(), past);
  EXPECT_EQ(opp.contacts(1).last_met_at().seconds(), past);
  EXPECT_EQ(opp.last_meeting_at().seconds(), past);
  v1::Opportunity again = opp;
  NormalizeOpportunityAsOf(&again, Now());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(opp, again));
  EXPECT_EQ(NotRecordedAttribute("contacts.confirmed_pain"), "opp.contacts[].confirmed_pain");
  EXPECT_EQ(NotRecordedAttribute("close_date_history"), "opp.close_date_history");
  EXPECT_EQ(DescribeMissingAttribute("opp.contacts[].confirmed_pain"), "contacts' confirmed pain");
}

TEST(PlaybookNotRecorded, ShippedPlaybooksSayNotRecordedInsteadOfUnmet) {
  for (const char* name : {"customer-journey", "meddicc"}) {
    LoadResult r =
        LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/" + name + ".yaml");
    ASSERT_TRUE(r.ok()) << name;
    for (bool won : {false, true}) {
      v1::Opportunity opp = HubSpotLikeDeal(won ? "Closed Won" : "Qualification", won);
      v1::DealGuidance g = r.playbook->Evaluate(opp, Now(), AllBehaviors());
      EXPECT_FALSE(HasBehavior(g, "multi-thread")) << name << " won=" << won;
      if (std::string(name) != "customer-journey") continue;
      const v1::CriterionResult* pain = FindCriterion(g, "community-pain");
      ASSERT_NE(pain, nullptr);
      EXPECT_EQ(pain->status(), v1::CRITERION_STATUS_UNKNOWN);
      ASSERT_EQ(pain->missing_fields_size(), 1);
      EXPECT_EQ(pain->missing_fields(0), "opp.contacts[].confirmed_pain");
      EXPECT_FALSE(HasBehavior(g, "multi-thread"));
      // The economic buyer attended the past meeting: met.
      const v1::CriterionResult* eb = FindCriterion(g, "economic-buyer-met");
      if (eb != nullptr) {
        EXPECT_EQ(eb->status(), v1::CRITERION_STATUS_MET);
      }
    }
  }
  // Recorded for one contact (false for the other): the guarded count decides, unmet.
  v1::Opportunity opp = HubSpotLikeDeal("Qualification", false);
  opp.mutable_contacts(0)->set_confirmed_pain(true);
  opp.clear_not_recorded();
  NormalizeOpportunityAsOf(&opp, Now());
  LoadResult r = LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) +
                                  "/config/playbooks/customer-journey.yaml");
  ASSERT_TRUE(r.ok());
  v1::DealGuidance g = r.playbook->Evaluate(opp, Now(), AllBehaviors());
  const v1::CriterionResult* pain = FindCriterion(g, "community-pain");
  ASSERT_NE(pain, nullptr);
  EXPECT_EQ(pain->status(), v1::CRITERION_STATUS_UNMET);
  EXPECT_TRUE(HasBehavior(g, "multi-thread"));
}

TEST(PlaybookNotRecorded, UnknownCloseDateHistoryIsNotZeroPushes) {
  LoadResult r = LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) +
                                  "/config/playbooks/customer-journey.yaml");
  ASSERT_TRUE(r.ok());
  v1::Opportunity opp = HubSpotLikeDeal("Qualification", false);
  opp.add_not_recorded("close_date_history");
  NormalizeOpportunityAsOf(&opp, Now());
  absl::StatusOr<v1::ReviewChecklist> list =
      r.playbook->EvaluateChecklist(opp, Now(), "opportunity_review");
  ASSERT_TRUE(list.ok());
  bool seen = false;
  for (const auto& item : list->items()) {
    if (!absl::EndsWith(item.rule().id(), "/close-date-credible")) continue;
    seen = true;
    EXPECT_EQ(item.status(), v1::CRITERION_STATUS_UNKNOWN);
  }
  EXPECT_TRUE(seen);
}

TEST(FactRendering, AmountsReadAsAmounts) {
  internal::FactProgram fact;
  fact.path = "opp.amount";
  EXPECT_EQ(internal::RenderFactValue(fact, expr::Value::Double(308000)).value, "308,000");
  EXPECT_EQ(internal::RenderFactValue(fact, expr::Value::Double(1234.5)).value, "1,234.50");
  EXPECT_EQ(internal::RenderFactValue(fact, expr::Value::Double(-950)).value, "-950");
  EXPECT_EQ(internal::RenderFactValue(fact, expr::Value::Int(1200000)).value, "1,200,000");
}

}  // namespace
}  // namespace dealcoach::engine
