#include "sidecar/engine/outline.h"

#include "absl/container/flat_hash_set.h"
#include "sidecar/engine/playbook_internal.h"

namespace dealcoach::engine {

int PlaybookOutline::PhaseIndex(absl::string_view id) const {
  for (size_t i = 0; i < phases.size(); ++i) {
    if (phases[i].id() == id) return static_cast<int>(i);
  }
  return -1;
}

const OutlineRule* PlaybookOutline::FindRule(absl::string_view id) const {
  auto it = rule_index.find(id);
  return it == rule_index.end() ? nullptr : &rules[it->second];
}

namespace internal {

void BuildOutline(CompiledPlaybookImpl* pb) {
  PlaybookOutline& o = pb->outline_;
  auto add = [&o](OutlineRule rule) {
    o.rule_index.emplace(rule.id, static_cast<int>(o.rules.size()));
    o.rules.push_back(std::move(rule));
  };
  auto behavior = [](const BehaviorRule& b) {
    OutlineRule r;
    r.id = b.ref.id();
    r.kind = OutlineRule::Kind::kBehavior;
    r.text = b.prompt;
    r.hint = b.why;
    r.phase_id = b.phase_id;
    r.role = b.role;
    r.content = b.content;
    return r;
  };
  for (const Phase& phase : pb->phases_) {
    o.phases.push_back(phase.ref);
    std::vector<std::string>& questions = o.questions[phase.ref.id()];
    for (const v1::CoachingQuestion& q : phase.questions) questions.push_back(q.text());
    std::vector<v1::ContentLink>& content = o.content[phase.ref.id()];
    absl::flat_hash_set<std::string> urls;
    for (const BehaviorRule& b : phase.behaviors) {
      for (const v1::ContentLink& link : b.content) {
        if (urls.insert(link.url()).second) content.push_back(link);
      }
    }
    for (const Criterion& c : phase.gate) {
      OutlineRule r;
      r.id = c.ref.id();
      r.kind = OutlineRule::Kind::kCriterion;
      r.text = c.text;
      r.hint = c.hint;
      r.phase_id = phase.ref.id();
      r.content = content;
      if (c.when != nullptr) {
        r.outcome_only = !c.when->attributes().empty();
        for (const std::string& a : c.when->attributes()) {
          if (a != "opp.is_won" && a != "opp.is_closed") r.outcome_only = false;
        }
      }
      add(std::move(r));
    }
    for (const BehaviorRule& b : phase.behaviors) add(behavior(b));
  }
  for (const BehaviorRule& b : pb->global_behaviors_) add(behavior(b));
  for (const IndicatorRule& i : pb->indicators_) {
    OutlineIndicator out;
    out.id = i.ref.id();
    out.name = i.name;
    out.description = i.description;
    for (int p : i.phases) out.phase_ids.push_back(pb->phases_[p].ref.id());
    out.target = i.target;
    o.indicators.push_back(std::move(out));
  }
  o.fields = pb->fields_;
}

}  // namespace internal

const PlaybookOutline& OutlineOf(const CompiledPlaybook& playbook) {
  static const PlaybookOutline* const kEmpty = new PlaybookOutline;
  const auto* impl = dynamic_cast<const internal::CompiledPlaybookImpl*>(&playbook);
  return impl == nullptr ? *kEmpty : impl->outline_;
}

std::vector<IndicatorOutcome> EvaluateIndicators(const CompiledPlaybook& playbook,
                                                 const v1::Opportunity& opportunity, absl::Time now,
                                                 absl::string_view evidence_phase_id) {
  const auto* impl = dynamic_cast<const internal::CompiledPlaybookImpl*>(&playbook);
  if (impl == nullptr) return {};
  std::vector<IndicatorOutcome> out(impl->indicators_.size());
  if (out.empty()) return out;
  const int phase = impl->PhaseIndex(evidence_phase_id);
  internal::EvalState state(*impl, opportunity, now);
  for (size_t i = 0; i < impl->indicators_.size(); ++i) {
    const internal::IndicatorRule& rule = impl->indicators_[i];
    out[i].applies = rule.phases.empty() ||
                     std::find(rule.phases.begin(), rule.phases.end(), phase) != rule.phases.end();
    if (!out[i].applies) continue;
    out[i].met = state.Evaluate(rule).truth == expr::Truth::kTrue;
  }
  return out;
}

}  // namespace dealcoach::engine
