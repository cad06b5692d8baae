// The playbook as the manager's tools see it (sidecar/pipeline): its phases, the rules
// a recurring gap can name (criteria and behaviors with their questions, hints and
// content), and its leading indicators (`indicators:`), plus the evaluation of those
// indicators for one deal. Per-deal answers come from CompiledPlaybook::Evaluate; this
// adds what a pipeline review and a 1:1 agenda need on top, without changing that
// contract (engine.h).
//
// Thread safety: the outline is immutable and built once per compiled playbook;
// EvaluateIndicators is const and lock-free like Evaluate.
#ifndef DEALCOACH_SIDECAR_ENGINE_OUTLINE_H_
#define DEALCOACH_SIDECAR_ENGINE_OUTLINE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "sidecar/engine/engine.h"
#include "sidecar/expr/expr.h"

namespace dealcoach::engine {

// A criterion or behavior a recurring gap can name.
struct OutlineRule {
  std::string id;  // "evaluation/economic-buyer-met", "behavior/book-next-meeting"
  enum class Kind { kCriterion, kBehavior } kind = Kind::kCriterion;
  std::string text;      // criterion text or behavior prompt
  std::string hint;      // criterion hint or behavior `why`
  std::string phase_id;  // "" for global behaviors
  std::string role;      // behaviors only
  std::vector<v1::ContentLink> content;
  // True when the condition reads only the deal's outcome (opp.is_won, opp.is_closed):
  // "the customer has signed" is a result, not a behavior to coach.
  bool outcome_only = false;
};

struct OutlineIndicator {
  std::string id;  // "indicator/<id>"
  std::string name;
  std::string description;
  std::vector<std::string> phase_ids;  // empty = every phase
  double target = 0;                   // 0 = none
};

struct PlaybookOutline {
  std::vector<v1::PhaseRef> phases;
  // Per phase id: its coaching questions.
  absl::flat_hash_map<std::string, std::vector<std::string>> questions;
  // Per phase id: every content link of the playbook's library tagged with the phase.
  absl::flat_hash_map<std::string, std::vector<v1::ContentLink>> content;
  std::vector<OutlineRule> rules;
  absl::flat_hash_map<std::string, int> rule_index;  // id -> index in rules
  std::vector<OutlineIndicator> indicators;
  // Declared custom fields, for compiling request-time filters over `opp`.
  std::vector<std::pair<std::string, expr::FieldType>> fields;

  // Index of a phase id, or -1.
  int PhaseIndex(absl::string_view id) const;
  const OutlineRule* FindRule(absl::string_view id) const;
};

// The outline of `playbook` (built when it loaded). Empty for a CompiledPlaybook that is
// not the engine's own.
const PlaybookOutline& OutlineOf(const CompiledPlaybook& playbook);

// Per indicator of the outline, in order: whether it applies to a deal whose evidence
// phase is `evidence_phase_id` and, if so, whether its condition holds (unknown or an
// error count as not holding: the CRM does not show it).
struct IndicatorOutcome {
  bool applies = false;
  bool met = false;
};
std::vector<IndicatorOutcome> EvaluateIndicators(const CompiledPlaybook& playbook,
                                                 const v1::Opportunity& opportunity, absl::Time now,
                                                 absl::string_view evidence_phase_id);

}  // namespace dealcoach::engine

#endif  // DEALCOACH_SIDECAR_ENGINE_OUTLINE_H_
