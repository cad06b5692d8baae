// NormalizeOpportunity: derived fields, filled once at ingestion so that evaluation is a
// pure read of the message.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

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

// Compared without lower-casing a copy: normalization runs on every pushed deal, and a
// copy per activity and test was most of its cost. EqualsIgnoreCase folds ASCII only,
// as AsciiStrToLower does, so the verdicts are the same.
bool OutcomeIn(const v1::Activity& a, std::initializer_list<absl::string_view> outcomes) {
  if (!a.has_outcome()) return false;
  for (absl::string_view o : outcomes) {
    if (absl::EqualsIgnoreCase(a.outcome(), o)) return true;
  }
  return false;
}

// What an activity says about engagement, decided once per activity.
struct ActivityClass {
  // It took place: dated, not in the future, and not a no-show or canceled one.
  bool happened = false;
  // A meeting that took place.
  bool meeting = false;
  // A meeting or call that reached the person: "met" for its participants.
  bool met = false;
};

ActivityClass Classify(const v1::Activity& a, const Timestamp& now) {
  ActivityClass c;
  if (!a.has_at() || a.at() > now) return c;
  if (OutcomeIn(a, {"no_show", "canceled", "cancelled", "scheduled", "planned"})) return c;
  c.happened = true;
  c.meeting = absl::EqualsIgnoreCase(a.type(), "meeting");
  c.met = (c.meeting || absl::EqualsIgnoreCase(a.type(), "call")) &&
          !OutcomeIn(a, {"busy", "failed", "no_answer", "queued", "ringing", "in_progress",
                         "calling_crm_user", "rescheduled", "left_voicemail", "left_live_message"});
  return c;
}

void KeepLatest(const Timestamp& t, bool* have, Timestamp* best) {
  if (!*have || t > *best) {
    *best = t;
    *have = true;
  }
}

// `classes[i]` is Classify of activity i.
void DeriveContactMeetings(v1::Opportunity* opp, const std::vector<ActivityClass>& classes) {
  if (opp->contacts_size() == 0) return;
  std::vector<const v1::Activity*> met;
  for (int i = 0; i < opp->activities_size(); ++i) {
    if (classes[static_cast<size_t>(i)].met) met.push_back(&opp->activities(i));
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
  auto earlier = [](const v1::StageChange& a, const v1::StageChange& b) {
    return a.entered_at() < b.entered_at();
  };
  // CRMs send the history in order; sorting only when it is not spares the sort's buffer.
  if (!std::is_sorted(history->begin(), history->end(), earlier)) {
    std::stable_sort(history->begin(), history->end(), earlier);
  }
  // Consecutive entries of the same stage collapse into the first, in place.
  int kept = 0;
  for (int i = 0; i < history->size(); ++i) {
    if (kept > 0 && history->Get(kept - 1).stage() == history->Get(i).stage()) continue;
    if (kept != i) history->SwapElements(kept, i);
    ++kept;
  }
  if (kept < history->size()) history->DeleteSubrange(kept, history->size() - kept);
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

// One list of the opportunity (contacts, activities, ...) and its element fields that
// track presence, each with the attribute it is recorded as ("contacts.confirmed_pain").
struct PresenceList {
  struct Field {
    const FieldDescriptor* field;
    std::string attribute;
    // Attendance is recorded on the activities: a contact never met is "never", not
    // "not recorded", when any activity names its participants.
    bool known_from_attendance;
  };
  const FieldDescriptor* list;
  std::vector<Field> fields;
};

// Read from the descriptors once: the schema does not change at run time.
const std::vector<PresenceList>& PresenceLists() {
  static const auto* lists = [] {
    auto* out = new std::vector<PresenceList>();
    const Descriptor* d = v1::Opportunity::descriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* list = d->field(i);
      if (!list->is_repeated() || list->is_map() ||
          list->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        continue;
      }
      PresenceList entry{list, {}};
      const Descriptor* element = list->message_type();
      for (int j = 0; j < element->field_count(); ++j) {
        const FieldDescriptor* f = element->field(j);
        if (f->is_repeated() || !f->has_presence()) continue;
        entry.fields.push_back({f, absl::StrCat(list->name(), ".", f->name()),
                                list->name() == "contacts" && f->name() == "last_met_at"});
      }
      if (!entry.fields.empty()) out->push_back(std::move(entry));
    }
    return out;
  }();
  return *lists;
}

// "contacts.confirmed_pain" for every presence-tracked field of a non-empty list that no
// element carries, merged into `not_recorded` (sorted, without duplicates).
void SummarizePresence(v1::Opportunity* opp) {
  const Reflection* r = opp->GetReflection();
  const bool have_participants =
      std::any_of(opp->activities().begin(), opp->activities().end(),
                  [](const v1::Activity& a) { return a.participant_ids_size() > 0; });
  std::vector<const std::string*> absent;
  std::vector<const PresenceList::Field*> open;  // not yet seen on an element
  for (const PresenceList& list : PresenceLists()) {
    const int n = r->FieldSize(*opp, list.list);
    if (n == 0) continue;
    open.clear();
    for (const PresenceList::Field& f : list.fields) {
      if (!(f.known_from_attendance && have_participants)) open.push_back(&f);
    }
    // Element by element, each field until one element carries it.
    const Reflection* er = r->GetRepeatedMessage(*opp, list.list, 0).GetReflection();
    for (int k = 0; k < n && !open.empty(); ++k) {
      const Message& e = r->GetRepeatedMessage(*opp, list.list, k);
      open.erase(
          std::remove_if(open.begin(), open.end(),
                         [&](const PresenceList::Field* f) { return er->HasField(e, f->field); }),
          open.end());
    }
    for (const PresenceList::Field* f : open) absent.push_back(&f->attribute);
  }
  auto* recorded = opp->mutable_not_recorded();
  const bool tidy = std::adjacent_find(recorded->begin(), recorded->end(),
                                       [](const std::string& a, const std::string& b) {
                                         return !(a < b);
                                       }) == recorded->end();
  if (absent.empty() && tidy) return;  // already sorted and unique: nothing to rewrite
  std::vector<std::string> all(recorded->begin(), recorded->end());
  for (const std::string* a : absent) all.push_back(*a);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  recorded->Clear();
  recorded->Reserve(static_cast<int>(all.size()));
  for (std::string& m : all) recorded->Add(std::move(m));
}

}  // namespace

void NormalizeOpportunityAsOf(v1::Opportunity* opp, absl::Time now_time) {
  const Timestamp now = ToProtoTimestamp(now_time);
  std::vector<ActivityClass> classes;
  classes.reserve(static_cast<size_t>(opp->activities_size()));
  for (const v1::Activity& a : opp->activities()) classes.push_back(Classify(a, now));
  DeriveContactMeetings(opp, classes);
  bool have_meeting = false, have_activity = false;
  Timestamp meeting, activity;
  for (int i = 0; i < opp->activities_size(); ++i) {
    const ActivityClass& c = classes[static_cast<size_t>(i)];
    if (!c.happened) continue;
    const v1::Activity& a = opp->activities(i);
    KeepLatest(a.at(), &have_activity, &activity);
    if (c.meeting) KeepLatest(a.at(), &have_meeting, &meeting);
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
