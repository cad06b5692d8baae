// The compiled form of a playbook and the CompiledPlaybook implementation. Internal to
// the engine: loader.cc builds it, evaluate.cc and sidecar/playbook_tests read it.
//
// Immutable after Load returns; every method is const and safe to call concurrently.
#ifndef DEALCOACH_SIDECAR_ENGINE_PLAYBOOK_INTERNAL_H_
#define DEALCOACH_SIDECAR_ENGINE_PLAYBOOK_INTERNAL_H_

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/outline.h"
#include "sidecar/expr/expr.h"

namespace dealcoach::engine::internal {

// What every rule has: an id, a condition and the facts it reads.
struct Rule {
  std::string short_id;  // as written in the playbook ("community-pain")
  v1::RuleRef ref;       // full id ("awareness/community-pain") + playbook name/version
  // Null means "always true" (behaviors without `when:`). Owned by
  // CompiledPlaybookImpl::conditions_, shared by every rule with the same source text.
  const expr::Program* when = nullptr;
  // Index of `when` in CompiledPlaybookImpl::conditions_ (-1 when null): the slot of its
  // outcome in EvalState, so that each distinct condition runs at most once per call.
  int when_id = -1;
  // Indices into CompiledPlaybookImpl::facts_, in the order the condition reads them.
  std::vector<int> facts;
};

struct Criterion : Rule {
  std::string text;
  std::string hint;
};

struct BehaviorRule : Rule {
  std::string prompt;
  std::string why;
  int priority = 50;
  std::string role;
  std::string phase_id;  // empty for global behaviors
  // Global behaviors only: restrict to these phases (empty = every phase).
  std::vector<int> phases;
  std::vector<v1::ContentLink> content;
  int order = 0;  // position in the playbook, the last tie-break
};

struct RiskRule : Rule {
  std::string text;
  v1::RiskSeverity severity = v1::RISK_SEVERITY_MEDIUM;
};

// A leading indicator the manager tracks (the playbook's `indicators:` section): a
// condition over the deal, optionally restricted to phases (by evidence phase), with a
// target share of the deals it applies to.
struct IndicatorRule : Rule {
  std::string name;
  std::string description;
  std::vector<int> phases;  // empty = every phase
  double target = 0;        // 0 = no target
};

struct ChecklistItemRule : Rule {
  std::string text;
  std::string question;
};

struct Checklist {
  std::string name;
  std::vector<ChecklistItemRule> items;
};

struct Phase {
  v1::PhaseRef ref;
  std::vector<Criterion> gate;
  std::vector<BehaviorRule> behaviors;
  std::vector<v1::CoachingQuestion> questions;
};

// One attribute path some condition reads, compiled as its own expression so its value
// can be shown as a Fact ("opp.contacts" -> "3 contacts").
struct FactProgram {
  std::string path;
  std::unique_ptr<const expr::Program> program;
  std::string noun;      // plural noun for lists ("contacts"), "items" by default
  std::string noun_one;  // singular ("contact")
  // For a path that is one of the Opportunity's message lists ("opp.contacts"): that
  // field, whose rendering is its size ("3 contacts"), read without the evaluator
  // unless the source does not record the list.
  const google::protobuf::FieldDescriptor* list = nullptr;
};

class EvalState;

// Status of one evaluated condition.
struct Outcome {
  expr::Truth truth = expr::Truth::kError;
  std::vector<std::string> missing;
  std::string error;
};

class CompiledPlaybookImpl final : public CompiledPlaybook {
 public:
  const v1::PlaybookRef& ref() const override { return ref_; }
  const std::string& file_name() const override { return file_name_; }
  std::vector<std::string> checklist_names() const override;

  v1::DealGuidance Evaluate(const v1::Opportunity& opportunity, absl::Time now,
                            const EvaluateOptions& options) const override;
  void EvaluateInto(const v1::Opportunity& opportunity, absl::Time now,
                    const EvaluateOptions& options, v1::DealGuidance* out) const override;
  [[nodiscard]] absl::Status EvaluateChecklistInto(const v1::Opportunity& opportunity,
                                                   absl::Time now, absl::string_view checklist_name,
                                                   v1::ReviewChecklist* out) const override;
  [[nodiscard]] absl::Status EvaluateReviewInto(
      const v1::Opportunity& opportunity, absl::Time now, const EvaluateOptions& options,
      absl::Span<const std::string> checklist_names, v1::DealGuidance* guidance,
      absl::Span<v1::ReviewChecklist* const> checklists) const override;
  [[nodiscard]] absl::StatusOr<v1::ReviewChecklist> EvaluateChecklist(
      const v1::Opportunity& opportunity, absl::Time now,
      absl::string_view checklist_name) const override;

  // --- Internals shared by evaluate.cc and sidecar/playbook_tests ---

  // The answers, from a state that may be shared between them.
  void FillGuidance(const v1::Opportunity& opp, absl::Time now, const EvaluateOptions& options,
                    EvalState& state, v1::DealGuidance* out) const;
  void FillChecklist(const v1::Opportunity& opp, absl::Time now, const Checklist& checklist,
                     EvalState& state, v1::ReviewChecklist* out) const;
  // The checklist named `name` ("" = the first), or null with a NotFound *status.
  const Checklist* FindChecklist(absl::string_view name, absl::Status* status) const;

  // Evaluates the exit gate of phase `index` into `out`.
  // Runtime errors are appended to `issues` when it is not null.
  void EvaluateGate(int index, EvalState* state, v1::GateResult* out,
                    google::protobuf::RepeatedPtrField<v1::EvaluationIssue>* issues) const;
  // The status of the exit gate of phase `index`, without building a GateResult.
  v1::CriterionStatus GateStatus(int index, EvalState* state) const;
  // The evidence phase: the first phase whose gate is not met (the last phase when all
  // are met). Appends the gates walked to `gates` when not null.
  int WalkGates(EvalState* state, google::protobuf::RepeatedPtrField<v1::GateResult>* gates,
                google::protobuf::RepeatedPtrField<v1::EvaluationIssue>* issues) const;
  // Index of the phase a CRM stage label maps to, or -1.
  int PhaseForStage(absl::string_view stage) const;
  // Index of a phase id, or -1.
  int PhaseIndex(absl::string_view id) const;

  v1::PlaybookRef ref_;
  std::string file_name_;
  std::string source_text_;
  std::vector<Phase> phases_;
  std::vector<BehaviorRule> global_behaviors_;
  std::vector<RiskRule> risks_;
  std::vector<Checklist> checklists_;
  std::vector<IndicatorRule> indicators_;
  std::vector<FactProgram> facts_;
  // Distinct `when:` programs (deduplicated by source text); Rule::when_id indexes it.
  std::vector<std::unique_ptr<const expr::Program>> conditions_;
  // Per condition: empty, or for a condition that reads `phase`, one program per value
  // the variable takes ([0]: "" for no claimed phase, [1 + i]: phases_[i]'s id) with
  // the variable replaced by that string (loader.cc SpecializePhaseConditions).
  std::vector<std::vector<std::unique_ptr<const expr::Program>>> phase_variants_;
  // Lower-cased, trimmed CRM stage label -> phase index.
  absl::flat_hash_map<std::string, int> stage_to_phase_;
  // NotRecordedAttribute of every "list.field" path normalisation can put in
  // `not_recorded` (presence-tracked fields of the Opportunity's message lists),
  // computed once at load: building it per call walked descriptors for each path.
  absl::flat_hash_map<std::string, std::string> not_recorded_attributes_;
  // Declared custom fields and their types (for test-file shorthand).
  std::vector<std::pair<std::string, expr::FieldType>> fields_;
  // What the manager's tools read (outline.h); BuildOutline fills it once loaded.
  PlaybookOutline outline_;
};

// Fills playbook->outline_ from the compiled rules.
void BuildOutline(CompiledPlaybookImpl* playbook);

// A fact rendered for one evaluation: the path stays with its FactProgram.
struct RenderedFact {
  const std::string* path;
  std::string value;
  bool missing = false;
  // The fact as a message on an arena answer's arena, built the first time an item of
  // that answer lists it; every later item references it (FactCache::Shared).
  v1::Fact* message = nullptr;
};

// Lazily rendered facts for one evaluation.
class FactCache {
 public:
  FactCache(const std::vector<FactProgram>* programs, const expr::Activation* activation,
            const v1::Opportunity* opportunity, const std::vector<std::string>* unknown)
      : programs_(programs),
        activation_(activation),
        opportunity_(opportunity),
        unknown_(unknown),
        slot_(programs->size(), -1) {}
  const RenderedFact& Get(int index);
  // Fact `index` as one message on `arena`, built on first use and the same object for
  // every later call with that arena. An arena answer's items list a rendered fact about
  // five times; referencing one message instead of copying its two strings into each
  // halves the strings an answer allocates. See AddFacts (evaluate.cc) for why sharing is
  // safe.
  v1::Fact* Shared(int index, google::protobuf::Arena* arena);

 private:
  RenderedFact& Render(int index);

  const std::vector<FactProgram>* programs_;
  const expr::Activation* activation_;
  const v1::Opportunity* opportunity_;
  // The attributes the source does not record (sorted), as the activation has them.
  const std::vector<std::string>* unknown_;
  // Per fact program: index into facts_, -1 until rendered. A deque holds only the
  // facts rendered (references stay valid) in small blocks: one array of every fact
  // would be a >1 KiB allocation per call, which makes glibc consolidate its fastbins.
  std::vector<int> slot_;
  std::deque<RenderedFact> facts_;
};

// Per-call evaluation state: the activation, facts rendered so far, and the outcome of
// every condition evaluated so far, so that a condition shared by several rules (or read
// by both the gate walk and a later pass) runs once. Not thread-safe; one per call.
class EvalState {
 public:
  EvalState(const CompiledPlaybookImpl& playbook, const v1::Opportunity& opportunity,
            absl::Time now);
  EvalState(const EvalState&) = delete;
  EvalState& operator=(const EvalState&) = delete;

  const expr::Activation& activation() const { return activation_; }
  FactCache* facts() { return &facts_; }
  // The phase the opportunity's CRM stage claims (crm_stages), or -1.
  int claimed_phase() const { return claimed_; }
  // The evidence phase (WalkGates without results), remembered after the first call:
  // the guidance and every checklist of one review share it.
  int EvidencePhase(const CompiledPlaybookImpl& playbook);
  // The outcome of `rule`'s condition (null condition = true), evaluated on first use.
  const Outcome& Evaluate(const Rule& rule);

 private:
  const CompiledPlaybookImpl& playbook_;
  expr::Activation activation_;
  std::vector<std::string> unknown_;  // SetUnknownAttributes' paths, sorted
  FactCache facts_;
  int claimed_ = -1;
  int evidence_ = -1;
  // Per condition: index into outcomes_, -1 until evaluated (a deque, as in FactCache).
  std::vector<int> slot_;
  std::deque<Outcome> outcomes_;
};

// Renders a value for people: "true", "3 contacts", "2026-10-01", "Acme".
v1::Fact RenderFact(const FactProgram& fact, const expr::Value& value);
// The value and missing flag RenderFact would give.
RenderedFact RenderFactValue(const FactProgram& fact, const expr::Value& value);

}  // namespace dealcoach::engine::internal

#endif  // DEALCOACH_SIDECAR_ENGINE_PLAYBOOK_INTERNAL_H_
