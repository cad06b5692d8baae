// NormalizeOpportunity: derived fields, filled once at ingestion so that evaluation is a
// pure read of the message.

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/time_util.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::engine {
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

void NormalizeOpportunity(v1::Opportunity* opp) { NormalizeOpportunityAsOf(opp, absl::Now()); }

std::string NotRecordedAttribute(absl::string_view field_path) {
  std::string out = "opp";
  const Descriptor* d = v1::Opportunity::descriptor();
  for (absl::string_view part : absl::StrSplit(field_path, '.')) {
    absl::StrAppend(&out, ".", part);
    const FieldDescriptor* f = d == nullptr ? nullptr : d->FindFieldByName(std::string(part));
    d = nullptr;
    if (f != nullptr && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_map()) {
      d = f->message_type();
      // An element field, not the list itself: "opp.contacts[].x".
      if (f->is_repeated()) out += "[]";
    }
  }
  // The list itself ("close_date_history") is the attribute without "[]".
  if (absl::EndsWith(out, "[]")) out.resize(out.size() - 2);
  return out;
}

std::string DescribeMissingAttribute(absl::string_view attribute) {
  absl::string_view a = attribute;
  absl::ConsumePrefix(&a, "opp.");
  const size_t brackets = a.find("[].");
  if (brackets == absl::string_view::npos) return std::string(attribute);
  const std::string list = absl::StrReplaceAll(a.substr(0, brackets), {{"_", " "}});
  const std::string field = absl::StrReplaceAll(a.substr(brackets + 3), {{"_", " "}, {"[].", " "}});
  return absl::StrCat(list, "' ", field);
}

}  // namespace dealcoach::engine
