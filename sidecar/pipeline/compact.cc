#include "sidecar/pipeline/compact.h"

namespace dealcoach::pipeline {

store::CriterionState CriterionStateOf(v1::CriterionStatus status) {
  switch (status) {
    case v1::CRITERION_STATUS_MET:
      return store::CRITERION_STATE_MET;
    case v1::CRITERION_STATUS_UNMET:
      return store::CRITERION_STATE_UNMET;
    case v1::CRITERION_STATUS_UNKNOWN:
      return store::CRITERION_STATE_UNKNOWN;
    default:
      return store::CRITERION_STATE_UNSPECIFIED;
  }
}

store::CompactResult CompactResultOf(const v1::Opportunity& opportunity,
                                     const v1::DealGuidance& guidance) {
  store::CompactResult r;
  r.set_deal_id(opportunity.id());
  r.set_claimed_phase(guidance.claimed_phase().id());
  r.set_evidence_phase(guidance.evidence_phase().id());
  for (const v1::GateResult& gate : guidance.gates()) {
    for (const v1::CriterionResult& c : gate.criteria()) {
      store::CriterionOutcome* outcome = r.add_criteria();
      outcome->set_id(c.rule().id());
      outcome->set_state(CriterionStateOf(c.status()));
    }
  }
  for (const v1::Behavior& b : guidance.next_best_behaviors()) {
    r.add_fired_behaviors(b.rule().id());
  }
  for (const v1::Risk& k : guidance.risks()) r.add_fired_risks(k.rule().id());
  r.set_amount(opportunity.amount());
  r.set_close_date_unix(opportunity.close_date().seconds());
  r.set_owner(opportunity.owner().id());
  r.set_stage(opportunity.stage());
  return r;
}

}  // namespace dealcoach::pipeline
