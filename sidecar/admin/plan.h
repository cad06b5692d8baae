// The admin's plan: what a draft playbook would change on the live pipeline, against
// the published revision, over one pinned snapshot of the cached deals (Terraform's
// `plan`). Both revisions evaluate every deal at the snapshot's time; each deal's two
// answers are reduced to pipeline::CompactResultOf (the same per-deal result as the
// store's snapshots and the manager's pipeline review) plus the stage-ahead warning, and
// compared: evidence phase moved forward or back, criteria newly met / unmet / unknown,
// behaviors and risks appearing or disappearing, the warning raised or cleared. Counts
// roll up over all deals, per rep (owner id) and per team.
//
// Structural warnings come from the two YAML outlines (PlaybookOutline): a rename, a
// removed phase that live deals are in, a removed rule that a checklist item shares its
// id with, and the rules removed.
//
// Cost: one parse of each deal plus two evaluations; bench/admin/plan_bench.cc measures
// it against one evaluation pass.
//
// Thread safety: pure functions over immutable inputs.
#ifndef DEALCOACH_SIDECAR_ADMIN_PLAN_H_
#define DEALCOACH_SIDECAR_ADMIN_PLAN_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::admin {

// The structure of a playbook's YAML that the engine's answers do not show: phase order
// and every rule id (as the engine names them: "<phase>/<id>", "behavior/<id>",
// "risk/<id>", "checklist/<name>/<id>").
struct PlaybookOutline {
  std::string name;
  std::vector<std::string> phases;           // in order
  std::vector<std::string> rules;            // criteria, behaviors, risks
  std::vector<std::string> checklist_items;  // "checklist/<name>/<id>"
};

// The outline of playbook YAML that compiled (InvalidArgument if it does not parse).
[[nodiscard]] absl::StatusOr<PlaybookOutline> OutlineOf(absl::string_view yaml);

struct PlanInput {
  // The published revision; null when the playbook has none (every deal then compares
  // against an empty result).
  const engine::CompiledPlaybook* published = nullptr;
  const PlaybookOutline* published_outline = nullptr;  // null with `published`
  // The draft (compiled) and its outline. Required.
  const engine::CompiledPlaybook* draft = nullptr;
  const PlaybookOutline* draft_outline = nullptr;
  // The pinned deals: (id, serialized normalised v1::Opportunity), as
  // source::CacheSnapshot holds them.
  absl::Span<const std::pair<std::string, std::string>> deals;
  // Evaluation time of both revisions (the snapshot's time).
  absl::Time now;
  // Most per-deal changes kept (largest amount first); the totals count all.
  int max_deals = 1000;
};

// Fills `out`'s totals, deals, more_deals, reps, teams, summary and warnings (appended).
// Deals whose bytes do not parse are skipped and counted in one warning.
void ComputePlan(const PlanInput& input, v1::PlanPlaybookChangeResponse* out);

// "plan: 37 deals change phase (12 forward, 25 back), 140 gain a behavior, 9 lose a risk"
// (parts with a zero count after the phase part are left out).
[[nodiscard]] std::string SummaryLine(const v1::PlanTotals& totals);

// The plan as an admin reads it in a terminal (`dealcoach plan`).
[[nodiscard]] std::string FormatPlan(const v1::PlanPlaybookChangeResponse& plan);

}  // namespace dealcoach::admin

#endif  // DEALCOACH_SIDECAR_ADMIN_PLAN_H_
