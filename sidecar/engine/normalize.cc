// NormalizeOpportunity: derived fields, filled once at ingestion so that evaluation is a
// pure read of the message.

#include "absl/strings/ascii.h"
#include "google/protobuf/util/time_util.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::engine {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;

// Activities that did not (or not yet) happen say nothing about engagement.
bool Happened(const v1::Activity& a) {
  if (!a.has_at()) return false;
  if (!a.has_outcome()) return true;
  const std::string outcome = absl::AsciiStrToLower(a.outcome());
  return outcome != "no_show" && outcome != "canceled" && outcome != "cancelled" &&
         outcome != "scheduled" && outcome != "planned";
}

void KeepLatest(const Timestamp& t, bool* have, Timestamp* best) {
  if (!*have || t > *best) {
    *best = t;
    *have = true;
  }
}

}  // namespace

void NormalizeOpportunity(v1::Opportunity* opp) {
  bool have_meeting = false, have_activity = false;
  Timestamp meeting, activity;
  for (const v1::Activity& a : opp->activities()) {
    if (!Happened(a)) continue;
    KeepLatest(a.at(), &have_activity, &activity);
    if (absl::AsciiStrToLower(a.type()) == "meeting") KeepLatest(a.at(), &have_meeting, &meeting);
  }
  if (!opp->has_last_meeting_at() && have_meeting) *opp->mutable_last_meeting_at() = meeting;
  if (!opp->has_last_activity_at() && have_activity) *opp->mutable_last_activity_at() = activity;
  // The stage history's last entry is when the deal entered its current stage.
  if (!opp->has_stage_entered_at() && opp->stage_history_size() > 0 && opp->has_stage()) {
    const v1::StageChange& last = opp->stage_history(opp->stage_history_size() - 1);
    if (last.stage() == opp->stage() && last.has_entered_at()) {
      *opp->mutable_stage_entered_at() = last.entered_at();
    }
  }
  if (opp->source_system().empty()) opp->set_source_system("inline");
}

}  // namespace dealcoach::engine
