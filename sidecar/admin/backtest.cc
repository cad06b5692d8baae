#include "sidecar/admin/backtest.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/arena.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/outline.h"
#include "sidecar/pipeline/compact.h"

namespace dealcoach::admin {
namespace {

struct Counts {
  int64_t deals = 0;
  int64_t won = 0;
  void Add(bool w) {
    ++deals;
    won += w ? 1 : 0;
  }
};

enum class Kind { kCriterion, kBehavior, kRisk, kIndicator, kPhaseIndicator, kLeadingIndicator };

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kCriterion:
      return "criterion";
    case Kind::kBehavior:
      return "behavior";
    case Kind::kRisk:
      return "risk";
    default:
      return "indicator";
  }
}

struct RuleStats {
  std::string id;
  Kind kind = Kind::kCriterion;
  std::string text;
  Counts held;
  Counts not_held;
  Counts unknown;
  int64_t not_reached = 0;
  // The last deal (its number) on which the rule was judged (criteria, leading
  // indicators) or fired (behaviors, risks).
  int64_t seen_on = -1;
};

v1::BacktestRate RateOf(const Counts& c) {
  v1::BacktestRate r;
  r.set_deals(c.deals);
  r.set_won(c.won);
  r.set_win_rate(c.deals == 0 ? 0 : static_cast<double>(c.won) / static_cast<double>(c.deals));
  auto [low, high] = WilsonInterval(c.won, c.deals);
  r.set_wilson_low(low);
  r.set_wilson_high(high);
  return r;
}

}  // namespace

std::pair<double, double> WilsonInterval(int64_t won, int64_t deals) {
  if (deals <= 0) return {0, 0};
  constexpr double z = 1.959963984540054;
  const double n = static_cast<double>(deals);
  const double p = static_cast<double>(won) / n;
  const double denom = 1 + z * z / n;
  const double center = (p + z * z / (2 * n)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

absl::Time RewindToBeforeClose(v1::Opportunity* o) {
  o->clear_is_closed();
  o->clear_is_won();
  const int n = o->stage_history_size();
  if (n < 2 || !o->has_stage() || o->stage_history(n - 1).stage() != o->stage()) {
    return absl::InfinitePast();
  }
  const absl::Time closed_at = ToAbslTime(o->stage_history(n - 1).entered_at());
  const absl::Time as_of = closed_at - absl::Seconds(1);
  const v1::StageChange before = o->stage_history(n - 2);
  o->set_stage(before.stage());
  *o->mutable_stage_entered_at() = before.entered_at();
  o->mutable_stage_history()->RemoveLast();
  auto* changes = o->mutable_close_date_history();
  changes->erase(std::remove_if(changes->begin(), changes->end(),
                                [&](const v1::CloseDateChange& c) {
                                  return ToAbslTime(c.changed_at()) > as_of;
                                }),
                 changes->end());
  if (!o->activities().empty()) {
    auto* activities = o->mutable_activities();
    activities->erase(
        std::remove_if(activities->begin(), activities->end(),
                       [&](const v1::Activity& a) { return ToAbslTime(a.at()) > as_of; }),
        activities->end());
    // Derived from the activities (NormalizeOpportunity): recompute from what is left.
    o->clear_last_meeting_at();
    o->clear_last_activity_at();
    engine::NormalizeOpportunity(o);
  }
  return as_of;
}

void Backtest(const engine::CompiledPlaybook& playbook,
              absl::Span<const std::pair<std::string, std::string>> deals, absl::Time now,
              v1::BacktestPlaybookResponse* out) {
  *out->mutable_playbook() = playbook.ref();
  // Rules in first-seen order, by index: a deal's answer is tallied without building any
  // per-deal map or string.
  std::vector<RuleStats> rules;
  absl::flat_hash_map<std::string, int> index;
  auto rule = [&](absl::string_view id, Kind kind, absl::string_view text) -> int {
    auto [it, inserted] = index.try_emplace(id, static_cast<int>(rules.size()));
    if (inserted) {
      RuleStats r;
      r.id = std::string(id);
      r.kind = kind;
      r.text = std::string(text);
      rules.push_back(std::move(r));
    }
    return it->second;
  };
  const engine::PlaybookOutline& outline = engine::OutlineOf(playbook);
  // The phase indicators, one per phase, and the leading indicators (`indicators:`), first.
  std::vector<int> phase_rule;
  for (const v1::PhaseRef& p : outline.phases) {
    phase_rule.push_back(rule(absl::StrCat("indicator/evidence-phase/", p.id()),
                              Kind::kPhaseIndicator,
                              absl::StrCat("Evidence puts the deal in ", p.name())));
  }
  std::vector<int> leading_rule;
  for (const engine::OutlineIndicator& i : outline.indicators) {
    leading_rule.push_back(rule(i.id, Kind::kLeadingIndicator, i.name));
  }
  const int ahead = rule("indicator/stage-ahead-of-evidence", Kind::kIndicator,
                         "The CRM stage claims a later phase than the evidence supports");
  Counts overall;
  int64_t rewound = 0;
  engine::EvaluateOptions options;
  options.max_behaviors = pipeline::kAllBehaviors;
  google::protobuf::Arena arena;
  int in_batch = 0;
  int64_t deal = -1;
  for (const auto& [id, bytes] : deals) {
    if (++in_batch == 64) {
      arena.Reset();
      in_batch = 0;
    }
    auto* opp = google::protobuf::Arena::Create<v1::Opportunity>(&arena);
    if (!opp->ParseFromString(bytes) || !(opp->has_is_closed() && opp->is_closed())) continue;
    ++deal;
    const bool won = opp->has_is_won() && opp->is_won();
    absl::Time as_of = RewindToBeforeClose(opp);
    if (as_of == absl::InfinitePast()) {
      as_of = now;
    } else {
      ++rewound;
    }
    auto* g = google::protobuf::Arena::Create<v1::DealGuidance>(&arena);
    playbook.EvaluateInto(*opp, as_of, options, g);
    overall.Add(won);
    for (const v1::GateResult& gate : g->gates()) {
      for (const v1::CriterionResult& c : gate.criteria()) {
        RuleStats& r = rules[rule(c.rule().id(), Kind::kCriterion, c.text())];
        switch (c.status()) {
          case v1::CRITERION_STATUS_MET:
            r.held.Add(won);
            break;
          case v1::CRITERION_STATUS_UNMET:
            r.not_held.Add(won);
            break;
          default:
            r.unknown.Add(won);
            break;
        }
        r.seen_on = deal;
      }
    }
    for (const v1::Behavior& b : g->next_best_behaviors()) {
      rules[rule(b.rule().id(), Kind::kBehavior, b.prompt())].seen_on = deal;
    }
    for (const v1::Risk& k : g->risks()) {
      rules[rule(k.rule().id(), Kind::kRisk, k.text())].seen_on = deal;
    }
    // Indicators: stage ahead of evidence, the evidence phase reached, and the
    // playbook's leading indicators where they apply (by the evidence phase).
    RuleStats& stage_ahead = rules[ahead];
    (g->has_stage_ahead_of_evidence() ? stage_ahead.held : stage_ahead.not_held).Add(won);
    const int phase = outline.PhaseIndex(g->evidence_phase().id());
    if (phase >= 0) rules[phase_rule[phase]].seen_on = deal;
    if (!leading_rule.empty()) {
      const std::vector<engine::IndicatorOutcome> outcomes =
          engine::EvaluateIndicators(playbook, *opp, as_of, g->evidence_phase().id());
      for (size_t i = 0; i < outcomes.size() && i < leading_rule.size(); ++i) {
        RuleStats& r = rules[leading_rule[i]];
        if (!outcomes[i].applies) continue;  // not reached
        r.seen_on = deal;
        (outcomes[i].met ? r.held : r.not_held).Add(won);
      }
    }
    // Behaviors, risks and phases: every known one that did not fire did not hold;
    // criteria and leading indicators not judged on this deal were not reached. (Rules
    // first seen on a later deal are corrected below.)
    for (RuleStats& r : rules) {
      switch (r.kind) {
        case Kind::kCriterion:
        case Kind::kLeadingIndicator:
          if (r.seen_on != deal) ++r.not_reached;
          break;
        case Kind::kBehavior:
        case Kind::kRisk:
        case Kind::kPhaseIndicator:
          (r.seen_on == deal ? r.held : r.not_held).Add(won);
          break;
        case Kind::kIndicator:
          break;
      }
    }
  }
  // A rule first seen on deal k was not counted on deals 0..k-1 where it did not hold:
  // make every rule's counts cover every deal.
  for (RuleStats& r : rules) {
    const int64_t counted = r.held.deals + r.not_held.deals + r.unknown.deals + r.not_reached;
    const int64_t missing = overall.deals - counted;
    if (missing <= 0) continue;
    // Of the missing deals, how many were won: the overall won minus what is counted.
    const int64_t won_missing = overall.won - r.held.won - r.not_held.won - r.unknown.won;
    if (r.kind == Kind::kCriterion || r.kind == Kind::kLeadingIndicator) {
      r.not_reached += missing;
    } else {
      r.not_held.deals += missing;
      r.not_held.won += std::max<int64_t>(0, std::min(won_missing, missing));
    }
  }
  *out->mutable_overall() = RateOf(overall);
  out->set_rewound(rewound);
  const double base = out->overall().win_rate();
  std::vector<v1::BacktestRule> list;
  for (RuleStats& r : rules) {
    if (r.kind == Kind::kPhaseIndicator && r.held.deals == 0) continue;  // no deal there
    v1::BacktestRule b;
    b.set_rule_id(r.id);
    b.set_kind(KindName(r.kind));
    b.set_text(r.text);
    *b.mutable_held() = RateOf(r.held);
    *b.mutable_not_held() = RateOf(r.not_held);
    *b.mutable_unknown() = RateOf(r.unknown);
    b.set_not_reached(r.not_reached);
    b.set_lift(base > 0 && r.held.deals > 0 ? b.held().win_rate() / base : 0);
    b.set_difference(r.held.deals > 0 && r.not_held.deals > 0
                         ? b.held().win_rate() - b.not_held().win_rate()
                         : 0);
    b.set_signal(r.held.deals > 0 && r.not_held.deals > 0 &&
                 (b.held().wilson_low() > b.not_held().wilson_high() ||
                  b.not_held().wilson_low() > b.held().wilson_high()));
    list.push_back(std::move(b));
  }
  std::sort(list.begin(), list.end(), [](const v1::BacktestRule& a, const v1::BacktestRule& b) {
    if (a.signal() != b.signal()) return a.signal();
    const double da = std::abs(a.difference());
    const double db = std::abs(b.difference());
    if (da != db) return da > db;
    return a.rule_id() < b.rule_id();
  });
  for (v1::BacktestRule& b : list) *out->add_rules() = std::move(b);
  out->add_bias(
      "The CRM holds each deal's final values, not the values it had at each phase: a field "
      "filled in at signature makes its criterion look predictive of wins.");
  out->add_bias(absl::StrCat(
      "Stage, close-date history and activities were rewound to just before the close for ",
      rewound, " of ", overall.deals,
      " deals (their stage history shows the closing stage); the rest were evaluated with final "
      "values at the backtest time."));
  out->add_bias(
      "Criteria are judged only where a deal's gates reach them (not_reached counts the rest); "
      "a behavior or risk that did not fire counts as not held, including where it does not "
      "apply to the deal's phase.");
  out->add_bias(
      "Correlation, not cause: these are the deals the team closed, with the "
      "playbook of today applied to them.");
}

std::string FormatBacktest(const v1::BacktestPlaybookResponse& b) {
  std::string s;
  if (!b.valid()) {
    absl::StrAppend(&s, "backtest: the playbook does not compile\n");
    for (const v1::Diagnostic& d : b.diagnostics()) {
      absl::StrAppend(&s, engine::FormatDiagnostic(d), "\n");
    }
    return s;
  }
  absl::StrAppend(&s, "backtest of ", b.playbook().name(), " v", b.playbook().version(), " on ",
                  b.overall().deals(), " closed deals: ", b.overall().won(),
                  absl::StrFormat(" won (%.0f%%)", 100 * b.overall().win_rate()), "\n\n");
  absl::StrAppend(
      &s, absl::StrFormat("  %-48s %-16s %-16s %-8s %5s  %s\n", "rule", "held: won/n",
                          "not held: won/n", "unknown", "lift", "95% intervals (held | not held)"));
  for (const v1::BacktestRule& r : b.rules()) {
    auto rate = [](const v1::BacktestRate& x) {
      return x.deals() == 0
                 ? std::string("-")
                 : absl::StrFormat("%d/%d %3.0f%%", x.won(), x.deals(), 100 * x.win_rate());
    };
    absl::StrAppend(
        &s, absl::StrFormat("%s %-48s %-16s %-16s %-8s %5.2f  [%.2f-%.2f] | [%.2f-%.2f]\n",
                            r.signal() ? "*" : " ", r.rule_id().substr(0, 48), rate(r.held()),
                            rate(r.not_held()),
                            r.unknown().deals() == 0 ? "-" : absl::StrCat(r.unknown().deals()),
                            r.lift(), r.held().wilson_low(), r.held().wilson_high(),
                            r.not_held().wilson_low(), r.not_held().wilson_high()));
  }
  absl::StrAppend(&s, "\n* = signal: the 95% intervals of held and not held do not overlap\n");
  for (const std::string& bias : b.bias()) absl::StrAppend(&s, "bias: ", bias, "\n");
  return s;
}

}  // namespace dealcoach::admin
