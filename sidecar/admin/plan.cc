#include "sidecar/admin/plan.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "sidecar/pipeline/compact.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::admin {
namespace {

std::string IdOf(const YAML::Node& item) {
  if (!item.IsMap() || !item["id"] || !item["id"].IsScalar()) return "";
  return item["id"].Scalar();
}

int IndexOf(const std::vector<std::string>& list, absl::string_view id) {
  auto it = std::find(list.begin(), list.end(), id);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}

// One deal's answer under one revision (on the plan's arena). Null `playbook`: an empty
// answer.
const v1::DealGuidance& Answer(const engine::CompiledPlaybook* playbook, const v1::Opportunity& opp,
                               absl::Time now, google::protobuf::Arena* arena) {
  auto* guidance = google::protobuf::Arena::Create<v1::DealGuidance>(arena);
  if (playbook == nullptr) return *guidance;
  engine::EvaluateOptions options;
  options.max_behaviors = pipeline::kAllBehaviors;
  playbook->EvaluateInto(opp, now, options, guidance);
  return *guidance;
}

using Ids = absl::InlinedVector<absl::string_view, 16>;

Ids BehaviorIds(const v1::DealGuidance& g) {
  Ids out;
  for (const v1::Behavior& b : g.next_best_behaviors()) out.push_back(b.rule().id());
  return out;
}

Ids RiskIds(const v1::DealGuidance& g) {
  Ids out;
  for (const v1::Risk& r : g.risks()) out.push_back(r.rule().id());
  return out;
}

// a \ b and b \ a of two id lists (few entries: sorted views, no string copies). Equal
// lists in the same order, the common case, cost one pass.
void SetDiff(Ids before, Ids after, google::protobuf::RepeatedPtrField<std::string>* added,
             google::protobuf::RepeatedPtrField<std::string>* removed) {
  if (before == after) return;
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  Ids out;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(out));
  for (absl::string_view id : out) added->Add(std::string(id));
  out.clear();
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(out));
  for (absl::string_view id : out) removed->Add(std::string(id));
}

// The criterion state of every criterion the answer evaluated, in gate order.
struct CriterionView {
  absl::string_view id;
  v1::CriterionStatus status;
};
using Criteria = absl::InlinedVector<CriterionView, 24>;

Criteria CriteriaOf(const v1::DealGuidance& g) {
  Criteria out;
  for (const v1::GateResult& gate : g.gates()) {
    for (const v1::CriterionResult& c : gate.criteria()) {
      out.push_back({c.rule().id(), c.status()});
    }
  }
  return out;
}

// Compares one deal's two answers into `change` (on the arena); true when anything
// changed. The answers are compared directly: no compact copy of either.
bool Compare(const v1::DealGuidance& b, const v1::DealGuidance& a, const PlanInput& in,
             v1::PlanDealChange* change) {
  const std::string& phase_before = b.evidence_phase().id();
  const std::string& phase_after = a.evidence_phase().id();
  v1::PlanPhaseMove move = v1::PLAN_PHASE_MOVE_NONE;
  if (phase_after != phase_before) {
    // Positions in each revision's own order (a phase the draft removed has none there).
    const int from =
        in.published_outline == nullptr ? -1 : IndexOf(in.published_outline->phases, phase_before);
    int to = IndexOf(in.draft_outline->phases, phase_after);
    int from_in_draft = IndexOf(in.draft_outline->phases, phase_before);
    if (from_in_draft >= 0 && to >= 0) {
      move = to > from_in_draft ? v1::PLAN_PHASE_MOVE_FORWARD : v1::PLAN_PHASE_MOVE_BACK;
    } else {
      move = to > from ? v1::PLAN_PHASE_MOVE_FORWARD : v1::PLAN_PHASE_MOVE_BACK;
    }
  }
  change->set_phase_move(move);
  // Criteria: a state under the draft that differs from the published one's (absent
  // counts as different: a criterion the draft adds to a gate is "newly unmet"). Both
  // lists are in gate order, so the same position is tried first.
  const Criteria before = CriteriaOf(b);
  const Criteria after = CriteriaOf(a);
  for (size_t i = 0; i < after.size(); ++i) {
    const CriterionView& c = after[i];
    v1::CriterionStatus was = v1::CRITERION_STATUS_UNSPECIFIED;
    if (i < before.size() && before[i].id == c.id) {
      was = before[i].status;
    } else {
      for (const CriterionView& p : before) {
        if (p.id == c.id) {
          was = p.status;
          break;
        }
      }
    }
    if (was == c.status) continue;
    switch (c.status) {
      case v1::CRITERION_STATUS_MET:
        change->add_criteria_newly_met(std::string(c.id));
        break;
      case v1::CRITERION_STATUS_UNMET:
        change->add_criteria_newly_unmet(std::string(c.id));
        break;
      case v1::CRITERION_STATUS_UNKNOWN:
        change->add_criteria_newly_unknown(std::string(c.id));
        break;
      default:
        break;
    }
  }
  SetDiff(BehaviorIds(b), BehaviorIds(a), change->mutable_behaviors_added(),
          change->mutable_behaviors_removed());
  SetDiff(RiskIds(b), RiskIds(a), change->mutable_risks_added(), change->mutable_risks_removed());
  const bool ahead_before = b.has_stage_ahead_of_evidence();
  const bool ahead_after = a.has_stage_ahead_of_evidence();
  v1::PlanStageAheadChange ahead = v1::PLAN_STAGE_AHEAD_CHANGE_NONE;
  if (ahead_after && !ahead_before) ahead = v1::PLAN_STAGE_AHEAD_CHANGE_RAISED;
  if (!ahead_after && ahead_before) ahead = v1::PLAN_STAGE_AHEAD_CHANGE_CLEARED;
  change->set_stage_ahead(ahead);
  const bool changed = move != v1::PLAN_PHASE_MOVE_NONE || change->criteria_newly_met_size() > 0 ||
                       change->criteria_newly_unmet_size() > 0 ||
                       change->criteria_newly_unknown_size() > 0 ||
                       change->behaviors_added_size() > 0 || change->behaviors_removed_size() > 0 ||
                       change->risks_added_size() > 0 || change->risks_removed_size() > 0 ||
                       ahead != v1::PLAN_STAGE_AHEAD_CHANGE_NONE;
  if (changed) {
    change->set_evidence_phase_before(phase_before);
    change->set_evidence_phase_after(phase_after);
  }
  return changed;
}

void Count(const v1::PlanDealChange& c, bool changed, v1::PlanTotals* t) {
  t->set_deals(t->deals() + 1);
  if (!changed) return;
  auto bump = [](int64_t v) { return v + 1; };
  t->set_deals_changed(bump(t->deals_changed()));
  if (c.phase_move() == v1::PLAN_PHASE_MOVE_FORWARD) t->set_phase_forward(bump(t->phase_forward()));
  if (c.phase_move() == v1::PLAN_PHASE_MOVE_BACK) t->set_phase_back(bump(t->phase_back()));
  if (c.criteria_newly_met_size() > 0) t->set_criteria_newly_met(bump(t->criteria_newly_met()));
  if (c.criteria_newly_unmet_size() > 0) {
    t->set_criteria_newly_unmet(bump(t->criteria_newly_unmet()));
  }
  if (c.criteria_newly_unknown_size() > 0) {
    t->set_criteria_newly_unknown(bump(t->criteria_newly_unknown()));
  }
  if (c.behaviors_added_size() > 0) t->set_gain_behavior(bump(t->gain_behavior()));
  if (c.behaviors_removed_size() > 0) t->set_lose_behavior(bump(t->lose_behavior()));
  if (c.risks_added_size() > 0) t->set_gain_risk(bump(t->gain_risk()));
  if (c.risks_removed_size() > 0) t->set_lose_risk(bump(t->lose_risk()));
  if (c.stage_ahead() == v1::PLAN_STAGE_AHEAD_CHANGE_RAISED) {
    t->set_stage_ahead_raised(bump(t->stage_ahead_raised()));
  }
  if (c.stage_ahead() == v1::PLAN_STAGE_AHEAD_CHANGE_CLEARED) {
    t->set_stage_ahead_cleared(bump(t->stage_ahead_cleared()));
  }
}

void StructuralWarnings(const PlanInput& in, const std::vector<int64_t>& deals_in_phase,
                        v1::PlanPlaybookChangeResponse* out) {
  if (in.published_outline == nullptr) return;
  const PlaybookOutline& was = *in.published_outline;
  const PlaybookOutline& now = *in.draft_outline;
  if (!was.name.empty() && was.name != now.name) {
    out->add_warnings(
        absl::StrCat("the draft renames playbook '", was.name, "' to '", now.name, "'"));
  }
  for (const std::string& phase : was.phases) {
    if (IndexOf(now.phases, phase) >= 0) continue;
    const int i = IndexOf(was.phases, phase);
    const int64_t live =
        i >= 0 && static_cast<size_t>(i) < deals_in_phase.size() ? deals_in_phase[i] : 0;
    out->add_warnings(
        live > 0 ? absl::StrCat("the draft removes phase '", phase, "', which ", live,
                                live == 1 ? " live deal is" : " live deals are",
                                " in (by evidence or CRM stage)")
                 : absl::StrCat("the draft removes phase '", phase, "' (no live deal is in it)"));
  }
  const absl::flat_hash_set<std::string> kept(now.rules.begin(), now.rules.end());
  std::vector<std::string> removed;
  for (const std::string& rule : was.rules) {
    if (kept.contains(rule)) continue;
    removed.push_back(rule);
    // A checklist item with the rule's short id mirrors it (the shipped playbooks pair
    // gate criteria and review items that way).
    const std::string short_id = rule.substr(rule.rfind('/') + 1);
    for (const std::string& item : now.checklist_items) {
      if (item.substr(item.rfind('/') + 1) == short_id) {
        out->add_warnings(absl::StrCat("the draft removes rule '", rule,
                                       "', which checklist item '", item, "' references by id"));
      }
    }
  }
  const absl::flat_hash_set<std::string> kept_items(now.checklist_items.begin(),
                                                    now.checklist_items.end());
  for (const std::string& item : was.checklist_items) {
    if (!kept_items.contains(item)) removed.push_back(item);
  }
  if (!removed.empty()) {
    out->add_warnings(absl::StrCat(
        "the draft removes ", removed.size(), removed.size() == 1 ? " rule: " : " rules: ",
        absl::StrJoin(removed, ", "), " (the decision log and past answers name them)"));
  }
}

}  // namespace

absl::StatusOr<PlaybookOutline> OutlineOf(absl::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("playbook YAML does not parse: ", e.what()));
  }
  PlaybookOutline o;
  if (!root.IsMap()) return absl::InvalidArgumentError("playbook YAML is not a mapping");
  YAML::Node metadata = root["metadata"];
  if (metadata.IsMap() && metadata["name"] && metadata["name"].IsScalar()) {
    o.name = metadata["name"].Scalar();
  }
  YAML::Node phases = root["phases"];
  if (phases.IsSequence()) {
    for (const YAML::Node& phase : phases) {
      const std::string id = IdOf(phase);
      if (id.empty()) continue;
      o.phases.push_back(id);
      for (const char* key : {"exit_gate", "behaviors"}) {
        YAML::Node items = phase[key];
        if (!items.IsSequence()) continue;
        for (const YAML::Node& item : items) {
          const std::string rule = IdOf(item);
          if (!rule.empty()) o.rules.push_back(absl::StrCat(id, "/", rule));
        }
      }
    }
  }
  for (const auto& [key, prefix] : {std::pair<const char*, const char*>{"behaviors", "behavior/"},
                                    std::pair<const char*, const char*>{"risks", "risk/"}}) {
    YAML::Node items = root[key];
    if (!items.IsSequence()) continue;
    for (const YAML::Node& item : items) {
      const std::string rule = IdOf(item);
      if (!rule.empty()) o.rules.push_back(absl::StrCat(prefix, rule));
    }
  }
  YAML::Node checklists = root["checklists"];
  if (checklists.IsMap()) {
    for (const auto& kv : checklists) {
      if (!kv.first.IsScalar() || !kv.second.IsSequence()) continue;
      for (const YAML::Node& item : kv.second) {
        const std::string id = IdOf(item);
        if (!id.empty())
          o.checklist_items.push_back(absl::StrCat("checklist/", kv.first.Scalar(), "/", id));
      }
    }
  }
  return o;
}

void ComputePlan(const PlanInput& in, v1::PlanPlaybookChangeResponse* out) {
  v1::PlanTotals* totals = out->mutable_totals();
  struct Group {
    std::string name;
    v1::PlanTotals totals;
  };
  absl::flat_hash_map<std::string, Group> reps;
  absl::flat_hash_map<std::string, Group> teams;
  // Live deals per phase of the published revision (by evidence or CRM stage).
  std::vector<int64_t> deals_in_phase(
      in.published_outline == nullptr ? 0 : in.published_outline->phases.size(), 0);
  // The changed deals kept: the `max_deals` largest (amount, then id), as a heap whose
  // top is the one to drop first; the rest are only counted.
  const size_t keep = static_cast<size_t>(std::max(in.max_deals, 0));
  auto larger_first = [](const v1::PlanDealChange& a, const v1::PlanDealChange& b) {
    if (a.amount() != b.amount()) return a.amount() > b.amount();
    return a.opportunity_id() < b.opportunity_id();
  };
  auto heap_order = [&](const v1::PlanDealChange* a, const v1::PlanDealChange* b) {
    return larger_first(*a, *b);  // the heap's top is the smallest
  };
  std::vector<std::unique_ptr<v1::PlanDealChange>> kept;
  std::vector<v1::PlanDealChange*> heap;
  int64_t changed_deals = 0;
  int64_t unparsable = 0;
  // One arena per batch of deals: the parse, both answers and the comparison are
  // allocated there and freed together (see CompiledPlaybook::EvaluateInto).
  google::protobuf::Arena arena;
  constexpr int kBatch = 64;
  int in_batch = 0;
  for (const auto& [id, bytes] : in.deals) {
    if (++in_batch == kBatch) {
      arena.Reset();
      in_batch = 0;
    }
    auto* opp = google::protobuf::Arena::Create<v1::Opportunity>(&arena);
    if (!opp->ParseFromString(bytes)) {
      ++unparsable;
      continue;
    }
    const v1::DealGuidance& before = Answer(in.published, *opp, in.now, &arena);
    const v1::DealGuidance& after = Answer(in.draft, *opp, in.now, &arena);
    if (in.published != nullptr) {
      const int e = IndexOf(in.published_outline->phases, before.evidence_phase().id());
      if (e >= 0) ++deals_in_phase[e];
      if (before.has_claimed_phase() &&
          before.claimed_phase().id() != before.evidence_phase().id()) {
        const int c = IndexOf(in.published_outline->phases, before.claimed_phase().id());
        if (c >= 0) ++deals_in_phase[c];
      }
    }
    auto* change = google::protobuf::Arena::Create<v1::PlanDealChange>(&arena);
    const bool differs = Compare(before, after, in, change);
    Count(*change, differs, totals);
    Group& rep = reps[opp->owner().id()];
    if (rep.name.empty()) rep.name = opp->owner().name();
    Count(*change, differs, &rep.totals);
    Count(*change, differs, &teams[opp->owner().team()].totals);
    // (Count on an unchanged deal only bumps `deals`.)
    if (!differs) continue;
    ++changed_deals;
    if (keep == 0) continue;
    change->set_opportunity_id(id);
    change->set_amount(opp->amount());
    if (heap.size() == keep) {
      if (!larger_first(*change, *heap.front())) continue;
      std::pop_heap(heap.begin(), heap.end(), heap_order);
      v1::PlanDealChange* reuse = heap.back();
      heap.pop_back();
      *reuse = *change;
      change = reuse;
    } else {
      kept.push_back(std::make_unique<v1::PlanDealChange>(*change));
      change = kept.back().get();
    }
    change->set_opportunity_name(opp->name());
    change->set_owner_id(opp->owner().id());
    change->set_owner_name(opp->owner().name());
    change->set_team(opp->owner().team());
    heap.push_back(change);
    std::push_heap(heap.begin(), heap.end(), heap_order);
  }
  std::sort(heap.begin(), heap.end(), heap_order);
  for (v1::PlanDealChange* c : heap) *out->add_deals() = std::move(*c);
  out->set_more_deals(changed_deals - static_cast<int64_t>(heap.size()));
  auto emit = [](absl::flat_hash_map<std::string, Group>& groups, bool with_name,
                 google::protobuf::RepeatedPtrField<v1::PlanRollup>* rollups) {
    for (auto& [key, group] : groups) {
      v1::PlanRollup* r = rollups->Add();
      r->set_key(key);
      if (with_name) r->set_name(group.name);
      *r->mutable_totals() = std::move(group.totals);
    }
    std::sort(rollups->begin(), rollups->end(),
              [](const v1::PlanRollup& a, const v1::PlanRollup& b) {
                if (a.totals().deals_changed() != b.totals().deals_changed()) {
                  return a.totals().deals_changed() > b.totals().deals_changed();
                }
                return a.key() < b.key();
              });
  };
  emit(reps, true, out->mutable_reps());
  emit(teams, false, out->mutable_teams());
  StructuralWarnings(in, deals_in_phase, out);
  if (unparsable > 0) {
    out->add_warnings(absl::StrCat(unparsable, " cached deals could not be read and were skipped"));
  }
  out->set_summary(SummaryLine(*totals));
}

std::string SummaryLine(const v1::PlanTotals& t) {
  auto deals = [](int64_t n) { return absl::StrCat(n, n == 1 ? " deal" : " deals"); };
  std::string s =
      absl::StrCat("plan: ", deals(t.phase_forward() + t.phase_back()), " change phase (",
                   t.phase_forward(), " forward, ", t.phase_back(), " back)");
  auto part = [&s](int64_t n, absl::string_view what) {
    if (n > 0) absl::StrAppend(&s, ", ", n, " ", what);
  };
  part(t.gain_behavior(), "gain a behavior");
  part(t.lose_behavior(), "lose a behavior");
  part(t.gain_risk(), "gain a risk");
  part(t.lose_risk(), "lose a risk");
  part(t.criteria_newly_unmet(), "newly fail a criterion");
  part(t.criteria_newly_met(), "newly meet a criterion");
  part(t.criteria_newly_unknown(), "newly lack data for a criterion");
  part(t.stage_ahead_raised(), "newly show stage ahead of evidence");
  part(t.stage_ahead_cleared(), "no longer show stage ahead of evidence");
  absl::StrAppend(&s, "; ", t.deals_changed(), " of ", deals(t.deals()), " change");
  return s;
}

namespace {

std::string MoveName(v1::PlanPhaseMove move) {
  switch (move) {
    case v1::PLAN_PHASE_MOVE_FORWARD:
      return "forward";
    case v1::PLAN_PHASE_MOVE_BACK:
      return "back";
    default:
      return "";
  }
}

void AppendList(std::string* s, absl::string_view label,
                const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (ids.empty()) return;
  absl::StrAppend(s, "      ", label, ": ", absl::StrJoin(ids, ", "), "\n");
}

}  // namespace

std::string FormatPlan(const v1::PlanPlaybookChangeResponse& plan) {
  std::string s;
  if (!plan.valid()) {
    absl::StrAppend(&s, "plan: the draft does not compile; nothing was saved\n");
    for (const v1::Diagnostic& d : plan.diagnostics()) {
      absl::StrAppend(&s, engine::FormatDiagnostic(d), "\n");
    }
    return s;
  }
  for (const v1::Diagnostic& d : plan.diagnostics()) {
    absl::StrAppend(&s, engine::FormatDiagnostic(d), "\n");
  }
  absl::StrAppend(&s, "draft ", plan.draft().name(), " v", plan.draft().version(), " (",
                  plan.draft_hash().substr(0, 19), ")");
  if (plan.published_revision() > 0) {
    absl::StrAppend(&s, " against published revision ", plan.published_revision(), " (v",
                    plan.published().version(), ")");
  } else if (!plan.published().name().empty()) {
    absl::StrAppend(&s, " against the serving file version (v", plan.published().version(), ")");
  } else {
    absl::StrAppend(&s, " (no published revision)");
  }
  absl::StrAppend(
      &s, "\nsnapshot: ", plan.totals().deals(), " cached deals at ",
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                       absl::FromUnixSeconds(plan.snapshot_time().seconds()), absl::UTCTimeZone()),
      "\n");
  for (const std::string& w : plan.warnings()) absl::StrAppend(&s, "warning: ", w, "\n");
  absl::StrAppend(&s, "\n");
  for (const v1::PlanDealChange& d : plan.deals()) {
    absl::StrAppend(&s, "  ", d.opportunity_id(), "  ", d.opportunity_name(), " (",
                    d.owner_name().empty() ? d.owner_id() : d.owner_name(),
                    absl::StrFormat(", %.0f)", d.amount()), "\n");
    if (d.phase_move() == v1::PLAN_PHASE_MOVE_FORWARD ||
        d.phase_move() == v1::PLAN_PHASE_MOVE_BACK) {
      absl::StrAppend(&s, "      phase ", MoveName(d.phase_move()), ": ", d.evidence_phase_before(),
                      " -> ", d.evidence_phase_after(), "\n");
    }
    AppendList(&s, "newly met", d.criteria_newly_met());
    AppendList(&s, "newly unmet", d.criteria_newly_unmet());
    AppendList(&s, "newly unknown", d.criteria_newly_unknown());
    AppendList(&s, "+behavior", d.behaviors_added());
    AppendList(&s, "-behavior", d.behaviors_removed());
    AppendList(&s, "+risk", d.risks_added());
    AppendList(&s, "-risk", d.risks_removed());
    if (d.stage_ahead() == v1::PLAN_STAGE_AHEAD_CHANGE_RAISED) {
      absl::StrAppend(&s, "      stage ahead of evidence: raised\n");
    } else if (d.stage_ahead() == v1::PLAN_STAGE_AHEAD_CHANGE_CLEARED) {
      absl::StrAppend(&s, "      stage ahead of evidence: cleared\n");
    }
  }
  if (plan.more_deals() > 0) absl::StrAppend(&s, "  ... and ", plan.more_deals(), " more deals\n");
  auto rollups = [&s](absl::string_view title,
                      const google::protobuf::RepeatedPtrField<v1::PlanRollup>& list) {
    bool header = false;
    for (const v1::PlanRollup& r : list) {
      if (r.totals().deals_changed() == 0) continue;
      if (!header) absl::StrAppend(&s, "\n", title, "\n");
      header = true;
      const v1::PlanTotals& t = r.totals();
      absl::StrAppend(
          &s, "  ", r.name().empty() ? (r.key().empty() ? "(none)" : r.key()) : r.name(), ": ",
          t.deals_changed(), " of ", t.deals(), " deals change (", t.phase_forward(), " forward, ",
          t.phase_back(), " back, ", t.gain_behavior(), " gain / ", t.lose_behavior(),
          " lose a behavior, ", t.gain_risk(), " gain / ", t.lose_risk(), " lose a risk)\n");
    }
  };
  rollups("by rep", plan.reps());
  rollups("by team", plan.teams());
  absl::StrAppend(&s, "\n", plan.summary(), "\n");
  if (!plan.plan_id().empty()) {
    absl::StrAppend(&s, "saved as plan ", plan.plan_id(), " (draft revision ",
                    plan.draft_revision(), "); publish it with: dealcoach publish --plan ",
                    plan.plan_id(), " --message MESSAGE\n");
  }
  return s;
}

}  // namespace dealcoach::admin
