// The compact result of one evaluated deal: what a pipeline snapshot keeps, what the
// pipeline review compares and what a playbook plan diffs (store::CompactResult). One
// function builds it from the engine's answer, so snapshots, reviews and plans can never
// disagree about what "a deal's result" is.
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_PIPELINE_COMPACT_H_
#define DEALCOACH_SIDECAR_PIPELINE_COMPACT_H_

#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "sidecar/store/store.pb.h"

namespace dealcoach::pipeline {

// The compact result of `guidance`, the engine's answer for `opportunity`. Behaviors are
// the ones in the answer: evaluate with a large EvaluateOptions::max_behaviors (see
// kAllBehaviors) so that a snapshot records every behavior that fired, not the top 3.
[[nodiscard]] store::CompactResult CompactResultOf(const v1::Opportunity& opportunity,
                                                   const v1::DealGuidance& guidance);

// max_behaviors for evaluations whose result is compacted.
inline constexpr int kAllBehaviors = 1000;

[[nodiscard]] store::CriterionState CriterionStateOf(v1::CriterionStatus status);

}  // namespace dealcoach::pipeline

#endif  // DEALCOACH_SIDECAR_PIPELINE_COMPACT_H_
