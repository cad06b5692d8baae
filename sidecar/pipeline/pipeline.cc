#include "sidecar/pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sidecar/common/time_util.h"
#include "sidecar/oppschema/oppschema.h"
#include "sidecar/pipeline/compact.h"

namespace dealcoach::pipeline {
namespace {

std::string Day(int64_t unix_seconds) {
  if (unix_seconds == 0) return "unset";
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(unix_seconds), absl::UTCTimeZone());
}

int64_t FloorDay(int64_t unix_seconds) {
  return unix_seconds >= 0 ? unix_seconds / 86400 : -((-unix_seconds + 86399) / 86400);
}

std::string Money(double amount) {
  std::string digits = absl::StrFormat("%.0f", std::fabs(amount));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return amount < 0 ? "-" + out : out;
}

v1::DealChange Change(v1::ChangeKind kind, std::string detail, std::string before = "",
                      std::string after = "") {
  v1::DealChange c;
  c.set_kind(kind);
  c.set_detail(std::move(detail));
  c.set_before(std::move(before));
  c.set_after(std::move(after));
  return c;
}

int SeverityRank(v1::RiskSeverity s) { return static_cast<int>(s); }

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list, absl::string_view id) {
  return std::find(list.begin(), list.end(), id) != list.end();
}

}  // namespace

absl::Status ValidateScope(const v1::PipelineScope& scope) {
  switch (scope.scope_case()) {
    case v1::PipelineScope::kRepId:
      if (scope.rep_id().empty()) return absl::InvalidArgumentError("scope.rep_id: empty");
      return absl::OkStatus();
    case v1::PipelineScope::kManagerId:
      if (scope.manager_id().empty()) return absl::InvalidArgumentError("scope.manager_id: empty");
      return absl::OkStatus();
    case v1::PipelineScope::kTeam:
      if (scope.team().empty()) return absl::InvalidArgumentError("scope.team: empty");
      return absl::OkStatus();
    case v1::PipelineScope::kAll:
      if (!scope.all()) return absl::InvalidArgumentError("scope.all: must be true when set");
      return absl::OkStatus();
    case v1::PipelineScope::SCOPE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("scope: set one of rep_id, manager_id, team or all");
}

std::string DescribeScope(const v1::PipelineScope& scope) {
  switch (scope.scope_case()) {
    case v1::PipelineScope::kRepId:
      return absl::StrCat("rep ", scope.rep_id());
    case v1::PipelineScope::kManagerId:
      return absl::StrCat("manager ", scope.manager_id());
    case v1::PipelineScope::kTeam:
      return absl::StrCat("team ", scope.team());
    default:
      return "all deals";
  }
}

bool InScope(const v1::PipelineScope& scope, const v1::Owner& owner) {
  switch (scope.scope_case()) {
    case v1::PipelineScope::kRepId:
      return owner.id() == scope.rep_id();
    case v1::PipelineScope::kManagerId:
      return owner.manager_id() == scope.manager_id();
    case v1::PipelineScope::kTeam:
      return owner.team() == scope.team();
    case v1::PipelineScope::kAll:
      return true;
    default:
      return false;
  }
}

bool InScope(const v1::PipelineScope& scope, const store::CompactResult& result) {
  v1::Owner owner;
  owner.set_id(result.owner());
  owner.set_manager_id(result.manager_id());
  owner.set_team(result.team());
  return InScope(scope, owner);
}

absl::StatusOr<std::unique_ptr<const expr::Program>> CompileFilter(
    absl::string_view source, const engine::CompiledPlaybook& playbook) {
  if (source.empty()) return std::unique_ptr<const expr::Program>();
  expr::Environment env = oppschema::OpportunityEnvironment();
  for (const auto& [name, type] : engine::OutlineOf(playbook).fields) {
    env.DeclareCustomField(name, type);
  }
  expr::CompileResult compiled = expr::Compile(source, env);
  if (!compiled.ok()) {
    std::vector<std::string> issues;
    for (const expr::Issue& issue : compiled.issues) {
      issues.push_back(absl::StrCat("filter:", issue.line, ":", issue.column, ": ", issue.message));
    }
    if (issues.empty()) issues.push_back("filter:1:1: does not compile");
    return absl::InvalidArgumentError(absl::StrJoin(issues, "; "));
  }
  if (!compiled.program->returns_bool()) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter:1:1: must be a condition (bool), but this expression has type ",
                     compiled.program->result_type()));
  }
  return std::move(compiled.program);
}

DealOutcome EvaluateDeal(const PassOptions& options, const v1::Opportunity& opp,
                         v1::DealGuidance* scratch, v1::DealResult* result, std::string* reason,
                         TopRisk* top_risk) {
  if (!InScope(options.scope, opp.owner())) return DealOutcome::kSkipped;
  const bool closed = opp.has_is_closed() && opp.is_closed();
  if (closed && !options.include_closed) return DealOutcome::kSkipped;
  if (options.filter != nullptr) {
    expr::Activation activation;
    activation.SetMessage("opp", &opp);
    activation.SetTimestamp("now", options.now);
    expr::Condition c = expr::EvaluateCondition(*options.filter, activation);
    if (c.truth == expr::Truth::kError) {
      *reason = absl::StrCat("filter: ", c.error);
      return DealOutcome::kNotEvaluated;
    }
    // Unknown (the filter reads a field the CRM did not record) does not match.
    if (c.truth != expr::Truth::kTrue) return DealOutcome::kSkipped;
  }
  engine::EvaluateOptions eval;
  eval.max_behaviors = kAllBehaviors;
  options.playbook->EvaluateInto(opp, options.now, eval, scratch);
  const v1::DealGuidance& g = *scratch;
  result->Clear();
  result->set_opportunity_id(opp.id());
  result->set_name(opp.name());
  *result->mutable_owner() = opp.owner();
  result->set_stage(opp.stage());
  if (g.has_claimed_phase()) *result->mutable_claimed_phase() = g.claimed_phase();
  *result->mutable_evidence_phase() = g.evidence_phase();
  result->set_stage_ahead_of_evidence(g.has_stage_ahead_of_evidence());
  for (const v1::GateResult& gate : g.gates()) {
    for (const v1::CriterionResult& c : gate.criteria()) {
      v1::CriterionOutcome* o = result->add_criteria();
      o->set_id(c.rule().id());
      o->set_status(c.status());
    }
  }
  for (const v1::Behavior& b : g.next_best_behaviors()) result->add_fired_behaviors(b.rule().id());
  const v1::Risk* worst = nullptr;
  for (const v1::Risk& r : g.risks()) {
    result->add_fired_risks(r.rule().id());
    if (worst == nullptr || SeverityRank(r.severity()) > SeverityRank(worst->severity())) {
      worst = &r;
    }
  }
  if (top_risk != nullptr) {
    *top_risk = worst == nullptr ? TopRisk{} : TopRisk{worst->rule().id(), worst->text()};
  }
  result->set_amount(opp.amount());
  result->set_currency_code(opp.currency_code());
  if (opp.has_close_date()) *result->mutable_close_date() = opp.close_date();
  result->set_is_closed(closed);
  result->set_is_won(opp.has_is_won() && opp.is_won());
  const engine::PlaybookOutline& outline = engine::OutlineOf(*options.playbook);
  std::vector<engine::IndicatorOutcome> indicators =
      engine::EvaluateIndicators(*options.playbook, opp, options.now, g.evidence_phase().id());
  for (size_t i = 0; i < indicators.size() && i < outline.indicators.size(); ++i) {
    if (!indicators[i].applies) continue;
    result->add_applicable_indicators(outline.indicators[i].id);
    if (indicators[i].met) result->add_met_indicators(outline.indicators[i].id);
  }
  return DealOutcome::kEvaluated;
}

store::CompactResult CompactOf(const v1::DealResult& d) {
  store::CompactResult r;
  r.set_deal_id(d.opportunity_id());
  r.set_claimed_phase(d.claimed_phase().id());
  r.set_evidence_phase(d.evidence_phase().id());
  for (const v1::CriterionOutcome& c : d.criteria()) {
    store::CriterionOutcome* o = r.add_criteria();
    o->set_id(c.id());
    o->set_state(CriterionStateOf(c.status()));
  }
  for (const std::string& b : d.fired_behaviors()) r.add_fired_behaviors(b);
  for (const std::string& k : d.fired_risks()) r.add_fired_risks(k);
  r.set_amount(d.amount());
  r.set_close_date_unix(d.close_date().seconds());
  r.set_owner(d.owner().id());
  r.set_stage(d.stage());
  r.set_manager_id(d.owner().manager_id());
  r.set_team(d.owner().team());
  r.set_closed(d.is_closed());
  r.set_won(d.is_won());
  for (const std::string& i : d.met_indicators()) r.add_met_indicators(i);
  r.set_name(d.name());
  return r;
}

bool GateMet(const engine::PlaybookOutline& outline, const store::CompactResult& result,
             absl::string_view phase_id) {
  int criteria = 0;
  for (const engine::OutlineRule& rule : outline.rules) {
    if (rule.kind != engine::OutlineRule::Kind::kCriterion || rule.phase_id != phase_id) continue;
    ++criteria;
    bool met = false;
    for (const store::CriterionOutcome& c : result.criteria()) {
      if (c.id() == rule.id) met = c.state() == store::CRITERION_STATE_MET;
    }
    if (!met) return false;
  }
  return criteria > 0;
}

namespace {

// The fields DiffDeal reads, from a snapshot's CompactResult or a live DealResult (so a
// review diffs its deals without building their compact form).
bool Closed(const store::CompactResult& r) { return r.closed(); }
bool Closed(const v1::DealResult& d) { return d.is_closed(); }
bool Won(const store::CompactResult& r) { return r.won(); }
bool Won(const v1::DealResult& d) { return d.is_won(); }
int64_t CloseUnix(const store::CompactResult& r) { return r.close_date_unix(); }
int64_t CloseUnix(const v1::DealResult& d) { return d.close_date().seconds(); }
const std::string& Evidence(const store::CompactResult& r) { return r.evidence_phase(); }
const std::string& Evidence(const v1::DealResult& d) { return d.evidence_phase().id(); }
bool Met(const store::CriterionOutcome& c) { return c.state() == store::CRITERION_STATE_MET; }
bool Met(const v1::CriterionOutcome& c) { return c.status() == v1::CRITERION_STATUS_MET; }

// Per phase index: how many criteria its exit gate has.
std::vector<int> GateTotals(const engine::PlaybookOutline& outline) {
  std::vector<int> total(outline.phases.size(), 0);
  for (const engine::OutlineRule& rule : outline.rules) {
    if (rule.kind != engine::OutlineRule::Kind::kCriterion) continue;
    const int i = outline.PhaseIndex(rule.phase_id);
    if (i >= 0) ++total[i];
  }
  return total;
}

// Per phase index: how many of `r`'s criteria ("<phase>/<id>") are met.
template <typename Result>
void CountMet(const engine::PlaybookOutline& outline, const Result& r, std::vector<int>* met) {
  met->assign(outline.phases.size(), 0);
  for (const auto& c : r.criteria()) {
    if (!Met(c)) continue;
    const size_t slash = c.id().find('/');
    if (slash == std::string::npos) continue;
    const int i = outline.PhaseIndex(absl::string_view(c.id()).substr(0, slash));
    if (i >= 0) ++(*met)[i];
  }
}

template <typename After>
std::vector<v1::DealChange> DiffImpl(const engine::PlaybookOutline& outline,
                                     const std::vector<int>& gate_totals,
                                     const store::CompactResult* before, const After& after) {
  std::vector<v1::DealChange> out;
  if (before == nullptr) {
    out.push_back(Change(v1::CHANGE_KIND_NEW, "new in the pipeline", "", after.stage()));
    return out;
  }
  if (Closed(after) && !before->closed()) {
    out.push_back(
        Won(after) ? Change(v1::CHANGE_KIND_WON, "closed won", before->stage(), after.stage())
                   : Change(v1::CHANGE_KIND_LOST, "closed lost", before->stage(), after.stage()));
  }
  // Close dates are days: compared by UTC calendar day, so two loads of rebased samples
  // (or a CRM that stores a time of day) do not look like a move.
  const int64_t close_after = CloseUnix(after);
  const int64_t day_before = FloorDay(before->close_date_unix());
  const int64_t day_after = FloorDay(close_after);
  if (before->close_date_unix() != 0 && close_after != 0 && day_before != day_after) {
    const bool pushed = day_after > day_before;
    const int64_t days = std::llabs(day_after - day_before);
    out.push_back(
        Change(pushed ? v1::CHANGE_KIND_PUSHED_OUT : v1::CHANGE_KIND_PULLED_IN,
               absl::StrCat("close date ", pushed ? "pushed out " : "pulled in ", days,
                            " days: ", Day(before->close_date_unix()), " -> ", Day(close_after)),
               Day(before->close_date_unix()), Day(close_after)));
  }
  if (before->amount() != after.amount()) {
    const bool up = after.amount() > before->amount();
    out.push_back(Change(up ? v1::CHANGE_KIND_AMOUNT_UP : v1::CHANGE_KIND_AMOUNT_DOWN,
                         absl::StrCat("amount ", up ? "up" : "down", ": ", Money(before->amount()),
                                      " -> ", Money(after.amount())),
                         Money(before->amount()), Money(after.amount())));
  }
  if (before->stage() != after.stage()) {
    out.push_back(Change(v1::CHANGE_KIND_STAGE_MOVED,
                         absl::StrCat("stage ", before->stage(), " -> ", after.stage()),
                         before->stage(), after.stage()));
  }
  const int was = outline.PhaseIndex(before->evidence_phase());
  const int is = outline.PhaseIndex(Evidence(after));
  if (was >= 0 && is >= 0 && was != is) {
    out.push_back(
        Change(is > was ? v1::CHANGE_KIND_EVIDENCE_ADVANCED : v1::CHANGE_KIND_EVIDENCE_REGRESSED,
               absl::StrCat("evidence ", is > was ? "advanced" : "regressed", ": ",
                            outline.phases[was].name(), " -> ", outline.phases[is].name()),
               before->evidence_phase(), Evidence(after)));
  }
  // Gate status per phase from one scan of each result's criteria.
  thread_local std::vector<int> met_before;
  thread_local std::vector<int> met_after;
  CountMet(outline, *before, &met_before);
  CountMet(outline, after, &met_after);
  for (size_t p = 0; p < outline.phases.size() && p < gate_totals.size(); ++p) {
    if (gate_totals[p] == 0) continue;
    const bool was_met = met_before[p] == gate_totals[p];
    const bool met_now = met_after[p] == gate_totals[p];
    if (was_met == met_now) continue;
    const v1::PhaseRef& phase = outline.phases[p];
    v1::DealChange c =
        Change(met_now ? v1::CHANGE_KIND_GATE_NEWLY_MET : v1::CHANGE_KIND_GATE_NEWLY_OPEN,
               absl::StrCat(phase.name(), " gate ", met_now ? "newly met" : "open again"),
               was_met ? "met" : "open", met_now ? "met" : "open");
    c.set_phase_id(phase.id());
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::vector<v1::DealChange> DiffDeal(const engine::PlaybookOutline& outline,
                                     const store::CompactResult* before,
                                     const store::CompactResult& after) {
  return DiffImpl(outline, GateTotals(outline), before, after);
}

double AttentionScore(int phases_ahead, double amount, double max_amount, absl::Time close_date,
                      absl::Time now) {
  if (phases_ahead <= 0) return 0;
  const double weight = max_amount > 0 ? std::max(0.0, amount) / max_amount : 1.0;
  double urgency = 1.0;
  if (close_date != absl::UnixEpoch()) {
    const double days = absl::ToDoubleHours(close_date - now) / 24.0;
    if (days > 30) urgency = 30.0 / days;
  }
  return phases_ahead * weight * urgency;
}

ReviewBuilder::ReviewBuilder(const engine::CompiledPlaybook& playbook, absl::Time now)
    : playbook_(playbook),
      outline_(engine::OutlineOf(playbook)),
      now_(now),
      gate_totals_(GateTotals(outline_)) {}

uint64_t ReviewBuilder::IndicatorBits(
    const google::protobuf::RepeatedPtrField<std::string>& ids) const {
  uint64_t bits = 0;
  for (const std::string& id : ids) {
    for (size_t i = 0; i < outline_.indicators.size() && i < kMaxIndicatorBits; ++i) {
      if (outline_.indicators[i].id == id) bits |= uint64_t{1} << i;
    }
  }
  return bits;
}

void ReviewBuilder::SetPrevious(absl::flat_hash_map<std::string, store::CompactResult> previous) {
  previous_ = std::move(previous);
  has_previous_ = true;
  // Once per compared result: whether each indicator applied (by its evidence phase) and
  // held, as bits, so the roll-ups (per rep and for the scope) compare no strings.
  previous_rows_.clear();
  previous_rows_.reserve(previous_.size());
  for (const auto& [id, p] : previous_) {
    PreviousRow row;
    row.result = &p;
    const int phase = outline_.PhaseIndex(p.evidence_phase());
    for (size_t i = 0; i < outline_.indicators.size() && i < kMaxIndicatorBits; ++i) {
      const engine::OutlineIndicator& ind = outline_.indicators[i];
      const bool applies = ind.phase_ids.empty() ||
                           (phase >= 0 && std::find(ind.phase_ids.begin(), ind.phase_ids.end(),
                                                    p.evidence_phase()) != ind.phase_ids.end());
      if (applies) row.applicable |= uint64_t{1} << i;
    }
    row.met = IndicatorBits(p.met_indicators()) & row.applicable;
    previous_rows_.push_back(row);
  }
}

void ReviewBuilder::Add(v1::DealResult deal, TopRisk top_risk) {
  bits_.push_back(
      {IndicatorBits(deal.applicable_indicators()), IndicatorBits(deal.met_indicators())});
  deals_.push_back(std::move(deal));
  risks_.push_back(std::move(top_risk));
}

void ReviewBuilder::UseShared(std::shared_ptr<const PassResults> pass) {
  shared_ = std::move(pass);
  bits_.clear();
  bits_.reserve(shared_->deals.size());
  for (const v1::DealResult& deal : shared_->deals) {
    bits_.push_back(
        {IndicatorBits(deal.applicable_indicators()), IndicatorBits(deal.met_indicators())});
  }
  not_evaluated_ = shared_->not_evaluated;
}

void ReviewBuilder::UsePass(PassResults pass) {
  for (size_t i = 0; i < pass.deals.size(); ++i) {
    Add(std::move(pass.deals[i]), i < pass.risks.size() ? std::move(pass.risks[i]) : TopRisk{});
  }
  for (v1::NotEvaluated& n : pass.not_evaluated) AddNotEvaluated(std::move(n));
}

void ReviewBuilder::AddNotEvaluated(v1::NotEvaluated item) {
  not_evaluated_.push_back(std::move(item));
}

v1::DealReview ReviewBuilder::ReviewOf(int row) const {
  const v1::DealResult& d = deals()[row];
  v1::DealReview r;
  if (d.stage_ahead_of_evidence()) {
    r.set_phases_ahead(std::max(0, d.claimed_phase().index() - d.evidence_phase().index()));
  }
  for (const v1::CriterionOutcome& c : d.criteria()) {
    if (c.status() != v1::CRITERION_STATUS_MET) *r.add_open_criteria() = c;
  }
  r.set_top_risk(risks()[row].id);
  r.set_top_risk_text(risks()[row].text);
  if (has_previous_) {
    auto it = previous_.find(d.opportunity_id());
    for (v1::DealChange& c :
         DiffImpl(outline_, gate_totals_, it == previous_.end() ? nullptr : &it->second, d)) {
      *r.add_changes() = std::move(c);
    }
  }
  return r;
}

v1::PipelineRollup ReviewBuilder::RollupOf(const std::string& id, const std::string& name,
                                           const std::vector<int>& rows,
                                           const std::vector<int>& previous) const {
  v1::PipelineRollup r;
  r.set_id(id);
  r.set_name(name);
  const size_t phases = outline_.phases.size();
  for (const v1::PhaseRef& p : outline_.phases) {
    *r.add_by_evidence_phase()->mutable_phase() = p;
    *r.add_by_claimed_phase()->mutable_phase() = p;
  }
  struct Count {
    int applicable = 0, met = 0, prev_applicable = 0, prev_met = 0;
    std::vector<int> missing;  // rows
  };
  const size_t indicators = outline_.indicators.size();
  std::vector<Count> counts(indicators);
  std::vector<int64_t> evidence_deals(phases, 0), claimed_deals(phases, 0);
  std::vector<double> evidence_amount(phases, 0), claimed_amount(phases, 0);
  int64_t open_deals = 0, stage_ahead = 0;
  double open_amount = 0;
  for (int row : rows) {
    const v1::DealResult& d = deals()[row];
    ++open_deals;
    open_amount += d.amount();
    const int e = d.evidence_phase().index();
    if (e >= 0 && static_cast<size_t>(e) < phases &&
        outline_.phases[e].id() == d.evidence_phase().id()) {
      ++evidence_deals[e];
      evidence_amount[e] += d.amount();
    } else if (const int i = outline_.PhaseIndex(d.evidence_phase().id()); i >= 0) {
      ++evidence_deals[i];
      evidence_amount[i] += d.amount();
    }
    if (d.has_claimed_phase()) {
      const int c = d.claimed_phase().index();
      if (c >= 0 && static_cast<size_t>(c) < phases &&
          outline_.phases[c].id() == d.claimed_phase().id()) {
        ++claimed_deals[c];
        claimed_amount[c] += d.amount();
      } else if (const int i = outline_.PhaseIndex(d.claimed_phase().id()); i >= 0) {
        ++claimed_deals[i];
        claimed_amount[i] += d.amount();
      }
    }
    if (d.stage_ahead_of_evidence()) ++stage_ahead;
    const Bits& bits = bits_[row];
    for (size_t i = 0; i < indicators; ++i) {
      const bool applies = i < kMaxIndicatorBits
                               ? (bits.applicable >> i & 1) != 0
                               : Contains(d.applicable_indicators(), outline_.indicators[i].id);
      if (!applies) continue;
      ++counts[i].applicable;
      const bool met = i < kMaxIndicatorBits
                           ? (bits.met >> i & 1) != 0
                           : Contains(d.met_indicators(), outline_.indicators[i].id);
      if (met) {
        ++counts[i].met;
      } else {
        counts[i].missing.push_back(row);
      }
    }
  }
  for (int index : previous) {
    const PreviousRow& p = previous_rows_[index];
    for (size_t i = 0; i < indicators && i < kMaxIndicatorBits; ++i) {
      if ((p.applicable >> i & 1) == 0) continue;
      ++counts[i].prev_applicable;
      if ((p.met >> i & 1) != 0) ++counts[i].prev_met;
    }
  }
  r.set_open_deals(static_cast<int32_t>(open_deals));
  r.set_open_amount(open_amount);
  for (size_t p = 0; p < phases; ++p) {
    v1::PhaseBucket* e = r.mutable_by_evidence_phase(static_cast<int>(p));
    e->set_deals(static_cast<int32_t>(evidence_deals[p]));
    e->set_amount(evidence_amount[p]);
    v1::PhaseBucket* c = r.mutable_by_claimed_phase(static_cast<int>(p));
    c->set_deals(static_cast<int32_t>(claimed_deals[p]));
    c->set_amount(claimed_amount[p]);
  }
  r.set_stage_ahead_deals(static_cast<int32_t>(stage_ahead));
  r.set_stage_ahead_share(
      r.open_deals() > 0 ? static_cast<double>(r.stage_ahead_deals()) / r.open_deals() : 0);
  for (size_t i = 0; i < indicators; ++i) {
    const engine::OutlineIndicator& ind = outline_.indicators[i];
    v1::IndicatorShare* s = r.add_indicators();
    s->set_indicator_id(ind.id);
    s->set_name(ind.name);
    s->set_applicable(counts[i].applicable);
    s->set_met(counts[i].met);
    s->set_share(
        counts[i].applicable > 0 ? static_cast<double>(counts[i].met) / counts[i].applicable : 0);
    s->set_target(ind.target);
    s->set_below_target(ind.target > 0 && counts[i].applicable > 0 && s->share() < ind.target);
    if (has_previous_ && counts[i].prev_applicable > 0) {
      s->set_has_previous(true);
      s->set_previous_share(static_cast<double>(counts[i].prev_met) / counts[i].prev_applicable);
    }
    s->mutable_missing_deal_ids()->Reserve(static_cast<int>(counts[i].missing.size()));
    for (int row : counts[i].missing) s->add_missing_deal_ids(deals()[row].opportunity_id());
  }
  return r;
}

v1::PipelineRollup ReviewBuilder::RollupFor(
    const std::string& id, const std::string& name,
    const std::function<bool(const v1::Owner&)>& include) const {
  std::vector<int> rows;
  for (size_t i = 0; i < deals().size(); ++i) {
    if (!deals()[i].is_closed() && include(deals()[i].owner())) rows.push_back(static_cast<int>(i));
  }
  std::vector<int> previous;
  for (size_t i = 0; i < previous_rows_.size(); ++i) {
    const store::CompactResult& p = *previous_rows_[i].result;
    v1::Owner owner;
    owner.set_id(p.owner());
    owner.set_manager_id(p.manager_id());
    owner.set_team(p.team());
    if (!p.closed() && include(owner)) previous.push_back(static_cast<int>(i));
  }
  return RollupOf(id, name, rows, previous);
}

std::vector<v1::DealReview> ReviewBuilder::ChangedDealsOf(absl::string_view rep_id) const {
  std::vector<v1::DealReview> out;
  if (!has_previous_) return out;
  for (size_t i = 0; i < deals().size(); ++i) {
    if (deals()[i].owner().id() != rep_id) continue;
    auto it = previous_.find(deals()[i].opportunity_id());
    // A deal closed before the compared snapshot is history, not a change.
    if (deals()[i].is_closed() && (it == previous_.end() || it->second.closed())) continue;
    v1::DealReview r = ReviewOf(static_cast<int>(i));
    if (r.changes_size() == 0) continue;
    *r.mutable_deal() = deals()[i];
    out.push_back(std::move(r));
  }
  return out;
}

v1::GetPipelineReviewResponse ReviewBuilder::Finish(int max_deals, const std::string& scope_label,
                                                    bool removed_allowed) {
  // Finish is the builder's last use: its own deals move into the answer; shared ones
  // are copied.
  auto TakeDeal = [this](size_t i, v1::DealResult* to) {
    if (shared_ != nullptr) {
      *to = shared_->deals[i];
    } else {
      *to = std::move(deals_[i]);
    }
  };
  v1::GetPipelineReviewResponse out;
  *out.mutable_playbook() = playbook_.ref();
  *out.mutable_evaluated_at() = ToProtoTimestamp(now_);
  // Roll-ups and the removed deals first: the reviews below move the deals out.
  // Per rep, in name order, then the scope; one pass groups the rows and the compared
  // results by rep (not one scan per rep).
  std::vector<std::pair<absl::string_view, absl::string_view>> reps;  // (name, id)
  absl::flat_hash_map<absl::string_view, std::vector<int>> rows_by_rep;
  absl::flat_hash_map<absl::string_view, std::vector<int>> previous_by_rep;
  std::vector<int> all_rows;
  std::vector<int> all_previous;
  all_rows.reserve(deals().size());
  for (size_t i = 0; i < deals().size(); ++i) {
    const v1::DealResult& d = deals()[i];
    if (d.is_closed()) continue;
    auto [it, inserted] = rows_by_rep.try_emplace(d.owner().id());
    if (inserted) reps.emplace_back(d.owner().name(), d.owner().id());
    it->second.push_back(static_cast<int>(i));
    all_rows.push_back(static_cast<int>(i));
  }
  for (size_t i = 0; i < previous_rows_.size(); ++i) {
    const store::CompactResult& p = *previous_rows_[i].result;
    if (p.closed()) continue;
    previous_by_rep[p.owner()].push_back(static_cast<int>(i));
    all_previous.push_back(static_cast<int>(i));
  }
  std::sort(reps.begin(), reps.end());
  static const std::vector<int> kNone;
  for (const auto& [name, id] : reps) {
    auto p = previous_by_rep.find(id);
    *out.add_reps() = RollupOf(std::string(id), std::string(name), rows_by_rep[id],
                               p == previous_by_rep.end() ? kNone : p->second);
  }
  *out.mutable_team() = RollupOf(scope_label, scope_label, all_rows, all_previous);
  std::vector<std::string> removed;
  if (has_previous_ && removed_allowed) {
    absl::flat_hash_set<absl::string_view> current;
    current.reserve(deals().size());
    for (const v1::DealResult& d : deals()) current.insert(d.opportunity_id());
    for (const auto& [id, p] : previous_) {
      if (!p.closed() && !current.contains(id)) removed.push_back(id);
    }
    std::sort(removed.begin(), removed.end());
  }

  double max_amount = 0;
  for (const v1::DealResult& d : deals()) {
    if (!d.is_closed()) max_amount = std::max(max_amount, d.amount());
  }
  std::vector<v1::DealReview> open;
  open.reserve(all_rows.size());
  for (size_t i = 0; i < deals().size(); ++i) {
    const v1::DealResult& d = deals()[i];
    if (d.is_closed()) {
      auto it = previous_.find(d.opportunity_id());
      if (has_previous_ && it != previous_.end() && !it->second.closed()) {
        v1::DealReview* r = out.add_closed();
        *r = ReviewOf(static_cast<int>(i));
        TakeDeal(i, r->mutable_deal());
      }
      continue;
    }
    v1::DealReview r = ReviewOf(static_cast<int>(i));
    r.set_attention(
        AttentionScore(r.phases_ahead(), d.amount(), max_amount, ToAbslTime(d.close_date()), now_));
    // Finish is the builder's last use: the deal moves into its review.
    TakeDeal(i, r.mutable_deal());
    open.push_back(std::move(r));
  }
  std::sort(open.begin(), open.end(), [](const v1::DealReview& a, const v1::DealReview& b) {
    if (a.attention() != b.attention()) return a.attention() > b.attention();
    if (a.phases_ahead() != b.phases_ahead()) return a.phases_ahead() > b.phases_ahead();
    if (a.deal().amount() != b.deal().amount()) return a.deal().amount() > b.deal().amount();
    return a.deal().opportunity_id() < b.deal().opportunity_id();
  });
  const size_t keep = max_deals <= 0 ? open.size() : std::min(open.size(), size_t(max_deals));
  out.mutable_deals()->Reserve(static_cast<int>(keep));
  for (size_t i = 0; i < open.size(); ++i) {
    open[i].set_rank(static_cast<int>(i) + 1);
    if (i < keep) *out.add_deals() = std::move(open[i]);
  }
  for (const std::string& id : removed) {
    const store::CompactResult& p = previous_.at(id);
    v1::DealReview* r = out.add_closed();
    v1::DealResult* d = r->mutable_deal();
    d->set_opportunity_id(id);
    d->set_name(p.name());
    d->mutable_owner()->set_id(p.owner());
    d->mutable_owner()->set_manager_id(p.manager_id());
    d->mutable_owner()->set_team(p.team());
    d->set_stage(p.stage());
    d->set_amount(p.amount());
    *r->add_changes() = Change(v1::CHANGE_KIND_REMOVED, "no longer in the pipeline", p.stage());
  }
  for (const v1::NotEvaluated& n : not_evaluated_) *out.add_not_evaluated() = n;
  deals_.clear();  // moved out above
  bits_.clear();
  risks_.clear();
  return out;
}

bool ItemOpen(const v1::DealResult& deal, absl::string_view rule_id) {
  for (const v1::CriterionOutcome& c : deal.criteria()) {
    if (c.id() == rule_id) return c.status() != v1::CRITERION_STATUS_MET;
  }
  return Contains(deal.fired_behaviors(), rule_id);
}

std::vector<v1::BehaviorGap> RecurringGaps(const engine::PlaybookOutline& outline,
                                           absl::string_view rep_id,
                                           const std::vector<v1::DealResult>& team,
                                           size_t max_gaps) {
  // One tally per item, keyed by views of the rule ids in `team` (which outlives this
  // call); the full gaps (texts, questions, deal lists, "why") are built only for the
  // first `max_gaps` after ranking.
  struct Acc {
    absl::string_view id;
    double rep_weight = 0, team_weight = 0;
    int rep_deals = 0;
    std::vector<int> deals;  // indexes into `team` of the rep's deals
    double rep_share = 0, team_share = 0;
  };
  absl::flat_hash_map<absl::string_view, size_t> index;
  std::vector<Acc> acc;  // first-seen order
  double rep_total = 0, team_total = 0;
  int rep_open = 0, team_open = 0;
  bool rep_amounts = false, team_amounts = false;
  for (const v1::DealResult& d : team) {
    if (d.is_closed()) continue;
    if (d.owner().id() == rep_id && d.amount() > 0) rep_amounts = true;
    if (d.amount() > 0) team_amounts = true;
  }
  auto weight = [](const v1::DealResult& d, bool amounts) {
    return amounts ? std::max(0.0, d.amount()) : 1.0;
  };
  for (size_t row = 0; row < team.size(); ++row) {
    const v1::DealResult& d = team[row];
    if (d.is_closed()) continue;
    const bool mine = d.owner().id() == rep_id;
    ++team_open;
    team_total += weight(d, team_amounts);
    if (mine) {
      ++rep_open;
      rep_total += weight(d, rep_amounts);
    }
    auto visit = [&](absl::string_view id) {
      auto [it, inserted] = index.try_emplace(id, acc.size());
      if (inserted) acc.emplace_back().id = id;
      Acc& a = acc[it->second];
      a.team_weight += weight(d, team_amounts);
      if (mine) {
        a.rep_weight += weight(d, rep_amounts);
        ++a.rep_deals;
        a.deals.push_back(static_cast<int>(row));
      }
    };
    for (const v1::CriterionOutcome& c : d.criteria()) {
      if (c.status() != v1::CRITERION_STATUS_MET) visit(c.id());
    }
    for (const std::string& b : d.fired_behaviors()) visit(b);
  }
  std::vector<Acc*> ranked;
  for (Acc& a : acc) {
    if (a.rep_deals == 0) continue;
    if (const engine::OutlineRule* rule = outline.FindRule(a.id); rule && rule->outcome_only) {
      continue;  // a result ("the customer has signed"), not a behavior to coach
    }
    a.rep_share = rep_total > 0 ? a.rep_weight / rep_total : 0;
    a.team_share = team_total > 0 ? a.team_weight / team_total : 0;
    ranked.push_back(&a);
  }
  std::sort(ranked.begin(), ranked.end(), [](const Acc* a, const Acc* b) {
    if (a->rep_share != b->rep_share) return a->rep_share > b->rep_share;
    if (a->rep_deals != b->rep_deals) return a->rep_deals > b->rep_deals;
    return a->id < b->id;
  });
  if (ranked.size() > max_gaps) ranked.resize(max_gaps);
  std::vector<v1::BehaviorGap> gaps;
  gaps.reserve(ranked.size());
  for (Acc* a : ranked) {
    v1::BehaviorGap& g = gaps.emplace_back();
    g.set_rule_id(std::string(a->id));
    g.set_rep_deals(a->rep_deals);
    g.set_rep_open_deals(rep_open);
    g.set_rep_share(a->rep_share);
    g.set_team_share(a->team_share);
    std::sort(a->deals.begin(), a->deals.end(), [&team](int x, int y) {
      const double ax = team[x].amount(), ay = team[y].amount();
      return ax != ay ? ax > ay : team[x].opportunity_id() < team[y].opportunity_id();
    });
    g.mutable_deal_ids()->Reserve(static_cast<int>(a->deals.size()));
    for (int row : a->deals) g.add_deal_ids(team[row].opportunity_id());
    if (const engine::OutlineRule* rule = outline.FindRule(a->id)) {
      g.set_kind(rule->kind == engine::OutlineRule::Kind::kCriterion ? "criterion" : "behavior");
      g.set_text(rule->text);
      g.set_hint(rule->hint);
      g.set_phase_id(rule->phase_id);
      g.set_role(rule->role);
      if (auto q = outline.questions.find(rule->phase_id); q != outline.questions.end()) {
        for (const std::string& text : q->second) g.add_questions(text);
      }
      for (const v1::ContentLink& link : rule->content) *g.add_content() = link;
    }
    g.set_why(absl::StrFormat(
        "rule %s is open on %d of the rep's %d open deals (%.0f%% of the amount; team %.0f%%): "
        "%s",
        g.rule_id(), g.rep_deals(), g.rep_open_deals(), 100 * g.rep_share(), 100 * g.team_share(),
        absl::StrJoin(g.deal_ids(), ", ")));
  }
  return gaps;
}

absl::Time SnapshotInstant(absl::string_view snapshot_id, absl::Time created_at) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, snapshot_id, &t, &err)) return t;
  return created_at;
}

}  // namespace dealcoach::pipeline
