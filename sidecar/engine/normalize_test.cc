// NormalizeOpportunityAsOf against the implementation it replaced (kept below verbatim
// as the reference, under `reference`): the rewrite classifies each activity once,
// compares case-insensitively instead of lower-casing copies, collapses the stage
// history in place and reads the schema's presence table once. Same output on thousands
// of randomized deals: mixed-case types and outcomes, future and undated activities,
// shuffled stage histories with repeats, close-date snapshots, unsorted `not_recorded`
// with duplicates, partly recorded contact fields.
#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::engine {
namespace reference {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::Timestamp;

bool OutcomeIn(const v1::Activity& a, std::initializer_list<absl::string_view> outcomes) {
  if (!a.has_outcome()) return false;
  const std::string outcome = absl::AsciiStrToLower(a.outcome());
  for (absl::string_view o : outcomes) {
    if (outcome == o) return true;
  }
  return false;
}

// Activities that did not (or not yet) happen say nothing about engagement.
bool Happened(const v1::Activity& a, const Timestamp& now) {
  if (!a.has_at() || a.at() > now) return false;
  return !OutcomeIn(a, {"no_show", "canceled", "cancelled", "scheduled", "planned"});
}

// A meeting or call that reached the person: "met" for a contact.
bool Met(const v1::Activity& a, const Timestamp& now) {
  if (!Happened(a, now)) return false;
  const std::string type = absl::AsciiStrToLower(a.type());
  if (type != "meeting" && type != "call") return false;
  return !OutcomeIn(a, {"busy", "failed", "no_answer", "queued", "ringing", "in_progress",
                        "calling_crm_user", "rescheduled", "left_voicemail", "left_live_message"});
}

void KeepLatest(const Timestamp& t, bool* have, Timestamp* best) {
  if (!*have || t > *best) {
    *best = t;
    *have = true;
  }
}

void DeriveContactMeetings(v1::Opportunity* opp, const Timestamp& now) {
  if (opp->contacts_size() == 0) return;
  // Which activities are meetings held, decided once per activity rather than once per
  // (contact, activity) pair: Met lower-cases the type and outcome each time.
  std::vector<const v1::Activity*> met;
  for (const v1::Activity& a : opp->activities()) {
    if (Met(a, now)) met.push_back(&a);
  }
  if (met.empty()) return;
  for (v1::Contact& c : *opp->mutable_contacts()) {
    if (c.id().empty()) continue;
    for (const v1::Activity* a : met) {
      if (std::find(a->participant_ids().begin(), a->participant_ids().end(), c.id()) ==
          a->participant_ids().end()) {
        continue;
      }
      if (!c.has_last_met_at() || a->at() > c.last_met_at()) *c.mutable_last_met_at() = a->at();
    }
  }
}

void TidyStageHistory(v1::Opportunity* opp) {
  auto* history = opp->mutable_stage_history();
  std::stable_sort(history->begin(), history->end(),
                   [](const v1::StageChange& a, const v1::StageChange& b) {
                     return a.entered_at() < b.entered_at();
                   });
  google::protobuf::RepeatedPtrField<v1::StageChange> collapsed;
  for (v1::StageChange& change : *history) {
    if (!collapsed.empty() && collapsed.rbegin()->stage() == change.stage()) continue;
    *collapsed.Add() = std::move(change);
  }
  history->Swap(&collapsed);
  // The stage history's last entry is when the deal entered its current stage.
  if (!opp->has_stage_entered_at() && !history->empty() && opp->has_stage()) {
    const v1::StageChange& last = *history->rbegin();
    if (last.stage() == opp->stage() && last.has_entered_at()) {
      *opp->mutable_stage_entered_at() = last.entered_at();
    }
  }
}

void TidyCloseDateHistory(v1::Opportunity* opp) {
  auto* history = opp->mutable_close_date_history();
  const bool snapshots =
      std::any_of(history->begin(), history->end(),
                  [](const v1::CloseDateChange& c) { return !c.has_from_date(); });
  if (!snapshots) return;
  std::stable_sort(history->begin(), history->end(),
                   [](const v1::CloseDateChange& a, const v1::CloseDateChange& b) {
                     return a.changed_at() < b.changed_at();
                   });
  google::protobuf::RepeatedPtrField<v1::CloseDateChange> changes;
  bool have_previous = false;
  Timestamp previous;
  for (v1::CloseDateChange& row : *history) {
    if (row.has_from_date()) {
      // Already a change (a source may mix both shapes).
      previous = row.to_date();
      have_previous = row.has_to_date();
      *changes.Add() = std::move(row);
      continue;
    }
    if (!row.has_to_date()) continue;
    if (have_previous && row.to_date() != previous) {
      v1::CloseDateChange* change = changes.Add();
      *change->mutable_from_date() = previous;
      *change->mutable_to_date() = row.to_date();
      if (row.has_changed_at()) *change->mutable_changed_at() = row.changed_at();
    }
    previous = row.to_date();
    have_previous = true;
  }
  history->Swap(&changes);
}

// "contacts.confirmed_pain" for every presence-tracked field of a non-empty list that no
// element carries.
void SummarizePresence(v1::Opportunity* opp) {
  std::set<std::string> missing(opp->not_recorded().begin(), opp->not_recorded().end());
  const Descriptor* d = opp->GetDescriptor();
  const Reflection* r = opp->GetReflection();
  const bool have_participants =
      std::any_of(opp->activities().begin(), opp->activities().end(),
                  [](const v1::Activity& a) { return a.participant_ids_size() > 0; });
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* list = d->field(i);
    if (!list->is_repeated() || list->is_map() ||
        list->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    const int n = r->FieldSize(*opp, list);
    if (n == 0) continue;
    const Descriptor* element = list->message_type();
    for (int j = 0; j < element->field_count(); ++j) {
      const FieldDescriptor* f = element->field(j);
      if (f->is_repeated() || !f->has_presence()) continue;
      bool carried = false;
      for (int k = 0; k < n && !carried; ++k) {
        const Message& e = r->GetRepeatedMessage(*opp, list, k);
        carried = e.GetReflection()->HasField(e, f);
      }
      // Attendance is recorded on the activities: a contact never met is "never", not
      // "not recorded".
      if (list->name() == "contacts" && f->name() == "last_met_at" && have_participants) {
        carried = true;
      }
      if (!carried) missing.insert(absl::StrCat(list->name(), ".", f->name()));
    }
  }
  opp->clear_not_recorded();
  for (const std::string& m : missing) opp->add_not_recorded(m);
}

}  // namespace

void NormalizeOpportunityAsOf(v1::Opportunity* opp, absl::Time now_time) {
  const Timestamp now = ToProtoTimestamp(now_time);
  DeriveContactMeetings(opp, now);
  bool have_meeting = false, have_activity = false;
  Timestamp meeting, activity;
  for (const v1::Activity& a : opp->activities()) {
    if (!Happened(a, now)) continue;
    KeepLatest(a.at(), &have_activity, &activity);
    if (absl::AsciiStrToLower(a.type()) == "meeting") KeepLatest(a.at(), &have_meeting, &meeting);
  }
  if (!opp->has_last_meeting_at() && have_meeting) *opp->mutable_last_meeting_at() = meeting;
  if (!opp->has_last_activity_at() && have_activity) *opp->mutable_last_activity_at() = activity;
  TidyStageHistory(opp);
  TidyCloseDateHistory(opp);
  SummarizePresence(opp);
  if (opp->source_system().empty()) opp->set_source_system("inline");
}

}  // namespace reference

namespace {

template <typename T>
const T& Pick(std::mt19937& rng, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
}

v1::Opportunity RandomDeal(std::mt19937& rng, int64_t now) {
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  auto around = [&]() {
    return now + std::uniform_int_distribution<int64_t>(-90, 10)(rng) * 86400;
  };
  const std::vector<std::string> types = {"meeting", "Meeting", "MEETING", "call",    "Call",
                                          "email",   "task",    "",        "meeting "};
  const std::vector<std::string> outcomes = {
      "completed",      "no_show",     "No_Show",     "canceled", "CANCELLED",
      "scheduled",      "planned",     "busy",        "failed",   "no_answer",
      "Left_Voicemail", "rescheduled", "in_progress", ""};
  const std::vector<std::string> stages = {"Prospecting", "Qualification", "Proposal",
                                           "Closed Won"};
  v1::Opportunity opp;
  opp.set_id(absl::StrCat("deal-", std::uniform_int_distribution<int>(0, 999)(rng)));
  if (chance(90)) opp.set_stage(Pick(rng, stages));
  if (chance(20)) opp.set_source_system("hubspot");
  if (chance(10)) opp.mutable_last_meeting_at()->set_seconds(around());
  const int contacts = std::uniform_int_distribution<int>(0, 5)(rng);
  for (int i = 0; i < contacts; ++i) {
    v1::Contact* c = opp.add_contacts();
    if (chance(90)) c->set_id(absl::StrCat("c", i));
    if (chance(30)) c->set_confirmed_pain(chance(50));
    if (chance(30)) c->set_title("VP");
    if (chance(20)) c->set_sentiment("positive");
    if (chance(10)) c->mutable_last_met_at()->set_seconds(around());
  }
  const int activities = std::uniform_int_distribution<int>(0, 12)(rng);
  for (int i = 0; i < activities; ++i) {
    v1::Activity* a = opp.add_activities();
    a->set_type(Pick(rng, types));
    if (chance(90)) a->mutable_at()->set_seconds(around());
    if (chance(70)) a->set_outcome(Pick(rng, outcomes));
    for (int c = 0; c < contacts; ++c) {
      if (chance(30)) a->add_participant_ids(absl::StrCat("c", c));
    }
  }
  const int history = std::uniform_int_distribution<int>(0, 6)(rng);
  for (int i = 0; i < history; ++i) {
    v1::StageChange* s = opp.add_stage_history();
    s->set_stage(Pick(rng, stages));
    if (chance(90)) s->mutable_entered_at()->set_seconds(around());
  }
  if (chance(50)) {  // sent in order, as most CRMs do
    std::stable_sort(opp.mutable_stage_history()->begin(), opp.mutable_stage_history()->end(),
                     [](const v1::StageChange& a, const v1::StageChange& b) {
                       return a.entered_at() < b.entered_at();
                     });
  }
  const int closes = std::uniform_int_distribution<int>(0, 4)(rng);
  for (int i = 0; i < closes; ++i) {
    v1::CloseDateChange* c = opp.add_close_date_history();
    if (chance(30)) c->mutable_from_date()->set_seconds(around());
    if (chance(90)) c->mutable_to_date()->set_seconds(around() + 86400 * 30 * (i % 2));
    if (chance(80)) c->mutable_changed_at()->set_seconds(around());
  }
  if (chance(30)) opp.add_artifacts()->set_kind("business_case");
  const std::vector<std::string> recorded = {"contacts.title", "amount", "contacts.confirmed_pain",
                                             "artifacts.customer_validated"};
  const int absent = std::uniform_int_distribution<int>(0, 3)(rng);
  for (int i = 0; i < absent; ++i) opp.add_not_recorded(Pick(rng, recorded));
  return opp;
}

TEST(NormalizeEquivalenceTest, SameOutputAsTheImplementationItReplaced) {
  std::mt19937 rng(20261207);
  const absl::Time now = absl::FromUnixSeconds(1796083200);  // 2026-12-01
  int rewritten_history = 0, merged_not_recorded = 0;
  for (int i = 0; i < 5000; ++i) {
    const v1::Opportunity sent = RandomDeal(rng, absl::ToUnixSeconds(now));
    v1::Opportunity expected = sent;
    reference::NormalizeOpportunityAsOf(&expected, now);
    v1::Opportunity actual = sent;
    NormalizeOpportunityAsOf(&actual, now);
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected, actual))
        << "deal " << i << "\nsent: " << sent.ShortDebugString()
        << "\nexpected: " << expected.ShortDebugString()
        << "\nactual: " << actual.ShortDebugString();
    rewritten_history += expected.stage_history_size() != sent.stage_history_size();
    merged_not_recorded += expected.not_recorded_size() != sent.not_recorded_size();
  }
  // The generator reaches the branches that change the message.
  EXPECT_GT(rewritten_history, 500);
  EXPECT_GT(merged_not_recorded, 500);
}

}  // namespace
}  // namespace dealcoach::engine
