// Evaluation: (compiled playbook, opportunity, now) -> guidance. Pure: no I/O, no locks,
// no clock. One expr::Activation per call; facts are rendered lazily and only for items
// that are returned.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/playbook_internal.h"

namespace dealcoach::engine::internal {
namespace {

using google::protobuf::RepeatedPtrField;

constexpr char kNotRecorded[] = "not recorded in the CRM";

// The playbook's constant sub-messages (a rule's RuleRef, a phase's PhaseRef, the
// PlaybookRef) are referenced, not copied, when the answer lives on an arena: an arena
// message never deletes its sub-messages, and Clear() on one only drops the pointer
// (proto3 singular message fields have no has-bit to reuse them), so the shared message
// is never written. Every reader, serialization and CopyFrom sees the same answer. On
// the heap (Evaluate, EvaluateChecklist) the message owns its sub-messages and they are
// copied as before. Callers must not mutate these sub-messages of an arena answer in
// place (nothing does; a copy of the answer owns its own).
#define DC_SET_SHARED(out, field, value)                                                         \
  do {                                                                                           \
    if ((out)->GetArena() != nullptr) {                                                          \
      (out)->unsafe_arena_set_allocated_##field(                                                 \
          const_cast<std::remove_const_t<std::remove_reference_t<decltype(value)>>*>(&(value))); \
    } else {                                                                                     \
      *(out)->mutable_##field() = (value);                                                       \
    }                                                                                            \
  } while (false)

// A proto3 string field set to "" reads and serializes as one never set, but on an arena
// setting it allocates a std::string (with a cleanup) all the same; many playbook texts
// (hints, roles, coaching questions, a global behavior's phase) are empty.
#define DC_SET_TEXT(out, field, value)               \
  do {                                               \
    if (!(value).empty()) (out)->set_##field(value); \
  } while (false)

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// 308000 → "308,000"; 1234.5 → "1,234.50": amounts as a rep reads them, not "3.08e+05".
std::string GroupThousands(std::string digits) {
  std::string out;
  const size_t start = !digits.empty() && digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > start && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string RenderNumber(double v) {
  if (!std::isfinite(v) || std::fabs(v) >= 1e15) return absl::StrCat(v);
  const double whole = std::trunc(v);
  if (whole == v) return GroupThousands(absl::StrCat(static_cast<int64_t>(whole)));
  std::string s = absl::StrFormat("%.2f", v);
  const size_t dot = s.find('.');
  return absl::StrCat(GroupThousands(s.substr(0, dot)), s.substr(dot));
}

// absl::FormatCivilTime's "YYYY-MM-DD" without cctz's general formatter (a format-string
// parse and a time-zone lookup per call); years outside 1000..9999 keep the general one.
std::string RenderDay(absl::CivilDay day) {
  const int64_t year = day.year();
  if (year < 1000 || year > 9999) return absl::FormatCivilTime(day);
  std::string out(10, '-');
  auto put = [&out](size_t at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) out[at + static_cast<size_t>(i)] = '0' + v % 10;
  };
  put(0, year, 4);
  put(5, day.month(), 2);
  put(8, day.day(), 2);
  return out;
}

std::string RenderDuration(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(d);
  if (s >= 86400) return Plural(s / 86400, "day", "days");
  if (s >= 3600) return Plural(s / 3600, "hour", "hours");
  return Plural(s / 60, "minute", "minutes");
}

}  // namespace

RenderedFact RenderFactValue(const FactProgram& fact, const expr::Value& value) {
  RenderedFact out;
  out.path = &fact.path;
  switch (value.kind()) {
    case expr::ValueKind::kUnknown:
    case expr::ValueKind::kNull:
      out.missing = true;
      out.value = kNotRecorded;
      break;
    case expr::ValueKind::kError:
      out.value = absl::StrCat("error: ", value.error_message());
      break;
    case expr::ValueKind::kList:
      out.value = Plural(value.size(), fact.noun_one, fact.noun);
      break;
    case expr::ValueKind::kMap:
      out.value = Plural(value.size(), "entry", "entries");
      break;
    case expr::ValueKind::kString:
      out.value = std::string(value.string_value());
      break;
    case expr::ValueKind::kTimestamp:
      // CRM dates are calendar dates; show the UTC day.
      out.value = RenderDay(absl::ToCivilDay(value.timestamp_value(), absl::UTCTimeZone()));
      break;
    case expr::ValueKind::kDuration:
      out.value = RenderDuration(value.duration_value());
      break;
    case expr::ValueKind::kMessage:
      out.value = "recorded";
      break;
    case expr::ValueKind::kDouble:
      out.value = RenderNumber(value.double_value());
      break;
    case expr::ValueKind::kInt:
      out.value = GroupThousands(absl::StrCat(value.int_value()));
      break;
    default:
      out.value = value.DebugString();
  }
  return out;
}

v1::Fact RenderFact(const FactProgram& fact, const expr::Value& value) {
  RenderedFact r = RenderFactValue(fact, value);
  v1::Fact out;
  out.set_path(fact.path);
  out.set_value(std::move(r.value));
  out.set_missing(r.missing);
  return out;
}

RenderedFact& FactCache::Render(int index) {
  int& slot = slot_[index];
  if (slot < 0) {
    const FactProgram& fact = (*programs_)[index];
    slot = static_cast<int>(facts_.size());
    if (fact.list != nullptr &&
        !std::binary_search(unknown_->begin(), unknown_->end(), fact.path)) {
      // What RenderFactValue gives for the list value the evaluator would return.
      RenderedFact& out = facts_.emplace_back();
      out.path = &fact.path;
      out.value = Plural(opportunity_->GetReflection()->FieldSize(*opportunity_, fact.list),
                         fact.noun_one, fact.noun);
    } else {
      facts_.push_back(RenderFactValue(fact, fact.program->Evaluate(*activation_)));
    }
  }
  return facts_[slot];
}

const RenderedFact& FactCache::Get(int index) { return Render(index); }

namespace {

// Field by field rather than operator=: the generated CopyFrom clears and merges through
// a virtual call, and shows in profiles (every returned item carries facts).
void CopyFact(const RenderedFact& from, v1::Fact* to) {
  DC_SET_TEXT(to, path, *from.path);
  DC_SET_TEXT(to, value, from.value);
  if (from.missing) to->set_missing(true);
}

}  // namespace

v1::Fact* FactCache::Shared(int index, google::protobuf::Arena* arena) {
  RenderedFact& from = Render(index);
  if (from.message == nullptr || from.message->GetArena() != arena) {
    from.message = google::protobuf::Arena::CreateMessage<v1::Fact>(arena);
    CopyFact(from, from.message);
  }
  return from.message;
}

EvalState::EvalState(const CompiledPlaybookImpl& playbook, const v1::Opportunity& opportunity,
                     absl::Time now)
    : playbook_(playbook),
      facts_(&playbook.facts_, &activation_, &opportunity, &unknown_),
      slot_(playbook.conditions_.size(), -1) {
  activation_.SetMessage("opp", &opportunity);
  activation_.SetTimestamp("now", now);
  // The claimed phase (crm_stages), for CRM-neutral rules: `phase in ["decision"]`.
  claimed_ = opportunity.has_stage() ? playbook.PhaseForStage(opportunity.stage()) : -1;
  activation_.SetValue("phase", claimed_ >= 0
                                    ? expr::Value::StringView(playbook.phases_[claimed_].ref.id())
                                    : expr::Value::StringView(""));
  // What the source does not record reads as unknown, also under has().
  if (opportunity.not_recorded_size() > 0) {
    std::vector<std::string> unknown;
    unknown.reserve(static_cast<size_t>(opportunity.not_recorded_size()));
    for (const std::string& path : opportunity.not_recorded()) {
      auto known = playbook.not_recorded_attributes_.find(path);
      unknown.push_back(known != playbook.not_recorded_attributes_.end()
                            ? known->second
                            : NotRecordedAttribute(path));
    }
    std::sort(unknown.begin(), unknown.end());
    unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
    unknown_ = unknown;
    activation_.SetUnknownAttributes(std::move(unknown));
  }
}

int EvalState::EvidencePhase(const CompiledPlaybookImpl& playbook) {
  if (evidence_ < 0) evidence_ = playbook.WalkGates(this, nullptr, nullptr);
  return evidence_;
}

const Outcome& EvalState::Evaluate(const Rule& rule) {
  static const Outcome* const kAlwaysTrue = [] {
    auto* o = new Outcome;
    o->truth = expr::Truth::kTrue;
    return o;
  }();
  if (rule.when == nullptr) return *kAlwaysTrue;
  int& slot = slot_[rule.when_id];
  if (slot < 0) {
    const auto& variants = playbook_.phase_variants_[rule.when_id];
    const expr::Program& program =
        variants.empty() ? *rule.when : *variants[static_cast<size_t>(claimed_ + 1)];
    expr::Condition c = expr::EvaluateCondition(program, activation_);
    slot = static_cast<int>(outcomes_.size());
    Outcome& out = outcomes_.emplace_back();
    out.truth = c.truth;
    out.missing = std::move(c.missing);
    out.error = std::move(c.error);
  }
  return outcomes_[slot];
}

namespace {

// On an arena answer, every item that lists a fact references the one message
// FactCache::Shared built for it on that arena, as DC_SET_SHARED references the
// playbook's refs. That is safe for the same reasons: an arena message never deletes
// its elements, reading and serializing see each item's full list, and a copy of the
// answer owns its own facts. A repeated field that is cleared keeps its elements for
// reuse by Add(); these fields are only ever filled through UnsafeArenaAddAllocated,
// which never hands a kept element out, so a message reused deal after deal never
// writes into a fact another item still lists. Heap answers copy each fact (CopyFact).
void AddFacts(const Rule& rule, FactCache* facts, RepeatedPtrField<v1::Fact>* out) {
  if (rule.facts.empty()) return;
  out->Reserve(out->size() + static_cast<int>(rule.facts.size()));
  if (google::protobuf::Arena* arena = out->GetArena(); arena != nullptr) {
    for (int index : rule.facts) out->UnsafeArenaAddAllocated(facts->Shared(index, arena));
    return;
  }
  for (int index : rule.facts) CopyFact(facts->Get(index), out->Add());
}

void AddIssue(const Rule& rule, const Outcome& o, RepeatedPtrField<v1::EvaluationIssue>* issues) {
  if (issues == nullptr) return;
  v1::EvaluationIssue* issue = issues->Add();
  DC_SET_SHARED(issue, rule, rule.ref);
  issue->set_message(absl::StrCat("condition could not be evaluated: ", o.error));
}

v1::CriterionStatus StatusOf(const Outcome& o) {
  switch (o.truth) {
    case expr::Truth::kTrue:
      return v1::CRITERION_STATUS_MET;
    case expr::Truth::kFalse:
      return v1::CRITERION_STATUS_UNMET;
    default:
      return v1::CRITERION_STATUS_UNKNOWN;
  }
}

// Fills status, facts, missing fields and error of a criterion-like result.
template <typename Result>
void FillResult(const Rule& rule, const Outcome& o, FactCache* facts, Result* r,
                RepeatedPtrField<v1::EvaluationIssue>* issues) {
  DC_SET_SHARED(r, rule, rule.ref);
  r->set_status(StatusOf(o));
  AddFacts(rule, facts, r->mutable_facts());
  if (!o.missing.empty()) {
    r->mutable_missing_fields()->Reserve(static_cast<int>(o.missing.size()));
    for (const std::string& m : o.missing) r->add_missing_fields(m);
  }
  if (o.truth == expr::Truth::kError) AddIssue(rule, o, issues);
}

std::string CountCriteria(int unmet, int unknown) {
  std::string out;
  if (unmet > 0) out = absl::StrCat(unmet, unmet == 1 ? " criterion" : " criteria", " not met");
  if (unknown > 0) {
    if (unmet > 0) {
      absl::StrAppend(&out, ", ", unknown, " not recorded in the CRM");
    } else {
      absl::StrAppend(&out, unknown, unknown == 1 ? " criterion" : " criteria",
                      " not recorded in the CRM");
    }
  }
  return out;
}

}  // namespace

namespace {

void FillCriterion(const Criterion& c, const Outcome& o, FactCache* facts, v1::CriterionResult* r,
                   RepeatedPtrField<v1::EvaluationIssue>* issues) {
  FillResult(c, o, facts, r, issues);
  DC_SET_TEXT(r, text, c.text);
  if (o.truth == expr::Truth::kError) DC_SET_TEXT(r, error, o.error);
  if (o.truth != expr::Truth::kTrue) DC_SET_TEXT(r, hint, c.hint);
}

// A gate is unmet when any criterion is unmet, else unknown when any is unknown or failed.
struct GateTally {
  bool any_unmet = false;
  bool any_unknown = false;
  void Add(expr::Truth t) {
    any_unmet |= t == expr::Truth::kFalse;
    any_unknown |= t == expr::Truth::kUnknown || t == expr::Truth::kError;
  }
  v1::CriterionStatus status() const {
    return any_unmet     ? v1::CRITERION_STATUS_UNMET
           : any_unknown ? v1::CRITERION_STATUS_UNKNOWN
                         : v1::CRITERION_STATUS_MET;
  }
};

}  // namespace

void CompiledPlaybookImpl::EvaluateGate(int index, EvalState* state, v1::GateResult* out,
                                        RepeatedPtrField<v1::EvaluationIssue>* issues) const {
  const Phase& phase = phases_[index];
  DC_SET_SHARED(out, phase, phase.ref);
  out->mutable_criteria()->Reserve(static_cast<int>(phase.gate.size()));
  GateTally tally;
  for (const Criterion& c : phase.gate) {
    const Outcome& o = state->Evaluate(c);
    FillCriterion(c, o, state->facts(), out->add_criteria(), issues);
    tally.Add(o.truth);
  }
  out->set_status(tally.status());
}

v1::CriterionStatus CompiledPlaybookImpl::GateStatus(int index, EvalState* state) const {
  GateTally tally;
  for (const Criterion& c : phases_[index].gate) tally.Add(state->Evaluate(c).truth);
  return tally.status();
}

int CompiledPlaybookImpl::WalkGates(EvalState* state, RepeatedPtrField<v1::GateResult>* gates,
                                    RepeatedPtrField<v1::EvaluationIssue>* issues) const {
  const int last = static_cast<int>(phases_.size()) - 1;
  for (int i = 0; i <= last; ++i) {
    v1::CriterionStatus status;
    if (gates != nullptr) {
      v1::GateResult* gate = gates->Add();
      EvaluateGate(i, state, gate, issues);
      status = gate->status();
    } else {
      // Only the evidence phase is wanted: no results to build, and no issues to report
      // (callers that want issues pass `gates`).
      status = GateStatus(i, state);
    }
    if (status != v1::CRITERION_STATUS_MET) return i;
  }
  return last;
}

v1::DealGuidance CompiledPlaybookImpl::Evaluate(const v1::Opportunity& opp, absl::Time now,
                                                const EvaluateOptions& options) const {
  v1::DealGuidance g;
  EvaluateInto(opp, now, options, &g);
  return g;
}

void CompiledPlaybookImpl::EvaluateInto(const v1::Opportunity& opp, absl::Time now,
                                        const EvaluateOptions& options,
                                        v1::DealGuidance* result) const {
  EvalState state(*this, opp, now);
  FillGuidance(opp, now, options, state, result);
}

void CompiledPlaybookImpl::FillGuidance(const v1::Opportunity& opp, absl::Time now,
                                        const EvaluateOptions& options, EvalState& state,
                                        v1::DealGuidance* result) const {
  result->Clear();
  v1::DealGuidance& g = *result;
  DC_SET_TEXT(&g, opportunity_id, opp.id());
  DC_SET_TEXT(&g, opportunity_name, opp.name());
  DC_SET_SHARED(&g, playbook, ref_);
  DC_SET_TEXT(&g, crm_stage, opp.stage());
  SetTimestamp(now, g.mutable_evaluated_at());

  const int claimed = state.claimed_phase();
  if (claimed >= 0) DC_SET_SHARED(&g, claimed_phase, phases_[claimed].ref);
  const int evidence = WalkGates(&state, g.mutable_gates(), g.mutable_issues());
  const Phase& phase = phases_[evidence];
  DC_SET_SHARED(&g, evidence_phase, phase.ref);

  // Stage ahead of evidence: every criterion not met between the evidence phase and the
  // claimed phase blocks the claim.
  if (claimed > evidence) {
    v1::StageWarning* w = g.mutable_stage_ahead_of_evidence();
    int unmet = 0, unknown = 0;
    // The evidence gate's and later gates' criteria that are not met, built again from
    // their outcomes rather than copied from the gate results (a copy would own copies
    // of the shared rule refs; the result is the same message).
    for (int i = evidence; i < claimed; ++i) {
      for (const Criterion& c : phases_[i].gate) {
        const Outcome& o = state.Evaluate(c);
        if (o.truth == expr::Truth::kTrue) continue;
        (o.truth == expr::Truth::kFalse ? unmet : unknown) += 1;
        FillCriterion(c, o, state.facts(), w->add_blocking_criteria(), nullptr);
      }
    }
    w->set_message(absl::StrCat("CRM stage '", opp.stage(), "' claims ",
                                phases_[claimed].ref.name(), ", but the evidence puts the deal in ",
                                phase.ref.name(), ": ", CountCriteria(unmet, unknown)));
  }

  // Deals closed lost get no coaching: there is nothing left to do on them. Closed won
  // deals still get the behaviors of their phase (customer success) but no risks.
  const bool closed = opp.has_is_closed() && opp.is_closed();
  if (closed && !(opp.has_is_won() && opp.is_won())) return;

  // Behaviors: the evidence phase's own, then global ones that apply to the phase.
  // Ranking: priority (higher first), then phase behaviors before global ones, then
  // playbook order. Deterministic for equal inputs.
  struct Fired {
    const BehaviorRule* rule;
    bool global;
  };
  std::vector<Fired> fired;
  fired.reserve(phase.behaviors.size() + global_behaviors_.size());
  auto consider = [&](const BehaviorRule& b, bool global) {
    const Outcome& o = state.Evaluate(b);
    if (o.truth == expr::Truth::kTrue) {
      fired.push_back({&b, global});
    } else if (o.truth == expr::Truth::kError) {
      AddIssue(b, o, g.mutable_issues());
    }
  };
  for (const BehaviorRule& b : phase.behaviors) consider(b, false);
  for (const BehaviorRule& b : global_behaviors_) {
    if (b.phases.empty() ||
        std::find(b.phases.begin(), b.phases.end(), evidence) != b.phases.end()) {
      consider(b, true);
    }
  }
  std::stable_sort(fired.begin(), fired.end(), [](const Fired& a, const Fired& b) {
    if (a.rule->priority != b.rule->priority) return a.rule->priority > b.rule->priority;
    if (a.global != b.global) return !a.global;
    return a.rule->order < b.rule->order;
  });
  const int limit = std::max(0, options.max_behaviors);
  g.mutable_next_best_behaviors()->Reserve(std::min(limit, static_cast<int>(fired.size())));
  for (size_t i = 0; i < fired.size(); ++i) {
    if (static_cast<int>(i) >= limit) {
      g.set_more_behaviors(static_cast<int>(fired.size()) - limit);
      break;
    }
    const BehaviorRule& b = *fired[i].rule;
    v1::Behavior* out = g.add_next_best_behaviors();
    DC_SET_SHARED(out, rule, b.ref);
    DC_SET_TEXT(out, prompt, b.prompt);
    DC_SET_TEXT(out, why, b.why);
    out->set_priority(b.priority);
    DC_SET_TEXT(out, phase_id, b.phase_id);
    DC_SET_TEXT(out, role, b.role);
    if (!b.content.empty()) {
      out->mutable_content()->Reserve(static_cast<int>(b.content.size()));
      for (const v1::ContentLink& link : b.content) {
        v1::ContentLink* to = out->add_content();
        DC_SET_TEXT(to, title, link.title());
        DC_SET_TEXT(to, url, link.url());
      }
    }
    AddFacts(b, state.facts(), out->mutable_facts());
  }

  // Risks that hold, most severe first, then playbook order.
  std::vector<const RiskRule*> risks;
  for (const RiskRule& r : risks_) {
    if (closed) break;
    const Outcome& o = state.Evaluate(r);
    if (o.truth == expr::Truth::kTrue) {
      risks.push_back(&r);
    } else if (o.truth == expr::Truth::kError) {
      AddIssue(r, o, g.mutable_issues());
    }
  }
  std::stable_sort(risks.begin(), risks.end(),
                   [](const RiskRule* a, const RiskRule* b) { return a->severity > b->severity; });
  for (const RiskRule* r : risks) {
    v1::Risk* out = g.add_risks();
    DC_SET_SHARED(out, rule, r->ref);
    DC_SET_TEXT(out, text, r->text);
    out->set_severity(r->severity);
    AddFacts(*r, state.facts(), out->mutable_facts());
  }

  g.mutable_coaching_questions()->Reserve(static_cast<int>(phase.questions.size()));
  for (const v1::CoachingQuestion& q : phase.questions) {
    v1::CoachingQuestion* out = g.add_coaching_questions();
    if (q.has_rule()) DC_SET_SHARED(out, rule, q.rule());
    DC_SET_TEXT(out, text, q.text());
  }
}

absl::StatusOr<v1::ReviewChecklist> CompiledPlaybookImpl::EvaluateChecklist(
    const v1::Opportunity& opp, absl::Time now, absl::string_view checklist_name) const {
  v1::ReviewChecklist out;
  absl::Status status = EvaluateChecklistInto(opp, now, checklist_name, &out);
  if (!status.ok()) return status;
  return out;
}

const Checklist* CompiledPlaybookImpl::FindChecklist(absl::string_view name,
                                                     absl::Status* status) const {
  for (const Checklist& c : checklists_) {
    if (name.empty() || c.name == name) return &c;
  }
  if (checklists_.empty()) {
    *status =
        absl::NotFoundError(absl::StrCat("playbook '", ref_.name(), "' defines no checklists"));
  } else {
    *status = absl::NotFoundError(
        absl::StrCat("no checklist '", name, "' in playbook '", ref_.name(),
                     "'; checklists: ", absl::StrJoin(checklist_names(), ", ")));
  }
  return nullptr;
}

absl::Status CompiledPlaybookImpl::EvaluateChecklistInto(const v1::Opportunity& opp, absl::Time now,
                                                         absl::string_view checklist_name,
                                                         v1::ReviewChecklist* result) const {
  absl::Status status;
  const Checklist* list = FindChecklist(checklist_name, &status);
  if (list == nullptr) return status;
  EvalState state(*this, opp, now);
  FillChecklist(opp, now, *list, state, result);
  return absl::OkStatus();
}

absl::Status CompiledPlaybookImpl::EvaluateReviewInto(
    const v1::Opportunity& opp, absl::Time now, const EvaluateOptions& options,
    absl::Span<const std::string> checklist_names, v1::DealGuidance* guidance,
    absl::Span<v1::ReviewChecklist* const> checklists) const {
  if (checklist_names.size() != checklists.size()) {
    return absl::InvalidArgumentError("one output checklist per checklist name is needed");
  }
  std::vector<const Checklist*> lists;
  lists.reserve(checklist_names.size());
  for (const std::string& name : checklist_names) {
    absl::Status status;
    lists.push_back(FindChecklist(name, &status));
    if (lists.back() == nullptr) return status;
  }
  // One state: each condition runs once and each fact renders once for all the answers.
  EvalState state(*this, opp, now);
  FillGuidance(opp, now, options, state, guidance);
  for (size_t i = 0; i < lists.size(); ++i)
    FillChecklist(opp, now, *lists[i], state, checklists[i]);
  return absl::OkStatus();
}

void CompiledPlaybookImpl::FillChecklist(const v1::Opportunity& opp, absl::Time now,
                                         const Checklist& checklist, EvalState& state,
                                         v1::ReviewChecklist* result) const {
  const Checklist* list = &checklist;
  result->Clear();
  v1::ReviewChecklist& out = *result;
  DC_SET_TEXT(&out, opportunity_id, opp.id());
  DC_SET_TEXT(&out, opportunity_name, opp.name());
  DC_SET_SHARED(&out, playbook, ref_);
  DC_SET_TEXT(&out, checklist, list->name);
  SetTimestamp(now, out.mutable_evaluated_at());
  DC_SET_SHARED(&out, evidence_phase, phases_[state.EvidencePhase(*this)].ref);
  int open = 0;
  out.mutable_items()->Reserve(static_cast<int>(list->items.size()));
  for (const ChecklistItemRule& item : list->items) {
    const Outcome& o = state.Evaluate(item);
    v1::ChecklistItem* r = out.add_items();
    FillResult(item, o, state.facts(), r, nullptr);
    DC_SET_TEXT(r, text, item.text);
    if (o.truth != expr::Truth::kTrue) {
      ++open;
      DC_SET_TEXT(r, coaching_question, item.question);
    }
  }
  out.set_open_items(open);
}

#undef DC_SET_SHARED
#undef DC_SET_TEXT

}  // namespace dealcoach::engine::internal

namespace dealcoach::engine {

void CompiledPlaybook::EvaluateInto(const v1::Opportunity& opportunity, absl::Time now,
                                    const EvaluateOptions& options, v1::DealGuidance* out) const {
  out->CopyFrom(Evaluate(opportunity, now, options));
}

absl::Status CompiledPlaybook::EvaluateChecklistInto(const v1::Opportunity& opportunity,
                                                     absl::Time now,
                                                     absl::string_view checklist_name,
                                                     v1::ReviewChecklist* out) const {
  absl::StatusOr<v1::ReviewChecklist> list = EvaluateChecklist(opportunity, now, checklist_name);
  if (!list.ok()) return list.status();
  out->CopyFrom(*list);
  return absl::OkStatus();
}

absl::Status CompiledPlaybook::EvaluateReviewInto(
    const v1::Opportunity& opportunity, absl::Time now, const EvaluateOptions& options,
    absl::Span<const std::string> checklist_names, v1::DealGuidance* guidance,
    absl::Span<v1::ReviewChecklist* const> checklists) const {
  if (checklist_names.size() != checklists.size()) {
    return absl::InvalidArgumentError("one output checklist per checklist name is needed");
  }
  for (size_t i = 0; i < checklists.size(); ++i) {
    absl::Status status =
        EvaluateChecklistInto(opportunity, now, checklist_names[i], checklists[i]);
    if (!status.ok()) return status;
  }
  EvaluateInto(opportunity, now, options, guidance);
  return absl::OkStatus();
}

}  // namespace dealcoach::engine
